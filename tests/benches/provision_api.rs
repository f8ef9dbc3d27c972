//! Account creates per second through the provisioning API (`axigen-provision serve`) with 16
//! concurrent clients, against the command-line import rate, in one run on the same durable
//! slapd (fsync on every commit, as in production) and three axigen-sim back-ends (the Axigen
//! stand-in: Axigen cannot be installed here). Rows: CLI import; API with 16 workers; API with
//! the default 4 workers (16 clients share them); API over TLS with 16 workers. Each client
//! opens one connection per request (the server closes after each answer); the TLS clients
//! resume their sessions. Every row creates `N` accounts in a domain of its own, and the
//! directory and back-ends are checked consistent afterwards.
//!
//! Run: `make bench`, or
//! `cargo build --release -p axigen-provision -p axigen-sim && AXHA_BIN_DIR=$PWD/target/release
//! cargo bench -p axha-e2e --bench provision_api` (`cargo test` instead of `cargo bench`
//! builds only the clients in debug). `AXHA_BENCH_ACCOUNTS` sets N (2000).

use std::sync::Arc;
use std::time::Instant;

use axha_e2e::api::{self, ApiServer};
use axha_e2e::provision::Lab;
use axha_e2e::slapd::Slapd;
use serde_json::json;

const CLIENTS: usize = 16;

/// Create `n` accounts `{prefix}{i}@{domain}` through the API from `CLIENTS` threads; the rate.
fn api_rate(
    s: &ApiServer,
    token: &str,
    domain: &str,
    n: usize,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> f64 {
    let t = Instant::now();
    std::thread::scope(|scope| {
        for c in 0..CLIENTS {
            scope.spawn(move || {
                for i in (c..n).step_by(CLIENTS) {
                    let body =
                        json!({"address": format!("u{i}@{domain}"), "password": format!("pw-{i}")})
                            .to_string();
                    let (st, text) = match tls {
                        None => s.raw("POST", "/v1/accounts", Some(token), Some(body.as_bytes())),
                        Some(cfg) => s
                            .tls(
                                cfg,
                                "POST",
                                "/v1/accounts",
                                Some(token),
                                Some(body.as_bytes()),
                            )
                            .unwrap(),
                    };
                    assert_eq!(st, 201, "u{i}@{domain}: {text}");
                }
            });
        }
    });
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = axha_e2e::bench_count("AXHA_BENCH_ACCOUNTS", 2000);
    let bins = axha_e2e::bench_bins();
    std::env::set_var("AXHA_BIN_DIR", &bins);
    let mut lab = Lab::with_slapd(Slapd::start_durable(), &[1, 1, 1]);
    // The default configuration's workers (4), and no fixed seed needed.
    let domains = ["import", "api16", "api4", "tls16"];
    for d in domains {
        lab.ok(&[
            "domain",
            "create",
            &format!("{d}.example.com"),
            "--policy",
            "least-used",
        ]);
    }

    let csv = lab.csv("import.csv", "import.example.com", n);
    let t = Instant::now();
    lab.ok(&["import", csv.to_str().unwrap()]);
    let import = n as f64 / t.elapsed().as_secs_f64();

    let api16 = {
        let s = api::serve(&lab, &["--workers", "16"]);
        api_rate(&s, &lab.token, "api16.example.com", n, None)
    };
    let api4 = {
        let s = api::serve(&lab, &["--workers", "4"]);
        api_rate(&s, &lab.token, "api4.example.com", n, None)
    };

    // TLS: a CA and a server certificate made now (no key kept anywhere else).
    let dir = lab.dir.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, _) = api::test_ca(&dir, "ca");
    let (cert, key) = api::test_server_cert(&dir, "ca");
    let tls16 = {
        let s = api::serve(
            &lab,
            &[
                "--workers",
                "16",
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
        );
        let client = api::tls_client(&ca);
        api_rate(&s, &lab.token, "tls16.example.com", n, Some(&client))
    };

    for d in domains {
        lab.assert_consistent(&format!("{d}.example.com"));
    }
    let counts: i64 = lab.counts().iter().map(|(_, c)| c).sum();
    assert_eq!(counts, (n * domains.len()) as i64);
    lab.slapd.stop();

    println!("| path | accounts | creates/s | vs CLI import |");
    println!("|---|---|---|---|");
    println!("| CLI `import` (one process) | {n} | {import:.0} | 1.00 |");
    for (what, rate) in [
        ("API, 16 clients, 16 workers", api16),
        ("API, 16 clients, 4 workers (default)", api4),
        ("API over TLS, 16 clients, 16 workers", tls16),
    ] {
        println!("| {what} | {n} | {rate:.0} | {:.2} |", rate / import);
    }
}
