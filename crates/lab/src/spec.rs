//! What a lab is made of ([`LabSpec`]), its names and addresses: node names nI, the
//! cluster network 10.231.0.I, the management network 10.231.1.I, state directories.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::LabError;

/// Where labs keep their state when [`LabSpec::state_dir`] is not given: one directory per lab.
pub const DEFAULT_STATE_ROOT: &str = "/var/tmp/axigen-ha-lab";
/// Most nodes a lab may have (memory: about 150 MB per node).
pub const MAX_NODES: usize = 8;
/// Longest lab name: `axl-<name>-hub` must stay a short, readable namespace name.
pub const MAX_NAME_LEN: usize = 12;

/// How the lab's cluster is fenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fencing {
    /// `stonith-enabled=false`: nothing is fenced (agent suites that never lose a node).
    Disabled,
    /// One ipmi_sim BMC per node and a `fence_axigen_ipmi` device per node.
    Ipmi,
}

impl Fencing {
    /// The name `--fencing` takes: `none` or `ipmi`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Fencing::Disabled => "none",
            Fencing::Ipmi => "ipmi",
        }
    }
}

impl fmt::Display for Fencing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fencing {
    type Err = LabError;
    fn from_str(s: &str) -> Result<Self, LabError> {
        match s {
            "none" | "disabled" => Ok(Fencing::Disabled),
            "ipmi" => Ok(Fencing::Ipmi),
            _ => Err(LabError::InvalidSpec {
                field: "fencing",
                value: s.to_string(),
                reason: "expected none or ipmi",
            }),
        }
    }
}

/// What a lab's nodes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeKind {
    /// Namespaces on this machine, sharing its kernel (fast; no DRBD).
    #[default]
    Namespace,
    /// QEMU virtual machines with their own kernel (DRBD 8.4): the two-node architecture whole,
    /// configured by the `two-node-active-passive` template with DRBD storage.
    Vm,
}

impl NodeKind {
    /// `namespace` or `vm`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeKind::Namespace => "namespace",
            NodeKind::Vm => "vm",
        }
    }
}

/// What [`crate::Lab::up`] builds.
#[derive(Debug, Clone)]
pub struct LabSpec {
    /// `[a-z0-9-]{1,12}`; the namespaces are `axl-<name>-n1`.. and `axl-<name>-hub`.
    pub name: String,
    /// 1..=8 nodes, named n1..nN.
    pub nodes: usize,
    /// corosync `totem.token` in ms; `None` keeps corosync's default (3000).
    pub token_ms: Option<u32>,
    /// How nodes are fenced: not at all, or through a BMC per node.
    pub fencing: Fencing,
    /// A directory holding built `instance`, `drbd` and/or `fence_axigen_ipmi`: overlaid in every
    /// node onto `/usr/lib/ocf/resource.d/axigen/` and `/usr/sbin` (the host is not touched).
    pub binaries: Option<PathBuf>,
    /// Default `/var/tmp/axigen-ha-lab/<name>`.
    pub state_dir: Option<PathBuf>,
    /// The `axha-lab-node` helper (sets up a node's mounts, then anchors its namespaces).
    /// Default: next to the running executable (or one directory up, for test binaries in
    /// `target/debug/deps/`), then `/usr/lib/axigen-ha/`.
    pub helper_bin: Option<PathBuf>,
    /// With [`Fencing::Ipmi`]: delay fencing OF this node by this many seconds
    /// (`pcmk_delay_base` on its device), so it wins a two-node fence race every time.
    pub fence_delay: Option<(String, u32)>,
    /// Leave the lab running when [`crate::Lab::up`] fails after building it (a node that
    /// never came online, a fence device that never started), to look at it; `lab down`
    /// removes it.
    pub keep_on_failure: bool,
    /// Namespaces, or VMs (two nodes, IPMI fencing, the two-node template on DRBD).
    pub kind: NodeKind,
    /// With [`Fencing::Ipmi`]: a switched PDU (SNMP, one outlet per node) as the second
    /// fencing level, after each node's BMC.
    pub pdu: bool,
    /// Corosync (knet) links: 1 (the cluster network) or 2 (a second cluster network,
    /// 10.231.3.I, beside it).
    pub links: u8,
}

impl LabSpec {
    /// A spec with the defaults: corosync's token, no fencing, no agent overlay.
    pub fn new(name: &str, nodes: usize) -> Self {
        LabSpec {
            name: name.to_string(),
            nodes,
            token_ms: None,
            fencing: Fencing::Disabled,
            binaries: None,
            state_dir: None,
            helper_bin: None,
            fence_delay: None,
            keep_on_failure: false,
            kind: NodeKind::Namespace,
            pdu: false,
            links: 1,
        }
    }

    /// The two-node architecture in two VMs: DRBD, IPMI fencing, the shipped template.
    /// `binaries` must hold the agents, `drbd-fence-peer`, `axha-lab-node` and `axigen-sim`.
    pub fn two_node_vm(name: &str, binaries: PathBuf) -> Self {
        LabSpec {
            fencing: Fencing::Ipmi,
            binaries: Some(binaries),
            kind: NodeKind::Vm,
            ..LabSpec::new(name, 2)
        }
    }

    /// Check every field; the error names the field and the value.
    pub fn validate(&self) -> Result<(), LabError> {
        validate_name(&self.name)?;
        if self.nodes == 0 || self.nodes > MAX_NODES {
            return Err(LabError::InvalidSpec {
                field: "nodes",
                value: self.nodes.to_string(),
                reason: "a lab has 1 to 8 nodes",
            });
        }
        if let Some(t) = self.token_ms {
            // corosync.conf(5): token is in ms; below a few hundred ms knet cannot keep up
            // on a loaded 2-core machine, above a minute nothing useful is measured.
            if !(200..=60_000).contains(&t) {
                return Err(LabError::InvalidSpec {
                    field: "token",
                    value: t.to_string(),
                    reason: "corosync token must be 200..60000 ms",
                });
            }
        }
        if let Some((node, secs)) = &self.fence_delay {
            if node_index(node, self.nodes).is_none() {
                return Err(LabError::InvalidSpec {
                    field: "fence_delay",
                    value: node.clone(),
                    reason: "not a node of this lab",
                });
            }
            if *secs > 60 || self.fencing != Fencing::Ipmi {
                return Err(LabError::InvalidSpec {
                    field: "fence_delay",
                    value: secs.to_string(),
                    reason: "needs IPMI fencing and at most 60 s",
                });
            }
        }
        if self.pdu && self.fencing != Fencing::Ipmi {
            return Err(LabError::InvalidSpec {
                field: "pdu",
                value: self.fencing.to_string(),
                reason: "the PDU is the second fencing level: it needs IPMI fencing",
            });
        }
        if !(1..=2).contains(&self.links) {
            return Err(LabError::InvalidSpec {
                field: "links",
                value: self.links.to_string(),
                reason: "a lab has 1 or 2 corosync links",
            });
        }
        if self.kind == NodeKind::Vm
            && (self.pdu
                || self.links != 1
                || self.nodes != 2
                || self.fencing != Fencing::Ipmi
                || self.binaries.is_none()
                || self.fence_delay.is_some()
                || self.token_ms.is_some())
        {
            return Err(LabError::InvalidSpec {
                field: "kind",
                value: "vm".into(),
                reason: "a VM lab is the two-node template: 2 nodes, IPMI fencing, built binaries, the template's own delay and token, one link, no PDU",
            });
        }
        if let Some(b) = &self.binaries {
            if !b.is_dir() {
                return Err(LabError::InvalidSpec {
                    field: "binaries",
                    value: b.display().to_string(),
                    reason: "not a directory",
                });
            }
        }
        Ok(())
    }

    /// The lab's state directory.
    pub fn resolved_state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| default_state_dir(&self.name))
    }
}

/// `/var/tmp/axigen-ha-lab/<name>`.
pub fn default_state_dir(name: &str) -> PathBuf {
    PathBuf::from(DEFAULT_STATE_ROOT).join(name)
}

/// A lab name: `[a-z0-9-]{1,12}`, not starting with `-` (it ends up in argv lists).
pub fn validate_name(name: &str) -> Result<(), LabError> {
    let bad = |reason| LabError::InvalidSpec {
        field: "name",
        value: name.to_string(),
        reason,
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(bad("a lab name has 1 to 12 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("only a-z, 0-9 and - are allowed"));
    }
    if name.starts_with('-') {
        return Err(bad("a lab name cannot start with -"));
    }
    Ok(())
}

/// Node names of an N-node lab: n1..nN (they are corosync's `nodelist.node.name`).
pub fn node_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

/// The index (1-based) of a node name of an N-node lab.
pub fn node_index(node: &str, n: usize) -> Option<usize> {
    let i: usize = node.strip_prefix('n')?.parse().ok()?;
    // "n01" parses to 1 but is not a node name
    (i >= 1 && i <= n && format!("n{i}") == node).then_some(i)
}

/// Every lab uses the same private /24: each lab's nodes are linked only to that lab's hub
/// namespace, so two labs never see each other's addresses, and nothing is added to the host's
/// own network namespace. 10.231.0.0/24 is unlikely to be routed anywhere on a test machine,
/// and even if it were, the host never sees these addresses.
pub const LAB_NET: [u8; 3] = [10, 231, 0];
/// The management network (BMCs), on a second link of every node: pulling a node's cable
/// ([`crate::Lab::partition`]) cuts the cluster network only, as with a dedicated management
/// LAN, so a partitioned node can still fence and a two-node partition is a real fence race.
pub const LAB_MGMT_NET: [u8; 3] = [10, 231, 1];
/// The second cluster network (corosync link 1, `lab up --links 2`): its own bridge, so one
/// link can be cut while the other carries the cluster. (10.231.2.0/24 is the VM labs'
/// replication network.)
pub const LAB_NET2: [u8; 3] = [10, 231, 3];
/// Prefix length of the lab network.
pub const LAB_PREFIX: u8 = 24;

/// Address of node i (1-based): 10.231.0.i. Service IPs and BMCs use 100 and up.
pub fn node_addr(i: usize) -> Ipv4Addr {
    let i = u8::try_from(i).expect("node index is at most MAX_NODES");
    Ipv4Addr::new(LAB_NET[0], LAB_NET[1], LAB_NET[2], i)
}

/// Management address of node i (1-based): 10.231.1.i.
pub fn node_mgmt_addr(i: usize) -> Ipv4Addr {
    let i = u8::try_from(i).expect("node index is at most MAX_NODES");
    Ipv4Addr::new(LAB_MGMT_NET[0], LAB_MGMT_NET[1], LAB_MGMT_NET[2], i)
}

/// Address of node i (1-based) on the second cluster network: 10.231.3.i.
pub fn node_addr2(i: usize) -> Ipv4Addr {
    let i = u8::try_from(i).expect("node index is at most MAX_NODES");
    Ipv4Addr::new(LAB_NET2[0], LAB_NET2[1], LAB_NET2[2], i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("t1").is_ok());
        assert!(validate_name("a-b-123456789").is_err(), "13 chars");
        assert!(validate_name("a-b-12345678").is_ok());
        for bad in ["", "A", "a_b", "a b", "-x", "ä", "a/b"] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains("name"), "{e}");
        }
    }

    #[test]
    fn spec_validation_names_field() {
        let mut s = LabSpec::new("x", 0);
        assert!(s.validate().unwrap_err().to_string().contains("nodes"));
        s.nodes = 9;
        assert!(s.validate().is_err());
        s.nodes = 3;
        assert!(s.validate().is_ok());
        s.token_ms = Some(50);
        assert!(s.validate().unwrap_err().to_string().contains("token"));
        s.token_ms = Some(1000);
        s.binaries = Some("/nonexistent/dir".into());
        assert!(s.validate().unwrap_err().to_string().contains("binaries"));
        s.binaries = None;
        s.pdu = true;
        assert!(s.validate().unwrap_err().to_string().contains("pdu"));
        s.fencing = Fencing::Ipmi;
        assert!(s.validate().is_ok());
        s.links = 3;
        assert!(s.validate().unwrap_err().to_string().contains("links"));
        s.links = 2;
        assert!(s.validate().is_ok());
        assert_eq!(node_addr2(2).to_string(), "10.231.3.2");
    }

    #[test]
    fn node_name_index() {
        assert_eq!(node_names(3), vec!["n1", "n2", "n3"]);
        assert_eq!(node_index("n2", 3), Some(2));
        assert_eq!(node_index("n4", 3), None);
        assert_eq!(node_index("n0", 3), None);
        assert_eq!(node_index("n01", 3), None);
        assert_eq!(node_index("x1", 3), None);
        assert_eq!(node_addr(2).to_string(), "10.231.0.2");
    }

    #[test]
    fn fencing_parse() {
        assert_eq!("none".parse::<Fencing>().unwrap(), Fencing::Disabled);
        assert_eq!("ipmi".parse::<Fencing>().unwrap(), Fencing::Ipmi);
        assert!("x"
            .parse::<Fencing>()
            .unwrap_err()
            .to_string()
            .contains("x"));
    }
}
