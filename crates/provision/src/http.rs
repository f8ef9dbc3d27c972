//! The HTTP JSON API (`axigen-provision serve`).
//!
//! ```text
//! GET    /v1/health                      directory reachable? (no token needed)
//! GET    /v1/backends                    registry with account counts
//! GET    /v1/domains                     all domains
//! POST   /v1/domains                     {"name": "example.com", "policy": "domain-based", "home": "be1"}
//! GET    /v1/domains/NAME
//! DELETE /v1/domains/NAME                only when it has no accounts (409 otherwise)
//! POST   /v1/accounts                    {"address": "u@example.com", "password": "..."}
//! GET    /v1/accounts/ADDRESS            {"address", "backend", "mail_host"}
//! DELETE /v1/accounts/ADDRESS
//! POST   /v1/accounts/ADDRESS/move       {"to": "be2"} (absent: resume an interrupted move)
//! ```
//!
//! Every request but health carries `Authorization: Bearer TOKEN`. Errors are
//! `{"error": {"code": "...", "message": "..."}}` with the status of [`crate::error::Kind`].

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axha_directory::{Policy, Secret};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Kind, ProvisionError};
use crate::service::Provisioner;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// A response: status and JSON body.
pub type Response = (u16, Value);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDomain {
    name: String,
    policy: Option<Policy>,
    home: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    address: String,
    password: String,
}

/// The answer to a request that failed: its status and JSON body, both from the error.
fn err(e: ProvisionError) -> Response {
    (e.http_status(), e.to_json())
}

/// Decode `%XX` escapes of one path segment (RFC 3986 section 2.1).
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| err(ProvisionError::Body(e)))
}

/// Where a worker gets its provisioner; `None` with the reason when the directory cannot be
/// reached right now.
pub type Connector = dyn Fn() -> Result<Provisioner, ProvisionError> + Send + Sync;

/// Route one request. `p` is the worker's provisioner, made on first use (and again after
/// the directory was lost).
pub fn handle(
    p: &mut Option<Provisioner>,
    connect: &Connector,
    token: &Secret,
    method: &str,
    url: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Response {
    let path = url.split('?').next().unwrap_or(url);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let Some(segs): Option<Vec<String>> = segs.iter().map(|s| percent_decode(s)).collect() else {
        return err(ProvisionError::PathEncoding {
            path: path.to_string(),
        });
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let authed = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| token.matches(t.trim()));
    let is_health = segs == ["v1", "health"];
    if !is_health && !authed {
        return err(ProvisionError::Unauthorized);
    }
    // Known routes and their methods, checked before any directory work.
    let allowed: &[&str] = match segs.as_slice() {
        ["v1", "health"] | ["v1", "backends"] => &["GET"],
        ["v1", "domains"] => &["GET", "POST"],
        ["v1", "accounts"] => &["POST"],
        ["v1", "domains", _] | ["v1", "accounts", _] => &["GET", "DELETE"],
        ["v1", "accounts", _, "move"] => &["POST"],
        _ => {
            return err(ProvisionError::NoSuchResource {
                path: path.to_string(),
            })
        }
    };
    if !allowed.contains(&method) {
        return err(ProvisionError::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_string(),
        });
    }
    if p.is_none() {
        match connect() {
            Ok(np) => *p = Some(np),
            Err(e) if is_health => {
                return (
                    503,
                    json!({"status": "unavailable", "directory": e.to_string()}),
                )
            }
            Err(e) => return err(e),
        }
    }
    let prov = p.as_mut().expect("connected above");
    let r: Result<Response, ProvisionError> = (|| {
        Ok(match (method, segs.as_slice()) {
            ("GET", ["v1", "health"]) => match prov.dir.ping() {
                Ok(()) => (200, json!({"status": "ok", "directory": "ok"})),
                Err(e) => (
                    503,
                    json!({"status": "unavailable", "directory": e.to_string()}),
                ),
            },
            ("GET", ["v1", "backends"]) => (200, json!({"backends": prov.backends()?})),
            ("GET", ["v1", "domains"]) => (200, json!({"domains": prov.domains()?})),
            ("POST", ["v1", "domains"]) => {
                let d: NewDomain = match parse_body(body) {
                    Ok(d) => d,
                    Err(r) => return Ok(r),
                };
                (
                    201,
                    json!(prov.create_domain(&d.name, d.policy, d.home.as_deref())?),
                )
            }
            ("GET", ["v1", "domains", name]) => (200, json!(prov.domain(name)?)),
            ("DELETE", ["v1", "domains", name]) => (200, json!(prov.delete_domain(name)?)),
            ("POST", ["v1", "accounts"]) => {
                let a: NewAccount = match parse_body(body) {
                    Ok(a) => a,
                    Err(r) => return Ok(r),
                };
                (201, json!(prov.create_account(&a.address, &a.password)?))
            }
            ("GET", ["v1", "accounts", addr]) => (200, json!(prov.account(addr)?)),
            ("DELETE", ["v1", "accounts", addr]) => (200, json!(prov.delete_account(addr)?)),
            ("POST", ["v1", "accounts", addr, "move"]) => {
                let m: crate::moves::MoveRequest = match parse_body(body) {
                    Ok(m) => m,
                    Err(r) => return Ok(r),
                };
                (200, json!(prov.move_account(addr, m.to.as_deref())?))
            }
            _ => err(ProvisionError::NoSuchResource {
                path: path.to_string(),
            }),
        })
    })();
    match r {
        Ok(resp) => resp,
        Err(e) => {
            if e.kind() == Kind::DirectoryUnavailable {
                // Connect afresh on the next request.
                *p = None;
            }
            err(e)
        }
    }
}

/// Serve on `listen` with `workers` threads until the process is stopped. Each worker has its
/// own provisioner (its own LDAP connection and back-end sessions).
pub fn serve(
    listen: &str,
    workers: usize,
    token: Secret,
    connect: Arc<dyn Fn(usize) -> Result<Provisioner, ProvisionError> + Send + Sync>,
) -> Result<(), ProvisionError> {
    let server = tiny_http::Server::http(listen).map_err(|e| ProvisionError::Listen {
        address: listen.to_string(),
        reason: e.to_string(),
    })?;
    let server = Arc::new(server);
    eprintln!("axigen-provision: listening on {listen} with {workers} workers");
    let token = Arc::new(token);
    let threads: Vec<_> = (0..workers)
        .map(|i| {
            let server = Arc::clone(&server);
            let token = Arc::clone(&token);
            let connect = Arc::clone(&connect);
            std::thread::spawn(move || {
                let mut p: Option<Provisioner> = None;
                let conn = move || connect(i);
                loop {
                    let Ok(mut req) = server.recv() else { return };
                    let t = Instant::now();
                    let auth = req
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .map(|h| h.value.as_str().to_string());
                    let mut body = Vec::new();
                    let read = req
                        .as_reader()
                        .take(MAX_BODY as u64 + 1)
                        .read_to_end(&mut body);
                    let method = req.method().as_str().to_string();
                    let url = req.url().to_string();
                    let (status, value) = if let Err(e) = read {
                        err(ProvisionError::BodyUnreadable(e))
                    } else if body.len() > MAX_BODY {
                        err(ProvisionError::BodyTooLarge { max: MAX_BODY })
                    } else {
                        handle(&mut p, &conn, &token, &method, &url, auth.as_deref(), &body)
                    };
                    // The path may hold an address, never a secret; bodies are not logged.
                    eprintln!(
                        "{method} {} {status} {:.1}ms",
                        url.split('?').next().unwrap_or(""),
                        t.elapsed().as_secs_f64() * 1e3
                    );
                    let data = value.to_string();
                    let header = tiny_http::Header::from_bytes("Content-Type", "application/json")
                        .expect("static header is valid");
                    let resp = tiny_http::Response::from_string(data)
                        .with_status_code(status)
                        .with_header(header);
                    let _ = req.respond(resp);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_connect() -> Result<Provisioner, ProvisionError> {
        Err(ProvisionError::Directory(
            axha_directory::DirectoryError::Unavailable {
                url: "ldap://127.0.0.1:1".into(),
                reason: "ldap down".into(),
            },
        ))
    }

    fn call(method: &str, url: &str, auth: Option<&str>, body: &str) -> Response {
        let mut p = None;
        handle(
            &mut p,
            &no_connect,
            &Secret::new("tok"),
            method,
            url,
            auth,
            body.as_bytes(),
        )
    }

    #[test]
    fn auth_routes_and_methods_before_any_directory_work() {
        let (s, v) = call("GET", "/v1/backends", None, "");
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("unauthorized"))
        );
        assert_eq!(call("GET", "/v1/backends", Some("Bearer nope"), "").0, 401);
        assert_eq!(call("GET", "/v1/nothing", Some("Bearer tok"), "").0, 404);
        assert_eq!(
            call("PUT", "/v1/accounts/a@b.c", Some("Bearer tok"), "").0,
            405
        );
        assert_eq!(
            call("GET", "/v1/accounts/%zz", Some("Bearer tok"), "").0,
            400
        );
        let (s, v) = call("GET", "/v1/backends", Some("Bearer tok"), "");
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (503, Some("directory_unavailable"))
        );
        let (s, v) = call("GET", "/v1/health", None, "");
        assert_eq!((s, v["status"].as_str()), (503, Some("unavailable")));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b.c").unwrap(), "a@b.c");
        assert_eq!(percent_decode("a%2a").unwrap(), "a*");
        assert!(percent_decode("%4").is_none());
        assert!(percent_decode("%ff").is_none());
    }
}
