//! What the directory holds, and the validation every name passes before it gets there.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::DirectoryError;

/// Longest e-mail address accepted (RFC 5321 section 4.5.3.1.3: a path holds at most 256
/// octets including the angle brackets, so an address at most 254).
pub const MAX_ADDRESS_LEN: usize = 254;
/// Longest local part (RFC 5321 section 4.5.3.1.1).
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// Longest domain name (RFC 1035 section 2.3.4, without the final dot).
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest label of a domain name (RFC 1035 section 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest back-end name: it is an RDN value and a word on command lines.
pub const MAX_BACKEND_NAME_LEN: usize = 64;
/// Longest password handed to a back-end. Long enough for any generated secret.
pub const MAX_PASSWORD_LEN: usize = 256;
/// Largest weight of a back-end for weighted random placement.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// How new accounts of a domain are placed on back-ends (the four algorithms of the
/// multi-tier architecture's "Account Provisioning" section).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Policy {
    /// Any enabled back-end, each as likely as the others.
    Random,
    /// Any enabled back-end, in proportion to its weight.
    WeightedRandom,
    /// The enabled back-end with the fewest accounts.
    LeastUsed,
    /// The domain's home back-end, always.
    DomainBased,
}

/// One table drives `Display`, `FromStr` and the list of accepted words.
const POLICIES: &[(Policy, &str)] = &[
    (Policy::Random, "random"),
    (Policy::WeightedRandom, "weighted-random"),
    (Policy::LeastUsed, "least-used"),
    (Policy::DomainBased, "domain-based"),
];

impl Policy {
    /// Every policy.
    pub const ALL: [Policy; 4] = [
        Policy::Random,
        Policy::WeightedRandom,
        Policy::LeastUsed,
        Policy::DomainBased,
    ];
    /// The policy's name in the configuration, the CLI and the directory.
    pub fn as_str(self) -> &'static str {
        POLICIES
            .iter()
            .find(|(p, _)| *p == self)
            .map(|(_, s)| *s)
            .expect("every policy is in the table")
    }
    /// True when a domain of this policy lives on every enabled back-end (its accounts may be
    /// anywhere); false when it lives on its home back-end only.
    pub fn spreads_domain(self) -> bool {
        self != Policy::DomainBased
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Policy {
    type Err = DirectoryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        POLICIES
            .iter()
            .find(|(_, w)| w.eq_ignore_ascii_case(s.trim()))
            .map(|(p, _)| *p)
            .ok_or_else(|| DirectoryError::Invalid {
                what: "policy",
                value: s.to_string(),
                reason: format!(
                    "expected one of {}",
                    POLICIES
                        .iter()
                        .map(|(_, w)| *w)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }
}

impl TryFrom<String> for Policy {
    type Error = DirectoryError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Policy> for String {
    fn from(p: Policy) -> String {
        p.as_str().to_string()
    }
}

/// One back-end service instance as the directory records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    /// Short name, unique (the RDN of its entry).
    pub name: String,
    /// `HOST:PORT` of its Axigen CLI listener.
    pub cli_address: String,
    /// The value front-ends route to (`mailHost` of its accounts).
    pub mail_host: String,
    /// Share for weighted random placement (0 = never chosen by that policy).
    pub weight: u32,
    /// A disabled back-end receives no new accounts or domains.
    pub enabled: bool,
    /// Accounts placed on it, kept by atomic increments; `reconcile` recounts.
    pub account_count: i64,
}

/// A mail domain as the directory records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// The domain name (lower case).
    pub name: String,
    /// How new accounts of the domain are placed.
    pub policy: Policy,
    /// The home back-end (required for domain-based placement, ignored by the others).
    pub home: Option<String>,
}

/// One account's routing entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's mail address (its domain in lower case).
    pub address: String,
    /// Name of the back-end that holds it.
    pub backend: String,
    /// The back-end's `mailHost` at the time of placement (what front-ends route by).
    pub mail_host: String,
}

fn invalid(what: &'static str, value: &str, reason: impl Into<String>) -> DirectoryError {
    // Oversized values are cut in the error: an error message must stay readable.
    let shown: String = value.chars().take(80).collect();
    let shown = if shown.len() < value.len() {
        format!("{shown}...")
    } else {
        shown
    };
    DirectoryError::Invalid {
        what,
        value: shown,
        reason: reason.into(),
    }
}

/// Validate and normalise (lowercase) a domain name: LDH labels (RFC 1035 section 2.3.1,
/// RFC 1123 section 2.1), at least two labels, within the length limits.
pub fn parse_domain(s: &str) -> Result<String, DirectoryError> {
    let d = s.trim().to_ascii_lowercase();
    if d.is_empty() {
        return Err(invalid("domain", s, "empty"));
    }
    if d.len() > MAX_DOMAIN_LEN {
        return Err(invalid(
            "domain",
            s,
            format!("longer than {MAX_DOMAIN_LEN} characters"),
        ));
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid("domain", s, "needs at least two labels"));
    }
    for l in &labels {
        if l.is_empty() || l.len() > MAX_LABEL_LEN {
            return Err(invalid(
                "domain",
                s,
                format!("every label must have 1 to {MAX_LABEL_LEN} characters"),
            ));
        }
        if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(invalid(
                "domain",
                s,
                "labels may hold only letters, digits and '-'",
            ));
        }
        if l.starts_with('-') || l.ends_with('-') {
            return Err(invalid("domain", s, "a label cannot start or end with '-'"));
        }
    }
    Ok(d)
}

/// RFC 5322 section 3.2.3 `atext`.
fn is_atext(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&c)
}

/// Validate and normalise an e-mail address: a dot-atom local part (RFC 5322 section 3.4.1;
/// quoted local parts are refused) and a domain as in [`parse_domain`]. Returns
/// `(address, local part, domain)`; the domain is lowercased, the local part kept as given.
pub fn parse_address(s: &str) -> Result<(String, String, String), DirectoryError> {
    let t = s.trim();
    if t.len() > MAX_ADDRESS_LEN {
        return Err(invalid(
            "address",
            s,
            format!("longer than {MAX_ADDRESS_LEN} characters"),
        ));
    }
    let (local, domain) = t
        .rsplit_once('@')
        .ok_or_else(|| invalid("address", s, "no '@'"))?;
    if local.is_empty() || local.len() > MAX_LOCAL_PART_LEN {
        return Err(invalid(
            "address",
            s,
            format!("the local part must have 1 to {MAX_LOCAL_PART_LEN} characters"),
        ));
    }
    if !local.bytes().all(|b| b == b'.' || is_atext(b)) {
        return Err(invalid(
            "address",
            s,
            "the local part holds a character outside RFC 5322 dot-atom",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(invalid(
            "address",
            s,
            "the local part cannot start or end with '.' or hold '..'",
        ));
    }
    let domain = parse_domain(domain).map_err(|e| match e {
        DirectoryError::Invalid { reason, .. } => {
            invalid("address", s, format!("domain part: {reason}"))
        }
        other => other,
    })?;
    Ok((format!("{local}@{domain}"), local.to_string(), domain))
}

/// Validate a back-end name: lowercase letters, digits, `-`, `_` and `.`, starting with a
/// letter or digit.
pub fn parse_backend_name(s: &str) -> Result<String, DirectoryError> {
    let n = s.trim();
    if n.is_empty() || n.len() > MAX_BACKEND_NAME_LEN {
        return Err(invalid(
            "back-end name",
            s,
            format!("must have 1 to {MAX_BACKEND_NAME_LEN} characters"),
        ));
    }
    let b = n.as_bytes();
    if !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return Err(invalid(
            "back-end name",
            s,
            "must start with a lowercase letter or digit",
        ));
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.'))
    {
        return Err(invalid(
            "back-end name",
            s,
            "may hold only lowercase letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(n.to_string())
}

/// Validate a `mailHost` value: a host name (LDH labels) or an IP address.
pub fn parse_mail_host(s: &str) -> Result<String, DirectoryError> {
    let h = s.trim();
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Ok(h.to_string());
    }
    let ok = !h.is_empty()
        && h.len() <= MAX_DOMAIN_LEN
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= MAX_LABEL_LEN
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(h.to_ascii_lowercase())
    } else {
        Err(invalid("mail host", s, "not a host name or IP address"))
    }
}

/// Validate a CLI address `HOST:PORT` (`[v6]:PORT` for IPv6).
pub fn parse_cli_address(s: &str) -> Result<String, DirectoryError> {
    let a = s.trim();
    let (host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| invalid("CLI address", s, "expected HOST:PORT"))?;
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        parse_mail_host(host).is_ok()
    };
    if !host_ok {
        return Err(invalid("CLI address", s, "bad host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(a.to_string()),
        _ => Err(invalid("CLI address", s, "bad port")),
    }
}

/// Validate an account password before it travels to a back-end's CLI: 1 to
/// [`MAX_PASSWORD_LEN`] characters, no control characters (a line break would end the CLI
/// command and start another one). The value is never echoed in the error.
pub fn check_password(p: &str) -> Result<(), DirectoryError> {
    if p.is_empty() || p.chars().count() > MAX_PASSWORD_LEN {
        return Err(DirectoryError::Invalid {
            what: "password",
            value: "(hidden)".into(),
            reason: format!("must have 1 to {MAX_PASSWORD_LEN} characters"),
        });
    }
    if p.chars().any(|c| c.is_control()) {
        return Err(DirectoryError::Invalid {
            what: "password",
            value: "(hidden)".into(),
            reason: "must not hold control characters".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_words_round_trip() {
        for p in Policy::ALL {
            assert_eq!(p.as_str().parse::<Policy>().unwrap(), p);
            assert_eq!(p.to_string(), p.as_str());
        }
        assert_eq!("Least-Used".parse::<Policy>().unwrap(), Policy::LeastUsed);
        let e = "roundrobin".parse::<Policy>().unwrap_err().to_string();
        assert!(e.contains("roundrobin") && e.contains("least-used"), "{e}");
        let j: Policy = serde_json::from_str("\"domain-based\"").unwrap();
        assert_eq!(j, Policy::DomainBased);
        assert!(serde_json::from_str::<Policy>("\"x\"").is_err());
    }

    #[test]
    fn addresses() {
        let (a, l, d) = parse_address("John.Doe@Example.COM").unwrap();
        assert_eq!(
            (a.as_str(), l.as_str(), d.as_str()),
            ("John.Doe@example.com", "John.Doe", "example.com")
        );
        assert!(
            parse_address("a*b+c=d@example.com").is_ok(),
            "atext is legal"
        );
        for bad in [
            "",
            "noat",
            "@example.com",
            "a@",
            "a@com",
            "a..b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a b@example.com",
            "x)(mail=*@example.com",
            "a,ou=x@example.com",
            "\"quoted\"@example.com",
            "a@exa_mple.com",
            "a@-x.com",
            "a\n@example.com",
            "a@example.com\0",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?} accepted");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(parse_address(&long_local).is_err());
        let long = format!("a@{}.com", "b".repeat(300));
        let e = parse_address(&long).unwrap_err().to_string();
        assert!(e.len() < 300, "error message stays short: {e}");
    }

    #[test]
    fn domains_and_names() {
        assert_eq!(
            parse_domain("Mail.Example.org").unwrap(),
            "mail.example.org"
        );
        assert!(parse_domain("example").is_err());
        assert!(parse_domain("a..b").is_err());
        assert!(parse_domain(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(parse_domain("*.example.com").is_err());
        assert_eq!(parse_backend_name("be-1").unwrap(), "be-1");
        for bad in ["", "Be1", "-x", "a,b", "a=b", "a b", &"x".repeat(65)] {
            assert!(parse_backend_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_mail_host("BE1.mail.example.com").unwrap(),
            "be1.mail.example.com"
        );
        assert!(parse_mail_host("10.0.0.1").is_ok());
        assert!(parse_mail_host("a b").is_err());
        assert!(parse_cli_address("127.0.0.1:7000").is_ok());
        assert!(parse_cli_address("[::1]:7000").is_ok());
        assert!(parse_cli_address("host:0").is_err());
        assert!(parse_cli_address("host").is_err());
    }

    #[test]
    fn passwords() {
        assert!(check_password("s3cret with spaces").is_ok());
        assert!(check_password("").is_err());
        let e = check_password("a\nCOMMIT").unwrap_err().to_string();
        assert!(!e.contains("COMMIT"), "password leaked: {e}");
        assert!(check_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }
}
