//! Domains and accounts, persisted under `DIR/domains/<domain>/accounts/<account>` (one empty
//! file per account). A domain exists when its `accounts` directory does.
//!
//! Every change is atomic and costs O(1) whatever the size of the domain, so bulk provisioning
//! measures the provisioning code, not the stand-in: a new domain appears whole (its directory
//! is filled under a temporary name, then renamed), an account is one `create`/`unlink`, and a
//! deleted domain disappears at one rename. Changes survive the death of the process at any
//! point (the kernel keeps them); they are not fsync'd, since no test crashes the kernel under
//! the stand-in and an fsync per account would make it the bottleneck of every import.
//! Mail users (as Axigen does): an account's password is kept in its account file as a
//! salted SHA-256 (mode 0600), checked by IMAP and POP3 logins ([`Store::check_login`]); mail
//! delivered over SMTP lands in `DIR/<domain>/mailboxes/<account>/` as one file per message
//! (written under a temporary name, then renamed, as in a maildir), read back in arrival order.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::SimError;

pub const MAX_DOMAIN_LEN: usize = 253;
pub const MAX_ACCOUNT_LEN: usize = 64;
/// Most messages one mailbox listing returns (the newest).
pub const MAX_MESSAGES: usize = 10_000;

static MESSAGE_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `account@domain` split into (account, domain), the domain lower-cased; `None` when either
/// part is not a valid name.
pub fn split_address(address: &str) -> Option<(String, String)> {
    let (a, d) = address.rsplit_once('@')?;
    let d = d.to_ascii_lowercase();
    (valid_account(a) && valid_domain(&d)).then(|| (a.to_string(), d))
}

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

/// The data store of one workdir.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SimError {
    let path = path.to_path_buf();
    move |source| SimError::Io { what, path, source }
}

/// Names of the visible entries of a directory (temporary ones start with `.`), sorted.
fn names(dir: &Path) -> Result<Vec<String>, SimError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("listing", dir)(e)),
    };
    let mut out: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    out.sort();
    Ok(out)
}

impl Store {
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    fn accounts_dir(&self, domain: &str) -> PathBuf {
        self.dir.join(domain).join("accounts")
    }

    fn mailbox_dir(&self, domain: &str, account: &str) -> PathBuf {
        self.dir.join(domain).join("mailboxes").join(account)
    }

    /// Set an account's password (kept salted and hashed, file mode 0600).
    pub fn set_password(
        &self,
        domain: &str,
        account: &str,
        password: &str,
    ) -> Result<(), SimError> {
        if !self.account_exists(domain, account) {
            return Err(SimError::Usage(format!(
                "no account '{account}' in '{domain}'"
            )));
        }
        let p = self.accounts_dir(domain).join(account);
        let line = crate::mail::hash_password(password)?;
        crate::workdir::write_atomic(&p, format!("{line}\n").as_bytes(), 0o600)
    }

    /// Whether `address` (`account@domain`, as Axigen's mail logins take it) exists here and
    /// `password` is its password. An account without a password never logs in.
    pub fn check_login(&self, address: &str, password: &str) -> bool {
        let Some((account, domain)) = split_address(address) else {
            return false;
        };
        if !self.account_exists(&domain, &account) {
            return false;
        }
        let p = self.accounts_dir(&domain).join(&account);
        match crate::mail::read_small(&p) {
            Some(stored) => crate::mail::verify_password(stored.trim(), password),
            None => false,
        }
    }

    /// Whether `address` is an account of this server (SMTP `RCPT TO`).
    pub fn has_address(&self, address: &str) -> bool {
        split_address(address).is_some_and(|(a, d)| self.account_exists(&d, &a))
    }

    /// Store one message in the mailbox of `address`.
    pub fn deliver(&self, address: &str, message: &[u8]) -> Result<(), SimError> {
        let (account, domain) = split_address(address)
            .filter(|(a, d)| self.account_exists(d, a))
            .ok_or_else(|| SimError::Usage(format!("no mailbox '{address}'")))?;
        let dir = self.mailbox_dir(&domain, &account);
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let seq = MESSAGE_SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Zero-padded so that name order is arrival order.
        let name = format!(
            "{:020}.{:06}.{}",
            now.as_nanos(),
            seq % 1_000_000,
            std::process::id()
        );
        let tmp = dir.join(format!(".{name}"));
        std::fs::write(&tmp, message).map_err(io("writing", &tmp))?;
        let dst = dir.join(format!("{name}.eml"));
        std::fs::rename(&tmp, &dst).map_err(io("storing", &dst))
    }

    /// The messages of a mailbox in arrival order (at most [`MAX_MESSAGES`] of the newest,
    /// each at most [`crate::mail::MAX_MESSAGE`] bytes); empty for an unknown address.
    pub fn messages(&self, address: &str) -> Result<Vec<Vec<u8>>, SimError> {
        let Some((account, domain)) = split_address(address) else {
            return Ok(Vec::new());
        };
        if !self.account_exists(&domain, &account) {
            return Ok(Vec::new());
        }
        let dir = self.mailbox_dir(&domain, &account);
        let files: Vec<String> = names(&dir)?
            .into_iter()
            .filter(|n| n.ends_with(".eml"))
            .collect();
        let skip = files.len().saturating_sub(MAX_MESSAGES);
        Ok(files[skip..]
            .iter()
            .filter_map(|n| crate::mail::read_message(&dir.join(n)))
            .collect())
    }

    fn tmp_name(&self, what: &str) -> PathBuf {
        self.dir.join(format!(
            ".{what}.{}.{:?}",
            std::process::id(),
            std::thread::current().id()
        ))
    }

    /// Every domain, sorted.
    pub fn domains(&self) -> Result<Vec<String>, SimError> {
        Ok(names(&self.dir)?
            .into_iter()
            .filter(|n| valid_domain(n) && self.accounts_dir(n).is_dir())
            .collect())
    }

    pub fn domain_exists(&self, domain: &str) -> bool {
        valid_domain(domain) && self.accounts_dir(domain).is_dir()
    }

    pub fn account_exists(&self, domain: &str, account: &str) -> bool {
        valid_domain(domain)
            && valid_account(account)
            && self.accounts_dir(domain).join(account).is_file()
    }

    /// The accounts of a domain, sorted; `None` when it does not exist.
    pub fn accounts(&self, domain: &str) -> Result<Option<Vec<String>>, SimError> {
        if !self.domain_exists(domain) {
            return Ok(None);
        }
        Ok(Some(
            names(&self.accounts_dir(domain))?
                .into_iter()
                .filter(|n| valid_account(n))
                .collect(),
        ))
    }

    /// Create a domain with its first accounts, all at once; Ok(false) when it exists.
    pub fn create_domain(
        &self,
        domain: &str,
        accounts: &BTreeSet<String>,
    ) -> Result<bool, SimError> {
        if !valid_domain(domain) {
            return Err(SimError::Usage(format!("invalid domain name '{domain}'")));
        }
        if self.domain_exists(domain) {
            return Ok(false);
        }
        std::fs::create_dir_all(&self.dir).map_err(io("creating", &self.dir))?;
        let tmp = self.tmp_name(domain);
        let _ = std::fs::remove_dir_all(&tmp);
        let built = (|| {
            let acc = tmp.join("accounts");
            std::fs::create_dir_all(&acc)?;
            for a in accounts.iter().filter(|a| valid_account(a)) {
                std::fs::File::create(acc.join(a))?;
            }
            // rename(2) onto an existing non-empty directory fails (ENOTEMPTY/EEXIST): a
            // domain created meanwhile by someone else is never overwritten.
            std::fs::rename(&tmp, self.dir.join(domain))
        })();
        match built {
            Ok(()) => Ok(true),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                if self.domain_exists(domain) {
                    Ok(false)
                } else {
                    Err(io("creating domain", &self.dir.join(domain))(e))
                }
            }
        }
    }

    /// Add an account; Ok(false) when it exists.
    pub fn add_account(&self, domain: &str, account: &str) -> Result<bool, SimError> {
        if !self.domain_exists(domain) || !valid_account(account) {
            return Err(SimError::Usage(format!(
                "cannot add '{account}' to '{domain}'"
            )));
        }
        let p = self.accounts_dir(domain).join(account);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io("creating", &p)(e)),
        }
    }

    /// Remove an account; Ok(false) when there was none.
    pub fn remove_account(&self, domain: &str, account: &str) -> Result<bool, SimError> {
        if !valid_domain(domain) || !valid_account(account) {
            return Ok(false);
        }
        let p = self.accounts_dir(domain).join(account);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("removing", &p)(e)),
        }
    }

    /// Delete a domain: renamed out of sight at once, then removed. Ok(false) when there was
    /// no such domain.
    pub fn delete_domain(&self, domain: &str) -> Result<bool, SimError> {
        if !self.domain_exists(domain) {
            return Ok(false);
        }
        let d = self.dir.join(domain);
        let tmp = self.tmp_name(&format!("deleted.{domain}"));
        match std::fs::rename(&d, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io("removing", &d)(e)),
        }
        std::fs::remove_dir_all(&tmp).map_err(io("removing", &tmp))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
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
    fn domains_and_accounts() {
        let d = std::env::temp_dir().join(format!("axsim-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let s = Store::new(d.clone());
        assert!(s.domains().unwrap().is_empty());
        let first: BTreeSet<String> = ["postmaster", "bob"].map(String::from).into();
        assert!(s.create_domain("b.example", &first).unwrap());
        assert!(!s.create_domain("b.example", &BTreeSet::new()).unwrap());
        assert!(s.create_domain("a.example", &BTreeSet::new()).unwrap());
        std::fs::create_dir_all(d.join("half.example")).unwrap();
        assert_eq!(s.domains().unwrap(), vec!["a.example", "b.example"]);
        assert_eq!(
            s.accounts("b.example").unwrap().unwrap(),
            vec!["bob", "postmaster"]
        );
        assert!(s.add_account("b.example", "carol").unwrap());
        assert!(!s.add_account("b.example", "carol").unwrap());
        assert!(s.account_exists("b.example", "carol"));
        assert!(s.remove_account("b.example", "bob").unwrap());
        assert!(!s.remove_account("b.example", "bob").unwrap());
        assert_eq!(
            s.accounts("b.example").unwrap().unwrap(),
            vec!["carol", "postmaster"]
        );
        assert_eq!(s.accounts("half.example").unwrap(), None);
        assert_eq!(s.accounts("../etc").unwrap(), None);
        assert!(s.create_domain("../x", &first).is_err());
        assert!(s.add_account("nope.example", "x").is_err());
        assert!(s.delete_domain("b.example").unwrap());
        assert!(!s.delete_domain("b.example").unwrap());
        assert!(!d.join("b.example").exists());
        assert_eq!(s.domains().unwrap(), vec!["a.example"]);
        let leftovers: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
