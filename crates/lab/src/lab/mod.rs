//! A running lab ([`Lab`]): what it is made of, how it comes up ([`Lab::up`]: preflight,
//! state directory, agents to overlay, then `Lab::build`) and how callers attach to it.
//! Each part of a lab is a module of its own, each an `impl Lab` block:
//!
//! | module | what is in it |
//! |---|---|
//! | `network` | the hub namespace, bridges, each node's network namespace and cables, partitions |
//! | `node` | a cluster node: its anchor (mount + UTS namespaces), corosync, Pacemaker, commands run inside it, power loss and boot |
//! | `power` | BMCs (ipmi_sim) on the management network and the fence devices that drive them |
//! | `outlets` | the switched PDU (snmpd + outlet handler), its fence devices, the fencing topology, total power loss |
//! | `storage` | loop-device disks (the SAN LUN stand-in) |
//! | `instances` | service instances: Axigen workdirs on their own disk, the greeting probe |
//! | `cib` | the one `cibadmin` path every lab caller loads configuration through |
//! | `views` | Pacemaker's view of the cluster (crm_mon XML), the waits on it, a fencing's steps from the logs |
//! | `teardown` | ending every process, namespace and disk of a lab, stale labs included |
//! | `directory` | side machines on the cluster network that are not cluster nodes: the directory pair (two slapd providers replicating each other) and the client |
//! | `frontend` | front-end nodes of the multi-tier architecture: Dovecot (IMAP/POP3 proxy), Postfix (SMTP router) and HAProxy (the load balancer) on cluster nodes |
//! | `vm` | VM nodes (QEMU guests with their own kernel and DRBD): the two-node architecture whole |
//!
//! A new node kind (a VM, a front-end, a directory server) is a new module here: an
//! `impl Lab` block that starts it inside a namespace of `network` (or its own), records
//! what it made under [`Lab::state_dir`] so that `teardown` (which ends every process by
//! namespace membership) finds it, adds its programs to `crate::preflight`, and is called
//! from `Lab::build` or by the caller after `up`.

mod cib;
mod directory;
mod frontend;
mod instances;
mod network;
mod node;
mod outlets;
mod power;
mod storage;
mod teardown;
mod views;
mod vm;

pub use directory::{
    side_addr, DirectoryPair, ProviderState, CLIENT, DIRECTORY_BASE_DN, DIRECTORY_READER_DN,
    DIRECTORY_REPLICATOR_DN, DIRECTORY_ROOT_DN, DIRECTORY_SERVERS, DIRECTORY_SUFFIX,
};
pub use frontend::LB_VIP;
pub use node::NodeStatus;
pub use storage::Disk;
pub use teardown::reap_stale_labs;
pub use vm::{
    drbd_res, render_two_node, repl_addr, two_node_values, Link, DRBD_RESOURCE, OUTSIDE_ADDR,
    VM_INSTANCE, VM_MOUNTPOINT, VM_SERVICE_IP,
};

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{pacemaker_ids, render_corosync_conf, write_seed_cib};
use crate::fencing::choose_fence_agent;
use crate::procs::{kill_netns, netns_id_of_path};
use crate::spec::{
    default_state_dir, node_addr, node_index, node_names, validate_name, Fencing, LabSpec,
    NodeKind, LAB_PREFIX,
};
use crate::state::{LabConf, Phase};
use crate::LabError;
use axha_exec::Deadline;
use network::{existing_netns, ip, is_lab_netns};

/// PATH inside a node (a clean environment: nothing of the caller leaks in).
pub const NODE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Name of the helper binary that anchors a node.
pub const HELPER_NAME: &str = "axha-lab-node";

/// Agents overlaid onto `/usr/lib/ocf/resource.d/axigen/` when found in `binaries`.
pub const OCF_AGENTS: &[&str] = &["instance", "drbd"];

/// Binaries overlaid onto `/usr/sbin` when found in `binaries`.
pub const SBIN_BINARIES: &[&str] = &["fence_axigen_ipmi"];

/// Paths a state directory must not live under: the node hides them behind its own mounts.
const HIDDEN_IN_NODE: &[&str] = &[
    "/run",
    "/var/run",
    "/dev/shm",
    "/etc/corosync",
    "/var/lib/corosync",
    "/var/lib/pacemaker",
    "/var/log/pacemaker",
    "/var/log/corosync",
    "/var/log/crmsh",
];

const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// `up` waits this long for every node online and a DC (measured: 5.5 s for 3 nodes).
const ONLINE_TIMEOUT: Duration = Duration::from_secs(120);

/// A running lab: N Pacemaker/Corosync nodes, each in its own network, mount and UTS
/// namespace, linked by a bridge in a hub namespace. See the crate documentation.
///
/// A lab made by [`Lab::up`] is torn down when dropped (also while a test panics), unless
/// [`Lab::detach`] left it running; a lab attached with [`Lab::open`] is left alone on drop.
#[derive(Debug)]
pub struct Lab {
    conf: LabConf,
    state_dir: PathBuf,
    teardown_on_drop: bool,
}

fn require_root() -> Result<(), LabError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    Ok(())
}

fn mkdir_mode(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io(path, e))?;
    if let Some((u, g)) = owner {
        std::os::unix::fs::chown(path, Some(u), Some(g)).map_err(|e| LabError::io(path, e))?;
    }
    Ok(())
}

fn copy_exec(src: &Path, dst: &Path) -> Result<(), LabError> {
    std::fs::copy(src, dst).map_err(|e| LabError::io(src, e))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| LabError::io(dst, e))
}

fn tail_of(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join(" | ")
}

/// Find the `axha-lab-node` helper: the explicit path, else next to the running executable,
/// else one directory up (test binaries live in `target/debug/deps/`), else the installed one.
pub fn resolve_helper(explicit: Option<&Path>) -> Result<PathBuf, LabError> {
    let mut tried = Vec::new();
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        tried.push(p.to_path_buf());
        return Err(LabError::HelperMissing { tried });
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            tried.push(dir.join(HELPER_NAME));
            if let Some(up) = dir.parent() {
                tried.push(up.join(HELPER_NAME));
            }
        }
    }
    tried.push(PathBuf::from("/usr/lib/axigen-ha").join(HELPER_NAME));
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(LabError::HelperMissing { tried }),
    }
}

fn check_state_dir(dir: &Path) -> Result<(), LabError> {
    let bad = |reason| LabError::InvalidSpec {
        field: "state_dir",
        value: dir.display().to_string(),
        reason,
    };
    if !dir.is_absolute() {
        return Err(bad("must be an absolute path"));
    }
    if HIDDEN_IN_NODE.iter().any(|h| dir.starts_with(h)) {
        return Err(bad(
            "lab nodes mount their own /run, /root, /dev/shm and cluster directories over it",
        ));
    }
    Ok(())
}

impl Lab {
    /// Build and start a lab; returns when every node is online and a DC is elected.
    ///
    /// Leftovers of an earlier lab of the same name (an interrupted run) are cleaned first,
    /// by their recorded namespaces and processes; a lab of that name that is still owned by
    /// a live process, or was left running on purpose, is an [`LabError::AlreadyUp`].
    pub fn up(spec: LabSpec) -> Result<Lab, LabError> {
        require_root()?;
        spec.validate()?;
        let state_dir = spec.resolved_state_dir();
        check_state_dir(&state_dir)?;
        let helper = resolve_helper(spec.helper_bin.as_deref())?;
        crate::preflight::check(&spec)?;
        reap_stale_labs();
        if let Some(old) = LabConf::read(&state_dir).ok().flatten() {
            let old = Lab {
                conf: old,
                state_dir: state_dir.clone(),
                teardown_on_drop: false,
            };
            if old.conf.phase == Phase::Up && !old.conf.is_stale() {
                let owned_by_other = old.conf.owner.is_some();
                if owned_by_other || old.nodes().iter().any(|n| old.is_alive(n)) {
                    return Err(LabError::AlreadyUp {
                        name: spec.name,
                        state_dir,
                    });
                }
            }
            old.teardown()?;
        }
        // Namespaces of this name without state (state dir removed by hand): ours by name.
        for ns in existing_netns() {
            if is_lab_netns(&spec.name, &ns) {
                if let Ok(id) = netns_id_of_path(&Path::new("/run/netns").join(&ns)) {
                    kill_netns(&id, &Deadline::after(KILL_TIMEOUT));
                }
                let _ = ip(&["netns", "del", &ns]);
            }
        }
        if state_dir.exists() {
            std::fs::remove_dir_all(&state_dir).map_err(|e| LabError::io(&state_dir, e))?;
        }
        std::fs::create_dir_all(state_dir.join("nodes"))
            .map_err(|e| LabError::io(&state_dir, e))?;
        let conf = LabConf {
            name: spec.name.clone(),
            nodes: spec.nodes,
            token_ms: spec.token_ms,
            fencing: spec.fencing,
            helper,
            sbin: None,
            ocf: None,
            phase: Phase::Up,
            fence_agent: String::new(),
            kind: spec.kind,
            pdu: spec.pdu,
            links: spec.links,
            owner: axha_exec::read_identity(std::process::id()),
        };
        conf.write(&state_dir)?;
        // From here on, any error drops `lab`, which tears down what was built.
        let mut lab = Lab {
            conf,
            state_dir,
            teardown_on_drop: true,
        };
        if spec.kind == NodeKind::Vm {
            // The agents go into the guests' image, not over this machine's directories.
            lab.conf.fence_agent = "fence_axigen_ipmi".into();
            lab.conf.write(&lab.state_dir)?;
            let binaries = spec.binaries.clone().unwrap_or_default();
            if let Err(e) = lab.build_vm(&binaries) {
                if spec.keep_on_failure {
                    let _ = lab.detach();
                }
                return Err(e);
            }
            return Ok(lab);
        }
        lab.install_binaries(spec.binaries.as_deref())?;
        if spec.fencing == Fencing::Ipmi {
            // Asked of the source binary: the fresh copy may still be open for writing in a
            // child another thread is forking (ETXTBSY).
            let installed = lab.conf.sbin.is_some();
            lab.conf.fence_agent = match spec.binaries.as_deref() {
                Some(src) if installed => choose_fence_agent(Some(src)),
                _ => choose_fence_agent(None),
            }
            .to_string();
        }
        lab.conf.write(&lab.state_dir)?;
        if let Err(e) = lab.build(&spec) {
            if spec.keep_on_failure {
                // Left for a post-mortem; `Lab::open` + `down` removes it.
                let _ = lab.detach();
            }
            return Err(e);
        }
        Ok(lab)
    }

    /// Attach to a running lab (e.g. one started by `axigen-ha lab up`). Dropping the
    /// returned value leaves the lab running; [`Lab::down`] tears it down.
    pub fn open(name: &str, state_dir: Option<&Path>) -> Result<Lab, LabError> {
        validate_name(name)?;
        let dir = state_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| default_state_dir(name));
        let not_up = || LabError::NotUp {
            name: name.to_string(),
            state_dir: dir.clone(),
        };
        let conf = LabConf::read(&dir)?.ok_or_else(not_up)?;
        if conf.phase != Phase::Up || conf.name != name {
            return Err(not_up());
        }
        Ok(Lab {
            conf,
            state_dir: dir,
            teardown_on_drop: false,
        })
    }

    /// Attach to the lab whose state is in `state_dir` (the BMC power hook uses this).
    pub fn open_state(state_dir: &Path) -> Result<Lab, LabError> {
        let conf = LabConf::read(state_dir)?.ok_or_else(|| LabError::NotUp {
            name: "?".into(),
            state_dir: state_dir.to_path_buf(),
        })?;
        Lab::open(&conf.name.clone(), Some(state_dir))
    }

    /// Stop every node (power cut), delete the namespaces, and remove the state directory.
    pub fn down(mut self) -> Result<(), LabError> {
        self.teardown_on_drop = false;
        self.teardown()?;
        std::fs::remove_dir_all(&self.state_dir).map_err(|e| LabError::io(&self.state_dir, e))
    }

    /// Leave the lab running after this value is dropped (the CLI's `lab up`); it is then
    /// no longer owned by this process and only an explicit `down` removes it.
    pub fn detach(mut self) -> Result<(), LabError> {
        self.teardown_on_drop = false;
        self.conf.owner = None;
        self.conf.write(&self.state_dir)
    }

    /// The lab's name (`--name`).
    pub fn name(&self) -> &str {
        &self.conf.name
    }

    /// Where the lab keeps its configuration, node state and logs.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// How the lab's nodes are fenced.
    pub fn fencing(&self) -> Fencing {
        self.conf.fencing
    }

    /// corosync's token timeout in ms, when the lab sets one.
    pub fn token_ms(&self) -> Option<u32> {
        self.conf.token_ms
    }

    /// "n1".."nN".
    pub fn nodes(&self) -> Vec<String> {
        node_names(self.conf.nodes)
    }

    /// The node's address on the lab network (10.231.0.i).
    ///
    /// # Panics
    /// When `node` is not one of [`Lab::nodes`] (a caller bug).
    pub fn node_addr(&self, node: &str) -> Ipv4Addr {
        node_addr(node_index(node, self.conf.nodes).expect("node_addr: not a node of this lab"))
    }

    /// Prefix length of the lab network (for IPaddr2's `cidr_netmask`).
    pub fn net_prefix(&self) -> u8 {
        LAB_PREFIX
    }

    /// Directory of the node's private files (its `/var/lib/pacemaker`, logs, ...).
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.state_dir.join("nodes").join(node)
    }

    fn check_node(&self, node: &str) -> Result<usize, LabError> {
        node_index(node, self.conf.nodes).ok_or_else(|| LabError::UnknownNode {
            node: node.to_string(),
            nodes: self.nodes(),
        })
    }

    fn install_binaries(&mut self, binaries: Option<&Path>) -> Result<(), LabError> {
        let Some(src) = binaries else {
            return Ok(());
        };
        let mut any = false;
        let ocf_dir = self.state_dir.join("ocf");
        let sbin_dir = self.state_dir.join("sbin");
        for a in OCF_AGENTS {
            let p = src.join(a);
            if p.is_file() {
                mkdir_mode(&ocf_dir.join("axigen"), 0o755, None)?;
                copy_exec(&p, &ocf_dir.join("axigen").join(a))?;
                self.conf.ocf = Some(ocf_dir.clone());
                any = true;
            }
        }
        for b in SBIN_BINARIES {
            let p = src.join(b);
            if p.is_file() {
                mkdir_mode(&sbin_dir, 0o755, None)?;
                copy_exec(&p, &sbin_dir.join(b))?;
                self.conf.sbin = Some(sbin_dir.clone());
                any = true;
            }
        }
        if !any {
            return Err(LabError::InvalidSpec {
                field: "binaries",
                value: src.display().to_string(),
                reason: "holds none of instance, drbd, fence_axigen_ipmi",
            });
        }
        Ok(())
    }

    fn build(&self, spec: &LabSpec) -> Result<(), LabError> {
        let t0 = Instant::now();
        let ids = pacemaker_ids()?;
        let corosync_conf = render_corosync_conf(
            &self.conf.name,
            self.conf.nodes,
            self.conf.token_ms,
            self.conf.links,
        );
        let seed = self.state_dir.join("seed-cib.xml");
        write_seed_cib(&seed, self.conf.fencing)?;
        self.build_network()?;
        if self.conf.fencing == Fencing::Ipmi {
            self.start_bmcs()?;
        }
        if self.conf.pdu {
            self.start_pdu()?;
        }
        for n in self.nodes() {
            self.prepare_node_dir(&n, &corosync_conf, &seed, ids)?;
        }
        // Start every node together: a node that joins much later than the others is
        // fenced as unseen at startup once fencing is on (LAB-RECIPES §2).
        for n in self.nodes() {
            self.start_anchor(&n)?;
            self.start_corosync(&n)?;
        }
        for n in self.nodes() {
            self.wait_corosync(&n)?;
        }
        for n in self.nodes() {
            self.start_pacemaker(&n)?;
        }
        self.wait_online(ONLINE_TIMEOUT)?;
        if self.conf.fencing == Fencing::Ipmi {
            // Only now: a device created while a node is still joining would fence it as
            // unseen at startup (LAB-RECIPES §2).
            self.create_fence_devices(spec.fence_delay.as_ref().map(|(n, s)| (n.as_str(), *s)))?;
        }
        if self.conf.pdu {
            self.create_pdu_devices()?;
        }
        let _ = std::fs::write(
            self.state_dir.join("up-seconds"),
            format!("{:.1}\n", t0.elapsed().as_secs_f64()),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_rules() {
        assert!(check_state_dir(Path::new("/var/tmp/axigen-ha-lab/x")).is_ok());
        assert!(check_state_dir(Path::new("/tmp/x")).is_ok());
        assert!(check_state_dir(Path::new("/root/lab")).is_ok());
        for bad in ["rel/x", "/run/x", "/dev/shm/l", "/var/lib/pacemaker/x"] {
            let e = check_state_dir(Path::new(bad)).unwrap_err().to_string();
            assert!(e.contains("state_dir") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn explicit_helper_must_exist() {
        let e = resolve_helper(Some(Path::new("/nonexistent/axha-lab-node"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/axha-lab-node"), "{e}");
    }

    #[test]
    fn open_unknown_lab_is_not_up() {
        let dir = std::env::temp_dir().join(format!("axha-lab-open-{}", std::process::id()));
        let e = Lab::open("nolab", Some(&dir)).unwrap_err();
        assert!(matches!(e, LabError::NotUp { .. }), "{e}");
        assert!(Lab::open("Bad Name", None).is_err());
    }
}
