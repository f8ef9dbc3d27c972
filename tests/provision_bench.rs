//! Benchmark of axigen-provision (run by hand, not a test):
//!
//! 1. accounts per second importing 10,000 accounts through `axigen-provision import`
//!    (placement + account on an axigen-sim back-end + LDAP entry) against raw `ldapadd` of the
//!    same entries into the same slapd (fsync on every commit, as in production), as a ratio;
//! 2. the cost of one least-used placement (read the back-end registry + choose) with 1,000
//!    and with 100,000 accounts already placed, next to a naive recount by search.
//!
//! axigen-sim is the Axigen stand-in (Axigen cannot be installed here).
//!
//! ```text
//! cargo build --release -p axigen-provision -p axigen-sim
//! AXHA_BIN_DIR=target/release cargo run --release -p axha-e2e --example provision_bench [N]
//! ```

use std::time::{Duration, Instant};

use axha_directory::placement::{choose, SplitMix64};
use axha_directory::{Directory, LdapSettings, Policy, Secret};
use axha_e2e::provision::Lab;
use axha_e2e::slapd::{Slapd, BASE_DN};

fn settings(s: &Slapd) -> LdapSettings {
    let mut st = LdapSettings::new(s.url(), BASE_DN);
    st.bind_dn = Some(s.root_dn().to_string());
    st.bind_password = Some(Secret::from_file(&s.password_file()).unwrap());
    st.timeout = Duration::from_secs(30);
    st
}

fn ldif(domain: &str, prefix: &str, from: usize, n: usize, backends: usize) -> String {
    let mut s = String::with_capacity(n * 300);
    for i in from..from + n {
        let be = format!("be{}", i % backends + 1);
        s.push_str(&format!(
            "dn: mail={prefix}{i}@{domain},cn={domain},ou=domains,{BASE_DN}\n\
             objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n\
             objectClass: inetOrgPerson\nobjectClass: inetLocalMailRecipient\nobjectClass: axhaAccount\n\
             cn: {prefix}{i}@{domain}\nsn: {prefix}{i}\nmail: {prefix}{i}@{domain}\n\
             mailHost: {be}.mail.example.net\naxhaBackendName: {be}\n\n"
        ));
    }
    s
}

/// Median and mean of `rounds` runs of `f`, in microseconds.
fn time_us(rounds: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut v: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v.iter().sum::<f64>() / v.len() as f64)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);

    // 1. Import through axigen-provision vs raw ldapadd, same durable slapd.
    let lab = Lab::with_slapd(Slapd::start_durable(), &[1, 1, 1]);
    lab.ok(&[
        "domain",
        "create",
        "bench.example.com",
        "--policy",
        "least-used",
    ]);
    lab.ok(&[
        "domain",
        "create",
        "raw.example.com",
        "--policy",
        "least-used",
    ]);
    let csv = lab.csv("bench.csv", "bench.example.com", n);
    let t = Instant::now();
    let out = lab.ok(&["import", csv.to_str().unwrap()]);
    let prov = t.elapsed().as_secs_f64();
    print!("{out}");
    let raw = ldif("raw.example.com", "u", 0, n, 3);
    let t = Instant::now();
    let (ok, err) = lab.slapd.ldapadd_result(&raw);
    let raw_s = t.elapsed().as_secs_f64();
    assert!(ok, "{err}");
    let prov_rate = n as f64 / prov;
    let raw_rate = n as f64 / raw_s;
    println!(
        "import of {n} accounts through axigen-provision: {prov:.1} s, {prov_rate:.0} accounts/s"
    );
    println!(
        "raw ldapadd of the same {n} entries:              {raw_s:.1} s, {raw_rate:.0} entries/s"
    );
    println!(
        "ratio raw ldapadd / axigen-provision: {:.2}",
        raw_rate / prov_rate
    );
    drop(lab);

    // 2. Least-used placement cost as the directory grows (dbnosync slapd: only reads are timed).
    let slapd = Slapd::start();
    let mut dir = Directory::connect(&settings(&slapd)).unwrap();
    dir.init_tree().unwrap();
    for i in 1..=3 {
        dir.add_backend(&axha_directory::Backend {
            name: format!("be{i}"),
            cli_address: "127.0.0.1:7000".into(),
            mail_host: format!("be{i}.mail.example.net"),
            weight: 1,
            enabled: true,
            account_count: 0,
        })
        .unwrap();
    }
    dir.add_domain(
        &axha_directory::Domain {
            name: "grow.example.com".into(),
            policy: Policy::LeastUsed,
            home: None,
        },
        None,
    )
    .unwrap();
    let mut placed = 0usize;
    let mut rng = SplitMix64::new(1);
    for target in [1_000usize, 100_000] {
        let mut from = placed;
        while from < target {
            let chunk = (target - from).min(20_000);
            let (ok, err) = slapd.ldapadd_result(&ldif("grow.example.com", "g", from, chunk, 3));
            assert!(ok, "{err}");
            from += chunk;
        }
        placed = target;
        for (b, c) in dir.count_all_accounts().unwrap() {
            dir.set_count(&b, c as i64).unwrap();
        }
        let (med, mean) = time_us(2_000, || {
            let bs = dir.backends().unwrap();
            let b = choose(Policy::LeastUsed, &bs, None, &[], &mut rng).unwrap();
            std::hint::black_box(b);
        });
        let (nmed, _) = time_us(5, || {
            let c = dir.count_accounts_on("be1").unwrap();
            std::hint::black_box(c);
        });
        println!(
            "least-used placement with {target} accounts placed: median {med:.0} us, mean {mean:.0} us \
             (naive recount of one back-end by search: median {:.1} ms)",
            nmed / 1e3
        );
    }
}
