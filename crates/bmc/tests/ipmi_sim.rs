//! Real ipmi_sim BMCs, driven by ipmitool (both from Debian: openipmi, ipmitool).

use std::net::IpAddr;
use std::time::Duration;

use axha_bmc::{Bmc, BmcSpec, BmcUser, Privilege};
use axha_exec::{Cmd, Deadline};

/// A UDP port derived from the pid, so parallel runs do not clash.
fn port(offset: u16) -> u16 {
    30000 + (std::process::id() % 4000) as u16 * 8 + offset
}

fn localhost() -> IpAddr {
    "127.0.0.1".parse().expect("literal")
}

fn spec(dir: &std::path::Path, offset: u16) -> BmcSpec {
    BmcSpec::new(dir.join("bmc"), localhost(), port(offset))
        .user(BmcUser::new("admin", "secret", Privilege::Admin))
        .user(BmcUser::new("oper", "opsecret", Privilege::Operator))
        .chassis_bin(env!("CARGO_BIN_EXE_axha-bmc-chassis"))
}

/// ipmitool with the password from a file, never on the command line.
fn ipmitool(bmc: &Bmc, user: &str, pw: &str, priv_: &str, args: &[&str]) -> (i32, String) {
    let pwfile = bmc.dir().join(format!("pw-{user}"));
    std::fs::write(&pwfile, pw).unwrap();
    let a = bmc.addr();
    let out = Cmd::new("ipmitool")
        .args(["-I", "lanplus", "-C", "3", "-H", &a.ip().to_string()])
        .args(["-p", &a.port().to_string(), "-U", user, "-L", priv_])
        .arg("-f")
        .arg(&pwfile)
        .args(args)
        .run(&Deadline::after(Duration::from_secs(20)))
        .unwrap();
    (
        out.code().unwrap_or(-1),
        out.stdout_str() + &out.stderr_str(),
    )
}

#[test]
fn power_control_through_ipmi() {
    let tmp = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(spec(tmp.path(), 0)).expect("bmc starts");
    let pid = bmc.pid().unwrap();
    assert!(bmc.power().unwrap());
    let (rc, out) = ipmitool(
        &bmc,
        "admin",
        "secret",
        "ADMINISTRATOR",
        &["chassis", "power", "status"],
    );
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("Chassis Power is on"), "{out}");

    let (rc, out) = ipmitool(
        &bmc,
        "admin",
        "secret",
        "ADMINISTRATOR",
        &["chassis", "power", "off"],
    );
    assert_eq!(rc, 0, "{out}");
    assert!(!bmc.power().unwrap());
    // The operator-limited user may switch power too (IPMI v2.0 table G-1: operator level).
    let (rc, out) = ipmitool(
        &bmc,
        "oper",
        "opsecret",
        "OPERATOR",
        &["chassis", "power", "on"],
    );
    assert_eq!(rc, 0, "{out}");
    assert!(bmc.power().unwrap());

    bmc.set_power(false).unwrap();
    let (_, out) = ipmitool(
        &bmc,
        "admin",
        "secret",
        "ADMINISTRATOR",
        &["chassis", "power", "status"],
    );
    assert!(out.contains("Chassis Power is off"), "{out}");

    let (rc, _) = ipmitool(
        &bmc,
        "admin",
        "wrong",
        "ADMINISTRATOR",
        &["chassis", "power", "status"],
    );
    assert_ne!(rc, 0, "a wrong password must not log in");

    let log = bmc.chassis_log().unwrap();
    assert!(log.contains("set power 0"), "{log}");
    assert!(log.contains("set power 1"), "{log}");
    bmc.stop().unwrap();
    // Gone, or a zombie its reaper thread has not collected yet.
    assert!(
        axha_exec::read_identity(pid).is_none(),
        "ipmi_sim {pid} survived stop"
    );
}

#[test]
fn power_hook_runs_after_state_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let seen = tmp.path().join("seen");
    // The hook records its argument and the power state it sees.
    let script = format!(
        "echo \"$1 $(cat {}/bmc/power)\" >> {}",
        tmp.path().display(),
        seen.display()
    );
    let s = spec(tmp.path(), 1).power_hook(vec!["sh".into(), "-c".into(), script, "hook".into()]);
    let bmc = Bmc::start(s).expect("bmc starts");
    let (rc, out) = ipmitool(
        &bmc,
        "admin",
        "secret",
        "ADMINISTRATOR",
        &["chassis", "power", "off"],
    );
    assert_eq!(rc, 0, "{out}");
    let (rc, out) = ipmitool(
        &bmc,
        "admin",
        "secret",
        "ADMINISTRATOR",
        &["chassis", "power", "on"],
    );
    assert_eq!(rc, 0, "{out}");
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), "off 0\non 1\n");
}

#[test]
fn detached_bmc_keeps_running_until_stopped_by_its_record() {
    let tmp = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(spec(tmp.path(), 4)).expect("bmc starts");
    let dir = bmc.dir().to_owned();
    let id = bmc.detach().expect("identity");
    assert!(id.is_alive(), "detach leaves it running");
    assert!(axha_bmc::stop_recorded(&dir).unwrap());
    assert!(!id.is_alive());
    assert!(
        !axha_bmc::stop_recorded(&dir).unwrap(),
        "nothing left to stop"
    );
}

#[test]
fn failing_hook_keeps_power_on_and_fails_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let s = spec(tmp.path(), 2).power_hook(vec!["false".into()]);
    let bmc = Bmc::start(s).expect("bmc starts");
    let (rc, out) = ipmitool(
        &bmc,
        "admin",
        "secret",
        "ADMINISTRATOR",
        &["chassis", "power", "off"],
    );
    assert_ne!(rc, 0, "{out}");
    assert!(
        bmc.power().unwrap(),
        "power must stay on when the hook failed"
    );
}

#[test]
fn start_fails_clearly_on_a_taken_port_or_bad_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bad = spec(tmp.path(), 3);
    bad.users[0].password = "with space".into();
    let e = Bmc::start(bad).unwrap_err().to_string();
    assert!(e.contains("admin"), "{e}");

    let missing = spec(tmp.path(), 3).chassis_bin("/nonexistent/chassis");
    let e = Bmc::start(missing).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/chassis"), "{e}");

    // A taken port is refused (ipmi_sim itself would share it silently: SO_REUSEADDR).
    let holder = std::net::UdpSocket::bind(("127.0.0.1", port(3))).unwrap();
    let e = Bmc::start(spec(tmp.path(), 3)).unwrap_err();
    assert!(matches!(e, axha_bmc::BmcError::PortInUse(_)), "{e}");
    drop(holder);
}

/// Deletes the namespace it created, also when the test fails.
struct Netns(String);
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Cmd::new("ip")
            .args(["netns", "del", &self.0])
            .run(&Deadline::after(Duration::from_secs(10)));
    }
}

#[test]
fn serves_inside_a_network_namespace() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP serves_inside_a_network_namespace: needs root for ip netns");
        return;
    }
    let d = Deadline::after(Duration::from_secs(10));
    let ns = Netns(format!("axha-bmc-t{}", std::process::id()));
    Cmd::new("ip")
        .args(["netns", "add", &ns.0])
        .run_ok(&d)
        .unwrap();
    Cmd::new("ip")
        .args(["-n", &ns.0, "link", "set", "lo", "up"])
        .run_ok(&d)
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(spec(tmp.path(), 5).netns(ns.0.clone())).expect("bmc starts in netns");
    // Not reachable from the host namespace: that port is not bound here.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let _ = sock.send_to(&axha_bmc::channel_auth_capabilities_request(), bmc.addr());
    assert!(
        sock.recv_from(&mut [0u8; 256]).is_err(),
        "answered outside its namespace"
    );
    // Reachable inside it.
    let pw = tmp.path().join("pw");
    std::fs::write(&pw, "secret").unwrap();
    let out = Cmd::new("ip")
        .args([
            "netns", "exec", &ns.0, "ipmitool", "-I", "lanplus", "-C", "3",
        ])
        .args([
            "-H",
            "127.0.0.1",
            "-p",
            &bmc.addr().port().to_string(),
            "-U",
            "admin",
        ])
        .arg("-f")
        .arg(&pw)
        .args(["chassis", "power", "off"])
        .run(&d)
        .unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_str());
    assert!(!bmc.power().unwrap());
    bmc.stop().unwrap();
}
