//! The HTTP JSON API of `axigen-provision serve`, against a real slapd and axigen-sim
//! back-ends (the Axigen stand-in): token authentication, status codes, JSON errors, and bad
//! or hostile input refused with nothing written.

use std::time::Duration;

use axha_e2e::api::{code, serve, ApiServer};
use axha_e2e::bin;
use axha_e2e::provision::Lab;
use axha_e2e::wait_for;
use serde_json::{json, Value};

fn req(
    s: &ApiServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, Value) {
    s.req(method, path, token, body)
}

fn post(s: &ApiServer, lab: &Lab, path: &str, v: Value) -> (u16, Value) {
    req(
        s,
        "POST",
        path,
        Some(&lab.token),
        Some(v.to_string().as_bytes()),
    )
}

#[test]
fn api_status_codes_and_hostile_input() {
    let lab = Lab::new(&[1, 1]);
    let s = serve(&lab, &[]);
    let tok = lab.token.clone();

    assert_eq!(req(&s, "GET", "/v1/health", None, None).0, 200);
    let (st, v) = req(&s, "GET", "/v1/backends", None, None);
    assert_eq!((st, code(&v)), (401, "unauthorized"));
    assert_eq!(req(&s, "GET", "/v1/backends", Some("wrong"), None).0, 401);
    assert_eq!(req(&s, "GET", "/v1/nowhere", Some(&tok), None).0, 404);
    assert_eq!(req(&s, "PUT", "/v1/accounts", Some(&tok), None).0, 405);

    let (st, v) = post(
        &s,
        &lab,
        "/v1/domains",
        json!({"name": "api.example.com", "policy": "least-used"}),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        post(&s, &lab, "/v1/domains", json!({"name": "api.example.com"})).0,
        409
    );
    let (st, v) = post(
        &s,
        &lab,
        "/v1/domains",
        json!({"name": "home.example.com", "policy": "domain-based"}),
    );
    assert_eq!((st, code(&v)), (400, "invalid_input"), "{v}");
    let (st, v) = post(
        &s,
        &lab,
        "/v1/domains",
        json!({"name": "x,dc=evil", "policy": "random"}),
    );
    assert_eq!((st, code(&v)), (400, "invalid_input"), "{v}");

    let (st, v) = post(
        &s,
        &lab,
        "/v1/accounts",
        json!({"address": "alice@api.example.com", "password": "s3cret pw"}),
    );
    assert_eq!(st, 201, "{v}");
    let be = v["backend"].as_str().unwrap().to_string();
    assert_eq!(v["mail_host"], format!("{be}.mail.example.net"));
    assert_eq!(
        lab.sim(&be).accounts("api.example.com"),
        vec!["alice@api.example.com"]
    );
    let (st, v) = req(
        &s,
        "GET",
        "/v1/accounts/alice%40api.example.com",
        Some(&tok),
        None,
    );
    assert_eq!((st, v["backend"].as_str()), (200, Some(be.as_str())));

    // '+' is legal in a local part and special in a DN: it stays a value.
    let (st, v) = post(
        &s,
        &lab,
        "/v1/accounts",
        json!({"address": "a+b@api.example.com", "password": "pw"}),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        req(
            &s,
            "GET",
            "/v1/accounts/a@api.example.com",
            Some(&tok),
            None
        )
        .0,
        404
    );
    assert_eq!(
        req(
            &s,
            "GET",
            "/v1/accounts/a%2Bb@api.example.com",
            Some(&tok),
            None
        )
        .0,
        200
    );

    // Bad and hostile input: 4xx with a JSON error, nothing written.
    let long = format!("{}@api.example.com", "a".repeat(300));
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"address": "alice@api.example.com", "password": "pw"}),
            409,
            "already_exists",
        ),
        (
            json!({"address": "not-an-address", "password": "pw"}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": "x)(mail=*@api.example.com", "password": "pw"}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": "*)(objectClass=*", "password": "pw"}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": "a,ou=admins@api.example.com", "password": "pw"}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": "a*b@api.example.com", "password": "pw"}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": long, "password": "pw"}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": "bob@api.example.com", "password": "pw\nCOMMIT"}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": "bob@api.example.com", "password": ""}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": "bob@api.example.com", "password": "x".repeat(300)}),
            400,
            "invalid_input",
        ),
        (
            json!({"address": "bob@nowhere.example.com", "password": "pw"}),
            422,
            "unknown_domain",
        ),
        (
            json!({"address": "bob@api.example.com"}),
            400,
            "bad_request",
        ),
        (
            json!({"address": "bob@api.example.com", "password": "pw", "admin": true}),
            400,
            "bad_request",
        ),
    ];
    for (body, status, c) in cases {
        let (st, v) = post(&s, &lab, "/v1/accounts", body.clone());
        assert_eq!((st, code(&v)), (status, c), "{body} -> {v}");
        assert!(
            !v["error"]["message"].as_str().unwrap().contains("COMMIT"),
            "{v}"
        );
    }
    let (st, v) = req(&s, "POST", "/v1/accounts", Some(&tok), Some(b"{not json"));
    assert_eq!((st, code(&v)), (400, "bad_request"));
    let big = vec![b' '; 70 * 1024];
    let (st, v) = req(&s, "POST", "/v1/accounts", Some(&tok), Some(&big));
    assert_eq!((st, code(&v)), (413, "too_large"));
    // A wildcard in a lookup is a value, not a pattern.
    assert_eq!(
        req(
            &s,
            "GET",
            "/v1/accounts/%2A%40api.example.com",
            Some(&tok),
            None
        )
        .0,
        404
    );
    assert_eq!(req(&s, "GET", "/v1/accounts/%2A", Some(&tok), None).0, 400);

    let entries = lab.entries("api.example.com");
    assert_eq!(entries.len(), 2, "{entries:?}");
    lab.assert_consistent("api.example.com");

    // Back-ends with counts.
    let (st, v) = req(&s, "GET", "/v1/backends", Some(&tok), None);
    assert_eq!(st, 200);
    let total: i64 = v["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["account_count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 2);

    // A domain with accounts cannot go; accounts go, then it can.
    let (st, v) = req(
        &s,
        "DELETE",
        "/v1/domains/api.example.com",
        Some(&tok),
        None,
    );
    assert_eq!((st, code(&v)), (409, "not_empty"));
    assert_eq!(
        req(
            &s,
            "DELETE",
            "/v1/accounts/alice@api.example.com",
            Some(&tok),
            None
        )
        .0,
        200
    );
    assert_eq!(
        req(
            &s,
            "DELETE",
            "/v1/accounts/alice@api.example.com",
            Some(&tok),
            None
        )
        .0,
        404
    );
    assert_eq!(
        req(
            &s,
            "DELETE",
            "/v1/accounts/a%2Bb@api.example.com",
            Some(&tok),
            None
        )
        .0,
        200
    );
    assert!(lab.sim(&be).accounts("api.example.com").is_empty());
    assert_eq!(
        req(
            &s,
            "DELETE",
            "/v1/domains/api.example.com",
            Some(&tok),
            None
        )
        .0,
        200
    );
    assert_eq!(
        req(&s, "GET", "/v1/domains/api.example.com", Some(&tok), None).0,
        404
    );

    // The directory down: 503 with a JSON error; back: served again.
    let mut lab = lab;
    lab.slapd.stop();
    let (st, v) = req(&s, "GET", "/v1/backends", Some(&tok), None);
    assert_eq!((st, code(&v)), (503, "directory_unavailable"), "{v}");
    assert_eq!(req(&s, "GET", "/v1/health", None, None).0, 503);
    lab.slapd.start_again();
    wait_for("API served again", Duration::from_secs(20), || {
        req(&s, "GET", "/v1/backends", Some(&tok), None).0 == 200
    });

    // No secret in the log.
    let log = std::fs::read_to_string(&s.log).unwrap();
    for secret in [
        tok.as_str(),
        "s3cret pw",
        axha_e2e::provision::ADMIN_PW,
        "postmaster-pw",
    ] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
    assert!(log.contains("POST /v1/accounts 201"), "{log}");
}

/// The CLI over ldaps and over StartTLS, trusting the CA from the configured file only.
#[test]
fn cli_over_ldaps_and_starttls() {
    let lab = Lab::with_slapd(axha_e2e::slapd::Slapd::start_with_tls(), &[1]);
    let plain = std::fs::read_to_string(&lab.config).unwrap();
    let ldaps = lab.slapd.ldaps_url().unwrap();
    let ca = lab.slapd.ca_file();
    let variants = [
        (plain.replace(&lab.slapd.url(), &ldaps), true),
        (plain.replace("[ldap]\n", "[ldap]\nstarttls = true\n"), true),
        (plain.replace(&lab.slapd.url(), &ldaps), false),
    ];
    for (i, (text, with_ca)) in variants.iter().enumerate() {
        let text = if *with_ca {
            text.replace(
                "[ldap]\n",
                &format!("[ldap]\nca_file = \"{}\"\n", ca.display()),
            )
        } else {
            text.clone()
        };
        let cfg = lab.dir.join(format!("tls{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out = lab.run_cmd(
            axha_e2e::Cmd::new(bin("axigen-provision"))
                .arg("--config")
                .arg(&cfg)
                .args(["backend", "list"]),
        );
        if *with_ca {
            assert_eq!(out.0, 0, "{out:?}");
            assert!(out.1.contains("be1"), "{out:?}");
        } else {
            assert_eq!(out.0, 3, "untrusted certificate must be refused: {out:?}");
        }
    }
}

/// Send raw bytes, read the answer to its end; the status, or 0 when none came.
fn raw_bytes(s: &ApiServer, bytes: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut t = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = t.write_all(bytes);
    let mut resp = Vec::new();
    let _ = t.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Requests that are not well-formed HTTP get 400 with a JSON error; an idle connection holds
/// one worker, not the server; none of it stops the server.
#[test]
fn wire_level_garbage_and_idle_clients() {
    let lab = Lab::new(&[1]);
    let s = serve(&lab, &[]);
    let tok = lab.token.clone();
    let big_head = format!(
        "GET /v1/health HTTP/1.1\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"GET /v1/\xff\xfe HTTP/1.1\r\n\r\n".to_vec(), 400, "not UTF-8"),
        (b"HELLO\r\n\r\n".to_vec(), 400, "METHOD TARGET VERSION"),
        (b"GET /v1/health SPDY/3\r\n\r\n".to_vec(), 400, "HTTP/1.0 and HTTP/1.1"),
        (
            b"POST /v1/accounts HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            400,
            "send Content-Length",
        ),
        (
            b"POST /v1/accounts HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(),
            400,
            "not a number",
        ),
        (big_head.into_bytes(), 400, "request head above 16384 bytes"),
        (
            b"GET /v1/health\x1b[2J HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "absolute path",
        ),
    ];
    for (bytes, status, why) in cases {
        let (st, text) = raw_bytes(&s, &bytes);
        let body = text.split_once("\r\n\r\n").map(|b| b.1).unwrap_or("");
        assert_eq!(st, status, "{text}");
        let v = axha_e2e::api::json(body);
        assert_eq!(code(&v), "bad_request", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {v}"
        );
    }
    // HTTP/1.0 and Expect: 100-continue are served.
    let (st, text) = raw_bytes(&s, b"GET /v1/health HTTP/1.0\r\n\r\n");
    assert_eq!(st, 200, "{text}");
    let body = br#"{"name": "wire.example.com"}"#;
    let head = format!(
        "POST /v1/domains HTTP/1.1\r\nAuthorization: Bearer {tok}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // The client waits for the interim answer before it sends the body.
    let mut t = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    std::io::Write::write_all(&mut t, head.as_bytes()).unwrap();
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = vec![0u8; interim.len()];
    std::io::Read::read_exact(&mut t, &mut got).unwrap();
    assert_eq!(got, interim);
    std::io::Write::write_all(&mut t, body).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut t, &mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 201 Created\r\n"), "{text}");

    // Clients that connect and stay silent, four times as many as the 2 workers, take no
    // worker: a request is answered at once, while every one of them is still open (had they
    // held the workers, the answer would have waited for the first to be dropped at its
    // deadline).
    let silent: Vec<std::net::TcpStream> = (0..8)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap())
        .collect();
    assert_eq!(req(&s, "GET", "/v1/health", None, None).0, 200);
    for (i, c) in silent.iter().enumerate() {
        c.set_nonblocking(true).unwrap();
        let mut b = [0u8; 64];
        match std::io::Read::read(&mut &*c, &mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => {
                panic!("silent client {i} was answered or closed before the request: {other:?}")
            }
        }
    }
    // A silent client is closed at the request deadline (10 s), not held for ever.
    let mut last = silent.into_iter().next().unwrap();
    last.set_nonblocking(false).unwrap();
    last.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut b = [0u8; 64];
    assert_eq!(std::io::Read::read(&mut last, &mut b).unwrap(), 0);

    // A client that sent half a head holds one of the 2 workers (the lab's configuration),
    // not the server: the other answers meanwhile, and the half request is still served when
    // it completes (had the answer waited for that worker, the half request would have been
    // dropped at its deadline first).
    let mut half = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    half.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    std::io::Write::write_all(&mut half, b"GET /v1/heal").unwrap();
    assert_eq!(req(&s, "GET", "/v1/health", None, None).0, 200);
    std::io::Write::write_all(&mut half, b"th HTTP/1.1\r\n\r\n").unwrap();
    let mut resp = String::new();
    std::io::Read::read_to_string(&mut half, &mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        !log.contains('\x1b'),
        "control characters reach the log: {log}"
    );
}
