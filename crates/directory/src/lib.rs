//! The location directory of the multi-tier Axigen architecture, in LDAP, and the placement
//! policies that fill it.
//!
//! Front-end proxies route each account to the back-end named by its `mailHost`
//! (`inetLocalMailRecipient`, looked up by `mail=<address>`). This crate keeps, under one base DN:
//!
//! ```text
//! ou=backends,BASE                      back-end registry (axhaBackend)
//!   cn=be1,ou=backends,BASE             CLI address, mailHost, weight, enabled, account count
//! ou=domains,BASE
//!   cn=example.com,ou=domains,BASE      axhaDomain: policy, home back-end; for domain-based
//!                                       placement also mailLocalAddress=@example.com + mailHost
//!     mail=u@example.com,cn=example.com,ou=domains,BASE
//!                                       inetOrgPerson + inetLocalMailRecipient + axhaAccount
//! ```
//!
//! Main types: [`Directory`] (the LDAP connection and every read and write), [`Backend`],
//! [`Domain`], [`Account`], [`Policy`] and [`placement::choose`]. Names are validated by the
//! `parse_*` functions and always escaped ([`escape`]) on their way into a DN or a filter.
//!
//! ```no_run
//! use axha_directory::{Directory, LdapSettings, Policy, placement::{choose, SplitMix64}};
//! let settings = LdapSettings::new("ldap://127.0.0.1:3890", "ou=mail,dc=example,dc=com");
//! let mut dir = Directory::connect(&settings)?;
//! let backends = dir.backends()?;
//! let be = choose(Policy::LeastUsed, &backends, None, &[], &mut SplitMix64::from_entropy())?;
//! println!("next account goes to {}", be.name);
//! # Ok::<(), axha_directory::DirectoryError>(())
//! ```

#![warn(missing_docs)]

pub mod escape;
mod ldap;
mod model;
pub mod placement;
mod secret;

pub use ldap::{Directory, LdapSettings};
pub use model::{
    check_password, parse_address, parse_backend_name, parse_cli_address, parse_domain,
    parse_mail_host, Account, Backend, Domain, Policy, MAX_ADDRESS_LEN, MAX_BACKEND_NAME_LEN,
    MAX_DOMAIN_LEN, MAX_LOCAL_PART_LEN, MAX_PASSWORD_LEN, MAX_WEIGHT,
};
pub use secret::Secret;

use std::fmt;
use std::path::PathBuf;

/// The schema for what the standard schemas lack, in slapd.conf form.
pub const SCHEMA: &str = include_str!("../schema/axigen-ha.schema");
/// The same schema as a cn=config LDIF entry.
pub const SCHEMA_LDIF: &str = include_str!("../schema/axigen-ha.ldif");

/// LDAP result codes this crate tells apart (RFC 4511 appendix A).
pub mod rc {
    /// No entry has the DN named.
    pub const NO_SUCH_OBJECT: u32 = 32;
    /// The server is too busy to answer now.
    pub const BUSY: u32 = 51;
    /// The server is shutting down or not serving this part of the tree.
    pub const UNAVAILABLE: u32 = 52;
    /// The entry still has entries below it.
    pub const NOT_ALLOWED_ON_NON_LEAF: u32 = 66;
    /// An entry with that DN exists already.
    pub const ENTRY_ALREADY_EXISTS: u32 = 68;
}

/// Everything that can go wrong in the directory. Each variant carries the offending value.
#[derive(Debug)]
pub enum DirectoryError {
    /// A name or value failed validation (nothing was sent to LDAP).
    Invalid {
        /// What the value is (domain, address, back-end name, ...).
        what: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No back-end can take a new account.
    NoBackend {
        /// Why none can (none enabled, the home back-end disabled, ...).
        reason: String,
    },
    /// The connection settings are unusable.
    Config {
        /// What is wrong with them.
        reason: String,
    },
    /// A secret file could not be read.
    Secret {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// The server cannot be reached, or the connection was lost: retry later.
    Unavailable {
        /// The server's URL.
        url: String,
        /// What the connection attempt or the operation said.
        reason: String,
    },
    /// The entry to add exists already.
    AlreadyExists {
        /// The entry's DN.
        dn: String,
    },
    /// The entry named does not exist.
    NotFound {
        /// The entry's DN.
        dn: String,
    },
    /// The entry still has entries below it (a domain with accounts).
    NotEmpty {
        /// The entry's DN.
        dn: String,
    },
    /// The server refused an operation.
    Ldap {
        /// The operation (bind, add, modify, delete, search).
        op: &'static str,
        /// The DN it was on.
        dn: String,
        /// The LDAP result code (see [`rc`]).
        rc: u32,
        /// The server's diagnostic message.
        text: String,
    },
    /// An entry the directory holds cannot be read as what it should be.
    Corrupt {
        /// The entry's DN.
        dn: String,
        /// The attribute that cannot be read.
        attr: &'static str,
        /// Its value.
        value: String,
    },
}

impl DirectoryError {
    /// True when the directory could not be reached: the operation may be retried later and
    /// a batch should stop rather than fail every following row.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DirectoryError::Unavailable { .. })
            || matches!(self, DirectoryError::Ldap { rc, .. } if *rc == rc::BUSY || *rc == rc::UNAVAILABLE)
    }
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectoryError::Invalid {
                what,
                value,
                reason,
            } => write!(f, "invalid {what} {value:?}: {reason}"),
            DirectoryError::NoBackend { reason } => {
                write!(f, "no back-end for placement: {reason}")
            }
            DirectoryError::Config { reason } => write!(f, "LDAP settings: {reason}"),
            DirectoryError::Secret { path, reason } => {
                write!(f, "cannot read secret file {}: {reason}", path.display())
            }
            DirectoryError::Unavailable { url, reason } => {
                write!(f, "LDAP server {url} unavailable: {reason}")
            }
            DirectoryError::AlreadyExists { dn } => write!(f, "{dn} exists already"),
            DirectoryError::NotFound { dn } => write!(f, "{dn} does not exist"),
            DirectoryError::NotEmpty { dn } => write!(f, "{dn} still has entries below it"),
            DirectoryError::Ldap { op, dn, rc, text } => {
                write!(f, "LDAP {op} of {dn} failed with result {rc}")?;
                if !text.is_empty() {
                    write!(f, ": {text}")?;
                }
                Ok(())
            }
            DirectoryError::Corrupt { dn, attr, value } => {
                write!(f, "{dn}: attribute {attr} holds unreadable value {value:?}")
            }
        }
    }
}

impl std::error::Error for DirectoryError {}
