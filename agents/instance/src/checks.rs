//! The checks monitor and start use, each bounded by the smaller of `check_timeout` and the
//! action's deadline, each saying exactly what failed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axha_axigen::cli::{CliClient, Version};
use axha_axigen::probe::{self, ProbeResult};
use axha_axigen::process;
use axha_exec::{Deadline, ProcessIdentity};
use axha_ocf::{trace, OcfError};

use crate::failure::Failure;
use crate::state::{Recorded, StateFile};

/// A worker restart by the supervisor leaves the CLI port closed for a moment; a refused
/// connection is retried this long before it counts.
const REFUSED_GRACE: Duration = Duration::from_millis(1500);

/// Where the server stands on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Running; `adopted` when the agent had no record of it (started by hand, state lost).
    Running {
        leader: ProcessIdentity,
        adopted: bool,
    },
    /// The recorded server is gone (crashed, killed, or its pid now belongs to another
    /// process); `leftovers` are processes of its session still alive.
    Gone {
        recorded: ProcessIdentity,
        leftovers: Vec<u32>,
    },
    /// No record and nothing running: cleanly stopped.
    Absent,
}

/// Find the server of `workdir`: the recorded identity first, then a scan of this network
/// namespace's processes for one the agent does not know of.
pub fn locate(state: &StateFile, binary: &Path, workdir: &Path) -> Found {
    let found = locate_server(state, binary, workdir);
    trace::step(&format!("server of {}: {found:?}", workdir.display()));
    found
}

fn locate_server(state: &StateFile, binary: &Path, workdir: &Path) -> Found {
    let recorded = match state.read() {
        Recorded::Server(id) if id.is_alive() => {
            return Found::Running {
                leader: id,
                adopted: false,
            }
        }
        Recorded::Server(id) => Some(id),
        Recorded::None | Recorded::Garbage(_) => None,
    };
    if let Some(leader) = process::find_running(binary, workdir) {
        return Found::Running {
            leader,
            adopted: true,
        };
    }
    match recorded {
        Some(id) => Found::Gone {
            leftovers: process::members(&id),
            recorded: id,
        },
        None => Found::Absent,
    }
}

fn check_deadline(deadline: &Deadline, check_timeout: Duration) -> Deadline {
    deadline.within(check_timeout)
}

/// `GET VERSION` on the CLI (depth 0). A refused connection is retried briefly.
pub fn cli_version(
    addr: SocketAddr,
    deadline: &Deadline,
    check_timeout: Duration,
) -> Result<(Version, Duration), Failure> {
    let t = Instant::now();
    let grace = deadline.within(REFUSED_GRACE);
    let mut refused = false;
    loop {
        let d = check_deadline(deadline, check_timeout);
        let r = CliClient::connect(addr, &d).and_then(|mut c| c.get_version());
        match &r {
            Ok(v) => trace::step(&format!("probe CLI {addr} GET VERSION -> {}", v.raw)),
            Err(e) => trace::step(&format!("probe CLI {addr} GET VERSION -> {e}")),
        }
        match r {
            Ok(v) => return Ok((v, t.elapsed())),
            Err(e) if e.is_refused() && grace.sleep(Duration::from_millis(100)) => {
                refused = true;
            }
            Err(error) => {
                return Err(Failure::Cli {
                    addr,
                    error: Box::new(error),
                    elapsed: t.elapsed(),
                    refused,
                })
            }
        }
    }
}

/// The SMTP/IMAP/POP3 greetings of every listener (depth 10). The first failure is the error.
pub fn greetings(
    listeners: &[(probe::Protocol, SocketAddr)],
    deadline: &Deadline,
    check_timeout: Duration,
) -> Result<Vec<ProbeResult>, Failure> {
    let mut out = Vec::new();
    for (proto, addr) in listeners {
        let r = probe::greeting(*proto, *addr, &check_deadline(deadline, check_timeout));
        trace::step(&format!("probe greeting -> {r}"));
        if !r.is_ready() {
            return Err(Failure::Greeting(r));
        }
        out.push(r);
    }
    Ok(out)
}

/// The CLI password from its file: first line, without the line end. The read is bounded
/// (a password is not a document; a FIFO must not hold the monitor) and the file is checked
/// first as [`check_password_file`] says.
pub fn read_password(path: &Path, deadline: &Deadline) -> Result<String, OcfError> {
    check_password_file(path)?;
    let bytes = axha_exec::read_bounded(path, axha_exec::MAX_SECRET_BYTES, deadline)
        .map_err(|e| OcfError::args(format!("cli_password_file: {e}")))?;
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let pw = String::from_utf8(first.to_vec()).map_err(|_| {
        OcfError::args(format!(
            "cli_password_file {}: the password is not valid UTF-8",
            path.display()
        ))
    })?;
    if pw.is_empty() {
        return Err(OcfError::args(format!(
            "cli_password_file {} is empty",
            path.display()
        )));
    }
    Ok(pw)
}

/// The password file on this node. Missing: 5 (not installed here, e.g. on storage not
/// mounted). Not a regular file, or readable by others: 2 (wrong on this node only; another
/// node may hold a proper file at that path).
pub fn check_password_file(path: &Path) -> Result<(), OcfError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        let msg = format!("cli_password_file {}: {e}", path.display());
        if e.kind() == std::io::ErrorKind::NotFound {
            OcfError::installed(msg)
        } else {
            OcfError::args(msg)
        }
    })?;
    if !meta.is_file() {
        return Err(OcfError::args(format!(
            "cli_password_file {} is not a regular file",
            path.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(OcfError::args(format!(
            "cli_password_file {} is readable by others (mode {mode:04o}); chmod 600 it",
            path.display()
        )));
    }
    Ok(())
}

/// CLI login and a read-only command (depth 20).
pub fn cli_login(
    addr: SocketAddr,
    user: &str,
    password_file: Option<&PathBuf>,
    deadline: &Deadline,
    check_timeout: Duration,
) -> Result<Duration, OcfError> {
    let Some(pw_file) = password_file else {
        return Err(OcfError::configured(
            "depth 20 monitor needs cli_password_file",
        ));
    };
    let password = read_password(pw_file, deadline)?;
    let t = Instant::now();
    let d = check_deadline(deadline, check_timeout);
    let r = CliClient::connect(addr, &d).and_then(|mut c| {
        c.login(user, &password)?;
        c.list_domains()
    });
    // The password is never traced; the user and the answer are.
    match &r {
        Ok(_) => trace::step(&format!("probe CLI {addr} login as {user} -> logged in")),
        Err(e) => trace::step(&format!("probe CLI {addr} login as {user} -> {e}")),
    }
    r.map(|_| t.elapsed()).map_err(|error| {
        Failure::Cli {
            addr,
            error: Box::new(error),
            elapsed: t.elapsed(),
            refused: false,
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_rules() {
        use std::os::unix::fs::PermissionsExt;
        let d = Deadline::after(Duration::from_secs(5));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\r\nignored\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = check_password_file(&f).unwrap_err();
        assert!(e.reason.contains("mode 0644"), "{}", e.reason);
        assert!(!e.reason.contains("s3cret"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(check_password_file(&f).is_ok());
        assert_eq!(read_password(&f, &d).unwrap(), "s3cret");
        std::fs::write(&f, "\n").unwrap();
        assert!(read_password(&f, &d).unwrap_err().reason.contains("empty"));
        std::fs::write(&f, "x".repeat(5000)).unwrap();
        let e = read_password(&f, &d).unwrap_err();
        assert!(e.reason.contains("more than 4096 bytes"), "{}", e.reason);
        let e = read_password(&dir.path().join("none"), &d).unwrap_err();
        assert_eq!(e.status, axha_ocf::OcfStatus::ErrInstalled);
        let e = read_password(dir.path(), &d).unwrap_err();
        assert_eq!(e.status, axha_ocf::OcfStatus::ErrArgs);
        assert!(e.reason.contains("not a regular file"), "{}", e.reason);
    }

    #[test]
    fn refused_cli_is_reported_as_such() {
        // A port nothing listens on (bound then released).
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let d = Deadline::after(Duration::from_secs(5));
        let t = Instant::now();
        let e = cli_version(addr, &d, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("CLI {addr}: connection refused (nothing listening on {addr})")
        );
        assert!(t.elapsed() >= REFUSED_GRACE - Duration::from_millis(200));
    }

    #[test]
    fn silent_cli_is_a_hang() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let d = Deadline::after(Duration::from_secs(5));
        let e = cli_version(addr, &d, Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not answer"), "{e}");
        drop(l);
    }
}
