//! LoRaWAN 1.0.x security (LoRaWAN Specification v1.0.x, §4.3.3 "MAC Frame Payload Encryption",
//! §4.4 "Message Integrity Code", §6.2.5 "Join-accept message"), on RustCrypto's `aes` and
//! `cmac`: no hand-written cipher. Multi-byte fields go into these blocks in the frame's
//! little-endian order.

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::Aes128;
use cmac::{Cmac, Mac};

/// A 128-bit AES key (AppKey, NwkSKey, AppSKey).
pub type Key = [u8; 16];

/// The direction of a data frame, as its MIC and encryption blocks carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up = 0,
    Down = 1,
}

fn cipher(key: &Key) -> Aes128 {
    Aes128::new(key.into())
}

/// AES-128 encryption of one block.
pub fn aes_encrypt(key: &Key, block: [u8; 16]) -> [u8; 16] {
    let mut block = block.into();
    cipher(key).encrypt_block(&mut block);
    block.into()
}

/// AES-128 decryption of one block (the network encrypts a join-accept with it, §6.2.5).
pub fn aes_decrypt(key: &Key, block: [u8; 16]) -> [u8; 16] {
    let mut block = block.into();
    cipher(key).decrypt_block(&mut block);
    block.into()
}

/// The full AES-CMAC of `parts` (RFC 4493).
pub fn cmac(key: &Key, parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Cmac<Aes128> as KeyInit>::new(key.into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The 4-byte MIC: the first four bytes of the CMAC.
pub fn mic(key: &Key, parts: &[&[u8]]) -> [u8; 4] {
    let full = cmac(key, parts);
    [full[0], full[1], full[2], full[3]]
}

/// B0 (§4.4): `0x49 | 0x00000000 | Dir | DevAddr | FCnt | 0x00 | len(msg)`.
fn b0(dir: Direction, dev_addr: u32, fcnt: u32, len: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = 0x49;
    b[5] = dir as u8;
    b[6..10].copy_from_slice(&dev_addr.to_le_bytes());
    b[10..14].copy_from_slice(&fcnt.to_le_bytes());
    b[15] = len as u8;
    b
}

/// The MIC of a data frame: `cmac(NwkSKey, B0 | msg)`, `msg` = MHDR..FRMPayload.
pub fn data_mic(nwk_s_key: &Key, dir: Direction, dev_addr: u32, fcnt: u32, msg: &[u8]) -> [u8; 4] {
    mic(nwk_s_key, &[&b0(dir, dev_addr, fcnt, msg.len()), msg])
}

/// Encrypts or decrypts (the same XOR) a FRMPayload (§4.3.3.1): blocks
/// `A_i = 0x01 | 0x00000000 | Dir | DevAddr | FCnt | 0x00 | i`, i from 1.
pub fn crypt_frm_payload(key: &Key, dir: Direction, dev_addr: u32, fcnt: u32, data: &[u8]) -> Vec<u8> {
    let aes = cipher(key);
    let mut out = Vec::with_capacity(data.len());
    for (i, chunk) in data.chunks(16).enumerate() {
        let mut a = [0u8; 16];
        a[0] = 0x01;
        a[5] = dir as u8;
        a[6..10].copy_from_slice(&dev_addr.to_le_bytes());
        a[10..14].copy_from_slice(&fcnt.to_le_bytes());
        a[15] = (i + 1) as u8;
        let mut s = a.into();
        aes.encrypt_block(&mut s);
        let s: [u8; 16] = s.into();
        out.extend(chunk.iter().zip(s.iter()).map(|(d, k)| d ^ k));
    }
    out
}

/// NwkSKey and AppSKey of an OTAA join (§6.2.5): `aes128_encrypt(AppKey, 0x0N | AppNonce |
/// NetID | DevNonce | pad16)` with N = 1 and 2; the fields as the join-accept and join-request
/// carry them (3, 3 and 2 bytes, little-endian).
pub fn session_keys(app_key: &Key, app_nonce: u32, net_id: u32, dev_nonce: u16) -> (Key, Key) {
    let block = |kind: u8| {
        let mut b = [0u8; 16];
        b[0] = kind;
        b[1..4].copy_from_slice(&app_nonce.to_le_bytes()[..3]);
        b[4..7].copy_from_slice(&net_id.to_le_bytes()[..3]);
        b[7..9].copy_from_slice(&dev_nonce.to_le_bytes());
        aes_encrypt(app_key, b)
    };
    (block(0x01), block(0x02))
}

/// Parses 32 hex digits into a key.
pub fn parse_key(hex: &str) -> Option<Key> {
    let bytes = crate::frames::hex_decode(hex)?;
    bytes.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{hex, hex_decode};

    fn key(h: &str) -> Key {
        parse_key(h).unwrap()
    }

    /// RFC 4493 §4, the AES-CMAC test vectors (examples 1 to 3).
    #[test]
    fn cmac_matches_rfc_4493() {
        let k = key("2b7e151628aed2a6abf7158809cf4f3c");
        assert_eq!(hex(&cmac(&k, &[])), "bb1d6929e95937287fa37d129b756746");
        let m = hex_decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        assert_eq!(hex(&cmac(&k, &[&m])), "070a16b46b4d4144f79bdd9dd04a287c");
        let m40 =
            hex_decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411")
                .unwrap();
        // Fed in two pieces: the MIC helpers pass B0 and the message separately.
        assert_eq!(hex(&cmac(&k, &[&m40[..7], &m40[7..]])), "dfa66747de9ae63030ca32611497c827");
    }

    /// FIPS-197 appendix C.1 (AES-128), both ways.
    #[test]
    fn aes_matches_fips_197() {
        let k = key("000102030405060708090a0b0c0d0e0f");
        let plain: [u8; 16] = hex_decode("00112233445566778899aabbccddeeff").unwrap().try_into().unwrap();
        let sealed = aes_encrypt(&k, plain);
        assert_eq!(hex(&sealed), "69c4e0d86a7b0430d8cdb78070b4c55a");
        assert_eq!(aes_decrypt(&k, sealed), plain);
    }

    #[test]
    fn frm_payload_crypt_is_its_own_inverse_across_blocks() {
        let k = key("ec925802ae430ca77fd3dd73cb2cc588");
        let data: Vec<u8> = (0..40).collect();
        let sealed = crypt_frm_payload(&k, Direction::Up, 0x49be7df1, 2, &data);
        assert_ne!(sealed, data);
        assert_eq!(crypt_frm_payload(&k, Direction::Up, 0x49be7df1, 2, &sealed), data);
        assert_ne!(crypt_frm_payload(&k, Direction::Down, 0x49be7df1, 2, &data), sealed, "Dir is keyed in");
    }
}
