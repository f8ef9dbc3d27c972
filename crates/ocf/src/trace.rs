//! `trace_ra`: a step trace of one action, written where the shell agents write theirs
//! (resource-agents' ocf-shellfuncs, `ocf_start_trace`), so that `crm resource trace RSC OP`
//! works for these agents too.
//!
//! - On when `OCF_TRACE_RA` (or, when unset, the `trace_ra` parameter, which `crm resource
//!   trace` sets on the operation) is true in `ocf_is_true` spellings.
//! - Into `OCF_TRACE_FILE` when it is an absolute path or an open descriptor 3-9; otherwise
//!   `<trace_dir>/<OCF_RESOURCE_TYPE>/<OCF_RESOURCE_INSTANCE>.<action>.<%F.%T>` with
//!   `trace_dir` defaulting to `$HA_VARLIB/trace_ra`; to stderr when run from a terminal.
//! - The trace holds the call (action, the `OCF_*` and `HA_*` environment with every value of a
//!   password-like name masked), each step the agent reports ([`step`]: probes and what they
//!   answered), each command run (argv, how it ended, how long it took: through
//!   [`axha_exec::observe_runs`]) and the result. Control characters are escaped: one step is
//!   one line.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::env;
use crate::param::parse_bool;

/// The trace of this process's action (one action per agent process).
static SINK: OnceLock<Sink> = OnceLock::new();

struct Sink {
    out: Mutex<Box<dyn Write + Send>>,
    started: Instant,
}

/// Where the trace goes, decided from the call's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A file (created with its directories).
    File(PathBuf),
    /// A descriptor the caller opened for writing (`OCF_TRACE_FILE=3`..`9`).
    Descriptor(i32),
    /// Standard error (run from a terminal, as the shell agents do).
    Stderr,
}

/// Whether the call asks for a trace, and where it goes; `None` when tracing is off or no
/// destination can be named (no resource type or instance, as ocf-shellfuncs).
pub fn destination(
    vars: &HashMap<String, String>,
    action: &str,
    tty: bool,
    now: &str,
) -> Option<Destination> {
    let get = |k: &str| vars.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let on = get(env::OCF_TRACE_RA)
        .or_else(|| get(&env::reskey(env::TRACE_RA_PARAM)))
        .and_then(|v| parse_bool(v.trim()))
        .unwrap_or(false);
    if !on {
        return None;
    }
    match get(env::OCF_TRACE_FILE) {
        Some(fd @ ("3" | "4" | "5" | "6" | "7" | "8" | "9")) => {
            return fd.parse().ok().map(Destination::Descriptor)
        }
        Some(path) if path.starts_with('/') && path[1..].contains('/') => {
            return Some(Destination::File(PathBuf::from(path)))
        }
        _ => {}
    }
    if tty {
        return Some(Destination::Stderr);
    }
    let kind = get(env::RESOURCE_TYPE)?;
    let instance = get(env::RESOURCE_INSTANCE)?;
    let dir = get(&env::reskey(env::TRACE_DIR_PARAM))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(get(env::HA_VARLIB).unwrap_or(env::DEFAULT_HA_VARLIB)).join("trace_ra")
        });
    // The names become path components: a '/' or '..' must not lead elsewhere.
    let safe = |s: &str| s.replace('/', "_").replace("..", "__");
    Some(Destination::File(dir.join(safe(kind)).join(format!(
        "{}.{}.{now}",
        safe(instance),
        safe(action)
    ))))
}

/// Whether a variable's value must not appear in the trace (a password or key by its name).
fn secret(name: &str) -> bool {
    let n = name
        .strip_prefix(env::RESKEY_PREFIX)
        .unwrap_or(name)
        .to_ascii_lowercase();
    ["pass", "secret", "key", "token", "credential"]
        .iter()
        .any(|w| n.contains(w))
}

/// The call's environment as the trace shows it: `OCF_*` and `HA_*` only, sorted, each value
/// of a password-like name masked.
pub fn environment_lines(vars: &HashMap<String, String>) -> Vec<String> {
    let mut names: Vec<&String> = vars
        .keys()
        .filter(|k| k.starts_with("OCF_") || k.starts_with("HA_"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|k| {
            if secret(k) {
                format!("{k}=********")
            } else {
                format!("{k}={}", crate::escape_controls(&vars[k]))
            }
        })
        .collect()
}

/// The local time as `date +%F.%T` prints it (the shell agents' file name suffix).
fn file_time() -> String {
    crate::log::strftime("%F.%T")
}

/// Start the trace of this call when it asks for one (see the module). Returns where it goes.
/// A destination that cannot be opened turns tracing off with a warning on `warn`.
pub fn start(
    vars: &HashMap<String, String>,
    agent: &str,
    action: &str,
    tty: bool,
    warn: &mut dyn FnMut(&str),
) -> Option<Destination> {
    let dest = destination(vars, action, tty, &file_time())?;
    let out: Box<dyn Write + Send> = match &dest {
        Destination::Stderr => Box::new(std::io::stderr()),
        Destination::Descriptor(fd) => {
            // SAFETY: dup gives a descriptor this process owns; the caller's stays open.
            let dup = unsafe { libc::dup(*fd) };
            if dup < 0 {
                warn(&format!("trace: descriptor {fd} is not open, no trace"));
                return None;
            }
            // SAFETY: `dup` is a fresh descriptor nothing else owns.
            Box::new(unsafe { File::from_raw_fd(dup) })
        }
        Destination::File(path) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            match OpenOptions::new().create(true).append(true).open(path) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    warn(&format!(
                        "trace: {} not writable ({e}), no trace",
                        path.display()
                    ));
                    return None;
                }
            }
        }
    };
    let sink = Sink {
        out: Mutex::new(out),
        started: Instant::now(),
    };
    if SINK.set(sink).is_err() {
        return None;
    }
    axha_exec::observe_runs(command);
    step(&format!("{agent} {action}: pid {}", std::process::id()));
    for l in environment_lines(vars) {
        step(&format!("env {l}"));
    }
    Some(dest)
}

/// Add one line to the trace (nothing when tracing is off): what the agent checked and what
/// it found. Never pass a secret.
pub fn step(text: &str) {
    let Some(sink) = SINK.get() else {
        return;
    };
    let at = sink.started.elapsed();
    let line = format!(
        "+ {} +{:.3}s: {}\n",
        crate::log::strftime("%T"),
        at.as_secs_f64(),
        crate::escape_controls(text)
    );
    if let Ok(mut out) = sink.out.lock() {
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

/// Whether this process is tracing.
pub fn active() -> bool {
    SINK.get().is_some()
}

fn command(argv: &str, outcome: &str, elapsed: Duration) {
    step(&format!(
        "run {argv} -> {outcome} in {:.3}s",
        elapsed.as_secs_f64()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const NOW: &str = "2026-11-30.04:00:00";

    #[test]
    fn off_unless_asked() {
        assert_eq!(destination(&vars(&[]), "start", false, NOW), None);
        let v = vars(&[("OCF_RESKEY_trace_ra", "0"), ("OCF_RESOURCE_TYPE", "x")]);
        assert_eq!(destination(&v, "start", false, NOW), None);
    }

    #[test]
    fn shell_agents_layout() {
        let v = vars(&[
            ("OCF_RESKEY_trace_ra", "1"),
            ("OCF_RESOURCE_TYPE", "instance"),
            ("OCF_RESOURCE_INSTANCE", "ax1"),
        ]);
        assert_eq!(
            destination(&v, "start", false, NOW),
            Some(Destination::File(PathBuf::from(
                "/var/lib/heartbeat/trace_ra/instance/ax1.start.2026-11-30.04:00:00"
            )))
        );
        let mut v2 = v.clone();
        v2.insert("OCF_RESKEY_trace_dir".into(), "/t".into());
        v2.insert("OCF_RESOURCE_INSTANCE".into(), "../x".into());
        assert_eq!(
            destination(&v2, "monitor", false, NOW),
            Some(Destination::File(PathBuf::from(
                "/t/instance/___x.monitor.2026-11-30.04:00:00"
            )))
        );
        assert_eq!(
            destination(&v, "start", true, NOW),
            Some(Destination::Stderr)
        );
        let mut v3 = v.clone();
        v3.insert("OCF_TRACE_FILE".into(), "/tmp/t/one".into());
        assert_eq!(
            destination(&v3, "start", false, NOW),
            Some(Destination::File(PathBuf::from("/tmp/t/one")))
        );
        v3.insert("OCF_TRACE_FILE".into(), "5".into());
        assert_eq!(
            destination(&v3, "start", false, NOW),
            Some(Destination::Descriptor(5))
        );
        // OCF_TRACE_RA wins over the parameter, as in ocf-shellfuncs.
        v3.insert("OCF_TRACE_RA".into(), "no".into());
        assert_eq!(destination(&v3, "start", false, NOW), None);
    }

    /// The one test in this process that starts a trace (the sink is process-wide).
    #[test]
    fn trace_holds_steps_and_commands() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.trace");
        let v = vars(&[
            ("OCF_TRACE_RA", "yes"),
            ("OCF_TRACE_FILE", file.to_str().unwrap()),
            ("OCF_RESKEY_password", "hunter2"),
        ]);
        let mut warned = Vec::new();
        let dest = start(&v, "t", "start", false, &mut |m| warned.push(m.to_string()));
        assert_eq!(dest, Some(Destination::File(file.clone())));
        assert!(active());
        step("probe X -> ready\nforged");
        let d = axha_exec::Deadline::after(Duration::from_secs(5));
        let _ = axha_exec::Cmd::new("true").run(&d);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(": t start: pid "), "{text}");
        assert!(text.contains("env OCF_RESKEY_password=********"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("probe X -> ready\\nforged\n"), "{text}");
        assert!(text.contains("run true -> exit 0 in "), "{text}");
        assert!(warned.is_empty());
    }

    #[test]
    fn secrets_are_masked() {
        let v = vars(&[
            ("OCF_RESKEY_password", "hunter2"),
            ("OCF_RESKEY_bmc_key", "abcd"),
            ("OCF_RESKEY_workdir", "/srv/a\nb"),
            ("PATH", "/bin"),
        ]);
        assert_eq!(
            environment_lines(&v),
            [
                "OCF_RESKEY_bmc_key=********",
                "OCF_RESKEY_password=********",
                "OCF_RESKEY_workdir=/srv/a\\nb",
            ]
        );
    }
}
