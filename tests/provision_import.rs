//! Concurrent import against a real slapd and axigen-sim back-ends (axigen-sim is the Axigen
//! stand-in: Axigen itself cannot be installed here): interrupted by slapd killed with
//! SIGKILL, or by the import itself killed with SIGKILL, then resumed. Every row is created
//! exactly once (no duplicate, no gap), directory and back-ends agree, and the rejected-rows
//! file lists each bad row exactly once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axha_e2e::bin;
use axha_e2e::provision::Lab;
use axha_e2e::wait_for;

const DOMAIN: &str = "imp.example.com";

/// `axigen-provision --json import FILE --jobs N` in the background.
fn spawn_import(lab: &Lab, csv: &Path, jobs: u32) -> Child {
    Command::new(bin("axigen-provision"))
        .arg("--config")
        .arg(&lab.config)
        .args(["--json", "import"])
        .arg(csv)
        .args(["--jobs", &jobs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn progress_of(csv: &Path) -> PathBuf {
    PathBuf::from(format!("{}.progress", csv.display()))
}

/// The progress file's low-water mark (every row up to it is dealt with).
fn low_water(progress: &Path) -> u64 {
    std::fs::read_to_string(progress)
        .ok()
        .and_then(|s| s.lines().next()?.parse().ok())
        .unwrap_or(0)
}

/// Run the import to its end; its JSON summary.
fn import_json(lab: &Lab, csv: &Path, jobs: u32) -> (i32, serde_json::Value) {
    let (code, out, err) = lab.run(&[
        "--json",
        "import",
        csv.to_str().unwrap(),
        "--jobs",
        &jobs.to_string(),
    ]);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, v)
}

fn num(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// Every address of the file has exactly one entry, and exactly one account, on the
/// back-end the entry names; no other account anywhere; reconcile --check-backends agrees.
fn assert_each_created_once(lab: &Lab, expected: &BTreeSet<String>) {
    let entries = lab.entries(DOMAIN);
    let addresses: BTreeSet<String> = entries.iter().map(|(a, _)| a.clone()).collect();
    assert_eq!(
        entries.len(),
        addresses.len(),
        "an address with two entries"
    );
    assert_eq!(&addresses, expected, "entries against the file's good rows");
    let mut on_backends = 0;
    for s in &lab.sims {
        let accounts = s.accounts(DOMAIN);
        on_backends += accounts.len();
        let mine: Vec<String> = entries
            .iter()
            .filter(|(_, b)| b == &s.name)
            .map(|(a, _)| a.clone())
            .collect();
        assert_eq!(accounts, mine, "accounts on {}", s.name);
    }
    assert_eq!(on_backends, expected.len(), "accounts on all back-ends");
    // An interrupted run may leave its last batch of counter increments unwritten (they
    // only steer placement): the first reconcile fixes them, and nothing else.
    let (code, out, err) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.lines()
            .all(|l| l.starts_with("counter of ") || l == "directory and back-ends agree"),
        "{out}"
    );
    let (code, out, err) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "directory and back-ends agree\n");
    // The counters now match the entries.
    for (b, c) in lab.counts() {
        let n = entries.iter().filter(|(_, e)| *e == b).count() as i64;
        assert_eq!(c, n, "counter of {b}");
    }
}

#[test]
fn concurrent_import_resumed_after_slapd_is_killed_then_reconcile_is_clean() {
    let mut lab = Lab::new(&[1, 1, 1]);
    lab.ok(&["domain", "create", DOMAIN, "--policy", "least-used"]);
    let n = 1500;
    let csv = lab.csv("k.csv", DOMAIN, n);
    let progress = progress_of(&csv);
    let child = spawn_import(&lab, &csv, 3);
    wait_for("100 rows imported", Duration::from_secs(120), || {
        low_water(&progress) >= 100
    });
    lab.slapd.kill();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 3: the directory is unavailable (the exit code of that kind).
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    let first: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let stopped = first["stopped"].as_str().unwrap_or_default();
    assert!(
        stopped.contains("stopped at row") && stopped.contains("run the same import again"),
        "{first}"
    );
    let created_first = num(&first, "created");
    assert!(created_first < n as u64, "{first}");
    let state = std::fs::read_to_string(&progress).unwrap();

    lab.slapd.start_again();
    // Rows in flight when slapd died are either undone on their back-end or kept there and
    // named, with that back-end, in the progress file: never an entry without an account.
    let no_entry = lab.assert_only_pending_without_entry(DOMAIN, &state);
    println!("accounts left pending when slapd was killed: {no_entry:?}");

    let (code, second) = import_json(&lab, &csv, 3);
    assert_eq!(code, 0, "{second}");
    assert_eq!(num(&second, "failed"), 0, "{second}");
    // Exactly once: what the first run created plus what the second created, plus the rows
    // whose entry reached the directory without the answer (found present), is every row.
    let pending_rows = state.matches("pending ").count() as u64;
    assert!(num(&second, "present") <= pending_rows, "{second}");
    assert_eq!(
        created_first + num(&second, "created") + num(&second, "present"),
        n as u64,
        "{first} then {second}"
    );
    let expected: BTreeSet<String> = (0..n).map(|i| format!("u{i}@{DOMAIN}")).collect();
    assert_each_created_once(&lab, &expected);
    // A third run finds everything done.
    let (code, third) = import_json(&lab, &csv, 3);
    assert_eq!(code, 0, "{third}");
    assert_eq!(num(&third, "created") + num(&third, "rows"), 0, "{third}");
}

/// A file of `n` rows where every 10th row is bad in one of several ways, and a few
/// addresses repeat; (path, good addresses, numbers of the bad rows).
fn mixed_csv(lab: &Lab, name: &str, n: usize) -> (PathBuf, BTreeSet<String>, Vec<u64>) {
    let mut text = b"address,password\n".to_vec();
    let mut good = BTreeSet::new();
    let mut bad = Vec::new();
    for i in 0..n {
        let row = i as u64 + 2;
        let line: Vec<u8> = match i % 10 {
            3 => {
                bad.push(row);
                format!("bad address {i},pw\n").into_bytes()
            }
            5 => {
                bad.push(row);
                format!("u{i}@{DOMAIN},pw,extra\n").into_bytes()
            }
            7 => {
                bad.push(row);
                format!("u{i}@unknown.example.org,pw\n").into_bytes()
            }
            9 if i % 20 == 9 => {
                bad.push(row);
                let mut l = format!("u{i}x@{DOMAIN},pw\n").into_bytes();
                let at = l.iter().position(|b| *b == b'@').unwrap();
                l[at - 1] = 0xff;
                l
            }
            // The address of the row before, likely still in flight: present, not rejected.
            1 if i > 20 => format!("u{}@{DOMAIN},pw\n", i - 1).into_bytes(),
            _ => {
                good.insert(format!("u{i}@{DOMAIN}"));
                format!("u{i}@{DOMAIN},pw-{i}\n").into_bytes()
            }
        };
        text.extend_from_slice(&line);
    }
    let p = lab.dir.join(name);
    std::fs::write(&p, text).unwrap();
    (p, good, bad)
}

/// Row numbers listed in the rejected-rows file, in file order.
fn rejected_rows(csv: &Path) -> Vec<u64> {
    let text = std::fs::read(format!("{}.rejected.csv", csv.display())).unwrap_or_default();
    String::from_utf8_lossy(&text)
        .lines()
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn rejected_rows_are_exact_under_concurrency() {
    let lab = Lab::new(&[1, 1, 1]);
    lab.ok(&["domain", "create", DOMAIN, "--policy", "random"]);
    let (csv, good, bad) = mixed_csv(&lab, "m.csv", 400);
    let (code, v) = import_json(&lab, &csv, 4);
    // 1: some rows failed.
    assert_eq!(code, 1, "{v}");
    assert_eq!(num(&v, "failed"), bad.len() as u64, "{v}");
    assert_eq!(num(&v, "created"), good.len() as u64, "{v}");
    let repeats = num(&v, "rows") - num(&v, "created") - num(&v, "failed");
    assert_eq!(num(&v, "present"), repeats, "{v}");
    let mut listed = rejected_rows(&csv);
    listed.sort();
    assert_eq!(listed, bad);
    assert_each_created_once(&lab, &good);
}

#[test]
fn import_killed_with_sigkill_then_resumed_without_duplicates_or_gaps() {
    let lab = Lab::new(&[1, 1, 1]);
    lab.ok(&["domain", "create", DOMAIN, "--policy", "least-used"]);
    let (csv, good, bad) = mixed_csv(&lab, "s.csv", 1200);
    let progress = progress_of(&csv);
    let mut child = spawn_import(&lab, &csv, 2);
    wait_for("200 rows imported", Duration::from_secs(120), || {
        low_water(&progress) >= 200
    });
    // SIGKILL: no chance to finish a row, write the progress file or close anything.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let low = low_water(&progress);
    assert!(low < 1201, "{low}: the import ended before it was killed");
    // Rows of the killed run stay consistent: an account without an entry only for a row
    // named pending, with its back-end, in the progress file.
    let state = std::fs::read_to_string(&progress).unwrap();
    lab.assert_only_pending_without_entry(DOMAIN, &state);

    let (code, v) = import_json(&lab, &csv, 2);
    assert_eq!(code, 1, "{v}");
    assert_eq!(num(&v, "resumed_after"), low, "{v}");
    // Each bad row is listed once in all, whichever run met it.
    let listed = rejected_rows(&csv);
    let unique: BTreeSet<u64> = listed.iter().copied().collect();
    assert_eq!(listed.len(), unique.len(), "a row listed twice: {listed:?}");
    assert_eq!(unique.into_iter().collect::<Vec<_>>(), bad);
    assert_each_created_once(&lab, &good);
}
