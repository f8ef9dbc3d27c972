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
