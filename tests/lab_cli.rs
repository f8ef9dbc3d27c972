//! `axigen-ha lab` as an operator uses it: up, status, exec, kill, start, partition, heal,
//! down, and clear errors with exit code 1 for bad input (unknown node, lab not up, bad
//! options). Runs a real single-node and two-node cluster.

use std::time::Duration;

use axha_e2e::lab::lab_name;
use axha_e2e::{bin, Cmd, Deadline};

fn cli(args: &[&str]) -> axha_exec::Output {
    Cmd::new(bin("axigen-ha"))
        .args(args)
        .run(&Deadline::after(Duration::from_secs(180)))
        .expect("axigen-ha runs")
}

fn ok(args: &[&str]) -> String {
    let o = cli(args);
    assert_eq!(
        o.code(),
        Some(0),
        "{args:?}: {}{}",
        o.stdout_str(),
        o.stderr_str()
    );
    o.stdout_str()
}

fn fails(args: &[&str], needle: &str) {
    let o = cli(args);
    assert_eq!(
        o.code(),
        Some(1),
        "{args:?} should fail: {}",
        o.stdout_str()
    );
    let err = o.stderr_str();
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn operator_commands_and_errors() {
    axha_e2e::need_root!();
    let name = lab_name("cli");
    let n = name.as_str();
    // bad input never builds anything
    fails(&["lab", "status", "--name", n], "is not up");
    fails(&["lab", "up", "--name", "Bad_Name"], "invalid name");
    fails(&["lab", "up", "--name", n, "--nodes", "9"], "1 to 8 nodes");
    fails(&["lab", "up", "--name", n, "--fencing", "rope"], "fencing");
    fails(&["lab", "up", "--name", n, "--token", "5"], "token");
    fails(
        &[
            "lab",
            "up",
            "--name",
            n,
            "--fencing",
            "none",
            "--fence-delay",
            "n1",
        ],
        "NODE:SECS",
    );

    let out = ok(&["lab", "up", "--name", n, "--nodes", "2", "--token", "1000"]);
    assert!(out.contains("2 nodes online"), "{out}");
    fails(&["lab", "up", "--name", n], "already up");
    let st = ok(&["lab", "status", "--name", n]);
    assert!(st.contains("online: n1 n2"), "{st}");

    let o = cli(&[
        "lab",
        "exec",
        "--name",
        n,
        "n2",
        "--",
        "sh",
        "-c",
        "uname -n; exit 4",
    ]);
    assert_eq!(o.code(), Some(4), "exit code of the command");
    assert_eq!(o.stdout_str().trim(), "n2");
    fails(
        &["lab", "exec", "--name", n, "n7", "--", "true"],
        "unknown node",
    );

    ok(&["lab", "kill", "--name", n, "n2"]);
    fails(&["lab", "exec", "--name", n, "n2", "--", "true"], "is down");
    let st = ok(&["lab", "status", "--name", n]);
    assert!(st.contains("off"), "{st}");
    fails(&["lab", "start", "--name", n, "n1"], "already running");
    let out = ok(&["lab", "start", "--name", n, "n2", "--wait"]);
    assert!(out.contains("joined"), "{out}");

    ok(&["lab", "partition", "--name", n, "n2"]);
    assert!(ok(&["lab", "status", "--name", n]).contains("partitioned"));
    ok(&["lab", "heal", "--name", n, "n2"]);
    assert!(!ok(&["lab", "status", "--name", n]).contains("partitioned"));

    ok(&["lab", "down", "--name", n]);
    fails(&["lab", "down", "--name", n], "is not up");
    let list = Cmd::new("ip")
        .args(["netns", "list"])
        .run_ok(&Deadline::after(Duration::from_secs(10)))
        .unwrap()
        .stdout_str();
    assert!(!list.contains(&format!("axl-{n}-")), "{list}");
}
