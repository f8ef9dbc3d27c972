//! Lab nodes that are virtual machines: QEMU (TCG: no KVM is needed) booting Debian's kernel on
//! a Debian 12 root with Pacemaker, Corosync, resource-agents and DRBD 8.4, one VM per node.
//!
//! - [`assets`]: QEMU, the kernel, the guest root image and the initramfs, built from Debian
//!   packages once and cached;
//! - [`cpio`]: the initramfs archive writer;
//! - [`exec`]: the command server in each guest and its client (how `Lab::cmd` reaches a VM);
//! - [`Payload`]: the lab's own files for the guests (agents under test, configuration,
//!   secrets), appended to the initramfs and copied into the root at boot;
//! - [`qemu_cmd`]: how a node's VM is started.
//!
//! Inside a guest, busybox `init` runs [`GUEST_RC`] (file systems, hostname `nI`, addresses,
//! the DRBD module), then the command server, then corosync and Pacemaker ([`GUEST_CLUSTER`]), as
//! a node whose units are enabled would at boot. A VM's three NICs are tap devices in the node's
//! network namespace, each bridged to one of the node's cables: `eth0` the cluster network,
//! `eth1` the management network (BMCs, commands), `eth2` the replication network (DRBD).

pub mod assets;
pub mod cpio;
pub mod exec;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_exec::{Cmd, Deadline};

pub use assets::Assets;

use crate::LabError;

/// Guest memory in MiB (Pacemaker, corosync, the overlay's upper layer and the page cache).
pub const GUEST_MEMORY_MB: u32 = 768;

/// Size of each node's DRBD backing disk (`/dev/vda`, internal metadata).
pub const DISK_MB: u64 = 96;

/// Where the lab's binaries go in the guest: (binary name, guest path).
pub const GUEST_BINARIES: &[(&str, &str)] = &[
    ("instance", "/usr/lib/ocf/resource.d/axigen/instance"),
    ("drbd", "/usr/lib/ocf/resource.d/axigen/drbd"),
    ("fence_axigen_ipmi", "/usr/sbin/fence_axigen_ipmi"),
    ("drbd-fence-peer", "/usr/lib/axigen-ha/drbd-fence-peer"),
    ("axha-lab-node", "/usr/lib/axigen-ha/axha-lab-node"),
    // The Axigen stand-in, where Axigen installs its binary (the agent's default `binary`).
    ("axigen-sim", "/opt/axigen/bin/axigen"),
];

/// The guest's boot script (busybox init's `sysinit`).
pub const GUEST_RC: &str = r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
mkdir -p /run/lock /run/drbd /run/crm /run/resource-agents /var/log/corosync /var/lib/drbd
chown hacluster:haclient /run/crm
I=$(sed -n 's/.*axha_node=\([0-9]*\).*/\1/p' /proc/cmdline)
hostname n$I
ip link set lo up
ip addr add 10.231.0.$I/24 dev eth0
ip addr add 10.231.1.$I/24 dev eth1
ip addr add 10.231.2.$I/24 dev eth2
for d in eth0 eth1 eth2; do ip link set $d up; done
modprobe drbd || echo "AXHA modprobe drbd failed"
echo "AXHA-READY n$I $(cut -d' ' -f1 /proc/uptime)"
"#;

/// Corosync then Pacemaker, as their units would start them.
pub const GUEST_CLUSTER: &str = r#"#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
corosync || { echo "AXHA corosync failed"; exit 1; }
export PCMK_logfile=/var/log/pacemaker/pacemaker.log
exec pacemakerd
"#;

/// busybox init's table: boot script, command server, cluster stack, a console shell.
pub const GUEST_INITTAB: &str = "::sysinit:/etc/axha/rc
::respawn:/usr/lib/axigen-ha/axha-lab-node guest-serve
::once:/etc/axha/cluster
ttyS0::respawn:/bin/sh
";

/// Files for the guests, written as one cpio archive appended to the initramfs; the
/// initramfs copies them into the root before switching to it.
#[derive(Debug, Default)]
pub struct Payload {
    files: Vec<(String, u32, Vec<u8>)>,
}

impl Payload {
    /// An empty payload.
    pub fn new() -> Self {
        Payload::default()
    }

    /// Add a file at `guest_path` with `mode`.
    pub fn file(&mut self, guest_path: &str, mode: u32, data: impl Into<Vec<u8>>) -> &mut Self {
        self.files.push((
            guest_path.trim_start_matches('/').to_string(),
            mode,
            data.into(),
        ));
        self
    }

    /// Add a host binary at `guest_path`, its debug information stripped into `scratch`
    /// first (debug builds are large and every byte is copied into guest memory at boot).
    pub fn binary(
        &mut self,
        host: &Path,
        guest_path: &str,
        scratch: &Path,
    ) -> Result<&mut Self, LabError> {
        let data = strip_debug(host, scratch)?;
        Ok(self.file(guest_path, 0o755, data))
    }

    /// The archive: every file under `/payload`, with its parent directories.
    pub fn to_cpio(&self) -> std::io::Result<Vec<u8>> {
        let mut w = cpio::CpioWriter::new(Vec::new());
        let mut dirs = std::collections::BTreeSet::new();
        for (p, _, _) in &self.files {
            let mut d = Path::new(p).parent();
            while let Some(x) = d.filter(|x| !x.as_os_str().is_empty()) {
                dirs.insert(x.to_path_buf());
                d = x.parent();
            }
        }
        for d in &dirs {
            w.dir(&format!("/payload/{}", d.display()))?;
        }
        for (p, m, data) in &self.files {
            w.file(&format!("/payload/{p}"), *m, data)?;
        }
        w.finish()
    }

    /// Write the initramfs of a lab: the base archive, then this payload.
    pub fn write_initrd(&self, assets: &Assets, out: &Path) -> Result<(), LabError> {
        let mut bytes =
            std::fs::read(&assets.initramfs).map_err(|e| LabError::io(&assets.initramfs, e))?;
        bytes.extend(self.to_cpio().map_err(|e| LabError::io(out, e))?);
        std::fs::write(out, bytes).map_err(|e| LabError::io(out, e))?;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(out, e))
    }
}

/// The bytes of ELF binary `host` with its debug information stripped (`strip --strip-debug`,
/// through a file in `scratch`).
pub fn strip_debug(host: &Path, scratch: &Path) -> Result<Vec<u8>, LabError> {
    let tmp = scratch.join(format!(
        "strip-{}-{}",
        std::process::id(),
        host.file_name().and_then(|n| n.to_str()).unwrap_or("bin")
    ));
    Cmd::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&tmp)
        .arg(host)
        .run_ok(&Deadline::after(Duration::from_secs(60)))
        .map_err(|e| LabError::exec(format!("stripping {}", host.display()), e))?;
    let data = std::fs::read(&tmp).map_err(|e| LabError::io(&tmp, e));
    let _ = std::fs::remove_file(&tmp);
    data
}

/// The tap devices of a node's VM, in NIC order (eth0 cluster, eth1 management, eth2
/// replication), in the node's network namespace.
pub const TAPS: [&str; 3] = ["tc", "tm", "tr"];

/// The QEMU command of node `i`'s VM, run in network namespace `netns` (`ip netns exec`
/// becomes QEMU): `disk` is its DRBD backing disk (`/dev/vda`), the root image is `/dev/vdb`
/// (read-only, shared by every VM), the console is a unix socket whose output is also logged.
#[allow(clippy::too_many_arguments)]
pub fn qemu_cmd(
    assets: &Assets,
    netns: &str,
    i: usize,
    initrd: &Path,
    disk: &Path,
    console: &Path,
    console_log: &Path,
    pidfile: &Path,
) -> Cmd {
    let mut c = Cmd::new("ip")
        .args(["netns", "exec", netns])
        .arg(&assets.qemu)
        .env("QEMU_MODULE_DIR", &assets.qemu_module_dir)
        .env("LD_LIBRARY_PATH", &assets.ld_library_path)
        .arg("-L")
        .arg(&assets.firmware_dir)
        .args(["-accel", "tcg,thread=single,tb-size=512", "-machine", "pc"])
        .args(["-m", &GUEST_MEMORY_MB.to_string(), "-smp", "1"])
        .args(["-nodefaults", "-no-user-config", "-display", "none"])
        .args(["-monitor", "none", "-no-reboot", "-pidfile"])
        .arg(pidfile)
        .arg("-chardev")
        .arg(format!(
            "socket,id=s0,path={},server=on,wait=off,logfile={}",
            console.display(),
            console_log.display()
        ))
        .args(["-serial", "chardev:s0", "-kernel"])
        .arg(&assets.kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(format!(
            "console=ttyS0 panic=-1 quiet loglevel=1 mitigations=off axha_node={i}"
        ))
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio,cache=unsafe",
            disk.display()
        ))
        .arg("-drive")
        .arg(format!(
            "file={},format=raw,if=virtio,readonly=on",
            assets.root_image.display()
        ))
        .args(["-device", "virtio-rng-pci"]);
    for (k, tap) in TAPS.iter().enumerate() {
        c = c
            .arg("-netdev")
            .arg(format!("tap,id=n{k},ifname={tap},script=no,downscript=no"))
            .arg("-device")
            .arg(format!(
                "virtio-net-pci,netdev=n{k},mac=52:54:00:31:{k:02x}:{i:02x},romfile="
            ));
    }
    c
}

/// The guest path of a node's BMC password file.
pub fn bmc_password_path(node: &str) -> String {
    format!("/etc/axigen-ha/bmc-{node}.pass")
}

/// The guest path of the instance's CLI password file.
pub const CLI_PASSWORD_PATH: &str = "/etc/axigen-ha/mail-cli.pass";

/// The state-directory files of node `node`'s VM.
pub fn vm_files(node_dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    (
        node_dir.join("disk.img"),
        node_dir.join("console.sock"),
        node_dir.join("console.log"),
        node_dir.join("qemu.pid"),
    )
}
