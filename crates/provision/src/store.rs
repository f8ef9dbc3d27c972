//! The back-end side: accounts and domains on each back-end's Axigen, through its CLI.
//!
//! One logged-in CLI session per back-end is kept and reused (an import sends thousands of
//! commands); any error drops that session, since its context is then unknown.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use axha_axigen::cli::{AccountInfo, CliClient, CliError};
use axha_directory::{Backend, DirectoryError, Secret};
use axha_exec::Deadline;

/// The root prompt: no context open.
const ROOT_PROMPT: &str = "<#> ";

/// Why a back-end operation failed; each variant names the back-end.
#[derive(Debug)]
pub enum StoreError {
    /// No `axigen.password_dir` is configured: no admin password for any back-end.
    NoPasswordDir {
        /// The back-end.
        backend: String,
    },
    /// No `axigen.postmaster_password_file` is configured: no domain can be created.
    NoPostmasterPassword {
        /// The back-end.
        backend: String,
    },
    /// The back-end's admin password file could not be read.
    Password {
        /// The back-end.
        backend: String,
        /// Why (the file's name, never its content).
        error: DirectoryError,
    },
    /// The back-end's CLI address resolves to no address.
    Resolve {
        /// The back-end.
        backend: String,
        /// The address as registered.
        address: String,
    },
    /// Connecting or logging in to the back-end's CLI failed.
    Session {
        /// The back-end.
        backend: String,
        /// The CLI's error (boxed: it is large, and errors travel by value).
        error: Box<CliError>,
    },
    /// The domain's context could not be entered: nothing changed on the back-end.
    EnterDomain {
        /// The back-end.
        backend: String,
        /// The CLI's error (boxed: it is large, and errors travel by value).
        error: Box<CliError>,
    },
    /// A command failed after it may have changed something.
    Command {
        /// The back-end.
        backend: String,
        /// The CLI's error (boxed: it is large, and errors travel by value).
        error: Box<CliError>,
    },
}

impl StoreError {
    /// The back-end that failed.
    pub fn backend(&self) -> &str {
        match self {
            StoreError::NoPasswordDir { backend }
            | StoreError::NoPostmasterPassword { backend }
            | StoreError::Password { backend, .. }
            | StoreError::Resolve { backend, .. }
            | StoreError::Session { backend, .. }
            | StoreError::EnterDomain { backend, .. }
            | StoreError::Command { backend, .. } => backend,
        }
    }

    /// True when the failure came before anything could have changed on the back-end
    /// (cannot connect, login refused, no password): another back-end may be tried.
    pub fn before_change(&self) -> bool {
        !matches!(self, StoreError::Command { .. })
    }

    /// True when the back-end refused a name as invalid (bad input, not a broken back-end).
    pub fn is_rejected(&self) -> bool {
        match self {
            StoreError::Session { error, .. }
            | StoreError::EnterDomain { error, .. }
            | StoreError::Command { error, .. } => {
                let m = error.to_string().to_ascii_lowercase();
                m.contains("invalid account name") || m.contains("invalid domain name")
            }
            _ => false,
        }
    }

    /// What went wrong, without the back-end's name (for lists already keyed by back-end):
    /// in the back-end's words when it answered.
    pub fn reason(&self) -> String {
        match self {
            StoreError::NoPasswordDir { .. } => {
                "no axigen.password_dir configured for admin passwords".into()
            }
            StoreError::NoPostmasterPassword { .. } => {
                "no axigen.postmaster_password_file configured".into()
            }
            StoreError::Password { error, .. } => error.to_string(),
            StoreError::Resolve { address, .. } => format!("cannot resolve CLI address {address}"),
            StoreError::Session { error, .. }
            | StoreError::EnterDomain { error, .. }
            | StoreError::Command { error, .. } => error.to_string(),
        }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "back-end {}: {}", self.backend(), self.reason())
    }
}

/// The message already includes the underlying error, so `source` stays empty (an error
/// chain printer would repeat it otherwise).
impl std::error::Error for StoreError {}

/// Outcome of adding an account or a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// It was created.
    Created,
    /// It was there already (a retried create: adopted, not created twice).
    Existed,
}

/// Credentials and sessions for every back-end.
pub struct AxigenStore {
    admin_user: String,
    password_dir: Option<PathBuf>,
    postmaster: Option<Secret>,
    timeout: Duration,
    sessions: HashMap<String, CliClient>,
    imap: crate::moves::ImapSettings,
}

fn is_exists(e: &CliError) -> bool {
    matches!(e, CliError::Command { message, .. } if message.to_ascii_lowercase().contains("exist"))
}

fn is_missing(e: &CliError) -> bool {
    matches!(e, CliError::Command { message, .. } if {
        let m = message.to_ascii_lowercase();
        m.contains("not found") || m.contains("no such") || m.contains("unknown") || m.contains("does not exist")
    })
}

impl AxigenStore {
    /// Sessions as `admin_user`, with passwords from `password_dir`, each exchange bounded by `timeout`.
    pub fn new(
        admin_user: impl Into<String>,
        password_dir: Option<PathBuf>,
        postmaster: Option<Secret>,
        timeout: Duration,
    ) -> Self {
        AxigenStore {
            admin_user: admin_user.into(),
            password_dir,
            postmaster,
            timeout,
            sessions: HashMap::new(),
            imap: Default::default(),
        }
    }

    /// How the back-ends' IMAP is reached when accounts move.
    pub fn set_imap(&mut self, imap: crate::moves::ImapSettings) {
        self.imap = imap;
    }

    /// The IMAP settings (for moving accounts).
    pub fn imap(&self) -> &crate::moves::ImapSettings {
        &self.imap
    }

    /// The administrative user of every back-end.
    pub fn admin_user(&self) -> &str {
        &self.admin_user
    }

    /// Seconds allowed for each exchange with a back-end.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The back-end's admin password (from `password_dir`).
    pub fn admin_password(&self, be: &Backend) -> Result<Secret, StoreError> {
        let dir = self
            .password_dir
            .as_ref()
            .ok_or_else(|| StoreError::NoPasswordDir {
                backend: be.name.clone(),
            })?;
        Secret::from_file(&dir.join(&be.name)).map_err(|error| StoreError::Password {
            backend: be.name.clone(),
            error,
        })
    }

    /// A command's failure on `be`, after it may have changed something.
    fn command_err(be: &Backend) -> impl FnOnce(CliError) -> StoreError + '_ {
        |error| StoreError::Command {
            backend: be.name.clone(),
            error: Box::new(error),
        }
    }

    /// A logged-in session at the root prompt, with a fresh deadline.
    fn session(&mut self, be: &Backend) -> Result<&mut CliClient, StoreError> {
        let deadline = Deadline::after(self.timeout);
        if let Some(c) = self.sessions.get_mut(&be.name) {
            if c.prompt() == ROOT_PROMPT {
                c.set_deadline(&deadline);
            } else {
                self.sessions.remove(&be.name);
            }
        }
        if !self.sessions.contains_key(&be.name) {
            let backend = || be.name.clone();
            let pw = self.admin_password(be)?;
            let addr: SocketAddr = be
                .cli_address
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| StoreError::Resolve {
                    backend: backend(),
                    address: be.cli_address.clone(),
                })?;
            let session = |error| StoreError::Session {
                backend: backend(),
                error: Box::new(error),
            };
            let mut c = CliClient::connect(addr, &deadline).map_err(session)?;
            c.login(&self.admin_user, pw.expose()).map_err(session)?;
            self.sessions.insert(be.name.clone(), c);
        }
        Ok(self.sessions.get_mut(&be.name).expect("inserted above"))
    }

    /// Run `f` on the back-end's session; any error drops the session.
    fn with<T>(
        &mut self,
        be: &Backend,
        f: impl FnOnce(&mut CliClient) -> Result<T, CliError>,
    ) -> Result<Result<T, CliError>, StoreError> {
        let c = self.session(be)?;
        let r = f(c);
        if r.is_err()
            || self
                .sessions
                .get(&be.name)
                .is_some_and(|c| c.prompt() != ROOT_PROMPT)
        {
            self.sessions.remove(&be.name);
        }
        Ok(r)
    }

    /// Create a domain (`CREATE Domain`, `COMMIT`).
    pub fn create_domain(&mut self, be: &Backend, domain: &str) -> Result<Added, StoreError> {
        let pm = self
            .postmaster
            .clone()
            .ok_or_else(|| StoreError::NoPostmasterPassword {
                backend: be.name.clone(),
            })?;
        let r = self.with(be, |c| {
            c.create_domain(domain, pm.expose())?;
            c.commit()?;
            Ok(())
        })?;
        match r {
            Ok(()) => Ok(Added::Created),
            Err(e) if is_exists(&e) => Ok(Added::Existed),
            Err(e) => Err(Self::command_err(be)(e)),
        }
    }

    /// Remove a domain (`DELETE Domain name D`). A domain already gone is not an error.
    pub fn remove_domain(&mut self, be: &Backend, domain: &str) -> Result<(), StoreError> {
        let r = self.with(be, |c| {
            c.command(&format!("DELETE Domain name {domain}"))
                .map(|_| ())
        })?;
        match r {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(Self::command_err(be)(e)),
        }
    }

    /// Add an account (`UPDATE Domain`, `ADD Account`, `COMMIT`). With `create_domain`, a
    /// domain missing on this back-end (added to the cluster after the domain) is created
    /// first.
    pub fn add_account(
        &mut self,
        be: &Backend,
        domain: &str,
        local: &str,
        password: &str,
        create_domain: bool,
    ) -> Result<Added, StoreError> {
        self.add_account_by(be, domain, create_domain, |c| {
            c.add_account(local, password)
        })
    }

    /// Add an account with the hashed password another back-end keeps for it
    /// (`ADD Account ... hashedPassword`), creating its domain here when missing.
    pub fn add_account_hashed(
        &mut self,
        be: &Backend,
        domain: &str,
        local: &str,
        hashed: &str,
    ) -> Result<Added, StoreError> {
        self.add_account_by(be, domain, true, |c| c.add_account_hashed(local, hashed))
    }

    /// `SHOW Account`: the account's status and hashed password; `None` when it is absent.
    pub fn account_info(
        &mut self,
        be: &Backend,
        domain: &str,
        local: &str,
    ) -> Result<Option<AccountInfo>, StoreError> {
        let r = self.with(be, |c| {
            c.update_domain(domain)?;
            let info = c.show_account(local);
            let back = c.command("BACK");
            let info = info?;
            back?;
            Ok(info)
        })?;
        match r {
            Ok(i) => Ok(Some(i)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(Self::command_err(be)(e)),
        }
    }

    /// Disable (logins refused, deliveries deferred) or enable an account.
    pub fn set_account_disabled(
        &mut self,
        be: &Backend,
        domain: &str,
        local: &str,
        disabled: bool,
    ) -> Result<(), StoreError> {
        let r = self.with(be, |c| {
            c.update_domain(domain)?;
            let done = c.set_account_disabled(local, disabled);
            let back = c.command("BACK");
            done?;
            back.map(|_| ())
        })?;
        r.map_err(Self::command_err(be))
    }

    fn add_account_by(
        &mut self,
        be: &Backend,
        domain: &str,
        create_domain: bool,
        add: impl FnOnce(&mut CliClient) -> Result<axha_axigen::cli::Reply, CliError>,
    ) -> Result<Added, StoreError> {
        let mut created_domain = false;
        loop {
            let c = self.session(be)?;
            match c.update_domain(domain) {
                Ok(_) => break,
                Err(e) if create_domain && !created_domain && is_missing(&e) => {
                    self.sessions.remove(&be.name);
                    self.create_domain(be, domain)?;
                    created_domain = true;
                }
                // Nothing changed: the domain context could not even be entered.
                Err(e) => {
                    self.sessions.remove(&be.name);
                    return Err(StoreError::EnterDomain {
                        backend: be.name.clone(),
                        error: Box::new(e),
                    });
                }
            }
        }
        let c = self
            .sessions
            .get_mut(&be.name)
            .expect("session entered the domain");
        let r = (|| {
            let added = match add(c) {
                Ok(_) => Added::Created,
                Err(e) if is_exists(&e) => Added::Existed,
                Err(e) => return Err(e),
            };
            c.commit()?;
            Ok(added)
        })();
        if r.is_err() || c.prompt() != ROOT_PROMPT {
            self.sessions.remove(&be.name);
        }
        r.map_err(Self::command_err(be))
    }

    /// Remove an account (`UPDATE Domain`, `REMOVE Account`, `COMMIT`). An account already
    /// gone is not an error.
    pub fn remove_account(
        &mut self,
        be: &Backend,
        domain: &str,
        local: &str,
    ) -> Result<(), StoreError> {
        let r = self.with(be, |c| {
            c.update_domain(domain)?;
            let removed = c.remove_account(local);
            let committed = c.commit();
            removed?;
            committed.map(|_| ())
        })?;
        match r {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(Self::command_err(be)(e)),
        }
    }

    /// The accounts of a domain on a back-end (`UPDATE Domain`, `LIST Accounts`, `COMMIT`).
    pub fn list_accounts(&mut self, be: &Backend, domain: &str) -> Result<Vec<String>, StoreError> {
        let r = self.with(be, |c| {
            c.update_domain(domain)?;
            let l = c.list_accounts();
            let committed = c.commit();
            let l = l?;
            committed?;
            Ok(l)
        })?;
        match r {
            Ok(l) => Ok(l),
            Err(e) if is_missing(&e) => Ok(Vec::new()),
            Err(e) => Err(Self::command_err(be)(e)),
        }
    }

    /// The domains on a back-end.
    pub fn list_domains(&mut self, be: &Backend) -> Result<Vec<String>, StoreError> {
        self.with(be, |c| c.list_domains())?
            .map_err(Self::command_err(be))
    }

    /// End every session politely.
    pub fn close(&mut self) {
        for (_, c) in self.sessions.drain() {
            let _ = c.quit();
        }
    }
}

impl Drop for AxigenStore {
    fn drop(&mut self) {
        self.close();
    }
}
