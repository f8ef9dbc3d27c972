//! `GET /metrics` of `axigen-provision serve` after a known sequence of requests, against a
//! real slapd and axigen-sim back-ends (the Axigen stand-in): request counts per route
//! template and status, per-back-end gauges equal to the directory's counters, placements
//! equal to what the API answered, and the back-end and directory error counters moved by real
//! failures (back-ends stopped, slapd stopped). The exposition is also read by the Prometheus
//! project's own parser (python3-prometheus-client), not only by string matching.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use axha_e2e::api::{serve, ApiServer};
use axha_e2e::provision::Lab;
use serde_json::json;

const PYTHON: &str = "/usr/bin/python3";

/// The exposition, checked to be served as text format 0.0.4.
fn scrape(s: &ApiServer, token: &str) -> String {
    let (st, text) = s.raw("GET", "/metrics", Some(token), None);
    assert_eq!(st, 200, "{text}");
    text
}

/// Every sample line, `name{labels}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn value(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key).unwrap_or_else(|| panic!("no sample {key}"))
}

fn requests(route: &str, method: &str, status: u16) -> String {
    format!(
        "axigen_provision_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
    )
}

/// Parse with prometheus_client's text parser; (family name, type, samples) per family.
fn parse_with_prometheus_client(text: &str) -> Vec<(String, String, usize)> {
    let script = "import sys\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   print(f.name, f.type, len(f.samples))\n";
    let mut child = Command::new(PYTHON)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 with python3-prometheus-client (.ci/apt-packages)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut p = l.split(' ');
            (
                p.next().unwrap().to_string(),
                p.next().unwrap().to_string(),
                p.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn metrics_after_a_known_sequence() {
    let mut lab = Lab::new(&[1, 1]);
    let s = serve(&lab, &[]);
    let tok = lab.token.clone();
    let t = Some(tok.as_str());

    // Before any request: every counter family present, nothing counted yet.
    let first = samples(&scrape(&s, &tok));
    assert_eq!(
        value(&first, "axigen_provision_directory_errors_total"),
        0.0
    );
    assert_eq!(value(&first, "axigen_provision_directory_up"), 1.0);
    assert_eq!(
        value(&first, "axigen_provision_backend_accounts{backend=\"be1\"}"),
        0.0
    );

    // The known sequence.
    assert_eq!(s.req("GET", "/v1/health", None, None).0, 200);
    assert_eq!(s.req("GET", "/v1/backends", None, None).0, 401);
    let dom = json!({"name": "m.example.com", "policy": "least-used"}).to_string();
    assert_eq!(s.req("POST", "/v1/domains", t, Some(dom.as_bytes())).0, 201);
    let mut placed: BTreeMap<String, f64> = BTreeMap::new();
    for u in ["alice", "bob", "carol"] {
        let body = json!({"address": format!("{u}@m.example.com"), "password": "pw"});
        let (st, v) = s.req("POST", "/v1/accounts", t, Some(body.to_string().as_bytes()));
        assert_eq!(st, 201, "{v}");
        *placed
            .entry(v["backend"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    let dup = json!({"address": "alice@m.example.com", "password": "pw"}).to_string();
    assert_eq!(
        s.req("POST", "/v1/accounts", t, Some(dup.as_bytes())).0,
        409
    );
    for a in ["alice%40m.example.com", "bob@m.example.com"] {
        assert_eq!(s.req("GET", &format!("/v1/accounts/{a}"), t, None).0, 200);
    }
    assert_eq!(
        s.req("GET", "/v1/accounts/nobody@m.example.com", t, None).0,
        404
    );
    assert_eq!(s.req("GET", "/no/such/path", t, None).0, 404);
    assert_eq!(s.req("BREW", "/v1/accounts", t, None).0, 405);

    let text = scrape(&s, &tok);
    let m = samples(&text);
    for (route, method, status, n) in [
        ("/v1/health", "GET", 200, 1.0),
        ("/v1/backends", "GET", 401, 1.0),
        ("/v1/domains", "POST", 201, 1.0),
        ("/v1/accounts", "POST", 201, 3.0),
        ("/v1/accounts", "POST", 409, 1.0),
        ("/v1/accounts/{address}", "GET", 200, 2.0),
        ("/v1/accounts/{address}", "GET", 404, 1.0),
        ("other", "GET", 404, 1.0),
        ("/v1/accounts", "other", 405, 1.0),
        // The first scrape, counted once answered.
        ("/metrics", "GET", 200, 1.0),
    ] {
        let key = requests(route, method, status);
        assert_eq!(value(&m, &key), n, "{key}\n{text}");
        let labels = &key["axigen_provision_requests_total".len()..];
        let inner = &labels[1..labels.len() - 1];
        assert_eq!(
            value(
                &m,
                &format!("axigen_provision_request_duration_seconds_count{labels}")
            ),
            n
        );
        assert_eq!(
            value(
                &m,
                &format!("axigen_provision_request_duration_seconds_bucket{{{inner},le=\"+Inf\"}}")
            ),
            n
        );
    }
    let request_series = m
        .keys()
        .filter(|k| k.starts_with("axigen_provision_requests_total{"))
        .count();
    assert_eq!(request_series, 10, "{text}");
    // Route templates, not paths: no address became a label.
    assert!(
        !text.contains("alice") && !text.contains("nobody") && !text.contains("BREW"),
        "{text}"
    );
    // Placements as answered; account gauges as the directory counts them.
    for (be, n) in &placed {
        assert_eq!(
            value(
                &m,
                &format!("axigen_provision_placements_total{{backend=\"{be}\"}}")
            ),
            *n
        );
    }
    for (be, count) in lab.counts() {
        assert_eq!(
            value(
                &m,
                &format!("axigen_provision_backend_accounts{{backend=\"{be}\"}}")
            ),
            count as f64
        );
        assert_eq!(
            value(
                &m,
                &format!("axigen_provision_backend_enabled{{backend=\"{be}\"}}")
            ),
            1.0
        );
    }
    assert_eq!(placed.values().sum::<f64>(), 3.0);
    assert!(
        !m.keys()
            .any(|k| k.starts_with("axigen_provision_backend_errors_total{")),
        "no back-end failed yet: {text}"
    );

    // The Prometheus project's parser reads every family with its declared type.
    let families = parse_with_prometheus_client(&text);
    let kinds: BTreeMap<&str, &str> = families
        .iter()
        .map(|(n, k, _)| (n.as_str(), k.as_str()))
        .collect();
    for (name, kind) in [
        ("axigen_provision_requests", "counter"),
        ("axigen_provision_request_duration_seconds", "histogram"),
        ("axigen_provision_placements", "counter"),
        ("axigen_provision_directory_errors", "counter"),
        ("axigen_provision_backend_errors", "counter"),
        ("axigen_provision_tls_handshake_failures", "counter"),
        ("axigen_provision_directory_up", "gauge"),
        ("axigen_provision_backend_accounts", "gauge"),
        ("axigen_provision_backend_enabled", "gauge"),
    ] {
        assert_eq!(kinds.get(name), Some(&kind), "{name}: {families:?}");
    }

    // Both back-ends down: a create is tried on each (nothing can have changed on either), and
    // fails; each failure is counted against its back-end.
    for sim in &mut lab.sims {
        sim.stop();
    }
    let body = json!({"address": "dave@m.example.com", "password": "pw"}).to_string();
    let (st, v) = s.req("POST", "/v1/accounts", t, Some(body.as_bytes()));
    assert_eq!(st, 502, "{v}");
    let m = samples(&scrape(&s, &tok));
    for be in ["be1", "be2"] {
        let n = value(
            &m,
            &format!("axigen_provision_backend_errors_total{{backend=\"{be}\"}}"),
        );
        assert_eq!(n, 1.0, "{be}");
    }
    assert_eq!(value(&m, "axigen_provision_directory_errors_total"), 0.0);

    // The directory down: the failed request and the scrape that could not read the
    // registry are each one directory error; the gauges say the directory is down.
    lab.slapd.stop();
    assert_eq!(s.req("GET", "/v1/backends", t, None).0, 503);
    let text = scrape(&s, &tok);
    let m = samples(&text);
    assert_eq!(
        value(&m, "axigen_provision_directory_errors_total"),
        2.0,
        "{text}"
    );
    assert_eq!(value(&m, "axigen_provision_directory_up"), 0.0);
    assert!(
        !text.contains("axigen_provision_backend_accounts{"),
        "{text}"
    );
    assert_eq!(
        value(&m, &requests("/v1/backends", "GET", 503)),
        1.0,
        "{text}"
    );
    parse_with_prometheus_client(&text);
    lab.slapd.start_again();
}
