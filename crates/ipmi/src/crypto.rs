//! RMCP+ key derivation and per-message protection for the algorithms of cipher suites 1-3
//! (IPMI v2.0 §13.28-§13.31, table 22-20): RAKP-HMAC-SHA1 authentication, HMAC-SHA1-96
//! integrity and AES-CBC-128 confidentiality.

use aes::Aes128;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// HMAC-SHA1 output length (RAKP auth codes, SIK, K1, K2).
pub const SHA1_LEN: usize = 20;
/// HMAC-SHA1-96: the integrity AuthCode is the first 12 bytes (§13.28.4).
pub const INTEGRITY_LEN: usize = 12;
/// AES block and IV length (§13.29).
pub const AES_BLOCK: usize = 16;

/// A user password as the key K_UID: zero-padded to 20 bytes (§13.31). Wiped on drop and
/// never shown by `Debug`.
#[derive(Clone)]
pub struct Kuid([u8; SHA1_LEN]);

impl Kuid {
    /// `None` when the password is longer than the 20 bytes IPMI 2.0 allows.
    pub fn new(password: &[u8]) -> Option<Kuid> {
        if password.len() > SHA1_LEN {
            return None;
        }
        let mut k = [0u8; SHA1_LEN];
        k[..password.len()].copy_from_slice(password);
        Some(Kuid(k))
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Kuid {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::fmt::Debug for Kuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kuid(<redacted>)")
    }
}

/// Overwrite a secret with zeros in a way the optimiser keeps.
pub fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: a valid, aligned, exclusive reference to a byte.
        unsafe { std::ptr::write_volatile(x, 0) };
    }
}

fn mac(key: &[u8]) -> HmacSha1 {
    HmacSha1::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// HMAC-SHA1 of the concatenation of `parts` under `key`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; SHA1_LEN] {
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Constant-time check of a full HMAC-SHA1 code.
pub fn verify_sha1(key: &[u8], parts: &[&[u8]], code: &[u8]) -> bool {
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    m.verify_slice(code).is_ok()
}

/// Constant-time check of a code truncated to its leftmost bytes (HMAC-SHA1-96).
pub fn verify_sha1_96(key: &[u8], parts: &[&[u8]], code: &[u8]) -> bool {
    if code.len() != INTEGRITY_LEN {
        return false;
    }
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    m.verify_truncated_left(code).is_ok()
}

/// Keys of an established session: SIK, K1 (integrity), K2 (confidentiality), §13.32.
pub struct SessionKeys {
    pub sik: [u8; SHA1_LEN],
    pub k1: [u8; SHA1_LEN],
    pub k2: [u8; SHA1_LEN],
}

impl SessionKeys {
    pub fn derive(sik: [u8; SHA1_LEN]) -> SessionKeys {
        let k1 = hmac_sha1(&sik, &[&[0x01; SHA1_LEN]]);
        let k2 = hmac_sha1(&sik, &[&[0x02; SHA1_LEN]]);
        SessionKeys { sik, k1, k2 }
    }

    pub fn integrity(&self, data: &[u8]) -> [u8; INTEGRITY_LEN] {
        let full = hmac_sha1(&self.k1, &[data]);
        let mut out = [0u8; INTEGRITY_LEN];
        out.copy_from_slice(&full[..INTEGRITY_LEN]);
        out
    }

    pub fn check_integrity(&self, data: &[u8], code: &[u8]) -> bool {
        verify_sha1_96(&self.k1, &[data], code)
    }

    fn aes_key(&self) -> [u8; AES_BLOCK] {
        let mut k = [0u8; AES_BLOCK];
        k.copy_from_slice(&self.k2[..AES_BLOCK]);
        k
    }

    /// AES-CBC-128 payload (§13.29): IV, then the data followed by pad bytes 1, 2, 3, ... and
    /// the pad length, so that the encrypted part is a whole number of blocks.
    pub fn encrypt(&self, data: &[u8], iv: [u8; AES_BLOCK]) -> Vec<u8> {
        let pad = (AES_BLOCK - (data.len() + 1) % AES_BLOCK) % AES_BLOCK;
        let mut buf = data.to_vec();
        buf.extend((1..=pad).map(|i| i as u8));
        buf.push(pad as u8);
        let len = buf.len();
        let key = self.aes_key();
        cbc::Encryptor::<Aes128>::new(&key.into(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut buf, len)
            .expect("buffer is a whole number of blocks");
        let mut out = iv.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    /// The inverse of [`SessionKeys::encrypt`]; `None` for anything malformed.
    pub fn decrypt(&self, payload: &[u8]) -> Option<Vec<u8>> {
        if payload.len() < 2 * AES_BLOCK || payload.len() % AES_BLOCK > 0 {
            return None;
        }
        let (iv, body) = payload.split_at(AES_BLOCK);
        let mut iv_arr = [0u8; AES_BLOCK];
        iv_arr.copy_from_slice(iv);
        let mut buf = body.to_vec();
        let key = self.aes_key();
        cbc::Decryptor::<Aes128>::new(&key.into(), &iv_arr.into())
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .ok()?;
        let pad = *buf.last()? as usize;
        if pad + 1 > buf.len() {
            return None;
        }
        buf.truncate(buf.len() - pad - 1);
        Some(buf)
    }
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        wipe(&mut self.sik);
        wipe(&mut self.k1);
        wipe(&mut self.k2);
    }
}

/// `n` random bytes from the operating system (session ids, RAKP nonces, IVs).
pub fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_matches_rfc2202_case_2() {
        let code = hmac_sha1(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = code.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        assert!(verify_sha1(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &code
        ));
        assert!(verify_sha1_96(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &code[..12]
        ));
        assert!(!verify_sha1(
            b"jefe",
            &[b"what do ya want for nothing?"],
            &code
        ));
    }

    #[test]
    fn kuid_pads_and_rejects_long_passwords() {
        let k = Kuid::new(b"secret").unwrap();
        assert_eq!(&k.bytes()[..6], b"secret");
        assert!(k.bytes()[6..].iter().all(|b| *b == 0));
        assert!(Kuid::new(&[b'x'; 21]).is_none());
        assert_eq!(format!("{k:?}"), "Kuid(<redacted>)");
    }

    #[test]
    fn aes_roundtrip_and_padding() {
        let keys = SessionKeys::derive([7u8; SHA1_LEN]);
        for len in [0usize, 1, 14, 15, 16, 17, 40] {
            let data: Vec<u8> = (0..len as u8).collect();
            let enc = keys.encrypt(&data, [3u8; AES_BLOCK]);
            assert_eq!(enc.len() % AES_BLOCK, 0);
            assert!(enc.len() > AES_BLOCK + len);
            assert_eq!(keys.decrypt(&enc).unwrap(), data, "len {len}");
        }
        assert!(keys.decrypt(&[0u8; 17]).is_none());
    }

    #[test]
    fn integrity_detects_changes() {
        let keys = SessionKeys::derive([9u8; SHA1_LEN]);
        let code = keys.integrity(b"abc");
        assert!(keys.check_integrity(b"abc", &code));
        assert!(!keys.check_integrity(b"abd", &code));
    }
}
