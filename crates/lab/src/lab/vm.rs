//! VM nodes (see [`crate::vm`]): the two-node architecture whole, in two QEMU guests running
//! Pacemaker, Corosync and DRBD 8.4, each with a BMC on the host side whose power off ends the
//! guest's QEMU at once.
//!
//! A VM node keeps the namespace lab's shape, so partitions, power, status and teardown work
//! unchanged: the node's network namespace holds one bridge per cable (cluster, management,
//! replication) with the VM's tap device on it; QEMU runs in that namespace and is the node's
//! anchor (the node is on while it lives); commands reach the guest through its command server
//! on the management network, from the hub namespace. The hub also has an address on the
//! cluster network (10.231.0.254): the client outside the guests that checks the service IP.
//!
//! The cluster's configuration is the shipped template `two-node-active-passive` with
//! `storage = "drbd"`, rendered from a values file written to the state directory (the same
//! file `axigen-ha cib render two-node-active-passive --values` takes), and loaded whole.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axha_exec::{read_identity, Cmd, Deadline};

use super::network::{ip, BRIDGE};
use super::{tail_of, ONLINE_TIMEOUT};
use crate::anchor::ANCHOR_FILE;
use crate::fencing::{bmc_addr, random_bytes, random_password, BMC_USER};
use crate::spec::{LAB_MGMT_NET, LAB_PREFIX};
use crate::vm::exec::GUEST_EXEC_PORT;
use crate::vm::{self, Assets, Payload, GUEST_BINARIES, TAPS};
use crate::{Lab, LabError};

/// The replication network's bridge in the hub (10.231.2.0/24).
pub(super) const REPL_BRIDGE: &str = "br2";
/// The hub's own address on the cluster network: where clients outside the guests run.
pub const OUTSIDE_ADDR: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 254);
/// The instance's service IP in the two-node VM lab.
pub const VM_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 100);
/// The DRBD resource of the two-node VM lab.
pub const DRBD_RESOURCE: &str = "r0";
/// The instance (and its group's prefix) of the two-node VM lab.
pub const VM_INSTANCE: &str = "mail";
/// Where the instance's file system is mounted in the guests.
pub const VM_MOUNTPOINT: &str = "/var/opt/axigen";
/// How long the instance may take to answer after the configuration is loaded (the shell
/// agents are slow under TCG: a Filesystem monitor takes seconds).
const SERVICE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a VM may take from power on until its command server answers (TCG is slow).
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// Which of a node's links [`Lab::cut_link`] cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The cluster network (corosync; the service IP).
    Cluster,
    /// The replication network (DRBD).
    Replication,
}

impl std::str::FromStr for Link {
    type Err = LabError;
    fn from_str(s: &str) -> Result<Self, LabError> {
        match s {
            "cluster" => Ok(Link::Cluster),
            "replication" => Ok(Link::Replication),
            _ => Err(LabError::InvalidSpec {
                field: "link",
                value: s.to_string(),
                reason: "expected cluster or replication",
            }),
        }
    }
}

/// DRBD 8.4 configuration of the lab's resource: resource-level fencing through the
/// project's handler, as agents/drbd/README.md documents, with node fencing in the cluster
/// (`resource-and-stonith`).
pub fn drbd_res(nodes: &[String]) -> String {
    let mut s = format!(
        "resource {DRBD_RESOURCE} {{
  device /dev/drbd0 minor 0;
  disk /dev/vda;
  meta-disk internal;
  disk {{ fencing resource-and-stonith; resync-rate 500M; c-plan-ahead 0; }}
  net {{ protocol C; connect-int 2; ping-int 2; ping-timeout 10; }}
  handlers {{
    fence-peer          \"/usr/lib/axigen-ha/drbd-fence-peer\";
    after-resync-target \"/usr/lib/axigen-ha/drbd-fence-peer --unfence\";
  }}
"
    );
    for (i, n) in nodes.iter().enumerate() {
        s.push_str(&format!(
            "  on {n} {{ address {}:7789; }}\n",
            repl_addr(i + 1)
        ));
    }
    s.push_str("}\n");
    s
}

/// Address of node i on the replication network (10.231.2.i).
pub fn repl_addr(i: usize) -> Ipv4Addr {
    let i = u8::try_from(i).expect("node index is at most MAX_NODES");
    Ipv4Addr::new(10, 231, 2, i)
}

/// The values file of the two-node template for this lab.
pub fn two_node_values(nodes: &[String]) -> String {
    let mut t = String::from(
        "# The two-node VM lab: one instance on DRBD, n1 active; rendered by
# axigen-ha cib render two-node-active-passive --values THIS-FILE
storage = \"drbd\"

[drbd]
resource = \"r0\"

[fencing]
delay_node = \"n1\"
delay_seconds = 5

[cluster]
name = \"axigen\"

",
    );
    for (i, n) in nodes.iter().enumerate() {
        let bmc = bmc_addr(i + 1);
        t.push_str(&format!(
            "[[nodes]]\nname = \"{n}\"\naddress = \"{}\"\nbmc = {{ ip = \"{}\", port = {}, user = \"{BMC_USER}\", password_file = \"{}\" }}\n\n",
            crate::spec::node_addr(i + 1),
            bmc.ip(),
            bmc.port(),
            vm::bmc_password_path(n),
        ));
    }
    t.push_str(&format!(
        "[[instances]]\nid = \"{VM_INSTANCE}\"\nworkdir = \"{VM_MOUNTPOINT}\"\nip = \"{VM_SERVICE_IP}\"\ncidr = {LAB_PREFIX}\ndevice = \"/dev/drbd0\"\nmountpoint = \"{VM_MOUNTPOINT}\"\nfstype = \"ext4\"\npreferred_node = \"n1\"\ncli_password_file = \"{}\"\n",
        vm::CLI_PASSWORD_PATH
    ));
    t
}

impl Lab {
    /// True when the lab's nodes are VMs.
    pub fn is_vm(&self) -> bool {
        self.conf.kind == crate::spec::NodeKind::Vm
    }

    /// Address of a VM node's command server (its management address).
    fn guest_addr(&self, node: &str) -> Result<SocketAddr, LabError> {
        let i = self.check_node(node)?;
        let i = u8::try_from(i).expect("node index is at most MAX_NODES");
        Ok(SocketAddr::from((
            Ipv4Addr::new(LAB_MGMT_NET[0], LAB_MGMT_NET[1], LAB_MGMT_NET[2], i),
            GUEST_EXEC_PORT,
        )))
    }

    /// The command that runs `argv` in a VM node, through its command server.
    pub(super) fn guest_cmd(
        &self,
        node: &str,
        env: &[(&str, &str)],
        argv: &[&str],
    ) -> Result<Cmd, LabError> {
        let addr = self.guest_addr(node)?;
        let mut c = Cmd::new(&self.conf.helper)
            .arg("guest-exec")
            .arg("--netns")
            .arg(Path::new("/run/netns").join(self.hub_netns()))
            .arg("--addr")
            .arg(addr.to_string());
        for (k, v) in env {
            c = c.arg("--env").arg(format!("{k}={v}"));
        }
        Ok(c.arg("--").args(argv))
    }

    /// Cut one of a node's links (its hub-side cable goes down); [`Lab::restore_link`] plugs
    /// it back. [`Lab::partition`] is `cut_link(node, Link::Cluster)`.
    pub fn cut_link(&self, node: &str, link: Link) -> Result<(), LabError> {
        match link {
            Link::Cluster => self.partition(node),
            Link::Replication => self.set_repl_link(node, false),
        }
    }

    /// Plug a cut link back in.
    pub fn restore_link(&self, node: &str, link: Link) -> Result<(), LabError> {
        match link {
            Link::Cluster => self.heal(node),
            Link::Replication => self.set_repl_link(node, true),
        }
    }

    fn set_repl_link(&self, node: &str, up: bool) -> Result<(), LabError> {
        self.check_node(node)?;
        if !self.is_vm() {
            return Err(LabError::InvalidSpec {
                field: "link",
                value: "replication".into(),
                reason: "only VM labs have a replication network",
            });
        }
        let hub = self.hub_netns();
        ip(&[
            "-n",
            &hub,
            "link",
            "set",
            &format!("r{node}"),
            if up { "up" } else { "down" },
        ])?;
        let marker = self.node_dir(node).join("replication-cut");
        if up {
            let _ = std::fs::remove_file(&marker);
            Ok(())
        } else {
            std::fs::write(&marker, b"").map_err(|e| LabError::io(marker, e))
        }
    }

    /// The first line a TCP service at `ip:port` sends, read from outside the nodes (the hub
    /// namespace, 10.231.0.254 in a VM lab).
    pub fn greeting_outside(&self, ip: Ipv4Addr, port: u16) -> Option<String> {
        self.greeting_in(&self.hub_netns(), ip, port)
    }

    /// The network side of a VM lab: the replication bridge and the outside client's address
    /// in the hub, and in each node's namespace a bridge per cable with the VM's tap on it.
    pub(super) fn build_vm_network(&self) -> Result<(), LabError> {
        let hub = self.hub_netns();
        ip(&["-n", &hub, "link", "add", REPL_BRIDGE, "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", REPL_BRIDGE, "up"])?;
        let outside = format!("{OUTSIDE_ADDR}/{LAB_PREFIX}");
        ip(&["-n", &hub, "addr", "add", &outside, "dev", BRIDGE])?;
        for n in self.nodes() {
            let ns = self.netns_name(&n);
            let rveth = format!("r{n}");
            ip(&[
                "-n", &hub, "link", "add", &rveth, "type", "veth", "peer", "name", "eth2", "netns",
                &ns,
            ])?;
            ip(&[
                "-n",
                &hub,
                "link",
                "set",
                &rveth,
                "master",
                REPL_BRIDGE,
                "up",
            ])?;
            for (k, (cable, tap)) in ["eth0", "eth1", "eth2"].iter().zip(TAPS).enumerate() {
                let br = format!("b{k}");
                ip(&["-n", &ns, "addr", "flush", "dev", cable])?;
                ip(&["-n", &ns, "link", "add", &br, "type", "bridge"])?;
                ip(&["-n", &ns, "tuntap", "add", "dev", tap, "mode", "tap"])?;
                ip(&["-n", &ns, "link", "set", cable, "master", &br, "up"])?;
                ip(&["-n", &ns, "link", "set", tap, "master", &br, "up"])?;
                ip(&["-n", &ns, "link", "set", &br, "up"])?;
            }
        }
        Ok(())
    }

    /// The guests' payload: the lab's binaries, the cluster, DRBD and template configuration,
    /// the secrets; written as the lab's initramfs.
    pub(super) fn write_vm_payload(
        &self,
        assets: &Assets,
        binaries: &Path,
    ) -> Result<(), LabError> {
        let nodes = self.nodes();
        let vmdir = self.state_dir.join("vm");
        super::mkdir_mode(&vmdir, 0o700, None)?;
        let mut p = Payload::new();
        for (name, guest) in GUEST_BINARIES {
            let host = binaries.join(name);
            if !host.is_file() {
                return Err(LabError::InvalidSpec {
                    field: "binaries",
                    value: binaries.display().to_string(),
                    reason: "lacks one of instance, drbd, fence_axigen_ipmi, drbd-fence-peer, axha-lab-node, axigen-sim",
                });
            }
            p.binary(&host, guest, &vmdir)?;
        }
        p.file("/etc/inittab", 0o644, vm::GUEST_INITTAB);
        p.file("/etc/axha/rc", 0o755, vm::GUEST_RC);
        p.file("/etc/axha/cluster", 0o755, vm::GUEST_CLUSTER);
        let mut hosts = String::from("127.0.0.1 localhost\n");
        for (i, n) in nodes.iter().enumerate() {
            hosts.push_str(&format!("{} {n}\n", crate::spec::node_addr(i + 1)));
        }
        p.file("/etc/hosts", 0o644, hosts);
        // The template, rendered from the lab's values file: CIB and corosync.conf.
        let values = two_node_values(&nodes);
        let values_file = self.state_dir.join("two-node-active-passive.values.toml");
        std::fs::write(&values_file, &values).map_err(|e| LabError::io(&values_file, e))?;
        let (cib_xml, corosync) = render_two_node(&values)?;
        let cib_file = self.state_dir.join("two-node-active-passive.cib.xml");
        std::fs::write(&cib_file, &cib_xml).map_err(|e| LabError::io(&cib_file, e))?;
        p.file("/etc/corosync/corosync.conf", 0o644, corosync);
        let key = random_bytes(256).map_err(|e| LabError::io("/dev/urandom", e))?;
        p.file("/etc/corosync/authkey", 0o400, key);
        p.file(
            "/etc/drbd.conf",
            0o644,
            "global { usage-count no; }\ninclude \"/etc/drbd.d/*.res\";\n",
        );
        p.file(
            &format!("/etc/drbd.d/{DRBD_RESOURCE}.res"),
            0o644,
            drbd_res(&nodes),
        );
        let bmc_pw = self.bmc_password()?;
        for n in &nodes {
            p.file(&vm::bmc_password_path(n), 0o600, format!("{bmc_pw}\n"));
        }
        let cli_pw = random_password().map_err(|e| LabError::io("/dev/urandom", e))?;
        p.file(vm::CLI_PASSWORD_PATH, 0o600, format!("{cli_pw}\n"));
        p.write_initrd(assets, &vmdir.join("initrd.cpio"))
    }

    /// Power on a VM node: QEMU in the node's namespace, recorded as the node's anchor.
    pub(super) fn start_vm(&self, node: &str) -> Result<(), LabError> {
        let i = self.check_node(node)?;
        let assets = self.vm_assets()?;
        let dir = self.node_dir(node);
        let (disk, sock, log, pidfile) = vm::vm_files(&dir);
        let _ = std::fs::remove_file(&sock);
        let _ = std::fs::remove_file(dir.join(ANCHOR_FILE));
        let initrd = self.state_dir.join("vm").join("initrd.cpio");
        let ns = self.netns_name(node);
        let out = dir.join("qemu.out");
        let pid = vm::qemu_cmd(&assets, &ns, i, &initrd, &disk, &sock, &log, &pidfile)
            .spawn_detached(Some(&out))
            .map_err(|e| LabError::exec(format!("starting the VM of {node}"), e))?;
        // `ip netns exec` becomes QEMU: wait for the exec before recording the identity.
        let qemu = Deadline::after(Duration::from_secs(10)).poll(Duration::from_millis(10), || {
            let id = read_identity(pid)?;
            id.exe
                .as_ref()
                .is_some_and(|e| e.ends_with("qemu-system-x86_64"))
                .then_some(id)
        });
        let Some(qemu) = qemu else {
            return Err(LabError::Timeout {
                what: format!("QEMU of {node} to start"),
                last: tail_of(&out, 3),
            });
        };
        let f = dir.join(ANCHOR_FILE);
        std::fs::write(&f, format!("{}\n", qemu.to_line())).map_err(|e| LabError::io(f, e))
    }

    /// Wait until a VM node's command server answers (the guest has booted).
    pub fn wait_guest(&self, node: &str, timeout: Duration) -> Result<Duration, LabError> {
        let t = Instant::now();
        let mut last = String::new();
        let ok = Deadline::after(timeout).poll(Duration::from_millis(500), || {
            if !self.is_alive(node) {
                last = "the VM is off".into();
                return Some(false);
            }
            match self.run(node, &["true"], Duration::from_secs(5)) {
                Ok(o) if o.status.success() => Some(true),
                Ok(o) => {
                    last = o.stderr_str();
                    None
                }
                Err(e) => {
                    last = e.to_string();
                    None
                }
            }
        });
        match ok {
            Some(true) => Ok(t.elapsed()),
            _ => Err(LabError::Timeout {
                what: format!("{node} to boot (its command server)"),
                last: format!(
                    "{last}; console: {}",
                    tail_of(&self.node_dir(node).join("console.log"), 3)
                ),
            }),
        }
    }

    /// The VM assets (built by `up`, cached).
    fn vm_assets(&self) -> Result<Assets, LabError> {
        let f = self.state_dir.join("vm").join("assets");
        let dir = std::fs::read_to_string(&f).map_err(|e| LabError::io(&f, e))?;
        Assets::at_dir(Path::new(dir.trim()))
    }

    /// Build a VM lab: assets, networks, BMCs, guests, DRBD's first sync and file system,
    /// then the template's configuration; returns when the instance answers IMAP on its
    /// service IP from outside the guests.
    pub(super) fn build_vm(&self, binaries: &Path) -> Result<(), LabError> {
        let t0 = Instant::now();
        let assets = Assets::ensure()?;
        let f = self.state_dir.join("vm").join("assets");
        super::mkdir_mode(&self.state_dir.join("vm"), 0o700, None)?;
        std::fs::write(&f, assets.dir.display().to_string()).map_err(|e| LabError::io(&f, e))?;
        self.build_network()?;
        self.build_vm_network()?;
        self.start_bmcs()?;
        self.write_vm_payload(&assets, binaries)?;
        for n in self.nodes() {
            let (disk, ..) = vm::vm_files(&self.node_dir(&n));
            let f = std::fs::File::create(&disk).map_err(|e| LabError::io(&disk, e))?;
            f.set_len(vm::DISK_MB << 20)
                .map_err(|e| LabError::io(&disk, e))?;
        }
        for n in self.nodes() {
            self.start_vm(&n)?;
        }
        for n in self.nodes() {
            self.wait_guest(&n, BOOT_TIMEOUT)?;
        }
        self.init_drbd()?;
        self.wait_online(ONLINE_TIMEOUT)?;
        let cib = self.state_dir.join("two-node-active-passive.cib.xml");
        let xml = std::fs::read_to_string(&cib).map_err(|e| LabError::io(&cib, e))?;
        self.load_configuration(&xml)?;
        self.wait_service(SERVICE_TIMEOUT)?;
        let _ = std::fs::write(
            self.state_dir.join("up-seconds"),
            format!("{:.1}\n", t0.elapsed().as_secs_f64()),
        );
        Ok(())
    }

    /// Wait until the instance answers IMAP on the service IP from outside the guests.
    pub fn wait_service(&self, timeout: Duration) -> Result<Duration, LabError> {
        let t = Instant::now();
        let rsc = format!("{VM_INSTANCE}-axigen");
        let mut last = String::new();
        let ok = Deadline::after(timeout).poll(Duration::from_millis(250), || {
            match self.greeting_outside(VM_SERVICE_IP, crate::service::IMAP_PORT) {
                Some(g) if g.starts_with("* OK") => Some(()),
                other => {
                    last = format!("greeting {other:?}");
                    None
                }
            }
        });
        match ok {
            Some(()) => Ok(t.elapsed()),
            None => {
                let view = self
                    .view_any()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default();
                Err(LabError::Timeout {
                    what: format!("{rsc} to answer IMAP on {VM_SERVICE_IP} from outside"),
                    last: format!("{last}; {}", view.chars().take(1500).collect::<String>()),
                })
            }
        }
    }

    /// DRBD's disk states of the lab's resource as `node` sees them (`UpToDate/UpToDate`), empty
    /// when the node does not answer.
    pub fn drbd_dstate(&self, node: &str) -> String {
        self.run(
            node,
            &["drbdadm", "dstate", DRBD_RESOURCE],
            Duration::from_secs(20),
        )
        .map(|o| o.stdout_str().trim().to_string())
        .unwrap_or_default()
    }

    /// Power a node on through its BMC, as an operator does with ipmitool from the management
    /// network (from the hub; the password from its file, never on the command line).
    pub fn bmc_power_on(&self, node: &str) -> Result<(), LabError> {
        let bmc = self.bmc_addr(node);
        let pw = self.state_dir.join("bmc").join("password");
        Cmd::new("ip")
            .args([
                "netns",
                "exec",
                &self.hub_netns(),
                "ipmitool",
                "-I",
                "lanplus",
            ])
            .args([
                "-C",
                crate::fencing::BMC_CIPHER,
                "-H",
                &bmc.ip().to_string(),
            ])
            .args(["-p", &bmc.port().to_string(), "-U", BMC_USER, "-f"])
            .arg(&pw)
            .args(["chassis", "power", "on"])
            .run_ok(&Deadline::after(Duration::from_secs(30)))
            .map(|_| ())
            .map_err(|e| LabError::exec(format!("powering {node} on through its BMC"), e))
    }

    /// Bring a VM lab back to health after a scenario: every link up, every node powered on
    /// through its BMC, both online with nothing left to do for the scheduler, DRBD connected
    /// and UpToDate on both sides, the instance answering from outside.
    pub fn restore_health(&self, timeout: Duration) -> Result<(), LabError> {
        for n in self.nodes() {
            self.restore_link(&n, Link::Cluster)?;
            self.restore_link(&n, Link::Replication)?;
            if !self.is_alive(&n) {
                self.bmc_power_on(&n)?;
            }
        }
        let on = Deadline::after(timeout).poll(Duration::from_millis(500), || {
            self.nodes().iter().all(|n| self.is_alive(n)).then_some(())
        });
        if on.is_none() {
            return Err(LabError::Timeout {
                what: "every node powered on".into(),
                last: format!("{:?}", self.alive_nodes()),
            });
        }
        for n in self.nodes() {
            self.wait_guest(&n, timeout)?;
        }
        self.wait_all_online(timeout)?;
        let first = self.first_alive()?;
        // A move that a scenario did not clear would pull the instance on.
        self.run_ok(
            &first,
            &["crm_resource", "--clear", "--resource", &format!("grp-{VM_INSTANCE}")],
            Duration::from_secs(60),
        )?;
        let secs = format!("{}s", timeout.as_secs().max(1));
        self.run_ok(
            &first,
            &["crm_resource", "--wait", "--timeout", &secs],
            timeout + Duration::from_secs(15),
        )?;
        let mut last = String::new();
        let synced = Deadline::after(timeout).poll(Duration::from_secs(1), || {
            last = self
                .nodes()
                .iter()
                .map(|n| self.drbd_dstate(n))
                .collect::<Vec<_>>()
                .join(" ");
            last.split(' ')
                .all(|s| s == "UpToDate/UpToDate")
                .then_some(())
        });
        if synced.is_none() {
            return Err(LabError::Timeout {
                what: "DRBD connected and UpToDate on both nodes".into(),
                last,
            });
        }
        self.wait_service(timeout).map(|_| ())
    }

    /// DRBD's first setup, an administrator's act before the cluster manages it: metadata on
    /// both nodes, the first full sync from n1, the file system and the instance's workdir
    /// on it, then the resource down again for Pacemaker to bring up.
    fn init_drbd(&self) -> Result<(), LabError> {
        let t = Duration::from_secs(120);
        let nodes = self.nodes();
        for n in &nodes {
            self.run_ok(
                n,
                &[
                    "sh",
                    "-c",
                    "yes yes | drbdadm create-md r0 >/dev/null 2>&1; drbdadm up r0",
                ],
                t,
            )?;
        }
        let first = &nodes[0];
        self.run_ok(first, &["drbdadm", "primary", "--force", DRBD_RESOURCE], t)?;
        self.run_ok(first, &["mkfs.ext4", "-q", "-F", "/dev/drbd0"], t)?;
        self.run_ok(first, &["mkdir", "-p", VM_MOUNTPOINT], t)?;
        self.run_ok(first, &["mount", "/dev/drbd0", VM_MOUNTPOINT], t)?;
        let init = self.run(
            first,
            &[
                "/opt/axigen/bin/axigen",
                "init",
                "-W",
                VM_MOUNTPOINT,
                "--address",
                &VM_SERVICE_IP.to_string(),
                "--admin-password-file",
                vm::CLI_PASSWORD_PATH,
            ],
            t,
        );
        self.run_ok(first, &["umount", VM_MOUNTPOINT], t)?;
        let init = init?;
        if !init.status.success() {
            return Err(LabError::BadState {
                path: PathBuf::from(VM_MOUNTPOINT),
                reason: format!("axigen init failed: {}", init.stderr_str().trim()),
            });
        }
        self.run_ok(first, &["drbdadm", "secondary", DRBD_RESOURCE], t)?;
        for n in &nodes {
            self.run_ok(n, &["mkdir", "-p", VM_MOUNTPOINT], t)?;
        }
        let mut last = String::new();
        let synced = Deadline::after(Duration::from_secs(300)).poll(Duration::from_secs(1), || {
            let o = self
                .run(
                    first,
                    &["drbdadm", "dstate", DRBD_RESOURCE],
                    Duration::from_secs(10),
                )
                .ok()?;
            last = o.stdout_str().trim().to_string();
            (last == "UpToDate/UpToDate").then_some(())
        });
        if synced.is_none() {
            return Err(LabError::Timeout {
                what: "DRBD's first sync".into(),
                last,
            });
        }
        for n in &nodes {
            self.run_ok(n, &["drbdadm", "down", DRBD_RESOURCE], t)?;
        }
        Ok(())
    }
}

/// Render the two-node template with `values`: (CIB XML, corosync.conf).
pub fn render_two_node(values: &str) -> Result<(String, String), LabError> {
    let v = axha_cib::parse_values(values).map_err(|e| LabError::BadState {
        path: PathBuf::from("two-node-active-passive.values.toml"),
        reason: e.to_string(),
    })?;
    let t: axha_cib::Template =
        "two-node-active-passive"
            .parse()
            .map_err(|e: axha_cib::CibError| LabError::BadState {
                path: PathBuf::from("two-node-active-passive"),
                reason: e.to_string(),
            })?;
    let cib = axha_cib::build(t, &v).map_err(|e| LabError::BadState {
        path: PathBuf::from("two-node-active-passive.values.toml"),
        reason: e.to_string(),
    })?;
    Ok((
        axha_cib::xml::render(&cib),
        axha_cib::script::render_corosync(&cib),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_values_render_the_drbd_variant_of_the_template() {
        let nodes = crate::spec::node_names(2);
        let (cib, corosync) = render_two_node(&two_node_values(&nodes)).expect("renders");
        for want in [
            r#"id="drbd-r0-clone""#,
            r#"value="/dev/drbd0""#,
            r#"value="10.231.1.201""#,
            r#"value="10.231.0.100""#,
            "/etc/axigen-ha/bmc-n2.pass",
            r#"with-rsc-role="Promoted""#,
        ] {
            assert!(cib.contains(want), "{want} missing from the rendered CIB");
        }
        assert!(corosync.contains("ring0_addr: 10.231.0.2"), "{corosync}");
        assert!(corosync.contains("two_node: 1"), "{corosync}");
        let res = drbd_res(&nodes);
        assert!(res.contains("fencing resource-and-stonith"), "{res}");
        assert!(res.contains("\"/usr/lib/axigen-ha/drbd-fence-peer --unfence\""), "{res}");
        assert!(res.contains("on n2 { address 10.231.2.2:7789; }"), "{res}");
    }

    #[test]
    fn links_parse() {
        assert_eq!("replication".parse::<Link>().unwrap(), Link::Replication);
        assert_eq!("cluster".parse::<Link>().unwrap(), Link::Cluster);
        assert!("both".parse::<Link>().unwrap_err().to_string().contains("both"));
    }
}
