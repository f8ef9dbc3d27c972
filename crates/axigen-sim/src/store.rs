//! Domains and accounts, persisted under `DIR/domains/<domain>/accounts` (one account name a
//! line, written atomically). A domain exists when its `accounts` file does. Passwords are
//! accepted by the CLI but not stored: nothing here authenticates mail users.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::workdir::write_atomic;
use crate::SimError;

pub const MAX_DOMAIN_LEN: usize = 253;
pub const MAX_ACCOUNT_LEN: usize = 64;

/// A domain name as the stand-in accepts it: lower-case letters, digits, `-` and `.`, labels
/// not empty (so never `..`, `/` or anything that escapes the data directory).
pub fn valid_domain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_DOMAIN_LEN
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// An account (local part): letters, digits and `.` `_` `-` `+`, not starting with `.`.
pub fn valid_account(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_ACCOUNT_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

/// The data store of one workdir; one lock serialises writers of this process (the worker is
/// the only writer).
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl Store {
    pub fn new(dir: PathBuf) -> Store {
        Store {
            dir,
            lock: Mutex::new(()),
        }
    }

    fn accounts_path(&self, domain: &str) -> PathBuf {
        self.dir.join(domain).join("accounts")
    }

    fn io(&self, what: &'static str, path: PathBuf) -> impl FnOnce(std::io::Error) -> SimError {
        move |source| SimError::Io { what, path, source }
    }

    /// Every domain, sorted.
    pub fn domains(&self) -> Result<Vec<String>, SimError> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io("listing", self.dir.clone())(e)),
        };
        let mut out: Vec<String> = rd
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_domain(n) && self.accounts_path(n).is_file())
            .collect();
        out.sort();
        Ok(out)
    }

    /// The accounts of a domain; `None` when it does not exist.
    pub fn accounts(&self, domain: &str) -> Result<Option<BTreeSet<String>>, SimError> {
        if !valid_domain(domain) {
            return Ok(None);
        }
        let p = self.accounts_path(domain);
        match std::fs::read_to_string(&p) {
            Ok(text) => Ok(Some(
                text.lines()
                    .map(str::trim)
                    .filter(|l| valid_account(l))
                    .map(str::to_string)
                    .collect(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", p)(e)),
        }
    }

    /// Delete a domain: its `accounts` file first (from then on it does not exist), then its
    /// directory. Ok(false) when there was no such domain.
    pub fn delete(&self, domain: &str) -> Result<bool, SimError> {
        if !valid_domain(domain) {
            return Ok(false);
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let p = self.accounts_path(domain);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.io("removing", p)(e)),
        }
        let d = self.dir.join(domain);
        std::fs::remove_dir_all(&d).map_err(self.io("removing", d))?;
        Ok(true)
    }

    /// Create or replace a domain's account list, atomically.
    pub fn save(&self, domain: &str, accounts: &BTreeSet<String>) -> Result<(), SimError> {
        if !valid_domain(domain) {
            return Err(SimError::Usage(format!("invalid domain name '{domain}'")));
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let d = self.dir.join(domain);
        std::fs::create_dir_all(&d).map_err(self.io("creating", d.clone()))?;
        let mut text = String::new();
        for a in accounts {
            text.push_str(a);
            text.push('\n');
        }
        write_atomic(&self.accounts_path(domain), text.as_bytes(), 0o640)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_domain("example.com"));
        assert!(valid_domain("a-1.b"));
        for bad in [
            "",
            "..",
            "a..b",
            "A.com",
            "a/b",
            ".a",
            "a.",
            "a b",
            &"x".repeat(300),
        ] {
            assert!(!valid_domain(bad), "{bad}");
        }
        assert!(valid_account("john.doe+x"));
        for bad in ["", ".x", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(!valid_account(bad), "{bad}");
        }
    }

    #[test]
    fn save_and_read_back() {
        let d = std::env::temp_dir().join(format!("axsim-store-{}", std::process::id()));
        let s = Store::new(d.clone());
        assert!(s.domains().unwrap().is_empty());
        let mut acc = BTreeSet::new();
        acc.insert("postmaster".to_string());
        acc.insert("bob".to_string());
        s.save("b.example", &acc).unwrap();
        s.save("a.example", &BTreeSet::new()).unwrap();
        std::fs::create_dir_all(d.join("half.example")).unwrap();
        assert_eq!(s.domains().unwrap(), vec!["a.example", "b.example"]);
        assert_eq!(s.accounts("b.example").unwrap().unwrap(), acc);
        assert_eq!(s.accounts("half.example").unwrap(), None);
        assert_eq!(s.accounts("../etc").unwrap(), None);
        assert!(s.save("../x", &acc).is_err());
        assert!(s.delete("b.example").unwrap());
        assert!(!s.delete("b.example").unwrap());
        assert!(!d.join("b.example").exists());
        assert_eq!(s.domains().unwrap(), vec!["a.example"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
