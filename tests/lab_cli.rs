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

/// No namespace of lab `n` is left.
fn assert_no_netns(n: &str) {
    let list = Cmd::new("ip")
        .args(["netns", "list"])
        .run_ok(&Deadline::after(Duration::from_secs(10)))
        .unwrap()
        .stdout_str();
    assert!(!list.contains(&format!("axl-{n}-")), "{list}");
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
    assert_no_netns(n);
}

/// `lab up` checks every program it and the agents need before it starts anything: with a
/// PATH that lacks modprobe (kmod, which `ocf:heartbeat:Filesystem` refuses to run without)
/// it fails at once naming the program and its Debian package, and leaves nothing behind.
#[test]
fn preflight_names_a_missing_program_and_starts_nothing() {
    axha_e2e::need_root!();
    let name = lab_name("pre");
    let n = name.as_str();
    // A PATH of links to every program of the usual directories but modprobe.
    let path_dir = std::env::temp_dir().join(format!("axha-preflight-{n}"));
    let _ = std::fs::remove_dir_all(&path_dir);
    std::fs::create_dir_all(&path_dir).unwrap();
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let f = e.file_name();
            if f == "modprobe" || path_dir.join(&f).exists() {
                continue;
            }
            std::os::unix::fs::symlink(e.path(), path_dir.join(&f)).unwrap();
        }
    }
    let o = Cmd::new(bin("axigen-ha"))
        .args([
            "lab",
            "up",
            "--name",
            n,
            "--nodes",
            "2",
            "--fencing",
            "ipmi",
        ])
        .env("PATH", &path_dir)
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("axigen-ha runs");
    std::fs::remove_dir_all(&path_dir).unwrap();
    let err = o.stderr_str();
    assert_eq!(o.code(), Some(1), "{}{err}", o.stdout_str());
    assert!(err.contains("missing programs: "), "{err}");
    assert!(err.contains("modprobe (Debian package kmod)"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear error: {err}");
    assert_no_netns(n);
    let state = std::path::Path::new("/var/tmp/axigen-ha-lab").join(n);
    assert!(!state.exists(), "{} was made", state.display());
}

/// `axigen-ha lab demo --template multi-tier-n-plus-1 --front-ends 2 --output json`: the
/// three tiers built, every scenario run (the library's, as tests/multitier.rs runs them),
/// ONE JSON object on stdout with each scenario's figures. axigen-sim stands in for Axigen.
#[test]
fn multi_tier_demo_json() {
    axha_e2e::need_root!();
    fails(
        &["lab", "demo", "--front-ends", "2", "--output", "json"],
        "--front-ends needs --template multi-tier-n-plus-1",
    );
    fails(
        &[
            "lab",
            "demo",
            "--template",
            "multi-tier-n-plus-1",
            "--front-ends",
            "1",
        ],
        "--front-ends 1: from 2 to 5",
    );
    let name = lab_name("tdemo");
    let dir = axha_e2e::lab::binaries_dir().display().to_string();
    let o = Cmd::new(bin("axigen-ha"))
        .args([
            "lab",
            "demo",
            "--name",
            &name,
            "--template",
            "multi-tier-n-plus-1",
            "--front-ends",
            "2",
            "--output",
            "json",
            "--binaries",
            &dir,
        ])
        .run(&Deadline::after(Duration::from_secs(900)))
        .expect("axigen-ha runs");
    assert_eq!(o.code(), Some(0), "{}{}", o.stdout_str(), o.stderr_str());
    let out = o.stdout_str();
    assert_eq!(out.trim().lines().count(), 1, "one JSON object: {out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    let num = |path: &str| -> f64 {
        v.pointer(path)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or_else(|| panic!("{path} in {v}"))
    };
    assert_eq!(num("/frontend_loss/failed_after_detection"), 0.0, "{v}");
    let detection = num("/frontend_loss/detection_s");
    assert!(detection > 0.0, "HAProxy's detection took time: {v}");
    assert_eq!(num("/backend_loss/failed_other_backends"), 0.0, "{v}");
    let answering = num("/backend_loss/affected_answering_s");
    assert!(answering > 0.0, "{v}");
    assert_eq!(num("/directory_loss/failed_after_failover"), 0.0, "{v}");
    let gap = num("/vip_loss/gap_s");
    assert!(gap >= 0.0, "{v}");
    assert_eq!(num("/routing/misrouted"), 0.0, "{v}");
    assert_eq!(v["front_ends"], serde_json::json!(["n4", "n5"]), "{v}");
    assert_no_netns(&name);
}
