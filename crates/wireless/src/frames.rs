//! LoRaWAN 1.0.x PHYPayloads (LoRaWAN Specification v1.0.x, §4 "MAC Message Formats", §6.2
//! "Over-the-Air Activation"): join-request, join-accept and data frames, parsed from and
//! written to bytes. EUIs are kept in their written (big-endian) order and reversed on the
//! wire, as the specification sends them little-endian.

use crate::crypto::{self, Direction, Key};

/// MType, the top three bits of MHDR (§4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MType {
    JoinRequest,
    JoinAccept,
    UnconfirmedDataUp,
    UnconfirmedDataDown,
    ConfirmedDataUp,
    ConfirmedDataDown,
    RejoinRequest,
    Proprietary,
}

impl MType {
    pub fn of(mhdr: u8) -> MType {
        match mhdr >> 5 {
            0 => MType::JoinRequest,
            1 => MType::JoinAccept,
            2 => MType::UnconfirmedDataUp,
            3 => MType::UnconfirmedDataDown,
            4 => MType::ConfirmedDataUp,
            5 => MType::ConfirmedDataDown,
            6 => MType::RejoinRequest,
            _ => MType::Proprietary,
        }
    }

    /// MHDR with Major LoRaWAN R1 (0).
    pub fn mhdr(self) -> u8 {
        let bits = match self {
            MType::JoinRequest => 0,
            MType::JoinAccept => 1,
            MType::UnconfirmedDataUp => 2,
            MType::UnconfirmedDataDown => 3,
            MType::ConfirmedDataUp => 4,
            MType::ConfirmedDataDown => 5,
            MType::RejoinRequest => 6,
            MType::Proprietary => 7,
        };
        bits << 5
    }

    /// The name AWS's uplink metadata gives it (`MType`).
    pub fn name(self) -> &'static str {
        match self {
            MType::JoinRequest => "JoinRequest",
            MType::JoinAccept => "JoinAccept",
            MType::UnconfirmedDataUp => "UnconfirmedDataUp",
            MType::UnconfirmedDataDown => "UnconfirmedDataDown",
            MType::ConfirmedDataUp => "ConfirmedDataUp",
            MType::ConfirmedDataDown => "ConfirmedDataDown",
            MType::RejoinRequest => "RejoinRequest",
            MType::Proprietary => "Proprietary",
        }
    }
}

/// FCtrl bits (§4.3.1).
pub const FCTRL_ADR: u8 = 0x80;
pub const FCTRL_ACK: u8 = 0x20;

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed LoRaWAN frame: {0}")]
pub struct FrameError(pub &'static str);

/// A join-request (§6.2.4): `MHDR | JoinEUI | DevEUI | DevNonce | MIC`, 23 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub join_eui: [u8; 8],
    pub dev_eui: [u8; 8],
    pub dev_nonce: u16,
    pub mic: [u8; 4],
}

impl JoinRequest {
    /// The bytes the MIC covers.
    pub fn signed(&self) -> Vec<u8> {
        let mut b = vec![MType::JoinRequest.mhdr()];
        b.extend(self.join_eui.iter().rev());
        b.extend(self.dev_eui.iter().rev());
        b.extend(self.dev_nonce.to_le_bytes());
        b
    }

    /// Whether the MIC verifies with `app_key`.
    pub fn verify(&self, app_key: &Key) -> bool {
        crypto::mic(app_key, &[&self.signed()]) == self.mic
    }

    /// A request signed with `app_key` (the device's side).
    pub fn sign(join_eui: [u8; 8], dev_eui: [u8; 8], dev_nonce: u16, app_key: &Key) -> Self {
        let mut request = JoinRequest { join_eui, dev_eui, dev_nonce, mic: [0; 4] };
        request.mic = crypto::mic(app_key, &[&request.signed()]);
        request
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.signed();
        b.extend(self.mic);
        b
    }

    pub fn parse(phy: &[u8]) -> Result<Self, FrameError> {
        if phy.len() != 23 || MType::of(phy[0]) != MType::JoinRequest {
            return Err(FrameError("a join-request has 23 bytes and MType 0"));
        }
        let eui = |range: std::ops::Range<usize>| {
            let mut e = [0u8; 8];
            e.copy_from_slice(&phy[range]);
            e.reverse();
            e
        };
        Ok(JoinRequest {
            join_eui: eui(1..9),
            dev_eui: eui(9..17),
            dev_nonce: u16::from_le_bytes([phy[17], phy[18]]),
            mic: [phy[19], phy[20], phy[21], phy[22]],
        })
    }
}

/// A join-accept (§6.2.5): `AppNonce | NetID | DevAddr | DLSettings | RxDelay | [CFList]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinAccept {
    /// 24 bits.
    pub app_nonce: u32,
    /// 24 bits.
    pub net_id: u32,
    pub dev_addr: u32,
    /// RX1DROffset (bits 6..4) and RX2 data rate (bits 3..0).
    pub dl_settings: u8,
    /// Seconds before RX1 (0 means 1).
    pub rx_delay: u8,
    pub cf_list: Option<[u8; 16]>,
}

impl JoinAccept {
    fn plain(&self) -> Vec<u8> {
        let mut b = vec![MType::JoinAccept.mhdr()];
        b.extend(&self.app_nonce.to_le_bytes()[..3]);
        b.extend(&self.net_id.to_le_bytes()[..3]);
        b.extend(self.dev_addr.to_le_bytes());
        b.push(self.dl_settings);
        b.push(self.rx_delay);
        if let Some(cf) = &self.cf_list {
            b.extend(cf);
        }
        b
    }

    /// The PHYPayload the network sends: MHDR, then the fields and MIC "encrypted" with AES
    /// decryption under `app_key` (so the device needs only AES encryption).
    pub fn seal(&self, app_key: &Key) -> Vec<u8> {
        let mut plain = self.plain();
        let mic = crypto::mic(app_key, &[&plain]);
        plain.extend(mic);
        let mut out = vec![plain[0]];
        for chunk in plain[1..].chunks(16) {
            let block: [u8; 16] = chunk.try_into().unwrap_or([0; 16]);
            out.extend(crypto::aes_decrypt(app_key, block));
        }
        out
    }

    /// The device's side: decrypts and verifies a join-accept.
    pub fn open(phy: &[u8], app_key: &Key) -> Result<Self, FrameError> {
        if !(phy.len() == 17 || phy.len() == 33) || MType::of(phy[0]) != MType::JoinAccept {
            return Err(FrameError("a join-accept has 17 or 33 bytes and MType 1"));
        }
        let mut plain = vec![phy[0]];
        for chunk in phy[1..].chunks(16) {
            let block: [u8; 16] = chunk.try_into().map_err(|_| FrameError("partial block"))?;
            plain.extend(crypto::aes_encrypt(app_key, block));
        }
        let (body, mic) = plain.split_at(plain.len() - 4);
        if crypto::mic(app_key, &[body]) != mic {
            return Err(FrameError("the join-accept's MIC does not verify"));
        }
        let u24 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], 0]);
        Ok(JoinAccept {
            app_nonce: u24(&body[1..4]),
            net_id: u24(&body[4..7]),
            dev_addr: u32::from_le_bytes([body[7], body[8], body[9], body[10]]),
            dl_settings: body[11],
            rx_delay: body[12],
            cf_list: body.get(13..29).and_then(|c| c.try_into().ok()),
        })
    }
}

/// A data frame (§4.3): `MHDR | DevAddr | FCtrl | FCnt | FOpts | [FPort | FRMPayload] | MIC`.
/// `frm_payload` is as on the air (encrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFrame {
    pub mtype: MType,
    pub dev_addr: u32,
    pub fctrl: u8,
    /// The 16 bits on the air.
    pub fcnt: u16,
    pub fopts: Vec<u8>,
    pub fport: Option<u8>,
    pub frm_payload: Vec<u8>,
    pub mic: [u8; 4],
}

impl DataFrame {
    /// MHDR to the end of FRMPayload: what the MIC covers.
    pub fn signed(&self) -> Vec<u8> {
        let mut b = vec![self.mtype.mhdr()];
        b.extend(self.dev_addr.to_le_bytes());
        b.push((self.fctrl & 0xf0) | (self.fopts.len() as u8 & 0x0f));
        b.extend(self.fcnt.to_le_bytes());
        b.extend(&self.fopts);
        if let Some(port) = self.fport {
            b.push(port);
            b.extend(&self.frm_payload);
        }
        b
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.signed();
        b.extend(self.mic);
        b
    }

    /// Uplink or downlink, by MType.
    pub fn direction(&self) -> Direction {
        match self.mtype {
            MType::UnconfirmedDataDown | MType::ConfirmedDataDown => Direction::Down,
            _ => Direction::Up,
        }
    }

    /// Whether the MIC verifies with `nwk_s_key` at the full 32-bit counter `fcnt`.
    pub fn verify(&self, nwk_s_key: &Key, fcnt: u32) -> bool {
        crypto::data_mic(nwk_s_key, self.direction(), self.dev_addr, fcnt, &self.signed()) == self.mic
    }

    /// The FRMPayload in clear (FPort 0 carries MAC commands under NwkSKey, others data under
    /// AppSKey).
    pub fn decrypt(&self, nwk_s_key: &Key, app_s_key: &Key, fcnt: u32) -> Vec<u8> {
        let key = if self.fport == Some(0) { nwk_s_key } else { app_s_key };
        crypto::crypt_frm_payload(key, self.direction(), self.dev_addr, fcnt, &self.frm_payload)
    }

    /// A frame with `payload` encrypted and the MIC computed (FCnt on the air is the low 16 bits
    /// of `fcnt`).
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        mtype: MType,
        dev_addr: u32,
        fctrl: u8,
        fcnt: u32,
        fport: Option<u8>,
        payload: &[u8],
        nwk_s_key: &Key,
        app_s_key: &Key,
    ) -> Self {
        let mut frame = DataFrame {
            mtype,
            dev_addr,
            fctrl,
            fcnt: fcnt as u16,
            fopts: Vec::new(),
            fport,
            frm_payload: Vec::new(),
            mic: [0; 4],
        };
        if fport.is_some() {
            let key = if fport == Some(0) { nwk_s_key } else { app_s_key };
            frame.frm_payload = crypto::crypt_frm_payload(key, frame.direction(), dev_addr, fcnt, payload);
        }
        frame.mic = crypto::data_mic(nwk_s_key, frame.direction(), dev_addr, fcnt, &frame.signed());
        frame
    }

    pub fn parse(phy: &[u8]) -> Result<Self, FrameError> {
        if phy.len() < 12 {
            return Err(FrameError("a data frame has at least 12 bytes"));
        }
        let mtype = MType::of(phy[0]);
        if !matches!(
            mtype,
            MType::UnconfirmedDataUp
                | MType::UnconfirmedDataDown
                | MType::ConfirmedDataUp
                | MType::ConfirmedDataDown
        ) {
            return Err(FrameError("not a data frame"));
        }
        let fctrl = phy[5];
        let fopts_len = usize::from(fctrl & 0x0f);
        let body_end = phy.len() - 4;
        if 8 + fopts_len > body_end {
            return Err(FrameError("FOpts run past the frame"));
        }
        let rest = &phy[8 + fopts_len..body_end];
        Ok(DataFrame {
            mtype,
            dev_addr: u32::from_le_bytes([phy[1], phy[2], phy[3], phy[4]]),
            fctrl,
            fcnt: u16::from_le_bytes([phy[6], phy[7]]),
            fopts: phy[8..8 + fopts_len].to_vec(),
            fport: rest.first().copied(),
            frm_payload: rest.get(1..).unwrap_or_default().to_vec(),
            mic: [phy[body_end], phy[body_end + 1], phy[body_end + 2], phy[body_end + 3]],
        })
    }
}

/// The full 32-bit counter closest above `last` whose low 16 bits are `low` (§4.3.1.5): a
/// device's 32-bit counter travels as its low half.
pub fn full_fcnt(last: u32, low: u16) -> u32 {
    let candidate = (last & 0xffff_0000) | u32::from(low);
    if candidate < last {
        candidate.wrapping_add(0x1_0000)
    } else {
        candidate
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex digits (either case, an even number) as bytes.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// An EUI-64 from 16 hex digits, optionally separated by `-`, `:` or spaces between bytes.
pub fn parse_eui(text: &str) -> Option<[u8; 8]> {
    let digits: String = text.chars().filter(|c| !matches!(c, '-' | ':' | ' ')).collect();
    hex_decode(&digits)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::parse_key;

    /// The uplink of lora-packet's README (github.com/anthonykirby/lora-packet, a maintained
    /// LoRaWAN codec): DevAddr 49be7df1, FCnt 2, FPort 1, payload "test".
    const README_UPLINK: &str = "40f17dbe4900020001954378762b11ff0d";

    #[test]
    fn parses_verifies_and_decrypts_lora_packets_example() {
        let nwk = parse_key("44024241ed4ce9a68c6a8bc055233fd3").unwrap();
        let app = parse_key("ec925802ae430ca77fd3dd73cb2cc588").unwrap();
        let phy = hex_decode(README_UPLINK).unwrap();
        let frame = DataFrame::parse(&phy).unwrap();
        assert_eq!(frame.mtype, MType::UnconfirmedDataUp);
        assert_eq!((frame.dev_addr, frame.fcnt, frame.fport), (0x49be7df1, 2, Some(1)));
        assert!(frame.verify(&nwk, 2));
        assert!(!frame.verify(&app, 2), "the MIC is keyed by NwkSKey");
        assert_eq!(frame.decrypt(&nwk, &app, 2), b"test");
        assert_eq!(frame.to_bytes(), phy);
        let sealed =
            DataFrame::seal(MType::UnconfirmedDataUp, 0x49be7df1, 0, 2, Some(1), b"test", &nwk, &app);
        assert_eq!(hex(&sealed.to_bytes()), README_UPLINK, "sealing gives the same bytes back");
    }

    #[test]
    fn join_request_and_accept_round_trip_and_check_their_mics() {
        let app_key = parse_key("000102030405060708090a0b0c0d0e0f").unwrap();
        let request = JoinRequest::sign(
            parse_eui("70-b3-d5-7e-d0-00-00-00").unwrap(),
            parse_eui("0004a30b001c0530").unwrap(),
            0x1234,
            &app_key,
        );
        let bytes = request.to_bytes();
        assert_eq!(bytes.len(), 23);
        assert_eq!(&bytes[1..3], &[0x00, 0x00], "JoinEUI goes little-endian");
        let parsed = JoinRequest::parse(&bytes).unwrap();
        assert_eq!(parsed, request);
        assert!(parsed.verify(&app_key));
        assert!(!parsed.verify(&parse_key("ff0102030405060708090a0b0c0d0e0f").unwrap()));

        let accept = JoinAccept {
            app_nonce: 0xabcdef,
            net_id: 0x13,
            dev_addr: 0x0123_4567,
            dl_settings: 0,
            rx_delay: 1,
            cf_list: None,
        };
        let sealed = accept.seal(&app_key);
        assert_eq!(sealed.len(), 17);
        assert_eq!(JoinAccept::open(&sealed, &app_key).unwrap(), accept);
        assert!(JoinAccept::open(&sealed, &parse_key("ff0102030405060708090a0b0c0d0e0f").unwrap()).is_err());
    }

    /// The same join built by lora-packet 0.9.3 (`fromFields` and `generateSessionKeys`, as
    /// tests/lorawan/device.js calls them): AppKey 000102..0f, JoinEUI ..01, DevEUI 0102..08,
    /// DevNonce 0x004d; AppNonce abcdef, NetID 000013, DevAddr 01234567, RxDelay 1.
    #[test]
    fn the_join_matches_lora_packets_bytes_and_keys() {
        let app_key = parse_key("000102030405060708090a0b0c0d0e0f").unwrap();
        let request = JoinRequest::sign([0, 0, 0, 0, 0, 0, 0, 1], [1, 2, 3, 4, 5, 6, 7, 8], 0x004d, &app_key);
        assert_eq!(hex(&request.to_bytes()), "00010000000000000008070605040302014d001f3da3d3");
        let accept = JoinAccept {
            app_nonce: 0xabcdef,
            net_id: 0x13,
            dev_addr: 0x0123_4567,
            dl_settings: 0,
            rx_delay: 1,
            cf_list: None,
        };
        assert_eq!(hex(&accept.seal(&app_key)), "20abb6d396834d448bea3bce0be1630ad8");
        let (nwk, app) = crate::crypto::session_keys(&app_key, 0xabcdef, 0x13, 0x004d);
        assert_eq!(
            (hex(&nwk), hex(&app)),
            ("8170921d04109a33e7c08002bd5b1458".into(), "ddf45f7393281ac8e43d4918f2028a0e".into())
        );
    }

    #[test]
    fn counters_and_bad_frames() {
        assert_eq!(full_fcnt(0, 5), 5);
        assert_eq!(full_fcnt(0xfffe, 1), 0x1_0001);
        assert_eq!(full_fcnt(0x1_0003, 0x0004), 0x1_0004);
        for bad in ["", "40", "40f17dbe490f020001954378762b11ff0d", "00f17dbe4900020001954378762b11ff0d"] {
            assert!(DataFrame::parse(&hex_decode(bad).unwrap()).is_err(), "{bad}");
        }
        assert_eq!(parse_eui("58:a0:cb:00:00:20:25:5c"), parse_eui("58A0CB000020255C"));
        assert!(parse_eui("58a0cb").is_none());
    }
}
