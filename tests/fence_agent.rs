//! fence_axigen_ipmi, the built binary, against real ipmi_sim BMCs: every action in both
//! argument forms, credential and privilege failures, timeouts, lost datagrams, the host
//! binding, and the peers' checks (fence-agents RNG, stonith_admin).

use std::path::Path;
use std::time::{Duration, Instant};

use axha_e2e::bmc::{self, LossyProxy, TestBmc, ADMIN, OPERATOR};
use axha_e2e::{Cmd, Deadline};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn agent() -> std::path::PathBuf {
    axha_e2e::bin("fence_axigen_ipmi")
}

/// The agent with `key=value` lines on stdin (the way Pacemaker calls it).
fn stdin(text: &str) -> Run {
    let t = Instant::now();
    let out = Cmd::new(agent())
        .stdin(text.as_bytes().to_vec())
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("agent runs");
    Run {
        code: out.code().unwrap_or(-1),
        stdout: out.stdout_str(),
        stderr: out.stderr_str(),
        took: t.elapsed(),
    }
}

/// The agent with getopt-style arguments (the way people call it).
fn args(a: &[&str]) -> Run {
    let t = Instant::now();
    let out = Cmd::new(agent())
        .args(a)
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("agent runs");
    Run {
        code: out.code().unwrap_or(-1),
        stdout: out.stdout_str(),
        stderr: out.stderr_str(),
        took: t.elapsed(),
    }
}

fn stdin_base(b: &TestBmc, (user, pw): (&str, &str)) -> String {
    format!(
        "ip=127.0.0.1\nipport={}\nusername={user}\npassword={pw}\ncipher=3\n",
        b.addr().port()
    )
}

/// Command-line options with the password in a file (never on the command line).
fn args_base(b: &TestBmc, dir: &Path) -> Vec<String> {
    let pw = dir.join("pw");
    std::fs::write(&pw, format!("{}\n", ADMIN.1)).unwrap();
    vec![
        "-a".into(),
        "127.0.0.1".into(),
        "-u".into(),
        b.addr().port().to_string(),
        "-l".into(),
        ADMIN.0.into(),
        format!("--password-file={}", pw.display()),
        "-C".into(),
        "3".into(),
    ]
}

fn with(base: &[String], more: &[&str]) -> Vec<String> {
    let mut v = base.to_vec();
    v.extend(more.iter().map(|s| s.to_string()));
    v
}

fn run_args(v: &[String]) -> Run {
    let r: Vec<&str> = v.iter().map(String::as_str).collect();
    args(&r)
}

#[test]
fn every_action_on_stdin() {
    let b = bmc::start_bmc();
    let base = stdin_base(&b, ADMIN);
    let r = stdin(&format!("action=status\n{base}"));
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Status: ON\n"),
        "{}",
        r.stderr
    );
    let r = stdin(&format!("action=off\n{base}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "Success: Powered OFF\n");
    assert!(!b.power().unwrap());
    let r = stdin(&format!("action=status\n{base}"));
    assert_eq!((r.code, r.stdout.as_str()), (2, "Status: OFF\n"));
    let r = stdin(&format!("action=on\n{base}"));
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Success: Powered ON\n"),
        "{}",
        r.stderr
    );
    assert!(b.power().unwrap());
    let before = b.chassis_log().unwrap();
    let r = stdin(&format!("action=reboot\n{base}"));
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Success: Rebooted\n"),
        "{}",
        r.stderr
    );
    assert!(b.power().unwrap());
    let log = b.chassis_log().unwrap();
    let new = &log[before.len()..];
    let off = new.find("set power 0").expect("reboot switched off");
    let on = new.find("set power 1").expect("reboot switched on");
    assert!(off < on, "off before on:\n{new}");
    let r = stdin(&format!("action=monitor\n{base}"));
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    let r = stdin(&format!("action=validate-all\n{base}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = stdin("action=metadata\n");
    assert_eq!(r.code, 0);
    assert!(r
        .stdout
        .contains("<resource-agent name=\"fence_axigen_ipmi\""));
    // Pacemaker's own keys: port and nodename, plus others it may send, are accepted.
    let r = stdin(&format!(
        "action=status\n{base}port=n2\nnodename=n2\npcmk_host_list=n2\nfoo=bar\n"
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn every_action_on_the_command_line() {
    let b = bmc::start_bmc();
    let tmp = tempfile::tempdir().unwrap();
    let base = args_base(&b, tmp.path());
    let r = run_args(&with(&base, &["-o", "status"]));
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "Status: ON\n"),
        "{}",
        r.stderr
    );
    let r = run_args(&with(&base, &["--action=off"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!b.power().unwrap());
    let r = run_args(&with(&base, &["-o", "status"]));
    assert_eq!(r.code, 2);
    let r = run_args(&with(&base, &["-o", "on"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(b.power().unwrap());
    let r = run_args(&with(&base, &["-o", "reboot", "-v"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("status polls"),
        "verbose shows the polling: {}",
        r.stderr
    );
    assert!(b.power().unwrap());
    let r = run_args(&with(&base, &["-o", "monitor"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run_args(&with(&base, &["-o", "validate-all"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = args(&["-o", "metadata"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("<?xml"));
    // A password script, and -p (accepted, with a warning that ps shows it).
    let script = tmp.path().join("pw.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho {}\n", ADMIN.1)).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let mut v: Vec<String> = base
        .iter()
        .filter(|a| !a.starts_with("--password-file"))
        .cloned()
        .collect();
    v.extend([
        "-S".to_string(),
        script.display().to_string(),
        "-o".into(),
        "status".into(),
    ]);
    let r = run_args(&v);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut v: Vec<String> = base
        .iter()
        .filter(|a| !a.starts_with("--password-file"))
        .cloned()
        .collect();
    v.extend([
        "-p".to_string(),
        ADMIN.1.into(),
        "-o".into(),
        "status".into(),
    ]);
    let r = run_args(&v);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("visible in ps"), "{}", r.stderr);
    // Bad options are refused with the option's name.
    let r = args(&["-o", "status", "--frobnicate"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--frobnicate"), "{}", r.stderr);
}

#[test]
fn wrong_password_and_unknown_user_fail_fast_with_reason() {
    let b = bmc::start_bmc();
    let r = stdin(&format!(
        "action=off\n{}",
        stdin_base(&b, ("admin", "nope"))
    ));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("wrong password"), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(2), "{:?}", r.took);
    assert!(
        !r.stderr.contains("nope"),
        "password in a message: {}",
        r.stderr
    );
    let r = stdin(&format!(
        "action=status\n{}",
        stdin_base(&b, ("ghost", "x"))
    ));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unknown user"), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(2), "{:?}", r.took);
    assert!(b.power().unwrap(), "power untouched");
}

#[test]
fn nothing_listening_fails_within_login_timeout() {
    let port = bmc::dead_port();
    let r = stdin(&format!(
        "action=off\nip=127.0.0.1\nipport={port}\nusername=admin\npassword=x\nlogin_timeout=1.5\n"
    ));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no answer"), "{}", r.stderr);
    assert!(
        r.took >= Duration::from_millis(1400) && r.took < Duration::from_millis(3500),
        "{:?}",
        r.took
    );
}

#[test]
fn lost_datagrams_are_retransmitted() {
    let b = bmc::start_bmc();
    let proxy = LossyProxy::start(b.addr(), Box::new(|n| n % 4 == 1), Box::new(|n| n % 3 == 0));
    let base = format!(
        "ip=127.0.0.1\nipport={}\nusername=admin\npassword={}\nlogin_timeout=10\n",
        proxy.addr.port(),
        ADMIN.1
    );
    let r = stdin(&format!("action=off\n{base}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!b.power().unwrap());
    let r = stdin(&format!("action=status\n{base}"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(proxy.dropped() >= 3, "only {} dropped", proxy.dropped());
}

#[test]
fn off_is_never_reported_while_the_chassis_stays_on() {
    // A BMC that accepts "power off" but whose chassis stays on: the hook puts the power
    // state back to on right after the change is recorded.
    let b = bmc::start_bmc_with(|s| {
        let power = s.dir.join("power");
        s.power_hook(vec![
            "sh".into(),
            "-c".into(),
            format!("echo 1 > {}", power.display()),
            "hook".into(),
        ])
    });
    let r = stdin(&format!(
        "action=off\n{}power_timeout=1\n",
        stdin_base(&b, ADMIN)
    ));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("waiting for the BMC to report power OFF"),
        "{}",
        r.stderr
    );
    assert!(r.took >= Duration::from_secs(1), "{:?}", r.took);
    assert!(
        b.chassis_log().unwrap().contains("set power 0"),
        "the command was sent"
    );
    let r = stdin(&format!(
        "action=reboot\n{}power_timeout=1\n",
        stdin_base(&b, ADMIN)
    ));
    assert_eq!(
        r.code, 1,
        "a reboot without a verified off fails: {}",
        r.stderr
    );
}

#[test]
fn operator_limited_user_can_fence() {
    let b = bmc::start_bmc();
    let base = format!("{}privlvl=operator\n", stdin_base(&b, OPERATOR));
    let r = stdin(&format!("action=reboot\n{base}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let log = b.chassis_log().unwrap();
    assert!(
        log.contains("set power 0") && log.contains("set power 1"),
        "{log}"
    );
    let r = stdin(&format!("action=off\n{base}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!b.power().unwrap());
}

#[test]
fn request_for_another_node_is_refused_when_bound() {
    let b = bmc::start_bmc();
    let base = format!("{}bound_node=n2\n", stdin_base(&b, ADMIN));
    for wrong in [
        "port=n1\n",
        "plug=n1\n",
        "nodename=n1\n",
        "port=n2\nnodename=n1\n",
    ] {
        let r = stdin(&format!("action=off\n{base}{wrong}"));
        assert_eq!(r.code, 1, "{wrong}");
        assert!(r.stderr.contains("bound to node \"n2\""), "{}", r.stderr);
    }
    let r = args(&[
        "-o",
        "off",
        "-a",
        "127.0.0.1",
        "-l",
        "admin",
        "-p",
        "x",
        "--bound-node",
        "n2",
        "-n",
        "n3",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("\"n3\""), "{}", r.stderr);
    assert!(b.power().unwrap());
    assert!(
        !b.chassis_log().unwrap().contains("set power"),
        "the BMC was not touched"
    );
    // The right node is fenced.
    let r = stdin(&format!("action=off\n{base}port=n2\nnodename=n2\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!b.power().unwrap());
}

#[test]
fn method_cycle_powers_on_when_off_and_cycles_when_on() {
    let b = bmc::start_bmc();
    let base = format!("{}method=cycle\n", stdin_base(&b, ADMIN));
    b.set_power(false).unwrap();
    let r = stdin(&format!("action=reboot\n{base}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(b.power().unwrap());
    let log = b.chassis_log().unwrap();
    assert!(
        log.contains("set power 1") && !log.contains("set power 0"),
        "{log}"
    );
    // On: a real cycle (ipmi_sim switches off, then on again by itself), verified on.
    let r = stdin(&format!("action=reboot\n{base}verbose=1\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(b.power().unwrap());
    assert!(b.chassis_log().unwrap().contains("set power 0"));
}

#[test]
fn bad_parameters_fail_with_the_parameter_name() {
    for (extra, expect) in [
        ("cipher=0\n", "cipher"),
        ("privlvl=root\n", "privlvl"),
        ("ipport=99999\n", "ipport"),
        ("power_timeout=soon\n", "power_timeout"),
        ("action=explode\n", "explode"),
    ] {
        let r = stdin(&format!(
            "action=off\nip=127.0.0.1\nusername=admin\npassword=x\n{extra}"
        ));
        assert_eq!(r.code, 1, "{extra}");
        assert!(r.stderr.contains(expect), "{extra}: {}", r.stderr);
    }
    let r = stdin("action=off\nusername=admin\npassword=x\n");
    assert!(
        r.stderr.contains("missing required parameter ip"),
        "{}",
        r.stderr
    );
    let r = stdin("action=status\nip=127.0.0.1\nusername=admin\npassword_script=/nonexistent/x\n");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("password_script"), "{}", r.stderr);
}

#[test]
fn metadata_is_valid_against_the_fence_agents_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = tmp.path().join("meta.xml");
    std::fs::write(&xml, stdin("action=metadata\n").stdout).unwrap();
    let out = Cmd::new("xmllint")
        .args([
            "--noout",
            "--relaxng",
            "/usr/share/cluster/relaxng/metadata.rng",
        ])
        .arg(&xml)
        .run(&Deadline::after(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_str());
    assert!(out.stderr_str().contains("validates"));
}

/// Run `script` in a private mount namespace where /usr/sbin is overlaid with the built
/// agent (stonith_admin finds fence agents there only); the host's /usr/sbin is untouched.
fn with_agent_in_sbin(script: &str) -> (i32, String) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(agent(), tmp.path().join("fence_axigen_ipmi")).unwrap();
    let mount = format!(
        "mount -n -t overlay overlay -o lowerdir={}:/usr/sbin /usr/sbin && {script}",
        tmp.path().display()
    );
    let out = Cmd::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &mount])
        .run(&Deadline::after(Duration::from_secs(60)))
        .unwrap();
    (
        out.code().unwrap_or(-1),
        out.stdout_str() + &out.stderr_str(),
    )
}

#[test]
fn stonith_admin_accepts_the_agent() {
    axha_e2e::need_root!();
    let (rc, out) = with_agent_in_sbin("stonith_admin --metadata --agent fence_axigen_ipmi");
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("<parameter name=\"bound_node\""), "{out}");
    let (rc, out) = with_agent_in_sbin(
        "stonith_admin --validate --agent fence_axigen_ipmi -o ip=127.0.0.1 -o username=admin -o password=x -o privlvl=operator",
    );
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("succeeded"), "{out}");
    let (rc, out) = with_agent_in_sbin(
        "stonith_admin --validate --agent fence_axigen_ipmi -o ip=127.0.0.1 -o username=admin -o password=x -o cipher=0",
    );
    assert_ne!(rc, 0, "{out}");
    assert!(out.contains("cipher suite 0"), "{out}");
}
