use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axha_bmc::{Bmc, BmcSpec, BmcUser, Privilege};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axha_exec::{Cmd, Deadline, Output, ProcessIdentity};

use crate::anchor::{AnchorArgs, ANCHOR_FILE, BINDS};
use crate::config::{pacemaker_ids, render_corosync_conf, write_seed_cib};
use crate::crm::{parse_crm_mon, ClusterView};
use crate::fencing::{
    bmc_addr, bmc_ip, choose_fence_agent, fence_devices_xml, random_password, PowerAction, Secret,
    BMC_PORT, BMC_USER,
};
use crate::procs::{kill_netns, netns_id_of_path, netns_of, pids_in_netns};
use crate::service::{service_ip, Instance};
use crate::spec::{
    default_state_dir, node_addr, node_index, node_mgmt_addr, node_names, validate_name, Fencing,
    LabSpec, DEFAULT_STATE_ROOT, LAB_PREFIX,
};
use crate::state::{LabConf, Phase};
use crate::LabError;

/// PATH inside a node (a clean environment: nothing of the caller leaks in).
pub const NODE_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// Name of the helper binary that anchors a node.
pub const HELPER_NAME: &str = "axha-lab-node";
/// Agents overlaid onto `/usr/lib/ocf/resource.d/axigen/` when found in `binaries`.
pub const OCF_AGENTS: &[&str] = &["instance", "drbd"];
/// Binaries overlaid onto `/usr/sbin` when found in `binaries`.
pub const SBIN_BINARIES: &[&str] = &["fence_axigen_ipmi"];
/// The cluster network's bridge inside the hub namespace.
const BRIDGE: &str = "br0";
/// The management network's bridge (BMCs).
const MGMT_BRIDGE: &str = "br1";
/// Paths a state directory must not live under: the node hides them behind its own mounts.
const HIDDEN_IN_NODE: &[&str] = &[
    "/run",
    "/var/run",
    "/dev/shm",
    "/root",
    "/etc/corosync",
    "/var/lib/corosync",
    "/var/lib/pacemaker",
    "/var/log/pacemaker",
    "/var/log/corosync",
    "/var/log/crmsh",
];
const IP_TIMEOUT: Duration = Duration::from_secs(10);
const ANCHOR_TIMEOUT: Duration = Duration::from_secs(10);
const COROSYNC_TIMEOUT: Duration = Duration::from_secs(20);
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

/// A loop device made by [`Lab::add_disk`]: a sparse image file in the lab's state
/// directory, attached to a loop device, with an ext4 filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub name: String,
    pub image: PathBuf,
    pub device: PathBuf,
}

/// One node's state, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    pub name: String,
    pub addr: Ipv4Addr,
    /// Powered on: its anchor process lives in its network namespace.
    pub alive: bool,
    pub anchor: Option<u32>,
    /// Number of processes in the node.
    pub processes: usize,
    /// Its cable is pulled ([`Lab::partition`]).
    pub partitioned: bool,
}

fn require_root() -> Result<(), LabError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot);
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<Output, LabError> {
    Cmd::new("ip")
        .args(args)
        .run_ok(&Deadline::after(IP_TIMEOUT))
        .map_err(|e| LabError::exec("network setup", e))
}

fn existing_netns() -> Vec<String> {
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

/// True for the namespace names of lab `name` exactly (`axl-<name>-hub`, `axl-<name>-nI`):
/// lab names may contain `-`, so a plain prefix match would also take lab `<name>-x`'s.
fn is_lab_netns(name: &str, ns: &str) -> bool {
    let Some(rest) = ns
        .strip_prefix("axl-")
        .and_then(|r| r.strip_prefix(name))
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    rest == "hub"
        || rest
            .strip_prefix('n')
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
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

/// Tear down every lab under the default state root whose owning process is gone (a test
/// run that was interrupted or crashed before its `Drop` ran). Returns the names cleaned.
pub fn reap_stale_labs() -> Vec<String> {
    let mut done = Vec::new();
    let Ok(dir) = std::fs::read_dir(DEFAULT_STATE_ROOT) else {
        return done;
    };
    for e in dir.flatten() {
        let path = e.path();
        if let Ok(Some(conf)) = LabConf::read(&path) {
            if conf.is_stale() {
                let name = conf.name.clone();
                let lab = Lab {
                    conf,
                    state_dir: path,
                    teardown_on_drop: false,
                };
                if lab.teardown().is_ok() {
                    done.push(name);
                }
            }
        }
    }
    done
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
            owner: axha_exec::read_identity(std::process::id()),
        };
        conf.write(&state_dir)?;
        // From here on, any error drops `lab`, which tears down what was built.
        let mut lab = Lab {
            conf,
            state_dir,
            teardown_on_drop: true,
        };
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

    pub fn name(&self) -> &str {
        &self.conf.name
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn fencing(&self) -> Fencing {
        self.conf.fencing
    }

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

    /// The network namespace name of a node (`axl-<name>-<node>`).
    pub fn netns_name(&self, node: &str) -> String {
        format!("axl-{}-{node}", self.conf.name)
    }

    /// The hub namespace holding the lab's bridge.
    pub fn hub_netns(&self) -> String {
        format!("axl-{}-hub", self.conf.name)
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

    /// `net:[INODE]` of the node's network namespace, as recorded at `up`.
    pub fn netns_id(&self, node: &str) -> Result<String, LabError> {
        let p = self.node_dir(node).join("netid");
        std::fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| LabError::io(p, e))
    }

    /// The recorded namespace id, only while it provably still names the node's namespace:
    /// the `ip netns` handle still refers to it, or the node's anchor (pid + start time) still
    /// lives in it. Namespace inode numbers are reused once a namespace is gone, so a stale id
    /// could name another lab's node: it is never used to kill anything.
    fn live_netns_id(&self, node: &str) -> Option<String> {
        let id = self.netns_id(node).ok()?;
        let handle = Path::new("/run/netns").join(self.netns_name(node));
        if netns_id_of_path(&handle).ok().as_deref() == Some(id.as_str())
            || self.anchor(node).is_some()
        {
            Some(id)
        } else {
            None
        }
    }

    /// The node's anchor process, if the node is powered on.
    fn anchor(&self, node: &str) -> Option<ProcessIdentity> {
        let line = std::fs::read_to_string(self.node_dir(node).join(ANCHOR_FILE)).ok()?;
        let id = ProcessIdentity::parse_line(&line)?;
        let netid = self.netns_id(node).ok()?;
        (id.is_alive() && netns_of(id.pid).as_deref() == Some(netid.as_str())).then_some(id)
    }

    /// True while the node is powered on.
    pub fn is_alive(&self, node: &str) -> bool {
        self.anchor(node).is_some()
    }

    /// Nodes that are powered on.
    pub fn alive_nodes(&self) -> Vec<String> {
        self.nodes()
            .into_iter()
            .filter(|n| self.is_alive(n))
            .collect()
    }

    /// Every process of the node (by network namespace membership).
    pub fn node_pids(&self, node: &str) -> Vec<u32> {
        match self.live_netns_id(node) {
            Some(id) => pids_in_netns(&id),
            None => Vec::new(),
        }
    }

    /// A command run inside the node's network, mount and UTS namespaces with a clean
    /// environment (`PATH`, `HOME=/root`, `LC_ALL=C` only). Fails when the node is down.
    pub fn cmd(&self, node: &str, argv: &[&str]) -> Result<Cmd, LabError> {
        self.cmd_env(node, &[], argv)
    }

    /// Like [`Lab::cmd`] with extra environment variables (visible in the node's process
    /// list: never a secret; pass secrets on stdin).
    pub fn cmd_env(
        &self,
        node: &str,
        env: &[(&str, &str)],
        argv: &[&str],
    ) -> Result<Cmd, LabError> {
        self.check_node(node)?;
        if argv.is_empty() {
            return Err(LabError::InvalidSpec {
                field: "command",
                value: String::new(),
                reason: "empty command",
            });
        }
        let anchor = self.anchor(node).ok_or_else(|| LabError::NodeDown {
            node: node.to_string(),
        })?;
        let mut c = Cmd::new("nsenter")
            .args(["-t", &anchor.pid.to_string(), "-n", "-m", "-u", "--"])
            .args(["env", "-i"])
            .arg(format!("PATH={NODE_PATH}"))
            .args(["HOME=/root", "LC_ALL=C", "LANG=C"]);
        for (k, v) in env {
            c = c.arg(format!("{k}={v}"));
        }
        Ok(c.args(argv))
    }

    /// Run a command in a node to completion (a non-zero exit is not an error here).
    pub fn run(&self, node: &str, argv: &[&str], timeout: Duration) -> Result<Output, LabError> {
        self.cmd(node, argv)?
            .run(&Deadline::after(timeout))
            .map_err(|e| LabError::exec(format!("on {node}"), e))
    }

    /// Run a command in a node; a non-zero exit is an error carrying its stderr.
    pub fn run_ok(&self, node: &str, argv: &[&str], timeout: Duration) -> Result<Output, LabError> {
        self.cmd(node, argv)?
            .run_ok(&Deadline::after(timeout))
            .map_err(|e| LabError::exec(format!("on {node}"), e))
    }

    /// Start a daemon inside the node (own session, output appended to `log`); returns its
    /// pid. It ends with the node.
    pub fn spawn_in(&self, node: &str, argv: &[&str], log: &Path) -> Result<u32, LabError> {
        self.spawn_in_env(node, &[], argv, log)
    }

    /// [`Lab::spawn_in`] with extra environment variables (never secrets).
    pub fn spawn_in_env(
        &self,
        node: &str,
        env: &[(&str, &str)],
        argv: &[&str],
        log: &Path,
    ) -> Result<u32, LabError> {
        self.cmd_env(node, env, argv)?
            .spawn_detached(Some(log))
            .map_err(|e| LabError::exec(format!("starting a daemon on {node}"), e))
    }

    /// `crm_mon --output-as=xml` as seen from `node` (fencing history included).
    pub fn crm_mon_xml(&self, node: &str) -> Result<String, LabError> {
        let out = self.run_ok(
            node,
            &[
                "crm_mon",
                "--one-shot",
                "--output-as=xml",
                "--fence-history=3",
            ],
            Duration::from_secs(15),
        )?;
        Ok(out.stdout_str())
    }

    /// The cluster as `node` sees it.
    pub fn view(&self, node: &str) -> Result<ClusterView, LabError> {
        parse_crm_mon(&self.crm_mon_xml(node)?)
    }

    /// The cluster as the first live node sees it.
    pub fn view_any(&self) -> Result<ClusterView, LabError> {
        let mut last = None;
        for n in self.alive_nodes() {
            match self.view(&n) {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| LabError::NodeDown {
            node: "(every node)".into(),
        }))
    }

    /// Nodes where `rsc` is active, as `node` sees it.
    pub fn locate(&self, node: &str, rsc: &str) -> Result<Vec<String>, LabError> {
        Ok(self.view(node)?.locate(rsc))
    }

    /// Poll the cluster view (from any live node) until `check` holds; returns that view.
    ///
    /// Ends early, without waiting for the timeout, when a resource has a failed start that
    /// Pacemaker will not retry (see [`crate::diagnosis::failed_starts`]) and the DC is idle,
    /// on two polls in a row. Every failure carries what Pacemaker knows at that moment.
    pub fn wait_view(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&ClusterView) -> bool,
    ) -> Result<ClusterView, LabError> {
        let mut last = String::new();
        let mut hopeless = 0;
        let d = Deadline::after(timeout);
        let found = d.poll(Duration::from_millis(250), || match self.view_any() {
            Ok(v) if check(&v) => Some(Ok(v)),
            Ok(v) => {
                last = format!("online {:?}, DC {:?}", v.online(), v.dc);
                let failed = crate::diagnosis::failed_starts(&v);
                if failed.is_empty() || !self.dc_idle(&v) {
                    hopeless = 0;
                    return None;
                }
                hopeless += 1;
                (hopeless >= 2).then(|| Err(crate::diagnosis::describe_failed_starts(&failed)))
            }
            Err(e) => {
                last = e.to_string();
                None
            }
        });
        match found {
            Some(Ok(v)) => Ok(v),
            Some(Err(failed)) => Err(self.wait_failed(what, last, Some(failed))),
            None => Err(self.wait_failed(what, last, None)),
        }
    }

    /// Wait until every live node sees exactly the live nodes online and the same DC.
    pub fn wait_online(&self, timeout: Duration) -> Result<(), LabError> {
        let mut last = String::new();
        let d = Deadline::after(timeout);
        let ok = d.poll(Duration::from_millis(250), || {
            let alive = self.alive_nodes();
            if alive.is_empty() {
                last = "no node is powered on".into();
                return None;
            }
            let mut dc = None;
            for n in &alive {
                let v = match self.view(n) {
                    Ok(v) => v,
                    Err(e) => {
                        last = format!("{n}: {e}");
                        return None;
                    }
                };
                let mut online = v.online();
                online.sort();
                if online != alive || v.dc.is_none() || (dc.is_some() && dc != v.dc) {
                    last = format!("{n} sees online {online:?}, DC {:?}", v.dc);
                    return None;
                }
                dc = v.dc;
            }
            Some(())
        });
        ok.ok_or_else(|| {
            self.wait_failed("every live node online and agreeing on a DC", last, None)
        })
    }

    /// Wait until every node of the lab is powered on, online, and agrees on the DC (after a
    /// fence-reboot the node boots in the background: [`Lab::wait_online`] alone could
    /// succeed in the instant the node is still off).
    pub fn wait_all_online(&self, timeout: Duration) -> Result<(), LabError> {
        let d = Deadline::after(timeout);
        let all = self.nodes();
        d.poll(Duration::from_millis(100), || {
            (self.alive_nodes() == all).then_some(())
        })
        .ok_or_else(|| {
            let last = format!("on: {:?}", self.alive_nodes());
            self.wait_failed("every node powered on", last, None)
        })?;
        self.wait_online(d.remaining())?;
        if self.alive_nodes() != all {
            return self.wait_all_online(d.remaining());
        }
        Ok(())
    }

    /// Power loss: every process of the node stops at one instant and is killed.
    pub fn kill(&self, node: &str) -> Result<(), LabError> {
        self.check_node(node)?;
        let Some(id) = self.live_netns_id(node) else {
            return Ok(()); // its namespace is gone: nothing of it can be running
        };
        let left = kill_netns(&id, &Deadline::after(KILL_TIMEOUT));
        if !left.is_empty() {
            return Err(LabError::Unkillable {
                node: node.to_string(),
                pids: left,
            });
        }
        Ok(())
    }

    /// Boot a powered-off node: anchor, corosync, pacemaker (its /var/lib state is kept).
    /// Returns once Pacemaker is started; [`Lab::wait_online`] waits for it to join.
    pub fn start(&self, node: &str) -> Result<(), LabError> {
        self.check_node(node)?;
        if self.is_alive(node) {
            return Err(LabError::NodeUp {
                node: node.to_string(),
            });
        }
        self.kill(node)?; // leftovers of a half-dead node
        self.reset_node_network(node)?;
        self.start_anchor(node)?;
        self.start_corosync(node)?;
        self.wait_corosync(node)?;
        self.start_pacemaker(node)
    }

    /// Pull the node's cable: its hub-side link goes down.
    pub fn partition(&self, node: &str) -> Result<(), LabError> {
        self.set_link(node, false)
    }

    /// Plug the node's cable back in.
    pub fn heal(&self, node: &str) -> Result<(), LabError> {
        self.set_link(node, true)
    }

    fn set_link(&self, node: &str, up: bool) -> Result<(), LabError> {
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

    /// Every node's state.
    pub fn status(&self) -> Vec<NodeStatus> {
        self.nodes()
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let anchor = self.anchor(&n).map(|a| a.pid);
                NodeStatus {
                    addr: node_addr(i + 1),
                    alive: anchor.is_some(),
                    anchor,
                    processes: self.node_pids(&n).len(),
                    partitioned: self.node_dir(&n).join("partitioned").exists(),
                    name: n,
                }
            })
            .collect()
    }

    /// Attach to the lab whose state is in `state_dir` (the BMC power hook uses this).
    pub fn open_state(state_dir: &Path) -> Result<Lab, LabError> {
        let conf = LabConf::read(state_dir)?.ok_or_else(|| LabError::NotUp {
            name: "?".into(),
            state_dir: state_dir.to_path_buf(),
        })?;
        Lab::open(&conf.name.clone(), Some(state_dir))
    }

    /// Where node's BMC answers IPMI over LAN (RMCP+, cipher suite 3).
    pub fn bmc_addr(&self, node: &str) -> SocketAddr {
        bmc_addr(node_index(node, self.conf.nodes).expect("bmc_addr: not a node of this lab"))
    }

    /// The BMC administrator's password (the user is [`crate::fencing::BMC_USER`]).
    pub fn bmc_password(&self) -> Result<String, LabError> {
        let p = self.state_dir.join("bmc").join("password");
        std::fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| LabError::io(p, e))
    }

    /// The node's BMC directory (power state, chassis log, ipmi_sim log).
    pub fn bmc_dir(&self, node: &str) -> PathBuf {
        self.state_dir.join("bmc").join(node)
    }

    /// Chassis power as the node's BMC reports it.
    pub fn bmc_power(&self, node: &str) -> Result<bool, LabError> {
        self.check_node(node)?;
        let dir = self.bmc_dir(node);
        axha_bmc::read_power_file(&dir).map_err(|e| LabError::BadState {
            path: dir.join(axha_bmc::POWER_FILE),
            reason: format!("{e:?}"),
        })
    }

    /// Every chassis command the node's BMC executed (`<unix time> <args>` lines).
    pub fn bmc_chassis_log(&self, node: &str) -> String {
        std::fs::read_to_string(self.bmc_dir(node).join(axha_bmc::CHASSIS_LOG)).unwrap_or_default()
    }

    /// The stonith agent of the lab's fence devices (empty without fencing).
    pub fn fence_agent(&self) -> &str {
        &self.conf.fence_agent
    }

    /// What a BMC power change does to its node: off = power cut; on = boot, in the
    /// background (a real BMC acknowledges power-on at once; the node boots afterwards);
    /// reset = power cut, then boot in the background; boot = the boot itself, unless the
    /// BMC has been switched off again meanwhile.
    pub fn apply_power(&self, node: &str, action: PowerAction) -> Result<(), LabError> {
        self.check_node(node)?;
        match action {
            PowerAction::Off => self.kill(node),
            PowerAction::On if self.is_alive(node) => Ok(()),
            PowerAction::On => self.boot_in_background(node),
            PowerAction::Reset => {
                self.kill(node)?;
                self.boot_in_background(node)
            }
            PowerAction::Boot => {
                let off = self.conf.fencing == Fencing::Ipmi && !self.bmc_power(node)?;
                if off || self.is_alive(node) {
                    return Ok(());
                }
                self.start(node)
            }
        }
    }

    fn boot_in_background(&self, node: &str) -> Result<(), LabError> {
        let log = self.node_dir(node).join("boot.log");
        Cmd::new(&self.conf.helper)
            .arg("power")
            .arg(&self.state_dir)
            .args([node, "boot"])
            .spawn_detached(Some(&log))
            .map(|_| ())
            .map_err(|e| LabError::exec(format!("booting {node}"), e))
    }

    /// A new ext4 filesystem of `size_mb` MiB on a loop device (a SAN LUN stand-in), its
    /// root populated from `populate` if given (`mke2fs -d`, nothing is mounted on the host).
    /// Teardown detaches it.
    pub fn add_disk(
        &self,
        name: &str,
        size_mb: u64,
        populate: Option<&Path>,
    ) -> Result<Disk, LabError> {
        validate_name(name).map_err(|_| LabError::InvalidSpec {
            field: "disk name",
            value: name.to_string(),
            reason: "a-z, 0-9 and -, up to 12 characters",
        })?;
        let dir = self.state_dir.join("disks");
        mkdir_mode(&dir, 0o700, None)?;
        let image = dir.join(format!("{name}.img"));
        if image.exists() {
            return Err(LabError::InvalidSpec {
                field: "disk name",
                value: name.to_string(),
                reason: "a disk of that name exists",
            });
        }
        let f = std::fs::File::create(&image).map_err(|e| LabError::io(&image, e))?;
        f.set_len(size_mb * 1024 * 1024)
            .map_err(|e| LabError::io(&image, e))?;
        drop(f);
        let d = Deadline::after(Duration::from_secs(60));
        let mut mkfs = Cmd::new("mkfs.ext4").args(["-q", "-F", "-L", name]);
        if let Some(p) = populate {
            mkfs = mkfs.arg("-d").arg(p);
        }
        mkfs.arg(&image)
            .run_ok(&d)
            .map_err(|e| LabError::exec(format!("making the filesystem of disk {name}"), e))?;
        let out = Cmd::new("losetup")
            .args(["--find", "--show"])
            .arg(&image)
            .run_ok(&d)
            .map_err(|e| LabError::exec(format!("attaching disk {name}"), e))?;
        let device = PathBuf::from(out.stdout_str().trim());
        let rec = dir.join(format!("{name}.loop"));
        std::fs::write(&rec, format!("{}\n", device.display()))
            .map_err(|e| LabError::io(&rec, e))?;
        Ok(Disk {
            name: name.to_string(),
            image,
            device,
        })
    }

    /// The disks made by [`Lab::add_disk`] that are still attached to their image.
    pub fn disks(&self) -> Vec<Disk> {
        let dir = self.state_dir.join("disks");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut v: Vec<Disk> = rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.strip_suffix(".loop")?.to_string();
                let device = PathBuf::from(std::fs::read_to_string(e.path()).ok()?.trim());
                let image = dir.join(format!("{name}.img"));
                // Attached to *our* image: the loop device may have been reused since.
                let dev = device.file_name()?.to_str()?.to_string();
                let backing =
                    std::fs::read_to_string(format!("/sys/block/{dev}/loop/backing_file")).ok()?;
                (Path::new(backing.trim()) == image).then_some(Disk {
                    name,
                    image,
                    device,
                })
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// A service instance (see [`crate::service`]): number `k` (service IP 10.231.0.(100+k)),
    /// preferring node `home`, served by `server` (the `axigen-sim` binary: Axigen itself
    /// cannot be installed here). Its workdir is made with `server init` and put on a new
    /// disk; the returned value renders the CIB group and home preference.
    pub fn add_instance(
        &self,
        id: &str,
        k: usize,
        home: Option<&str>,
        server: &Path,
    ) -> Result<Instance, LabError> {
        if let Some(h) = home {
            self.check_node(h)?;
        }
        if !(1..=99).contains(&k) {
            return Err(LabError::InvalidSpec {
                field: "instance number",
                value: k.to_string(),
                reason: "1 to 99",
            });
        }
        let dir = self.state_dir.join("instances").join(id);
        let seed = dir.join("seed");
        mkdir_mode(&dir, 0o700, None)?;
        let password_file = dir.join("admin.pw");
        let password = random_password().map_err(|e| LabError::io("/dev/urandom", e))?;
        std::fs::write(&password_file, format!("{password}\n"))
            .map_err(|e| LabError::io(&password_file, e))?;
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(&password_file, e))?;
        let ip = service_ip(k);
        Cmd::new(server)
            .args(["init", "-W"])
            .arg(&seed)
            .args(["--address", &ip.to_string(), "--admin-password-file"])
            .arg(&password_file)
            .run_ok(&Deadline::after(Duration::from_secs(30)))
            .map_err(|e| LabError::exec(format!("making the workdir of {id}"), e))?;
        let disk = self.add_disk(id, 64, Some(&seed))?;
        let workdir = self.state_dir.join("mnt").join(id);
        mkdir_mode(&workdir, 0o755, None)?;
        Ok(Instance {
            id: id.to_string(),
            ip,
            device: disk.device,
            workdir,
            password_file,
            binary: server.to_path_buf(),
            home: home.map(str::to_string),
        })
    }

    /// Add XML to a CIB section (`resources`, `constraints`, ...) through the first live node;
    /// the XML goes on stdin (it may hold passwords).
    pub fn cib_create(&self, section: &str, xml: &str) -> Result<(), LabError> {
        let node = self
            .alive_nodes()
            .into_iter()
            .next()
            .ok_or_else(|| LabError::NodeDown {
                node: "(every node)".into(),
            })?;
        self.cmd(
            &node,
            &["cibadmin", "--create", "-o", section, "--xml-pipe"],
        )?
        .stdin(xml)
        .run_ok(&Deadline::after(Duration::from_secs(30)))
        .map(|_| ())
        .map_err(|e| LabError::exec(format!("adding to the CIB {section}"), e))
    }

    /// Replace the cluster's whole configuration with the `<configuration>` of a CIB document
    /// (e.g. one rendered by `axigen-ha cib render`), through the first live node.
    pub fn load_configuration(&self, cib_xml: &str) -> Result<(), LabError> {
        let doc = roxmltree::Document::parse(cib_xml).map_err(|e| LabError::Xml {
            what: "CIB".into(),
            reason: e.to_string(),
        })?;
        let conf = doc
            .descendants()
            .find(|n| n.has_tag_name("configuration"))
            .ok_or_else(|| LabError::Xml {
                what: "CIB".into(),
                reason: "no <configuration> element".into(),
            })?;
        let xml = &cib_xml[conf.range()];
        let node = self
            .alive_nodes()
            .into_iter()
            .next()
            .ok_or_else(|| LabError::NodeDown {
                node: "(every node)".into(),
            })?;
        self.cmd(
            &node,
            &["cibadmin", "--replace", "-o", "configuration", "--xml-pipe"],
        )?
        .stdin(xml)
        .run_ok(&Deadline::after(Duration::from_secs(30)))
        .map(|_| ())
        .map_err(|e| LabError::exec("replacing the CIB configuration", e))
    }

    /// The first line a TCP service at `ip:port` sends, read from inside `node` (an IMAP
    /// greeting, the Axigen CLI banner); `None` when nothing answers within 2 s.
    pub fn greeting(&self, node: &str, ip: Ipv4Addr, port: u16) -> Option<String> {
        let script =
            format!("exec 3<>/dev/tcp/{ip}/{port} && read -t 2 line <&3 && echo \"$line\"");
        let out = self
            .run(node, &["bash", "-c", &script], Duration::from_secs(5))
            .ok()?;
        let line = out.stdout_str().trim().to_string();
        (out.status.success() && !line.is_empty()).then_some(line)
    }

    // ------------------------------------------------------------------ building

    fn start_bmcs(&self) -> Result<(), LabError> {
        let hub = self.hub_netns();
        let bmc_root = self.state_dir.join("bmc");
        mkdir_mode(&bmc_root, 0o700, None)?;
        let password = random_password().map_err(|e| LabError::io("/dev/urandom", e))?;
        let pw_file = bmc_root.join("password");
        std::fs::write(&pw_file, format!("{password}\n")).map_err(|e| LabError::io(&pw_file, e))?;
        std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(&pw_file, e))?;
        let chassis = self
            .conf
            .helper
            .parent()
            .map(|d| d.join(axha_bmc::CHASSIS_BIN))
            .filter(|p| p.is_file())
            .ok_or_else(|| LabError::HelperMissing {
                tried: vec![self.conf.helper.with_file_name(axha_bmc::CHASSIS_BIN)],
            })?;
        for (i, n) in self.nodes().iter().enumerate() {
            let ip_cidr = format!("{}/{LAB_PREFIX}", bmc_ip(i + 1));
            ip(&["-n", &hub, "addr", "add", &ip_cidr, "dev", MGMT_BRIDGE])?;
            let spec = BmcSpec::new(self.bmc_dir(n), IpAddr::V4(bmc_ip(i + 1)), BMC_PORT)
                .user(BmcUser::new(BMC_USER, password.clone(), Privilege::Admin))
                .netns(hub.clone())
                .chassis_bin(chassis.clone())
                .power_hook(vec![
                    self.conf.helper.display().to_string(),
                    "power".into(),
                    self.state_dir.display().to_string(),
                    n.clone(),
                ]);
            let bmc = Bmc::start(spec).map_err(|e| LabError::Bmc {
                node: n.clone(),
                reason: e.to_string(),
            })?;
            // The BMC lives in the hub namespace and ends with it (teardown kills every
            // process there by namespace membership); it must outlive this value, e.g. when
            // `axigen-ha lab up` returns and leaves the lab running.
            std::mem::forget(bmc);
        }
        Ok(())
    }

    fn create_fence_devices(&self, delay: Option<(&str, u32)>) -> Result<(), LabError> {
        let secret = if self.fence_agent() == "fence_axigen_ipmi" {
            let f = self.state_dir.join("bmc").join("password");
            Secret::File(f.display().to_string())
        } else {
            Secret::Inline(self.bmc_password()?)
        };
        let nodes = self.nodes();
        let (res, cons) = fence_devices_xml(self.fence_agent(), &nodes, &secret, delay);
        let d = Deadline::after(Duration::from_secs(30));
        let first = &nodes[0];
        self.cmd(
            first,
            &["cibadmin", "--create", "-o", "resources", "--xml-pipe"],
        )?
        .stdin(res)
        .run_ok(&d)
        .map_err(|e| LabError::exec("creating the fence devices", e))?;
        if nodes.len() > 1 {
            self.cmd(
                first,
                &["cibadmin", "--create", "-o", "constraints", "--xml-pipe"],
            )?
            .stdin(cons)
            .run_ok(&d)
            .map_err(|e| LabError::exec("creating the fence device constraints", e))?;
        }
        self.wait_view("every fence device started", ONLINE_TIMEOUT, |v| {
            nodes.iter().all(|n| {
                v.resource(&format!("fence-{n}"))
                    .is_some_and(|r| r.active && r.role == "Started")
            })
        })
        .map(|_| ())
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
        let corosync_conf =
            render_corosync_conf(&self.conf.name, self.conf.nodes, self.conf.token_ms);
        let seed = self.state_dir.join("seed-cib.xml");
        write_seed_cib(&seed, self.conf.fencing)?;
        self.build_network()?;
        if self.conf.fencing == Fencing::Ipmi {
            self.start_bmcs()?;
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
        let _ = std::fs::write(
            self.state_dir.join("up-seconds"),
            format!("{:.1}\n", t0.elapsed().as_secs_f64()),
        );
        Ok(())
    }

    fn build_network(&self) -> Result<(), LabError> {
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
    fn add_node_network(&self, i: usize, n: &str) -> Result<(), LabError> {
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
    fn reset_node_network(&self, node: &str) -> Result<(), LabError> {
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

    fn prepare_node_dir(
        &self,
        node: &str,
        corosync_conf: &str,
        seed: &Path,
        ids: (u32, u32),
    ) -> Result<(), LabError> {
        let d = self.node_dir(node);
        let pcmk = Some(ids);
        for (sub, _) in BINDS {
            let (mode, owner) = match *sub {
                "var-lib-pacemaker" => (0o755, pcmk),
                "log-pacemaker" => (0o770, pcmk),
                "log-crmsh" => (0o775, pcmk),
                "home" => (0o700, None),
                _ => (0o755, None),
            };
            mkdir_mode(&d.join(sub), mode, owner)?;
        }
        for s in ["cib", "pengine", "blackbox", "cores"] {
            mkdir_mode(&d.join("var-lib-pacemaker").join(s), 0o750, pcmk)?;
        }
        mkdir_mode(&d.join("log-pacemaker").join("bundles"), 0o770, pcmk)?;
        let etc = d.join("etc-corosync");
        std::fs::write(etc.join("corosync.conf"), corosync_conf)
            .map_err(|e| LabError::io(etc.join("corosync.conf"), e))?;
        mkdir_mode(&etc.join("uidgid.d"), 0o755, None)?;
        let cib = d.join("var-lib-pacemaker").join("cib").join("cib.xml");
        std::fs::copy(seed, &cib).map_err(|e| LabError::io(seed, e))?;
        std::fs::set_permissions(&cib, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(&cib, e))?;
        std::os::unix::fs::chown(&cib, Some(ids.0), Some(ids.1))
            .map_err(|e| LabError::io(&cib, e))?;
        Ok(())
    }

    fn start_anchor(&self, node: &str) -> Result<(), LabError> {
        let dir = self.node_dir(node);
        let file = dir.join(ANCHOR_FILE);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LabError::io(file, e))
            }
            _ => {}
        }
        let args = AnchorArgs {
            node_dir: dir.clone(),
            hostname: node.to_string(),
            sbin: self.conf.sbin.clone(),
            ocf: self.conf.ocf.clone(),
        };
        let log = dir.join("anchor.out");
        let ns = self.netns_name(node);
        let pid = Cmd::new("ip")
            .args(["netns", "exec", &ns])
            .args(["unshare", "-m", "-u", "--propagation", "private", "--"])
            .arg(&self.conf.helper)
            .args(args.to_argv())
            .spawn_detached(Some(&log))
            .map_err(|e| LabError::exec(format!("starting node {node}"), e))?;
        let d = Deadline::after(ANCHOR_TIMEOUT);
        let up = d.poll(Duration::from_millis(20), || {
            if self.is_alive(node) {
                return Some(true);
            }
            // the starter died without recording an anchor: its log says why
            axha_exec::read_identity(pid).is_none().then_some(false)
        });
        match up {
            Some(true) => Ok(()),
            _ => Err(LabError::Timeout {
                what: format!("node {node} to set up its namespaces"),
                last: tail_of(&log, 3),
            }),
        }
    }

    fn start_corosync(&self, node: &str) -> Result<(), LabError> {
        let log = self.node_dir(node).join("corosync.stdout");
        self.spawn_in(node, &["corosync", "-f"], &log).map(|_| ())
    }

    fn wait_corosync(&self, node: &str) -> Result<(), LabError> {
        let mut last = String::new();
        let d = Deadline::after(COROSYNC_TIMEOUT);
        let ok = d.poll(Duration::from_millis(100), || {
            match self.run(node, &["corosync-cfgtool", "-s"], Duration::from_secs(5)) {
                Ok(o) if o.status.success() => Some(()),
                Ok(o) => {
                    last = o.stderr_str().trim().to_string();
                    None
                }
                Err(e) => {
                    last = e.to_string();
                    None
                }
            }
        });
        ok.ok_or_else(|| LabError::Timeout {
            what: format!("corosync on {node}"),
            last: if last.is_empty() {
                tail_of(&self.node_dir(node).join("log-corosync/corosync.log"), 3)
            } else {
                last
            },
        })
    }

    fn start_pacemaker(&self, node: &str) -> Result<(), LabError> {
        let log = self.node_dir(node).join("pacemakerd.stdout");
        self.spawn_in_env(
            node,
            &[
                ("PCMK_logfile", "/var/log/pacemaker/pacemaker.log"),
                ("PCMK_logfacility", "none"),
            ],
            &["pacemakerd"],
            &log,
        )
        .map(|_| ())
    }

    // ------------------------------------------------------------------ teardown

    /// Kill every node's processes, delete the namespaces, and record the lab as down.
    /// Idempotent; every step is attempted even when an earlier one failed.
    fn teardown(&self) -> Result<(), LabError> {
        let mut first_err: Option<LabError> = None;
        let mut keep = |r: Result<(), LabError>| {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        };
        // The hub first: its BMCs could otherwise boot a node again while it is torn down.
        let mut names = vec![self.hub_netns()];
        names.extend(self.nodes().iter().map(|n| self.netns_name(n)));
        if let Ok(id) = netns_id_of_path(&Path::new("/run/netns").join(self.hub_netns())) {
            kill_netns(&id, &Deadline::after(KILL_TIMEOUT));
        }
        for n in self.nodes() {
            keep(self.kill(&n));
        }
        let existing = existing_netns();
        for ns in names.iter().filter(|ns| existing.contains(ns)) {
            // processes of a node that never recorded its netid (failed early in `up`)
            if let Ok(id) = netns_id_of_path(&Path::new("/run/netns").join(ns)) {
                let left = kill_netns(&id, &Deadline::after(KILL_TIMEOUT));
                if !left.is_empty() {
                    keep(Err(LabError::Unkillable {
                        node: ns.clone(),
                        pids: left,
                    }));
                }
            }
            keep(ip(&["netns", "del", ns]).map(|_| ()));
        }
        // Disks last: their filesystems were mounted only inside the nodes' mount
        // namespaces, which ended with the nodes' processes.
        for disk in self.disks() {
            let r = Cmd::new("losetup")
                .arg("-d")
                .arg(&disk.device)
                .run_ok(&Deadline::after(Duration::from_secs(10)))
                .map(|_| ())
                .map_err(|e| LabError::exec(format!("detaching disk {}", disk.name), e));
            keep(r);
        }
        let mut conf = self.conf.clone();
        conf.phase = Phase::Down;
        if self.state_dir.is_dir() {
            keep(conf.write(&self.state_dir));
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.teardown_on_drop {
            return;
        }
        let ok = self.teardown().is_ok();
        // Keep the logs of a failing test (its state directory) for the post-mortem.
        if ok && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_rules() {
        assert!(check_state_dir(Path::new("/var/tmp/axigen-ha-lab/x")).is_ok());
        assert!(check_state_dir(Path::new("/tmp/x")).is_ok());
        for bad in [
            "rel/x",
            "/run/x",
            "/root/lab",
            "/dev/shm/l",
            "/var/lib/pacemaker/x",
        ] {
            let e = check_state_dir(Path::new(bad)).unwrap_err().to_string();
            assert!(e.contains("state_dir") && e.contains(bad), "{e}");
        }
    }

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
