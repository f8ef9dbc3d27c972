//! The fence-agent API shared by this project's fence agents, following the fence-agents
//! conventions Pacemaker relies on (fence-agents `lib/fencing.py`, Pacemaker's fencer).
//!
//! - [`AgentSpec`] / [`Param`] / [`Action`]: the agent as a declaration. Parsers, `--help`,
//!   `validate-all`'s required-parameter check and the metadata (valid against
//!   `/usr/share/cluster/relaxng/metadata.rng`) all come from it; [`spec::common`] holds
//!   the shared parameters with their fence-agents spellings and deprecated aliases.
//! - [`Request`]: the parsed request, from `key=value` lines on stdin when there are no
//!   command-line arguments, else from getopt-style options. Unknown stdin keys are ignored;
//!   deprecated names (`ipaddr`, `login`, `passwd`, `passwd_script`, `port`) are accepted.
//!   Typed accessors, the password sources ([`Request::password`]) and the host binding
//!   ([`Request::check_target`]).
//! - [`FenceAgent`] + [`dispatch`]: the action dispatcher. `metadata` is answered before any
//!   check; `delay` is honoured before `off` and `reboot`; results map to the exit codes
//!   0 (success, or status "on"), 1 (failure) and 2 (status "off").
//!
//! This crate prints nothing: [`dispatch`] returns a [`Reply`] and log lines go to the sink
//! the binary provides.
//!
//! ```
//! use axha_fencing::{spec::common, Action, AgentSpec, FenceAgent, FenceError, Log, Outcome,
//!                    Request, dispatch};
//! struct Null;
//! impl FenceAgent for Null {
//!     fn spec(&self) -> AgentSpec {
//!         AgentSpec { name: "fence_null", shortdesc: "Does nothing", longdesc: "", vendor_url: "",
//!                     params: vec![common::ACTION], actions: &[Action::Status, Action::Metadata] }
//!     }
//!     fn validate(&self, _: &Request) -> Result<(), FenceError> { Ok(()) }
//!     fn run(&self, _: &Request, _: &mut Log) -> Result<Outcome, FenceError> { Ok(Outcome::PowerOff) }
//! }
//! let reply = dispatch(&Null, &["-o".into(), "status".into()], || Ok(Vec::new()), &mut |_| {});
//! assert_eq!(reply.code, 2);
//! assert_eq!(reply.stdout, "Status: OFF\n");
//! ```

#![warn(missing_docs)]

mod request;
pub mod spec;

pub use request::{Request, Secret, Source, PACEMAKER_NODENAME};
pub use spec::{Action, AgentSpec, Content, Param};

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use axha_exec::escape_controls;

/// Exit codes of the fence-agents API.
pub const EXIT_SUCCESS: u8 = 0;
/// Any failure: bad request, device error, power change not verified.
pub const EXIT_FAILURE: u8 = 1;
/// `status` when the target is powered off.
pub const EXIT_STATUS_OFF: u8 = 2;

/// Why a request failed. Every variant maps to exit code 1; the message is short and names
/// the offending parameter or value (never a secret).
#[derive(Debug)]
pub enum FenceError {
    /// Wrong command line or action.
    Usage(String),
    /// A required parameter is not given; its name.
    Missing(&'static str),
    /// A parameter holds a value it cannot take.
    Invalid {
        /// The parameter.
        param: &'static str,
        /// The value given (`<redacted>` for a secret).
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The request names a node this device is not bound to.
    WrongNode {
        /// Which parameter named the node (`plug` or `nodename`).
        given_as: &'static str,
        /// The node the request names.
        requested: String,
        /// The node this device is bound to.
        bound: String,
    },
    /// The password could not be obtained (never the password itself).
    Password(String),
    /// Another secret (a key) could not be obtained (never the secret itself).
    Secret {
        /// What the secret is, in the operator's words ("BMC key").
        what: &'static str,
        /// Why it could not be read.
        detail: String,
    },
    /// The device could not do what was asked; the agent's own words.
    Device(String),
}

impl fmt::Display for FenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FenceError::Usage(m) => f.write_str(m),
            FenceError::Missing(p) => write!(f, "missing required parameter {p}"),
            FenceError::Invalid {
                param,
                value,
                reason,
            } => write!(f, "invalid {param}=\"{}\": {reason}", escape_controls(value)),
            FenceError::WrongNode {
                given_as,
                requested,
                bound,
            } => write!(
                f,
                "refusing to fence {requested:?} ({given_as}): this device is bound to node {bound:?}"
            ),
            FenceError::Password(m) => write!(f, "cannot get the password: {m}"),
            FenceError::Secret { what, detail } => write!(f, "cannot get the {what}: {detail}"),
            FenceError::Device(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FenceError {}

/// What a successful action found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// status: powered on (exit 0).
    PowerOn,
    /// status: powered off (exit 2).
    PowerOff,
    /// on / off / reboot done and verified; the text is the success line.
    Done(String),
    /// monitor / validate-all: success, nothing to print.
    Ok,
}

/// Log lines for the operator (stderr, which Pacemaker records). `info` unless `quiet`;
/// `debug` at `verbose_level` 1 and more (`verbose` alone is level 1), `detail` at 2 and
/// more. Every line also goes, with its time, to `debug_file` when one is given, whatever the
/// level (as fence-agents' `--debug-file`). Messages never hold a password or key.
pub struct Log<'a> {
    sink: &'a mut dyn FnMut(&str),
    level: u32,
    quiet: bool,
    file: Option<std::fs::File>,
}

impl Log<'_> {
    fn emit(&mut self, shown: bool, kind: &str, msg: &str) {
        let line = escape_controls(msg);
        if shown && !self.quiet {
            (self.sink)(&line);
        }
        if let Some(f) = self.file.as_mut() {
            use std::io::Write;
            let _ = writeln!(f, "{} {kind}: {line}", debug_time());
        }
    }
    /// A line for the operator; its control characters are escaped (one line per message).
    pub fn info(&mut self, msg: &str) {
        self.emit(true, "INFO", msg);
    }
    /// A step, shown at `verbose_level` 1 and more.
    pub fn debug(&mut self, msg: &str) {
        let shown = self.level >= 1;
        self.emit(shown, "DEBUG", msg);
    }
    /// A detail of a step (a command's answer), shown at `verbose_level` 2 and more.
    pub fn detail(&mut self, msg: &str) {
        let shown = self.level >= 2;
        self.emit(shown, "DEBUG", msg);
    }
    /// True when steps are shown or recorded (e.g. to gather timings only then).
    pub fn verbose(&self) -> bool {
        self.level >= 1 || self.file.is_some()
    }
}

/// The time of a debug file line, as Python's logging prints it (`2026-11-30 04:00:00,123`).
fn debug_time() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// A fence agent: its declaration and its actions.
pub trait FenceAgent {
    /// The declaration: parameters, actions, descriptions.
    fn spec(&self) -> AgentSpec;
    /// Checks beyond the declared required parameters, without touching the device
    /// (what `validate-all` runs, and every other action first).
    fn validate(&self, req: &Request) -> Result<(), FenceError>;
    /// on, off, reboot, status, monitor (and list if declared). Called after validation,
    /// the host binding check and the delay.
    fn run(&self, req: &Request, log: &mut Log) -> Result<Outcome, FenceError>;
}

/// What the binary prints and how it exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The exit code: 0, 1 or 2.
    pub code: u8,
    /// What goes to stdout (metadata, `Status: ON`, a success line).
    pub stdout: String,
    /// What goes to stderr (one `Failed:` line on failure).
    pub stderr: String,
}

impl Reply {
    fn fail(e: &FenceError) -> Reply {
        Reply {
            code: EXIT_FAILURE,
            stdout: String::new(),
            stderr: format!("Failed: {}\n", escape_controls(&e.to_string())),
        }
    }
}

/// The arguments as text; one that is not UTF-8 is a usage error naming its position.
fn utf8_args(args: &[OsString]) -> Result<Vec<String>, FenceError> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            a.clone().into_string().map_err(|bad| {
                FenceError::Usage(format!(
                    "argument {} ({}) is not valid UTF-8",
                    i + 1,
                    bad.to_string_lossy()
                ))
            })
        })
        .collect()
}

/// Usage text from the declaration (`--help`).
pub fn usage(spec: &AgentSpec) -> String {
    let mut s = format!(
        "Usage:\n\t{} [options]\n\t{} < key=value lines on stdin\nOptions:\n",
        spec.name, spec.name
    );
    for p in &spec.params {
        let short = p.short.map(|c| format!("-{c}, ")).unwrap_or_default();
        let val = p.value.map(|v| format!("=[{v}]")).unwrap_or_default();
        let key = format!("{short}--{}{val}", p.long);
        let mut line = format!("   {key:<34} {}", p.shortdesc);
        if let Some(d) = p.default {
            line.push_str(&format!(" (default: {d})"));
        }
        s.push_str(&line);
        s.push('\n');
    }
    let actions: Vec<&str> = spec.actions.iter().map(|a| a.name()).collect();
    s.push_str(&format!("Actions: {}\n", actions.join(", ")));
    s
}

/// Run one request: `args` without the program name (any bytes); `stdin` is read only when
/// `args` is empty, and gives the input or why it could not be read. `sink` receives log
/// lines as they happen.
pub fn dispatch(
    agent: &dyn FenceAgent,
    args: &[OsString],
    stdin: impl FnOnce() -> Result<Vec<u8>, FenceError>,
    sink: &mut dyn FnMut(&str),
) -> Reply {
    let spec = agent.spec();
    let parsed = if args.is_empty() {
        stdin().and_then(|input| Request::from_stdin_bytes(&spec, &input))
    } else {
        utf8_args(args).and_then(|args| Request::from_args(&spec, &args))
    };
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return Reply::fail(&e),
    };
    let ok = |stdout: String| Reply {
        code: EXIT_SUCCESS,
        stdout,
        stderr: String::new(),
    };
    if req.flag("help") {
        return ok(usage(&spec));
    }
    if req.flag("version") {
        return ok(format!("{} {}\n", spec.name, env!("CARGO_PKG_VERSION")));
    }
    // meta-data before any other check: Pacemaker asks for it with no parameters at all.
    if req.action == Action::Metadata {
        return ok(spec.metadata());
    }
    let level = if req.is_set("verbose_level") {
        match req.integer("verbose_level") {
            Ok(n) => n,
            Err(e) => return Reply::fail(&e),
        }
    } else {
        u32::from(req.flag("verbose"))
    };
    let file = match req.get("debug_file").filter(|f| !f.is_empty()) {
        None => None,
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Some(f),
            Err(e) => {
                return Reply::fail(&FenceError::Invalid {
                    param: "debug_file",
                    value: path.to_string(),
                    reason: format!("cannot be written: {e}"),
                })
            }
        },
    };
    let mut log = Log {
        sink,
        level,
        quiet: req.flag("quiet"),
        file,
    };
    log.debug(&format!("{} {}", spec.name, req.action));
    if !req.ignored.is_empty() {
        log.debug(&format!(
            "ignoring unknown parameters: {}",
            req.ignored.join(", ")
        ));
    }
    let checked = req
        .check_values()
        .and_then(|_| {
            spec.params
                .iter()
                .filter(|p| p.required)
                .try_for_each(|p| req.require(p.name).map(|_| ()))
        })
        .and_then(|_| agent.validate(&req))
        .and_then(|_| req.check_target());
    if let Err(e) = checked {
        return Reply::fail(&e);
    }
    if req.action == Action::ValidateAll {
        return ok(String::new());
    }
    // diag stands in for a reboot (pcmk_reboot_action=diag), so it waits as a reboot does.
    if matches!(req.action, Action::Off | Action::Reboot | Action::Diag) {
        match req.seconds("delay") {
            Ok(d) if d > Duration::ZERO => {
                log.info(&format!(
                    "delay: waiting {:.1}s before {}",
                    d.as_secs_f64(),
                    req.action
                ));
                std::thread::sleep(d);
            }
            Ok(_) => {}
            Err(e) => return Reply::fail(&e),
        }
    }
    match agent.run(&req, &mut log) {
        Ok(Outcome::PowerOn) => ok("Status: ON\n".into()),
        Ok(Outcome::PowerOff) => Reply {
            code: EXIT_STATUS_OFF,
            stdout: "Status: OFF\n".into(),
            stderr: String::new(),
        },
        Ok(Outcome::Done(line)) => ok(format!("{line}\n")),
        Ok(Outcome::Ok) => ok(String::new()),
        Err(e) => Reply::fail(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::common;
    use std::cell::RefCell;
    use std::time::Instant;

    struct Fake {
        calls: RefCell<Vec<Action>>,
        result: fn(Action) -> Result<Outcome, FenceError>,
    }

    impl FenceAgent for Fake {
        fn spec(&self) -> AgentSpec {
            AgentSpec {
                name: "fence_fake",
                shortdesc: "fake",
                longdesc: "fake",
                vendor_url: "",
                params: vec![
                    common::ACTION,
                    common::PLUG,
                    common::BOUND_NODE,
                    common::DELAY,
                    common::VERBOSE,
                    common::QUIET,
                    common::HELP,
                    common::VERSION,
                    Param::new("ip", "ip", "address").short('a').required(),
                ],
                actions: &[
                    Action::On,
                    Action::Off,
                    Action::Reboot,
                    Action::Status,
                    Action::Monitor,
                    Action::Metadata,
                    Action::ValidateAll,
                ],
            }
        }
        fn validate(&self, req: &Request) -> Result<(), FenceError> {
            if req.get("ip") == Some("bad") {
                return Err(FenceError::Usage("ip is bad".into()));
            }
            Ok(())
        }
        fn run(&self, req: &Request, log: &mut Log) -> Result<Outcome, FenceError> {
            self.calls.borrow_mut().push(req.action);
            log.debug("running");
            (self.result)(req.action)
        }
    }

    fn fake(result: fn(Action) -> Result<Outcome, FenceError>) -> Fake {
        Fake {
            calls: RefCell::new(Vec::new()),
            result,
        }
    }

    fn stdin(agent: &Fake, text: &str) -> (Reply, Vec<String>) {
        let mut lines = Vec::new();
        let r = dispatch(agent, &[], || Ok(text.as_bytes().to_vec()), &mut |l| {
            lines.push(l.to_string())
        });
        (r, lines)
    }

    #[test]
    fn metadata_needs_no_parameters() {
        let a = fake(|_| panic!("not run"));
        let (r, _) = stdin(&a, "action=metadata\n");
        assert_eq!(r.code, 0);
        assert!(r.stdout.starts_with("<?xml"));
    }

    #[test]
    fn status_exit_codes() {
        let a = fake(|_| Ok(Outcome::PowerOff));
        let (r, _) = stdin(&a, "action=status\nip=x\n");
        assert_eq!((r.code, r.stdout.as_str()), (2, "Status: OFF\n"));
        let a = fake(|_| Ok(Outcome::PowerOn));
        let (r, _) = stdin(&a, "action=status\nip=x\n");
        assert_eq!((r.code, r.stdout.as_str()), (0, "Status: ON\n"));
        let a = fake(|_| Err(FenceError::Device("BMC says no".into())));
        let (r, _) = stdin(&a, "action=status\nip=x\n");
        assert_eq!((r.code, r.stderr.as_str()), (1, "Failed: BMC says no\n"));
    }

    #[test]
    fn required_validation_and_binding_before_run() {
        let a = fake(|_| Ok(Outcome::Ok));
        let (r, _) = stdin(&a, "action=off\n");
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains("missing required parameter ip"),
            "{}",
            r.stderr
        );
        let (r, _) = stdin(&a, "action=off\nip=bad\n");
        assert!(r.stderr.contains("ip is bad"));
        let (r, _) = stdin(&a, "action=off\nip=x\nbound_node=n1\nport=n2\n");
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("bound to node \"n1\""), "{}", r.stderr);
        let (r, _) = stdin(&a, "action=validate-all\nip=x\n");
        assert_eq!(r.code, 0);
        assert!(a.calls.borrow().is_empty(), "nothing reached the device");
    }

    #[test]
    fn delay_only_before_off_and_reboot() {
        let a = fake(|_| Ok(Outcome::Done("Success: Powered OFF".into())));
        let t = Instant::now();
        let (r, lines) = stdin(&a, "action=off\nip=x\ndelay=0.3\n");
        assert_eq!((r.code, r.stdout.as_str()), (0, "Success: Powered OFF\n"));
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert!(lines.iter().any(|l| l.contains("delay")));
        let t = Instant::now();
        let (r, _) = stdin(&a, "action=on\nip=x\ndelay=5\n");
        assert_eq!(r.code, 0);
        assert!(t.elapsed() < Duration::from_secs(1));
        let (r, _) = stdin(&a, "action=reboot\nip=x\ndelay=never\n");
        assert_eq!(r.code, 1);
    }

    #[test]
    fn hostile_input_is_refused_in_one_line() {
        use std::os::unix::ffi::OsStringExt;
        let a = fake(|_| Ok(Outcome::Ok));
        let (r, _) = stdin(&a, "action=status\nip=x\x00y\n");
        assert_eq!(r.code, 1);
        assert_eq!(
            r.stderr,
            "Failed: invalid ip=\"x\\0y\": contains a control character\n"
        );
        let bad = OsString::from_vec(b"-a\xff".to_vec());
        let r = dispatch(
            &a,
            &["-o".into(), "status".into(), bad],
            || Ok(Vec::new()),
            &mut |_| {},
        );
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("argument 3"), "{}", r.stderr);
        let r = dispatch(
            &a,
            &[],
            || Err(FenceError::Usage("standard input: too large".into())),
            &mut |_| {},
        );
        assert_eq!(
            (r.code, r.stderr.as_str()),
            (1, "Failed: standard input: too large\n")
        );
        let (r, _) = stdin(&a, "action=off\nip=x\ndelay=\n");
        assert_eq!(
            r.code, 0,
            "an empty optional parameter is its default: {r:?}"
        );
        assert_eq!(a.calls.borrow().len(), 1);
    }

    #[test]
    fn verbose_quiet_help_version() {
        let a = fake(|_| Ok(Outcome::Ok));
        let (_, lines) = stdin(&a, "action=monitor\nip=x\nverbose=1\nunknown=1\n");
        assert!(lines.iter().any(|l| l == "running"));
        assert!(lines.iter().any(|l| l.contains("unknown")));
        let (_, lines) = stdin(&a, "action=monitor\nip=x\n");
        assert!(lines.is_empty());
        let r = dispatch(&a, &["--help".into()], || Ok(Vec::new()), &mut |_| {});
        assert!(r.stdout.contains("--ip=[value]") && r.stdout.contains("Actions: on, off"));
        let r = dispatch(&a, &["-V".into()], || Ok(Vec::new()), &mut |_| {});
        assert!(r.stdout.starts_with("fence_fake "));
        let r = dispatch(&a, &["--nope".into()], || Ok(Vec::new()), &mut |_| {});
        assert_eq!(r.code, 1);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Lines with the keys the fencer sends (no `delay`: it would sleep) and any bytes.
        fn line() -> impl Strategy<Value = Vec<u8>> {
            let key = prop_oneof![
                Just(b"action".to_vec()),
                Just(b"ip".to_vec()),
                Just(b"port".to_vec()),
                Just(b"plug".to_vec()),
                Just(b"nodename".to_vec()),
                Just(b"bound_node".to_vec()),
                Just(b"verbose".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..12),
            ];
            let value = prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..24),
                Just(b"status".to_vec()),
                Just(b"off".to_vec()),
                Just(b"metadata".to_vec()),
            ];
            (key, value).prop_map(|(mut k, v)| {
                k.push(b'=');
                k.extend(v);
                k
            })
        }

        fn input() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(line(), 0..8).prop_map(|ls| ls.join(&b'\n')),
                proptest::collection::vec(any::<u8>(), 0..256),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(384))]

            /// Whatever stdin holds: a parsed request or a typed error, and the dispatcher
            /// answers 0, 1 or 2 with one escaped `Failed:` line on failure.
            #[test]
            fn any_stdin_gets_a_fence_answer(bytes in input()) {
                let a = fake(|_| Ok(Outcome::PowerOn));
                let parsed = Request::from_stdin_bytes(&a.spec(), &bytes);
                let mut lines = Vec::new();
                let r = dispatch(&a, &[], || Ok(bytes.clone()), &mut |l| lines.push(l.to_string()));
                prop_assert!([EXIT_SUCCESS, EXIT_FAILURE, EXIT_STATUS_OFF].contains(&r.code));
                if parsed.is_err() {
                    prop_assert_eq!(r.code, EXIT_FAILURE);
                }
                if r.code == EXIT_FAILURE {
                    prop_assert!(r.stderr.starts_with("Failed: "));
                    prop_assert_eq!(r.stderr.lines().count(), 1);
                    prop_assert!(!r.stderr.trim_end_matches('\n').contains(char::is_control));
                    prop_assert!(a.calls.borrow().is_empty() || parsed.is_ok());
                }
                for l in &lines {
                    prop_assert!(!l.contains(char::is_control), "{:?}", l);
                }
            }
        }
    }
}
