//! Cipher suite 17 (RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128), the BMC key K_G and the
//! diag action of fence_axigen_ipmi, against a BMC that ipmitool agrees with.
//!
//! ipmi_sim 2.0.33 (the project's usual test BMC) has no SHA-256 suite and no BMC key: an
//! Open Session for suite 17 gets "invalid authentication algorithm" (checked below). These
//! tests therefore serve the simulated BMC with `axha-bmc-lanplus`, the project's own RMCP+
//! responder, and ask ipmitool, a client nobody here wrote, the same questions the agent asks:
//! both must get the same answers, and both must fail without the right key. ipmitool gets
//! the password from a file (`-f`); the throw-away test key is given with `-k` / `-y`, which
//! is how ipmitool takes one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_e2e::bmc::{self, TestBmc, ADMIN};
use axha_e2e::{Cmd, Deadline};

/// The test BMC key: ASCII "keykeykey" (ipmitool -k), "6b65796b65796b6579" in hexadecimal
/// (ipmitool -y, fence_ipmilan's hexadecimal_kg).
const KEY_ASCII: &str = "keykeykey";
const KEY_HEX: &str = "6b65796b65796b6579";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: Cmd) -> Run {
    let out = cmd
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("command runs");
    Run {
        code: out.code().unwrap_or(-1),
        stdout: out.stdout_str(),
        stderr: out.stderr_str(),
    }
}

/// fence_axigen_ipmi with `key=value` lines on stdin, as Pacemaker runs it.
fn agent(text: &str) -> Run {
    run(Cmd::new(axha_e2e::bin("fence_axigen_ipmi")).stdin(text.as_bytes().to_vec()))
}

/// The agent's exit code and stdout are these (its stderr shown when not).
fn expect(r: Run, code: i32, stdout: &str) -> Run {
    assert_eq!((r.code, r.stdout.as_str()), (code, stdout), "{}", r.stderr);
    r
}

fn base(b: &TestBmc, cipher: u8) -> String {
    format!(
        "ip=127.0.0.1\nipport={}\nusername={}\npassword={}\ncipher={cipher}\n",
        b.addr().port(),
        ADMIN.0,
        ADMIN.1
    )
}

/// The admin password in a file of the BMC's directory, for `ipmitool -f`.
fn password_file(b: &TestBmc) -> PathBuf {
    let p = b.dir().join("ipmitool-pw");
    std::fs::write(&p, format!("{}\n", ADMIN.1)).expect("password file");
    p
}

/// `ipmitool -I lanplus -C <suite> ... -f <file> [key args] <args>`; stdout and stderr joined.
fn ipmitool(b: &TestBmc, suite: u8, key: &[&str], args: &[&str]) -> (i32, String) {
    let a = b.addr();
    let r = run(Cmd::new("ipmitool")
        .args(["-I", "lanplus", "-C", &suite.to_string()])
        .args(["-H", &a.ip().to_string(), "-p", &a.port().to_string()])
        .args(["-U", ADMIN.0, "-L", "ADMINISTRATOR", "-N", "1", "-R", "2"])
        .arg("-f")
        .arg(password_file(b))
        .args(key)
        .args(args));
    (r.code, format!("{}{}", r.stdout, r.stderr))
}

fn power_status(b: &TestBmc, suite: u8, key: &[&str]) -> String {
    let (code, out) = ipmitool(b, suite, key, &["chassis", "power", "status"]);
    assert_eq!(code, 0, "ipmitool -C {suite}: {out}");
    out.trim().to_string()
}

fn count(log: &str, needle: &str) -> usize {
    log.matches(needle).count()
}

#[test]
fn ipmi_sim_lacks_suite_17_and_the_agent_says_so() {
    let b = bmc::start_bmc();
    let (code, out) = ipmitool(&b, 17, &[], &["chassis", "power", "status"]);
    assert_ne!(code, 0, "ipmi_sim answered suite 17: {out}");
    assert!(out.contains("invalid authentication algorithm"), "{out}");
    let r = agent(&format!("action=status\n{}", base(&b, 17)));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("cipher suite 17 not usable") && r.stderr.contains("authentication"),
        "{}",
        r.stderr
    );
}

#[test]
fn suite_17_status_off_on_and_diag_agree_with_ipmitool() {
    let b = bmc::start_lanplus_bmc_with(|s| s);
    let base = base(&b, 17);
    expect(agent(&format!("action=status\n{base}")), 0, "Status: ON\n");
    assert_eq!(power_status(&b, 17, &[]), "Chassis Power is on");

    expect(
        agent(&format!("action=off\n{base}")),
        0,
        "Success: Powered OFF\n",
    );
    assert!(!b.power().unwrap());
    assert_eq!(power_status(&b, 17, &[]), "Chassis Power is off");
    let r = agent(&format!("action=status\n{base}"));
    assert_eq!((r.code, r.stdout.as_str()), (2, "Status: OFF\n"));

    // ipmitool switches it on; the agent sees it.
    let (code, out) = ipmitool(&b, 17, &[], &["chassis", "power", "on"]);
    assert_eq!(code, 0, "{out}");
    expect(agent(&format!("action=status\n{base}")), 0, "Status: ON\n");
    let r = agent(&format!("action=reboot\n{base}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(b.power().unwrap());

    // diag reaches the BMC as a diagnostic interrupt and leaves power alone; ipmitool's
    // `chassis power diag` sends the same command.
    let before = count(&b.chassis_log().unwrap(), "set diag 1");
    expect(
        agent(&format!("action=diag\n{base}")),
        0,
        "Success: Diagnostic interrupt (NMI) sent\n",
    );
    let log = b.chassis_log().unwrap();
    assert_eq!(count(&log, "set diag 1"), before + 1, "{log}");
    assert!(log.contains("diagnostic interrupt (NMI) pulsed"), "{log}");
    assert!(b.power().unwrap(), "diag does not switch power");
    let (code, out) = ipmitool(&b, 17, &[], &["chassis", "power", "diag"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Chassis Power Control: Diag"), "{out}");
    assert_eq!(count(&b.chassis_log().unwrap(), "set diag 1"), before + 2);

    // A user limited to operator may pulse it at operator level, not at user level.
    let oper = format!(
        "ip=127.0.0.1\nipport={}\nusername={}\npassword={}\ncipher=17\n",
        b.addr().port(),
        bmc::OPERATOR.0,
        bmc::OPERATOR.1
    );
    let r = agent(&format!("action=diag\n{oper}privlvl=operator\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = agent(&format!("action=diag\n{oper}privlvl=user\n"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("privlvl"), "{}", r.stderr);
}

#[test]
fn a_bmc_key_is_needed_by_both_clients_and_must_match() {
    let b = bmc::start_lanplus_bmc_with(|s| s.bmc_key(KEY_HEX));
    for suite in [17u8, 3] {
        // ipmitool: the key as ASCII (-k) and as hexadecimal (-y) work; none or another fails.
        assert_eq!(
            power_status(&b, suite, &["-k", KEY_ASCII]),
            "Chassis Power is on"
        );
        assert_eq!(
            power_status(&b, suite, &["-y", KEY_HEX]),
            "Chassis Power is on"
        );
        let (code, out) = ipmitool(&b, suite, &[], &["chassis", "power", "status"]);
        assert_ne!(code, 0, "no key: {out}");
        assert!(out.contains("Unable to establish"), "{out}");
        let (code, out) = ipmitool(
            &b,
            suite,
            &["-k", "keykeykez"],
            &["chassis", "power", "status"],
        );
        assert_ne!(code, 0, "wrong key: {out}");

        // The agent: the same key works from stdin; none and another fail with the fence
        // failure code and a message that says which.
        let base = base(&b, suite);
        let r = expect(
            agent(&format!(
                "action=status\n{base}hexadecimal_kg={KEY_HEX}\nverbose=1\n"
            )),
            0,
            "Status: ON\n",
        );
        assert!(r.stderr.contains("with a BMC key"), "{}", r.stderr);
        assert!(!r.stderr.contains(KEY_HEX), "key in the log: {}", r.stderr);
        let r = agent(&format!("action=status\n{base}"));
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(
            r.stderr.starts_with("Failed: ")
                && r.stderr
                    .contains("the BMC has a BMC key (K_G) set and none was given")
                && r.stderr.contains("hexadecimal_kg"),
            "{}",
            r.stderr
        );
        let wrong = KEY_HEX.replace("79", "7a");
        let r = agent(&format!("action=status\n{base}hexadecimal_kg={wrong}\n"));
        assert_eq!(r.code, 1);
        assert!(
            r.stderr
                .contains("the BMC key (K_G) given is not the BMC's"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains(&wrong), "{}", r.stderr);
    }

    // Fencing with the key from a file, verified off by both clients.
    let kg_file = b.dir().join("kg");
    std::fs::write(&kg_file, format!("{KEY_HEX}\n")).unwrap();
    let base = format!(
        "{}hexadecimal_kg_file={}\n",
        base(&b, 17),
        kg_file.display()
    );
    expect(
        agent(&format!("action=off\n{base}")),
        0,
        "Success: Powered OFF\n",
    );
    assert!(!b.power().unwrap());
    assert_eq!(
        power_status(&b, 17, &["-y", KEY_HEX]),
        "Chassis Power is off"
    );
    let r = agent(&format!("action=on\n{base}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        power_status(&b, 3, &["-k", KEY_ASCII]),
        "Chassis Power is on"
    );
}

#[test]
fn the_key_never_reaches_the_command_line_of_a_child_or_the_log() {
    // The agent runs no child at all (it speaks IPMI itself); what it prints with verbose
    // and on failure must not hold the key, whatever form it was given in.
    let b = bmc::start_lanplus_bmc_with(|s| s.bmc_key(KEY_HEX));
    let dir = b.dir();
    let file = write(&dir, "kg-bad", "not-a-key-s3cr3t\n");
    for extra in [
        "hexadecimal_kg=not-a-key-s3cr3t\n".to_string(),
        format!("hexadecimal_kg_file={}\n", file.display()),
    ] {
        let r = agent(&format!(
            "action=status\n{}{extra}verbose=1\n",
            base(&b, 17)
        ));
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("hexadecimal_kg"), "{}", r.stderr);
        assert!(!r.stderr.contains("s3cr3t"), "{}", r.stderr);
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn suite_3_still_works_on_both_bmcs() {
    for b in [bmc::start_bmc(), bmc::start_lanplus_bmc_with(|s| s)] {
        let base = base(&b, 3);
        let r = agent(&format!("action=off\n{base}"));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(power_status(&b, 3, &[]), "Chassis Power is off");
        let r = agent(&format!("action=on\n{base}"));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(power_status(&b, 3, &[]), "Chassis Power is on");
    }
}

#[test]
fn a_bmc_that_disabled_suite_3_needs_17_or_auto() {
    use axha_ipmi::CipherSuite;
    let b = bmc::start_lanplus_bmc_with(|s| s.cipher_suites(&[CipherSuite::Suite17]));
    let r = agent(&format!("action=status\n{}", base(&b, 3)));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cipher suite 3 not usable"),
        "{}",
        r.stderr
    );
    let (code, out) = ipmitool(&b, 3, &[], &["chassis", "power", "status"]);
    assert_ne!(code, 0, "ipmitool -C 3: {out}");

    let auto = base(&b, 17).replace("cipher=17", "cipher=auto");
    let r = expect(
        agent(&format!("action=status\n{auto}verbose=1\n")),
        0,
        "Status: ON\n",
    );
    assert!(
        r.stderr.contains("offers cipher suites [17]; using 17"),
        "{}",
        r.stderr
    );
    // ipmitool without -C picks the best suite the BMC lists, the same way.
    let a = b.addr();
    let out = Cmd::new("ipmitool")
        .args(["-I", "lanplus", "-H", &a.ip().to_string()])
        .args(["-p", &a.port().to_string(), "-U", ADMIN.0, "-v", "-f"])
        .arg(password_file(&b))
        .args(["chassis", "power", "status"])
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("ipmitool runs");
    let text = format!("{}{}", out.stdout_str(), out.stderr_str());
    assert_eq!(out.code(), Some(0), "{text}");
    assert!(
        text.contains("Using best available cipher suite 17"),
        "{text}"
    );
}

#[test]
fn cipher_auto_takes_17_where_offered_and_3_from_ipmi_sim() {
    let b = bmc::start_lanplus_bmc_with(|s| s);
    let auto = base(&b, 17).replace("cipher=17", "cipher=auto");
    let r = expect(
        agent(&format!("action=off\n{auto}verbose=1\n")),
        0,
        "Success: Powered OFF\n",
    );
    assert!(
        r.stderr
            .contains("offers cipher suites [17, 3, 2]; using 17"),
        "{}",
        r.stderr
    );
    assert!(!b.power().unwrap());
    // ipmi_sim lists suites 0-14 (asked in IPMI v1.5 framing), not 17: auto takes 3.
    let sim = bmc::start_bmc();
    let auto = base(&sim, 3).replace("cipher=3", "cipher=auto");
    let r = expect(
        agent(&format!("action=status\n{auto}verbose=1\n")),
        0,
        "Status: ON\n",
    );
    assert!(
        r.stderr.contains("offers cipher suites [0, 1, 2, 3,") && r.stderr.contains("; using 3"),
        "{}",
        r.stderr
    );
}

/// Pacemaker's fencer runs the agent with suite 17 and the BMC key from the CIB (a key file):
/// a real single-node cluster (axha-lab) whose device fences a simulated node n2, whose BMC
/// (the project's responder, with a key) serves inside n1's network namespace.
#[test]
fn pacemaker_fences_through_suite_17_with_a_bmc_key() {
    axha_e2e::need_root!();
    use axha_e2e::lab::{binaries_dir, spec};
    let mut s = spec("fc17", 1);
    s.binaries = Some(binaries_dir());
    let lab = axha_lab::Lab::up(s).expect("lab up");
    let node_ip = lab.node_addr("n1");
    let ns = lab.netns_name("n1");
    let b = bmc::start_lanplus_bmc_with(|spec| {
        let mut spec = spec.netns(ns.clone()).bmc_key(KEY_HEX);
        spec.addr = std::net::IpAddr::V4(node_ip);
        spec
    });
    let secrets = tempfile::tempdir().unwrap();
    let pw = write(secrets.path(), "bmc-n2.pw", &format!("{}\n", ADMIN.1));
    let kg = write(secrets.path(), "bmc-n2.kg", &format!("{KEY_HEX}\n"));
    let attrs = [
        ("ip", node_ip.to_string()),
        ("ipport", b.addr().port().to_string()),
        ("username", ADMIN.0.to_string()),
        ("password_file", pw.display().to_string()),
        ("hexadecimal_kg_file", kg.display().to_string()),
        ("cipher", "17".to_string()),
        ("bound_node", "n2".to_string()),
        ("pcmk_host_list", "n2".to_string()),
    ];
    let nvpairs: String = attrs
        .iter()
        .map(|(k, v)| format!(r#"<nvpair id="fence-n2-{k}" name="{k}" value="{v}"/>"#))
        .collect();
    let device = format!(
        r#"<primitive id="fence-n2" class="stonith" type="fence_axigen_ipmi"><instance_attributes id="fence-n2-ia">{nvpairs}</instance_attributes></primitive>"#
    );
    let d = Duration::from_secs(30);
    lab.run_ok(
        "n1",
        &["cibadmin", "--create", "-o", "resources", "-X", &device],
        d,
    )
    .expect("device added to the CIB");
    axha_e2e::wait_for("the fencer to register fence-n2", d, || {
        lab.run("n1", &["stonith_admin", "--list", "n2"], d)
            .map(|o| o.stdout_str().contains("fence-n2"))
            .unwrap_or(false)
    });
    let fence = |how: &str| {
        let out = lab
            .run(
                "n1",
                &["stonith_admin", how, "n2", "--timeout", "60"],
                Duration::from_secs(90),
            )
            .unwrap();
        assert_eq!(
            out.code(),
            Some(0),
            "{how}: {}{}",
            out.stdout_str(),
            out.stderr_str()
        );
    };
    let before = b.chassis_log().unwrap().len();
    fence("--reboot");
    let log = b.chassis_log().unwrap()[before..].to_string();
    let off = log.find("set power 0").expect("reboot switched n2 off");
    let on = log.find("set power 1").expect("reboot switched n2 on");
    assert!(off < on, "{log}");
    fence("--fence");
    assert!(!b.power().unwrap(), "n2 is off after --fence");
    let v = lab.view("n1").expect("crm_mon");
    let done: Vec<&str> = v.fenced("n2").iter().map(|e| e.action.as_str()).collect();
    assert!(
        done.contains(&"reboot") && done.contains(&"off"),
        "{:?}",
        v.fencing
    );
    drop(b);
    lab.down().expect("lab down");
}
