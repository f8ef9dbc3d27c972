//! Hostile input against the built agents: environments and arguments that are not UTF-8,
//! control characters in parameters, secret files that never end or never open, special
//! names. Each test runs the binary with an explicit environment and asserts its exit code,
//! its output and its `ocf-exit-reason:` line. The instance tests use `axigen-sim`, the Axigen
//! stand-in (Axigen itself cannot be installed here); none of them starts a server.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::process::{Command, Stdio};

use axha_e2e::instance::{set_mode, SimInstance, TempDir};

/// What one run printed and how it ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The exit reason lines (an agent prints at most one).
    fn reasons(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix("ocf-exit-reason:"))
            .collect()
    }

    fn reason(&self) -> &str {
        let r = self.reasons();
        assert!(r.len() <= 1, "more than one exit reason: {self:?}");
        r.first().copied().unwrap_or_default()
    }

    fn assert_sane(&self) {
        assert_ne!(self.code, 101, "panicked: {self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
    }
}

fn os(b: &[u8]) -> OsString {
    OsString::from_vec(b.to_vec())
}

/// Run `binary` with `args` and exactly `env` (OS strings: any bytes), stdin from `input`.
fn run(binary: &str, args: &[OsString], env: &[(OsString, OsString)], input: &[u8]) -> Run {
    let mut c = Command::new(axha_e2e::bin(binary));
    c.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HA_LOGFILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("binary runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output().expect("binary ends");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    r.assert_sane();
    r
}

/// An OCF agent call: `action` with the environment `env` plus `extra`.
fn ocf(agent: &str, action: &str, env: &[(OsString, OsString)]) -> Run {
    run(agent, &[OsString::from(action)], env, b"")
}

fn kv(k: &str, v: impl AsRef<OsStr>) -> (OsString, OsString) {
    (OsString::from(k), v.as_ref().to_owned())
}

fn sim_env(inst: &SimInstance) -> Vec<(OsString, OsString)> {
    inst.env().into_iter().map(|(k, v)| kv(&k, v)).collect()
}

fn with(mut env: Vec<(OsString, OsString)>, extra: &[(&str, &[u8])]) -> Vec<(OsString, OsString)> {
    for (k, v) in extra {
        env.retain(|(name, _)| name != OsStr::new(k));
        env.push(kv(k, os(v)));
    }
    env
}

#[test]
fn unused_non_utf8_variables_are_ignored_by_every_ocf_agent() {
    let inst = SimInstance::new("hostile-env", "127.0.0.1");
    let junk = [(os(b"JUNK"), os(b"\xff\xfe")), (os(b"K\xff"), os(b"v"))];
    let mut env = sim_env(&inst);
    env.extend(junk.iter().cloned());
    let md = ocf("instance", "meta-data", &env);
    assert_eq!(md.code, 0);
    assert!(
        md.stdout.contains("<resource-agent name=\"instance\""),
        "{md:?}"
    );
    assert_eq!(ocf("instance", "validate-all", &env).code, 0);
    let probe = ocf("instance", "monitor", &env);
    assert_eq!((probe.code, probe.stderr.as_str()), (7, ""), "{probe:?}");
    assert_eq!(ocf("instance", "stop", &env).code, 0);

    let drbd: Vec<_> = junk
        .iter()
        .cloned()
        .chain([kv("OCF_RESKEY_drbd_resource", "r0")])
        .collect();
    assert_eq!(ocf("drbd", "meta-data", &drbd).code, 0);
    let stop = ocf("drbd", "stop", &drbd);
    assert_eq!(stop.code, 0, "{stop:?}");
}

#[test]
fn non_utf8_parameter_is_a_configuration_error_but_stop_succeeds() {
    let inst = SimInstance::new("hostile-param", "127.0.0.1");
    let env = with(sim_env(&inst), &[("OCF_RESKEY_workdir", b"/srv/ax\xff")]);
    for action in ["validate-all", "start", "monitor"] {
        let r = ocf("instance", action, &env);
        assert_eq!(r.code, 6, "{action}: {r:?}");
        assert_eq!(r.reason(), "workdir is not valid UTF-8", "{action}");
    }
    // Start refuses such a workdir, so nothing can be running: stop succeeds.
    assert_eq!(ocf("instance", "stop", &env).code, 0);
    assert_eq!(ocf("instance", "meta-data", &env).code, 0);

    let drbd = [kv("OCF_RESKEY_drbd_resource", os(b"r\xff0"))];
    let r = ocf("drbd", "validate-all", &drbd);
    assert_eq!(r.code, 6, "{r:?}");
    assert_eq!(r.reason(), "drbd_resource is not valid UTF-8");
    assert_eq!(ocf("drbd", "stop", &drbd).code, 0);
}

#[test]
fn control_characters_cannot_forge_an_exit_reason_or_a_log_line() {
    let inst = SimInstance::new("hostile-ctl", "127.0.0.1");
    let log = inst.dir.path().join("ha.log");
    let env = with(
        sim_env(&inst),
        &[
            ("OCF_RESKEY_cli_user", b"admin\nocf-exit-reason:forged"),
            ("OCF_RESOURCE_INSTANCE", b"ax\x1b[31m1"),
            ("HA_LOGFILE", log.as_os_str().as_bytes()),
        ],
    );
    let r = ocf("instance", "validate-all", &env);
    assert_eq!(r.code, 6, "{r:?}");
    assert_eq!(
        r.reasons(),
        ["cli_user=admin\\nocf-exit-reason:forged contains a control character"]
    );
    let text = std::fs::read_to_string(&log).expect("the agent logged the failure");
    assert_eq!(text.lines().count(), 1, "{text:?}");
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.contains("instance(ax\\x1b[31m1): ERROR"), "{text:?}");
}

#[test]
fn validate_all_catches_what_start_would_fail_on() {
    let inst = SimInstance::new("hostile-validate", "127.0.0.1");
    let base = sim_env(&inst);
    let depth10 = ("OCF_CHECK_LEVEL", b"10".as_slice());
    let check = |extra: &[(&str, &[u8])], code: i32, needle: &str| {
        let r = ocf("instance", "validate-all", &with(base.clone(), extra));
        assert_eq!(r.code, code, "{extra:?}: {r:?}");
        assert!(
            r.reason().contains(needle),
            "{:?} lacks {needle:?}",
            r.reason()
        );
    };
    check(&[("OCF_RESKEY_cli_user", b"ad min")], 6, "white space");
    let long = format!("/{}", "w/".repeat(2100));
    check(&[("OCF_RESKEY_workdir", long.as_bytes())], 6, "PATH_MAX");
    // The password file: missing on this node (5), a directory (2), an endless device (2).
    let missing = inst.dir.path().join("nowhere.pw");
    check(
        &[
            (
                "OCF_RESKEY_cli_password_file",
                missing.as_os_str().as_bytes(),
            ),
            depth10,
        ],
        5,
        "No such file",
    );
    check(
        &[
            (
                "OCF_RESKEY_cli_password_file",
                inst.dir.path().as_os_str().as_bytes(),
            ),
            depth10,
        ],
        2,
        "not a regular file",
    );
    check(
        &[("OCF_RESKEY_cli_password_file", b"/dev/zero"), depth10],
        2,
        "not a regular file",
    );
    // A configuration error (6) is reported even where something is also missing (5).
    let garbage = inst.dir.path().join("garbage.cfg");
    std::fs::write(&garbage, "server = { listeners = ( {{{ \n").unwrap();
    check(
        &[
            ("OCF_RESKEY_binary", b"/nonexistent/axigen"),
            ("OCF_RESKEY_config", garbage.as_os_str().as_bytes()),
            depth10,
        ],
        6,
        "garbage.cfg",
    );
    // An empty optional parameter means its default.
    let r = ocf(
        "instance",
        "validate-all",
        &with(base.clone(), &[("OCF_RESKEY_cli_user", b""), depth10]),
    );
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn drbd_special_names_and_configuration_errors_first() {
    for name in ["all", "-v", "r 0"] {
        let env = [kv("OCF_RESKEY_drbd_resource", name)];
        let r = ocf("drbd", "validate-all", &env);
        assert_eq!(r.code, 6, "{name}: {r:?}");
        assert!(
            r.reason().contains("is not one DRBD resource name"),
            "{r:?}"
        );
        let stop = ocf("drbd", "stop", &env);
        assert_eq!(stop.code, 0, "{name}: {stop:?}");
    }
    // clone-node-max=2 is wrong everywhere; r0 is not defined on this node (5): 6 wins.
    let env = [
        kv("OCF_RESKEY_drbd_resource", "r0"),
        kv("OCF_RESKEY_drbdconf", "/nonexistent/drbd.conf"),
        kv("OCF_RESKEY_CRM_meta_clone_max", "2"),
        kv("OCF_RESKEY_CRM_meta_clone_node_max", "2"),
    ];
    let r = ocf("drbd", "validate-all", &env);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(r.reason().contains("clone-node-max=2"), "{r:?}");
}

fn fence(input: &[u8]) -> Run {
    run("fence_axigen_ipmi", &[], &[], input)
}

fn failed_line(r: &Run) -> &str {
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{r:?}");
    lines[0]
}

#[test]
fn fence_agent_hostile_stdin_and_argv() {
    const BASE: &str = "action=validate-all\nip=127.0.0.1\nusername=admin\n";
    let r = fence(format!("{BASE}password=secret\nipport=\n").as_bytes());
    assert_eq!(
        r.code, 0,
        "an empty optional parameter is its default: {r:?}"
    );
    let r = fence(b"action=status\nip=127.0.0.1\x00junk\nusername=admin\npassword=x\n");
    assert_eq!(r.code, 1);
    assert_eq!(
        failed_line(&r),
        "Failed: invalid ip=\"127.0.0.1\\0junk\": contains a control character"
    );
    let mut bad = BASE.as_bytes().to_vec();
    bad.extend_from_slice(b"password=\xff\n");
    let r = fence(&bad);
    assert_eq!(r.code, 1);
    assert!(failed_line(&r).contains("password"), "{r:?}");
    let mut bad = BASE.as_bytes().to_vec();
    bad.extend_from_slice(b"password=x\nunknown\xff=1\n");
    assert_eq!(fence(&bad).code, 0, "an unknown non-UTF-8 key is ignored");
    let r = fence(&vec![b'#'; 100_000]);
    assert_eq!(r.code, 1);
    assert!(failed_line(&r).contains("more than 65536 bytes"), "{r:?}");
    let r = run(
        "fence_axigen_ipmi",
        &[os(b"-o"), os(b"status"), os(b"--ip=\xff")],
        &[(os(b"JUNK"), os(b"\xff"))],
        b"",
    );
    assert_eq!(r.code, 1);
    assert!(failed_line(&r).contains("not valid UTF-8"), "{r:?}");
    let r = fence(format!("{BASE}password=123456789012345678901\n").as_bytes());
    assert_eq!(r.code, 1);
    assert!(failed_line(&r).contains("more than the 20"), "{r:?}");
    let r =
        fence(format!("{BASE}password=x\nip=no-such-bmc.invalid\nlogin_timeout=5\n").as_bytes());
    assert_eq!(r.code, 1);
    assert!(failed_line(&r).contains("no-such-bmc.invalid"), "{r:?}");
}

#[test]
fn fence_agent_password_sources_are_bounded() {
    const BASE: &str = "action=validate-all\nip=127.0.0.1\nusername=admin\n";
    let dir = TempDir::new("hostile-fence");
    let fifo = dir.path().join("pw.fifo");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let file = |p: &Path| format!("{BASE}password_file={}\n", p.display());
    let r = fence(file(Path::new("/dev/zero")).as_bytes());
    assert_eq!(r.code, 1);
    assert!(failed_line(&r).contains("more than 4096 bytes"), "{r:?}");
    let r = fence(file(&fifo).as_bytes());
    assert_eq!(r.code, 1);
    assert!(failed_line(&r).contains("password_file is empty"), "{r:?}");
    let r = fence(format!("{BASE}password_script=cat /dev/urandom\n").as_bytes());
    assert_eq!(r.code, 1);
    assert!(
        failed_line(&r).contains("printed more than 4096 bytes"),
        "{r:?}"
    );
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret\n").unwrap();
    set_mode(&pw, 0o600);
    assert_eq!(fence(file(&pw).as_bytes()).code, 0);
}

#[test]
fn drbd_fence_peer_and_clis_never_panic_on_non_utf8() {
    let r = run(
        "drbd-fence-peer",
        &[],
        &[(os(b"DRBD_RESOURCE"), os(b"r\xff"))],
        b"",
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        "drbd-fence-peer: DRBD_RESOURCE is not valid UTF-8\n"
    );
    for name in [b"r0']|//*[@id='x".as_slice(), b"all", b"-v", b"r\n0"] {
        let r = run(
            "drbd-fence-peer",
            &[],
            &[(os(b"DRBD_RESOURCE"), os(name))],
            b"",
        );
        assert_eq!(r.code, 1, "{r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
        assert!(r.stderr.contains("is not a usable name"), "{r:?}");
    }
    let r = run("drbd-fence-peer", &[os(b"--resource=\xff")], &[], b"");
    assert_eq!(r.code, 1, "a clap error: {r:?}");
    for cli in ["axigen-ha", "axigen-provision"] {
        let r = run(cli, &[os(b"\xff")], &[(os(b"JUNK\xff"), os(b"\xfe"))], b"");
        assert_eq!(r.code, 2, "{cli}: a clap error: {r:?}");
    }
    for args in [
        &[os(b"\xff")][..],
        &[os(b"power"), os(b"/tmp/s\xff"), os(b"n1"), os(b"off")],
    ] {
        let r = run("axha-lab-node", args, &[], b"");
        assert_eq!(r.code, 2, "axha-lab-node refuses it: {r:?}");
        assert!(r.stderr.contains("is not UTF-8"), "{r:?}");
    }
}
