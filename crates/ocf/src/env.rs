//! Every environment variable the framework reads, in one place (OCF RA API 1.1 section
//! "Environment variables"; Pacemaker's `CRM_meta_*` extensions; ocf-shellfuncs' `HA_*`).

/// Prefix of resource parameters: `OCF_RESKEY_<name>`.
pub const RESKEY_PREFIX: &str = "OCF_RESKEY_";
/// Prefix of meta attributes Pacemaker passes: `OCF_RESKEY_CRM_meta_<name with _ for ->`.
pub const META_PREFIX: &str = "OCF_RESKEY_CRM_meta_";
/// The resource's instance name (`rsc` or `rsc:0` for clones).
pub const RESOURCE_INSTANCE: &str = "OCF_RESOURCE_INSTANCE";
/// The agent's type and provider, as Pacemaker calls it.
pub const RESOURCE_TYPE: &str = "OCF_RESOURCE_TYPE";
pub const RESOURCE_PROVIDER: &str = "OCF_RESOURCE_PROVIDER";
pub const OCF_ROOT: &str = "OCF_ROOT";
/// Monitor depth; Pacemaker passes it plain or as a parameter (`OCF_RESKEY_OCF_CHECK_LEVEL`).
pub const CHECK_LEVEL: &str = "OCF_CHECK_LEVEL";
pub const RESKEY_CHECK_LEVEL: &str = "OCF_RESKEY_OCF_CHECK_LEVEL";
/// Meta attribute names (without [`META_PREFIX`]).
pub const META_TIMEOUT: &str = "timeout";
pub const META_INTERVAL: &str = "interval";
pub const META_ON_NODE: &str = "on_node";
/// Syslog facility for agent logs; `none` or empty = no syslog.
pub const HA_LOGFACILITY: &str = "HA_LOGFACILITY";
/// A file agent logs are appended to.
pub const HA_LOGFILE: &str = "HA_LOGFILE";
/// A file debug messages are appended to.
pub const HA_DEBUGLOG: &str = "HA_DEBUGLOG";
/// `1` turns debug messages on.
pub const HA_DEBUG: &str = "HA_debug";
/// Per-node scratch directory of resource agents (ocf-shellfuncs: `${HA_VARRUN}/resource-agents`).
pub const HA_RSCTMP: &str = "HA_RSCTMP";
/// Default of [`HA_RSCTMP`].
pub const DEFAULT_RSCTMP: &str = "/run/resource-agents";

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
