//! Finding, starting and stopping one Axigen server: a supervisor process and the worker it
//! starts, run in a session of their own so that a stop can reach the whole tree and Pacemaker's
//! kill of an agent's process group never reaches the server.
//!
//! Processes are identified by [`ProcessIdentity`] (pid + start time), never by name, and
//! only within the caller's network namespace: in a lab, several cluster nodes share one pid
//! space, and a server of another node must never be taken for ours.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_exec::{Cmd, Deadline, ExecError, ProcessIdentity};

/// How to launch one server.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    /// The server binary.
    pub binary: PathBuf,
    /// Its working directory (`-W`).
    pub workdir: PathBuf,
    /// Passed as `-C PATH` (Axigen's `--configfile`) only when it is not the server's default
    /// (`<workdir>/run/axigen.cfg`).
    pub config: Option<PathBuf>,
}

#[derive(Debug)]
/// Why the server could not be started or stopped.
pub enum ProcessError {
    /// The server could not be started.
    Launch(ExecError),
    /// It was started but exited at once; `output` is the end of what it printed.
    ExitedAtStart {
        /// The end of what it printed.
        output: String,
    },
    /// Processes of the server were still alive at the deadline.
    Survivors {
        /// Their pids.
        pids: Vec<u32>,
    },
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::Launch(e) => write!(f, "{e}"),
            ProcessError::ExitedAtStart { output } if output.is_empty() => {
                write!(f, "server exited right after start")
            }
            ProcessError::ExitedAtStart { output } => {
                write!(f, "server exited right after start: {output}")
            }
            ProcessError::Survivors { pids } => write!(
                f,
                "server processes still alive: {}",
                pids.iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }
}

impl std::error::Error for ProcessError {}

impl ServerCommand {
    /// The argv: `binary -W workdir --foreground [-C PATH]`. Foreground keeps the
    /// supervisor the process we started, so its identity is known without a pid file.
    pub fn argv(&self) -> Vec<String> {
        let mut v = vec![
            self.binary.display().to_string(),
            "-W".to_string(),
            self.workdir.display().to_string(),
            "--foreground".to_string(),
        ];
        if let Some(c) = &self.config {
            v.push("-C".to_string());
            v.push(c.display().to_string());
        }
        v
    }

    /// Start the server detached (own session), its output appended to `log`, and return
    /// the supervisor's identity. The caller then waits for it to answer.
    pub fn launch(&self, log: &Path) -> Result<ProcessIdentity, ProcessError> {
        let pid = Cmd::from_argv(self.argv())
            .current_dir(&self.workdir)
            .spawn_detached(Some(log))
            .map_err(ProcessError::Launch)?;
        axha_exec::read_identity(pid).ok_or_else(|| ProcessError::ExitedAtStart {
            output: last_line(log),
        })
    }
}

/// At most the last `max` bytes of a file (nothing when it cannot be read).
fn read_tail(path: &Path, max: u64) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if f.seek(SeekFrom::Start(len.saturating_sub(max))).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(max).read_to_end(&mut buf);
    buf
}

/// The last non-empty line of a log file (for exit reasons), at most 200 bytes.
pub fn last_line(log: &Path) -> String {
    // Only the tail is read: the server may have written gigabytes before it died.
    let text = read_tail(log, 4096);
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_string()
}

fn own_netns() -> Option<String> {
    axha_exec::netns_of(std::process::id())
}

fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Does this argv run a server in `workdir` (`-W DIR` or `-WDIR`)?
fn serves_workdir(argv: &[String], workdir: &Path) -> bool {
    let want = workdir.to_string_lossy();
    argv.windows(2).any(|w| w[0] == "-W" && w[1] == want)
        || argv.iter().any(|a| a.strip_prefix("-W") == Some(&want))
}

/// Look for a server of `workdir` running in this network namespace without the agent's
/// knowledge (started by hand, or state lost): the topmost process whose executable is
/// `binary` and whose arguments name the workdir.
pub fn find_running(binary: &Path, workdir: &Path) -> Option<ProcessIdentity> {
    let ns = own_netns()?;
    let binary = binary.canonicalize().unwrap_or_else(|_| binary.to_owned());
    let found: Vec<(ProcessIdentity, u32)> = axha_exec::all_pids()
        .into_iter()
        .filter(|p| *p != std::process::id())
        .filter(|p| axha_exec::netns_of(*p).as_deref() == Some(ns.as_str()))
        .filter_map(|p| {
            let id = axha_exec::read_identity(p)?;
            (id.exe.as_deref() == Some(binary.as_path()) && serves_workdir(&cmdline(p), workdir))
                .then_some(id)
        })
        .filter_map(|id| Some((id.clone(), axha_exec::read_stat(id.pid)?.ppid)))
        .collect();
    // The supervisor is the match whose parent is not itself a match.
    found
        .iter()
        .find(|(_, ppid)| !found.iter().any(|(o, _)| o.pid == *ppid))
        .map(|(id, _)| id.clone())
}

/// Every live process of the server led by `leader`: its session (members keep the session
/// id after the leader dies; only processes started after the leader count, so a recycled
/// id is not mistaken) and the leader's descendants (in case a worker made its own session).
pub fn members(leader: &ProcessIdentity) -> Vec<u32> {
    let stats: Vec<(u32, axha_exec::ProcStat)> = axha_exec::all_pids()
        .into_iter()
        .filter_map(|p| Some((p, axha_exec::read_stat(p)?)))
        .filter(|(_, s)| s.state != 'Z' && s.state != 'X')
        .collect();
    let mut out: Vec<u32> = stats
        .iter()
        .filter(|(_, s)| s.session == leader.pid && s.start_time >= leader.start_time)
        .map(|(p, _)| *p)
        .collect();
    if leader.is_alive() && !out.contains(&leader.pid) {
        out.push(leader.pid);
    }
    // Descendants of any member, to a fixed point.
    loop {
        let before = out.len();
        for (p, s) in &stats {
            if !out.contains(p) && out.contains(&s.ppid) && s.start_time >= leader.start_time {
                out.push(*p);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out.sort_unstable();
    out
}

fn signal(pids: &[u32], sig: libc::c_int) {
    for p in pids {
        // SAFETY: plain syscall on a pid we just found to be a member of the server.
        unsafe {
            libc::kill(*p as libc::pid_t, sig);
        }
    }
}

/// How a stop went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// Nothing was running.
    NotRunning,
    /// Ended by SIGTERM within the graceful share.
    Graceful {
        /// How long the stop took.
        after: Duration,
    },
    /// SIGTERM was not enough; these many processes were killed.
    Killed {
        /// How long the stop took.
        after: Duration,
        /// How many processes were killed.
        killed: usize,
    },
}

/// Stop the server led by `leader`: SIGTERM to the session's process group and every member,
/// wait until `graceful`, then SIGKILL whatever is left and wait until `deadline` for it to be
/// gone. Succeeds only when no member is left.
pub fn terminate(
    leader: &ProcessIdentity,
    graceful: &Deadline,
    deadline: &Deadline,
) -> Result<StopOutcome, ProcessError> {
    let start = std::time::Instant::now();
    let first = members(leader);
    if first.is_empty() {
        return Ok(StopOutcome::NotRunning);
    }
    if leader.is_alive() {
        // SIGTERM to the supervisor's process group: what stopping the server means.
        // SAFETY: plain syscall; the group id is the live leader's pid.
        unsafe {
            libc::kill(-(leader.pid as libc::pid_t), libc::SIGTERM);
        }
    }
    signal(&first, libc::SIGTERM);
    // A stopped (SIGSTOP) process keeps a pending SIGTERM until it is continued.
    signal(&first, libc::SIGCONT);
    let step = Duration::from_millis(50);
    if graceful
        .poll(step, || members(leader).is_empty().then_some(()))
        .is_some()
    {
        return Ok(StopOutcome::Graceful {
            after: start.elapsed(),
        });
    }
    let mut killed = 0;
    let gone = deadline.poll(step, || {
        let left = members(leader);
        if left.is_empty() {
            return Some(());
        }
        killed = killed.max(left.len());
        signal(&left, libc::SIGKILL);
        None
    });
    match gone {
        Some(()) => Ok(StopOutcome::Killed {
            after: start.elapsed(),
            killed,
        }),
        None => Err(ProcessError::Survivors {
            pids: members(leader),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_argument_forms() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let w = Path::new("/srv/ax1");
        assert!(serves_workdir(
            &a(&["axigen", "-W", "/srv/ax1", "--foreground"]),
            w
        ));
        assert!(serves_workdir(&a(&["axigen", "-W/srv/ax1"]), w));
        assert!(!serves_workdir(&a(&["axigen", "-W", "/srv/ax10"]), w));
        assert!(!serves_workdir(&a(&["axigen", "/srv/ax1"]), w));
    }

    #[test]
    fn argv_shape() {
        let c = ServerCommand {
            binary: "/opt/axigen/bin/axigen".into(),
            workdir: "/srv/a".into(),
            config: Some("/srv/a/other.cfg".into()),
        };
        assert_eq!(
            c.argv(),
            [
                "/opt/axigen/bin/axigen",
                "-W",
                "/srv/a",
                "--foreground",
                "-C",
                "/srv/a/other.cfg"
            ]
        );
    }

    #[test]
    fn launch_find_terminate_a_process_tree() {
        // A shell that starts a child and ignores SIGTERM stands for a server that will not
        // stop: terminate must escalate and leave nothing.
        let dir = std::env::temp_dir().join(format!("axha-proc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("out.log");
        let pid = Cmd::new("sh")
            .args(["-c", "trap '' TERM; sleep 60 & echo ready; wait"])
            .spawn_detached(Some(&log))
            .unwrap();
        let leader = axha_exec::read_identity(pid).unwrap();
        let found = Deadline::after(Duration::from_secs(5)).poll(Duration::from_millis(20), || {
            (members(&leader).len() == 2).then_some(())
        });
        assert!(found.is_some(), "members: {:?}", members(&leader));
        let out = terminate(
            &leader,
            &Deadline::after(Duration::from_millis(300)),
            &Deadline::after(Duration::from_secs(5)),
        )
        .unwrap();
        assert!(
            matches!(out, StopOutcome::Killed { killed: 2, .. }),
            "{out:?}"
        );
        assert!(members(&leader).is_empty());
        assert!(!leader.is_alive());
        assert_eq!(last_line(&log), "ready");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn graceful_stop() {
        let pid = Cmd::new("sleep").arg("60").spawn_detached(None).unwrap();
        let leader = axha_exec::read_identity(pid).unwrap();
        let out = terminate(
            &leader,
            &Deadline::after(Duration::from_secs(5)),
            &Deadline::after(Duration::from_secs(6)),
        )
        .unwrap();
        assert!(matches!(out, StopOutcome::Graceful { .. }), "{out:?}");
        assert_eq!(
            terminate(
                &leader,
                &Deadline::after(Duration::from_secs(1)),
                &Deadline::after(Duration::from_secs(1))
            )
            .unwrap(),
            StopOutcome::NotRunning
        );
    }
}
