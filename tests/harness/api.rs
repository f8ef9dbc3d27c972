//! The provisioning API as its clients see it: `axigen-provision serve` started over a
//! [`Lab`] (slapd + axigen-sim back-ends; axigen-sim is the Axigen stand-in), and an HTTP/1.1
//! client over plain TCP or TLS (rustls, trusting only the CA it is given), and test
//! certificates made at run time with the openssl command line (no private key is kept in
//! the repository).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use crate::provision::Lab;
use crate::{bin, Cmd, Deadline};

/// A running `axigen-provision serve`, killed on drop.
pub struct ApiServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its standard error (one line per request).
    pub log: std::path::PathBuf,
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Start `serve` on a free port with `extra` arguments after `serve`; returns once it says it
/// listens (no probe connection, which a TLS listener would count as a failed handshake).
pub fn serve(lab: &Lab, extra: &[&str]) -> ApiServer {
    let port = free_port();
    let log = lab.dir.join(format!("serve-{port}.log"));
    let child = Command::new(bin("axigen-provision"))
        .arg("--config")
        .arg(&lab.config)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut s = ApiServer { child, port, log };
    crate::wait_for("API listening", Duration::from_secs(20), || {
        if let Ok(Some(st)) = s.child.try_wait() {
            panic!("serve exited ({st}): {}", s.log_text());
        }
        s.log_text().contains("axigen-provision: listening on")
    });
    s
}

impl ApiServer {
    /// What the server wrote to its standard error so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn connect(&self) -> TcpStream {
        let t = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        t
    }

    /// One request over plain TCP: (status, body text).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> (u16, String) {
        exchange(self.connect(), method, path, token, body).unwrap()
    }

    /// One request over plain TCP: (status, JSON body).
    pub fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> (u16, Value) {
        let (st, text) = self.raw(method, path, token, body);
        (st, json(&text))
    }

    /// One request over TLS with `client`: (status, body text), or the client's error (an
    /// untrusted certificate, a closed connection).
    pub fn tls(
        &self,
        client: &Arc<rustls::ClientConfig>,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> std::io::Result<(u16, String)> {
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::clone(client), name).unwrap();
        let tls = rustls::StreamOwned::new(conn, self.connect());
        exchange(tls, method, path, token, body)
    }
}

/// A JSON body, or a panic that shows the text.
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

/// The `error.code` of a JSON error body.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Send one HTTP/1.1 request with `Connection: close`, read the answer to its end.
pub fn exchange(
    mut t: impl Read + Write,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> std::io::Result<(u16, String)> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(tok) = token {
        head.push_str(&format!("Authorization: Bearer {tok}\r\n"));
    }
    let body = body.unwrap_or(b"");
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    t.write_all(head.as_bytes())?;
    let _ = t.write_all(body);
    let _ = t.flush();
    let mut resp = Vec::new();
    t.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not an HTTP answer: {text:?}"),
            )
        })?;
    let body = text.split_once("\r\n\r\n").map(|b| b.1).unwrap_or("");
    Ok((status, body.to_string()))
}

/// A TLS client that trusts only the CA certificate in `ca_pem`.
pub fn tls_client(ca_pem: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_pem).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Run the openssl command line in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    Cmd::new("openssl")
        .args(args)
        .current_dir(dir)
        .run_ok(&Deadline::after(Duration::from_secs(60)))
        .unwrap_or_else(|e| panic!("openssl {args:?}: {e}"));
}

/// A new P-256 key in `key` and, in `out`, a request for `subject` (with `extra` arguments of
/// `openssl req`, e.g. `-x509` for a self-signed certificate instead).
fn new_key(dir: &Path, key: &str, out: &str, subject: &str, extra: &[&str]) {
    let mut args = vec![
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key,
        "-out",
        out,
        "-subj",
        subject,
    ];
    args.extend_from_slice(extra);
    openssl(dir, &args);
}

/// A self-signed CA made now in `dir`: (certificate, key), named `NAME.pem`, `NAME.key`.
pub fn test_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (crt, key) = (format!("{name}.pem"), format!("{name}.key"));
    new_key(
        dir,
        &key,
        &crt,
        &format!("/CN={name}"),
        &[
            "-x509",
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    (dir.join(crt), dir.join(key))
}

/// A server certificate for localhost and 127.0.0.1 made now in `dir`, signed by the CA
/// [`test_ca`] made as `ca`: (certificate, key).
pub fn test_server_cert(dir: &Path, ca: &str) -> (PathBuf, PathBuf) {
    new_key(dir, "server.key", "server.csr", "/CN=localhost", &[]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    (dir.join("server.pem"), dir.join("server.key"))
}
