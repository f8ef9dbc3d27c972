#![warn(missing_docs)]
//! axha-lab: N-node Pacemaker/Corosync clusters on one machine, for the end-to-end suites,
//! the demo and `axigen-ha lab`.
//!
//! Each node is a network namespace `axl-<lab>-nI` (address 10.231.0.I/24 on a veth into a
//! bridge in the lab's hub namespace `axl-<lab>-hub`), a private mount namespace (tmpfs `/run`
//! and `/dev/shm`, bind mounts over the corosync/Pacemaker configuration, state and log
//! directories and `/root`, read-only overlays that install agents under test) and a UTS
//! namespace (hostname nI). A small anchor process (`axha-lab-node`) holds the namespaces;
//! commands enter them with `nsenter`. Nothing is added to the host's network namespace or
//! written outside the lab's state directory, except the `ip netns` handles.
//!
//! A second link per node (10.231.1.I/24, bridge `br1`) is the management network. With
//! [`Fencing::Ipmi`] every node gets a BMC there (`ipmi_sim` via crate `axha-bmc`, at
//! 10.231.1.(200+I):623) whose chassis power is the node's power: off ends the node, on boots
//! it; Pacemaker gets one stonith device per node, created once every node is online.
//! [`Lab::partition`] cuts the cluster link only, so two-node partitions are real fence races.
//! With [`LabSpec::pdu`] a switched PDU ([`pdu`], snmpd at 10.231.1.250) is the second
//! fencing level; with [`LabSpec::links`] 2 a third cable per node (10.231.3.I, bridge
//! `br3`) is corosync's second link, cut alone with [`Lab::cut_link`] and [`Link::Cluster2`].
//!
//! VM labs ([`LabSpec::two_node_vm`], `axigen-ha lab up --template two-node-active-passive`) keep
//! that shape with QEMU guests as nodes (module [`vm`]): each guest boots Debian's kernel and a
//! Debian 12 root with Pacemaker, Corosync and DRBD 8.4; QEMU runs in the node's namespace and is
//! its anchor; a third link (10.231.2.I, bridge `br2`) carries DRBD's replication; commands reach
//! a guest through its command server on the management network; the cluster's configuration
//! is the shipped two-node template with DRBD storage.
//!
//! Processes belong to a node by network namespace membership (`/proc/PID/ns/net`), never by
//! name: power loss ([`Lab::kill`]) freezes and kills exactly those pids.
//!
//! Main types: [`LabSpec`] (what to build), [`Lab`] (a running lab), [`ClusterView`]
//! (Pacemaker's state, parsed from `crm_mon --output-as=xml`), [`ClusterReport`] (what
//! Pacemaker knows when a wait fails), [`LabError`].
//!
//! [`Lab`] is spread over one module per part of a lab (`lab/`: network, node, power,
//! storage, instances, cib, views, teardown; the map is in `lab/mod.rs`). Beside it:
//! [`preflight`] (programs checked before anything starts), [`diagnosis`] (failed waits that
//! explain themselves), [`spec`], [`state`] (the state directory), [`anchor`] (the node
//! helper), [`config`] (corosync.conf, seed CIB), [`fencing`], [`service`] and
//! [`scenario`] (N+1 layout, timed power loss) and [`tiers`] (the multi-tier architecture
//! whole and its scenarios).
//!
//! ```no_run
//! use axha_lab::{Lab, LabSpec};
//! use std::time::Duration;
//! let lab = Lab::up(LabSpec::new("demo", 2))?;   // returns with both nodes online + a DC
//! let out = lab.run("n1", &["uname", "-n"], Duration::from_secs(5))?;
//! assert_eq!(out.stdout_str().trim(), "n1");
//! lab.kill("n2")?;                                 // power loss
//! lab.wait_online(Duration::from_secs(30))?;       // n1 alone, n2 seen offline
//! lab.down()?;                                     // (Drop does the same)
//! # Ok::<(), axha_lab::LabError>(())
//! ```

pub mod anchor;
pub mod config;
pub mod crm;
pub mod diagnosis;
mod error;
pub mod fencelog;
pub mod fencing;
mod lab;
pub mod pdu;
pub mod preflight;
pub mod procs;
pub mod scenario;
pub mod service;
pub mod spec;
pub mod state;
pub mod tiers;
pub mod vm;

pub use crm::{parse_crm_mon, ClusterView, FenceEvent, NodeState, NodeView, ResourceView};
pub use diagnosis::ClusterReport;
pub use error::LabError;
pub use lab::Disk;
pub use lab::{
    drbd_res, render_two_node, repl_addr, two_node_values, Link, DRBD_RESOURCE, OUTSIDE_ADDR,
    VM_INSTANCE, VM_MOUNTPOINT, VM_SERVICE_IP,
};
pub use lab::{reap_stale_labs, resolve_helper, Lab, NodeStatus, HELPER_NAME, NODE_PATH};
pub use lab::{
    side_addr, DirectoryPair, ProviderState, CLIENT, DIRECTORY_BASE_DN, DIRECTORY_READER_DN,
    DIRECTORY_REPLICATOR_DN, DIRECTORY_ROOT_DN, DIRECTORY_SERVERS, DIRECTORY_SUFFIX, LB_VIP,
};
pub use service::Instance;
pub use spec::{Fencing, LabSpec, NodeKind};
