//! RMCP+ key derivation and per-message protection (IPMI v2.0 §13.28-§13.32, table 22-20,
//! and the SHA-256 algorithms the IPMI v2.0 errata and DCMI added): RAKP-HMAC-SHA1 and
//! RAKP-HMAC-SHA256 authentication, HMAC-SHA1-96 and HMAC-SHA256-128 integrity, AES-CBC-128
//! confidentiality. The console ([`crate::Session`]) and the project's test BMC share these
//! functions, so both sides derive keys the one way; known-answer tests below pin that way to
//! values computed apart from this code (`openssl dgst -sha256 -mac HMAC`).

use aes::Aes128;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// The length of K_UID and K_G: 20 bytes, zero-padded (§13.31). HMAC pads any key shorter
/// than a block with zeros, so the padded and the unpadded key give the same codes.
pub const KEY_LEN: usize = 20;
/// AES block and IV length (§13.29).
pub const AES_BLOCK: usize = 16;
/// The constants K1 and K2 are derived from (§13.32): 20 bytes of 0x01 and of 0x02, for the
/// SHA-256 suites too (ipmitool and FreeIPMI do the same).
const CONST_1: [u8; 20] = [0x01; 20];
const CONST_2: [u8; 20] = [0x02; 20];

/// RMCP+ authentication algorithms (§13.28, table 13-17): the HMAC of the RAKP exchange and
/// of the key derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthAlgorithm {
    /// RAKP-HMAC-SHA1 (number 1).
    HmacSha1,
    /// RAKP-HMAC-SHA256 (number 3).
    HmacSha256,
}

impl AuthAlgorithm {
    /// The number in Open Session payloads.
    pub fn number(self) -> u8 {
        match self {
            AuthAlgorithm::HmacSha1 => 1,
            AuthAlgorithm::HmacSha256 => 3,
        }
    }

    /// The algorithm a number stands for, among those this crate implements.
    pub fn from_number(n: u8) -> Option<AuthAlgorithm> {
        match n {
            1 => Some(AuthAlgorithm::HmacSha1),
            3 => Some(AuthAlgorithm::HmacSha256),
            _ => None,
        }
    }

    /// HMAC of the concatenation of `parts` under `key` (20 or 32 bytes).
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            AuthAlgorithm::HmacSha1 => hmac_with::<Hmac<Sha1>>(key, parts),
            AuthAlgorithm::HmacSha256 => hmac_with::<Hmac<Sha256>>(key, parts),
        }
    }

    /// Length of the RAKP 4 integrity check value: HMAC-SHA1-96 for SHA-1 (§13.31),
    /// HMAC-SHA256-128 for SHA-256.
    pub fn icv_len(self) -> usize {
        match self {
            AuthAlgorithm::HmacSha1 => 12,
            AuthAlgorithm::HmacSha256 => 16,
        }
    }
}

/// RMCP+ integrity algorithms (§13.28.4, table 13-18): the AuthCode of session packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityAlgorithm {
    /// HMAC-SHA1-96 (number 1): the first 12 bytes of HMAC-SHA1 under K1.
    HmacSha1_96,
    /// HMAC-SHA256-128 (number 4): the first 16 bytes of HMAC-SHA256 under K1.
    HmacSha256_128,
}

impl IntegrityAlgorithm {
    /// The number in Open Session payloads.
    pub fn number(self) -> u8 {
        match self {
            IntegrityAlgorithm::HmacSha1_96 => 1,
            IntegrityAlgorithm::HmacSha256_128 => 4,
        }
    }

    /// The AuthCode length.
    pub fn code_len(self) -> usize {
        match self {
            IntegrityAlgorithm::HmacSha1_96 => 12,
            IntegrityAlgorithm::HmacSha256_128 => 16,
        }
    }

    fn hash(self) -> AuthAlgorithm {
        match self {
            IntegrityAlgorithm::HmacSha1_96 => AuthAlgorithm::HmacSha1,
            IntegrityAlgorithm::HmacSha256_128 => AuthAlgorithm::HmacSha256,
        }
    }
}

fn hmac_with<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <M as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// Compare two codes in time independent of where they differ.
pub fn codes_match(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A 20-byte key (K_UID from a password, or K_G, the BMC key): zero-padded (§13.31), wiped on
/// drop and never shown by `Debug`.
#[derive(Clone)]
pub struct Key20([u8; KEY_LEN]);

impl Key20 {
    /// `None` when `bytes` is longer than 20 bytes.
    pub fn new(bytes: &[u8]) -> Option<Key20> {
        if bytes.len() > KEY_LEN {
            return None;
        }
        let mut k = [0u8; KEY_LEN];
        k[..bytes.len()].copy_from_slice(bytes);
        Some(Key20(k))
    }
    /// The 20 bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    /// All zeros: a K_G of zeros is no K_G (§13.31), K_UID is used instead.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|b| *b == 0)
    }
}

impl Drop for Key20 {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl std::fmt::Debug for Key20 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key20(<redacted>)")
    }
}

/// Overwrite a secret with zeros in a way the optimiser keeps.
pub fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: a valid, aligned, exclusive reference to a byte.
        unsafe { std::ptr::write_volatile(x, 0) };
    }
}

/// What RAKP 1 and 2 exchanged (§13.20, §13.21): the values every RAKP code and the session
/// integrity key are computed over. Names follow the console's view: `console_*` are the
/// spec's "m" values (remote console), `bmc_*` its "c" values (managed system).
#[derive(Debug, Clone, Copy)]
pub struct RakpExchange<'a> {
    /// SID_M, the console's session id.
    pub console_sid: u32,
    /// SID_C, the BMC's session id.
    pub bmc_sid: u32,
    /// R_M, the console's random number.
    pub console_random: [u8; 16],
    /// R_C, the BMC's random number.
    pub bmc_random: [u8; 16],
    /// GUID_C, the BMC's GUID.
    pub bmc_guid: [u8; 16],
    /// ROLE_M, the whole RAKP 1 role byte (privilege and lookup bit).
    pub role: u8,
    /// UNAME_M, the user name.
    pub user: &'a [u8],
}

impl RakpExchange<'_> {
    /// RAKP 2 key exchange authentication code (§13.21), under K_UID:
    /// HMAC(SID_M, SID_C, R_M, R_C, GUID_C, ROLE_M, ULENGTH_M, UNAME_M).
    pub fn rakp2_auth_code(&self, auth: AuthAlgorithm, kuid: &Key20) -> Vec<u8> {
        auth.hmac(
            kuid.bytes(),
            &[
                &self.console_sid.to_le_bytes(),
                &self.bmc_sid.to_le_bytes(),
                &self.console_random,
                &self.bmc_random,
                &self.bmc_guid,
                &[self.role, self.user.len() as u8],
                self.user,
            ],
        )
    }

    /// RAKP 3 key exchange authentication code (§13.22), under K_UID:
    /// HMAC(R_C, SID_M, ROLE_M, ULENGTH_M, UNAME_M).
    pub fn rakp3_auth_code(&self, auth: AuthAlgorithm, kuid: &Key20) -> Vec<u8> {
        auth.hmac(
            kuid.bytes(),
            &[
                &self.bmc_random,
                &self.console_sid.to_le_bytes(),
                &[self.role, self.user.len() as u8],
                self.user,
            ],
        )
    }

    /// The session integrity key (§13.31): HMAC(R_M, R_C, ROLE_M, ULENGTH_M, UNAME_M) under
    /// K_G when the BMC has a key (one that is not all zeros), else under K_UID.
    pub fn sik(&self, auth: AuthAlgorithm, kuid: &Key20, kg: Option<&Key20>) -> Vec<u8> {
        let key = kg.filter(|k| !k.is_zero()).unwrap_or(kuid);
        auth.hmac(
            key.bytes(),
            &[
                &self.console_random,
                &self.bmc_random,
                &[self.role, self.user.len() as u8],
                self.user,
            ],
        )
    }

    /// RAKP 4 integrity check value (§13.23), under SIK: HMAC(R_M, SID_C, GUID_C), truncated
    /// to [`AuthAlgorithm::icv_len`].
    pub fn rakp4_icv(&self, auth: AuthAlgorithm, sik: &[u8]) -> Vec<u8> {
        let mut code = auth.hmac(
            sik,
            &[
                &self.console_random,
                &self.bmc_sid.to_le_bytes(),
                &self.bmc_guid,
            ],
        );
        code.truncate(auth.icv_len());
        code
    }
}

/// Keys of an established session: SIK, K1 (integrity), K2 (confidentiality), §13.32.
pub struct SessionKeys {
    integrity: IntegrityAlgorithm,
    sik: Vec<u8>,
    k1: Vec<u8>,
    k2: Vec<u8>,
}

impl SessionKeys {
    /// K1 = HMAC_SIK(0x01 x 20), K2 = HMAC_SIK(0x02 x 20) with the authentication
    /// algorithm's HMAC (§13.32).
    pub fn derive(auth: AuthAlgorithm, integrity: IntegrityAlgorithm, sik: Vec<u8>) -> Self {
        let k1 = auth.hmac(&sik, &[&CONST_1]);
        let k2 = auth.hmac(&sik, &[&CONST_2]);
        SessionKeys {
            integrity,
            sik,
            k1,
            k2,
        }
    }

    /// The session integrity key (the RAKP 4 check value is computed under it).
    pub fn sik(&self) -> &[u8] {
        &self.sik
    }

    /// The length of the AuthCode of session packets.
    pub fn integrity_len(&self) -> usize {
        self.integrity.code_len()
    }

    /// The AuthCode of `data` (§13.28.4): the integrity algorithm's HMAC under K1, truncated.
    pub fn integrity(&self, data: &[u8]) -> Vec<u8> {
        let mut code = self.integrity.hash().hmac(&self.k1, &[data]);
        code.truncate(self.integrity.code_len());
        code
    }

    /// Constant-time check of an AuthCode.
    pub fn check_integrity(&self, data: &[u8], code: &[u8]) -> bool {
        codes_match(&self.integrity(data), code)
    }

    /// AES-CBC-128 uses the first 16 bytes of K2 (§13.29).
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

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_vectors() {
        // RFC 2202 case 2 and RFC 4231 case 2.
        let parts: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        assert_eq!(
            hex(&AuthAlgorithm::HmacSha1.hmac(b"Jefe", parts)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex(&AuthAlgorithm::HmacSha256.hmac(b"Jefe", parts)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(codes_match(b"abc", b"abc"));
        assert!(!codes_match(b"abc", b"abd"));
        assert!(!codes_match(b"abc", b"ab"));
    }

    /// The exchange of the known-answer tests. The expected values were computed with
    /// `openssl dgst -sha256 -mac HMAC -macopt hexkey:...` over the byte strings the
    /// IPMI v2.0 sections name, not with this code.
    fn exchange() -> RakpExchange<'static> {
        let seq = |start: u8| -> [u8; 16] { std::array::from_fn(|i| start + i as u8) };
        RakpExchange {
            console_sid: 0xa0a1_a2a3,
            bmc_sid: 0x1122_3344,
            console_random: seq(0x00),
            bmc_random: seq(0x10),
            bmc_guid: seq(0x20),
            role: 0x14,
            user: b"admin",
        }
    }

    #[test]
    fn rakp_hmac_sha256_known_answers() {
        let x = exchange();
        let kuid = Key20::new(b"secret").unwrap();
        let a = AuthAlgorithm::HmacSha256;
        assert_eq!(
            hex(&x.rakp2_auth_code(a, &kuid)),
            "c37db6ba21256ecd59a35680d7be96a3549bd569b82f12a03f7c5a1aa025338b"
        );
        assert_eq!(
            hex(&x.rakp3_auth_code(a, &kuid)),
            "35e3ebdabf40374b6c78fef8d3a13830e2b86bafbd4d316682af7bc201b8d589"
        );
        let sik = x.sik(a, &kuid, None);
        assert_eq!(
            hex(&sik),
            "0c4b7464110cf18fd94ec46aa0242c66ab06157709c02ea7db1653aac04b1023"
        );
        assert_eq!(
            hex(&x.rakp4_icv(a, &sik)),
            "882079e060fcb54c69667d18e3964f58"
        );
        let keys = SessionKeys::derive(a, IntegrityAlgorithm::HmacSha256_128, sik);
        assert_eq!(
            hex(&keys.k1),
            "b56faef1c37759ee6f92dccb3dfb8a7610c83e064883aa735d3e84c1cb0c5728"
        );
        assert_eq!(
            hex(&keys.k2),
            "45d88aac4a3d9b6ac2cdf022f1f31a5a82ac0aecfe8d8559b4060eb4a13b4334"
        );
        assert_eq!(
            hex(&keys.integrity(b"hello")),
            "2afc70c2e07e7474a796c033c894b6da"
        );
        assert!(keys.check_integrity(b"hello", &keys.integrity(b"hello")));
        assert!(!keys.check_integrity(b"hellp", &keys.integrity(b"hello")));
    }

    #[test]
    fn bmc_key_replaces_kuid_in_the_sik_only() {
        let x = exchange();
        let kuid = Key20::new(b"secret").unwrap();
        let kg = Key20::new(&std::array::from_fn::<u8, 20, _>(|i| i as u8 + 1)).unwrap();
        let a = AuthAlgorithm::HmacSha256;
        let sik = x.sik(a, &kuid, Some(&kg));
        assert_eq!(
            hex(&sik),
            "2cc1a33f5bdd363d57cde9d293982459ad5ed1556988d2cb144577a2a0114839"
        );
        assert_eq!(
            hex(&x.rakp4_icv(a, &sik)),
            "973dbe1f14d10d298ae07a9f6553854c"
        );
        let keys = SessionKeys::derive(a, IntegrityAlgorithm::HmacSha256_128, sik);
        assert_eq!(
            hex(&keys.k2),
            "ceaa7c36cba485370a515a07c3b833fd63d3b3243f256c19f892eb1d09a675d9"
        );
        assert_eq!(
            hex(&keys.integrity(b"hello")),
            "57a1287f6e467042dbbc2f831662e400"
        );
        // A key of zeros is no key; SHA-1 uses the same inputs.
        let zero = Key20::new(&[0; 20]).unwrap();
        assert_eq!(x.sik(a, &kuid, Some(&zero)), x.sik(a, &kuid, None));
        assert_eq!(
            hex(&x.sik(AuthAlgorithm::HmacSha1, &kuid, None)),
            "a39ae2b160a1e5efe017ffd6ec1a4ff8eeac6f54"
        );
    }

    #[test]
    fn key20_pads_and_rejects_long_keys() {
        let k = Key20::new(b"secret").unwrap();
        assert_eq!(&k.bytes()[..6], b"secret");
        assert!(k.bytes()[6..].iter().all(|b| *b == 0));
        assert!(Key20::new(&[b'x'; 21]).is_none());
        assert_eq!(format!("{k:?}"), "Key20(<redacted>)");
    }

    #[test]
    fn aes_roundtrip_and_padding() {
        let keys = SessionKeys::derive(
            AuthAlgorithm::HmacSha1,
            IntegrityAlgorithm::HmacSha1_96,
            vec![7u8; 20],
        );
        for len in [0usize, 1, 14, 15, 16, 17, 40] {
            let data: Vec<u8> = (0..len as u8).collect();
            let enc = keys.encrypt(&data, [3u8; AES_BLOCK]);
            assert_eq!(enc.len() % AES_BLOCK, 0);
            assert!(enc.len() > AES_BLOCK + len);
            assert_eq!(keys.decrypt(&enc).unwrap(), data, "len {len}");
        }
        assert!(keys.decrypt(&[0u8; 17]).is_none());
        assert_eq!(keys.integrity(b"abc").len(), 12);
    }
}
