//! Chassis power over IPMI v2.0 LAN (RMCP+), for fencing.
//!
//! - [`SessionConfig`]: BMC address, user, [`Password`], [`PrivilegeLevel`], [`CipherSuite`]
//!   and the retransmission interval.
//! - [`Session`]: an authenticated RMCP+ session raised to the configured privilege; runs
//!   [`Session::chassis_status`] and [`Session::chassis_control`]; always closed, by
//!   [`Session::close`] or on drop (also on every error path).
//! - [`with_session`]: open, run a closure, close, in one call.
//! - [`IpmiError`]: says which of unknown user, wrong password, insufficient privilege,
//!   unsupported cipher suite, timeout or unreachable BMC, or protocol failure happened.
//!
//! ```no_run
//! use axha_exec::Deadline;
//! use axha_ipmi::{with_session, Password, SessionConfig};
//! use std::time::Duration;
//! let cfg = SessionConfig::new("10.0.0.9:623".parse().unwrap(), "admin",
//!                              Password::new(b"secret".to_vec()));
//! let deadline = Deadline::after(Duration::from_secs(5));
//! let status = with_session(&cfg, &deadline, |s| s.chassis_status(&deadline))?;
//! println!("power on: {}", status.power_on);
//! # Ok::<(), axha_ipmi::IpmiError>(())
//! ```
//!
//! # Supported
//! IPMI v2.0 RMCP+ only (IPMI v2.0 §13), cipher suites 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96,
//! AES-CBC-128; the default), 17 (RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128; from the
//! IPMI v2.0 errata and DCMI, for BMCs that disabled the SHA-1 suites) and 2 (RAKP-HMAC-SHA1,
//! HMAC-SHA1-96, no encryption), table 22-20. The BMC key K_G ([`BmcKey`], in
//! [`SessionConfig::bmc_key`]) replaces the password as the key of the session integrity key
//! when the BMC has one (§13.31); a mismatch is [`IpmiError::BmcKeyMismatch`].
//! Not supported, on purpose: cipher suite 0 (no authentication: any password logs in),
//! suite 1 (no integrity: a forged "power is off" reply could not be told from a real one),
//! the MD5 and xRC4 suites, the other SHA-256 suites (15, 16) and IPMI 1.5 sessions
//! (MD5/MD2/straight password).
//!
//! [`crypto`] (key derivation, RAKP codes, message protection) and [`wire`] (datagram
//! layouts; [`wire::bmc`] for the BMC's side) are public so that the project's test BMC
//! (`axha-bmc-lanplus`) computes exactly what this client checks; known-answer tests pin the
//! SHA-256 derivations to values computed with openssl, and ipmitool agreeing with that BMC
//! (tests/fence_cipher17.rs) proves both against an implementation written elsewhere.
//!
//! # Why not the `ipmi-rs` crate
//! `ipmi-rs` 0.6 was evaluated first. Its RMCP+ state machine is private: it always asks for
//! Administrator with a name+privilege lookup (an operator-limited user cannot log in), it
//! does not expose the session id (Close Session cannot be sent, so sessions leak until the
//! BMC expires them), it has no retransmission (one lost datagram fails the call) and no
//! per-step deadline. Those are exactly the properties a fence agent needs, and patching them
//! would mean carrying a fork. This crate therefore implements the RMCP+ handshake and message
//! protection itself, over the audited RustCrypto primitives (`hmac`, `sha1`, `aes`, `cbc`),
//! in small pure functions ([`wire`]) that are unit-tested apart from the UDP loop.
//!
//! # Retransmission
//! Every exchange resends its request (with a fresh session sequence number inside a
//! session) after [`SessionConfig::retransmit`], doubling to [`SessionConfig::max_retransmit`],
//! until the caller's [`Deadline`]. Chassis commands are idempotent in effect (power off twice
//! is off), so a duplicate execution after a lost reply is harmless. A handshake that loses
//! more than one step's retransmissions can repair (BMCs ignore a repeated RAKP 3) starts over
//! with a new session; the half-open sessions left behind cannot be closed (they have no keys
//! yet) and expire on the BMC (ipmi_sim: after its session timeout). Replies must carry
//! increasing session sequence numbers; late duplicates and replays are dropped.

#![warn(missing_docs)]

pub mod crypto;
mod error;
mod session;
pub mod wire;

pub use axha_exec::Deadline;
pub use crypto::{AuthAlgorithm, IntegrityAlgorithm};
pub use error::{completion_meaning, rmcp_status_meaning, IpmiError};
pub use session::{offered_cipher_suites, Session, SessionConfig};

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// The IANA port of RMCP (IPMI v2.0 §13.1.1).
pub const DEFAULT_PORT: u16 = 623;

/// Session privilege levels (IPMI v2.0 §6.8, table 22-21 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrivilegeLevel {
    /// May read status, not change power.
    User = 2,
    /// May switch chassis power: enough for fencing.
    Operator = 3,
    /// Everything, including user management.
    Administrator = 4,
}

impl PrivilegeLevel {
    /// The spelling of fence_ipmilan's `privlvl` (and ipmitool's `-L`, lower case).
    pub fn name(self) -> &'static str {
        match self {
            PrivilegeLevel::User => "user",
            PrivilegeLevel::Operator => "operator",
            PrivilegeLevel::Administrator => "administrator",
        }
    }
    /// Every level, lowest first.
    pub const ALL: [PrivilegeLevel; 3] = [
        PrivilegeLevel::User,
        PrivilegeLevel::Operator,
        PrivilegeLevel::Administrator,
    ];
}

impl fmt::Display for PrivilegeLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PrivilegeLevel {
    type Err = IpmiError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let l = s.trim().to_ascii_lowercase();
        match l.as_str() {
            "user" => Ok(PrivilegeLevel::User),
            "operator" => Ok(PrivilegeLevel::Operator),
            "administrator" | "admin" => Ok(PrivilegeLevel::Administrator),
            _ => Err(IpmiError::InvalidConfig(format!(
                "privilege level {s:?} (user, operator or administrator)"
            ))),
        }
    }
}

/// The RMCP+ cipher suites this client speaks (IPMI v2.0 table 22-20; suite 17 from the
/// IPMI v2.0 errata and DCMI 1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherSuite {
    /// RAKP-HMAC-SHA1, HMAC-SHA1-96, no confidentiality.
    Suite2,
    /// RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128.
    Suite3,
    /// RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128.
    Suite17,
}

impl CipherSuite {
    /// The suite's number as `ipmitool -C` and fence_ipmilan's `cipher` spell it.
    pub fn number(self) -> u8 {
        match self {
            CipherSuite::Suite2 => 2,
            CipherSuite::Suite3 => 3,
            CipherSuite::Suite17 => 17,
        }
    }
    /// The suites this client speaks.
    pub const SUPPORTED: [CipherSuite; 3] = [
        CipherSuite::Suite2,
        CipherSuite::Suite3,
        CipherSuite::Suite17,
    ];

    /// The suite whose (authentication, integrity, confidentiality) algorithm numbers these
    /// are (§13.28), among the supported ones.
    pub fn from_algorithms(algorithms: (u8, u8, u8)) -> Option<CipherSuite> {
        CipherSuite::SUPPORTED
            .into_iter()
            .find(|s| s.algorithms() == algorithms)
    }

    /// (authentication, integrity, confidentiality) algorithm numbers (§13.28).
    pub fn algorithms(self) -> (u8, u8, u8) {
        (
            self.authentication().number(),
            self.integrity_algorithm().number(),
            u8::from(self.confidentiality()),
        )
    }

    /// The authentication (RAKP and key derivation) algorithm.
    pub fn authentication(self) -> AuthAlgorithm {
        match self {
            CipherSuite::Suite2 | CipherSuite::Suite3 => AuthAlgorithm::HmacSha1,
            CipherSuite::Suite17 => AuthAlgorithm::HmacSha256,
        }
    }

    /// The integrity algorithm of session packets.
    pub fn integrity_algorithm(self) -> IntegrityAlgorithm {
        match self {
            CipherSuite::Suite2 | CipherSuite::Suite3 => IntegrityAlgorithm::HmacSha1_96,
            CipherSuite::Suite17 => IntegrityAlgorithm::HmacSha256_128,
        }
    }

    /// The suite to ask for when none is configured, from the ids the BMC offers (Get
    /// Channel Cipher Suites): 17 when offered, else 3, the suite every IPMI 2.0 BMC has had.
    /// The list comes unauthenticated, so a forger can at most make the choice 3.
    pub fn preferred(offered: &[u8]) -> CipherSuite {
        if offered.contains(&17) {
            CipherSuite::Suite17
        } else {
            CipherSuite::Suite3
        }
    }

    /// Every supported suite protects integrity.
    pub fn integrity(self) -> bool {
        true
    }

    /// Payloads are AES-CBC-128 encrypted.
    pub fn confidentiality(self) -> bool {
        self != CipherSuite::Suite2
    }
}

impl TryFrom<u8> for CipherSuite {
    type Error = IpmiError;
    fn try_from(n: u8) -> Result<Self, IpmiError> {
        match n {
            2 => Ok(CipherSuite::Suite2),
            3 => Ok(CipherSuite::Suite3),
            17 => Ok(CipherSuite::Suite17),
            0 => Err(IpmiError::InvalidConfig(
                "cipher suite 0 performs no authentication and is never used".into(),
            )),
            1 => Err(IpmiError::InvalidConfig(
                "cipher suite 1 has no integrity protection; use 17 or 3 (or 2)".into(),
            )),
            n => Err(IpmiError::InvalidConfig(format!(
                "cipher suite {n} is not supported (17, 3 or 2)"
            ))),
        }
    }
}

impl FromStr for CipherSuite {
    type Err = IpmiError;
    fn from_str(s: &str) -> Result<Self, IpmiError> {
        let n: u8 = s.trim().parse().map_err(|_| {
            IpmiError::InvalidConfig(format!("cipher suite {s:?} is not a number (17, 3 or 2)"))
        })?;
        CipherSuite::try_from(n)
    }
}

/// Longest user name a BMC stores (IPMI v2.0 §22.28, Set User Name: 16 bytes).
pub const MAX_USER_NAME_LEN: usize = 16;
/// Longest RMCP+ password: the key K_UID is 20 bytes (IPMI v2.0 §13.31).
pub const MAX_PASSWORD_LEN: usize = 20;

/// The user-name rule of every caller (the fence agent, `axigen-ha cib render`, [`Session`]):
/// 1 to 16 bytes (§22.28), no control character (NUL, CR and LF included: they end a
/// `key=value` line) and no white space at either end (trimmed away on the way to the BMC).
pub fn check_user_name(name: &str) -> Result<(), IpmiError> {
    let reason = if name.is_empty() {
        "is empty"
    } else if name.len() > MAX_USER_NAME_LEN {
        "is longer than 16 bytes (IPMI v2.0 §22.28)"
    } else if name.chars().any(char::is_control) {
        "contains a control character"
    } else if name.trim() != name {
        "begins or ends with white space"
    } else {
        return Ok(());
    };
    Err(IpmiError::UserName {
        name: name.to_string(),
        reason,
    })
}

/// The password rule of every caller: at most 20 bytes, the size of K_UID (§13.31).
pub fn check_password(password: &[u8]) -> Result<(), IpmiError> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(IpmiError::PasswordTooLong {
            len: password.len(),
        });
    }
    Ok(())
}

/// A BMC password: never shown by `Debug`, wiped from memory on drop.
#[derive(Clone)]
pub struct Password(Vec<u8>);

impl Password {
    /// Takes the password's bytes (wiped when the password is dropped).
    pub fn new(bytes: Vec<u8>) -> Password {
        Password(bytes)
    }
    /// The bytes themselves, for the key computation only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// True for an empty password.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        crypto::wipe(&mut self.0);
    }
}

/// The BMC key K_G (IPMI v2.0 §13.31): when a BMC has one, the session integrity key is
/// computed under it instead of the user's password, so a session needs both. Up to 20
/// bytes, zero-padded; never shown by `Debug`, wiped on drop. A key of zeros is the same as
/// no key.
#[derive(Clone)]
pub struct BmcKey(crypto::Key20);

impl BmcKey {
    /// The key as `ipmitool -k` takes it: its bytes (at most 20).
    pub fn from_bytes(bytes: &[u8]) -> Result<BmcKey, IpmiError> {
        crypto::Key20::new(bytes)
            .map(BmcKey)
            .ok_or(IpmiError::InvalidBmcKey {
                reason: "longer than 20 bytes (IPMI v2.0 §13.31)",
            })
    }

    /// The key as `ipmitool -y` and fence_ipmilan's `hexadecimal_kg` take it: an even
    /// number of hexadecimal digits (an optional `0x` first), at most 40.
    pub fn from_hex(text: &str) -> Result<BmcKey, IpmiError> {
        let t = text.trim();
        let t = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        let bad = |reason| Err(IpmiError::InvalidBmcKey { reason });
        if t.is_empty() {
            return bad("is empty");
        }
        if !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return bad("is not hexadecimal");
        }
        if t.len() % 2 != 0 {
            return bad("has an odd number of hexadecimal digits");
        }
        if t.len() > 2 * crypto::KEY_LEN {
            return bad("is longer than 40 hexadecimal digits (20 bytes, IPMI v2.0 §13.31)");
        }
        let mut bytes = [0u8; crypto::KEY_LEN];
        for (i, pair) in t.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16).expect("checked hexadecimal") as u8;
            bytes[i] = digit(pair[0]) << 4 | digit(pair[1]);
        }
        let key = BmcKey::from_bytes(&bytes[..t.len() / 2]);
        crypto::wipe(&mut bytes);
        key
    }

    /// The padded key, for the key derivation only.
    pub fn key(&self) -> &crypto::Key20 {
        &self.0
    }
}

impl fmt::Debug for BmcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BmcKey(<redacted>)")
    }
}

/// Chassis Control sub-commands (IPMI v2.0 §28.3, table 28-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChassisControl {
    /// Power off at once (hard off; what fencing wants).
    PowerDown = 0x00,
    /// Power on.
    PowerUp = 0x01,
    /// Power off, wait, power on again.
    PowerCycle = 0x02,
    /// Hard reset without a power cycle.
    HardReset = 0x03,
    /// Pulse a diagnostic interrupt (NMI) to the host: a kernel set up for it dumps its memory
    /// (kdump) and stops; the power state is unchanged.
    DiagnosticInterrupt = 0x04,
    /// Ask the operating system to shut down (ACPI soft-off); never used for fencing.
    SoftShutdown = 0x05,
}

/// Get Chassis Status response (IPMI v2.0 §28.2, table 28-3), the parts fencing uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChassisStatus {
    /// The chassis is powered on.
    pub power_on: bool,
    /// The power supply reports a fault.
    pub power_fault: bool,
    /// Power did not reach the state the last power control command asked for.
    pub power_control_fault: bool,
    /// A chassis interlock (open case) switched power off.
    pub interlock: bool,
    /// Power was cut by an overload.
    pub overload: bool,
}

impl ChassisStatus {
    /// From the response data after the completion code; `None` when too short.
    pub fn parse(data: &[u8]) -> Option<ChassisStatus> {
        if data.len() < 3 {
            return None;
        }
        let s = data[0];
        Some(ChassisStatus {
            power_on: s & 0x01 != 0,
            overload: s & 0x02 != 0,
            interlock: s & 0x04 != 0,
            power_fault: s & 0x08 != 0,
            power_control_fault: s & 0x10 != 0,
        })
    }
}

/// Resolve `host` (name or address; IPv6 may be bracketed) and `port` to one socket
/// address. Literal addresses need no lookup; a name is looked up on a helper thread and
/// abandoned at `deadline` (getaddrinfo(3) has no timeout of its own, and a fence agent must
/// not hang on a dead DNS server).
pub fn resolve(host: &str, port: u16, deadline: &Deadline) -> Result<SocketAddr, IpmiError> {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    let fail = |detail: String| IpmiError::Resolve {
        host: host.into(),
        detail,
    };
    if h.is_empty() {
        return Err(fail("empty address".into()));
    }
    if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    if deadline.expired() {
        return Err(fail("no time left to look the name up".into()));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = h.to_string();
    std::thread::spawn(move || {
        let r = (name.as_str(), port)
            .to_socket_addrs()
            .map(|mut it| it.next());
        let _ = tx.send(r);
    });
    match rx.recv_timeout(deadline.remaining()) {
        Ok(Ok(Some(a))) => Ok(a),
        Ok(Ok(None)) => Err(fail("no address".into())),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail(format!(
            "no answer from the resolver in time (use an IP address for {h})"
        ))),
    }
}

/// Open a session, run `f`, and close the session whatever `f` returned.
pub fn with_session<T>(
    cfg: &SessionConfig,
    deadline: &Deadline,
    f: impl FnOnce(&mut Session) -> Result<T, IpmiError>,
) -> Result<T, IpmiError> {
    let mut s = Session::open(cfg, deadline)?;
    let r = f(&mut s);
    let closed = s.close(deadline);
    match (r, closed) {
        (Ok(v), _) => Ok(v),
        (Err(e), _) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_and_suite_parsing() {
        assert_eq!(
            "Operator".parse::<PrivilegeLevel>().unwrap(),
            PrivilegeLevel::Operator
        );
        assert_eq!(
            "admin".parse::<PrivilegeLevel>().unwrap(),
            PrivilegeLevel::Administrator
        );
        assert!("root".parse::<PrivilegeLevel>().is_err());
        assert_eq!("3".parse::<CipherSuite>().unwrap(), CipherSuite::Suite3);
        let e = "0".parse::<CipherSuite>().unwrap_err().to_string();
        assert!(e.contains("no authentication"), "{e}");
        assert!("1".parse::<CipherSuite>().is_err());
        assert_eq!("17".parse::<CipherSuite>().unwrap(), CipherSuite::Suite17);
        assert!("16".parse::<CipherSuite>().is_err());
        assert_eq!(CipherSuite::Suite17.algorithms(), (3, 4, 1));
        assert_eq!(CipherSuite::Suite3.algorithms(), (1, 1, 1));
        assert_eq!(CipherSuite::Suite2.algorithms(), (1, 1, 0));
        assert_eq!(
            CipherSuite::from_algorithms((3, 4, 1)),
            Some(CipherSuite::Suite17)
        );
        assert_eq!(CipherSuite::from_algorithms((3, 4, 0)), None);
        assert_eq!(
            CipherSuite::preferred(&[0, 1, 2, 3, 17]),
            CipherSuite::Suite17
        );
        assert_eq!(CipherSuite::preferred(&[0, 1, 2, 3]), CipherSuite::Suite3);
        assert_eq!(CipherSuite::preferred(&[]), CipherSuite::Suite3);
        assert!("x".parse::<CipherSuite>().is_err());
    }

    #[test]
    fn chassis_status_bits() {
        let s = ChassisStatus::parse(&[0x01, 0, 0]).unwrap();
        assert!(s.power_on && !s.power_fault);
        let s = ChassisStatus::parse(&[0x08, 0, 0]).unwrap();
        assert!(!s.power_on && s.power_fault);
        assert!(ChassisStatus::parse(&[1, 0]).is_none());
    }

    #[test]
    fn user_name_and_password_rules() {
        assert!(check_user_name("admin").is_ok());
        assert!(check_user_name("abcdefghijklmnop").is_ok());
        let e = |n: &str| check_user_name(n).unwrap_err().to_string();
        assert_eq!(e(""), r#"user name "" is empty"#);
        assert!(e("abcdefghijklmnopq").contains("longer than 16 bytes"));
        assert!(e("ad\0min").contains("control character"));
        assert!(e("ad\nmin").contains("control character"));
        assert!(e("admin ").contains("white space"));
        assert!(check_password(&[b'x'; 20]).is_ok());
        assert!(check_password(b"").is_ok());
        assert_eq!(
            check_password(&[b'x'; 21]).unwrap_err().to_string(),
            "password is 21 bytes, more than the 20 an RMCP+ password may hold (IPMI v2.0 §13.31)"
        );
    }

    #[test]
    fn bmc_key_forms() {
        let k = BmcKey::from_hex("0x0102ff").unwrap();
        assert_eq!(&k.key().bytes()[..4], &[1, 2, 0xff, 0]);
        assert_eq!(
            BmcKey::from_hex("616263").unwrap().key().bytes(),
            BmcKey::from_bytes(b"abc").unwrap().key().bytes()
        );
        assert!(BmcKey::from_hex(&"ab".repeat(20)).is_ok());
        let e = |t: &str| BmcKey::from_hex(t).unwrap_err().to_string();
        assert!(e(&"ab".repeat(21)).contains("40 hexadecimal digits"));
        assert!(e("abc").contains("odd number"));
        assert!(e("zz").contains("not hexadecimal"), "{}", e("zz"));
        assert!(!e("s3cr3tzz").contains("s3cr3t"), "the key is never echoed");
        assert!(e("").contains("empty"));
        assert!(BmcKey::from_bytes(&[b'k'; 21]).is_err());
        assert_eq!(format!("{k:?}"), "BmcKey(<redacted>)");
    }

    #[test]
    fn password_is_redacted() {
        let p = Password::new(b"hunter2".to_vec());
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn resolve_literals_and_errors() {
        let d = Deadline::after(std::time::Duration::from_secs(5));
        let r = |h: &str, p: u16| resolve(h, p, &d).map(|a| a.to_string());
        assert_eq!(r("127.0.0.1", 623).unwrap(), "127.0.0.1:623");
        assert_eq!(r("[::1]", 1).unwrap(), "[::1]:1");
        assert!(r("localhost", 7).unwrap().ends_with(":7"));
        assert!(r("", 1).is_err());
        assert!(r("no such host.invalid", 1).is_err());
        let past = Deadline::after(std::time::Duration::ZERO);
        let e = resolve("localhost", 1, &past).unwrap_err().to_string();
        assert!(e.contains("localhost"), "{e}");
    }
}
