//! The multi-tier architecture whole, in one lab: two back-end instances (n1, n2) with a hot
//! stand-by (n3), two front-end nodes (n4, n5) running Dovecot (IMAP/POP3 proxy by LDAP) and
//! Postfix (SMTP routed by LDAP transport maps) behind HAProxy whose VIP Pacemaker moves, and
//! two OpenLDAP providers replicating each other (d1, d2). Clients on c1 reach everything
//! through the VIP only. The back-ends are `axigen-sim`, the Axigen stand-in (Axigen itself
//! cannot be installed here); Pacemaker, Corosync, ipmi_sim, slapd, Dovecot, Postfix and
//! HAProxy are the real ones. Figures are printed (see BENCHMARKS.md), never asserted on.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use axha_e2e::lab::{binaries_dir, spec};
use axha_e2e::{bin, fence, Cmd, Deadline};
use axha_lab::scenario::values_toml;
use axha_lab::{Fencing, Instance, Lab, CLIENT, DIRECTORY_BASE_DN, DIRECTORY_ROOT_DN, LB_VIP};

const T: Duration = Duration::from_secs(120);
const IO: Duration = Duration::from_secs(10);
const ACCOUNTS: usize = 8;

fn pw(i: usize) -> String {
    format!("pw-{i}-secret")
}

fn addr(i: usize) -> String {
    format!("user{i}@example.com")
}

/// Run `f` on a thread inside the network namespace `ns` (sockets it opens live there).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let file = File::open(Path::new("/run/netns").join(ns)).expect("netns handle");
    std::thread::spawn(move || {
        // SAFETY: setns with a valid namespace fd moves only this short-lived thread.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        f()
    })
    .join()
    .expect("client thread")
}

/// Read until `end` is in what was read (bounded by size and time).
fn read_until(s: &mut TcpStream, end: &str) -> Result<String, String> {
    let d = Instant::now() + IO;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&buf).contains(end) {
        if Instant::now() > d || buf.len() > 1 << 20 {
            return Err(format!("no {end:?} in {:?}", String::from_utf8_lossy(&buf)));
        }
        s.set_read_timeout(Some(IO)).map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => {
                return Err(format!(
                    "closed before {end:?}: {:?}",
                    String::from_utf8_lossy(&buf)
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn connect(to: Ipv4Addr, port: u16) -> Result<TcpStream, String> {
    TcpStream::connect_timeout(&SocketAddr::from((to, port)), IO).map_err(|e| e.to_string())
}

/// What one IMAP login through the VIP saw: the back-end host that answered `ID` and the
/// INBOX's messages.
#[derive(Debug)]
struct Login {
    host: String,
    inbox: String,
}

/// Log in over IMAP at `to`, ask `ID`, read the whole INBOX, log out.
fn imap_session(to: Ipv4Addr, user: &str, password: &str) -> Result<Login, String> {
    let mut s = connect(to, 143)?;
    read_until(&mut s, "\r\n")?;
    let say = |s: &mut TcpStream, tag: &str, cmd: &str| -> Result<String, String> {
        s.write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let r = read_until(s, &format!("{tag} "))?;
        let r = if r.contains("\r\n") && !r.ends_with("\r\n") {
            r + &read_until(s, "\r\n")?
        } else {
            r
        };
        if r.contains(&format!("{tag} OK")) {
            Ok(r)
        } else {
            Err(r)
        }
    };
    say(&mut s, "a", &format!("LOGIN \"{user}\" \"{password}\""))?;
    let id = say(&mut s, "b", "ID NIL")?;
    let host = id
        .split("\"host\" \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_string();
    say(&mut s, "c", "SELECT INBOX")?;
    let inbox = say(&mut s, "d", "FETCH 1:* BODY[]")?;
    let _ = s.write_all(b"e LOGOUT\r\n");
    Ok(Login { host, inbox })
}

/// Send one message over SMTP at `to`.
fn smtp_send(to: Ipv4Addr, rcpt: &str, body: &str) -> Result<(), String> {
    let mut s = connect(to, 25)?;
    read_until(&mut s, "\r\n")?;
    for (line, want) in [
        ("EHLO client.lab".to_string(), "250 "),
        ("MAIL FROM:<probe@client.lab>".to_string(), "250 "),
        (format!("RCPT TO:<{rcpt}>"), "250 "),
        ("DATA".to_string(), "354 "),
        (format!("Subject: {body}\r\n\r\n{body}\r\n."), "250 "),
    ] {
        s.write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let r = read_until(&mut s, "\r\n")?;
        let last = r.lines().last().unwrap_or("");
        if !last.starts_with(want) {
            return Err(format!("{line:?} -> {r:?}"));
        }
    }
    let _ = s.write_all(b"QUIT\r\n");
    Ok(())
}

fn percentile(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

/// axigen-provision run on the client machine, with its configuration file.
fn provision(lab: &Lab, conf: &Path, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut argv: Vec<String> = vec![
        bin("axigen-provision").display().to_string(),
        "--config".into(),
        conf.display().to_string(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut c = lab.side_cmd(CLIENT, &argv);
    if let Some(s) = stdin {
        c = c.stdin(s.as_bytes().to_vec());
    }
    c.run_ok(&Deadline::after(Duration::from_secs(60)))
        .map(|o| o.stdout_str())
        .map_err(|e| e.to_string())
}

/// One round of IMAP logins of `accounts` through the VIP from the client: (failures, the
/// latencies of the successful ones).
fn login_round(lab: &Lab, accounts: &[usize]) -> (Vec<(usize, String)>, Vec<Duration>) {
    let accounts = accounts.to_vec();
    in_netns(&lab.netns_name(CLIENT), move || {
        let mut failed = Vec::new();
        let mut lat = Vec::new();
        for i in accounts {
            let t = Instant::now();
            match imap_session(LB_VIP, &addr(i), &pw(i)) {
                Ok(_) => lat.push(t.elapsed()),
                Err(e) => failed.push((i, e)),
            }
        }
        (failed, lat)
    })
}

#[test]
fn multi_tier_whole() {
    axha_e2e::need_root!();
    let mut s = spec("mt", 5);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    let t0 = Instant::now();
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/directory/schema/axigen-ha.schema");
    let pair = lab
        .start_directory_pair(&schema.canonicalize().unwrap())
        .expect("directory pair");
    let fes: Vec<(String, Ipv4Addr)> = ["n4", "n5"]
        .iter()
        .map(|n| (n.to_string(), lab.node_addr(n)))
        .collect();
    for (n, _) in &fes {
        lab.start_front_end(n, &pair.reference(), LB_VIP, &fes)
            .expect("front-end");
    }
    let inst: Vec<Instance> = ["n1", "n2"]
        .iter()
        .enumerate()
        .map(|(k, h)| {
            lab.add_instance(
                &format!("mail{}", k + 1),
                k + 1,
                Some(h),
                &bin("axigen-sim"),
            )
            .unwrap()
        })
        .collect();
    // The template, rendered from one values file: back-ends, stand-by, fencing, the LB VIP.
    let values = format!(
        "standby_nodes = [\"n3\"]\nstandby_capacity = 2\n\n[cluster]\nname = \"lab\"\n\n\
         [load_balancer]\nvip = \"{LB_VIP}\"\ncidr = 24\nnodes = [\"n4\", \"n5\"]\nhaproxy_config = \"{}\"\n\n{}",
        lab.haproxy_config().display(),
        values_toml(&lab, &inst)
    );
    let vfile = lab.state_dir().join("values.toml");
    std::fs::write(&vfile, &values).unwrap();
    let cib = Cmd::new(bin("axigen-ha"))
        .args(["cib", "render", "multi-tier-n-plus-1", "--values"])
        .arg(&vfile)
        .run_ok(&Deadline::after(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("render: {e}\n{values}"));
    lab.load_configuration(&cib.stdout_str())
        .expect("CIB accepted");
    fence::fence_action_off(&lab, "n3");
    lab.wait_view("instances home, VIP on a front-end", T, |v| {
        v.locate("mail1") == ["n1"] && v.locate("mail2") == ["n2"] && v.locate("lb-vip").len() == 1
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", lab.view_any().map(|v| v.resources)));
    eprintln!("tiers up in {:.1}s", t0.elapsed().as_secs_f64());

    // axigen-provision knows both providers.
    let pdir = lab.state_dir().join("provision");
    std::fs::create_dir_all(pdir.join("backends")).unwrap();
    for i in &inst {
        std::fs::copy(&i.password_file, pdir.join("backends").join(&i.id)).unwrap();
    }
    std::fs::write(pdir.join("postmaster.pw"), "postmaster-pw\n").unwrap();
    std::fs::set_permissions(
        pdir.join("postmaster.pw"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let conf = pdir.join("provision.toml");
    std::fs::write(
        &conf,
        format!(
            "[ldap]\nurl = \"{}\"\nbind_dn = \"{DIRECTORY_ROOT_DN}\"\nbind_password_file = \"{}\"\nbase_dn = \"{DIRECTORY_BASE_DN}\"\ntimeout_secs = 3\n\
             [axigen]\npassword_dir = \"{}\"\npostmaster_password_file = \"{}\"\ntimeout_secs = 5\n",
            pair.uris.join(" "),
            pair.password_file.display(),
            pdir.join("backends").display(),
            pdir.join("postmaster.pw").display()
        ),
    )
    .unwrap();
    provision(&lab, &conf, &["init"], None).expect("init");
    for i in &inst {
        provision(
            &lab,
            &conf,
            &[
                "backend",
                "add",
                &i.id,
                "--cli",
                &format!("{}:7000", i.ip),
                "--mail-host",
                &i.ip.to_string(),
            ],
            None,
        )
        .expect("backend add");
    }
    provision(
        &lab,
        &conf,
        &["domain", "create", "example.com", "--policy", "random"],
        None,
    )
    .expect("domain");
    for i in 0..ACCOUNTS {
        provision(
            &lab,
            &conf,
            &["account", "create", &addr(i)],
            Some(&format!("{}\n", pw(i))),
        )
        .expect("account");
    }
    // Where the directory put each account.
    let home_of = |i: usize| -> String {
        let out =
            provision(&lab, &conf, &["account", "show", &addr(i)], None).expect("account show");
        if out.contains("mail1") {
            "n1".into()
        } else {
            "n2".into()
        }
    };
    let homes: Vec<String> = (0..ACCOUNTS).map(home_of).collect();
    eprintln!("placement: {homes:?}");

    // 1. Routing: each account logs in through the VIP and lands on its own back-end; mail
    // sent to the VIP arrives in its mailbox there.
    for (i, home) in homes.iter().enumerate() {
        let token = format!("token-{i}-{}", std::process::id());
        let (a, p, tk) = (addr(i), pw(i), token.clone());
        let sent = in_netns(&lab.netns_name(CLIENT), move || smtp_send(LB_VIP, &a, &tk));
        sent.unwrap_or_else(|e| panic!("SMTP to {} through the VIP: {e}", addr(i)));
        let a = addr(i);
        let got = in_netns(&lab.netns_name(CLIENT), move || {
            let d = Deadline::after(T);
            let mut last = Err(String::new());
            d.poll(Duration::from_millis(200), || {
                last = imap_session(LB_VIP, &a, &p);
                last.as_ref()
                    .ok()
                    .filter(|l| l.inbox.contains(&token))
                    .map(|l| l.host.clone())
            })
            .ok_or(last)
        });
        let host = got.unwrap_or_else(|e| panic!("{} never saw its mail: {e:?}", addr(i)));
        assert_eq!(&host, home, "{} answered by its own back-end", addr(i));
    }
    let all: Vec<usize> = (0..ACCOUNTS).collect();
    let (failed, mut lat) = login_round(&lab, &all);
    assert!(failed.is_empty(), "{failed:?}");
    eprintln!(
        "routing: {} accounts, logins through the VIP p50 {:.1} ms p99 {:.1} ms",
        ACCOUNTS,
        percentile(&mut lat, 0.5),
        percentile(&mut lat, 0.99)
    );
    // A wrong password is refused by the back-end, through the proxy.
    let a0 = addr(0);
    let wrong = in_netns(&lab.netns_name(CLIENT), move || {
        imap_session(LB_VIP, &a0, "not-it")
    });
    assert!(
        wrong.is_err_and(|e| e.contains("AUTHENTICATIONFAILED")),
        "wrong password refused"
    );

    let on = |node: &str| -> Vec<usize> { (0..ACCOUNTS).filter(|i| homes[*i] == node).collect() };
    let (mail1_accounts, mail2_accounts) = (on("n1"), on("n2"));

    // 2. One LDAP provider down: routing and provisioning go on; it catches up on return.
    lab.side_power_off("d1").unwrap();
    let extra = ACCOUNTS;
    provision(
        &lab,
        &conf,
        &["account", "create", &addr(extra)],
        Some(&format!("{}\n", pw(extra))),
    )
    .expect("provisioning with d1 down");
    let (failed, _) = login_round(&lab, &[0, 1, extra]);
    assert!(failed.is_empty(), "logins with d1 down: {failed:?}");
    lab.start_provider("d1").unwrap();
    let t = Instant::now();
    let d = Deadline::after(T);
    let same = d.poll(Duration::from_millis(100), || {
        let (a, b) = (
            lab.provider_state("d1").ok()?,
            lab.provider_state("d2").ok()?,
        );
        (a == b).then_some(a)
    });
    let state = same.unwrap_or_else(|| {
        panic!(
            "d1 caught up: {:?} {:?}",
            lab.provider_state("d1"),
            lab.provider_state("d2")
        )
    });
    eprintln!(
        "directory: d1 down, 1 account created and 3 logins OK; d1 caught up {:.2}s after restart ({} entries, contextCSN {:?})",
        t.elapsed().as_secs_f64(),
        state.entries,
        state.context_csn
    );

    // 3. Front-end loss: the one not holding the VIP loses power; HAProxy drops it.
    let vip_node = lab.view_any().unwrap().locate("lb-vip")[0].clone();
    let other_fe = if vip_node == "n4" { "n5" } else { "n4" };
    lab.kill(other_fe).unwrap();
    let t = Instant::now();
    let mut failures = 0;
    let mut rounds = 0;
    while t.elapsed() < Duration::from_secs(6) {
        let (f, _) = login_round(&lab, &all);
        failures += f.len();
        rounds += 1;
    }
    eprintln!(
        "front-end {other_fe} lost: {rounds} rounds of {ACCOUNTS} logins in 6 s, {failures} failed"
    );
    assert_eq!(
        failures, 0,
        "HAProxy retries a refused connection on the other front-end"
    );

    // 4. Back-end loss: n2 loses power; mail1's accounts see no failure, mail2's answer again
    // on the stand-by.
    lab.kill("n2").unwrap();
    let t = Instant::now();
    let mut other_failures = 0;
    let mut back = None;
    while t.elapsed() < T {
        let (f, _) = login_round(&lab, &mail1_accounts);
        other_failures += f.len();
        let (f2, _) = login_round(&lab, &mail2_accounts);
        if f2.is_empty() {
            back = Some(t.elapsed());
            break;
        }
    }
    let back = back.expect("mail2's accounts answer again");
    eprintln!(
        "back-end n2 lost: mail1 accounts failed {other_failures} logins; mail2 accounts answering on the stand-by after {:.1}s",
        back.as_secs_f64()
    );
    assert_eq!(
        other_failures, 0,
        "the other back-end's accounts are not affected"
    );
    let host_now = {
        let (a, p) = (addr(mail2_accounts[0]), pw(mail2_accounts[0]));
        in_netns(&lab.netns_name(CLIENT), move || {
            imap_session(LB_VIP, &a, &p)
        })
        .unwrap()
        .host
    };
    assert_eq!(host_now, "n3", "served by the stand-by");
    lab.down().unwrap();
}
