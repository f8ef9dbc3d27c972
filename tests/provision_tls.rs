//! TLS on the API listener of `axigen-provision serve`, against a real slapd and axigen-sim
//! back-ends (the Axigen stand-in). Certificates are made at run time with the openssl command
//! line (no private key is kept in the repository): a CA, a server certificate it signs, and a
//! second, unrelated CA. Clients: rustls and curl, each trusting one CA only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use axha_e2e::api::{exchange, json, serve, test_ca, test_server_cert, tls_client, ApiServer};
use axha_e2e::provision::Lab;
use axha_e2e::{Cmd, Deadline};
use serde_json::json as j;

fn curl(s: &ApiServer, ca: &Path) -> (i32, String) {
    let out = Cmd::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(ca)
        .arg(format!("https://127.0.0.1:{}/v1/health", s.port))
        .run(&Deadline::after(Duration::from_secs(30)))
        .unwrap();
    (out.code().unwrap_or(-1), out.stdout_str())
}

#[test]
fn tls_listener_trusted_refused_and_plaintext() {
    let lab = Lab::new(&[1]);
    let dir = lab.dir.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_pem, _) = test_ca(&dir, "ca");
    let (other_ca, other_key) = test_ca(&dir, "other-ca");
    let (cert, key) = test_server_cert(&dir, "ca");

    // The pair from the configuration file.
    let text = std::fs::read_to_string(&lab.config).unwrap().replace(
        "[service]\n",
        &format!(
            "[service]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    );
    std::fs::write(&lab.config, text).unwrap();
    let mut s = serve(&lab, &[]);
    assert!(s.log_text().contains("(https)"), "{}", s.log_text());
    let tok = lab.token.clone();
    let t = Some(tok.as_str());

    // A client trusting the CA: served, writes included.
    let good = tls_client(&ca_pem);
    let (st, body) = s.tls(&good, "GET", "/v1/health", None, None).unwrap();
    assert_eq!(st, 200, "{body}");
    let dom = j!({"name": "tls.example.com", "policy": "least-used"}).to_string();
    let (st, body) = s
        .tls(&good, "POST", "/v1/domains", t, Some(dom.as_bytes()))
        .unwrap();
    assert_eq!(st, 201, "{body}");
    let acc = j!({"address": "t@tls.example.com", "password": "pw"}).to_string();
    let (st, body) = s
        .tls(&good, "POST", "/v1/accounts", t, Some(acc.as_bytes()))
        .unwrap();
    assert_eq!((st, json(&body)["backend"].as_str()), (201, Some("be1")));
    assert_eq!(
        lab.sim("be1").accounts("tls.example.com"),
        ["t@tls.example.com"]
    );
    assert_eq!(curl(&s, &ca_pem), (0, "200".to_string()));

    // A client trusting another CA refuses the certificate; so does curl (exit 60).
    let wrong = tls_client(&other_ca);
    let e = s.tls(&wrong, "GET", "/v1/health", None, None).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    assert_eq!(curl(&s, &other_ca).0, 60);

    // Plain HTTP to the TLS port: no HTTP answer, and the server serves on.
    let plain = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let r = exchange(plain, "GET", "/v1/health", None, None);
    assert!(
        r.as_ref().map_or(true, |(st, _)| *st != 200),
        "plaintext answered: {r:?}"
    );
    assert!(s.running(), "{}", s.log_text());
    let (st, text) = s.tls(&good, "GET", "/metrics", t, None).unwrap();
    assert_eq!(st, 200);
    assert!(
        text.lines()
            .any(|l| l == "axigen_provision_tls_handshake_failures_total 3"),
        "rustls, curl and the plaintext client each failed once:\n{text}"
    );
    let log = s.log_text();
    assert!(log.contains("TLS handshake failed"), "{log}");
    assert!(!log.contains(&tok), "{log}");
    drop(s);

    // Start-up refusals, each one line on stderr with exit code 2, before listening.
    let listen = format!("127.0.0.1:{}", axha_e2e::api::free_port());
    let c = cert.to_str().unwrap();
    let exposed = dir.join("exposed.key");
    std::fs::copy(&key, &exposed).unwrap();
    std::fs::set_permissions(&exposed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not PEM\n").unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
    let missing = dir.join("missing.key");
    for (args, expected) in [
        (
            vec!["--tls-key", other_key.to_str().unwrap()],
            "does not match certificate",
        ),
        (
            vec!["--tls-key", exposed.to_str().unwrap()],
            "is accessible to every user (mode 0644)",
        ),
        (vec!["--tls-key", missing.to_str().unwrap()], "missing.key"),
        (
            vec!["--tls-key", garbage.to_str().unwrap()],
            "no PEM private key",
        ),
    ] {
        let mut a = vec!["serve", "--listen", &listen, "--tls-cert", c];
        a.extend(args);
        let (code, out, err) = lab.run(&a);
        assert_eq!(code, 2, "{a:?}: {err}{out}");
        assert!(err.contains(expected), "{a:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!err.contains("listening"), "{err}");
    }
    let (code, _, err) = lab.run(&[
        "serve",
        "--listen",
        &listen,
        "--tls-cert",
        garbage.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no PEM certificate"), "{err}");
    // Only half of the pair: the configuration's key is overridden, not dropped, so remove it.
    let text = std::fs::read_to_string(&lab.config).unwrap();
    let no_key: String = text
        .lines()
        .filter(|l| !l.starts_with("tls_key_file"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&lab.config, no_key).unwrap();
    let (code, _, err) = lab.run(&["serve", "--listen", &listen]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the key file is not given"), "{err}");
}
