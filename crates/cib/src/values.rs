//! The values file: what an operator fills in to render a template (TOML).
//!
//! Parsing is in two stages, like a CLI's raw flags and typed configuration: serde turns the
//! text into [`RawValues`] (unknown fields rejected, so a typo never passes silently), then
//! [`RawValues::validate`] checks every value and names the offending field
//! (`instances[1].ip: "10.0.0.300" is not an IPv4 address`). Passwords never appear here,
//! only the paths of files that hold them.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Deserialize;

use crate::CibError;

/// Default Axigen binary and CLI settings (DESIGN.md, "What Axigen looks like").
pub const DEFAULT_BINARY: &str = "/opt/axigen/bin/axigen";
pub const DEFAULT_CLI_PORT: u16 = 7000;
pub const DEFAULT_CLI_USER: &str = "admin";
/// Standard IPMI-over-LAN port (IPMI v2.0 §13.1.1: RMCP port 623).
pub const DEFAULT_BMC_PORT: u16 = 623;
/// Best practice of the multi-tier architecture: a hot stand-by runs no more than two
/// instances (seeds/clustering-solution-overview.txt).
pub const DEFAULT_STANDBY_CAPACITY: u32 = 2;
pub const DEFAULT_STICKINESS: u32 = 100;
pub const DEFAULT_MIGRATION_THRESHOLD: u32 = 3;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawValues {
    #[serde(default)]
    pub cluster: RawCluster,
    #[serde(default)]
    pub nodes: Vec<RawNode>,
    #[serde(default)]
    pub instances: Vec<RawInstance>,
    /// Multi-tier: names of the hot stand-by nodes.
    #[serde(default)]
    pub standby_nodes: Vec<String>,
    /// Multi-tier: how many instances one stand-by may run.
    pub standby_capacity: Option<u32>,
    /// Two-node: "drbd" (replicated volume) or "shared" (a SAN LUN both nodes see).
    pub storage: Option<String>,
    pub drbd: Option<RawDrbd>,
    pub fencing: Option<RawFencing>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub name: Option<String>,
    pub stickiness: Option<u32>,
    pub migration_threshold: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: String,
    /// Corosync node id (`nodelist.node.nodeid`); defaults to the position in the list, from 1.
    pub id: Option<u32>,
    /// The cluster (ring0) address.
    pub address: String,
    pub bmc: RawBmc,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBmc {
    pub ip: String,
    pub port: Option<u16>,
    pub user: String,
    pub password_file: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInstance {
    pub id: String,
    pub workdir: String,
    pub binary: Option<String>,
    pub config: Option<String>,
    pub ip: String,
    pub cidr: u8,
    /// Interface for the service IP; IPaddr2 finds it from the routes when absent.
    pub nic: Option<String>,
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub preferred_node: String,
    pub cli_port: Option<u16>,
    pub cli_user: Option<String>,
    /// File with the CLI password (the agent's depth-20 check logs in with it).
    pub cli_password_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrbd {
    pub resource: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFencing {
    /// The node whose fencing is delayed: it wins a fence race (two-node partitions).
    pub delay_node: String,
    /// Delay in seconds (Pacemaker `pcmk_delay_base`).
    pub delay_seconds: u32,
}

/// Storage of a two-node instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Storage {
    Drbd { resource: String },
    Shared,
}

/// Values after validation: every field checked, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    pub cluster_name: String,
    pub stickiness: u32,
    pub migration_threshold: u32,
    pub nodes: Vec<Node>,
    pub instances: Vec<Instance>,
    pub standby_nodes: Vec<String>,
    pub standby_capacity: u32,
    pub storage: Option<Storage>,
    pub fence_delay: Option<FenceDelay>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub id: u32,
    pub address: Ipv4Addr,
    pub bmc_ip: Ipv4Addr,
    pub bmc_port: u16,
    pub bmc_user: String,
    pub bmc_password_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub workdir: String,
    pub binary: String,
    pub config: String,
    pub ip: Ipv4Addr,
    pub cidr: u8,
    pub nic: Option<String>,
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub preferred_node: String,
    pub cli_port: u16,
    pub cli_user: String,
    pub cli_password_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceDelay {
    pub node: String,
    pub seconds: u32,
}

/// Collects every problem of a values file, so one run shows them all.
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, field: &str, msg: impl std::fmt::Display) {
        self.0.push(format!("{field}: {msg}"));
    }
}

/// Read and validate a values file.
pub fn read_values(path: &Path) -> Result<Values, CibError> {
    let text = std::fs::read_to_string(path).map_err(|source| CibError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_values(&text)
}

/// Parse and validate the text of a values file.
pub fn parse_values(text: &str) -> Result<Values, CibError> {
    let raw: RawValues = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|sp| {
                let line = text[..sp.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: ")
            })
            .unwrap_or_default();
        CibError::Values {
            problems: vec![format!("{at}{}", e.message().trim_end())],
            span: e.span(),
        }
    })?;
    raw.validate()
}

/// Pacemaker ids are XML IDs (NCName); we take the portable subset that is also safe in
/// pcs/crm scripts: a letter, then letters, digits, `-`, `_`, `.`.
pub fn is_valid_id(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic())
        && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        && s.len() <= 64
}

/// Host names as RFC 1123 labels separated by dots (corosync and Pacemaker node names).
pub fn is_valid_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn check_path(p: &mut Problems, field: &str, v: &str) {
    if !v.starts_with('/') {
        p.add(field, format!("{v:?} is not an absolute path"));
    } else if v.chars().any(|c| c.is_control()) {
        p.add(field, format!("{v:?} contains a control character"));
    }
}

/// A path handed to a fence agent: only characters that need no quoting anywhere (stonith
/// parameters also travel as `key=value` lines and through pcs/crm scripts).
fn check_plain_path(p: &mut Problems, field: &str, v: &str) {
    check_path(p, field, v);
    if v.starts_with('/')
        && !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@'))
    {
        p.add(
            field,
            format!("{v:?} may hold only letters, digits and / . _ - + @"),
        );
    }
}

fn check_text(p: &mut Problems, field: &str, v: &str) {
    if v.is_empty() {
        p.add(field, "must not be empty");
    } else if v.chars().any(|c| c.is_control()) {
        p.add(field, format!("{v:?} contains a control character"));
    }
}

fn check_ipv4(p: &mut Problems, field: &str, v: &str) -> Ipv4Addr {
    match v.parse::<Ipv4Addr>() {
        Ok(a) => a,
        Err(_) => {
            p.add(field, format!("{v:?} is not an IPv4 address"));
            Ipv4Addr::UNSPECIFIED
        }
    }
}

impl RawValues {
    /// Check every field; all problems are reported at once, each naming its field.
    pub fn validate(&self) -> Result<Values, CibError> {
        let mut p = Problems(Vec::new());
        let cluster_name = self
            .cluster
            .name
            .clone()
            .unwrap_or_else(|| "axigen".to_string());
        if !is_valid_id(&cluster_name) {
            p.add(
                "cluster.name",
                format!("{cluster_name:?} must start with a letter and hold only letters, digits, - _ ."),
            );
        }
        let stickiness = self.cluster.stickiness.unwrap_or(DEFAULT_STICKINESS);
        if stickiness > 1_000_000 {
            p.add(
                "cluster.stickiness",
                format!("{stickiness} is above 1000000 (INFINITY)"),
            );
        }
        let migration_threshold = self
            .cluster
            .migration_threshold
            .unwrap_or(DEFAULT_MIGRATION_THRESHOLD);
        if migration_threshold == 0 {
            p.add("cluster.migration_threshold", "must be at least 1");
        }

        if self.nodes.is_empty() {
            p.add("nodes", "at least one node is required");
        }
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        let mut nodes = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let f = |k: &str| format!("nodes[{i}].{k}");
            if !is_valid_node_name(&n.name) {
                p.add(&f("name"), format!("{:?} is not a valid host name", n.name));
            } else if !names.insert(n.name.clone()) {
                p.add(&f("name"), format!("{:?} appears twice", n.name));
            }
            let id = n.id.unwrap_or(i as u32 + 1);
            if id == 0 {
                p.add(&f("id"), "must be at least 1");
            } else if !ids.insert(id) {
                p.add(&f("id"), format!("{id} appears twice"));
            }
            let address = check_ipv4(&mut p, &f("address"), &n.address);
            let bmc_ip = check_ipv4(&mut p, &f("bmc.ip"), &n.bmc.ip);
            let bmc_port = n.bmc.port.unwrap_or(DEFAULT_BMC_PORT);
            if bmc_port == 0 {
                p.add(&f("bmc.port"), "must not be 0");
            }
            check_text(&mut p, &f("bmc.user"), &n.bmc.user);
            check_plain_path(&mut p, &f("bmc.password_file"), &n.bmc.password_file);
            nodes.push(Node {
                name: n.name.clone(),
                id,
                address,
                bmc_ip,
                bmc_port,
                bmc_user: n.bmc.user.clone(),
                bmc_password_file: n.bmc.password_file.clone(),
            });
        }

        if self.instances.is_empty() {
            p.add("instances", "at least one instance is required");
        }
        let mut inst_ids = BTreeSet::new();
        let mut ips = BTreeSet::new();
        let mut instances = Vec::new();
        for (i, r) in self.instances.iter().enumerate() {
            let f = |k: &str| format!("instances[{i}].{k}");
            if !is_valid_id(&r.id) {
                p.add(
                    &f("id"),
                    format!(
                        "{:?} must start with a letter and hold only letters, digits, - _ .",
                        r.id
                    ),
                );
            } else if !inst_ids.insert(r.id.clone()) {
                p.add(&f("id"), format!("{:?} appears twice", r.id));
            }
            check_path(&mut p, &f("workdir"), &r.workdir);
            let binary = r
                .binary
                .clone()
                .unwrap_or_else(|| DEFAULT_BINARY.to_string());
            check_path(&mut p, &f("binary"), &binary);
            let config = r
                .config
                .clone()
                .unwrap_or_else(|| format!("{}/run/axigen.cfg", r.workdir.trim_end_matches('/')));
            check_path(&mut p, &f("config"), &config);
            let ip = check_ipv4(&mut p, &f("ip"), &r.ip);
            if ip != Ipv4Addr::UNSPECIFIED && !ips.insert(ip) {
                p.add(
                    &f("ip"),
                    format!("{ip} is already the service IP of another instance"),
                );
            }
            if !(1..=32).contains(&r.cidr) {
                p.add(
                    &f("cidr"),
                    format!("{} is not a prefix length (1-32)", r.cidr),
                );
            }
            if let Some(nic) = &r.nic {
                // IFNAMSIZ is 16 with the NUL (linux/if.h).
                if nic.is_empty()
                    || nic.len() > 15
                    || !nic
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    p.add(&f("nic"), format!("{nic:?} is not an interface name"));
                }
            }
            check_path(&mut p, &f("device"), &r.device);
            check_path(&mut p, &f("mountpoint"), &r.mountpoint);
            if r.fstype.is_empty()
                || !r
                    .fstype
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.')
            {
                p.add(
                    &f("fstype"),
                    format!("{:?} is not a file system type", r.fstype),
                );
            }
            if !names.contains(&r.preferred_node) {
                p.add(
                    &f("preferred_node"),
                    format!("{:?} is not one of the nodes", r.preferred_node),
                );
            }
            let cli_port = r.cli_port.unwrap_or(DEFAULT_CLI_PORT);
            if cli_port == 0 {
                p.add(&f("cli_port"), "must not be 0");
            }
            let cli_user = r
                .cli_user
                .clone()
                .unwrap_or_else(|| DEFAULT_CLI_USER.to_string());
            check_text(&mut p, &f("cli_user"), &cli_user);
            if let Some(pf) = &r.cli_password_file {
                check_path(&mut p, &f("cli_password_file"), pf);
            }
            instances.push(Instance {
                id: r.id.clone(),
                workdir: r.workdir.clone(),
                binary,
                config,
                ip,
                cidr: r.cidr,
                nic: r.nic.clone(),
                device: r.device.clone(),
                mountpoint: r.mountpoint.clone(),
                fstype: r.fstype.clone(),
                preferred_node: r.preferred_node.clone(),
                cli_port,
                cli_user,
                cli_password_file: r.cli_password_file.clone(),
            });
        }

        let mut standby_seen = BTreeSet::new();
        for (i, s) in self.standby_nodes.iter().enumerate() {
            if !names.contains(s) {
                p.add(
                    &format!("standby_nodes[{i}]"),
                    format!("{s:?} is not one of the nodes"),
                );
            } else if !standby_seen.insert(s.clone()) {
                p.add(
                    &format!("standby_nodes[{i}]"),
                    format!("{s:?} appears twice"),
                );
            }
        }
        let standby_capacity = self.standby_capacity.unwrap_or(DEFAULT_STANDBY_CAPACITY);
        if standby_capacity == 0 {
            p.add("standby_capacity", "must be at least 1");
        }

        let storage = match (self.storage.as_deref(), &self.drbd) {
            (None, None) => None,
            (Some("drbd"), Some(d)) => {
                if !is_valid_id(&d.resource) {
                    p.add(
                        "drbd.resource",
                        format!("{:?} is not a DRBD resource name", d.resource),
                    );
                }
                Some(Storage::Drbd {
                    resource: d.resource.clone(),
                })
            }
            (Some("drbd"), None) => {
                p.add(
                    "drbd",
                    "storage = \"drbd\" needs a [drbd] table with resource",
                );
                None
            }
            (Some("shared"), None) => Some(Storage::Shared),
            (Some("shared") | None, Some(_)) => {
                p.add("drbd", "a [drbd] table needs storage = \"drbd\"");
                None
            }
            (Some(other), _) => {
                p.add(
                    "storage",
                    format!("{other:?} is neither \"drbd\" nor \"shared\""),
                );
                None
            }
        };

        let fence_delay = self.fencing.as_ref().map(|fd| {
            if !names.contains(&fd.delay_node) {
                p.add(
                    "fencing.delay_node",
                    format!("{:?} is not one of the nodes", fd.delay_node),
                );
            }
            if fd.delay_seconds == 0 || fd.delay_seconds > 600 {
                p.add(
                    "fencing.delay_seconds",
                    format!("{} is not between 1 and 600", fd.delay_seconds),
                );
            }
            FenceDelay {
                node: fd.delay_node.clone(),
                seconds: fd.delay_seconds,
            }
        });

        if !p.0.is_empty() {
            return Err(CibError::Values {
                problems: p.0,
                span: None,
            });
        }
        Ok(Values {
            cluster_name,
            stickiness,
            migration_threshold,
            nodes,
            instances,
            standby_nodes: self.standby_nodes.clone(),
            standby_capacity,
            storage,
            fence_delay,
        })
    }
}

impl Values {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const GOOD: &str = r#"
[cluster]
name = "mail"

[[nodes]]
name = "n1"
address = "10.0.0.1"
bmc = { ip = "10.0.1.1", user = "admin", password_file = "/etc/axigen-ha/bmc-n1" }

[[nodes]]
name = "n2"
address = "10.0.0.2"
bmc = { ip = "10.0.1.2", port = 6230, user = "admin", password_file = "/etc/axigen-ha/bmc-n2" }

[[instances]]
id = "mail1"
workdir = "/var/opt/axigen"
ip = "10.0.0.100"
cidr = 24
device = "/dev/drbd0"
mountpoint = "/var/opt/axigen"
fstype = "ext4"
preferred_node = "n1"
cli_password_file = "/etc/axigen-ha/cli-mail1"
"#;

    fn errors(text: &str) -> Vec<String> {
        match parse_values(text) {
            Err(CibError::Values { problems, .. }) => problems,
            other => panic!("expected a values error, got {other:?}"),
        }
    }

    #[test]
    fn good_file_gets_defaults() {
        let v = parse_values(GOOD).unwrap();
        assert_eq!(v.cluster_name, "mail");
        assert_eq!(v.nodes[0].id, 1);
        assert_eq!(v.nodes[1].id, 2);
        assert_eq!(v.nodes[0].bmc_port, 623);
        assert_eq!(v.nodes[1].bmc_port, 6230);
        assert_eq!(v.instances[0].binary, DEFAULT_BINARY);
        assert_eq!(v.instances[0].config, "/var/opt/axigen/run/axigen.cfg");
        assert_eq!(v.instances[0].cli_port, 7000);
        assert_eq!(v.storage, None);
    }

    #[test]
    fn bad_ip_names_the_field() {
        let text = GOOD.replace("10.0.0.100", "10.0.0.300");
        assert_eq!(
            errors(&text),
            vec![r#"instances[0].ip: "10.0.0.300" is not an IPv4 address"#]
        );
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = GOOD.replace("cidr = 24", "cidr = 24\ncolour = \"blue\"");
        let e = errors(&text);
        assert!(e[0].contains("unknown field `colour`"), "{e:?}");
    }

    #[test]
    fn missing_field_is_named() {
        let text = GOOD.replace("fstype = \"ext4\"\n", "");
        let e = errors(&text);
        assert!(e[0].contains("missing field `fstype`"), "{e:?}");
    }

    #[test]
    fn all_problems_are_reported() {
        let text = GOOD
            .replace("preferred_node = \"n1\"", "preferred_node = \"n9\"")
            .replace("name = \"n2\"", "name = \"n1\"")
            .replace("/etc/axigen-ha/bmc-n1", "/etc/a b; rm -rf /");
        let e = errors(&text);
        assert!(
            e.contains(&r#"nodes[1].name: "n1" appears twice"#.to_string()),
            "{e:?}"
        );
        assert!(
            e.contains(&r#"instances[0].preferred_node: "n9" is not one of the nodes"#.to_string()),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("nodes[0].bmc.password_file:")),
            "{e:?}"
        );
    }

    #[test]
    fn storage_and_drbd_must_agree() {
        let e = errors(&format!("storage = \"drbd\"\n{GOOD}"));
        assert!(e[0].starts_with("drbd:"), "{e:?}");
        let e = errors(&format!("storage = \"nfs\"\n{GOOD}"));
        assert_eq!(e, vec![r#"storage: "nfs" is neither "drbd" nor "shared""#]);
        let v = parse_values(&format!(
            "storage = \"drbd\"\ndrbd = {{ resource = \"r0\" }}\n{GOOD}"
        ))
        .unwrap();
        assert_eq!(
            v.storage,
            Some(Storage::Drbd {
                resource: "r0".into()
            })
        );
    }

    #[test]
    fn ids_and_names() {
        assert!(is_valid_id("mail-1.a_b"));
        assert!(!is_valid_id("1mail"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a\"b"));
        assert!(is_valid_node_name("node-1.example.com"));
        assert!(!is_valid_node_name("-bad"));
        assert!(!is_valid_node_name("a..b"));
        assert!(!is_valid_node_name("n<1>"));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = errors("this is [not toml");
        assert!(!e[0].is_empty());
    }
}
