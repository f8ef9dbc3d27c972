use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::{
    escape_controls, metadata, trace, Context, Environment, OcfError, OcfResult, OcfStatus,
    ParamSpec, Params,
};

/// Exit reasons longer than this are cut by Pacemaker; we cut first, on a character boundary.
pub const EXIT_REASON_MAX: usize = 128;
const EXIT_REASON_PREFIX: &str = "ocf-exit-reason:";

/// What runs an action: `Ok` carries 0, 7 or 8; `Err` a failure with its reason.
pub type Handler = fn(&mut Context) -> OcfResult;

/// One action the agent answers, declared together with its handler (as ocf.py's
/// `add_action(name, timeout, handler=)`): nothing else names the action again.
#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    /// The action name Pacemaker passes as the first argument (`start`, `monitor`...).
    pub name: &'static str,
    /// Advertised timeout in seconds, and the timeout used when Pacemaker passes none.
    pub timeout: u32,
    /// Interval in seconds advertised for a recurring monitor.
    pub interval: Option<u32>,
    /// Check depth (`OCF_CHECK_LEVEL`) advertised for this monitor.
    pub depth: Option<u32>,
    /// `Promoted` or `Unpromoted` for role-specific monitors.
    pub role: Option<&'static str>,
    /// Dispatched but not listed in meta-data (e.g. a by-hand `diagnose`).
    pub hidden: bool,
    /// Runs even when parameters are wrong (at least `stop`: a configuration problem must
    /// never keep a running resource from being stopped).
    pub lenient: bool,
    /// `None` only for `meta-data`, which the framework answers from the declaration.
    pub handler: Option<Handler>,
}

impl ActionSpec {
    /// An action run by `handler`.
    pub const fn new(name: &'static str, timeout: u32, handler: Handler) -> Self {
        ActionSpec {
            name,
            timeout,
            interval: None,
            depth: None,
            role: None,
            hidden: false,
            lenient: false,
            handler: Some(handler),
        }
    }
    /// `meta-data`, answered by the framework before any check.
    pub const fn meta_data(timeout: u32) -> Self {
        ActionSpec {
            name: "meta-data",
            timeout,
            interval: None,
            depth: None,
            role: None,
            hidden: false,
            lenient: true,
            handler: None,
        }
    }
    /// Advertise a recurring interval, in seconds.
    pub const fn interval(mut self, s: u32) -> Self {
        self.interval = Some(s);
        self
    }
    /// Advertise the check depth of this monitor.
    pub const fn depth(mut self, d: u32) -> Self {
        self.depth = Some(d);
        self
    }
    /// Advertise this monitor for one role only (`Promoted`, `Unpromoted`).
    pub const fn role(mut self, r: &'static str) -> Self {
        self.role = Some(r);
        self
    }
    /// Dispatch the action but leave it out of meta-data.
    pub const fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }
    /// Run the action even when parameters are wrong.
    pub const fn lenient(mut self) -> Self {
        self.lenient = true;
        self
    }
}

/// The declaration of an agent: from it come meta-data, parameter checking and dispatch.
#[derive(Debug)]
pub struct AgentSpec {
    /// The agent's type as Pacemaker names it (`ocf:PROVIDER:NAME`).
    pub name: &'static str,
    /// The agent's own version, shown in meta-data.
    pub version: &'static str,
    /// One line saying what the agent manages.
    pub shortdesc: &'static str,
    /// What the agent does, for `crm ra info` and the man page.
    pub longdesc: &'static str,
    /// The parameters, in meta-data order.
    pub params: &'static [ParamSpec],
    /// The actions with their handlers, in meta-data order.
    pub actions: &'static [ActionSpec],
}

impl AgentSpec {
    /// The first declaration of `action` (an action declared twice, e.g. a monitor at two
    /// depths, has one handler and one timeout default).
    fn action(&self, action: &str) -> Option<&ActionSpec> {
        self.actions.iter().find(|a| a.name == action)
    }

    fn usage(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for a in self.actions {
            if !names.contains(&a.name) {
                names.push(a.name);
            }
        }
        format!("usage: {} {{{}}}\n", self.name, names.join("|"))
    }
}

/// Shorten an exit reason to one line of at most [`EXIT_REASON_MAX`] bytes, its control
/// characters escaped (a value quoted in it cannot add a line).
pub fn exit_reason_line(reason: &str) -> String {
    let mut cut = escape_controls(reason.trim()).into_owned();
    if cut.len() > EXIT_REASON_MAX {
        let mut end = EXIT_REASON_MAX;
        while !cut.is_char_boundary(end) {
            end -= 1;
        }
        cut.truncate(end);
    }
    format!("{EXIT_REASON_PREFIX}{cut}")
}

/// Run the agent with the process's arguments and environment, and exit with its code.
pub fn run(spec: &AgentSpec) -> ! {
    let args: Vec<OsString> = std::env::args_os().collect();
    let vars = Environment::from_os(std::env::vars_os());
    let tty = std::io::stderr().is_terminal();
    let code = run_with(
        spec,
        &args,
        vars,
        tty,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code)
}

/// The dispatcher, with everything it reads and writes passed in (the testable core of
/// [`run`]). Returns the exit code. This is the one place results become exit codes and the
/// exit reason is printed. Any arguments and environment are accepted (non-UTF-8 included).
pub fn run_with(
    spec: &AgentSpec,
    args: &[OsString],
    vars: Environment,
    tty: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    // Extra arguments after the action are ignored (OCF RA API: one action argument).
    let action = args.get(1).map(|a| a.to_string_lossy());
    let Some(action) = action.as_deref() else {
        let _ = err.write_all(spec.usage().as_bytes());
        return OcfStatus::ErrArgs.code();
    };
    match action {
        // meta-data answers before any environment check: it must work anywhere.
        "meta-data" => {
            let _ = out.write_all(metadata::render(spec).as_bytes());
            return OcfStatus::Success.code();
        }
        "usage" | "help" | "--help" | "-h" => {
            let _ = out.write_all(spec.usage().as_bytes());
            return OcfStatus::Success.code();
        }
        _ => {}
    }
    let Some((declared, handler)) = spec.action(action).and_then(|a| a.handler.map(|h| (a, h)))
    else {
        let _ = err.write_all(spec.usage().as_bytes());
        let _ = writeln!(
            err,
            "{}",
            exit_reason_line(&format!("unsupported action {action}"))
        );
        return OcfStatus::ErrUnimplemented.code();
    };
    let params = Params::parse(spec.params, &vars);
    let mut ctx = Context::new(
        spec.name,
        action,
        params,
        vars,
        Some(Duration::from_secs(declared.timeout.into())),
        tty,
    );
    let log = ctx.log.clone();
    trace::start(ctx.vars(), spec.name, action, tty, &mut |m| log.warn(m));
    let result = if declared.lenient {
        call(handler, &mut ctx)
    } else {
        match ctx.params.check() {
            Err(e) => Err(OcfError::configured(e.to_string())),
            Ok(()) => call(handler, &mut ctx),
        }
    };
    let code = match &result {
        Ok(status) => status.code(),
        Err(e) => {
            ctx.log.error(&format!("{action}: {}", e.reason));
            let _ = writeln!(err, "{}", exit_reason_line(&e.reason));
            e.status.code()
        }
    };
    trace::step(&match &result {
        Ok(status) => format!("result: {action} exit {code} ({status:?})"),
        Err(e) => format!("result: {action} exit {code}: {}", e.reason),
    });
    code
}

fn call(handler: Handler, ctx: &mut Context) -> OcfResult {
    match catch_unwind(AssertUnwindSafe(|| handler(ctx))) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(OcfError::generic(format!("internal error: {what}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PARAMS: &[ParamSpec] = &[crate::Param::string("dir", "d", "d").required().spec];
    static ACTIONS: &[ActionSpec] = &[
        ActionSpec::new("start", 30, start),
        ActionSpec::new("stop", 30, |_| Ok(OcfStatus::Success)).lenient(),
        ActionSpec::new("monitor", 20, |_| Ok(OcfStatus::NotRunning)).interval(10),
        ActionSpec::new("validate-all", 5, |_| Ok(OcfStatus::Success)),
        ActionSpec::meta_data(5),
    ];
    static SPEC: AgentSpec = AgentSpec {
        name: "t",
        version: "1",
        shortdesc: "t",
        longdesc: "t",
        params: PARAMS,
        actions: ACTIONS,
    };

    fn start(ctx: &mut Context) -> OcfResult {
        if ctx.params.str("dir") == Some("/boom") {
            panic!("kaboom");
        }
        Err(OcfError::generic(format!(
            "line1\nline2 {}",
            "x".repeat(200)
        )))
    }

    fn call(args: &[&str], kv: &[(&str, &str)]) -> (i32, String, String) {
        let args: Vec<OsString> = std::iter::once("t")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let mut vars = Environment::from_pairs(kv.iter().map(|(k, v)| (*k, *v)));
        vars.set("HA_LOGFILE", "/dev/null");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = run_with(&SPEC, &args, vars, false, &mut o, &mut e);
        (
            code,
            String::from_utf8(o).unwrap(),
            String::from_utf8(e).unwrap(),
        )
    }

    #[test]
    fn dispatch_codes() {
        assert_eq!(call(&[], &[]).0, 2);
        assert_eq!(call(&["meta-data"], &[]).0, 0);
        assert!(call(&["meta-data"], &[])
            .1
            .contains("<resource-agent name=\"t\""));
        assert_eq!(call(&["usage"], &[]).0, 0);
        assert_eq!(call(&["frobnicate"], &[]).0, 3);
        assert_eq!(
            call(&["monitor", "extra", "args"], &[("OCF_RESKEY_dir", "/x")]).0,
            7
        );
    }

    #[test]
    fn missing_required_is_6_but_stop_still_runs() {
        let (code, _, err) = call(&["start"], &[]);
        assert_eq!(code, 6);
        assert_eq!(
            err.trim(),
            "ocf-exit-reason:required parameter dir is not set"
        );
        assert_eq!(call(&["stop"], &[]).0, 0);
    }

    #[test]
    fn exit_reason_is_one_short_line() {
        let (code, _, err) = call(&["start"], &[("OCF_RESKEY_dir", "/x")]);
        assert_eq!(code, 1);
        let line = err.lines().last().unwrap();
        assert!(
            line.starts_with("ocf-exit-reason:line1\\nline2 x"),
            "{line}"
        );
        assert_eq!(line.len(), EXIT_REASON_PREFIX.len() + EXIT_REASON_MAX);
    }

    #[test]
    fn exit_reason_cut_on_char_boundary() {
        let l = exit_reason_line(&"é".repeat(100));
        assert!(l.len() <= EXIT_REASON_PREFIX.len() + EXIT_REASON_MAX);
        assert!(l.ends_with('é'));
    }

    #[test]
    fn panic_becomes_generic_error() {
        let (code, _, err) = call(&["start"], &[("OCF_RESKEY_dir", "/boom")]);
        assert_eq!(code, 1);
        assert!(
            err.contains("ocf-exit-reason:internal error: kaboom"),
            "{err}"
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;
        use std::os::unix::ffi::OsStringExt;

        /// Names the framework reads, and anything else.
        fn name() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                Just(b"OCF_RESKEY_dir".to_vec()),
                Just(b"OCF_RESKEY_CRM_meta_timeout".to_vec()),
                Just(b"OCF_RESKEY_CRM_meta_interval".to_vec()),
                Just(b"OCF_CHECK_LEVEL".to_vec()),
                Just(b"OCF_RESOURCE_INSTANCE".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..24),
            ]
        }

        /// Any bytes: control characters, non-UTF-8, numbers at the edge, huge values.
        fn value() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..48),
                any::<u64>().prop_map(|n| format!("{n}").into_bytes()),
                any::<u64>().prop_map(|n| format!("{n}s").into_bytes()),
                (any::<u8>(), 1usize..200_000).prop_map(|(b, n)| vec![b; n]),
                Just(b"/x\nocf-exit-reason:forged".to_vec()),
            ]
        }

        fn action() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                Just(b"start".to_vec()),
                Just(b"stop".to_vec()),
                Just(b"monitor".to_vec()),
                Just(b"validate-all".to_vec()),
                Just(b"meta-data".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..16),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(384))]

            /// Whatever the environment, the dispatcher answers with an OCF code, prints at
            /// most one exit reason, short and free of control characters, and a wrong
            /// parameter is 6 (stop still 0).
            #[test]
            fn any_environment_gets_an_ocf_answer(
                act in action(),
                pairs in proptest::collection::vec((name(), value()), 0..10),
            ) {
                // HA_* names choose log files: keep the test from writing anywhere.
                let pairs = pairs
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with(b"HA_"))
                    .map(|(k, v)| (OsString::from_vec(k), OsString::from_vec(v)));
                let mut vars = Environment::from_os(pairs);
                vars.set("HA_LOGFILE", "/dev/null");
                let dir_ok = vars.get("OCF_RESKEY_dir").is_some_and(|d| {
                    !d.is_empty() && !d.contains(char::is_control) && d != "/boom"
                });
                let args = [OsString::from("t"), OsString::from_vec(act.clone())];
                let (mut o, mut e) = (Vec::new(), Vec::new());
                let code = run_with(&SPEC, &args, vars, false, &mut o, &mut e);
                prop_assert!([0, 1, 2, 3, 6, 7].contains(&code), "code {}", code);
                let err = String::from_utf8_lossy(&e);
                let reasons: Vec<&str> =
                    err.lines().filter(|l| l.starts_with(EXIT_REASON_PREFIX)).collect();
                prop_assert!(reasons.len() <= 1);
                for r in &reasons {
                    prop_assert!(r.len() <= EXIT_REASON_PREFIX.len() + EXIT_REASON_MAX);
                    prop_assert!(!r.contains(char::is_control));
                }
                match act.as_slice() {
                    b"meta-data" => prop_assert_eq!(code, 0),
                    b"stop" => prop_assert_eq!(code, 0),
                    b"monitor" if dir_ok => prop_assert_eq!(code, 7),
                    b"monitor" | b"start" | b"validate-all" if !dir_ok => {
                        prop_assert_eq!(code, 6);
                        prop_assert_eq!(reasons.len(), 1);
                    }
                    _ => {}
                }
            }
        }
    }
}
