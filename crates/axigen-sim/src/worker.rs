//! The worker process: serves the listening sockets it inherited from the supervisor, one
//! thread per connection. Started as `axigen-sim --worker -W DIR --listener SERVICE=FD ...`.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use axha_axigen::config::Service;

use crate::faults::{Fault, Faults};
use crate::session::SessionEnv;
use crate::store::Store;
use crate::workdir::Workdir;
use crate::{log, SimError};

/// Connections served at once; more are closed at accept.
pub const MAX_CONNECTIONS: usize = 1024;
/// How often the watcher looks at the crash fault and the supervisor.
const WATCH_TICK: Duration = Duration::from_millis(200);
/// Exit code of a worker that "crashed" on purpose.
pub const CRASH_EXIT: i32 = 70;

/// Parse one `SERVICE=FD` argument.
pub fn parse_listener_arg(arg: &str) -> Result<(Service, RawFd), SimError> {
    let bad = || SimError::Usage(format!("bad --listener '{arg}' (expected SERVICE=FD)"));
    let (s, fd) = arg.split_once('=').ok_or_else(bad)?;
    let service = Service::from_section(s).ok_or_else(bad)?;
    let fd: RawFd = fd.parse().map_err(|_| bad())?;
    if fd < 3 {
        return Err(bad());
    }
    Ok((service, fd))
}

/// Run the worker; returns only on a setup error (the process otherwise ends by `exit`).
pub fn run(workdir: &Workdir, listeners: &[(Service, RawFd)]) -> Result<(), SimError> {
    crate::supervisor::set_process_name("axigen-sim:wrk");
    let faults = Faults::new(workdir.faults_dir());
    if faults.value(Fault::CrashWorker).as_deref() == Some("always") {
        log("worker", "fault crash-worker=always: exiting at start");
        std::process::exit(CRASH_EXIT);
    }
    if listeners.is_empty() {
        return Err(SimError::Usage(
            "a worker needs --listener SERVICE=FD".into(),
        ));
    }
    if let Some((s, fd)) = listeners.iter().find(|(_, fd)| !is_listening_socket(*fd)) {
        return Err(SimError::Usage(format!(
            "--listener {s}={fd}: not an inherited listening socket"
        )));
    }
    let supervisor = std::os::unix::process::parent_id();
    crate::supervisor::block_stop_signals();
    let sig_faults = faults.clone();
    thread::spawn(move || loop {
        let sig = crate::supervisor::wait_stop_signal();
        if sig == libc::SIGTERM && sig_faults.is_set(Fault::IgnoreSigterm) {
            log("worker", "fault ignore-sigterm: SIGTERM ignored");
            continue;
        }
        if sig == libc::SIGHUP {
            continue;
        }
        std::process::exit(0);
    });
    let watch_faults = faults.clone();
    thread::spawn(move || loop {
        thread::sleep(WATCH_TICK);
        if let Some(v) = watch_faults.value(Fault::CrashWorker) {
            if v != "always" {
                watch_faults.take(Fault::CrashWorker);
            }
            log("worker", "fault crash-worker: exiting now");
            // SAFETY: _exit ends the process at once, as a crash would (no destructors).
            unsafe { libc::_exit(CRASH_EXIT) };
        }
        if std::os::unix::process::parent_id() != supervisor {
            log("worker", "supervisor gone: exiting");
            // SAFETY: as above.
            unsafe { libc::_exit(1) };
        }
    });

    let env = Arc::new(SessionEnv {
        store: Store::new(workdir.domains_dir()),
        faults,
        admin_pw_path: workdir.admin_pw_path(),
    });
    let host = Arc::new(hostname());
    let active = Arc::new(AtomicUsize::new(0));
    let mut accepters = Vec::new();
    for &(service, fd) in listeners {
        // SAFETY: the supervisor passed this descriptor for exactly this purpose, open and
        // listening; nothing else in this process owns it.
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        let (env, host, active) = (env.clone(), host.clone(), active.clone());
        accepters.push(thread::spawn(move || {
            accept_loop(service, listener, env, host, active)
        }));
    }
    log(
        "worker",
        &format!("serving {} listener(s)", listeners.len()),
    );
    for a in accepters {
        let _ = a.join();
    }
    Ok(())
}

/// Decrements the connection count when a connection thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);
impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(
    service: Service,
    listener: TcpListener,
    env: Arc<SessionEnv>,
    host: Arc<String>,
    active: Arc<AtomicUsize>,
) {
    loop {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log("worker", &format!("{service}: accept: {e}"));
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            drop(stream);
            continue;
        }
        let slot = Slot(active.clone());
        let (env, host) = (env.clone(), host.clone());
        let spawned = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let _slot = slot;
                crate::conn::serve(service, stream, &env, &host);
            });
        if let Err(e) = spawned {
            log("worker", &format!("cannot start a connection thread: {e}"));
        }
    }
}

/// Whether `fd` is an open socket in the listening state (SO_ACCEPTCONN, socket(7)).
fn is_listening_socket(fd: RawFd) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`; a bad fd only yields an error.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && v != 0
}

/// This host's name (the lab gives every node its own UTS namespace).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_args() {
        assert_eq!(parse_listener_arg("cli=5").unwrap(), (Service::Cli, 5));
        assert_eq!(
            parse_listener_arg("smtpIncoming=7").unwrap(),
            (Service::Smtp, 7)
        );
        for bad in ["cli", "cli=x", "smtp=5", "cli=1", "=5"] {
            assert!(parse_listener_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_listening_sockets_are_accepted() {
        use std::os::fd::AsRawFd;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(is_listening_socket(l.as_raw_fd()));
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        assert!(!is_listening_socket(c.as_raw_fd()));
        let f = std::fs::File::open("/dev/null").unwrap();
        assert!(!is_listening_socket(f.as_raw_fd()));
        assert!(!is_listening_socket(9999));
    }
}
