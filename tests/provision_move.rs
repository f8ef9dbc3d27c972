//! Moving accounts between back-ends, against a real slapd and axigen-sim back-ends (the
//! Axigen stand-in): a move under SMTP load, a move interrupted at each of its steps and
//! resumed (or rolled back), a drain then a removal, a rebalance after a fourth back-end is
//! added, a move through the HTTP API. Every test checks the messages (by Message-ID) on both
//! back-ends and the directory entry.

#[path = "provision_move_mail.rs"]
mod mail;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axha_e2e::provision::Lab;
use mail::*;

const DOMAIN: &str = "mv.example.com";

fn lab(n: usize) -> Lab {
    let lab = Lab::new(&vec![1; n]);
    configure_imap(&lab);
    lab.ok(&["domain", "create", DOMAIN, "--policy", "least-used"]);
    lab
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:05}@test")).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Seed an account: `inbox` messages by SMTP, `sent` appended to a folder "Sent" by its user.
fn seed(lab: &Lab, be: &str, address: &str, pw: &str, inbox: &[String], sent: &[String]) {
    let sim = lab.sim(be);
    let mut smtp = Smtp::connect(smtp_addr(sim));
    for id in inbox {
        smtp.send(address, &message(id)).unwrap();
    }
    let bodies: Vec<String> = sent.iter().map(|id| message(id)).collect();
    imap_seed(imap_addr(sim), address, pw, "Sent", &bodies);
}

fn other(be: &str) -> &'static str {
    if be == "be1" {
        "be2"
    } else {
        "be1"
    }
}

#[test]
fn move_under_smtp_load_loses_and_doubles_nothing() {
    let lab = lab(2);
    let addr = format!("load@{DOMAIN}");
    let from = create_account(&lab, &addr, "pw-load");
    let to = other(&from);
    let inbox = ids("seed", 300);
    let sent = ids("sent", 40);
    seed(&lab, &from, &addr, "pw-load", &inbox, &sent);

    // A relay: routes every message by the directory, retries deferred (4xx) and refused
    // (the route changed under it) deliveries, as a real MTA does.
    let delivered = AtomicUsize::new(0);
    let deferred = AtomicUsize::new(0);
    let load = ids("load", 400);
    let report = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            for id in &load {
                loop {
                    let (be, _, _) = entry(&lab, &addr);
                    let r = Smtp::connect(smtp_addr(lab.sim(&be))).send(&addr, &message(id));
                    match r {
                        Ok(()) => break,
                        Err(reply) => {
                            assert!(
                                reply.starts_with('4') || reply.starts_with("550"),
                                "{reply}"
                            );
                            deferred.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
                delivered.fetch_add(1, Ordering::SeqCst);
            }
        });
        axha_e2e::wait_for("load under way", Duration::from_secs(60), || {
            delivered.load(Ordering::SeqCst) >= 40
        });
        let report = lab.json(&["account", "move", &addr, "--to", to]);
        sender.join().unwrap();
        report
    });
    assert_eq!(delivered.load(Ordering::SeqCst), load.len());
    eprintln!(
        "move report: {report}; deliveries deferred or refused and retried: {}",
        deferred.load(Ordering::SeqCst)
    );
    assert_eq!(report["from"], from.as_str());
    assert_eq!(report["to"], to);
    assert!(report["unreachable_ms"].as_f64().is_some(), "{report}");

    // Target: every message exactly once, in its folder.
    let mut want = inbox.clone();
    want.extend(load.iter().cloned());
    assert_eq!(
        message_ids(lab.sim(to), &addr, "INBOX"),
        sorted(want.clone())
    );
    assert_eq!(
        message_ids(lab.sim(to), &addr, "Sent"),
        sorted(sent.clone())
    );
    assert!(report["messages"].as_u64().unwrap() >= 340, "{report}");
    // Source: the account and its mailbox are gone.
    assert!(!hosts(lab.sim(&from), &addr));
    assert!(message_ids(lab.sim(&from), &addr, "INBOX").is_empty());
    assert!(message_ids(lab.sim(&from), &addr, "Sent").is_empty());
    // Directory: routed to the target, no journal left, counters follow.
    let (be, host, note) = entry(&lab, &addr);
    assert_eq!((be.as_str(), note), (to, None));
    assert_eq!(host, format!("{to}.mail.example.net"));
    assert_eq!(user_login(lab.sim(to), &addr, "pw-load"), "OK");
    let counts = lab.counts();
    assert!(counts.contains(&(to.to_string(), 1)), "{counts:?}");
    assert!(counts.contains(&(from.clone(), 0)), "{counts:?}");
    let (code, out, err) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Run a move expected to stop; its exit code and message.
fn interrupted(lab: &Lab, args: &[&str]) -> (i32, String) {
    let (code, out, err) = lab.run(args);
    assert_ne!(code, 0, "the move should have stopped: {out}");
    (code, err)
}

fn journal_step(lab: &Lab, addr: &str) -> String {
    let (_, _, note) = entry(lab, addr);
    let note = note.expect("a journal in the entry");
    note.rsplit_once("step=").unwrap().1.to_string()
}

fn set_fault(lab: &Lab, be: &str, name: &str, value: &str) {
    let d = lab.sim(be).workdir.join("faults");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), format!("{value}\n")).unwrap();
}

#[test]
fn move_interrupted_at_each_step_resumes_or_rolls_back() {
    let lab = lab(2);
    let addr = format!("int@{DOMAIN}");
    let a = create_account(&lab, &addr, "pw-int");
    let b = other(&a).to_string();
    let inbox = ids("in", 20);
    let sent = ids("out", 5);
    seed(&lab, &a, &addr, "pw-int", &inbox, &sent);
    let check_on = |be: &str| {
        assert_eq!(message_ids(lab.sim(be), &addr, "INBOX"), inbox);
        assert_eq!(message_ids(lab.sim(be), &addr, "Sent"), sent);
        let (e, host, note) = entry(&lab, &addr);
        assert_eq!((e.as_str(), note), (be, None));
        assert_eq!(host, format!("{be}.mail.example.net"));
        assert_eq!(user_login(lab.sim(be), &addr, "pw-int"), "OK");
    };

    // 1. Interrupted while copying (the target takes 7 messages, then fails): the source
    //    stays live and routed to; the target holds a partial, disabled copy.
    set_fault(&lab, &b, "fail-append", "7");
    let (code, err) = interrupted(&lab, &["account", "move", &addr, "--to", &b]);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("injected fault"), "{err}");
    assert_eq!(journal_step(&lab, &addr), "copying");
    assert_eq!(entry(&lab, &addr).0, a);
    assert_eq!(user_login(lab.sim(&a), &addr, "pw-int"), "OK");
    assert!(disabled(lab.sim(&b), &addr));
    let partial = message_ids(lab.sim(&b), &addr, "INBOX").len()
        + message_ids(lab.sim(&b), &addr, "Sent").len();
    assert_eq!(partial, 7);
    // Another target is refused while this move is open.
    let (code, _, err) = lab.run(&["account", "move", &addr, "--to", &a]);
    assert_eq!(code, 5, "{err}");
    lab.sim(&b).clear_fault("fail-append");
    let r = lab.json(&["account", "move", &addr]);
    assert_eq!(r["resumed_from"], "copying");
    check_on(&b);
    assert!(!hosts(lab.sim(&a), &addr));

    // 2. Interrupted while held (the source refuses the second IMAP login, that of the
    //    copy after the hold): both copies disabled, the route unchanged, mail deferred.
    set_fault(&lab, &b, "fail-imap-login", "1");
    interrupted(&lab, &["account", "move", &addr, "--to", &a]);
    assert_eq!(journal_step(&lab, &addr), "held");
    assert_eq!(entry(&lab, &addr).0, b);
    assert!(disabled(lab.sim(&b), &addr) && disabled(lab.sim(&a), &addr));
    lab.sim(&b).clear_fault("fail-imap-login");
    assert_eq!(user_login(lab.sim(&b), &addr, "pw-int"), "UNAVAILABLE");
    let deferred = Smtp::connect(smtp_addr(lab.sim(&b))).send(&addr, &message("late@test"));
    assert!(deferred.unwrap_err().starts_with("450"));
    let r = lab.json(&["account", "move", &addr]);
    assert_eq!(r["resumed_from"], "held");
    assert!(r["unreachable_ms"].is_null(), "{r}");
    check_on(&a);
    assert!(!hosts(lab.sim(&b), &addr));

    // 3. Interrupted after the switch (the target cannot be enabled): the route names the
    //    target already; the source is disabled, never live beside it.
    set_fault(&lab, &b, "fail-command", "ENABLE Account");
    interrupted(&lab, &["account", "move", &addr, "--to", &b]);
    assert_eq!(journal_step(&lab, &addr), "switched");
    assert_eq!(entry(&lab, &addr).0, b);
    assert!(disabled(lab.sim(&a), &addr) && disabled(lab.sim(&b), &addr));
    let (code, _, err) = lab.run(&["account", "move", &addr, "--abort"]);
    assert_eq!(code, 2, "a switched move cannot be rolled back: {err}");
    lab.sim(&b).clear_fault("fail-command");
    let r = lab.json(&["account", "move", &addr]);
    assert_eq!(r["resumed_from"], "switched");
    check_on(&b);
    assert!(!hosts(lab.sim(&a), &addr));

    // 4. Rolled back while copying: the source live again, the target's copy gone.
    set_fault(&lab, &a, "fail-append", "3");
    interrupted(&lab, &["account", "move", &addr, "--to", &a]);
    lab.sim(&a).clear_fault("fail-append");
    lab.ok(&["account", "move", &addr, "--abort"]);
    check_on(&b);
    assert!(!hosts(lab.sim(&a), &addr));
    assert!(message_ids(lab.sim(&a), &addr, "INBOX").is_empty());
    let (code, _) = interrupted(&lab, &["account", "move", &addr, "--abort"]);
    assert_eq!(code, 4);
    let (code, out, err) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn drain_then_remove() {
    let lab = lab(3);
    let mut accounts = Vec::new();
    for i in 0..9 {
        let addr = format!("d{i}@{DOMAIN}");
        let be = create_account(&lab, &addr, "pw-d");
        let inbox = ids(&format!("d{i}"), 3);
        seed(&lab, &be, &addr, "pw-d", &inbox, &[]);
        accounts.push((addr, be, inbox));
    }
    let on_be1: Vec<_> = accounts.iter().filter(|a| a.1 == "be1").collect();
    assert_eq!(on_be1.len(), 3);

    let (code, _, err) = lab.run(&["backend", "remove", "be1"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("still holds 3 account(s)"), "{err}");

    let r = lab.json(&["backend", "drain", "be1"]);
    assert_eq!(r["moved"].as_array().unwrap().len(), 3, "{r}");
    assert!(r["failed"].as_array().unwrap().is_empty(), "{r}");
    for (addr, be, inbox) in &accounts {
        let (now, _, note) = entry(&lab, addr);
        assert_eq!(note, None);
        assert_ne!(now, "be1");
        if be == "be1" {
            assert!(!hosts(lab.sim("be1"), addr));
            assert!(message_ids(lab.sim("be1"), addr, "INBOX").is_empty());
        }
        assert_eq!(&message_ids(lab.sim(&now), addr, "INBOX"), inbox);
    }
    // Drained: it takes no new placements either.
    let backends = lab.json(&["backend", "list"]);
    let be1 = backends
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "be1")
        .unwrap();
    assert_eq!(be1["enabled"], false);
    assert_eq!(be1["account_count"], 0);
    let late = create_account(&lab, &format!("late@{DOMAIN}"), "pw-d");
    assert_ne!(late, "be1");

    lab.ok(&["backend", "remove", "be1"]);
    let names: Vec<String> = lab.counts().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["be2", "be3"]);
    let (code, _, _) = lab.run(&["backend", "remove", "be1"]);
    assert_eq!(code, 4);
    let (code, out, err) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn rebalance_after_adding_a_fourth_backend() {
    let lab = lab(4);
    // be4 joins later: out of the registry while the first accounts are placed.
    lab.ok(&["backend", "remove", "be4"]);
    let mut accounts = Vec::new();
    for i in 0..18 {
        let addr = format!("r{i}@{DOMAIN}");
        let be = create_account(&lab, &addr, "pw-r");
        let inbox = ids(&format!("r{i}"), 2);
        seed(&lab, &be, &addr, "pw-r", &inbox, &[]);
        accounts.push((addr, inbox));
    }
    let s4 = lab.sim("be4");
    lab.ok(&[
        "backend",
        "add",
        "be4",
        "--cli",
        &s4.cli.to_string(),
        "--mail-host",
        "be4.mail.example.net",
    ]);
    let r = lab.json(&["rebalance", "--spread", "1"]);
    assert_eq!(r["moved"].as_array().unwrap().len(), 4, "{r}");
    let counts: Vec<i64> = lab.counts().into_iter().map(|(_, c)| c).collect();
    assert_eq!(counts.len(), 4);
    let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(hi - lo <= 1, "{counts:?}");
    let mut on_be4 = 0;
    for (addr, inbox) in &accounts {
        let (be, host, note) = entry(&lab, addr);
        assert_eq!(note, None);
        assert_eq!(host, format!("{be}.mail.example.net"));
        assert_eq!(&message_ids(lab.sim(&be), addr, "INBOX"), inbox);
        for other in ["be1", "be2", "be3", "be4"].iter().filter(|o| **o != be) {
            assert!(!hosts(lab.sim(other), addr), "{addr} also on {other}");
        }
        on_be4 += usize::from(be == "be4");
    }
    assert_eq!(on_be4, 4);
    let again = lab.json(&["rebalance", "--spread", "1"]);
    assert!(again["moved"].as_array().unwrap().is_empty(), "{again}");
    let (code, out, err) = lab.run(&["reconcile", "--check-backends"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// One API request with curl (the token read from a file, never on a command line):
/// (status, body).
fn api(lab: &Lab, port: u16, path: &str, body: &str) -> (u16, serde_json::Value) {
    let headers = lab.dir.join("api.headers");
    std::fs::write(&headers, format!("Authorization: Bearer {}\n", lab.token)).unwrap();
    std::fs::set_permissions(
        &headers,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = axha_e2e::Cmd::new("curl")
        .args(["-s", "-X", "POST", "-w", "\n%{http_code}", "-H"])
        .arg(format!("@{}", headers.display()))
        .args(["--data-binary", body])
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .run(&axha_e2e::Deadline::after(Duration::from_secs(120)))
        .unwrap()
        .stdout_str();
    let (json, status) = out.rsplit_once('\n').unwrap();
    (
        status.trim().parse().unwrap(),
        serde_json::from_str(json).unwrap(),
    )
}

#[test]
fn move_through_the_http_api() {
    let lab = lab(2);
    let addr = format!("api@{DOMAIN}");
    let from = create_account(&lab, &addr, "pw-api");
    let to = other(&from);
    seed(
        &lab,
        &from,
        &addr,
        "pw-api",
        &ids("api", 5),
        &ids("apis", 2),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    struct Serve(std::process::Child);
    impl Drop for Serve {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let serve = Serve(
        std::process::Command::new(axha_e2e::bin("axigen-provision"))
            .arg("--config")
            .arg(&lab.config)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    axha_e2e::wait_for("API listening", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let path = format!("/v1/accounts/{addr}/move");
    let (status, v) = api(&lab, port, &path, r#"{"to": "nowhere"}"#);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
    let (status, v) = api(&lab, port, &path, r#"{"to": 7}"#);
    assert_eq!(status, 400, "{v}");
    let (status, v) = api(&lab, port, &path, &format!(r#"{{"to": "{to}"}}"#));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["from"].as_str(), v["to"].as_str()),
        (Some(from.as_str()), Some(to))
    );
    assert_eq!(v["messages"], 7);
    let (status, v) = api(&lab, port, &path, r#"{}"#);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
    drop(serve);
    assert_eq!(message_ids(lab.sim(to), &addr, "INBOX"), ids("api", 5));
    assert_eq!(entry(&lab, &addr).0, to);
    assert!(!hosts(lab.sim(&from), &addr));
}
