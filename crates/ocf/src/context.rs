use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use axha_exec::Deadline;

use crate::env::Environment;
use crate::param::parse_bool;
use crate::{env, Logger, Params};

/// What the agent had left when it must answer: of Pacemaker's timeout, this share is kept
/// back (at least [`MIN_MARGIN`], at most [`MAX_MARGIN`]) so the agent exits with a reason
/// before the SIGKILL of its process group.
const MARGIN_SHARE: u32 = 10;
const MIN_MARGIN: Duration = Duration::from_millis(500);
const MAX_MARGIN: Duration = Duration::from_secs(5);
/// Timeout assumed when neither Pacemaker nor the action declaration gives one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Everything an action needs to know about its call.
#[derive(Debug)]
pub struct Context {
    /// The action name as called (`start`, `monitor`, ...).
    pub action: String,
    /// `OCF_RESOURCE_INSTANCE` (the agent name when run by hand without it).
    pub instance: String,
    /// The call's parameters, checked against the declaration.
    pub params: Params,
    /// When the action must be over (the timeout less a margin).
    pub deadline: Deadline,
    /// The whole timeout Pacemaker gave (or the default).
    pub timeout: Duration,
    /// `OCF_RESKEY_CRM_meta_interval` in milliseconds (0 for probes and one-shot actions).
    pub interval_ms: u64,
    /// `OCF_CHECK_LEVEL` (0 when unset or not a number).
    pub check_level: u32,
    /// Where the action's messages go (ocf-shellfuncs' rules).
    pub log: Logger,
    vars: HashMap<String, String>,
}

/// Pacemaker's timeout and interval are milliseconds, possibly with a unit in by-hand use.
fn parse_ms(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(n);
    }
    let (num, mult) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = v.strip_suffix("min") {
        (n, 60_000)
    } else {
        return None;
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
}

/// The deadline for a timeout, with the safety margin taken off.
pub fn deadline_for(timeout: Duration) -> Deadline {
    let margin = (timeout / MARGIN_SHARE).clamp(MIN_MARGIN, MAX_MARGIN);
    Deadline::after(timeout.saturating_sub(margin).max(timeout / 2))
}

impl Context {
    /// Build the context of one call. `declared_timeout` is the action's timeout from the
    /// agent's declaration, used when Pacemaker passes none (a by-hand run).
    pub fn new(
        agent: &str,
        action: &str,
        params: Params,
        vars: Environment,
        declared_timeout: Option<Duration>,
        tty: bool,
    ) -> Context {
        let vars = vars.into_map();
        let meta = |name: &str| vars.get(&env::meta_key(name)).cloned();
        let timeout = meta(env::META_TIMEOUT)
            .and_then(|v| parse_ms(&v))
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .or(declared_timeout)
            .unwrap_or(DEFAULT_TIMEOUT);
        let interval_ms = meta(env::META_INTERVAL)
            .and_then(|v| parse_ms(&v))
            .unwrap_or(0);
        let check_level = vars
            .get(env::CHECK_LEVEL)
            .or_else(|| vars.get(env::RESKEY_CHECK_LEVEL))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let instance = vars
            .get(env::RESOURCE_INSTANCE)
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| agent.to_string());
        let log = Logger::from_env(format!("{agent}({instance})"), &vars, tty);
        Context {
            action: action.to_string(),
            instance,
            params,
            deadline: deadline_for(timeout),
            timeout,
            interval_ms,
            check_level,
            log,
            vars,
        }
    }

    /// A probe: a monitor with no interval, run on every node (also where the resource cannot
    /// run) to learn the current state. It answers 7 quietly when the resource is not here.
    pub fn is_probe(&self) -> bool {
        self.action == "monitor" && self.interval_ms == 0
    }

    /// A meta attribute, under its name or any of its older names (`promoted-max` was
    /// `master-max`: the attribute arrives under the name the administrator used).
    pub fn meta(&self, name: &str, aliases: &[&str]) -> Option<&str> {
        std::iter::once(name)
            .chain(aliases.iter().copied())
            .filter_map(|n| self.vars.get(&env::meta_key(n)))
            .map(String::as_str)
            .find(|v| !v.is_empty())
    }

    /// A meta attribute as an integer (`None` when unset or not a number).
    pub fn meta_int(&self, name: &str, aliases: &[&str]) -> Option<i64> {
        self.meta(name, aliases).and_then(|v| v.trim().parse().ok())
    }

    /// A meta attribute as an OCF boolean (`None` when unset or not a boolean).
    pub fn meta_bool(&self, name: &str, aliases: &[&str]) -> Option<bool> {
        self.meta(name, aliases).and_then(|v| parse_bool(v.trim()))
    }

    /// Any variable of the call's environment.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The whole environment of the call (for [`crate::notify::Notification::from_vars`]).
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    /// The per-node scratch directory of resource agents (`HA_RSCTMP`, default
    /// `/run/resource-agents`): on tmpfs, so it is empty after a reboot.
    pub fn state_dir(&self) -> PathBuf {
        PathBuf::from(
            self.var(env::HA_RSCTMP)
                .filter(|v| !v.is_empty())
                .unwrap_or(env::DEFAULT_RSCTMP),
        )
    }

    /// This node's name as Pacemaker knows it (`CRM_meta_on_node`), else the host name.
    pub fn node_name(&self) -> String {
        if let Some(n) = self.meta(env::META_ON_NODE, &[]) {
            return n.to_string();
        }
        hostname()
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamSpec;

    static NONE: &[ParamSpec] = &[];

    fn ctx(action: &str, kv: &[(&str, &str)]) -> Context {
        let vars = Environment::from_pairs(kv.iter().map(|(k, v)| (*k, *v)));
        let params = Params::parse(NONE, &vars);
        Context::new(
            "a",
            action,
            params,
            vars,
            Some(Duration::from_secs(60)),
            false,
        )
    }

    #[test]
    fn timeout_from_pacemaker_with_margin() {
        let c = ctx("start", &[("OCF_RESKEY_CRM_meta_timeout", "20000")]);
        assert_eq!(c.timeout, Duration::from_secs(20));
        let left = c.deadline.remaining();
        assert!(left <= Duration::from_secs(18) && left > Duration::from_millis(17_500));
    }

    #[test]
    fn timeout_defaults_to_declaration() {
        let c = ctx("start", &[]);
        assert_eq!(c.timeout, Duration::from_secs(60));
        let c = ctx("start", &[("OCF_RESKEY_CRM_meta_timeout", "garbage")]);
        assert_eq!(c.timeout, Duration::from_secs(60));
    }

    #[test]
    fn short_timeouts_keep_half() {
        let d = deadline_for(Duration::from_millis(600));
        assert!(d.remaining() >= Duration::from_millis(250));
    }

    #[test]
    fn probe_detection() {
        assert!(ctx("monitor", &[]).is_probe());
        assert!(ctx("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")]).is_probe());
        assert!(!ctx("monitor", &[("OCF_RESKEY_CRM_meta_interval", "10000")]).is_probe());
        assert!(!ctx("start", &[]).is_probe());
    }

    #[test]
    fn check_level_both_spellings() {
        assert_eq!(ctx("monitor", &[("OCF_CHECK_LEVEL", "10")]).check_level, 10);
        assert_eq!(
            ctx("monitor", &[("OCF_RESKEY_OCF_CHECK_LEVEL", "20")]).check_level,
            20
        );
        assert_eq!(ctx("monitor", &[("OCF_CHECK_LEVEL", "x")]).check_level, 0);
    }

    #[test]
    fn meta_aliases() {
        let c = ctx("validate-all", &[("OCF_RESKEY_CRM_meta_master_max", "2")]);
        assert_eq!(c.meta_int("promoted-max", &["master-max"]), Some(2));
        assert_eq!(c.meta_int("promoted-max", &[]), None);
        let c = ctx(
            "validate-all",
            &[
                ("OCF_RESKEY_CRM_meta_promoted_max", ""),
                ("OCF_RESKEY_CRM_meta_master_max", "2"),
            ],
        );
        assert_eq!(
            c.meta_int("promoted-max", &["master-max"]),
            Some(2),
            "empty hides nothing"
        );
    }

    #[test]
    fn units() {
        assert_eq!(parse_ms("1500"), Some(1500));
        assert_eq!(parse_ms("20s"), Some(20_000));
        assert_eq!(parse_ms("2min"), Some(120_000));
        assert_eq!(parse_ms("x"), None);
        assert_eq!(parse_ms("18446744073709551615s"), None);
    }
}
