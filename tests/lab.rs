//! The lab itself, on real Corosync and Pacemaker: nodes come up online with a DC, commands run
//! inside a node's namespaces, each node has a private /run, power loss is seen by the
//! survivor, and teardown (explicit, by Drop while panicking, or by the next `up` after an
//! interrupted run) leaves no process, namespace or mount behind.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axha_e2e::lab::{spec, Footprint};
use axha_lab::{Lab, LabError};

#[test]
fn one_node_up_exec_private_run_down() {
    axha_e2e::need_root!();
    let t = Instant::now();
    let lab = Lab::up(spec("a", 1)).expect("lab up");
    eprintln!("1 node up in {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(lab.nodes(), vec!["n1"]);
    let v = lab.view("n1").expect("crm_mon");
    assert_eq!(v.online(), vec!["n1"]);
    assert_eq!(v.dc.as_deref(), Some("n1"));

    let d = Duration::from_secs(10);
    let out = lab.run_ok("n1", &["uname", "-n"], d).unwrap();
    assert_eq!(out.stdout_str().trim(), "n1", "UTS namespace");
    let out = lab
        .run_ok("n1", &["ip", "-4", "-o", "addr", "show", "eth0"], d)
        .unwrap();
    assert!(
        out.stdout_str().contains("10.231.0.1/24"),
        "{}",
        out.stdout_str()
    );
    let out = lab.run("n1", &["sh", "-c", "exit 7"], d).unwrap();
    assert_eq!(out.code(), Some(7), "exit codes come through");
    let out = lab.run_ok("n1", &["env"], d).unwrap().stdout_str();
    assert!(
        !out.contains("CARGO"),
        "clean environment in the node: {out}"
    );

    // /run of the node is its own: a file there is not on the host.
    let probe = format!("/run/resource-agents/axha-lab-probe-{}", std::process::id());
    lab.run_ok("n1", &["sh", "-c", &format!("echo x > {probe}")], d)
        .unwrap();
    lab.run_ok("n1", &["test", "-f", &probe], d).unwrap();
    assert!(
        !std::path::Path::new(&probe).exists(),
        "{probe} leaked to the host"
    );

    // /root is the host's: a tree cloned there holds the binaries the nodes run (the demo's
    // axigen-sim). The node's HOME is its own directory.
    let under_root = tempfile::Builder::new()
        .prefix(".axha-lab-probe-")
        .tempdir_in("/root")
        .unwrap();
    let server = under_root.path().join("server");
    std::fs::write(&server, "x").unwrap();
    lab.run_ok("n1", &["test", "-f", &server.to_string_lossy()], d)
        .expect("a file under /root is visible in the node");
    let home = lab.run_ok("n1", &["sh", "-c", "echo $HOME"], d).unwrap();
    assert!(
        home.stdout_str()
            .trim()
            .starts_with(&*lab.state_dir().to_string_lossy()),
        "node HOME is inside the lab: {}",
        home.stdout_str()
    );

    // Errors name the problem.
    assert!(matches!(
        lab.run("n9", &["true"], d),
        Err(LabError::UnknownNode { .. })
    ));
    assert!(lab.cmd("n1", &[]).is_err());

    let pids = lab.node_pids("n1");
    assert!(
        pids.len() >= 3,
        "anchor, corosync, pacemaker daemons: {pids:?}"
    );
    let fp = Footprint::of(&lab);
    let t = Instant::now();
    lab.down().expect("down");
    eprintln!("down in {:.1}s", t.elapsed().as_secs_f64());
    fp.assert_gone();
    assert!(!fp.state_dir.exists(), "state dir removed by down");
    assert!(fp.processes.len() >= 3);
}

#[test]
fn two_nodes_power_loss_and_boot() {
    axha_e2e::need_root!();
    let mut s = spec("b", 2);
    s.token_ms = Some(1000);
    let lab = Lab::up(s).expect("lab up");
    assert_eq!(lab.alive_nodes(), vec!["n1", "n2"]);

    // the two nodes reach each other over the lab network
    let out = lab
        .run(
            "n1",
            &["ping", "-c1", "-W2", "10.231.0.2"],
            Duration::from_secs(5),
        )
        .unwrap();
    if out.code() == Some(127) {
        eprintln!("(no ping in the image: reachability is shown by corosync membership)");
    } else {
        assert_eq!(out.code(), Some(0), "{}", out.stderr_str());
    }

    let t = Instant::now();
    lab.kill("n2").expect("kill n2");
    assert!(!lab.is_alive("n2"));
    assert!(lab.node_pids("n2").is_empty());
    assert!(matches!(
        lab.run("n2", &["true"], Duration::from_secs(5)),
        Err(LabError::NodeDown { .. })
    ));
    let v = lab
        .wait_view(
            "n1 to see n2 offline and be DC",
            Duration::from_secs(30),
            |v| {
                // When n2 was DC, n1 sees it offline before its own election ends.
                v.node("n2").is_some_and(|n| !n.online)
                    && v.node("n1").is_some_and(|n| n.online)
                    && v.dc.as_deref() == Some("n1")
            },
        )
        .expect("n2 seen offline");
    eprintln!(
        "n2 offline for n1 after {:.1}s (DC {:?})",
        t.elapsed().as_secs_f64(),
        v.dc
    );
    assert_eq!(v.dc.as_deref(), Some("n1"));

    assert!(matches!(lab.start("n1"), Err(LabError::NodeUp { .. })));
    let t = Instant::now();
    lab.start("n2").expect("boot n2");
    lab.wait_online(Duration::from_secs(60))
        .expect("n2 rejoins");
    eprintln!("n2 rejoined after {:.1}s", t.elapsed().as_secs_f64());
    assert_eq!(lab.view("n2").unwrap().online(), vec!["n1", "n2"]);

    // n1 and n2 have separate /run
    let d = Duration::from_secs(10);
    lab.run_ok("n1", &["touch", "/run/axha-only-n1"], d)
        .unwrap();
    assert_eq!(
        lab.run("n2", &["test", "-e", "/run/axha-only-n1"], d)
            .unwrap()
            .code(),
        Some(1)
    );
    let fp = Footprint::of(&lab);
    assert!(fp.processes.len() >= 6, "{:?}", fp.processes);
    drop(lab);
    fp.assert_gone();
}

#[test]
fn drop_cleans_up_while_panicking() {
    axha_e2e::need_root!();
    let seen: Arc<Mutex<Option<Footprint>>> = Arc::default();
    let seen2 = Arc::clone(&seen);
    let r = std::panic::catch_unwind(move || {
        let lab = Lab::up(spec("c", 1)).expect("lab up");
        *seen2.lock().unwrap() = Some(Footprint::of(&lab));
        panic!("deliberate failure inside a test holding a lab");
    });
    assert!(r.is_err());
    let fp = seen.lock().unwrap().clone().expect("lab came up");
    fp.assert_gone();
    // the logs of the failed run stay for the post-mortem
    assert!(fp.state_dir.join("nodes/n1/log-pacemaker").is_dir());
    std::fs::remove_dir_all(&fp.state_dir).unwrap();
}

#[test]
fn up_cleans_leftovers_of_an_interrupted_run() {
    axha_e2e::need_root!();
    let s = spec("d", 1);
    let lab = Lab::up(s.clone()).expect("lab up");
    let fp = Footprint::of(&lab);
    let old: Vec<_> = lab
        .node_pids("n1")
        .into_iter()
        .filter_map(axha_exec::read_identity)
        .collect();
    assert!(!old.is_empty());
    // A second `up` of a lab that is owned by a live process is refused.
    match Lab::up(s.clone()) {
        Err(LabError::AlreadyUp { .. }) => {}
        other => panic!("expected AlreadyUp, got {other:?}"),
    }
    // Simulate the owner dying without running Drop (SIGKILL of the test, Ctrl-C): forget
    // the value and make the recorded owner a process that no longer exists.
    std::mem::forget(lab);
    let conf_path = fp.state_dir.join("lab.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    let owner = conf.lines().find(|l| l.starts_with("owner=")).unwrap();
    let mut f: Vec<String> = owner["owner=".len()..]
        .splitn(3, ' ')
        .map(str::to_string)
        .collect();
    f[1] = (f[1].parse::<u64>().unwrap() + 1).to_string();
    std::fs::write(
        &conf_path,
        conf.replace(owner, &format!("owner={}", f.join(" "))),
    )
    .unwrap();

    let lab = Lab::up(s).expect("up over leftovers");
    for p in &old {
        assert!(
            !p.is_alive(),
            "process of the interrupted run survived: {p}"
        );
    }
    let fp2 = Footprint::of(&lab);
    lab.down().unwrap();
    fp2.assert_gone();
}

/// A resource whose start fails in a way Pacemaker does not retry ends the wait at once, with
/// an error that says what Pacemaker knows. The instance is served by axigen-sim (the Axigen
/// stand-in), here named by a path that does not exist, so its agent answers "not installed".
#[test]
fn a_hopeless_start_ends_the_wait_and_explains_itself() {
    axha_e2e::need_root!();
    let mut s = spec("hope", 1);
    s.binaries = Some(axha_e2e::lab::binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    let mut inst = lab
        .add_instance("inst1", 1, Some("n1"), &axha_e2e::bin("axigen-sim"))
        .expect("instance");
    inst.binary = "/nonexistent/axigen".into();
    lab.cib_create("resources", &inst.group_xml()).unwrap();
    // Far beyond what the failure needs: a wait that did not end early would time out, and
    // say "timed out", not "gave up".
    let e = lab
        .wait_view_of(
            "inst1 to start",
            &[inst.id.clone()],
            Duration::from_secs(600),
            |v| {
                v.resource(&inst.server_id())
                    .is_some_and(|r| r.is_started())
            },
        )
        .expect_err("the instance cannot start");
    let text = e.to_string();
    eprintln!("{text}");
    assert!(
        matches!(
            &e,
            LabError::ClusterWait {
                gave_up: Some(_),
                ..
            }
        ),
        "ended early: {text}"
    );
    assert!(
        text.starts_with("gave up waiting for inst1 to start"),
        "{text}"
    );
    assert!(text.contains(&inst.server_id()), "{text}");
    assert!(text.contains("not installed (rc 5)"), "{text}");
    assert!(
        text.contains("binary /nonexistent/axigen not found"),
        "the agent's exit reason: {text}"
    );
    assert!(text.contains("log-pacemaker/pacemaker.log"), "{text}");
    assert!(!text.contains('\n'), "one line: {text}");
    // The failure is Pacemaker's own record, not a poll's guess.
    let v = lab.view("n1").unwrap();
    assert!(
        v.failures
            .iter()
            .any(|f| f.resource == inst.server_id() && f.exitcode == Some(5)),
        "{:?}",
        v.failures
    );
    lab.down().unwrap();
}
