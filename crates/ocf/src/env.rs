//! Every environment variable the framework reads, in one place (OCF RA API 1.1 section
//! "Environment variables"; Pacemaker's `CRM_meta_*` extensions; ocf-shellfuncs' `HA_*`).

use std::collections::HashMap;
use std::ffi::OsString;

/// Prefix of resource parameters: `OCF_RESKEY_<name>`.
pub const RESKEY_PREFIX: &str = "OCF_RESKEY_";
/// Prefix of meta attributes Pacemaker passes: `OCF_RESKEY_CRM_meta_<name with _ for ->`.
pub const META_PREFIX: &str = "OCF_RESKEY_CRM_meta_";
/// The resource's instance name (`rsc` or `rsc:0` for clones).
pub const RESOURCE_INSTANCE: &str = "OCF_RESOURCE_INSTANCE";
/// The agent's type and provider, as Pacemaker calls it.
pub const RESOURCE_TYPE: &str = "OCF_RESOURCE_TYPE";
/// The agent's provider, as Pacemaker calls it.
pub const RESOURCE_PROVIDER: &str = "OCF_RESOURCE_PROVIDER";
/// Where the OCF agents and shell functions are installed.
pub const OCF_ROOT: &str = "OCF_ROOT";
/// Monitor depth; Pacemaker passes it plain or as a parameter (`OCF_RESKEY_OCF_CHECK_LEVEL`).
pub const CHECK_LEVEL: &str = "OCF_CHECK_LEVEL";
/// [`CHECK_LEVEL`] as Pacemaker passes it among the parameters.
pub const RESKEY_CHECK_LEVEL: &str = "OCF_RESKEY_OCF_CHECK_LEVEL";
/// Meta attribute names (without [`META_PREFIX`]).
pub const META_TIMEOUT: &str = "timeout";
/// The operation's interval in milliseconds (0 for a probe).
pub const META_INTERVAL: &str = "interval";
/// The node the operation runs on, as Pacemaker names it.
pub const META_ON_NODE: &str = "on_node";
/// Syslog facility for agent logs; `none` or empty = no syslog.
pub const HA_LOGFACILITY: &str = "HA_LOGFACILITY";
/// A file agent logs are appended to.
pub const HA_LOGFILE: &str = "HA_LOGFILE";
/// A file debug messages are appended to.
pub const HA_DEBUGLOG: &str = "HA_DEBUGLOG";
/// `1` turns debug messages on.
pub const HA_DEBUG: &str = "HA_debug";
/// `1` (any `ocf_is_true` spelling) turns the step trace on (ocf-shellfuncs); wins over the
/// [`TRACE_RA_PARAM`] parameter.
pub const OCF_TRACE_RA: &str = "OCF_TRACE_RA";
/// Where the trace goes: an absolute path, or an open descriptor 3-9.
pub const OCF_TRACE_FILE: &str = "OCF_TRACE_FILE";
/// The operation parameter `crm resource trace` sets (`OCF_RESKEY_trace_ra`).
pub const TRACE_RA_PARAM: &str = "trace_ra";
/// The operation parameter naming the trace directory (`OCF_RESKEY_trace_dir`).
pub const TRACE_DIR_PARAM: &str = "trace_dir";
/// Heartbeat's state directory; traces go under `$HA_VARLIB/trace_ra` by default.
pub const HA_VARLIB: &str = "HA_VARLIB";
/// Default of [`HA_VARLIB`] (resource-agents' ocf-directories).
pub const DEFAULT_HA_VARLIB: &str = "/var/lib/heartbeat";
/// Per-node scratch directory of resource agents (ocf-shellfuncs: `${HA_VARRUN}/resource-agents`).
pub const HA_RSCTMP: &str = "HA_RSCTMP";
/// Default of [`HA_RSCTMP`].
pub const DEFAULT_RSCTMP: &str = "/run/resource-agents";

/// The environment of one call as the framework reads it: the variables whose name and value
/// are UTF-8, and the names of those whose value is not. Every name the framework reads is
/// ASCII, so a variable with a non-UTF-8 name is none of its business and is dropped; a
/// non-UTF-8 value is remembered by name so that a parameter holding one is reported.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
    not_utf8: Vec<String>,
}

impl Environment {
    /// From the process's environment (or any list of OS strings). Never fails.
    pub fn from_os<I, K, V>(vars: I) -> Environment
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut env = Environment::default();
        for (k, v) in vars {
            let Ok(k) = k.into().into_string() else {
                continue;
            };
            // A repeated name (possible in a raw environ): the last one wins.
            env.not_utf8.retain(|n| *n != k);
            match v.into().into_string() {
                Ok(v) => {
                    env.vars.insert(k, v);
                }
                Err(_) => {
                    env.vars.remove(&k);
                    env.not_utf8.push(k);
                }
            }
        }
        env
    }

    /// From UTF-8 pairs (tests, callers that build an environment by hand).
    pub fn from_pairs<I, K, V>(vars: I) -> Environment
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Environment {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            not_utf8: Vec::new(),
        }
    }

    /// A variable's value (`None` when unset or not UTF-8).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// True when the variable is set to a value that is not UTF-8.
    pub fn is_not_utf8(&self, name: &str) -> bool {
        self.not_utf8.iter().any(|n| n == name)
    }

    /// The UTF-8 variables.
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    /// Set one variable (tests).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// The UTF-8 variables, owned (the [`crate::Context`] keeps them).
    pub(crate) fn into_map(self) -> HashMap<String, String> {
        self.vars
    }
}

/// A parameter's environment variable name.
pub fn reskey(param: &str) -> String {
    format!("{RESKEY_PREFIX}{param}")
}

/// A meta attribute's environment variable name (`promoted-max` -> `..._promoted_max`).
pub fn meta_key(name: &str) -> String {
    format!("{META_PREFIX}{}", name.replace('-', "_"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::reskey("workdir"), "OCF_RESKEY_workdir");
        assert_eq!(
            super::meta_key("promoted-node-max"),
            "OCF_RESKEY_CRM_meta_promoted_node_max"
        );
    }
}
