use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::PrivilegeLevel;

/// Why a chassis power request over IPMI failed. Each variant says what the operator has to
/// look at (credentials, privilege, cipher suite, network) and carries the offending value.
#[derive(Debug)]
pub enum IpmiError {
    /// A parameter that can never work (cipher suite 0, a 21-byte password, ...).
    InvalidConfig(String),
    /// A user name no BMC accepts (see [`crate::check_user_name`]).
    UserName {
        /// The user name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A password longer than an RMCP+ password may be (see [`crate::check_password`]).
    PasswordTooLong {
        /// Its length in bytes (never the password itself).
        len: usize,
    },
    /// A BMC key (K_G) that cannot be one; never the key itself.
    InvalidBmcKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// RAKP 4 did not verify although RAKP 2 proved the password: the session integrity key
    /// differs, so the BMC key (K_G) given does not match the BMC's (or one side has none).
    BmcKeyMismatch {
        /// The user name sent.
        user: String,
        /// Whether a BMC key was given.
        key_given: bool,
    },
    /// The host name did not resolve.
    Resolve {
        /// The BMC's host name as given.
        host: String,
        /// The resolver's answer.
        detail: String,
    },
    /// The UDP socket to the BMC failed.
    Io {
        /// The BMC's address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Nothing answered `step` within the time allowed, even with retransmissions.
    Timeout {
        /// The BMC's address.
        addr: SocketAddr,
        /// The exchange that got no answer.
        step: &'static str,
        /// How long it waited.
        waited: Duration,
        /// ICMP port unreachable came back: nothing listens on that port.
        refused: bool,
    },
    /// The BMC does not know this user name (RAKP status 0x0D).
    UnknownUser {
        /// The user name sent.
        user: String,
    },
    /// The BMC knows the user but the password does not match (RAKP 2/4 auth codes).
    WrongPassword {
        /// The user name sent.
        user: String,
    },
    /// The user may not have the privilege level asked for.
    InsufficientPrivilege {
        /// The user name sent.
        user: String,
        /// The level asked for.
        requested: PrivilegeLevel,
        /// The BMC's reason (status or completion code meaning).
        detail: String,
    },
    /// The BMC will not use the cipher suite asked for.
    UnsupportedCipherSuite {
        /// The suite asked for.
        suite: u8,
        /// The BMC's reason.
        detail: String,
    },
    /// The BMC refused the session for another reason (RMCP+ status code, §13.24).
    SessionRejected {
        /// The handshake step refused.
        step: &'static str,
        /// The RMCP+ status code.
        status: u8,
        /// What the status code means.
        meaning: &'static str,
    },
    /// A command got a non-zero completion code (§5.2, table 5-2).
    Completion {
        /// The command sent.
        command: &'static str,
        /// The completion code.
        code: u8,
        /// What the completion code means.
        meaning: &'static str,
    },
    /// The BMC answered with something this client cannot use.
    Protocol {
        /// The exchange whose answer was unusable.
        step: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// The operating system's random source failed (session ids and nonces need it).
    Random(String),
}

impl fmt::Display for IpmiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpmiError::InvalidConfig(m) => write!(f, "invalid IPMI parameters: {m}"),
            IpmiError::UserName { name, reason } => write!(f, "user name {name:?} {reason}"),
            IpmiError::PasswordTooLong { len } => write!(
                f,
                "password is {len} bytes, more than the 20 an RMCP+ password may hold (IPMI v2.0 §13.31)"
            ),
            IpmiError::InvalidBmcKey { reason } => write!(f, "BMC key (K_G) {reason}"),
            IpmiError::BmcKeyMismatch { user, key_given } => {
                write!(
                    f,
                    "BMC accepted the password of user {user:?} but the session keys differ \
                     (RAKP 4 integrity check value does not match): "
                )?;
                if *key_given {
                    f.write_str("the BMC key (K_G) given is not the BMC's")
                } else {
                    f.write_str("the BMC has a BMC key (K_G) set and none was given")
                }
            }
            IpmiError::Resolve { host, detail } => write!(f, "cannot resolve {host}: {detail}"),
            IpmiError::Io { addr, source } => write!(f, "IPMI to {addr}: {source}"),
            IpmiError::Timeout {
                addr,
                step,
                waited,
                refused,
            } => {
                write!(
                    f,
                    "no answer from BMC {addr} to {step} within {:.1}s",
                    waited.as_secs_f64()
                )?;
                if *refused {
                    write!(f, " (port unreachable: nothing listens there)")?;
                }
                Ok(())
            }
            IpmiError::UnknownUser { user } => {
                write!(f, "BMC rejected user {user:?}: unknown user")
            }
            IpmiError::WrongPassword { user } => {
                write!(f, "BMC rejected user {user:?}: wrong password")
            }
            IpmiError::InsufficientPrivilege {
                user,
                requested,
                detail,
            } => write!(
                f,
                "user {user:?} lacks {} privilege: {detail}",
                requested.name()
            ),
            IpmiError::UnsupportedCipherSuite { suite, detail } => {
                write!(f, "cipher suite {suite} not usable: {detail}")
            }
            IpmiError::SessionRejected {
                step,
                status,
                meaning,
            } => write!(f, "BMC refused {step}: {meaning} (status 0x{status:02x})"),
            IpmiError::Completion {
                command,
                code,
                meaning,
            } => write!(
                f,
                "{command} failed: {meaning} (completion code 0x{code:02x})"
            ),
            IpmiError::Protocol { step, detail } => write!(f, "bad reply to {step}: {detail}"),
            IpmiError::Random(m) => write!(f, "random source: {m}"),
        }
    }
}

/// Each message already includes its cause (the I/O error of [`IpmiError::Io`] too), so
/// `source` stays empty: an error-chain printer would repeat the cause otherwise.
impl std::error::Error for IpmiError {}

impl IpmiError {
    /// True for failures of authentication or authorisation: retrying cannot help.
    pub fn is_credentials(&self) -> bool {
        matches!(
            self,
            IpmiError::UnknownUser { .. }
                | IpmiError::WrongPassword { .. }
                | IpmiError::InsufficientPrivilege { .. }
                | IpmiError::BmcKeyMismatch { .. }
        )
    }
    /// True when nothing answered in time (the BMC may be unreachable or busy).
    pub fn is_timeout(&self) -> bool {
        matches!(self, IpmiError::Timeout { .. })
    }
}

/// RMCP+ status codes (IPMI v2.0 §13.24, table 13-15).
pub fn rmcp_status_meaning(code: u8) -> &'static str {
    match code {
        0x01 => "insufficient resources to create a session",
        0x02 => "invalid session ID",
        0x03 => "invalid payload type",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x08 => "inactive session ID",
        0x09 => "invalid role",
        0x0a => "unauthorized role or privilege level requested",
        0x0b => "insufficient resources to create a session at the requested role",
        0x0c => "invalid name length",
        0x0d => "unauthorized name",
        0x0e => "unauthorized GUID",
        0x0f => "invalid integrity check value",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match with proposed security algorithms",
        0x12 => "illegal or unrecognized parameter",
        _ => "unknown status",
    }
}

/// Generic completion codes (IPMI v2.0 §5.2, table 5-2) and those of Set Session Privilege
/// Level (§22.18).
pub fn completion_meaning(code: u8) -> &'static str {
    match code {
        0x80 => "requested level not available for this user",
        0x81 => "requested level exceeds channel or user privilege limit",
        0xc0 => "node busy",
        0xc1 => "invalid command",
        0xc3 => "timeout while processing command",
        0xc6 => "request data length invalid",
        0xc9 => "parameter out of range",
        0xcc => "invalid data field in request",
        0xce => "command response could not be provided",
        0xd4 => "insufficient privilege level",
        0xd5 => "command not supported in present state",
        0xff => "unspecified error",
        _ => "command failed",
    }
}
