//! The one place where what went wrong with the server (the axigen crate's configuration, CLI
//! and process errors, and a protocol greeting that was not ready) becomes an OCF exit code
//! and an exit reason.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axha_axigen::cli::CliError;
use axha_axigen::config::ConfigError;
use axha_axigen::probe::ProbeResult;
use axha_axigen::process::ProcessError;
use axha_ocf::OcfError;

/// A check or an action on the server that did not succeed, with what it was about.
#[derive(Debug)]
pub enum Failure {
    /// The configuration file could not be read or used.
    Config { path: PathBuf, error: ConfigError },
    /// The CLI did not give what a check asked; `refused` when connections were refused
    /// before the time ran out.
    Cli {
        addr: SocketAddr,
        error: Box<CliError>,
        elapsed: Duration,
        refused: bool,
    },
    /// The server could not be started, or processes survived the stop.
    Process(ProcessError),
    /// A listener did not greet as its protocol says.
    Greeting(ProbeResult),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Config { path, error } => match error {
                ConfigError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    write!(f, "config {} not found", path.display())
                }
                _ => write!(f, "config {error}"),
            },
            Failure::Cli {
                addr,
                error,
                elapsed,
                refused,
            } => {
                if error.is_refused() || (*refused && error.is_timeout()) {
                    write!(
                        f,
                        "CLI {addr}: connection refused (nothing listening on {addr})"
                    )
                } else if error.is_timeout() && *elapsed < Duration::from_millis(50) {
                    write!(
                        f,
                        "CLI {addr}: no time left for the check (the operation's timeout is spent)"
                    )
                } else if error.is_timeout() {
                    write!(
                        f,
                        "CLI {addr} did not answer within {:.1}s (hung?)",
                        elapsed.as_secs_f64()
                    )
                } else if let CliError::AuthRefused { message, user, .. } = error.as_ref() {
                    write!(f, "CLI {addr}: login as {user} refused: {message}")
                } else {
                    write!(f, "CLI {addr}: {error}")
                }
            }
            Failure::Process(e) => write!(f, "{e}"),
            Failure::Greeting(r) => write!(f, "{r}"),
        }
    }
}

/// The codes: a configuration file missing on this node is 5 (storage not mounted?), one
/// this node cannot read is 2, one that does not parse is wrong wherever it is read (6);
/// everything else is the server failing here (1).
impl From<Failure> for OcfError {
    fn from(f: Failure) -> OcfError {
        let reason = f.to_string();
        match &f {
            Failure::Config {
                error: ConfigError::Io { source, .. },
                ..
            } if source.kind() == std::io::ErrorKind::NotFound => OcfError::installed(reason),
            Failure::Config {
                error: ConfigError::Io { .. },
                ..
            } => OcfError::args(reason),
            Failure::Config { .. } => OcfError::configured(reason),
            Failure::Cli { .. } | Failure::Process(_) | Failure::Greeting(_) => {
                OcfError::generic(reason)
            }
        }
    }
}
