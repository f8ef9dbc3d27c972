//! The lab's networks: a hub namespace holding two bridges (cluster network `br0`,
//! management network `br1`), and per node a network namespace with one cable into each
//! (`eth0` 10.231.0.I, `eth1` 10.231.1.I). With two corosync links a third bridge `br3`
//! and cable (`eth3` 10.231.3.I; `br2` is the VM labs' replication network) carry the
//! second cluster network. Partition pulls the first cluster cable; [`Lab::cut_link`] any.
//! A new node kind gets its namespace and cables from `Lab::add_node_network` with its own
//! index.

use std::path::Path;
use std::time::Duration;

use axha_exec::{Cmd, Deadline, Output};

use super::mkdir_mode;
use crate::procs::netns_id_of_path;
use crate::spec::{node_addr, node_addr2, node_mgmt_addr, LAB_MGMT_NET, LAB_PREFIX};
use crate::{Lab, LabError};

/// The cluster network's bridge inside the hub namespace.
pub(super) const BRIDGE: &str = "br0";

/// The management network's bridge (BMCs).
pub(super) const MGMT_BRIDGE: &str = "br1";

/// The second cluster network's bridge (corosync link 1).
pub(super) const CLUSTER2_BRIDGE: &str = "br3";

/// Node-side name of the second cluster network's cable.
const CLUSTER2_DEV: &str = "eth3";

/// Hub-side cable names of a node: the first cluster network, the second.
fn cluster_veth(node: &str) -> String {
    format!("v{node}")
}
fn cluster2_veth(node: &str) -> String {
    format!("k{node}")
}

/// The hub's own address on the management network (10.231.1.254).
fn hub_mgmt_addr() -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(LAB_MGMT_NET[0], LAB_MGMT_NET[1], LAB_MGMT_NET[2], 254)
}

/// Marker file (in the node's directory) of a cut cable: the first cluster link, the second.
const CUT_MARKER: &str = "partitioned";
const CUT2_MARKER: &str = "partitioned-cluster2";

pub(super) const IP_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn ip(args: &[&str]) -> Result<Output, LabError> {
    Cmd::new("ip")
        .args(args)
        .run_ok(&Deadline::after(IP_TIMEOUT))
        .map_err(|e| LabError::exec("network setup", e))
}

pub(super) fn existing_netns() -> Vec<String> {
    match Cmd::new("ip")
        .args(["netns", "list"])
        .run_ok(&Deadline::after(IP_TIMEOUT))
    {
        Ok(out) => out
            .stdout_str()
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// True for the namespace names of lab `name` exactly (`axl-<name>-hub`, `axl-<name>-nI`):
/// lab names may contain `-`, so a plain prefix match would also take lab `<name>-x`'s.
pub(super) fn is_lab_netns(name: &str, ns: &str) -> bool {
    let Some(rest) = ns
        .strip_prefix("axl-")
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    rest == "hub"
        || rest
            .strip_prefix(['n', 'd', 'c'])
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

impl Lab {
    /// The network namespace name of a node (`axl-<name>-<node>`).
    pub fn netns_name(&self, node: &str) -> String {
        format!("axl-{}-{node}", self.conf.name)
    }

    /// The hub namespace holding the lab's bridge.
    pub fn hub_netns(&self) -> String {
        format!("axl-{}-hub", self.conf.name)
    }

    pub(super) fn build_network(&self) -> Result<(), LabError> {
        let hub = self.hub_netns();
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "set", "lo", "up"])?;
        let mut bridges = vec![BRIDGE, MGMT_BRIDGE];
        if self.conf.links >= 2 {
            bridges.push(CLUSTER2_BRIDGE);
        }
        for br in bridges {
            ip(&["-n", &hub, "link", "add", br, "type", "bridge"])?;
            ip(&["-n", &hub, "link", "set", br, "up"])?;
        }
        if self.conf.pdu {
            // The hub's own address comes first on the management bridge: deleting the
            // first (primary) address of a subnet deletes every other one with it (Linux
            // without promote_secondaries), and a BMC whose outlet is off loses its address.
            let own = format!("{}/{LAB_PREFIX}", hub_mgmt_addr());
            ip(&["-n", &hub, "addr", "add", &own, "dev", MGMT_BRIDGE])?;
        }
        for (i, n) in self.nodes().iter().enumerate() {
            self.add_node_network(i + 1, n)?;
        }
        Ok(())
    }

    /// A node's network namespace with its two cables (cluster network, management network)
    /// plugged into the hub's bridges, and its addresses; records the namespace id.
    pub(super) fn add_node_network(&self, i: usize, n: &str) -> Result<(), LabError> {
        let ns = self.netns_name(n);
        let veth = cluster_veth(n);
        ip(&["netns", "add", &ns])?;
        let netid = netns_id_of_path(&Path::new("/run/netns").join(&ns))
            .map_err(|e| LabError::io(format!("/run/netns/{ns}"), e))?;
        let dir = self.node_dir(n);
        mkdir_mode(&dir, 0o755, None)?;
        std::fs::write(dir.join("netid"), format!("{netid}\n"))
            .map_err(|e| LabError::io(dir.join("netid"), e))?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        self.plug_cable(&ns, &veth, "eth0", BRIDGE, node_addr(i))?;
        self.plug_cable(
            &ns,
            &format!("m{n}"),
            "eth1",
            MGMT_BRIDGE,
            node_mgmt_addr(i),
        )?;
        if self.conf.links >= 2 {
            // the second cluster network (corosync link 1)
            self.plug_cable(
                &ns,
                &cluster2_veth(n),
                CLUSTER2_DEV,
                CLUSTER2_BRIDGE,
                node_addr2(i),
            )?;
        }
        Ok(())
    }

    /// One cable: a veth pair from the hub's `bridge` (`hub_end`) into namespace `ns`
    /// (`dev`, with `addr`), both ends up.
    fn plug_cable(
        &self,
        ns: &str,
        hub_end: &str,
        dev: &str,
        bridge: &str,
        addr: std::net::Ipv4Addr,
    ) -> Result<(), LabError> {
        let hub = self.hub_netns();
        ip(&[
            "-n", &hub, "link", "add", hub_end, "type", "veth", "peer", "name", dev, "netns", ns,
        ])?;
        ip(&["-n", &hub, "link", "set", hub_end, "master", bridge, "up"])?;
        let cidr = format!("{addr}/{LAB_PREFIX}");
        ip(&["-n", ns, "addr", "add", &cidr, "dev", dev])?;
        ip(&["-n", ns, "link", "set", dev, "up"]).map(|_| ())
    }

    /// The number of corosync links the lab's nodes have (1 or 2).
    pub fn links(&self) -> u8 {
        self.conf.links
    }

    /// A power cycle clears a machine's network state: addresses an agent added (a service
    /// IP that IPaddr2 put on eth0 must not come back with the node and answer beside the
    /// new owner), neighbour entries. The namespace itself stays (its handle is what the
    /// lab's processes, including a BMC's power hook, can reach); only its state is reset.
    pub(super) fn reset_node_network(&self, node: &str) -> Result<(), LabError> {
        let i = self.check_node(node)?;
        let ns = self.netns_name(node);
        let mut devs = vec![("eth0", node_addr(i)), ("eth1", node_mgmt_addr(i))];
        if self.conf.links >= 2 {
            devs.push((CLUSTER2_DEV, node_addr2(i)));
        }
        for (dev, addr) in devs {
            ip(&["-n", &ns, "addr", "flush", "dev", dev])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/{LAB_PREFIX}"),
                "dev",
                dev,
            ])?;
            ip(&["-n", &ns, "link", "set", dev, "up"])?;
        }
        ip(&["-n", &ns, "neigh", "flush", "all"])?;
        Ok(())
    }

    /// Pull the node's (first) cluster cable: its hub-side link goes down. With two corosync
    /// links the second keeps the node in the cluster; [`Lab::cut_link`] cuts any link.
    pub fn partition(&self, node: &str) -> Result<(), LabError> {
        self.set_link(node, false)
    }

    /// Plug the node's (first) cluster cable back in.
    pub fn heal(&self, node: &str) -> Result<(), LabError> {
        self.set_link(node, true)
    }

    pub(super) fn set_link(&self, node: &str, up: bool) -> Result<(), LabError> {
        self.set_cable(node, &cluster_veth(node), CUT_MARKER, up)
    }

    /// Cut (`up` false) or restore the node's cable into the second cluster network.
    pub(super) fn set_cluster2_link(&self, node: &str, up: bool) -> Result<(), LabError> {
        if self.conf.links < 2 {
            return Err(LabError::InvalidSpec {
                field: "link",
                value: "cluster2".into(),
                reason: "this lab has one corosync link (lab up --links 2 adds the second)",
            });
        }
        self.set_cable(node, &cluster2_veth(node), CUT2_MARKER, up)
    }

    /// True while the node's cable into the second cluster network is cut.
    pub fn cluster2_cut(&self, node: &str) -> bool {
        self.node_dir(node).join(CUT2_MARKER).exists()
    }

    fn set_cable(&self, node: &str, veth: &str, marker: &str, up: bool) -> Result<(), LabError> {
        self.check_node(node)?;
        let hub = self.hub_netns();
        ip(&[
            "-n",
            &hub,
            "link",
            "set",
            veth,
            if up { "up" } else { "down" },
        ])?;
        let marker = self.node_dir(node).join(marker);
        if up {
            match std::fs::remove_file(&marker) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LabError::io(marker, e)),
                _ => Ok(()),
            }
        } else {
            std::fs::write(&marker, b"").map_err(|e| LabError::io(marker, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_netns_names_match_exactly() {
        assert!(is_lab_netns("a", "axl-a-hub"));
        assert!(is_lab_netns("a", "axl-a-n3"));
        assert!(!is_lab_netns("a", "axl-a-b-n1"), "lab a-b is another lab");
        assert!(!is_lab_netns("a", "axl-a-b-hub"));
        assert!(!is_lab_netns("a", "axl-a-n"));
        assert!(!is_lab_netns("a", "axl-ab-n1"));
        assert!(!is_lab_netns("a", "other"));
    }
}
