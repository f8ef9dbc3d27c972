//! Failover benchmark (not a test): power loss of the node running an instance -> the instance
//! answering IMAP on its service IP on another node, on a 3-node lab with IPMI fencing, for
//! corosync token 1000 and 3000 ms, medians of 5 runs beside the floor token + consensus. The
//! server is axigen-sim, the Axigen stand-in. Runs `axigen-ha lab bench` from the binaries in
//! `AXHA_BIN_DIR` (make bench) or target/debug.

use std::time::Duration;

use axha_e2e::{bin, Cmd, Deadline};

fn main() {
    axha_e2e::need_root!();
    let cli = bin("axigen-ha");
    let dir = cli.parent().expect("binary in a directory").to_path_buf();
    let out = Cmd::new(&cli)
        .args([
            "lab",
            "bench",
            "--name",
            &format!("bench{}", std::process::id() % 10_000),
        ])
        .arg("--binaries")
        .arg(&dir)
        .run(&Deadline::after(Duration::from_secs(1800)))
        .expect("axigen-ha lab bench runs");
    eprint!("{}", out.stderr_str());
    print!("{}", out.stdout_str());
    assert!(out.status.success(), "lab bench failed");
}
