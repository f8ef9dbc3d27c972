//! Bounded calls of `drbdadm` and `drbdsetup`.
//!
//! Every command runs through a [`Runner`] (by default [`SystemRunner`] over `axha_exec::Cmd`:
//! `LC_ALL=C`, scrubbed environment, own process group killed at the deadline), so the policy
//! code above it can be tested against recorded output. State is read from
//! `drbdsetup events2 --now` only: `drbdadm status` colours its output on DRBD 8.4 even when
//! not on a terminal and has no `--color` switch there.

use std::fmt;
use std::path::{Path, PathBuf};

use axha_exec::{Cmd, Deadline, ExecError, Output};

use crate::events2::{parse_resource, ParseError, Resource};
use crate::version::{parse_module_version, BadVersion, ModuleVersion};

/// Runs a prepared command; replaced by recorded output in tests.
pub trait Runner {
    /// Run `cmd` within `deadline`.
    fn run(&self, cmd: &Cmd, deadline: &Deadline) -> Result<Output, ExecError>;
}

/// Runs commands for real.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, cmd: &Cmd, deadline: &Deadline) -> Result<Output, ExecError> {
        cmd.run(deadline)
    }
}

/// What went wrong talking to DRBD. Every variant keeps the command or value at fault.
#[derive(Debug)]
pub enum Error {
    /// The tool could not be started, or passed the deadline (and was killed).
    Exec(ExecError),
    /// The tool ran and failed.
    Failed {
        /// The command line.
        argv: String,
        /// Its exit code (`None` when a signal ended it).
        code: Option<i32>,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Its output could not be understood.
    Parse {
        /// The command line.
        argv: String,
        /// What could not be understood.
        source: ParseError,
    },
    /// The kernel module is not loaded (no `/proc/drbd`).
    ModuleNotLoaded,
    /// The module's version text could not be read.
    Version(BadVersion),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Exec(e) => write!(f, "{e}"),
            Error::Failed { argv, code, stderr } => {
                let last = stderr.trim().lines().last().unwrap_or("").trim();
                match code {
                    Some(c) => write!(f, "{argv} failed (exit code {c})")?,
                    None => write!(f, "{argv} was killed by a signal")?,
                }
                if !last.is_empty() {
                    write!(f, ": {last}")?;
                }
                Ok(())
            }
            Error::Parse { argv, source } => write!(f, "{argv}: {source}"),
            Error::ModuleNotLoaded => write!(f, "the drbd kernel module is not loaded"),
            Error::Version(e) => write!(f, "{e}"),
        }
    }
}

/// No `source()`: the message already includes the cause, which stays in the variant.
impl std::error::Error for Error {}

impl Error {
    /// True when the command was killed at its deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Exec(e) if e.is_timeout())
    }
    /// True when the tool is not installed.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Exec(e) if e.is_not_found())
    }
    /// The tool's exit code when it ran and failed.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Error::Failed { code, .. } => *code,
            _ => None,
        }
    }
}

/// `drbdsetup`/`drbdadm` exit code for "no such resource/minor" (drbdsetup(8): 10 is a
/// kernel-side failure such as an unknown object).
const EXIT_KERNEL_FAILURE: i32 = 10;

/// A driver for one DRBD configuration file.
#[derive(Debug, Clone)]
pub struct Drbd<R: Runner = SystemRunner> {
    runner: R,
    drbdadm: PathBuf,
    drbdsetup: PathBuf,
    config: Option<PathBuf>,
}

impl Drbd<SystemRunner> {
    /// The tools from `PATH` and drbdadm's default configuration file.
    pub fn new() -> Self {
        Drbd::with_runner(SystemRunner)
    }
}

impl Default for Drbd<SystemRunner> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Runner> Drbd<R> {
    /// A driver whose commands go through `runner` (recorded output in tests).
    pub fn with_runner(runner: R) -> Self {
        Drbd {
            runner,
            drbdadm: PathBuf::from("drbdadm"),
            drbdsetup: PathBuf::from("drbdsetup"),
            config: None,
        }
    }

    /// Use this configuration file (`drbdadm -c FILE`) instead of drbdadm's default.
    pub fn config(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = Some(path.into());
        self
    }

    /// The configuration file passed to drbdadm with `-c`, if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    fn drbdadm(&self) -> Cmd {
        let c = Cmd::new(&self.drbdadm);
        match &self.config {
            Some(p) => c.arg("-c").arg(p),
            None => c,
        }
    }

    fn run_ok(&self, cmd: Cmd, deadline: &Deadline) -> Result<Output, Error> {
        let out = self.runner.run(&cmd, deadline).map_err(Error::Exec)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(Error::Failed {
                argv: cmd.display(),
                code: out.code(),
                stderr: out.stderr_str(),
            })
        }
    }

    /// The resource as the kernel sees it now, or `None` when it is not configured here.
    pub fn status(&self, resource: &str, deadline: &Deadline) -> Result<Option<Resource>, Error> {
        let cmd = Cmd::new(&self.drbdsetup).args(["events2", "--now", "--statistics", resource]);
        let out = self.runner.run(&cmd, deadline).map_err(Error::Exec)?;
        let stderr = out.stderr_str();
        if !out.status.success() {
            // DRBD 9's drbdsetup fails for an unknown resource; 8.4's prints an empty dump.
            if out.code() == Some(EXIT_KERNEL_FAILURE) && stderr.contains("No such resource") {
                return Ok(None);
            }
            return Err(Error::Failed {
                argv: cmd.display(),
                code: out.code(),
                stderr,
            });
        }
        parse_resource(&out.stdout_str(), resource).map_err(|source| Error::Parse {
            argv: cmd.display(),
            source,
        })
    }

    /// Check that the configuration names `resource` and is valid for this host
    /// (`drbdadm dump`; it fails on syntax errors and on resources without a section for us).
    pub fn check_config(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.run_ok(self.drbdadm().args(["dump", resource]), deadline)
            .map(|_| ())
    }

    fn adm(&self, args: &[&str], deadline: &Deadline) -> Result<(), Error> {
        self.run_ok(self.drbdadm().args(args), deadline).map(|_| ())
    }

    /// Attach the disk and start connecting (`drbdadm up`).
    pub fn up(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.adm(&["up", resource], deadline)
    }

    /// Bring the running resource in line with the configuration (`drbdadm adjust`): attaches
    /// a detached disk and reconnects a disconnected peer without touching what is fine.
    pub fn adjust(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.adm(&["adjust", resource], deadline)
    }

    /// Disconnect, detach and remove the resource from the kernel (`drbdadm down`).
    pub fn down(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.adm(&["down", resource], deadline)
    }

    /// Remove the resource from the kernel without reading the configuration file
    /// (`drbdsetup down`): the way out when the configuration is broken or gone.
    pub fn setup_down(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.run_ok(Cmd::new(&self.drbdsetup).args(["down", resource]), deadline)
            .map(|_| ())
    }

    /// The configuration of `resource` as drbdadm understands it (`drbdadm dump`).
    pub fn dump(&self, resource: &str, deadline: &Deadline) -> Result<String, Error> {
        self.run_ok(self.drbdadm().args(["dump", resource]), deadline)
            .map(|o| o.stdout_str())
    }

    /// `drbdadm primary`: make the resource Primary here.
    pub fn primary(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.adm(&["primary", resource], deadline)
    }

    /// `drbdadm secondary`; with `force` (DRBD 9 only) I/O still in flight is failed instead of
    /// waited for, so a hung opener cannot keep the node Primary.
    pub fn secondary(&self, resource: &str, force: bool, deadline: &Deadline) -> Result<(), Error> {
        if force {
            self.adm(&["secondary", "--force", resource], deadline)
        } else {
            self.adm(&["secondary", resource], deadline)
        }
    }

    /// `drbdadm connect`: connect to the peers.
    pub fn connect(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.adm(&["connect", resource], deadline)
    }

    /// `drbdadm disconnect`: drop the connections to the peers.
    pub fn disconnect(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.adm(&["disconnect", resource], deadline)
    }

    /// Mark the local data Outdated (only allowed while disconnected or Secondary).
    pub fn outdate(&self, resource: &str, deadline: &Deadline) -> Result<(), Error> {
        self.adm(&["outdate", resource], deadline)
    }
}

/// The loaded module's version, from `/sys/module/drbd/version` or `/proc/drbd`.
pub fn read_module_version() -> Result<ModuleVersion, Error> {
    let text = std::fs::read_to_string("/sys/module/drbd/version")
        .or_else(|_| std::fs::read_to_string("/proc/drbd"))
        .map_err(|_| Error::ModuleNotLoaded)?;
    parse_module_version(&text).map_err(Error::Version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;
    use std::time::Duration;

    /// Answers every command with a recorded (code, stdout, stderr) and remembers the argv.
    struct Recorded {
        answer: (i32, &'static str, &'static str),
        seen: RefCell<Vec<String>>,
    }

    impl Runner for Recorded {
        fn run(&self, cmd: &Cmd, _: &Deadline) -> Result<Output, ExecError> {
            self.seen.borrow_mut().push(cmd.display());
            Ok(Output {
                status: ExitStatus::from_raw(self.answer.0 << 8),
                stdout: self.answer.1.as_bytes().to_vec(),
                stderr: self.answer.2.as_bytes().to_vec(),
            })
        }
    }

    fn drbd(code: i32, out: &'static str, err: &'static str) -> Drbd<Recorded> {
        Drbd::with_runner(Recorded {
            answer: (code, out, err),
            seen: RefCell::new(Vec::new()),
        })
        .config("/etc/drbd.conf")
    }

    fn d() -> Deadline {
        Deadline::after(Duration::from_secs(5))
    }

    #[test]
    fn status_of_unconfigured_resource_is_none() {
        assert!(drbd(0, "exists -\n", "")
            .status("r0", &d())
            .unwrap()
            .is_none());
        let nine = drbd(10, "", "r0: No such resource\n");
        assert!(nine.status("r0", &d()).unwrap().is_none());
    }

    #[test]
    fn status_failure_keeps_argv_and_stderr() {
        let e = drbd(20, "", "boom\n").status("r0", &d()).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("drbdsetup events2 --now --statistics r0"), "{s}");
        assert!(s.ends_with("boom"), "{s}");
        assert_eq!(e.exit_code(), Some(20));
    }

    #[test]
    fn garbage_status_is_a_parse_error() {
        let e = drbd(0, "what is this\n", "")
            .status("r0", &d())
            .unwrap_err();
        assert!(matches!(e, Error::Parse { .. }), "{e:?}");
    }

    #[test]
    fn drbdadm_gets_the_config_file() {
        let x = drbd(0, "", "");
        x.up("r0", &d()).unwrap();
        x.secondary("r0", true, &d()).unwrap();
        let seen = x.runner.seen.borrow();
        assert_eq!(seen[0], "drbdadm -c /etc/drbd.conf up r0");
        assert_eq!(seen[1], "drbdadm -c /etc/drbd.conf secondary --force r0");
    }
}
