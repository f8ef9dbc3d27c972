//! The supervisor: reads the configuration, daemonizes (unless `--foreground`), writes the pid
//! file, binds every listener, starts the worker with the sockets inherited and restarts it
//! when it dies, and stops cleanly on SIGTERM.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use axha_axigen::config::{Config, Service};
use axha_exec::{read_identity, Deadline};

use crate::faults::{Fault, Faults};
use crate::workdir::{write_atomic, Workdir};
use crate::{log, SimError};

/// Supervisor loop period: how fast a dead worker or a fault switch is noticed.
const TICK: Duration = Duration::from_millis(100);
/// A worker that lived less than this is "crashing": restarts back off up to [`MAX_BACKOFF`].
const STABLE_AFTER: Duration = Duration::from_secs(2);
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long the worker gets to end after SIGTERM before SIGKILL.
const WORKER_STOP_GRACE: Duration = Duration::from_secs(5);

/// `axigen-sim -W DIR [--foreground] [--config PATH]`.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The Axigen working directory (`-W`).
    pub workdir: PathBuf,
    /// The configuration file, when not `run/axigen.cfg` (`-C`).
    pub config: Option<PathBuf>,
    /// Instead of `DIR/run/axigen.pid`.
    pub pid_file: Option<PathBuf>,
    /// Stay attached instead of daemonizing (`--foreground`).
    pub foreground: bool,
}

/// Start the server. With `foreground`, returns when the supervisor stops. Without, returns in
/// the launching process once the daemonized supervisor has bound its listeners (or failed:
/// its reason is the error; or, under the `slow-start` fault, once it runs), and in the
/// supervisor itself when it stops.
pub fn start(opts: &StartOptions) -> Result<(), SimError> {
    let workdir = Workdir::new(&opts.workdir)?.with_pid_file(opts.pid_file.as_deref());
    let cfg_path = match &opts.config {
        Some(p) => std::path::absolute(p).unwrap_or_else(|_| p.clone()),
        None => workdir.config_path(),
    };
    let cfg = Config::read(&cfg_path)?;
    let listeners: Vec<(Service, SocketAddr)> = cfg
        .listeners()
        .into_iter()
        .map(|l| (l.service, l.addr))
        .collect();
    if listeners.is_empty() {
        return Err(SimError::NoListeners(cfg_path));
    }
    check_not_running(&workdir)?;
    workdir.create_layout()?;
    let notifier = if opts.foreground {
        Notifier(None)
    } else {
        match daemonize(&workdir)? {
            Role::Launcher(result) => return result,
            Role::Supervisor(n) => n,
        }
    };
    supervise(&workdir, &listeners, notifier)
}

/// The pid of the supervisor serving `workdir`, from its pid file, if it runs.
pub fn running_pid(workdir: &Workdir) -> Option<u32> {
    let pid = std::fs::read_to_string(workdir.pid_path())
        .ok()?
        .trim()
        .parse::<u32>()
        .ok()?;
    serves_workdir(pid, workdir).then_some(pid)
}

/// `axigen-sim stop`: SIGTERM to the supervisor's process group, then wait for the
/// supervisor to end until `deadline`. Ok(false) when it was not running; an error naming the
/// pid when it outlived the deadline (the `ignore-sigterm` fault, a hang).
pub fn stop(workdir: &Workdir, deadline: &Deadline) -> Result<bool, SimError> {
    let Some(pid) = running_pid(workdir) else {
        return Ok(false);
    };
    let identity = read_identity(pid);
    // SAFETY: plain syscall; the pid was just checked to be this workdir's supervisor, which
    // leads its process group when daemonized (else only the process itself is signalled).
    unsafe {
        if libc::kill(-(pid as libc::pid_t), libc::SIGTERM) != 0 {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    let gone = deadline
        .poll(Duration::from_millis(100), || {
            (!identity.as_ref().is_some_and(|i| i.is_alive())).then_some(())
        })
        .is_some();
    if gone {
        Ok(true)
    } else {
        Err(SimError::StillRunning { pid })
    }
}

/// Refuse to start a second supervisor on a workdir whose pid file names a live one: an
/// axigen-sim process whose `-W` is this workdir. A stale pid file (a crashed supervisor, a
/// pid now used by something else) does not count.
fn check_not_running(workdir: &Workdir) -> Result<(), SimError> {
    let pid_file = workdir.pid_path();
    match running_pid(workdir) {
        Some(pid) if pid != std::process::id() => Err(SimError::AlreadyRunning { pid, pid_file }),
        _ => Ok(()),
    }
}

/// Whether live process `pid` is an axigen-sim started with `-W` naming `workdir` (a relative
/// `-W` is resolved against that process's current directory).
fn serves_workdir(pid: u32, workdir: &Workdir) -> bool {
    let is_sim = read_identity(pid).is_some_and(|id| {
        id.exe
            .as_ref()
            .and_then(|e| e.file_name())
            .is_some_and(|n| n.to_string_lossy().starts_with("axigen-sim"))
    });
    if !is_sim {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let Some(w) = args
        .iter()
        .position(|a| a == "-W" || a == "--workdir")
        .and_then(|i| args.get(i + 1))
    else {
        return false;
    };
    let w = PathBuf::from(w);
    let w = if w.is_absolute() {
        w
    } else {
        match std::fs::read_link(format!("/proc/{pid}/cwd")) {
            Ok(cwd) => cwd.join(w),
            Err(_) => return false,
        }
    };
    let norm = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    norm(&w) == norm(workdir.root())
}

/// The write end of the pipe to the launching command (daemon mode).
struct Notifier(Option<File>);

impl Notifier {
    fn send(&mut self, msg: &str) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(msg.as_bytes());
        }
    }
    fn ok(&mut self) {
        self.send("ok\n");
    }
    fn fail(&mut self, e: &SimError) {
        self.send(&format!("error: {e}\n"));
    }
}

enum Role {
    Launcher(Result<(), SimError>),
    Supervisor(Notifier),
}

/// Double fork and `setsid`, like a classic daemon: the supervisor runs in a session of its
/// own (without a terminal), leads its own process group (pgid = the pid in the pid file, so
/// the whole server can be signalled as a group), its output goes to the log file, and the
/// launcher learns through a pipe whether it started.
fn daemonize(workdir: &Workdir) -> Result<Role, SimError> {
    let log_path = workdir.log_path();
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| SimError::Io {
            what: "opening",
            path: log_path.clone(),
            source,
        })?;
    let mut fds = [0 as RawFd; 2];
    // SAFETY: plain syscalls on a single-threaded process (no thread has been started yet:
    // forking is safe); every descriptor is owned and closed below.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(SimError::Io {
                what: "creating a pipe for",
                path: log_path,
                source: std::io::Error::last_os_error(),
            });
        }
        let (rd, wr) = (fds[0], fds[1]);
        match libc::fork() {
            -1 => Err(SimError::Io {
                what: "forking for",
                path: log_path,
                source: std::io::Error::last_os_error(),
            }),
            0 => {
                libc::close(rd);
                libc::setsid();
                match libc::fork() {
                    0 => {
                        // Lead a process group of its own (pgid = pid) so that the
                        // server is signalled as one group by the pid in the pid file.
                        libc::setpgid(0, 0);
                        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
                        if devnull >= 0 {
                            libc::dup2(devnull, 0);
                            libc::close(devnull);
                        }
                        libc::dup2(log_file.as_raw_fd(), 1);
                        libc::dup2(log_file.as_raw_fd(), 2);
                        drop(log_file);
                        libc::umask(0o022);
                        Ok(Role::Supervisor(Notifier(Some(File::from_raw_fd(wr)))))
                    }
                    _ => libc::_exit(0),
                }
            }
            child => {
                libc::close(wr);
                let mut status = 0;
                libc::waitpid(child, &mut status, 0);
                let mut msg = String::new();
                let _ = File::from_raw_fd(rd).read_to_string(&mut msg);
                let msg = msg.trim();
                Ok(Role::Launcher(if msg == "ok" {
                    Ok(())
                } else if let Some(e) = msg.strip_prefix("error: ") {
                    Err(SimError::Start(e.to_string()))
                } else {
                    Err(SimError::Start(format!(
                        "the supervisor ended during start (see {})",
                        log_path.display()
                    )))
                }))
            }
        }
    }
}

fn stop_sigset() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local value.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Block SIGTERM, SIGINT and SIGHUP in this thread and the threads it starts later, so that
/// one thread takes them synchronously with [`wait_stop_signal`].
pub fn block_stop_signals() {
    let set = stop_sigset();
    // SAFETY: changes this thread's signal mask only.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Wait for one of the blocked stop signals; returns its number.
pub fn wait_stop_signal() -> i32 {
    let set = stop_sigset();
    let mut sig = 0;
    // SAFETY: sigwait writes the signal number into `sig`.
    unsafe {
        libc::sigwait(&set, &mut sig);
    }
    sig
}

/// Set the process name shown by `ps -o comm` / `/proc/PID/comm` (15 bytes at most).
pub fn set_process_name(name: &str) {
    let mut buf = [0u8; 16];
    for (b, c) in buf.iter_mut().zip(name.bytes().take(15)) {
        *b = c;
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, buf.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

fn supervise(
    workdir: &Workdir,
    addrs: &[(Service, SocketAddr)],
    mut notifier: Notifier,
) -> Result<(), SimError> {
    let faults = Faults::new(workdir.faults_dir());
    block_stop_signals();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (stop, faults) = (stop.clone(), faults.clone());
        thread::spawn(move || loop {
            match wait_stop_signal() {
                libc::SIGHUP => {}
                libc::SIGTERM if faults.is_set(Fault::IgnoreSigterm) => {
                    log("supervisor", "fault ignore-sigterm: SIGTERM ignored");
                }
                sig => {
                    log("supervisor", &format!("signal {sig}: stopping"));
                    stop.store(true, Ordering::SeqCst);
                }
            }
        });
    }
    let pid_path = workdir.pid_path();
    if let Err(e) = write_atomic(
        &pid_path,
        format!("{}\n", std::process::id()).as_bytes(),
        0o644,
    ) {
        notifier.fail(&e);
        return Err(e);
    }
    let cleanup = || {
        let _ = std::fs::remove_file(&pid_path);
    };
    if faults.value(Fault::Hang).is_some_and(|v| v != "persistent") {
        faults.take(Fault::Hang);
    }
    if let Some(secs) = faults.slow_start() {
        log(
            "supervisor",
            &format!("fault slow-start: waiting {secs}s before listening"),
        );
        notifier.ok();
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            thread::sleep(TICK);
        }
        if stop.load(Ordering::SeqCst) {
            cleanup();
            log("supervisor", "stopped during slow start");
            return Ok(());
        }
    }
    let mut listeners = Vec::new();
    for &(service, addr) in addrs {
        match TcpListener::bind(addr) {
            Ok(l) => listeners.push((service, l)),
            Err(source) => {
                let e = if source.kind() == std::io::ErrorKind::AddrInUse {
                    SimError::AddrInUse(addr)
                } else {
                    SimError::Bind { addr, source }
                };
                log("supervisor", &e.to_string());
                cleanup();
                notifier.fail(&e);
                return Err(e);
            }
        }
    }
    notifier.ok();
    let shown: Vec<String> = listeners
        .iter()
        .map(|(s, l)| {
            format!(
                "{s}={}",
                l.local_addr().map(|a| a.to_string()).unwrap_or_default()
            )
        })
        .collect();
    log("supervisor", &format!("listening: {}", shown.join(" ")));

    let mut worker: Option<(Child, Instant)> = None;
    let mut next_spawn = Instant::now();
    let mut backoff = MIN_BACKOFF;
    while !stop.load(Ordering::SeqCst) {
        if faults.is_set(Fault::CrashSupervisor) {
            faults.take(Fault::CrashSupervisor);
            log("supervisor", "fault crash-supervisor: SIGKILL to myself");
            // SAFETY: plain syscall; the point is to die without any cleanup.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
        if let Some((child, started)) = &mut worker {
            if let Ok(Some(status)) = child.try_wait() {
                backoff = if started.elapsed() < STABLE_AFTER {
                    (backoff * 2).min(MAX_BACKOFF)
                } else {
                    MIN_BACKOFF
                };
                log(
                    "supervisor",
                    &format!(
                        "worker {} ended ({status}); restarting in {backoff:?}",
                        child.id()
                    ),
                );
                next_spawn = Instant::now() + backoff;
                worker = None;
            }
        }
        if worker.is_none() && Instant::now() >= next_spawn {
            match spawn_worker(workdir, &listeners) {
                Ok(c) => {
                    log("supervisor", &format!("worker {} started", c.id()));
                    worker = Some((c, Instant::now()));
                }
                Err(e) => {
                    log("supervisor", &format!("cannot start a worker: {e}"));
                    next_spawn = Instant::now() + MAX_BACKOFF;
                }
            }
        }
        thread::sleep(TICK);
    }
    if let Some((mut child, _)) = worker {
        // SAFETY: plain syscall on our own child's pid (not yet reaped, so not reused).
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let until = Instant::now() + WORKER_STOP_GRACE;
        while !matches!(child.try_wait(), Ok(Some(_))) {
            if Instant::now() >= until {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    drop(listeners);
    cleanup();
    log("supervisor", "stopped");
    Ok(())
}

/// Start `axigen-sim --worker` with the listening sockets inherited (their close-on-exec flag
/// cleared in the child only), killed if the supervisor dies, signals unblocked.
fn spawn_worker(workdir: &Workdir, listeners: &[(Service, TcpListener)]) -> std::io::Result<Child> {
    // The binary's own path (so the worker's comm starts as "axigen-sim"), or
    // /proc/self/exe when that file was replaced or removed while running.
    let exe = std::env::current_exe()
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
    let mut c = Command::new(exe);
    c.arg0(
        std::env::args_os()
            .next()
            .unwrap_or_else(|| "axigen-sim".into()),
    );
    c.arg("--worker").arg("-W").arg(workdir.root());
    let fds: Vec<RawFd> = listeners.iter().map(|(_, l)| l.as_raw_fd()).collect();
    for (s, l) in listeners {
        c.arg("--listener")
            .arg(format!("{}={}", s.section(), l.as_raw_fd()));
    }
    c.stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls (fcntl, prctl, sigprocmask) between fork and exec;
    // `fds` is read, not allocated.
    unsafe {
        c.pre_exec(move || {
            for fd in &fds {
                if libc::fcntl(*fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
    c.spawn()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_pid_ignores_garbage_and_other_programs() {
        let d = std::env::temp_dir().join(format!("axsim-sup-{}", std::process::id()));
        let w = Workdir::new(&d).unwrap();
        w.create_layout().unwrap();
        assert_eq!(running_pid(&w), None, "no pid file");
        for text in ["garbage\n", "", "1\n", &format!("{}\n", std::process::id())] {
            std::fs::write(w.pid_path(), text).unwrap();
            assert_eq!(running_pid(&w), None, "{text:?}");
            assert!(check_not_running(&w).is_ok());
        }
        assert!(!stop(&w, &Deadline::after(Duration::from_secs(1))).unwrap());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
