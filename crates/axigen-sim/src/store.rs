//! Domains and accounts, persisted under `DIR/domains/<domain>/accounts/<account>` (one file per
//! account, holding its password line). A domain exists when its `accounts` directory does.
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
//!
//! Folders and moves (as Axigen does: an account holds INBOX and any folders its user creates;
//! an administrator can disable an account, which then refuses logins and answers deliveries
//! with a temporary failure so that senders retry; removing an account removes its mailbox):
//! folder `F` of an account is `DIR/<domain>/folders/<account>/F/`, a disabled account has the
//! marker `DIR/<domain>/accounts/.disabled.<account>`. A message's IMAP UID is its position in
//! arrival order (the stand-in never expunges, so positions never shift; UIDVALIDITY is 1).
//! Disabling takes the account's delivery lock exclusively and a delivery holds it shared from
//! its status check to its rename, so no delivery lands after a disable returns.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::SimError;

/// Longest domain name (RFC 1035).
pub const MAX_DOMAIN_LEN: usize = 253;
/// Longest account name (local part).
pub const MAX_ACCOUNT_LEN: usize = 64;
/// Most messages one mailbox listing returns (the newest).
pub const MAX_MESSAGES: usize = 50_000;

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

/// A folder name other than INBOX: letters, digits, space and `.` `_` `-`, not starting
/// with `.` (one level; no hierarchy separator).
pub fn valid_folder(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b' '))
}

/// Write one message into a folder directory under a temporary name, then rename it.
fn store_message(dir: &Path, message: &[u8]) -> Result<(), SimError> {
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
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

/// The message file names of a folder directory in arrival order (the newest [`MAX_MESSAGES`]).
fn message_files(dir: &Path) -> Result<Vec<String>, SimError> {
    let mut files: Vec<String> = names(dir)?
        .into_iter()
        .filter(|n| n.ends_with(".eml"))
        .collect();
    let skip = files.len().saturating_sub(MAX_MESSAGES);
    Ok(files.split_off(skip))
}

/// The messages of a folder directory in arrival order (the newest [`MAX_MESSAGES`]).
fn read_folder(dir: &Path) -> Result<Vec<Vec<u8>>, SimError> {
    Ok(message_files(dir)?
        .iter()
        .filter_map(|n| crate::mail::read_message(&dir.join(n)))
        .collect())
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
    /// The store under `dir` (a workdir's `domains/`).
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    fn accounts_dir(&self, domain: &str) -> PathBuf {
        self.dir.join(domain).join("accounts")
    }

    fn mailbox_dir(&self, domain: &str, account: &str) -> PathBuf {
        self.dir.join(domain).join("mailboxes").join(account)
    }

    /// The directory of one folder (INBOX is the historical mailbox directory).
    fn folder_dir(&self, domain: &str, account: &str, folder: &str) -> PathBuf {
        if folder.eq_ignore_ascii_case("INBOX") {
            self.mailbox_dir(domain, account)
        } else {
            self.dir
                .join(domain)
                .join("folders")
                .join(account)
                .join(folder)
        }
    }

    fn disabled_marker(&self, domain: &str, account: &str) -> PathBuf {
        self.accounts_dir(domain)
            .join(format!(".disabled.{account}"))
    }

    fn lock_path(&self, domain: &str, account: &str) -> PathBuf {
        self.accounts_dir(domain).join(format!(".lock.{account}"))
    }

    /// Hold the account's delivery lock (shared or exclusive) while `f` runs.
    fn locked<T>(
        &self,
        domain: &str,
        account: &str,
        exclusive: bool,
        f: impl FnOnce() -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        use std::os::unix::io::AsRawFd;
        let p = self.lock_path(domain, account);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io("opening", &p))?;
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        // SAFETY: flock on a descriptor this function owns; released when `file` closes.
        if unsafe { libc::flock(file.as_raw_fd(), op) } != 0 {
            return Err(io("locking", &p)(std::io::Error::last_os_error()));
        }
        let r = f();
        drop(file);
        r
    }

    /// Whether the account is disabled by its administrator.
    pub fn is_disabled(&self, domain: &str, account: &str) -> bool {
        valid_account(account) && self.disabled_marker(domain, account).exists()
    }

    /// Disable or enable an account (Axigen: the account's status). Disabling waits for
    /// deliveries in progress, so none lands after it returns.
    pub fn set_disabled(
        &self,
        domain: &str,
        account: &str,
        disabled: bool,
    ) -> Result<(), SimError> {
        if !self.account_exists(domain, account) {
            return Err(SimError::Usage(format!(
                "no account '{account}' in '{domain}'"
            )));
        }
        let m = self.disabled_marker(domain, account);
        self.locked(domain, account, true, || {
            if disabled {
                std::fs::write(&m, b"").map_err(io("writing", &m))
            } else {
                match std::fs::remove_file(&m) {
                    Err(e) if e.kind() != ErrorKind::NotFound => Err(io("removing", &m)(e)),
                    _ => Ok(()),
                }
            }
        })
    }

    /// The stored (salted, hashed) password line of an account, `None` when it has none.
    pub fn password_hash(&self, domain: &str, account: &str) -> Option<String> {
        if !self.account_exists(domain, account) {
            return None;
        }
        crate::mail::read_small(&self.accounts_dir(domain).join(account))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Set an account's password from a hashed line made by another server (an account
    /// moved between back-ends keeps its password without anyone knowing it).
    pub fn set_password_hash(
        &self,
        domain: &str,
        account: &str,
        line: &str,
    ) -> Result<(), SimError> {
        if !crate::mail::is_password_hash(line) {
            return Err(SimError::Usage("invalid hashed password".into()));
        }
        self.write_password_line(domain, account, line)
    }

    /// Replace an existing account's password line.
    fn write_password_line(&self, domain: &str, account: &str, line: &str) -> Result<(), SimError> {
        if !self.account_exists(domain, account) {
            return Err(SimError::Usage(format!(
                "no account '{account}' in '{domain}'"
            )));
        }
        let p = self.accounts_dir(domain).join(account);
        crate::workdir::write_replace(&p, format!("{line}\n").as_bytes(), 0o600)
    }

    /// The folders of an account: INBOX first, then the others sorted.
    pub fn folders(&self, address: &str) -> Result<Vec<String>, SimError> {
        let Some((account, domain)) = split_address(address) else {
            return Ok(Vec::new());
        };
        if !self.account_exists(&domain, &account) {
            return Ok(Vec::new());
        }
        let mut out = vec!["INBOX".to_string()];
        let d = self.dir.join(&domain).join("folders").join(&account);
        out.extend(names(&d)?.into_iter().filter(|n| valid_folder(n)));
        Ok(out)
    }

    /// Create a folder; Ok(false) when it exists.
    pub fn create_folder(&self, address: &str, folder: &str) -> Result<bool, SimError> {
        let (account, domain) = split_address(address)
            .filter(|(a, d)| self.account_exists(d, a))
            .ok_or_else(|| SimError::Usage(format!("no mailbox '{address}'")))?;
        if !valid_folder(folder) || folder.eq_ignore_ascii_case("INBOX") {
            return Ok(false);
        }
        let d = self.folder_dir(&domain, &account, folder);
        if d.is_dir() {
            return Ok(false);
        }
        std::fs::create_dir_all(&d).map_err(io("creating", &d))?;
        Ok(true)
    }

    /// Store a message in one folder of `address` (IMAP APPEND), whatever the account's status.
    pub fn append(&self, address: &str, folder: &str, message: &[u8]) -> Result<(), SimError> {
        let (account, domain) = split_address(address)
            .filter(|(a, d)| self.account_exists(d, a))
            .ok_or_else(|| SimError::Usage(format!("no mailbox '{address}'")))?;
        if !self.folders(address)?.iter().any(|f| f == folder) {
            return Err(SimError::Usage(format!("no folder '{folder}'")));
        }
        store_message(&self.folder_dir(&domain, &account, folder), message)
    }

    /// The message files of one folder in arrival order (UID n is the n-th), at most
    /// [`MAX_MESSAGES`] of the newest.
    pub fn folder_files(&self, address: &str, folder: &str) -> Result<Vec<PathBuf>, SimError> {
        let Some((account, domain)) = split_address(address) else {
            return Ok(Vec::new());
        };
        if !self.account_exists(&domain, &account) || !valid_folder(folder) {
            return Ok(Vec::new());
        }
        let dir = self.folder_dir(&domain, &account, folder);
        Ok(message_files(&dir)?
            .into_iter()
            .map(|n| dir.join(n))
            .collect())
    }

    /// Set an account's password (kept salted and hashed, file mode 0600).
    pub fn set_password(
        &self,
        domain: &str,
        account: &str,
        password: &str,
    ) -> Result<(), SimError> {
        let line = crate::mail::hash_password(password)?;
        self.write_password_line(domain, account, &line)
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

    /// Store one message in the INBOX of `address`; Ok(false), nothing stored, when the
    /// account is disabled (the SMTP answer is then a temporary failure).
    pub fn deliver(&self, address: &str, message: &[u8]) -> Result<bool, SimError> {
        let (account, domain) = split_address(address)
            .filter(|(a, d)| self.account_exists(d, a))
            .ok_or_else(|| SimError::Usage(format!("no mailbox '{address}'")))?;
        self.locked(&domain, &account, false, || {
            if self.is_disabled(&domain, &account) {
                return Ok(false);
            }
            store_message(&self.mailbox_dir(&domain, &account), message).map(|()| true)
        })
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
        read_folder(&self.mailbox_dir(&domain, &account))
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

    /// Whether the domain exists here.
    pub fn domain_exists(&self, domain: &str) -> bool {
        valid_domain(domain) && self.accounts_dir(domain).is_dir()
    }

    /// Whether the account exists in the domain.
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
        self.add_account_with(domain, account, None)
    }

    /// Add an account with its password line (one file created with its content); Ok(false)
    /// when it exists, left as it was.
    pub fn add_account_with(
        &self,
        domain: &str,
        account: &str,
        password_line: Option<&str>,
    ) -> Result<bool, SimError> {
        if !self.domain_exists(domain) || !valid_account(account) {
            return Err(SimError::Usage(format!(
                "cannot add '{account}' to '{domain}'"
            )));
        }
        let p = self.accounts_dir(domain).join(account);
        let mut f = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&p)
        {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(io("creating", &p)(e)),
        };
        if let Some(line) = password_line {
            f.write_all(format!("{line}\n").as_bytes())
                .map_err(io("writing", &p))?;
        }
        Ok(true)
    }

    /// Remove an account; Ok(false) when there was none.
    pub fn remove_account(&self, domain: &str, account: &str) -> Result<bool, SimError> {
        if !valid_domain(domain) || !valid_account(account) {
            return Ok(false);
        }
        let p = self.accounts_dir(domain).join(account);
        // Axigen removes the account's mailbox with it: an account added again later
        // starts empty.
        for d in [
            self.mailbox_dir(domain, account),
            self.dir.join(domain).join("folders").join(account),
        ] {
            match std::fs::remove_dir_all(&d) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(io("removing", &d)(e)),
                _ => {}
            }
        }
        let _ = std::fs::remove_file(self.disabled_marker(domain, account));
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
        // An account made with its password: one private file that logs in; made again, it
        // keeps the first password.
        let line = crate::mail::hash_password("first").unwrap();
        assert!(s
            .add_account_with("b.example", "dave", Some(&line))
            .unwrap());
        let other = crate::mail::hash_password("second").unwrap();
        assert!(!s
            .add_account_with("b.example", "dave", Some(&other))
            .unwrap());
        assert!(s.check_login("dave@b.example", "first"));
        assert!(!s.check_login("dave@b.example", "second"));
        let mode = std::fs::metadata(d.join("b.example/accounts/dave")).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        s.set_password("b.example", "dave", "third").unwrap();
        assert!(s.check_login("dave@b.example", "third"));
        assert!(s.set_password("b.example", "nobody", "x").is_err());
        assert!(s.remove_account("b.example", "dave").unwrap());
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
