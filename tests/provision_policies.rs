//! Placement through axigen-provision against a real slapd and three axigen-sim back-ends
//! (the Axigen stand-in): each policy's distribution, entries with the right mailHost, the
//! accounts on the chosen back-end, domains only where the policy puts them.

use axha_e2e::provision::Lab;

fn per_backend(lab: &Lab, domain: &str) -> [u64; 3] {
    let mut c = [0u64; 3];
    for (_, b) in lab.entries(domain) {
        c[(b.as_bytes()[2] - b'1') as usize] += 1;
    }
    c
}

/// Binomial bound: |x - n p| < 6 sigma (fails by chance with probability ~1e-9; the seed is
/// fixed anyway, so a failure is a change of behaviour).
fn within(x: u64, n: u64, p: f64) -> bool {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    (x as f64 - mean).abs() < 6.0 * sigma
}

#[test]
fn four_policies_place_and_record_accounts() {
    let lab = Lab::new(&[1, 2, 5]);

    // Least used first, on fresh counters: stays balanced exactly.
    lab.ok(&[
        "domain",
        "create",
        "least.example.com",
        "--policy",
        "least-used",
    ]);
    let (code, out, err) = lab.run(&[
        "import",
        lab.csv("l.csv", "least.example.com", 150).to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("150 created"), "{out}");
    let l = per_backend(&lab, "least.example.com");
    println!("least-used, 150 accounts: {l:?}");
    assert_eq!(l, [50, 50, 50]);

    lab.ok(&["domain", "create", "rand.example.com", "--policy", "random"]);
    lab.ok(&[
        "import",
        lab.csv("r.csv", "rand.example.com", 240).to_str().unwrap(),
    ]);
    let r = per_backend(&lab, "rand.example.com");
    println!("random, 240 accounts: {r:?}");
    for x in r {
        assert!(within(x, 240, 1.0 / 3.0), "{r:?}");
    }

    lab.ok(&[
        "domain",
        "create",
        "weighted.example.com",
        "--policy",
        "weighted-random",
    ]);
    lab.ok(&[
        "import",
        lab.csv("w.csv", "weighted.example.com", 320)
            .to_str()
            .unwrap(),
    ]);
    let w = per_backend(&lab, "weighted.example.com");
    println!("weighted-random 1:2:5, 320 accounts: {w:?}");
    for (x, share) in w.iter().zip([1.0 / 8.0, 2.0 / 8.0, 5.0 / 8.0]) {
        assert!(within(*x, 320, share), "{w:?}");
    }

    lab.ok(&[
        "domain",
        "create",
        "home.example.com",
        "--policy",
        "domain-based",
        "--home",
        "be2",
    ]);
    lab.ok(&[
        "import",
        lab.csv("d.csv", "home.example.com", 30).to_str().unwrap(),
    ]);
    let d = per_backend(&lab, "home.example.com");
    println!("domain-based (home be2), 30 accounts: {d:?}");
    assert_eq!(d, [0, 30, 0]);

    // Domains: spread policies on every back-end, domain-based on its home only.
    for s in &lab.sims {
        let doms = s.domains();
        for spread in [
            "least.example.com",
            "rand.example.com",
            "weighted.example.com",
        ] {
            assert!(
                doms.iter().any(|d| d == spread),
                "{spread} on {}: {doms:?}",
                s.name
            );
        }
        assert_eq!(
            doms.iter().any(|d| d == "home.example.com"),
            s.name == "be2",
            "{}: {doms:?}",
            s.name
        );
    }

    // Every entry has its account on the named back-end, and nothing else is there.
    for dom in [
        "least.example.com",
        "rand.example.com",
        "weighted.example.com",
        "home.example.com",
    ] {
        lab.assert_consistent(dom);
    }

    // Counters match the entries; reconcile finds nothing to fix.
    let counts = lab.counts();
    let total: Vec<i64> = (0..3).map(|i| (l[i] + r[i] + w[i] + d[i]) as i64).collect();
    assert_eq!(counts.iter().map(|c| c.1).collect::<Vec<_>>(), total);
    let (code, out, err) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("agree"), "{out}");

    // A front-end routes by mail=ADDRESS, or by the domain's entry for domain-based domains.
    let routed = lab.slapd.ldapsearch(
        axha_e2e::slapd::BASE_DN,
        "(|(mail=u7@home.example.com)(mailLocalAddress=@home.example.com))",
        &["mailHost"],
    );
    assert_eq!(
        routed.matches("mailHost: be2.mail.example.net").count(),
        2,
        "{routed}"
    );

    // A resumed import of the same file creates nothing twice.
    let (code, out, _) = lab.run(&["import", lab.dir.join("d.csv").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("0 rows") || out.contains("0 created"), "{out}");
    std::fs::remove_file(lab.dir.join("d.csv.progress")).unwrap();
    let (code, out, _) = lab.run(&["import", lab.dir.join("d.csv").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("0 created, 30 already present"), "{out}");
    assert_eq!(per_backend(&lab, "home.example.com"), [0, 30, 0]);
}
