//! Black-box tests of `ocf:axigen:instance`, run as Pacemaker runs it (an explicit OCF
//! environment, one action per call) against `axigen-sim`, the Axigen stand-in (Axigen itself
//! cannot be installed here). Each test has its own workdir, state directory and ports.

use std::collections::BTreeMap;
use std::time::Duration;

use axha_e2e::instance::{run_agent, set_mode, SimInstance, TempDir, ADMIN_PASSWORD};
use axha_e2e::{wait_for, Cmd, Deadline};

const RECURRING: (&str, &str) = ("OCF_RESKEY_CRM_meta_interval", "10000");

/// Start, and on failure show what the agent said.
fn started(env: &std::collections::BTreeMap<String, String>) {
    let r = run_agent("start", env, &[]);
    assert_eq!(r.code, 0, "start: {r:?}");
}

fn depth(n: &'static str) -> (&'static str, &'static str) {
    ("OCF_CHECK_LEVEL", n)
}

fn timeout(ms: &'static str) -> (&'static str, &'static str) {
    ("OCF_RESKEY_CRM_meta_timeout", ms)
}

/// The meta-data passes the checks of the peers that read it: stock ocf-tester's (`xmllint
/// --valid` from resource-agents' directory: the 1.0 DTD plus the DOCTYPE's OCF 1.1
/// additions) and pcs's OCF 1.1 schema; it declares OCF 1.1, `reload-agent`, which parameters
/// reload and the unique groups.
#[test]
fn metadata_is_valid_against_dtd_and_rng() {
    let run = run_agent("meta-data", &BTreeMap::new(), &[]);
    assert_eq!(run.code, 0);
    let dir = TempDir::new("meta");
    let f = dir.path().join("instance.xml");
    std::fs::write(&f, &run.stdout).unwrap();
    let d = Deadline::after(Duration::from_secs(20));
    let ocf_tester = Cmd::new("xmllint")
        .args([
            "--noout",
            "--valid",
            "--path",
            "/usr/share/resource-agents",
            "-",
        ])
        .stdin(run.stdout.clone())
        .run(&d)
        .unwrap();
    assert_eq!(ocf_tester.code(), Some(0), "{}", ocf_tester.stderr_str());
    let pcs = Cmd::new("xmllint")
        .args(["--noout", "--relaxng", "/usr/share/pcs/data/ocf-1.1.rng"])
        .arg(&f)
        .run(&d)
        .unwrap();
    assert_eq!(pcs.code(), Some(0), "{}", pcs.stderr_str());
    // The OCF 1.1 additions are what the 1.0 DTD alone refuses: the check above is not
    // vacuous.
    let strict = Cmd::new("xmllint")
        .args([
            "--noout",
            "--dtdvalid",
            "/usr/share/resource-agents/ra-api-1.dtd",
        ])
        .arg(&f)
        .run(&d)
        .unwrap();
    assert_ne!(strict.code(), Some(0));
    assert!(
        strict.stderr_str().contains("reloadable"),
        "{}",
        strict.stderr_str()
    );
    assert!(run.stdout.contains("<version>1.1</version>"));
    assert!(run.stdout.contains("<action name=\"reload-agent\""));
    let line = |p: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("<parameter name=\"{p}\"")))
            .unwrap_or_else(|| panic!("no parameter {p}"))
            .to_string()
    };
    for p in [
        "address",
        "cli_port",
        "cli_user",
        "cli_password_file",
        "stop_graceful_share",
        "check_timeout",
    ] {
        assert!(line(p).contains("reloadable=\"1\""), "{p} reloads");
    }
    for p in ["workdir", "binary", "config"] {
        assert!(!line(p).contains("reloadable"), "{p} restarts");
    }
    assert!(line("workdir").contains("unique-group=\"workdir\""));
    assert!(line("address").contains("unique-group=\"cli\""));
    assert!(line("cli_port").contains("unique-group=\"cli\""));
}

#[test]
fn lifecycle_start_monitor_depths_stop() {
    let inst = SimInstance::new("life", "127.0.0.1");
    let env = inst.env();
    // A probe of an instance that is not here: 7, silently.
    let probe = run_agent("monitor", &env, &[]);
    assert_eq!(probe.code, 7, "{probe:?}");
    assert_eq!(
        probe.stderr, "",
        "a probe that finds nothing prints nothing"
    );
    let start = run_agent("start", &env, &[timeout("30000")]);
    assert_eq!(start.code, 0, "{start:?}");
    assert!(inst.recorded_pid().is_some());
    assert_eq!(run_agent("start", &env, &[]).code, 0, "start when running");
    for d in ["0", "10", "20"] {
        let m = run_agent("monitor", &env, &[RECURRING, depth(d)]);
        assert_eq!(m.code, 0, "depth {d}: {m:?}");
        assert_eq!(m.stderr, "", "a healthy monitor prints nothing");
    }
    assert_eq!(
        run_agent("monitor", &env, &[]).code,
        0,
        "probe of a running one"
    );
    let stop = run_agent("stop", &env, &[timeout("20000")]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert_eq!(inst.recorded_pid(), None, "state removed");
    assert_eq!(run_agent("stop", &env, &[]).code, 0, "stop when stopped");
    let after = run_agent("monitor", &env, &[RECURRING]);
    assert_eq!(after.code, 7, "{after:?}");
    // Nothing of the server is left listening.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", inst.cli_port())).is_err(),
        "CLI port still open after stop"
    );
}

#[test]
fn two_instances_on_one_node_do_not_confuse_each_other() {
    let a = SimInstance::new("two-a", "127.0.0.1");
    let b = SimInstance::new("two-b", "127.0.0.1");
    // One shared state directory, as on a real node.
    let mut eb = b.env();
    eb.insert("HA_RSCTMP".into(), a.state_dir.display().to_string());
    let ea = a.env();
    started(&ea);
    assert_eq!(run_agent("monitor", &eb, &[]).code, 7, "b is not running");
    started(&eb);
    assert_eq!(run_agent("stop", &ea, &[]).code, 0);
    assert_eq!(run_agent("monitor", &ea, &[RECURRING]).code, 7);
    let mb = run_agent("monitor", &eb, &[RECURRING, depth("10")]);
    assert_eq!(mb.code, 0, "b survives a's stop: {mb:?}");
    assert_eq!(run_agent("stop", &eb, &[]).code, 0);
}

#[test]
fn hang_is_detected_and_stop_still_works() {
    let inst = SimInstance::new("hang", "127.0.0.1");
    let env = inst.env();
    started(&env);
    inst.fault("hang", Some(""));
    let m = run_agent("monitor", &env, &[RECURRING, timeout("10000")]);
    assert_eq!(m.code, 1, "{m:?}");
    let reason = m.reason().expect("exit reason");
    assert!(reason.contains("did not answer within"), "{reason}");
    assert!(reason.len() <= 128);
    inst.fault("hang", None);
    let stop = run_agent("stop", &env, &[timeout("10000")]);
    assert_eq!(stop.code, 0, "{stop:?}");
}

#[test]
fn sigstop_hang_is_detected_and_stopped() {
    let inst = SimInstance::new("sigstop", "127.0.0.1");
    let env = inst.env();
    started(&env);
    let pid = inst.recorded_pid().unwrap();
    // Freeze the whole server (supervisor and worker).
    unsafe { libc::kill(-(pid as i32), libc::SIGSTOP) };
    let m = run_agent("monitor", &env, &[RECURRING, timeout("8000")]);
    assert_eq!(m.code, 1, "{m:?}");
    let stop = run_agent("stop", &env, &[timeout("8000")]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert!(stop.elapsed < Duration::from_secs(8));
    assert!(axha_exec::read_identity(pid).is_none(), "server gone");
}

#[test]
fn server_ignoring_sigterm_is_killed_within_the_stop_timeout() {
    let inst = SimInstance::new("sigterm", "127.0.0.1");
    let env = inst.env();
    started(&env);
    inst.fault("ignore-sigterm", Some(""));
    let pid = inst.recorded_pid().unwrap();
    let stop = run_agent("stop", &env, &[timeout("6000")]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert!(stop.elapsed < Duration::from_secs(6), "{:?}", stop.elapsed);
    assert!(
        stop.elapsed >= Duration::from_secs(3),
        "graceful share was honoured"
    );
    assert!(axha_exec::read_identity(pid).is_none(), "server gone");
}

#[test]
fn crashed_supervisor_is_reported_then_cleaned() {
    let inst = SimInstance::new("crash", "127.0.0.1");
    let env = inst.env();
    started(&env);
    let pid = inst.recorded_pid().unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    wait_for("supervisor gone", Duration::from_secs(5), || {
        axha_exec::read_identity(pid).is_none()
    });
    let m = run_agent("monitor", &env, &[RECURRING]);
    assert_eq!(m.code, 1, "{m:?}");
    assert!(m.reason().unwrap().contains("is gone"), "{m:?}");
    assert_eq!(run_agent("stop", &env, &[]).code, 0);
    assert_eq!(run_agent("monitor", &env, &[RECURRING]).code, 7);
}

#[test]
fn stale_state_with_a_recycled_pid_is_not_running() {
    let inst = SimInstance::new("stale", "127.0.0.1");
    let env = inst.env();
    // A live process that is not the server, recorded with another start time: what a
    // recycled pid looks like.
    let mut other = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let id = axha_exec::read_identity(other.id()).unwrap();
    std::fs::create_dir_all(&inst.state_dir).unwrap();
    let key = inst
        .workdir
        .to_string_lossy()
        .trim_start_matches('/')
        .replace('/', "%2F");
    std::fs::write(
        inst.state_dir.join(format!("axigen-instance-{key}.state")),
        format!("{} {}\n", id.pid, id.start_time + 7),
    )
    .unwrap();
    assert_eq!(run_agent("monitor", &env, &[]).code, 7, "probe");
    std::fs::write(
        inst.state_dir.join(format!("axigen-instance-{key}.state")),
        format!("{} {}\n", id.pid, id.start_time + 7),
    )
    .unwrap();
    let m = run_agent("monitor", &env, &[RECURRING]);
    assert_eq!(m.code, 1, "recurring monitor: {m:?}");
    assert_eq!(run_agent("stop", &env, &[]).code, 0);
    assert!(
        axha_exec::read_identity(other.id()).is_some(),
        "the other process lives"
    );
    let _ = other.kill();
    let _ = other.wait();
}

#[test]
fn depth20_login_failures() {
    let inst = SimInstance::new("login", "127.0.0.1");
    let env = inst.env();
    started(&env);
    inst.fault("refuse-logins", Some(""));
    let m = run_agent("monitor", &env, &[RECURRING, depth("20")]);
    assert_eq!(m.code, 1, "{m:?}");
    assert!(m.reason().unwrap().contains("refused"), "{m:?}");
    inst.fault("refuse-logins", None);
    let wrong = inst.dir.path().join("wrong.pw");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    set_mode(&wrong, 0o600);
    let m = run_agent(
        "monitor",
        &env,
        &[
            RECURRING,
            depth("20"),
            ("OCF_RESKEY_cli_password_file", wrong.to_str().unwrap()),
        ],
    );
    assert_eq!(m.code, 1, "{m:?}");
    assert!(!m.stderr.contains("not-the-password"));
    assert!(!m.stderr.contains(ADMIN_PASSWORD));
}

#[test]
fn port_taken_by_another_process() {
    let inst = SimInstance::new("port", "127.0.0.1");
    let env = inst.env();
    let _squatter = std::net::TcpListener::bind(("127.0.0.1", inst.cli_port())).unwrap();
    let s = run_agent("start", &env, &[timeout("10000")]);
    assert_eq!(s.code, 1, "{s:?}");
    assert!(s.reason().unwrap().contains("in use"), "{s:?}");
    assert_eq!(inst.recorded_pid(), None, "nothing started");
}

#[test]
fn bad_input_gives_the_right_codes() {
    let inst = SimInstance::new("bad", "127.0.0.1");
    let env = inst.env();
    let check = |extra: &[(&str, &str)], action: &str, code: i32, needle: &str| {
        let r = run_agent(action, &env, extra);
        assert_eq!(r.code, code, "{action} {extra:?}: {r:?}");
        let reason = r.reason().unwrap_or_default();
        assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
        assert!(!r.stderr.contains("panicked"), "{r:?}");
    };
    check(
        &[("OCF_RESKEY_workdir", "")],
        "validate-all",
        6,
        "workdir is not set",
    );
    check(
        &[("OCF_RESKEY_workdir", "srv/ax")],
        "validate-all",
        6,
        "absolute",
    );
    check(&[("OCF_RESKEY_workdir", "srv/ax")], "start", 6, "absolute");
    check(
        &[("OCF_RESKEY_cli_port", "99999")],
        "validate-all",
        6,
        "cli_port",
    );
    check(
        &[("OCF_RESKEY_binary", "/nonexistent/axigen"), depth("10")],
        "validate-all",
        5,
        "not found",
    );
    check(
        &[("OCF_RESKEY_binary", "/nonexistent/axigen")],
        "start",
        5,
        "not found",
    );
    let missing = inst.dir.path().join("nowhere");
    check(
        &[
            ("OCF_RESKEY_workdir", missing.to_str().unwrap()),
            depth("10"),
        ],
        "validate-all",
        5,
        "does not exist",
    );
    // Garbage config: wrong wherever it is read.
    let garbage = inst.dir.path().join("garbage.cfg");
    std::fs::write(&garbage, "server = { listeners = ( {{{ \n").unwrap();
    check(
        &[
            ("OCF_RESKEY_config", garbage.to_str().unwrap()),
            depth("10"),
        ],
        "validate-all",
        6,
        "garbage.cfg",
    );
    check(
        &[("OCF_RESKEY_config", garbage.to_str().unwrap())],
        "start",
        6,
        "garbage.cfg",
    );
    // Unreadable config (a directory): this node's problem.
    check(
        &[
            ("OCF_RESKEY_config", inst.dir.path().to_str().unwrap()),
            depth("10"),
        ],
        "validate-all",
        2,
        "config",
    );
    // Password file readable by others.
    set_mode(&inst.password_file, 0o644);
    check(&[depth("10")], "validate-all", 2, "chmod 600");
    set_mode(&inst.password_file, 0o600);
    assert_eq!(run_agent("validate-all", &env, &[depth("10")]).code, 0);
    // Stop never fails on configuration problems.
    assert_eq!(
        run_agent("stop", &env, &[("OCF_RESKEY_cli_port", "nope")]).code,
        0
    );
    assert_eq!(run_agent("frobnicate", &env, &[]).code, 3);
    assert_eq!(run_agent("usage", &env, &[]).code, 0);
}

#[test]
fn stop_finds_a_running_instance_despite_bad_parameters() {
    let inst = SimInstance::new("stopbad", "127.0.0.1");
    let env = inst.env();
    started(&env);
    let pid = inst.recorded_pid().unwrap();
    let stop = run_agent(
        "stop",
        &env,
        &[
            ("OCF_RESKEY_cli_port", "not-a-port"),
            ("OCF_RESKEY_check_timeout", "-1"),
        ],
    );
    assert_eq!(stop.code, 0, "{stop:?}");
    assert!(axha_exec::read_identity(pid).is_none());
}

#[test]
fn diagnose_reports_without_changing_anything() {
    let inst = SimInstance::new("diag", "127.0.0.1");
    let env = inst.env();
    started(&env);
    let pid = inst.recorded_pid();
    let d = run_agent("diagnose", &env, &[]);
    assert_eq!(d.code, 0, "{d:?}");
    let v: serde_json::Value = serde_json::from_str(&d.stdout).expect("JSON");
    assert_eq!(v["status"], "running");
    assert!(
        v["processes"].as_array().unwrap().len() >= 2,
        "supervisor + worker"
    );
    let probes = v["probes"].as_array().unwrap();
    assert!(probes.iter().all(|p| p["ok"] == true), "{probes:?}");
    assert!(probes.len() >= 4, "cli + smtp + imap + pop3");
    assert!(!d.stdout.contains(ADMIN_PASSWORD));
    assert_eq!(inst.recorded_pid(), pid, "diagnose changed nothing");
}

#[test]
fn worker_crash_is_recovered_by_the_supervisor() {
    let inst = SimInstance::new("worker", "127.0.0.1");
    let env = inst.env();
    started(&env);
    let sup = inst.recorded_pid().unwrap();
    let worker = axha_exec::all_pids()
        .into_iter()
        .find(|p| axha_exec::read_stat(*p).is_some_and(|s| s.ppid == sup))
        .expect("a worker");
    unsafe { libc::kill(worker as i32, libc::SIGKILL) };
    wait_for("monitor healthy again", Duration::from_secs(10), || {
        run_agent("monitor", &env, &[RECURRING, depth("10")]).code == 0
    });
    assert_eq!(inst.recorded_pid(), Some(sup), "same supervisor");
}

#[test]
fn slow_start_is_waited_for_within_the_timeout() {
    let inst = SimInstance::new("slow", "127.0.0.1");
    let env = inst.env();
    inst.fault("slow-start", Some("2"));
    let s = run_agent("start", &env, &[timeout("20000")]);
    assert_eq!(s.code, 0, "{s:?}");
    assert!(s.elapsed >= Duration::from_secs(2), "{:?}", s.elapsed);
    assert_eq!(run_agent("stop", &env, &[]).code, 0);
    // Slower than the start timeout: the agent answers, with a reason, before Pacemaker
    // would kill it.
    inst.fault("slow-start", Some("30"));
    let s = run_agent("start", &env, &[timeout("4000")]);
    assert_eq!(s.code, 1, "{s:?}");
    assert!(s.elapsed < Duration::from_secs(4), "{:?}", s.elapsed);
    assert!(
        s.reason().unwrap().starts_with("not answering after"),
        "{s:?}"
    );
    inst.fault("slow-start", None);
    assert_eq!(run_agent("stop", &env, &[]).code, 0);
}

#[test]
fn explicit_config_file_is_passed_to_the_server() {
    let inst = SimInstance::new("cfg", "127.0.0.1");
    let moved = inst.dir.path().join("elsewhere.cfg");
    std::fs::rename(inst.workdir.join("run/axigen.cfg"), &moved).unwrap();
    let env = inst.env();
    let cfg = [("OCF_RESKEY_config", moved.to_str().unwrap())];
    let s = run_agent("start", &env, &cfg);
    assert_eq!(s.code, 0, "{s:?}");
    let m = run_agent("monitor", &env, &[cfg[0], RECURRING, depth("10")]);
    assert_eq!(m.code, 0, "{m:?}");
    assert_eq!(run_agent("stop", &env, &cfg).code, 0);
}
