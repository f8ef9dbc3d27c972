//! `axigen-sim`, a stand-in for the Axigen mail server in tests, demos and the lab (Axigen
//! itself cannot be installed here). It is honest about being a stand-in: it greets as
//! "Axigen-compatible stand-in", and every test that uses it says so.
//!
//! What it mirrors of Axigen (see DESIGN.md, "What Axigen looks like"):
//! - the process model: `axigen-sim -W DIR [--foreground] [--config PATH]` reads
//!   `DIR/run/axigen.cfg`; a supervisor ([`supervisor`]) binds every listener (as Axigen does
//!   as root), writes `DIR/run/axigen.pid`, and starts a worker ([`worker`]: the same binary
//!   re-executed with the hidden flag `--worker`) that inherits the listening sockets, so a
//!   worker restart keeps the ports. Without `--foreground` the launching command returns
//!   once the supervisor runs and has bound its ports (exit 1 with the reason otherwise; with
//!   the `slow-start` fault, as soon as the supervisor runs). Axigen's `-C/--configfile` and
//!   `-P/--pidfile` are understood; `status` and `stop` subcommands help demos.
//! - the listeners of `axigen.cfg` with SMTP, IMAP and POP3 greetings; mail users as Axigen
//!   serves them to a front-end proxy and a relay ([`mail`]): IMAP and POP3 logins with the
//!   account's full address and password (set by the CLI's `ADD Account ... password`), the
//!   INBOX read back, SMTP delivery into the mailbox of an account hosted here (any other
//!   recipient refused); what moving an account between back-ends uses (IMAP folders, UID
//!   FETCH, APPEND, an administrator's login into a mailbox; the CLI's SHOW, DISABLE and
//!   ENABLE Account, and ADD Account with a hashed password; a disabled account refuses
//!   logins and defers deliveries with 450); a tiny HTTP answer on WebMail/WebAdmin, and the
//!   CLI dialogue ([`session`]) with domains and accounts persisted under `DIR/domains`
//!   ([`store`]).
//! - SIGTERM to the supervisor (or its process group) stops it cleanly: worker stopped,
//!   listeners closed, pid file removed, exit 0.
//! - fault injection switched by files in `DIR/faults` ([`faults`]).
//!
//! Workdir layout ([`workdir::Workdir`]): `run/axigen.cfg`, `run/axigen.pid`, `run/admin.pw`
//! (the CLI admin password, mode 0600), `log/axigen-sim.log` (daemon output), `domains/<domain>/
//! accounts/<account>`, `faults/<name>`.

#![warn(missing_docs)]

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use axha_axigen::config::ConfigError;

pub mod conn;
pub mod faults;
pub mod mail;
pub mod session;
pub mod store;
pub mod supervisor;
pub mod workdir;
pub mod worker;

/// Why the stand-in cannot do what was asked. Each variant names the offending value.
#[derive(Debug)]
pub enum SimError {
    /// The configuration file is wrong.
    Config(ConfigError),
    /// A file or directory operation failed.
    Io {
        /// What was being done ("reading", "creating"...).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// Another process listens on a configured address.
    AddrInUse(SocketAddr),
    /// Binding failed for another reason (address not on this host, permission...).
    Bind {
        /// The listener's address.
        addr: SocketAddr,
        /// The system's error.
        source: std::io::Error,
    },
    /// A supervisor of this workdir already runs.
    AlreadyRunning {
        /// Its process id.
        pid: u32,
        /// The pid file naming it.
        pid_file: PathBuf,
    },
    /// `init` would overwrite an existing configuration (use `--force`).
    Exists(PathBuf),
    /// The configuration enables no listener.
    NoListeners(PathBuf),
    /// A fault name the stand-in does not know.
    UnknownFault(String),
    /// A fault's value is not what it takes.
    BadFaultValue {
        /// The fault.
        name: &'static str,
        /// The value given.
        value: String,
        /// What it takes.
        expected: &'static str,
    },
    /// Bad arguments (a relative path where none is allowed, an empty password file...).
    Usage(String),
    /// The daemonized supervisor reported a failure to the launching command.
    Start(String),
    /// `stop` sent SIGTERM but the supervisor outlived the wait.
    StillRunning {
        /// The supervisor's process id.
        pid: u32,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Config(e) => write!(f, "{e}"),
            SimError::Io { what, path, source } => {
                write!(f, "{what} {}: {source}", path.display())
            }
            SimError::AddrInUse(a) => write!(f, "address in use: {a}"),
            SimError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            SimError::AlreadyRunning { pid, pid_file } => write!(
                f,
                "already running (pid {pid}, from {})",
                pid_file.display()
            ),
            SimError::Exists(p) => {
                write!(f, "{} exists (use --force to overwrite it)", p.display())
            }
            SimError::NoListeners(p) => write!(f, "{}: no enabled listeners", p.display()),
            SimError::UnknownFault(n) => write!(
                f,
                "unknown fault '{n}' (known: {})",
                faults::Fault::ALL.map(|f| f.name()).join(", ")
            ),
            SimError::BadFaultValue {
                name,
                value,
                expected,
            } => write!(f, "fault {name}: bad value '{value}' (expected {expected})"),
            SimError::Usage(m) => f.write_str(m),
            SimError::Start(m) => f.write_str(m),
            SimError::StillRunning { pid } => {
                write!(f, "supervisor {pid} still runs after SIGTERM")
            }
        }
    }
}

/// Causes are part of the message, not separate sources (a chain printed with `{:#}`
/// says each once).
impl std::error::Error for SimError {}

impl From<ConfigError> for SimError {
    fn from(e: ConfigError) -> Self {
        SimError::Config(e)
    }
}

/// One line on stderr (the log file for a daemon), tagged with the process role and pid.
pub fn log(role: &str, msg: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    eprintln!("{now:.3} axigen-sim {role}[{}]: {msg}", std::process::id());
}
