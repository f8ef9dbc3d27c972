//! A cluster node: its network namespace (from `network`), the anchor process that holds its
//! mount and UTS namespaces (private /run, /dev/shm, corosync and Pacemaker state and logs),
//! corosync and Pacemaker started inside it, commands run inside it (`nsenter`), and power:
//! loss ([`Lab::kill`], every process of its network namespace) and boot ([`Lab::start`]).
//! A node is "on" while its anchor (pid + start time) lives in its namespace. A new node
//! kind that is not a cluster node reuses the anchor and commands, and starts its own
//! daemons instead of corosync and Pacemaker.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use axha_exec::{Cmd, Deadline, Output, ProcessIdentity};

use super::{mkdir_mode, tail_of, KILL_TIMEOUT, NODE_PATH};
use crate::anchor::{AnchorArgs, ANCHOR_FILE, BINDS, NODE_HOME};
use crate::procs::{kill_netns, netns_id_of_path, netns_of, pids_in_netns};
use crate::spec::node_addr;
use crate::{Lab, LabError};

/// How long a node's anchor may take to set up its namespaces.
pub(super) const ANCHOR_TIMEOUT: Duration = Duration::from_secs(10);

/// How long corosync may take to answer on a starting node.
pub(super) const COROSYNC_TIMEOUT: Duration = Duration::from_secs(20);

/// One node's state, for status displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// nI.
    pub name: String,
    /// Its address on the cluster network.
    pub addr: Ipv4Addr,
    /// Powered on: its anchor process lives in its network namespace.
    pub alive: bool,
    /// The anchor's pid while powered on.
    pub anchor: Option<u32>,
    /// Number of processes in the node.
    pub processes: usize,
    /// Its cable is pulled ([`Lab::partition`]).
    pub partitioned: bool,
}

impl Lab {
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
    pub(super) fn live_netns_id(&self, node: &str) -> Option<String> {
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
    pub(super) fn anchor(&self, node: &str) -> Option<ProcessIdentity> {
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

    /// A powered-on node other than `not` (an observer of what happens to `not`).
    pub fn other_alive(&self, not: &str) -> Result<String, LabError> {
        self.alive_nodes()
            .into_iter()
            .find(|n| n != not)
            .ok_or_else(|| LabError::NodeDown {
                node: "(every other node)".into(),
            })
    }

    /// The first node that is powered on (where commands for the whole cluster run).
    pub fn first_alive(&self) -> Result<String, LabError> {
        self.alive_nodes()
            .into_iter()
            .next()
            .ok_or_else(|| LabError::NodeDown {
                node: "(every node)".into(),
            })
    }

    /// Every process of the node (by network namespace membership).
    pub fn node_pids(&self, node: &str) -> Vec<u32> {
        match self.live_netns_id(node) {
            Some(id) => pids_in_netns(&id),
            None => Vec::new(),
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

    /// A command run inside the node's network, mount and UTS namespaces with a clean
    /// environment (`PATH`, `HOME` = the node's own home directory, `LC_ALL=C` only). Fails
    /// when the node is down.
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
        if self.is_vm() {
            return self.guest_cmd(node, env, argv);
        }
        let mut c = Cmd::new("nsenter")
            .args(["-t", &anchor.pid.to_string(), "-n", "-m", "-u", "--"])
            .args(["env", "-i"])
            .arg(format!("PATH={NODE_PATH}"))
            .arg(format!(
                "HOME={}",
                self.node_dir(node).join(NODE_HOME).display()
            ))
            .args(["LC_ALL=C", "LANG=C"]);
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
        if self.is_vm() {
            // Corosync and Pacemaker start with the guest, as enabled units do.
            return self.start_vm(node);
        }
        self.reset_node_network(node)?;
        self.start_anchor(node)?;
        self.start_corosync(node)?;
        self.wait_corosync(node)?;
        self.start_pacemaker(node)
    }

    pub(super) fn prepare_node_dir(
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
                _ => (0o755, None),
            };
            mkdir_mode(&d.join(sub), mode, owner)?;
        }
        mkdir_mode(&d.join(NODE_HOME), 0o700, None)?;
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

    pub(super) fn start_anchor(&self, node: &str) -> Result<(), LabError> {
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

    pub(super) fn start_corosync(&self, node: &str) -> Result<(), LabError> {
        let log = self.node_dir(node).join("corosync.stdout");
        self.spawn_in(node, &["corosync", "-f"], &log).map(|_| ())
    }

    pub(super) fn wait_corosync(&self, node: &str) -> Result<(), LabError> {
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

    pub(super) fn start_pacemaker(&self, node: &str) -> Result<(), LabError> {
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
}
