//! The service's Prometheus metrics (`GET /metrics`, text exposition format 0.0.4).
//!
//! Process counters kept by [`Metrics`]: requests and their latency per route template (never
//! the raw path, so an address in a path cannot grow the number of series), method and status;
//! accounts placed per back-end; directory and back-end errors; failed TLS handshakes. At each
//! scrape the directory is read once more for the per-back-end gauges (accounts, enabled).
//!
//! ```text
//! axigen_provision_requests_total{route="/v1/accounts",method="POST",status="201"} 12
//! axigen_provision_request_duration_seconds_bucket{route=...,le="0.05"} 11
//! axigen_provision_placements_total{backend="be1"} 7
//! axigen_provision_backend_accounts{backend="be1"} 1042
//! axigen_provision_directory_errors_total 1
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axha_directory::Backend;

use crate::error::{Kind, ProvisionError};

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of the latency histogram buckets: Prometheus' default set, which
/// spans a cached lookup (milliseconds) to a create behind a slow back-end (seconds).
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Methods kept as their own label value; any other becomes `other` (bounded cardinality).
const METHODS: [&str; 7] = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"];

/// The label value of a request method: itself when it is a common one, `other` otherwise.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

#[derive(Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket of [`BUCKETS`]; the `+Inf` bucket is `count`.
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// (route template, method label, status)
type RequestKey = (&'static str, &'static str, u16);

#[derive(Default)]
struct Counters {
    requests: BTreeMap<RequestKey, Histogram>,
    placements: BTreeMap<String, u64>,
    directory_errors: u64,
    backend_errors: BTreeMap<String, u64>,
    tls_failures: u64,
}

/// The counters of one running service, shared by its workers.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

/// What the directory said at scrape time.
pub enum Registry<'a> {
    /// The back-ends as the directory lists them.
    Read(&'a [Backend]),
    /// The directory could not be read: no per-back-end gauges this time.
    Unavailable,
}

impl Metrics {
    /// Empty counters.
    pub fn new() -> Self {
        Metrics::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        // A worker that panicked while holding the lock left whole counters behind (every
        // update is one statement): keep counting.
        let mut c = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut c)
    }

    /// Count one answered request and its duration.
    pub fn observe_request(&self, route: &'static str, method: &str, status: u16, took: Duration) {
        let key = (route, method_label(method), status);
        self.with(|c| {
            c.requests
                .entry(key)
                .or_default()
                .observe(took.as_secs_f64())
        });
    }

    /// Count an account placed on `backend`.
    pub fn placed(&self, backend: &str) {
        self.with(|c| *c.placements.entry(backend.to_string()).or_default() += 1);
    }

    /// Count a failed TLS handshake (a plaintext client, an untrusting client, a timeout).
    pub fn tls_failed(&self) {
        self.with(|c| c.tls_failures += 1);
    }

    /// Count the directory or back-end failure behind `e`, if it is one (bad input, a
    /// duplicate or a missing resource is the client's doing and counts nowhere here).
    pub fn failed(&self, e: &ProvisionError) {
        let directory = match e {
            ProvisionError::Directory(_) => {
                matches!(e.kind(), Kind::DirectoryUnavailable | Kind::Internal)
            }
            ProvisionError::AccountPending { .. } | ProvisionError::AccountWithoutEntry { .. } => {
                true
            }
            _ => false,
        };
        let backends: Vec<&str> = match e {
            ProvisionError::Backend(s) => vec![s.backend()],
            ProvisionError::AllBackendsFailed { failures } => {
                failures.iter().map(|s| s.backend()).collect()
            }
            ProvisionError::AccountUndoFailed { error, .. } => vec![error.backend()],
            ProvisionError::AccountWithoutEntry { backend, .. } => vec![backend.as_str()],
            _ => Vec::new(),
        };
        self.with(|c| {
            if directory {
                c.directory_errors += 1;
            }
            for b in backends {
                *c.backend_errors.entry(b.to_string()).or_default() += 1;
            }
        });
    }

    /// The exposition: every counter, and the per-back-end gauges from `registry`.
    pub fn render(&self, registry: Registry<'_>) -> String {
        let mut out = String::new();
        self.with(|c| {
            family(
                &mut out,
                "axigen_provision_requests_total",
                "counter",
                "HTTP requests answered, by route template, method and status.",
            );
            for ((route, method, status), h) in &c.requests {
                sample(
                    &mut out,
                    "axigen_provision_requests_total",
                    &request_labels(route, method, *status),
                    h.count,
                );
            }
            family(
                &mut out,
                "axigen_provision_request_duration_seconds",
                "histogram",
                "Time from a request's arrival to its answer, by route template, method and status.",
            );
            for ((route, method, status), h) in &c.requests {
                let labels = request_labels(route, method, *status);
                let mut cumulative = 0;
                for (le, n) in BUCKETS.iter().zip(h.buckets) {
                    cumulative += n;
                    let with_le = format!("{labels},le=\"{le}\"");
                    sample(
                        &mut out,
                        "axigen_provision_request_duration_seconds_bucket",
                        &with_le,
                        cumulative,
                    );
                }
                sample(
                    &mut out,
                    "axigen_provision_request_duration_seconds_bucket",
                    &format!("{labels},le=\"+Inf\""),
                    h.count,
                );
                let _ = writeln!(
                    out,
                    "axigen_provision_request_duration_seconds_sum{{{labels}}} {}",
                    h.sum
                );
                sample(
                    &mut out,
                    "axigen_provision_request_duration_seconds_count",
                    &labels,
                    h.count,
                );
            }
            family(
                &mut out,
                "axigen_provision_placements_total",
                "counter",
                "Accounts this process placed, by back-end.",
            );
            for (b, n) in &c.placements {
                sample(
                    &mut out,
                    "axigen_provision_placements_total",
                    &backend_label(b),
                    *n,
                );
            }
            family(
                &mut out,
                "axigen_provision_directory_errors_total",
                "counter",
                "Requests that failed because the directory was unreachable or refused an operation.",
            );
            sample(
                &mut out,
                "axigen_provision_directory_errors_total",
                "",
                c.directory_errors,
            );
            family(
                &mut out,
                "axigen_provision_backend_errors_total",
                "counter",
                "Back-end failures (cannot connect, login refused, a command failed), by back-end.",
            );
            for (b, n) in &c.backend_errors {
                sample(
                    &mut out,
                    "axigen_provision_backend_errors_total",
                    &backend_label(b),
                    *n,
                );
            }
            family(
                &mut out,
                "axigen_provision_tls_handshake_failures_total",
                "counter",
                "Connections dropped because their TLS handshake failed.",
            );
            sample(
                &mut out,
                "axigen_provision_tls_handshake_failures_total",
                "",
                c.tls_failures,
            );
        });
        family(
            &mut out,
            "axigen_provision_directory_up",
            "gauge",
            "1 when the directory answered this scrape, 0 when it could not be read.",
        );
        let backends = match registry {
            Registry::Read(b) => b,
            Registry::Unavailable => &[],
        };
        sample(
            &mut out,
            "axigen_provision_directory_up",
            "",
            u64::from(matches!(registry, Registry::Read(_))),
        );
        family(
            &mut out,
            "axigen_provision_backend_accounts",
            "gauge",
            "Accounts on each back-end, as the directory counts them.",
        );
        for b in backends {
            let _ = writeln!(
                out,
                "axigen_provision_backend_accounts{{{}}} {}",
                backend_label(&b.name),
                b.account_count
            );
        }
        family(
            &mut out,
            "axigen_provision_backend_enabled",
            "gauge",
            "1 when a back-end takes new accounts, 0 when it is disabled.",
        );
        for b in backends {
            sample(
                &mut out,
                "axigen_provision_backend_enabled",
                &backend_label(&b.name),
                u64::from(b.enabled),
            );
        }
        out
    }
}

/// `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line; `labels` already escaped, without braces (empty: no labels).
fn sample(out: &mut String, name: &str, labels: &str, value: u64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {value}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
}

fn request_labels(route: &str, method: &str, status: u16) -> String {
    format!(
        "route=\"{}\",method=\"{}\",status=\"{status}\"",
        escape_label(route),
        escape_label(method)
    )
}

fn backend_label(name: &str) -> String {
    format!("backend=\"{}\"", escape_label(name))
}

/// A label value as the text format wants it: `\`, `"` and line feed escaped.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A HELP text as the text format wants it: `\` and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    fn backend(name: &str, count: i64, enabled: bool) -> Backend {
        Backend {
            name: name.into(),
            cli_address: "127.0.0.1:7000".into(),
            mail_host: format!("{name}.example.net"),
            weight: 1,
            enabled,
            account_count: count,
        }
    }

    #[test]
    fn escaping_follows_the_text_format() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
        assert_eq!(method_label("POST"), "POST");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("get"), "other");
    }

    #[test]
    fn histogram_is_cumulative_and_every_family_is_declared() {
        let m = Metrics::new();
        m.observe_request("/v1/accounts", "POST", 201, Duration::from_millis(3));
        m.observe_request("/v1/accounts", "POST", 201, Duration::from_millis(30));
        m.observe_request("/v1/accounts", "POST", 201, Duration::from_secs(20));
        m.placed("be1");
        m.placed("be1");
        m.failed(&ProvisionError::Backend(StoreError::NoPasswordDir {
            backend: "be\"2".into(),
        }));
        m.failed(&ProvisionError::NoSuchAccount {
            address: "a@b.c".into(),
        });
        let text = m.render(Registry::Read(&[
            backend("be1", 5, true),
            backend("be2", 0, false),
        ]));
        let l = r#"route="/v1/accounts",method="POST",status="201""#;
        for line in [
            format!("axigen_provision_requests_total{{{l}}} 3"),
            format!("axigen_provision_request_duration_seconds_bucket{{{l},le=\"0.005\"}} 1"),
            format!("axigen_provision_request_duration_seconds_bucket{{{l},le=\"0.05\"}} 2"),
            format!("axigen_provision_request_duration_seconds_bucket{{{l},le=\"10\"}} 2"),
            format!("axigen_provision_request_duration_seconds_bucket{{{l},le=\"+Inf\"}} 3"),
            format!("axigen_provision_request_duration_seconds_count{{{l}}} 3"),
            "axigen_provision_placements_total{backend=\"be1\"} 2".into(),
            "axigen_provision_backend_errors_total{backend=\"be\\\"2\"} 1".into(),
            "axigen_provision_directory_errors_total 0".into(),
            "axigen_provision_directory_up 1".into(),
            "axigen_provision_backend_accounts{backend=\"be1\"} 5".into(),
            "axigen_provision_backend_enabled{backend=\"be2\"} 0".into(),
        ] {
            assert!(text.lines().any(|x| x == line), "{line} missing:\n{text}");
        }
        // Every sample belongs to a family declared before it, once.
        let mut declared: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap().to_string();
                assert!(!declared.contains(&name), "{name} declared twice");
                declared.push(name);
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|f| declared.iter().any(|d| d == f))
                    .unwrap_or(name);
                assert_eq!(declared.last().map(String::as_str), Some(family), "{line}");
            }
        }
        let down = m.render(Registry::Unavailable);
        assert!(
            down.contains("\naxigen_provision_directory_up 0\n"),
            "{down}"
        );
        assert!(
            !down.contains("axigen_provision_backend_accounts{"),
            "{down}"
        );
    }
}
