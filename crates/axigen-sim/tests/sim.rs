//! Black-box tests of the `axigen-sim` binary (the Axigen stand-in: Axigen itself cannot be
//! installed here), driven through the real CLI client and probes of `axha-axigen`.
//!
//! Every test makes its own workdir and ports on 127.0.0.1 (derived from the pid, checked
//! free), and its guard kills by pid whatever it started, even when an assertion fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use axha_axigen::cli::{CliClient, CliError};
use axha_axigen::probe::{greeting, Outcome, Protocol};
use axha_exec::{read_identity, Deadline};

const BIN: &str = env!("CARGO_BIN_EXE_axigen-sim");
static NEXT: AtomicU16 = AtomicU16::new(0);

/// Offsets of `Config::default_for` with a base port.
const SMTP: u16 = 0;
const POP3: u16 = 1;
const IMAP: u16 = 2;
const CLI: u16 = 3;
const WEBADMIN: u16 = 5;

/// Six consecutive free ports, different for each test of this run and likely different
/// from other runs (derived from the pid).
fn free_base() -> u16 {
    let pid = std::process::id() as u16;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = 20000 + (pid % 500) * 24 + n * 6;
        let base = 20000 + (base - 20000) % 12000;
        if (0..6).all(|o| TcpListener::bind(("127.0.0.1", base + o)).is_ok()) {
            return base;
        }
    }
}

struct Sim {
    dir: PathBuf,
    base: u16,
    /// Supervisor pids seen (each leads the process group of its server).
    groups: std::cell::RefCell<Vec<u32>>,
}

impl Sim {
    fn new(tag: &str) -> Sim {
        let dir = std::env::temp_dir().join(format!("axsim-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let base = free_base();
        let s = Sim {
            dir,
            base,
            groups: Default::default(),
        };
        let pwfile = s.dir.with_extension("pw");
        std::fs::write(&pwfile, "t0p secret\n").unwrap();
        let out = s.run(&[
            "init",
            "-W",
            s.dir.to_str().unwrap(),
            "--address",
            "127.0.0.1",
            "--base-port",
            &base.to_string(),
            "--admin-password-file",
            pwfile.to_str().unwrap(),
        ]);
        std::fs::remove_file(&pwfile).unwrap();
        assert!(out.status.success(), "init: {}", stderr(&out));
        s
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run axigen-sim")
    }

    fn w(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// `axigen-sim -W DIR`: returns once the daemon runs; records its pid for cleanup.
    fn start(&self) -> Output {
        let out = self.run(&["-W", self.w()]);
        if let Some(pid) = self.pid() {
            self.groups.borrow_mut().push(pid);
        }
        out
    }

    fn start_ok(&self) -> u32 {
        let out = self.start();
        assert!(out.status.success(), "start: {}", stderr(&out));
        self.pid().expect("pid file after start")
    }

    fn fault(&self, args: &[&str]) {
        let mut a = vec!["fault", "-W", self.w()];
        a.extend_from_slice(args);
        let out = self.run(&a);
        assert!(out.status.success(), "fault {args:?}: {}", stderr(&out));
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("run/axigen.pid")
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn addr(&self, offset: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.base + offset))
    }

    fn cli(&self, within: Duration) -> Result<CliClient, CliError> {
        CliClient::connect(self.addr(CLI), &Deadline::after(within))
    }

    fn version_ok(&self) -> bool {
        self.cli(Duration::from_secs(2))
            .and_then(|mut c| c.get_version())
            .is_ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/axigen-sim.log")).unwrap_or_default()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        for pgid in self.groups.borrow().iter() {
            for pid in group_members(*pgid) {
                // SAFETY: plain syscall; the pid is a live axigen-sim of a group this test
                // started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Live (non-zombie) axigen-sim processes of process group `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // after the name: state ppid pgrp (proc(5))
        if f.len() > 2 && f[2] == pgid.to_string() && f[0] != "Z" && is_sim(pid) {
            out.push(pid);
        }
    }
    out
}

fn is_sim(pid: u32) -> bool {
    read_identity(pid)
        .and_then(|i| i.exe)
        .and_then(|e| e.file_name().map(|n| n.to_string_lossy().into_owned()))
        .is_some_and(|n| n.starts_with("axigen-sim"))
}

/// The worker: the axigen-sim `--worker` of the supervisor's group (waiting a little for
/// it, since the supervisor starts it just after binding).
fn worker_of(sup: u32) -> Option<u32> {
    Deadline::after(Duration::from_secs(3)).poll(Duration::from_millis(20), || {
        group_members(sup).into_iter().find(|p| {
            *p != sup
                && std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.split('\0').any(|a| a == "--worker"))
        })
    })
}

fn alive(pid: u32) -> bool {
    read_identity(pid).is_some()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    let ok = Deadline::after(timeout)
        .poll(Duration::from_millis(50), || check().then_some(()))
        .is_some();
    assert!(ok, "timed out after {timeout:?} waiting for {what}");
    t.elapsed()
}

fn sigterm_group(pid: u32) {
    // SAFETY: plain syscall on the process group of a server this test started.
    unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
}

fn kill9(pid: u32) {
    // SAFETY: plain syscall on a process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// Send raw lines to the CLI and read what comes back until `until` appears.
fn raw_cli(addr: SocketAddr, send: &[u8], until: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(send).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(until) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn starts_greets_serves_many_and_stops_on_sigterm() {
    let sim = Sim::new("basic");
    let t = Instant::now();
    let sup = sim.start_ok();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(alive(sup));
    // The supervisor leads its process group: the pid file is also the group to signal.
    let stat = std::fs::read_to_string(format!("/proc/{sup}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(f[2], sup.to_string(), "pgid of the supervisor");
    let worker = worker_of(sup).expect("a worker");
    let comm = || std::fs::read_to_string(format!("/proc/{worker}/comm")).unwrap_or_default();
    wait_for("the worker's process name", Duration::from_secs(3), || {
        comm().trim() == "axigen-sim:wrk"
    });

    let d = Deadline::after(Duration::from_secs(5));
    for (p, off, want) in [
        (Protocol::Smtp, SMTP, "220 "),
        (Protocol::Imap, IMAP, "* OK"),
        (Protocol::Pop3, POP3, "+OK"),
    ] {
        let r = greeting(p, sim.addr(off), &d);
        match &r.outcome {
            Outcome::Ready { greeting } => {
                assert!(greeting.starts_with(want), "{r}");
                assert!(greeting.contains("stand-in"), "{r}");
            }
            o => panic!("{p}: {o:?}"),
        }
    }
    let smtp = raw_cli(sim.addr(SMTP), b"EHLO me\r\nNOOP\r\nQUIT\r\n", "221 ");
    assert!(
        smtp.contains("ESMTP Axigen-compatible stand-in ready"),
        "{smtp}"
    );
    assert!(
        smtp.contains("250 2.0.0 OK") && smtp.contains("221 "),
        "{smtp}"
    );
    let imap = raw_cli(sim.addr(IMAP), b"a CAPABILITY\r\nb LOGOUT\r\n", "b OK");
    assert!(imap.contains("IMAP4rev1 ready") && imap.contains("* CAPABILITY IMAP4rev1"));
    let pop = raw_cli(sim.addr(POP3), b"CAPA\r\nQUIT\r\n", "signing off");
    assert!(
        pop.contains("POP3 ready") && pop.contains("signing off"),
        "{pop}"
    );
    let http = raw_cli(sim.addr(WEBADMIN), b"GET / HTTP/1.0\r\n\r\n", "stand-in");
    assert!(http.starts_with("HTTP/1.0 200 OK"), "{http}");

    // Many clients at once.
    let addr = sim.addr(CLI);
    let threads: Vec<_> = (0..40)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = CliClient::connect(addr, &Deadline::after(Duration::from_secs(10)))?;
                c.get_version()
            })
        })
        .collect();
    for t in threads {
        let v = t.join().unwrap().expect("GET VERSION under load");
        assert_eq!(v.number, "10.6.30");
    }

    sigterm_group(sup);
    wait_for("supervisor and worker gone", Duration::from_secs(8), || {
        !alive(sup) && !alive(worker)
    });
    assert!(!sim.pid_file().exists(), "pid file removed");
    let e = sim.cli(Duration::from_secs(2)).unwrap_err();
    assert!(e.is_refused(), "{e}");
    assert!(sim.log().contains("stopped"), "{}", sim.log());
}

#[test]
fn cli_dialogue_persists_across_restart() {
    let sim = Sim::new("cli");
    let sup = sim.start_ok();
    let mut c = sim.cli(Duration::from_secs(10)).unwrap();
    assert_eq!(c.prompt(), "<login> ");
    let e = c.login("admin", "wrong").unwrap_err();
    assert!(matches!(e, CliError::AuthRefused { .. }), "{e}");
    c.login("admin", "t0p secret").unwrap();
    assert_eq!(c.prompt(), "<#> ");
    c.create_domain("example.com", "pm pass").unwrap();
    assert_eq!(c.prompt(), "<#domain-example.com> ");
    c.add_account("alice", "a pw").unwrap();
    c.add_account("bob", "b").unwrap();
    let e = c.add_account("bob", "b").unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    c.commit().unwrap();
    assert_eq!(c.list_domains().unwrap(), vec!["example.com"]);
    c.update_domain("example.com").unwrap();
    c.remove_account("alice").unwrap();
    c.commit().unwrap();
    let e = c.update_domain("nope.example").unwrap_err();
    assert!(matches!(e, CliError::Command { .. }), "{e}");
    c.quit().unwrap();

    // Garbage, overlong lines and an abrupt disconnect do not upset the server.
    let mut junk = b"\xff\xfe garbage\r\n".to_vec();
    junk.extend(vec![b'x'; 100_000]);
    junk.extend_from_slice(b"\r\nGET VERSION\r\n");
    let out = raw_cli(sim.addr(CLI), &junk, "+OK: command successful");
    assert!(out.contains("-ERR: You must login first"), "{out}");
    assert!(out.contains("-ERR: Line too long"), "{out}");
    assert!(out.contains("10.6.30|Linux|"), "{out}");
    drop(TcpStream::connect(sim.addr(CLI)).unwrap());

    sigterm_group(sup);
    wait_for("stopped", Duration::from_secs(8), || !alive(sup));
    sim.start_ok();
    let mut c = sim.cli(Duration::from_secs(10)).unwrap();
    c.login("admin", "t0p secret").unwrap();
    assert_eq!(c.list_domains().unwrap(), vec!["example.com"]);
    c.update_domain("example.com").unwrap();
    assert_eq!(c.list_accounts().unwrap(), vec!["bob", "postmaster"]);
    let acc_dir = sim.dir.join("domains/example.com/accounts");
    let mut on_disk: Vec<String> = std::fs::read_dir(&acc_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, vec!["bob", "postmaster"]);
    // The password is kept for bob's mail logins, salted and hashed, readable by root only.
    let bob = std::fs::read_to_string(acc_dir.join("bob")).unwrap();
    assert!(bob.starts_with("sha256:") && !bob.contains(":b\n"), "{bob}");
    let mode = std::fs::metadata(acc_dir.join("bob"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    c.commit().unwrap();
    c.create_domain("tmp.example", "x").unwrap();
    c.commit().unwrap();
    assert_eq!(
        c.list_domains().unwrap(),
        vec!["example.com", "tmp.example"]
    );
    c.delete_domain("tmp.example").unwrap();
    assert_eq!(c.list_domains().unwrap(), vec!["example.com"]);
    assert!(!sim.dir.join("domains/tmp.example").exists());
}

#[test]
fn killed_worker_is_restarted_and_ports_stay_open() {
    let sim = Sim::new("restart");
    let sup = sim.start_ok();
    let w1 = worker_of(sup).unwrap();
    kill9(w1);
    // The supervisor holds the sockets: a connection made while no worker runs is accepted
    // by the kernel and served once the new worker is up. (Wait until the old worker is
    // really dead: one accepted by it in its last microseconds would be reset.)
    wait_for("old worker dead", Duration::from_secs(5), || !alive(w1));
    let t = Instant::now();
    let mut c = sim
        .cli(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("served by the next worker: {e}"));
    assert!(c.get_version().is_ok());
    let took = wait_for("a new worker", Duration::from_secs(10), || {
        worker_of(sup).is_some_and(|w| w != w1)
    });
    eprintln!(
        "worker restart observed after {:?} (client served after {:?})",
        took,
        t.elapsed()
    );
    assert!(alive(sup));
    assert!(
        sim.log().contains(&format!("worker {w1} ended")),
        "{}",
        sim.log()
    );
}

#[test]
fn fault_hang_then_clear() {
    let sim = Sim::new("hang");
    let sup = sim.start_ok();
    sim.fault(&["set", "hang"]);
    let t = Instant::now();
    let e = sim.cli(Duration::from_millis(800)).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
    let r = greeting(
        Protocol::Smtp,
        sim.addr(SMTP),
        &Deadline::after(Duration::from_millis(500)),
    );
    assert_eq!(r.outcome, Outcome::TimedOut { partial: "".into() }, "{r}");
    assert!(alive(sup), "a hang keeps the processes");
    sim.fault(&["clear", "hang"]);
    assert!(sim.version_ok());
    // A restart cures a hang (unless it is persistent).
    sim.fault(&["set", "hang"]);
    sigterm_group(sup);
    wait_for("stopped", Duration::from_secs(8), || !alive(sup));
    sim.start_ok();
    assert!(sim.version_ok());
}

#[test]
fn fault_crash_worker_once_and_always() {
    let sim = Sim::new("crashw");
    let sup = sim.start_ok();
    let w1 = worker_of(sup).unwrap();
    sim.fault(&["set", "crash-worker"]);
    wait_for(
        "a new worker after crash-worker",
        Duration::from_secs(10),
        || worker_of(sup).is_some_and(|w| w != w1),
    );
    assert!(
        !sim.dir.join("faults/crash-worker").exists(),
        "once is consumed"
    );
    assert!(sim.version_ok());

    sim.fault(&["set", "crash-worker", "always"]);
    wait_for("two crashes at start", Duration::from_secs(8), || {
        sim.log()
            .matches("crash-worker=always: exiting at start")
            .count()
            >= 2
    });
    assert!(
        !sim.version_ok(),
        "no worker serves while it keeps crashing"
    );
    assert!(alive(sup));
    sim.fault(&["clear", "crash-worker"]);
    wait_for("served again", Duration::from_secs(10), || sim.version_ok());
}

#[test]
fn fault_crash_supervisor_leaves_stale_pid_file() {
    let sim = Sim::new("crashs");
    let sup = sim.start_ok();
    let w = worker_of(sup).unwrap();
    sim.fault(&["set", "crash-supervisor"]);
    wait_for("supervisor and worker gone", Duration::from_secs(5), || {
        !alive(sup) && !alive(w)
    });
    assert_eq!(sim.pid(), Some(sup), "a crash leaves the pid file");
    assert!(!sim.version_ok());
    // The stale pid file does not block a new start.
    let sup2 = sim.start_ok();
    assert_ne!(sup2, sup);
    assert!(sim.version_ok());
}

#[test]
fn fault_ignore_sigterm_only_sigkill_works() {
    let sim = Sim::new("ignterm");
    let sup = sim.start_ok();
    let w = worker_of(sup).unwrap();
    sim.fault(&["set", "ignore-sigterm"]);
    sigterm_group(sup);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(alive(sup) && alive(w), "SIGTERM ignored");
    assert!(sim.version_ok());
    // SAFETY: plain syscall on the group this test started.
    unsafe { libc::kill(-(sup as i32), libc::SIGKILL) };
    wait_for("gone after SIGKILL", Duration::from_secs(5), || {
        !alive(sup) && !alive(w)
    });
}

#[test]
fn fault_refuse_logins() {
    let sim = Sim::new("refuse");
    sim.start_ok();
    sim.fault(&["set", "refuse-logins"]);
    let mut c = sim.cli(Duration::from_secs(5)).unwrap();
    match c.login("admin", "t0p secret").unwrap_err() {
        CliError::AuthRefused { message, .. } => assert_eq!(message, "Authentication failed"),
        e => panic!("{e}"),
    }
    assert!(c.get_version().is_ok(), "GET VERSION still works");
    sim.fault(&["clear", "refuse-logins"]);
    c.login("admin", "t0p secret").unwrap();
}

#[test]
fn fault_slow_start() {
    let sim = Sim::new("slow");
    sim.fault(&["set", "slow-start", "3"]);
    let t = Instant::now();
    let sup = sim.start_ok();
    // The launching command returns while the supervisor still waits to listen.
    let e = sim.cli(Duration::from_secs(1)).unwrap_err();
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    assert!(e.is_refused(), "{e}");
    assert!(alive(sup));
    wait_for(
        "listening after the slow start",
        Duration::from_secs(10),
        || sim.version_ok(),
    );
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn port_in_use_is_a_clear_error() {
    let sim = Sim::new("inuse");
    let squatter = TcpListener::bind(sim.addr(CLI)).unwrap();
    let out = sim.start();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let want = format!("address in use: 127.0.0.1:{}", sim.base + CLI);
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert!(!sim.pid_file().exists(), "no pid file left");
    drop(squatter);
    // Other listeners were released too: a normal start works now.
    sim.start_ok();
    assert!(sim.version_ok());
    // A second start on the same workdir is refused while the first runs.
    let out = sim.start();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
}

#[test]
fn bad_configuration_and_arguments() {
    let sim = Sim::new("badcfg");
    let cfg = sim.dir.join("run/axigen.cfg");
    std::fs::write(&cfg, "server = {\n  services = (cli)\n  oops\n}\n").unwrap();
    let out = sim.start();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("axigen.cfg line 3"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::write(&cfg, "cli = { listeners = ( { address = nowhere } ) }").unwrap();
    let err = stderr(&sim.start());
    assert!(err.contains("'nowhere'"), "{err}");
    std::fs::write(&cfg, "server = { services = () }").unwrap();
    assert!(stderr(&sim.start()).contains("no enabled listeners"));

    let missing = sim.run(&["-W", "/nonexistent/axsim"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/axsim/run/axigen.cfg"));
    let out = sim.run(&["init", "-W", sim.w(), "--address", "127.0.0.1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    let out = sim.run(&["init", "-W", sim.w(), "--address", "not-an-ip"]);
    assert_eq!(out.status.code(), Some(2), "usage error");
    let out = sim.run(&["fault", "-W", sim.w(), "set", "melt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown fault 'melt'"),
        "{}",
        stderr(&out)
    );
    let out = sim.run(&["fault", "-W", sim.w(), "set", "slow-start", "soon"]);
    assert!(stderr(&out).contains("soon"), "{}", stderr(&out));
    let out = sim.run(&["--worker", "-W", sim.w(), "--listener", "cli=0"]);
    assert_eq!(out.status.code(), Some(1));
    let out = sim.run(&["--worker", "-W", sim.w(), "--listener", "cli=7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not an inherited listening socket"),
        "{}",
        stderr(&out)
    );
    let out = sim.run(&["fault", "-W", "/nonexistent/axsim", "set", "hang"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(!std::path::Path::new("/nonexistent/axsim").exists());
    assert!(sim.groups.borrow().is_empty(), "nothing started");
}

#[test]
fn foreground_runs_attached_and_stops_on_sigterm() {
    let sim = Sim::new("fg");
    let mut child: Child = Command::new(BIN)
        .args(["-W", sim.w(), "--foreground"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Reap<'a>(&'a mut Child);
    impl Drop for Reap<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let guard = Reap(&mut child);
    wait_for("foreground server answers", Duration::from_secs(10), || {
        sim.version_ok()
    });
    assert_eq!(sim.pid(), Some(pid));
    let w = worker_of_parent(pid).expect("worker");
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let st = guard.0.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    wait_for("worker gone", Duration::from_secs(5), || !alive(w));
    assert!(!sim.pid_file().exists());
    let mut err = String::new();
    guard
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("stopped"), "{err}");
}

fn worker_of_parent(ppid: u32) -> Option<u32> {
    let d = Deadline::after(Duration::from_secs(5));
    d.poll(Duration::from_millis(50), || {
        let children =
            std::fs::read_to_string(format!("/proc/{ppid}/task/{ppid}/children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .find(|p| is_sim(*p))
    })
}

#[test]
fn status_and_stop_subcommands() {
    let sim = Sim::new("stop");
    let status = || sim.run(&["status", "-W", sim.w()]);
    assert_eq!(status().status.code(), Some(3), "not running yet");
    let sup = sim.start_ok();
    let out = status();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), sup.to_string());

    sim.fault(&["set", "ignore-sigterm"]);
    let out = sim.run(&["stop", "-W", sim.w(), "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("supervisor {sup} still runs")),
        "{}",
        stderr(&out)
    );
    sim.fault(&["clear", "ignore-sigterm"]);

    let out = sim.run(&["stop", "-W", sim.w()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!alive(sup));
    assert!(!sim.pid_file().exists());
    assert_eq!(status().status.code(), Some(3));
    let out = sim.run(&["stop", "-W", sim.w()]);
    assert!(out.status.success());
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
}

#[test]
fn axigen_style_config_and_pid_file_options() {
    let sim = Sim::new("opts");
    let cfg = sim.dir.join("other.cfg");
    std::fs::rename(sim.dir.join("run/axigen.cfg"), &cfg).unwrap();
    let pid_file = sim.dir.join("other.pid");
    let (c, p) = (cfg.to_str().unwrap(), pid_file.to_str().unwrap());
    let out = sim.run(&["-W", sim.w(), "-C", c, "-P", p]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    sim.groups.borrow_mut().push(pid);
    assert!(!sim.pid_file().exists());
    assert!(sim.version_ok());
    let out = sim.run(&["status", "-W", sim.w(), "--pidfile", p]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
    let out = sim.run(&["stop", "-W", sim.w(), "-P", p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!alive(pid) && !pid_file.exists());
    // --configfile is Axigen's long spelling.
    let out = sim.run(&["-W", sim.w(), "--configfile", c]);
    assert!(out.status.success(), "{}", stderr(&out));
    sim.groups.borrow_mut().push(sim.pid().unwrap());
    assert!(sim.version_ok());
}
