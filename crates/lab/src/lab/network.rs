//! The lab's networks: a hub namespace holding two bridges (cluster network `br0`,
//! management network `br1`), and per node a network namespace with one cable into each
//! (`eth0` 10.231.0.I, `eth1` 10.231.1.I). Partition pulls the cluster cable. A new node kind
//! gets its namespace and cables from `Lab::add_node_network` with its own index.

use std::path::Path;
use std::time::Duration;

use axha_exec::{Cmd, Deadline, Output};

use super::mkdir_mode;
use crate::procs::netns_id_of_path;
use crate::spec::{node_addr, node_mgmt_addr, LAB_PREFIX};
use crate::{Lab, LabError};

/// The cluster network's bridge inside the hub namespace.
pub(super) const BRIDGE: &str = "br0";

/// The management network's bridge (BMCs).
pub(super) const MGMT_BRIDGE: &str = "br1";

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
        for br in [BRIDGE, MGMT_BRIDGE] {
            ip(&["-n", &hub, "link", "add", br, "type", "bridge"])?;
            ip(&["-n", &hub, "link", "set", br, "up"])?;
        }
        for (i, n) in self.nodes().iter().enumerate() {
            self.add_node_network(i + 1, n)?;
        }
        Ok(())
    }

    /// A node's network namespace with its two cables (cluster network, management network)
    /// plugged into the hub's bridges, and its addresses; records the namespace id.
    pub(super) fn add_node_network(&self, i: usize, n: &str) -> Result<(), LabError> {
        let hub = self.hub_netns();
        let ns = self.netns_name(n);
        let veth = format!("v{n}");
        ip(&["netns", "add", &ns])?;
        let netid = netns_id_of_path(&Path::new("/run/netns").join(&ns))
            .map_err(|e| LabError::io(format!("/run/netns/{ns}"), e))?;
        let dir = self.node_dir(n);
        mkdir_mode(&dir, 0o755, None)?;
        std::fs::write(dir.join("netid"), format!("{netid}\n"))
            .map_err(|e| LabError::io(dir.join("netid"), e))?;
        ip(&[
            "-n", &hub, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        ip(&["-n", &hub, "link", "set", &veth, "master", BRIDGE, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        let addr = format!("{}/{LAB_PREFIX}", node_addr(i));
        ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        let mveth = format!("m{n}");
        ip(&[
            "-n", &hub, "link", "add", &mveth, "type", "veth", "peer", "name", "eth1", "netns", &ns,
        ])?;
        ip(&[
            "-n",
            &hub,
            "link",
            "set",
            &mveth,
            "master",
            MGMT_BRIDGE,
            "up",
        ])?;
        let maddr = format!("{}/{LAB_PREFIX}", node_mgmt_addr(i));
        ip(&["-n", &ns, "addr", "add", &maddr, "dev", "eth1"])?;
        ip(&["-n", &ns, "link", "set", "eth1", "up"])?;
        Ok(())
    }

    /// A power cycle clears a machine's network state: addresses an agent added (a service
    /// IP that IPaddr2 put on eth0 must not come back with the node and answer beside the
    /// new owner), neighbour entries. The namespace itself stays (its handle is what the
    /// lab's processes, including a BMC's power hook, can reach); only its state is reset.
    pub(super) fn reset_node_network(&self, node: &str) -> Result<(), LabError> {
        let i = self.check_node(node)?;
        let ns = self.netns_name(node);
        for (dev, addr) in [("eth0", node_addr(i)), ("eth1", node_mgmt_addr(i))] {
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

    /// Pull the node's cable: its hub-side link goes down.
    pub fn partition(&self, node: &str) -> Result<(), LabError> {
        self.set_link(node, false)
    }

    /// Plug the node's cable back in.
    pub fn heal(&self, node: &str) -> Result<(), LabError> {
        self.set_link(node, true)
    }

    pub(super) fn set_link(&self, node: &str, up: bool) -> Result<(), LabError> {
        self.check_node(node)?;
        let hub = self.hub_netns();
        let veth = format!("v{node}");
        ip(&[
            "-n",
            &hub,
            "link",
            "set",
            &veth,
            if up { "up" } else { "down" },
        ])?;
        let marker = self.node_dir(node).join("partitioned");
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
