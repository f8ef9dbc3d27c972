//! IMAP logins through the whole path (the load balancer's VIP: HAProxy, then a front-end's
//! Dovecot proxy asking the LDAP directory, then the back-end) against straight to the
//! account's back-end, side by side in one run of the multi-tier lab: logins per second, the
//! ratio (the routing overhead) and the p50/p99 login latency of both. The back-ends are
//! axigen-sim, the Axigen stand-in; HAProxy, Dovecot, slapd, Pacemaker and Corosync are real.
//!
//! Run: `make bench` (or `cargo bench -p axha-e2e --bench tier_logins`). `AXHA_BENCH_ROUNDS`
//! (default 20) and `AXHA_BENCH_CLIENTS` (default 4) set the load.

use axha_lab::tiers::{tier_spec, Tiers};
use axha_lab::Lab;

fn main() {
    axha_e2e::need_root!();
    let rounds = axha_e2e::bench_count("AXHA_BENCH_ROUNDS", 20);
    let clients = axha_e2e::bench_count("AXHA_BENCH_CLIENTS", 4);
    let cli = axha_e2e::bin("axigen-ha");
    let dir = cli.parent().expect("binary in a directory").to_path_buf();
    let mut spec = tier_spec(&format!("tb{}", std::process::id() % 10_000), 2, &dir);
    spec.helper_bin = Some(axha_e2e::bin(axha_lab::HELPER_NAME));
    let lab = Lab::up(spec).expect("lab up");
    let tiers = Tiers::build(&lab, &dir).expect("tiers");
    let b = tiers.login_bench(&lab, rounds, clients).expect("bench");
    lab.down().expect("lab down");
    println!("| path ({clients} concurrent clients, {rounds} rounds) | logins/s | p50 | p99 | logins | failed |");
    println!("|---|---|---|---|---|---|");
    for (name, f) in [
        (
            "through the VIP (HAProxy + Dovecot proxy + LDAP)",
            &b.through_vip,
        ),
        ("straight to the back-end", &b.direct),
    ] {
        println!(
            "| {name} | {:.0} | {:.1} ms | {:.1} ms | {} | {} |",
            f.per_s, f.p50_ms, f.p99_ms, f.logins, f.failed
        );
    }
    println!(
        "| routing overhead (logins/s: direct / VIP; latency: VIP / direct) | {:.2}x | {:.2}x | {:.2}x | | |",
        b.direct.per_s / b.through_vip.per_s.max(1e-9),
        b.through_vip.p50_ms / b.direct.p50_ms.max(1e-9),
        b.through_vip.p99_ms / b.direct.p99_ms.max(1e-9),
    );
    assert_eq!(
        b.through_vip.failed + b.direct.failed,
        0,
        "every login succeeded"
    );
}
