//! Moving one account between two axigen-sim back-ends (the Axigen stand-in) with a real
//! slapd: the move's wall time (the `axigen-provision account move` process, end to end)
//! and the window the account is unreachable (disabled on the source until enabled on the
//! target, as the mover measures it), for mailboxes of 100, 1,000 and 10,000 messages (90 %
//! in INBOX, 10 % in a second folder; about 90 bytes each). Medians of a few moves per size
//! (the account moves back and forth).
//!
//! Run: `cargo build --release --workspace --bins && AXHA_BIN_DIR=$PWD/target/release cargo
//! bench -p axha-e2e --bench move` (`AXHA_BENCH_MOVES=N`, default 3; `AXHA_BENCH_SIZES`,
//! default `100,1000,10000`).

#[path = "../provision_move_mail.rs"]
mod mail;

use std::time::{Duration, Instant};

use axha_e2e::provision::Lab;
use mail::*;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let moves: usize = axha_e2e::bench_count("AXHA_BENCH_MOVES", 3).max(1);
    let sizes: Vec<usize> = std::env::var("AXHA_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1000, 10_000]);
    println!("| messages | move (median) | unreachable window (median) | messages/s |");
    println!("|---:|---:|---:|---:|");
    for n in sizes {
        let lab = Lab::new(&[1, 1]);
        configure_imap(&lab);
        lab.ok(&[
            "domain",
            "create",
            "bench.example.com",
            "--policy",
            "least-used",
        ]);
        let addr = "bench@bench.example.com";
        let mut at = create_account(&lab, addr, "pw-bench");
        let folder = n / 10;
        let mut smtp = Smtp::connect(smtp_addr(lab.sim(&at)));
        for i in 0..n - folder {
            smtp.send(addr, &message(&format!("b{i:06}@bench")))
                .unwrap();
        }
        let archived: Vec<String> = (0..folder)
            .map(|i| message(&format!("a{i:06}@bench")))
            .collect();
        imap_seed(
            imap_addr(lab.sim(&at)),
            addr,
            "pw-bench",
            "Archive",
            &archived,
        );
        let mut wall = Vec::new();
        let mut window = Vec::new();
        for _ in 0..moves {
            let to = if at == "be1" { "be2" } else { "be1" };
            let t = Instant::now();
            let r = lab.json(&["account", "move", addr, "--to", to]);
            wall.push(t.elapsed().as_secs_f64());
            window.push(r["unreachable_ms"].as_f64().expect("a measured window"));
            assert_eq!(r["messages"].as_u64(), Some(n as u64), "{r}");
            at = to.to_string();
        }
        let w = median(&mut wall);
        println!(
            "| {n} | {:.2} s | {:.1} ms | {:.0} |",
            w,
            median(&mut window),
            n as f64 / w
        );
        drop(lab);
        std::thread::sleep(Duration::from_millis(200));
    }
}
