//! The LoRa Basics Station LNS protocol (Semtech's "LNS Data Flow" of Basics Station, the
//! protocol AWS IoT Core for LoRaWAN gateways speak): discovery on `/router-info`, then one
//! WebSocket per gateway carrying JSON text messages. This module turns the station's
//! messages (`version`, `jreq`, `updf`, `dntxed`, `timesync`) into the network server's terms
//! and its answers into `router_config`, `dnmsg` and `timesync` messages. Wire only.
//!
//! Conventions of the protocol: EUIs travel as `"HH-HH-HH-HH-HH-HH-HH-HH"` (or the ID6 form
//! `"hhhh:hhhh:hhhh:hhhh"`, or an integer); `MIC` and `DevAddr` are signed 32-bit integers of
//! the little-endian bytes; `FOpts`, `FRMPayload` and `pdu` are hex; `FPort` is -1 when the
//! frame has none.

pub mod server;

use crate::frames::{hex, hex_decode, parse_eui, DataFrame, JoinRequest, MType};
use crate::network::{Downlink, Radio};
use serde_json::{json, Value};

/// A station message the network server acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum StationMessage {
    /// `version`: the station's first message; answered with `router_config`.
    Version {
        station: String,
    },
    Join {
        request: JoinRequest,
        radio: Radio,
    },
    Uplink {
        frame: DataFrame,
        radio: Radio,
    },
    /// `dntxed`: a downlink left the antenna.
    DownlinkTransmitted {
        diid: i64,
    },
    /// `timesync`: answered with the GPS time.
    TimeSync {
        txtime: f64,
    },
    /// Anything else (`propdf`, `rmtsh`, unknown types): ignored.
    Other(String),
}

/// Why a station message was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad station message: {0}")]
pub struct MessageError(pub String);

fn bad(text: impl Into<String>) -> MessageError {
    MessageError(text.into())
}

/// A member, by any of the spellings stations use (`MHdr`, `Mhdr`).
fn member<'a>(v: &'a Value, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| v.get(*n))
}

fn int(v: &Value, names: &[&str]) -> Result<i64, MessageError> {
    member(v, names).and_then(Value::as_i64).ok_or_else(|| bad(format!("{} must be an integer", names[0])))
}

/// An EUI in any of the protocol's forms.
pub fn parse_station_eui(v: &Value) -> Option<[u8; 8]> {
    match v {
        Value::Number(n) => n.as_u64().map(u64::to_be_bytes),
        Value::String(s) if s.contains(':') && !s.contains('-') => parse_id6(s),
        Value::String(s) => parse_eui(s),
        _ => None,
    }
}

/// The ID6 form: four groups of up to four hex digits, `::` for zero groups.
fn parse_id6(text: &str) -> Option<[u8; 8]> {
    let (head, tail) = text.split_once("::").unwrap_or((text, ""));
    let groups = |s: &str| -> Option<Vec<u16>> {
        if s.is_empty() {
            return Some(Vec::new());
        }
        s.split(':').map(|g| u16::from_str_radix(g, 16).ok()).collect()
    };
    let (head, tail) = (groups(head)?, groups(tail)?);
    let compressed = text.contains("::");
    if head.len() + tail.len() > 4 || (!compressed && head.len() != 4) {
        return None;
    }
    let mut all = head;
    all.resize(4 - tail.len(), 0);
    all.extend(tail);
    let mut out = [0u8; 8];
    for (i, g) in all.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
    }
    Some(out)
}

/// The ID6 form of an EUI (`b827:ebff:fe61:51ed`).
pub fn id6(eui: &[u8; 8]) -> String {
    eui.chunks(2).map(|c| format!("{:x}", u16::from_be_bytes([c[0], c[1]]))).collect::<Vec<_>>().join(":")
}

/// `HH-HH-...` in upper case, as stations write EUIs.
pub fn dashed(eui: &[u8; 8]) -> String {
    eui.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join("-")
}

fn radio(v: &Value) -> Radio {
    let up = v.get("upinfo").cloned().unwrap_or(Value::Null);
    Radio {
        dr: v.get("DR").and_then(Value::as_u64).unwrap_or(0).min(15) as u8,
        freq: v.get("Freq").and_then(Value::as_u64).unwrap_or(0).min(u64::from(u32::MAX)) as u32,
        xtime: up.get("xtime").and_then(Value::as_i64),
        rctx: up.get("rctx").and_then(Value::as_i64),
        rssi: up.get("rssi").and_then(Value::as_f64).unwrap_or(0.0),
        snr: up.get("snr").and_then(Value::as_f64).unwrap_or(0.0),
    }
}

fn mic(v: &Value) -> Result<[u8; 4], MessageError> {
    Ok((int(v, &["MIC"])? as i32).to_le_bytes())
}

fn hex_member(v: &Value, name: &str) -> Result<Vec<u8>, MessageError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => hex_decode(s).ok_or_else(|| bad(format!("{name} is not hex"))),
        Some(_) => Err(bad(format!("{name} must be a hex string"))),
    }
}

/// Parses one text message of a station.
pub fn parse(text: &str) -> Result<StationMessage, MessageError> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let msgtype = v.get("msgtype").and_then(Value::as_str).ok_or_else(|| bad("no msgtype"))?;
    Ok(match msgtype {
        "version" => StationMessage::Version {
            station: v.get("station").and_then(Value::as_str).unwrap_or_default().to_string(),
        },
        "jreq" => {
            let mhdr = int(&v, &["MHdr", "Mhdr"])? as u8;
            if MType::of(mhdr) != MType::JoinRequest {
                return Err(bad("a jreq's MHdr must be a join-request's"));
            }
            let eui = |name: &str| {
                v.get(name).and_then(parse_station_eui).ok_or_else(|| bad(format!("bad {name}")))
            };
            let dev_nonce = u16::try_from(int(&v, &["DevNonce"])?).map_err(|_| bad("DevNonce is 16 bits"))?;
            let request =
                JoinRequest { join_eui: eui("JoinEui")?, dev_eui: eui("DevEui")?, dev_nonce, mic: mic(&v)? };
            StationMessage::Join { request, radio: radio(&v) }
        }
        "updf" => {
            let mhdr = int(&v, &["MHdr", "Mhdr"])? as u8;
            let fopts = hex_member(&v, "FOpts")?;
            if fopts.len() > 15 {
                return Err(bad("FOpts has at most 15 bytes"));
            }
            let fport = int(&v, &["FPort"])?;
            let frame = DataFrame {
                mtype: MType::of(mhdr),
                dev_addr: int(&v, &["DevAddr"])? as u32,
                fctrl: int(&v, &["FCtrl"])? as u8,
                fcnt: int(&v, &["FCnt"])? as u16,
                fopts,
                fport: u8::try_from(fport).ok(),
                frm_payload: hex_member(&v, "FRMPayload")?,
                mic: mic(&v)?,
            };
            if !matches!(frame.mtype, MType::UnconfirmedDataUp | MType::ConfirmedDataUp) {
                return Err(bad("an updf's MHdr must be a data uplink's"));
            }
            StationMessage::Uplink { frame, radio: radio(&v) }
        }
        "dntxed" => {
            StationMessage::DownlinkTransmitted { diid: v.get("diid").and_then(Value::as_i64).unwrap_or(0) }
        }
        "timesync" => {
            StationMessage::TimeSync { txtime: v.get("txtime").and_then(Value::as_f64).unwrap_or(0.0) }
        }
        other => StationMessage::Other(other.to_string()),
    })
}

/// A `dnmsg` for a class A downlink (RX1 and RX2 after the uplink's `xtime`).
pub fn dnmsg(d: &Downlink, diid: u64, mux_time: f64) -> Value {
    let eui: [u8; 8] = parse_eui(&d.dev_eui).unwrap_or_default();
    let mut m = json!({
        "msgtype": "dnmsg",
        "DevEui": dashed(&eui),
        "dC": 0,
        "diid": diid,
        "pdu": hex(&d.pdu),
        "RxDelay": d.rx_delay,
        "RX1DR": d.rx1_dr,
        "RX1Freq": d.rx1_freq,
        "RX2DR": d.rx2_dr,
        "RX2Freq": d.rx2_freq,
        "priority": 0,
        "MuxTime": mux_time,
    });
    if let Some(xtime) = d.xtime {
        m["xtime"] = json!(xtime);
    }
    if let Some(rctx) = d.rctx {
        m["rctx"] = json!(rctx);
    }
    m
}

/// Seconds since the Unix epoch, as the protocol's `MuxTime`.
pub fn mux_time() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The `timesync` answer: the station's `txtime` and the GPS time in microseconds (GPS epoch
/// 1980-01-06, 18 leap seconds ahead of UTC).
pub fn timesync(txtime: f64) -> Value {
    let gps_us = ((mux_time() - 315_964_800.0 + 18.0) * 1e6) as i64;
    json!({ "msgtype": "timesync", "txtime": txtime, "gpstime": gps_us })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::parse_key;

    #[test]
    fn euis_come_in_every_form() {
        let eui = [0xb8, 0x27, 0xeb, 0xff, 0xfe, 0x61, 0x51, 0xed];
        assert_eq!(parse_station_eui(&json!("b827:ebff:fe61:51ed")), Some(eui));
        assert_eq!(parse_station_eui(&json!("B8-27-EB-FF-FE-61-51-ED")), Some(eui));
        assert_eq!(parse_station_eui(&json!(0xb827_ebff_fe61_51ed_u64)), Some(eui));
        assert_eq!(parse_station_eui(&json!("::1")), Some([0, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(parse_station_eui(&json!("1:2:3:4")), Some([0, 1, 0, 2, 0, 3, 0, 4]));
        assert_eq!(parse_station_eui(&json!("1:2")), None);
        assert_eq!(id6(&eui), "b827:ebff:fe61:51ed");
        assert_eq!(dashed(&eui), "B8-27-EB-FF-FE-61-51-ED");
    }

    #[test]
    fn an_updf_rebuilds_the_frame_the_device_sent() {
        // lora-packet's README uplink, as a station reports it.
        let text = r#"{"msgtype":"updf","MHdr":64,"DevAddr":1237220849,"FCtrl":0,"FCnt":2,"FOpts":"","FPort":1,
            "FRMPayload":"95437876","MIC":234819883,"RefTime":0.0,"DR":5,"Freq":868100000,
            "upinfo":{"rctx":0,"xtime":123,"gpstime":0,"rssi":-40,"snr":9.5}}"#;
        let StationMessage::Uplink { frame, radio } = parse(text).unwrap() else { panic!("an uplink") };
        assert_eq!(hex(&frame.to_bytes()), "40f17dbe4900020001954378762b11ff0d");
        assert!(frame.verify(&parse_key("44024241ed4ce9a68c6a8bc055233fd3").unwrap(), 2));
        assert_eq!((radio.dr, radio.freq, radio.xtime, radio.snr), (5, 868_100_000, Some(123), 9.5));
    }

    #[test]
    fn a_jreq_rebuilds_the_join_request() {
        let key = parse_key("000102030405060708090a0b0c0d0e0f").unwrap();
        let request = JoinRequest::sign([0, 0, 0, 0, 0, 0, 0, 1], [1, 2, 3, 4, 5, 6, 7, 8], 77, &key);
        let text = json!({"msgtype": "jreq", "MHdr": 0, "JoinEui": "00-00-00-00-00-00-00-01",
            "DevEui": "01-02-03-04-05-06-07-08", "DevNonce": 77,
            "MIC": i32::from_le_bytes(request.mic), "DR": 0, "Freq": 868_300_000, "upinfo": {}})
        .to_string();
        let StationMessage::Join { request: parsed, .. } = parse(&text).unwrap() else { panic!("a join") };
        assert_eq!(parsed, request);
        assert!(parsed.verify(&key));
    }

    #[test]
    fn bad_messages_are_errors_not_panics() {
        for text in [
            "",
            "[]",
            "{}",
            r#"{"msgtype":"jreq"}"#,
            r#"{"msgtype":"updf","MHdr":64}"#,
            r#"{"msgtype":"updf","MHdr":0,"DevAddr":1,"FCtrl":0,"FCnt":0,"FPort":-1,"MIC":0}"#,
            r#"{"msgtype":"updf","MHdr":64,"DevAddr":1,"FCtrl":0,"FCnt":0,"FPort":1,"FRMPayload":"zz","MIC":0}"#,
            r#"{"msgtype":"jreq","MHdr":0,"JoinEui":"x","DevEui":"01-02-03-04-05-06-07-08","DevNonce":1,"MIC":0}"#,
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
        assert_eq!(parse(r#"{"msgtype":"propdf"}"#).unwrap(), StationMessage::Other("propdf".into()));
    }
}
