//! Faults while provisioning, against a real slapd and axigen-sim back-ends (the Axigen
//! stand-in): the directory stopped in the middle of an import, a back-end refusing logins, a
//! back-end down. Never an account without an entry or an entry without an account; clear
//! errors; the import resumes.

use std::process::{Command, Stdio};
use std::time::Duration;

use axha_e2e::bin;
use axha_e2e::provision::Lab;
use axha_e2e::wait_for;

#[test]
fn slapd_stopped_mid_import_then_import_resumes() {
    let mut lab = Lab::new(&[1, 1]);
    lab.ok(&["domain", "create", "f.example.com", "--policy", "random"]);
    let csv = lab.csv("f.csv", "f.example.com", 1000);
    let progress = lab.dir.join("f.csv.progress");
    let child = Command::new(bin("axigen-provision"))
        .arg("--config")
        .arg(&lab.config)
        .arg("import")
        .arg(&csv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("60 rows imported", Duration::from_secs(120), || {
        std::fs::read_to_string(&progress)
            .ok()
            .and_then(|s| s.lines().next()?.parse::<u64>().ok())
            .is_some_and(|n| n >= 60)
    });
    lab.slapd.stop();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains("stopped at row") && stdout.contains("run the same import again"),
        "{stdout}"
    );
    let state = std::fs::read_to_string(&progress).unwrap();
    let done: u64 = state.lines().next().unwrap().parse().unwrap();
    assert!(done < 1001, "{done}");
    // Rows finish out of order across workers: those above the low-water mark are listed.
    let done_above = state.lines().filter(|l| l.starts_with("done ")).count() as u64;

    lab.slapd.start_again();
    // Never an entry without an account. A row in flight was either undone on its
    // back-end, or (when whether its entry was written could not be known) kept there and
    // named, with its back-end, in the progress file, for the resumed import to complete it
    // there.
    let no_entry = lab.assert_only_pending_without_entry("f.example.com", &state);
    println!("in flight when slapd stopped: {no_entry:?}");
    let before = lab.entries("f.example.com").len() as u64;
    // One entry per finished row (row 1 is the header), plus the rows in flight whose entry
    // did reach the directory but the answer did not.
    let pending = state.matches("pending ").count() as u64;
    let finished = done - 1 + done_above;
    assert!(
        before >= finished && before <= finished + pending,
        "{before} entries after {finished} rows, {pending} pending: {state}"
    );

    // Counters batched by the stopped import are recounted, then the import resumes.
    lab.ok(&["reconcile"]);
    let (code, out, err) = lab.run(&["import", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("resumed after row {done}")), "{out}");
    assert!(
        out.contains(&format!("{} created", 1000 - before as usize)),
        "{out}"
    );
    assert_eq!(lab.entries("f.example.com").len(), 1000);
    lab.assert_consistent("f.example.com");
    let (code, out, _) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("agree"), "{out}");

    // An account made behind the service's back is found, and so is a drifted counter.
    {
        let sim = lab.sim("be1");
        let d = axha_e2e::Deadline::after(Duration::from_secs(10));
        let mut c = axha_axigen::cli::CliClient::connect(sim.cli, &d).unwrap();
        c.login("admin", axha_e2e::provision::ADMIN_PW).unwrap();
        c.update_domain("f.example.com").unwrap();
        c.add_account("stray", "pw").unwrap();
        c.commit().unwrap();
    }
    let mut st = axha_directory::LdapSettings::new(lab.slapd.url(), axha_e2e::slapd::BASE_DN);
    st.bind_dn = Some(lab.slapd.root_dn().into());
    st.bind_password = Some(axha_directory::Secret::from_file(&lab.slapd.password_file()).unwrap());
    let mut dir = axha_directory::Directory::connect(&st).unwrap();
    dir.set_count("be2", 999).unwrap();
    let (code, out, _) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("account without entry: stray@f.example.com on back-end be1"),
        "{out}"
    );
    assert!(out.contains("counter of be2: 999 -> "), "{out}");
    let be2 = dir.backend("be2").unwrap().unwrap().account_count;
    assert_eq!(be2 as u64, dir.count_accounts_on("be2").unwrap());
}

#[test]
fn backend_refusing_logins_or_down() {
    let mut lab = Lab::new(&[1, 1]);
    lab.ok(&[
        "domain",
        "create",
        "spread.example.com",
        "--policy",
        "random",
    ]);
    lab.ok(&[
        "domain",
        "create",
        "one.example.com",
        "--policy",
        "domain-based",
        "--home",
        "be1",
    ]);
    lab.ok(&[
        "domain",
        "create",
        "two.example.com",
        "--policy",
        "domain-based",
        "--home",
        "be2",
    ]);

    // be1 refuses logins: random placement goes to be2 only.
    lab.sim("be1").set_fault("refuse-logins");
    let (code, out, err) = lab.run(&[
        "import",
        lab.csv("s.csv", "spread.example.com", 20).to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(lab
        .entries("spread.example.com")
        .iter()
        .all(|(_, b)| b == "be2"));
    // A domain whose home refuses logins: a clear error, nothing written anywhere.
    let mut c = lab.cmd(&["account", "create", "x@one.example.com"]);
    c = c.stdin("secret-pw\n");
    let (code, out, err) = lab.run_cmd(c);
    assert_eq!(code, 6, "{out}{err}");
    assert!(
        err.contains("be1") && err.contains("Authentication failed"),
        "{err}"
    );
    assert!(
        !err.contains("secret-pw") && !err.contains(axha_e2e::provision::ADMIN_PW),
        "{err}"
    );
    assert_eq!(lab.run(&["account", "show", "x@one.example.com"]).0, 4);
    lab.sim("be1").clear_fault("refuse-logins");

    // be2 down: random placement goes to be1; be2's home domain fails cleanly.
    lab.sims[1].stop();
    let (code, out, err) = lab.run(&[
        "import",
        lab.csv_prefixed("s2.csv", "spread.example.com", "v", 10)
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let entries = lab.entries("spread.example.com");
    assert_eq!(
        entries.iter().filter(|(_, b)| b == "be1").count(),
        10,
        "{entries:?}"
    );
    let c = lab
        .cmd(&["account", "create", "y@two.example.com"])
        .stdin("pw\n");
    let (code, _, err) = lab.run_cmd(c);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("be2") && err.contains("connect"), "{err}");
    assert!(lab.entries("two.example.com").is_empty());
    lab.sims[1].start();
    for d in ["spread.example.com", "one.example.com", "two.example.com"] {
        lab.assert_consistent(d);
    }
    // Now it works, and the retried create is safe (a second try is a duplicate, no change).
    let c = lab
        .cmd(&["account", "create", "y@two.example.com"])
        .stdin("pw\n");
    assert_eq!(lab.run_cmd(c).0, 0);
    let c = lab
        .cmd(&["account", "create", "y@two.example.com"])
        .stdin("pw\n");
    assert_eq!(lab.run_cmd(c).0, 5);
    lab.assert_consistent("two.example.com");
}

#[test]
fn malformed_csv_rows_are_reported_never_dropped() {
    let lab = Lab::new(&[1]);
    lab.ok(&["domain", "create", "csv.example.com", "--policy", "random"]);
    let p = lab.dir.join("bad.csv");
    let mut data = b"address,password\n".to_vec();
    data.extend_from_slice(b"ok1@csv.example.com,pw1\n");
    data.extend_from_slice(b"only-one-field\n");
    data.extend_from_slice(b"x)(mail=*@csv.example.com,pw\n");
    data.extend_from_slice(b"a,b,c,d\n");
    data.extend_from_slice(b"\xff\xfe@csv.example.com,pw\n");
    data.extend_from_slice(format!("{}@csv.example.com,pw\n", "z".repeat(5000)).as_bytes());
    data.extend_from_slice(b"nobody@unknown.example.com,pw\n");
    data.extend_from_slice(b"ok1@csv.example.com,pw1\n");
    data.extend_from_slice(b"\"ok2@csv.example.com\",\"p,w\"\n");
    std::fs::write(&p, data).unwrap();
    let (code, out, err) = lab.run(&["import", p.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("9 rows: 2 created, 1 already present, 6 failed"),
        "{out}"
    );
    let rejected = std::fs::read_to_string(lab.dir.join("bad.csv.rejected.csv")).unwrap();
    let rows: Vec<&str> = rejected
        .lines()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(rows, ["3", "4", "5", "6", "7", "8"], "{rejected}");
    assert!(
        rejected.contains("unknown.example.com") && rejected.contains("not provisioned"),
        "{rejected}"
    );
    assert!(
        !rejected.contains("pw1"),
        "no password in the report: {rejected}"
    );
    let entries: Vec<String> = lab
        .entries("csv.example.com")
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(entries, ["ok1@csv.example.com", "ok2@csv.example.com"]);
    lab.assert_consistent("csv.example.com");
}

/// A back-end enabled after a spread domain was created gets the domain with its first
/// account there.
#[test]
fn backend_enabled_later_gets_the_domain_on_first_use() {
    let lab = Lab::new(&[1, 1]);
    lab.ok(&["backend", "set", "be2", "--disable"]);
    lab.ok(&[
        "domain",
        "create",
        "late.example.com",
        "--policy",
        "least-used",
    ]);
    assert!(lab
        .sim("be1")
        .domains()
        .iter()
        .any(|d| d == "late.example.com"));
    assert!(!lab
        .sim("be2")
        .domains()
        .iter()
        .any(|d| d == "late.example.com"));
    lab.ok(&["backend", "set", "be2", "--enable"]);
    let (code, out, err) = lab.run(&[
        "import",
        lab.csv("late.csv", "late.example.com", 4).to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(lab
        .sim("be2")
        .domains()
        .iter()
        .any(|d| d == "late.example.com"));
    assert_eq!(lab.sim("be2").accounts("late.example.com").len(), 2);
    lab.assert_consistent("late.example.com");
}
