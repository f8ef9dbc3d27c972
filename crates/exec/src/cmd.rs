use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::Deadline;

/// Inherited variables a child may see. Everything else, in particular `OCF_RESKEY_*` and any
/// variable that could carry a password, is dropped: secrets never reach a child's environment.
const INHERITED_PREFIXES: &[&str] = &["HA_", "PCMK_", "CIB_"];
const INHERITED_NAMES: &[&str] = &["PATH", "HOME", "TMPDIR", "OCF_ROOT", "OCF_FUNCTIONS_DIR"];
const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// How much of stderr an error keeps (the end, where the reason usually is).
const STDERR_TAIL: usize = 2048;
/// After the child exits, how long to wait for its pipes to close (a grandchild that kept
/// them open must not hold the caller).
const PIPE_GRACE: Duration = Duration::from_millis(300);
/// Most a command may print on stdout (and on stderr) before it counts as runaway: far above
/// any CIB or `drbdadm dump` this project reads, far below what would hurt the node.
pub const DEFAULT_MAX_OUTPUT: usize = 64 << 20;

/// What is told of each finished [`Cmd::run`]: the argv (as [`Cmd::display`] shows it; stdin,
/// where a secret may travel, is never included), how it ended, and how long it took.
pub type RunObserver = fn(argv: &str, outcome: &str, elapsed: Duration);

static OBSERVER: OnceLock<RunObserver> = OnceLock::new();

/// Have `f` told of every command this process runs from now on (an agent's step trace,
/// OCF `trace_ra`). Set once per process; a second call is ignored.
pub fn observe_runs(f: RunObserver) {
    let _ = OBSERVER.set(f);
}

/// A command as an argv list. Built with [`Cmd::new`], run with [`Cmd::run`] / [`Cmd::run_ok`].
#[derive(Debug, Clone)]
pub struct Cmd {
    argv: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    cwd: Option<PathBuf>,
    max_output: usize,
}

/// What a finished command left behind.
#[derive(Debug, Clone)]
pub struct Output {
    /// How it ended: exit code or signal.
    pub status: ExitStatus,
    /// Everything it printed on stdout (at most the command's output cap).
    pub stdout: Vec<u8>,
    /// Everything it printed on stderr (at most the command's output cap).
    pub stderr: Vec<u8>,
}

impl Output {
    /// stdout as text, invalid UTF-8 replaced.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// stderr as text, invalid UTF-8 replaced.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// The exit code, or `None` when a signal ended the command.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Why a command did not give a usable result. Every variant names the command.
#[derive(Debug)]
pub enum ExecError {
    /// It could not be started (not found, not executable).
    Spawn {
        /// The command line, quoted for a message.
        argv: String,
        /// Why the system refused to start it.
        source: std::io::Error,
    },
    /// The deadline passed; the whole process group was killed.
    Timeout {
        /// The command line, quoted for a message.
        argv: String,
        /// The end of what it printed on stderr before it was killed.
        stderr: String,
    },
    /// It exited non-zero or was killed by a signal (only from [`Cmd::run_ok`]).
    Failed {
        /// The command line, quoted for a message.
        argv: String,
        /// Its exit code or the signal that ended it.
        status: ExitStatus,
        /// The end of what it printed on stderr.
        stderr: String,
    },
    /// Waiting for it failed.
    Io {
        /// The command line, quoted for a message.
        argv: String,
        /// What waiting for it returned.
        source: std::io::Error,
    },
    /// It printed more than `max` bytes on stdout or stderr; it was killed.
    TooMuchOutput {
        /// The command line, quoted for a message.
        argv: String,
        /// The cap it passed, in bytes.
        max: usize,
    },
}

impl ExecError {
    /// True when the program does not exist (the caller may want "not installed").
    pub fn is_not_found(&self) -> bool {
        matches!(self, ExecError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
    /// True when the deadline passed and the command was killed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ExecError::Timeout { .. })
    }
    /// The exit code for [`ExecError::Failed`].
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ExecError::Failed { status, .. } => status.code(),
            _ => None,
        }
    }
    /// The command line this error is about.
    pub fn argv(&self) -> &str {
        match self {
            ExecError::Spawn { argv, .. }
            | ExecError::Timeout { argv, .. }
            | ExecError::Failed { argv, .. }
            | ExecError::Io { argv, .. }
            | ExecError::TooMuchOutput { argv, .. } => argv,
        }
    }
}

fn describe_status(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "unknown status".to_string(),
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = |s: &str| {
            let s = s.trim();
            if s.is_empty() {
                String::new()
            } else {
                format!(": {}", s.lines().last().unwrap_or(s))
            }
        };
        match self {
            ExecError::Spawn { argv, source } => write!(f, "cannot run {argv}: {source}"),
            ExecError::Timeout { argv, stderr } => write!(f, "{argv} timed out{}", tail(stderr)),
            ExecError::Failed {
                argv,
                status,
                stderr,
            } => write!(
                f,
                "{argv} failed ({}){}",
                describe_status(status),
                tail(stderr)
            ),
            ExecError::Io { argv, source } => write!(f, "waiting for {argv}: {source}"),
            ExecError::TooMuchOutput { argv, max } => {
                write!(f, "{argv} printed more than {max} bytes; killed")
            }
        }
    }
}

/// No `source()`: the message already includes the cause, which stays in the variant.
impl std::error::Error for ExecError {}

impl Cmd {
    /// A command that runs `program` with no arguments yet.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            argv: vec![program.as_ref().to_owned()],
            env: Vec::new(),
            stdin: None,
            cwd: None,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }

    /// A command from a whole argv list (first element is the program).
    ///
    /// # Panics
    /// When `argv` is empty: a caller bug, not an input error.
    pub fn from_argv<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let argv: Vec<OsString> = argv.into_iter().map(|a| a.as_ref().to_owned()).collect();
        assert!(!argv.is_empty(), "Cmd::from_argv needs a program");
        Cmd {
            argv,
            env: Vec::new(),
            stdin: None,
            cwd: None,
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }

    /// Add one argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.argv.push(a.as_ref().to_owned());
        self
    }

    /// Add arguments, in order.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.argv
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Set one variable in the child's (otherwise scrubbed) environment.
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }

    /// Bytes written to the child's stdin (the way to hand a secret to a child).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// The most the command may print on stdout (and on stderr); more kills it with
    /// [`ExecError::TooMuchOutput`]. Default [`DEFAULT_MAX_OUTPUT`].
    pub fn max_output(mut self, bytes: usize) -> Self {
        self.max_output = bytes;
        self
    }

    /// Run the command in `dir` instead of the caller's directory.
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        self.argv
            .iter()
            .map(|a| {
                let s = a.to_string_lossy();
                if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '\'') {
                    format!("'{}'", s.replace('\'', r"'\''"))
                } else {
                    s.into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.argv[0]);
        c.args(&self.argv[1..]);
        c.env_clear();
        for (k, v) in std::env::vars_os() {
            let name = k.to_string_lossy();
            if INHERITED_NAMES.contains(&name.as_ref())
                || INHERITED_PREFIXES.iter().any(|p| name.starts_with(p))
            {
                c.env(&k, &v);
            }
        }
        if std::env::var_os("PATH").is_none() {
            c.env("PATH", DEFAULT_PATH);
        }
        c.env("LC_ALL", "C").env("LANG", "C");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        c
    }

    /// Run to completion or to the deadline. A non-zero exit is not an error here (see
    /// [`Cmd::run_ok`]); passing the deadline kills the command's whole process group.
    pub fn run(&self, deadline: &Deadline) -> Result<Output, ExecError> {
        let Some(observe) = OBSERVER.get() else {
            return self.run_unobserved(deadline);
        };
        let t = Instant::now();
        let r = self.run_unobserved(deadline);
        let outcome = match &r {
            Ok(o) => match o.code() {
                Some(c) => format!("exit {c}"),
                None => format!("killed by signal {}", o.status.signal().unwrap_or(0)),
            },
            Err(e) => e.to_string(),
        };
        observe(&self.display(), &outcome, t.elapsed());
        r
    }

    fn run_unobserved(&self, deadline: &Deadline) -> Result<Output, ExecError> {
        let argv = self.display();
        if deadline.expired() {
            return Err(ExecError::Timeout {
                argv,
                stderr: String::new(),
            });
        }
        let mut c = self.command();
        c.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
        let mut child = c.spawn().map_err(|source| ExecError::Spawn {
            argv: argv.clone(),
            source,
        })?;
        let pgid = child.id() as libc::pid_t;
        if let (Some(data), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            // A child that never reads stdin must not block us: write from a thread.
            thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        let out_rx = reader(child.stdout.take(), self.max_output);
        let err_rx = reader(child.stderr.take(), self.max_output);

        let status = match wait_until(&mut child, deadline) {
            Ok(Some(status)) => status,
            Ok(None) => {
                kill_group(pgid);
                let _ = child.wait();
                let stderr = collect(err_rx, Duration::from_millis(50)).unwrap_or_default();
                return Err(ExecError::Timeout {
                    argv,
                    stderr: tail_str(&stderr),
                });
            }
            Err(source) => {
                kill_group(pgid);
                let _ = child.wait();
                return Err(ExecError::Io { argv, source });
            }
        };
        let grace = deadline.remaining().min(PIPE_GRACE);
        let too_much = || ExecError::TooMuchOutput {
            argv: argv.clone(),
            max: self.max_output,
        };
        let stdout = collect(out_rx, grace).ok_or_else(too_much)?;
        let stderr = collect(err_rx, grace).ok_or_else(too_much)?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// Like [`Cmd::run`], but a non-zero exit or a signal is an [`ExecError::Failed`].
    pub fn run_ok(&self, deadline: &Deadline) -> Result<Output, ExecError> {
        let out = self.run(deadline)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(ExecError::Failed {
                argv: self.display(),
                status: out.status,
                stderr: tail_str(&out.stderr),
            })
        }
    }

    /// Start a daemon in a session of its own (`setsid`), stdin from /dev/null and
    /// stdout/stderr appended to `log` (or discarded). Returns its pid at once; a background
    /// thread reaps it when it ends so that no zombie is ever mistaken for a live process.
    pub fn spawn_detached(&self, log: Option<&Path>) -> Result<u32, ExecError> {
        let argv = self.display();
        let (out, err) = match log {
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| ExecError::Spawn {
                        argv: argv.clone(),
                        source,
                    })?;
                let f2 = f.try_clone().map_err(|source| ExecError::Spawn {
                    argv: argv.clone(),
                    source,
                })?;
                (Stdio::from(f), Stdio::from(f2))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let mut c = self.command();
        c.stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            c.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = c
            .spawn()
            .map_err(|source| ExecError::Spawn { argv, source })?;
        let pid = child.id();
        thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(pid)
    }
}

/// Read a pipe to its end, keeping at most `max` bytes. More than that sends `None` and closes
/// the pipe, so a runaway writer gets SIGPIPE instead of filling memory.
fn reader<R: Read + Send + 'static>(
    pipe: Option<R>,
    max: usize,
) -> mpsc::Receiver<Option<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    if let Some(p) = pipe {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
            let _ = p.take(limit).read_to_end(&mut buf);
            let _ = tx.send((buf.len() <= max).then_some(buf));
        });
    } else {
        let _ = tx.send(Some(Vec::new()));
    }
    rx
}

/// What a reader collected: `None` when the output went past the cap; empty when the pipe
/// stayed open past the grace (a grandchild holding it).
fn collect(rx: mpsc::Receiver<Option<Vec<u8>>>, grace: Duration) -> Option<Vec<u8>> {
    rx.recv_timeout(grace.max(Duration::from_millis(1)))
        .unwrap_or(Some(Vec::new()))
}

fn tail_str(b: &[u8]) -> String {
    let start = b.len().saturating_sub(STDERR_TAIL);
    String::from_utf8_lossy(&b[start..]).into_owned()
}

/// Wait for the child with a short back-off (1 ms growing to 20 ms), so quick commands cost
/// little latency and slow ones little CPU. `Ok(None)` = deadline passed.
fn wait_until(child: &mut Child, deadline: &Deadline) -> std::io::Result<Option<ExitStatus>> {
    let mut step = Duration::from_millis(1);
    loop {
        if let Some(st) = child.try_wait()? {
            return Ok(Some(st));
        }
        if !deadline.sleep(step) {
            return child.try_wait();
        }
        step = (step * 2).min(Duration::from_millis(20));
    }
}

fn kill_group(pgid: libc::pid_t) {
    // SAFETY: plain syscall; a negative pid addresses the process group we created.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn d(ms: u64) -> Deadline {
        Deadline::after(Duration::from_millis(ms))
    }

    #[test]
    fn captures_output_and_status() {
        let out = Cmd::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .run(&d(5000))
            .expect("sh runs");
        assert_eq!(out.code(), Some(3));
        assert_eq!(out.stdout_str(), "out\n");
        assert_eq!(out.stderr_str(), "err\n");
    }

    #[test]
    fn run_ok_reports_argv_status_and_stderr() {
        let e = Cmd::new("sh")
            .args(["-c", "echo boom >&2; exit 4"])
            .run_ok(&d(5000))
            .unwrap_err();
        assert_eq!(e.exit_code(), Some(4));
        let msg = e.to_string();
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("exit code 4"), "{msg}");
        assert!(msg.ends_with("boom"), "{msg}");
    }

    #[test]
    fn runaway_output_is_cut_and_reported() {
        let e = Cmd::new("cat")
            .arg("/dev/zero")
            .max_output(4096)
            .run(&d(20_000))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cat /dev/zero printed more than 4096 bytes; killed"
        );
        let out = Cmd::new("printf")
            .arg("1234")
            .max_output(4)
            .run(&d(5000))
            .unwrap();
        assert_eq!(out.stdout, b"1234");
    }

    #[test]
    fn missing_program_is_not_found() {
        let e = Cmd::new("/nonexistent/prog").run(&d(1000)).unwrap_err();
        assert!(e.is_not_found());
    }

    #[test]
    fn deadline_kills_whole_group() {
        let dir = std::env::temp_dir().join(format!("axha-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let t = Instant::now();
        let e = Cmd::new("sh")
            .args(["-c", &script])
            .run(&d(300))
            .unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
        let gc: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild was in the group: it must be gone (or a zombie awaiting its reaper).
        let gone = Deadline::after(Duration::from_secs(2)).poll(Duration::from_millis(20), || {
            match std::fs::read_to_string(format!("/proc/{gc}/stat")) {
                Err(_) => Some(()),
                Ok(s)
                    if s.rsplit(')')
                        .next()
                        .unwrap_or("")
                        .trim_start()
                        .starts_with('Z') =>
                {
                    Some(())
                }
                Ok(_) => None,
            }
        });
        assert!(gone.is_some(), "grandchild {gc} survived the deadline");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn grandchild_holding_pipe_does_not_block() {
        let t = Instant::now();
        let out = Cmd::new("sh")
            .args(["-c", "setsid sleep 3 & echo hi"])
            .run(&d(10_000))
            .unwrap();
        assert_eq!(out.code(), Some(0));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[test]
    fn environment_is_scrubbed_and_c_locale() {
        std::env::set_var("AXHA_TEST_SECRET", "hunter2");
        std::env::set_var("OCF_RESKEY_password", "hunter2");
        std::env::set_var("HA_debug", "1");
        let out = Cmd::new("env").env("EXTRA", "x").run_ok(&d(5000)).unwrap();
        let env = out.stdout_str();
        assert!(!env.contains("hunter2"), "{env}");
        assert!(env.contains("LC_ALL=C\n"));
        assert!(env.contains("HA_debug=1\n"));
        assert!(env.contains("EXTRA=x\n"));
    }

    #[test]
    fn stdin_is_delivered() {
        let out = Cmd::new("cat").stdin("secret\n").run_ok(&d(5000)).unwrap();
        assert_eq!(out.stdout_str(), "secret\n");
    }

    #[test]
    fn spawn_detached_makes_new_session() {
        let pid = Cmd::new("sleep").arg("5").spawn_detached(None).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        // after the name: state ppid pgrp session (proc(5)); a new session leader has sid = pid
        assert_eq!(fields[3], pid.to_string());
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }

    #[test]
    fn display_quotes() {
        let c = Cmd::new("a").args(["b c", "", "d'e"]);
        assert_eq!(c.display(), r"a 'b c' '' 'd'\''e'");
    }
}
