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
//! GET    /metrics                        Prometheus text exposition (see [`crate::metrics`])
//! POST   /v1/accounts/ADDRESS/move       {"to": "be2"} (absent: resume an interrupted move)
//! ```
//!
//! Every request but health carries `Authorization: Bearer TOKEN` (`/metrics` too: give
//! Prometheus the token file as `authorization: {credentials_file: ...}`). Errors are
//! `{"error": {"code": "...", "message": "..."}}` with the status of [`crate::error::Kind`].

use axha_directory::{Policy, Secret};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Kind, ProvisionError};
use crate::metrics::{Metrics, Registry};
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

/// Where a worker gets its provisioner; the error says why the directory cannot be reached
/// right now.
pub type Connector = dyn Fn() -> Result<Provisioner, ProvisionError> + Send + Sync;

/// What the service shares between its workers: the API token and the metrics.
pub struct Api {
    /// The bearer token every request but health must carry.
    pub token: Secret,
    /// The counters behind `/metrics`.
    pub metrics: Metrics,
}

/// The body of an answer.
#[derive(Debug)]
pub enum Body {
    /// A JSON document (every API answer, errors included).
    Json(Value),
    /// The metrics exposition, in [`crate::metrics::CONTENT_TYPE`].
    Metrics(String),
}

/// An answer: status, body, and the route template it was counted under.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Body,
    /// The route template (`/v1/accounts/{address}`), `other` for paths the API does not have.
    pub route: &'static str,
}

/// The route label of requests for paths the API does not have.
pub const OTHER_ROUTE: &str = "other";

/// The route template of a path and the methods it offers; `None` for paths the API does not
/// have. The one list of routes: dispatch and metrics labels both come from it.
fn route(segs: &[&str]) -> Option<(&'static str, &'static [&'static str])> {
    Some(match segs {
        ["v1", "health"] => ("/v1/health", &["GET"]),
        ["v1", "backends"] => ("/v1/backends", &["GET"]),
        ["v1", "domains"] => ("/v1/domains", &["GET", "POST"]),
        ["v1", "accounts"] => ("/v1/accounts", &["POST"]),
        ["v1", "domains", _] => ("/v1/domains/{name}", &["GET", "DELETE"]),
        ["v1", "accounts", _] => ("/v1/accounts/{address}", &["GET", "DELETE"]),
        ["v1", "accounts", _, "move"] => ("/v1/accounts/{address}/move", &["POST"]),
        ["metrics"] => ("/metrics", &["GET"]),
        _ => return None,
    })
}

/// Route one request. `p` is the worker's provisioner, made on first use (and again after
/// the directory was lost). Directory and back-end failures are counted in `api.metrics`.
pub fn handle(
    api: &Api,
    p: &mut Option<Provisioner>,
    connect: &Connector,
    method: &str,
    url: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Reply {
    let path = url.split('?').next().unwrap_or(url);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let json = |route: &'static str, (status, v): Response| Reply {
        status,
        body: Body::Json(v),
        route,
    };
    let Some(segs): Option<Vec<String>> = segs.iter().map(|s| percent_decode(s)).collect() else {
        return json(
            OTHER_ROUTE,
            err(ProvisionError::PathEncoding {
                path: path.to_string(),
            }),
        );
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let authed = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| api.token.matches(t.trim()));
    let is_health = segs == ["v1", "health"];
    let known = route(&segs);
    let template = known.map_or(OTHER_ROUTE, |(t, _)| t);
    if !is_health && !authed {
        return json(template, err(ProvisionError::Unauthorized));
    }
    // Known routes and their methods, checked before any directory work.
    let Some((template, allowed)) = known else {
        return json(
            OTHER_ROUTE,
            err(ProvisionError::NoSuchResource {
                path: path.to_string(),
            }),
        );
    };
    if !allowed.contains(&method) {
        return json(
            template,
            err(ProvisionError::MethodNotAllowed {
                method: method.to_string(),
                path: path.to_string(),
            }),
        );
    }
    if p.is_none() {
        match connect() {
            Ok(np) => *p = Some(np),
            Err(e) => {
                api.metrics.failed(&e);
                if is_health {
                    return json(
                        template,
                        (
                            503,
                            json!({"status": "unavailable", "directory": e.to_string()}),
                        ),
                    );
                }
                if template == "/metrics" {
                    return metrics_reply(api, None);
                }
                return json(template, err(e));
            }
        }
    }
    let prov = p.as_mut().expect("connected above");
    if template == "/metrics" {
        return metrics_reply(api, Some(prov));
    }
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
                let placed = prov.create_account(&a.address, &a.password)?;
                api.metrics.placed(&placed.backend);
                (201, json!(placed))
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
        Ok(resp) => json(template, resp),
        Err(e) => {
            api.metrics.failed(&e);
            if e.kind() == Kind::DirectoryUnavailable {
                // Connect afresh on the next request.
                *p = None;
            }
            json(template, err(e))
        }
    }
}

/// `/metrics`: the counters, and the back-end gauges when the directory answers.
fn metrics_reply(api: &Api, prov: Option<&mut Provisioner>) -> Reply {
    let backends = prov.map(|p| p.backends());
    let text = match &backends {
        Some(Ok(b)) => api.metrics.render(Registry::Read(b)),
        Some(Err(e)) => {
            api.metrics.failed(e);
            api.metrics.render(Registry::Unavailable)
        }
        None => api.metrics.render(Registry::Unavailable),
    };
    Reply {
        status: 200,
        body: Body::Metrics(text),
        route: "/metrics",
    }
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

    fn api() -> Api {
        Api {
            token: Secret::new("tok"),
            metrics: Metrics::new(),
        }
    }

    fn call(method: &str, url: &str, auth: Option<&str>, body: &str) -> Response {
        let mut p = None;
        let r = handle(
            &api(),
            &mut p,
            &no_connect,
            method,
            url,
            auth,
            body.as_bytes(),
        );
        match r.body {
            Body::Json(v) => (r.status, v),
            Body::Metrics(t) => panic!("metrics for {url}: {t}"),
        }
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
    fn routes_are_templates_and_the_directory_down_still_has_metrics() {
        let api = api();
        let mut p = None;
        let mut go = |method: &str, url: &str| {
            handle(
                &api,
                &mut p,
                &no_connect,
                method,
                url,
                Some("Bearer tok"),
                b"",
            )
        };
        assert_eq!(
            go("GET", "/v1/accounts/a%40b.c").route,
            "/v1/accounts/{address}"
        );
        assert_eq!(go("GET", "/v1/nothing/at/all").route, OTHER_ROUTE);
        assert_eq!(go("GET", "/%zz").route, OTHER_ROUTE);
        let r = go("GET", "/metrics");
        let Body::Metrics(text) = r.body else {
            panic!("{r:?}")
        };
        assert_eq!(r.status, 200);
        assert!(
            text.contains("\naxigen_provision_directory_up 0\n"),
            "{text}"
        );
        // Each failed connect counted: the account lookup and the scrape.
        assert!(
            text.contains("\naxigen_provision_directory_errors_total 2\n"),
            "{text}"
        );
        let r = handle(&api, &mut None, &no_connect, "GET", "/metrics", None, b"");
        assert_eq!(r.status, 401);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b.c").unwrap(), "a@b.c");
        assert_eq!(percent_decode("a%2a").unwrap(), "a*");
        assert!(percent_decode("%4").is_none());
        assert!(percent_decode("%ff").is_none());
    }
}
