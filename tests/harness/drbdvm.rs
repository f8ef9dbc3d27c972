//! Two QEMU (TCG) virtual machines running real DRBD 8.4 from Debian's kernel, linked by a
//! private UDP "wire", each driven command by command over a serial console on a unix socket.
//!
//! Everything is built here, from Debian packages, without root and without touching the host's
//! network: the kernel and QEMU come from `apt-get download`ed .debs extracted into
//! `target/drbd-vm/` (keyed by the package file names and the host tool versions), the initramfs
//! is written by [`cpio::CpioWriter`] from busybox, drbd-utils, bash, xmllint, resource-agents'
//! `ocf-tester`, `ocf:linbit:drbd` and the kernel modules DRBD needs; the workspace's own agent
//! binaries are appended as a second archive for every run (the glibc builds, with the shared
//! libraries `ldd` names).
//!
//! ```no_run
//! use axha_e2e::drbdvm::{Assets, Overlay, VmPair};
//! let assets = Assets::ensure();
//! let mut pair = VmPair::boot(&assets, &Overlay::new());
//! let out = pair.vm(1).ok("cat /proc/drbd");
//! assert!(out.contains("version: 8.4"));
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axha_exec::{read_identity, Cmd, Deadline, ProcessIdentity};

/// Bump when the content of the base image changes in a way the key below cannot see.
const ASSET_REVISION: &str = "base-6";
/// Host packages whose files go into the guest image (installed through .ci/apt-packages).
const HOST_PACKAGES: &[&str] = &["busybox-static", "bash", "libxml2-utils", "resource-agents"];
/// Kernel modules for virtio disk + net and DRBD, in load order (dependencies first).
const MODULES: &[&str] = &[
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
    "crypto/crc32c_generic.ko",
    "lib/libcrc32c.ko",
    "lib/lru_cache.ko",
    "drivers/block/drbd/drbd.ko",
];
/// Host files copied into the guest at the same path (ELF files bring their libraries).
const HOST_FILES: &[&str] = &[
    "/usr/bin/bash",
    "/usr/bin/xmllint",
    "/usr/sbin/ocf-tester",
    "/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs",
    "/usr/lib/ocf/lib/heartbeat/ocf-binaries",
    "/usr/lib/ocf/lib/heartbeat/ocf-directories",
    "/usr/lib/ocf/lib/heartbeat/ocf-returncodes",
    "/usr/lib/ocf/lib/heartbeat/ocf-distro",
    "/usr/lib/ocf/lib/heartbeat/ocf-rarun",
    "/usr/share/resource-agents/ra-api-1.dtd",
];

/// PID 1 of each guest: mount the pseudo file systems, load the modules, name the node
/// (DRBD matches `on <hostname>` sections), address it, then serve shells on the console.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox mkdir -p /usr/bin /usr/sbin
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/drbd
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mkdir -p /run/drbd /run/lock /var/lock /var/lib/drbd /tmp /var/run/resource-agents
dmesg -n 1
NODE=$(sed -n 's/.*axha_node=\([0-9]*\).*/\1/p' /proc/cmdline)
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "AXHA insmod $m failed"; done
hostname node$NODE
ip link set lo up
ip addr add 10.99.0.$NODE/24 dev eth0
ip link set eth0 up
echo "AXHA-READY node$NODE $(cut -d' ' -f1 /proc/uptime)"
while :; do setsid cttyhack sh; done
"#;

/// DRBD 8.4 resource `r0` on the guests' whole virtio disk. `connect-int 2` and
/// `ping-timeout` keep reconnects and loss detection within a test's patience.
pub const R0_RES: &str = "global { usage-count no; }
common {
  net { protocol C; connect-int 2; ping-int 2; ping-timeout 10; }
  disk { resync-rate 500M; c-plan-ahead 0; }
}
resource r0 {
  device /dev/drbd0 minor 0;
  disk /dev/vda;
  meta-disk internal;
  on node1 { address 10.99.0.1:7789; }
  on node2 { address 10.99.0.2:7789; }
}
";

/// Size of each guest's disk (`/dev/vda`, DRBD's backing device with internal metadata).
pub const DISK_BYTES: u64 = 32 << 20;

/// Where the cached assets live: `target/drbd-vm/`.
pub fn cache_root() -> PathBuf {
    crate::target_dir().join("drbd-vm")
}

/// The built, cached pieces a VM boots from.
#[derive(Debug, Clone)]
pub struct Assets {
    pub dir: PathBuf,
    /// Uncompressed ELF kernel (booted through PVH, faster than the bzImage under TCG).
    pub kernel: PathBuf,
    /// The base initramfs (uncompressed newc cpio).
    pub base_cpio: PathBuf,
    pub qemu: PathBuf,
    pub firmware_dir: PathBuf,
    pub qemu_module_dir: PathBuf,
    pub ld_library_path: String,
    /// The kernel version string, e.g. `6.1.0-56-amd64`.
    pub kernel_release: String,
}

fn run_ok(cmd: Cmd, secs: u64) -> String {
    match cmd.run_ok(&Deadline::after(Duration::from_secs(secs))) {
        Ok(o) => o.stdout_str(),
        Err(e) => panic!("drbd-vm assets: {e}"),
    }
}

/// Resolve `path` on the host (following symlinks) and list the shared libraries `ldd` names
/// for it (empty for scripts and static binaries).
fn shared_libs(path: &Path) -> Vec<PathBuf> {
    let out = Cmd::new("ldd")
        .arg(path)
        .run(&Deadline::after(Duration::from_secs(20)))
        .map(|o| o.stdout_str())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let p = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            p.starts_with('/').then(|| PathBuf::from(p))
        })
        .collect()
}

/// A set of files for the guest, written as one cpio archive; parent directories are created
/// on the way.
pub struct Overlay {
    dirs: BTreeSet<String>,
    files: Vec<(String, u32, Vec<u8>)>,
    links: Vec<(String, String)>,
}

impl Default for Overlay {
    fn default() -> Self {
        Self::new()
    }
}

impl Overlay {
    pub fn new() -> Self {
        Overlay {
            dirs: BTreeSet::new(),
            files: Vec::new(),
            links: Vec::new(),
        }
    }

    fn parents(&mut self, path: &str) {
        let mut p = Path::new(path).parent();
        while let Some(d) = p {
            let s = d.to_string_lossy().to_string();
            if s == "/" || s.is_empty() {
                break;
            }
            self.dirs.insert(s);
            p = d.parent();
        }
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.parents(&format!("{path}/x"));
        self
    }

    pub fn file(&mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) -> &mut Self {
        self.parents(path);
        self.files.push((path.to_string(), mode, data.into()));
        self
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.parents(path);
        self.links.push((path.to_string(), target.to_string()));
        self
    }

    /// Copy a host file to `guest_path`, plus the shared libraries it needs at their own paths.
    pub fn host_file(&mut self, host: &Path, guest_path: &str) -> &mut Self {
        let data = fs::read(host).unwrap_or_else(|e| panic!("read {}: {e}", host.display()));
        let mode = fs::metadata(host)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        if data.starts_with(b"\x7fELF") {
            for lib in shared_libs(host) {
                let g = lib.to_string_lossy().to_string();
                if !self.files.iter().any(|(p, _, _)| *p == g) {
                    let bytes =
                        fs::read(&lib).unwrap_or_else(|e| panic!("read {}: {e}", lib.display()));
                    self.file(&g, 0o755, bytes);
                }
            }
        }
        self.file(guest_path, mode, data)
    }

    /// Copy a host directory tree (regular files and symlinks) to `guest_dir`.
    pub fn host_tree(&mut self, host_dir: &Path, guest_dir: &str) -> &mut Self {
        let entries =
            fs::read_dir(host_dir).unwrap_or_else(|e| panic!("{}: {e}", host_dir.display()));
        for e in entries.flatten() {
            let path = e.path();
            let guest = format!("{guest_dir}/{}", e.file_name().to_string_lossy());
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                if let Ok(t) = fs::read_link(&path) {
                    self.symlink(&guest, &t.to_string_lossy());
                }
            } else if meta.is_dir() {
                self.dir(&guest);
                self.host_tree(&path, &guest);
            } else if meta.is_file() {
                let data =
                    fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                self.file(&guest, meta.permissions().mode() & 0o7777, data);
            }
        }
        self
    }

    /// Copy an ELF binary with its debug information stripped (the debug builds are large and
    /// every byte is copied into guest memory at boot).
    pub fn host_binary_stripped(
        &mut self,
        host: &Path,
        guest_path: &str,
        scratch: &Path,
    ) -> &mut Self {
        let data = axha_lab::vm::strip_debug(host, scratch).unwrap_or_else(|e| panic!("{e}"));
        for lib in shared_libs(host) {
            let g = lib.to_string_lossy().to_string();
            if !self.files.iter().any(|(p, _, _)| *p == g) {
                let bytes =
                    fs::read(&lib).unwrap_or_else(|e| panic!("read {}: {e}", lib.display()));
                self.file(&g, 0o755, bytes);
            }
        }
        self.file(guest_path, 0o755, data)
    }

    pub fn to_cpio(&self) -> Vec<u8> {
        let mut w = cpio::CpioWriter::new(Vec::new());
        for d in &self.dirs {
            w.dir(d).expect("write to memory");
        }
        for (p, m, data) in &self.files {
            w.file(p, *m, data).expect("write to memory");
        }
        for (p, t) in &self.links {
            w.symlink(p, t).expect("write to memory");
        }
        w.finish().expect("write to memory")
    }
}

impl Assets {
    /// Build (once, cached) or reuse the kernel, QEMU and base initramfs. Panics with the
    /// failing step when something is missing (the host packages of `.ci/apt-packages`).
    pub fn ensure() -> Assets {
        let root = cache_root();
        let debs = root.join("debs");
        fs::create_dir_all(&debs).expect("create target/drbd-vm");
        let _lock = assets::FileLock::acquire(&root.join(".lock")).expect("lock the VM cache");
        let mut wanted = vec![
            assets::kernel_package().expect("kernel package"),
            assets::DRBD_PACKAGE.to_string(),
        ];
        wanted.extend(assets::qemu_packages().expect("QEMU's packages"));
        let deb_files = assets::download(&debs, &wanted).unwrap_or_else(|e| panic!("{e}"));
        let host_versions = run_ok(
            Cmd::new("dpkg-query")
                .args(["-W", "-f", "${Package}=${Version}\n"])
                .args(HOST_PACKAGES),
            30,
        );
        let mut key_src = String::from(ASSET_REVISION);
        for f in &deb_files {
            key_src.push_str(&f.file_name().expect("deb name").to_string_lossy());
        }
        key_src.push_str(&host_versions);
        key_src.push_str(INIT);
        key_src.push_str(R0_RES);
        let dir = root.join(format!("assets-{:016x}", assets::fnv(key_src.as_bytes())));
        if !dir.join("ready").exists() {
            let tmp = root.join(format!("build-{}", std::process::id()));
            let _ = fs::remove_dir_all(&tmp);
            fs::create_dir_all(&tmp).expect("create build dir");
            build_assets(&tmp, &deb_files[0], &deb_files[1], &deb_files[2..]);
            let _ = fs::remove_dir_all(&dir);
            fs::rename(&tmp, &dir).expect("publish assets");
            fs::write(dir.join("ready"), &key_src).expect("mark assets ready");
        }
        Assets::at(&dir)
    }

    fn at(dir: &Path) -> Assets {
        let q = dir.join("qroot");
        let kernel_release = fs::read_to_string(dir.join("kernel-release"))
            .expect("kernel-release")
            .trim()
            .to_string();
        Assets {
            dir: dir.to_path_buf(),
            kernel: dir.join("vmlinux"),
            base_cpio: dir.join("base.cpio"),
            qemu: q.join("usr/bin/qemu-system-x86_64"),
            firmware_dir: dir.join("firmware"),
            qemu_module_dir: q.join("usr/lib/x86_64-linux-gnu/qemu"),
            ld_library_path: format!(
                "{}:{}",
                q.join("usr/lib/x86_64-linux-gnu").display(),
                q.join("lib/x86_64-linux-gnu").display()
            ),
            kernel_release,
        }
    }
}

fn build_assets(dir: &Path, kernel_deb: &Path, drbd_deb: &Path, qemu_debs: &[PathBuf]) {
    assets::unpack_qemu(dir, qemu_debs).unwrap_or_else(|e| panic!("{e}"));
    let k = dir.join("kroot");
    let release = assets::unpack_kernel(kernel_deb, &k, &dir.join("vmlinux"))
        .unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.join("kernel-release"), &release).expect("write release");

    // The base initramfs.
    let mut o = Overlay::new();
    for d in [
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/lib64",
        "/etc/drbd.d",
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/tmp",
        "/var/lib/drbd",
        "/var/run",
        "/var/lock",
        "/lib/modules",
    ] {
        o.dir(d);
    }
    o.host_file(Path::new("/bin/busybox"), "/bin/busybox");
    o.file("/init", 0o755, INIT);
    for f in HOST_FILES {
        o.host_file(Path::new(f), f);
    }
    let d = dir.join("droot");
    run_ok(Cmd::new("dpkg-deb").arg("-x").arg(drbd_deb).arg(&d), 120);
    for (in_deb, guest) in assets::DRBD_FILES {
        o.host_file(&d.join(in_deb), guest);
    }
    // drbdadm looks for its version helpers in /lib/drbd as well as /usr/lib/drbd.
    o.symlink("/lib/drbd", "/usr/lib/drbd");
    o.symlink("/bin/bash", "/usr/bin/bash");
    let mut order = String::new();
    for m in MODULES {
        let name = Path::new(m)
            .file_name()
            .expect("module name")
            .to_string_lossy()
            .to_string();
        let src = k.join(format!("lib/modules/{release}/kernel/{m}"));
        o.host_file(&src, &format!("/lib/modules/{name}"));
        order.push_str(&name);
        order.push('\n');
    }
    o.file("/lib/modules/order", 0o644, order);
    o.file("/etc/drbd.conf", 0o644, "include \"/etc/drbd.d/*.res\";\n");
    o.file("/etc/drbd.d/r0.res", 0o644, R0_RES);
    o.file(
        "/etc/hosts",
        0o644,
        "127.0.0.1 localhost\n10.99.0.1 node1\n10.99.0.2 node2\n",
    );
    let mut w = cpio::CpioWriter::new(Vec::new());
    w.char_dev("/dev/console", 0o600, 5, 1).expect("mem");
    w.char_dev("/dev/null", 0o666, 1, 3).expect("mem");
    let mut bytes = w.finish().expect("mem");
    bytes.extend(o.to_cpio());
    fs::write(dir.join("base.cpio"), bytes).expect("write base.cpio");
    fs::remove_dir_all(&k).expect("remove extracted kernel package");
}

/// One guest: its QEMU process and its console.
pub struct Vm {
    pub node: u8,
    qemu: Option<ProcessIdentity>,
    console: UnixStream,
    buf: Vec<u8>,
    seq: u64,
    pub log: PathBuf,
    pub disk: PathBuf,
}

/// A command's result in the guest.
#[derive(Debug, Clone)]
pub struct ShOut {
    pub rc: i32,
    pub out: String,
}

impl Vm {
    fn start(assets: &Assets, dir: &Path, initrd: &Path, node: u8, ports: (u16, u16)) -> Vm {
        let disk = dir.join(format!("disk{node}.img"));
        if !disk.exists() {
            let f = fs::File::create(&disk).expect("create disk image");
            f.set_len(DISK_BYTES).expect("size disk image");
        }
        let sock = dir.join(format!("vm{node}.sock"));
        let _ = fs::remove_file(&sock);
        let log = dir.join(format!("vm{node}.log"));
        let pidfile = dir.join(format!("vm{node}.pid"));
        let _ = fs::remove_file(&pidfile);
        let cmd = Cmd::new(&assets.qemu)
            .env("QEMU_MODULE_DIR", &assets.qemu_module_dir)
            .env("LD_LIBRARY_PATH", &assets.ld_library_path)
            .arg("-L")
            .arg(&assets.firmware_dir)
            .args([
                "-accel",
                "tcg,thread=single,tb-size=64",
                "-machine",
                "pc",
                "-m",
                "512",
            ])
            .args([
                "-smp",
                "1",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
            ])
            .args(["-monitor", "none", "-no-reboot", "-pidfile"])
            .arg(&pidfile)
            .arg("-chardev")
            .arg(format!(
                "socket,id=s0,path={},server=on,wait=off,logfile={}",
                sock.display(),
                log.display()
            ))
            .args(["-serial", "chardev:s0", "-kernel"])
            .arg(&assets.kernel)
            .arg("-initrd")
            .arg(initrd)
            .arg("-append")
            .arg(format!(
                "console=ttyS0 panic=-1 quiet loglevel=1 axha_node={node}"
            ))
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=virtio,cache=unsafe",
                disk.display()
            ))
            .arg("-netdev")
            .arg(format!(
                "socket,id=n0,udp=127.0.0.1:{},localaddr=127.0.0.1:{}",
                ports.1, ports.0
            ))
            .arg("-device")
            .arg(format!(
                "virtio-net-pci,netdev=n0,mac=52:54:00:99:00:0{node},romfile="
            ));
        let pid = cmd
            .spawn_detached(Some(&dir.join(format!("vm{node}.qemu.log"))))
            .unwrap_or_else(|e| panic!("start qemu for node{node}: {e}"));
        let qemu = read_identity(pid);
        let d = Deadline::after(Duration::from_secs(20));
        let console = d
            .poll(Duration::from_millis(50), || {
                UnixStream::connect(&sock).ok()
            })
            .unwrap_or_else(|| {
                let qlog =
                    fs::read_to_string(dir.join(format!("vm{node}.qemu.log"))).unwrap_or_default();
                panic!(
                    "node{node}: no serial console at {}: {qlog}",
                    sock.display()
                )
            });
        Vm {
            node,
            qemu,
            console,
            buf: Vec::new(),
            seq: 0,
            log,
            disk,
        }
    }

    /// Read console output until `pat` appears; returns everything up to and including it.
    pub fn expect(&mut self, pat: &str, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        let mut chunk = [0u8; 65536];
        loop {
            if let Some(i) = find(&self.buf, pat.as_bytes()) {
                let rest = self.buf.split_off(i + pat.len());
                let got = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8_lossy(&got).replace('\r', "");
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "node{}: waiting {timeout:?} for {pat:?}; console tail: {:?}",
                    self.node,
                    String::from_utf8_lossy(&self.buf[self.buf.len().saturating_sub(600)..])
                );
            }
            self.console
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set console timeout");
            match self.console.read(&mut chunk) {
                Ok(0) => panic!(
                    "node{}: console closed (VM ended); log {}",
                    self.node,
                    self.log.display()
                ),
                // The tty maps \n to \r\n (onlcr): keep plain newlines only.
                Ok(n) => self.buf.extend(chunk[..n].iter().filter(|b| **b != b'\r')),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("node{}: console read: {e}", self.node),
            }
        }
    }

    /// Run `cmd` in the guest shell; its exit code and combined output (stderr is folded in).
    /// The markers are built by the shell so that an echo of the command line never matches.
    pub fn sh(&mut self, cmd: &str, timeout: Duration) -> ShOut {
        self.seq += 1;
        let id = format!("{}x{}", std::process::id(), self.seq);
        let line = format!("echo @@B\"\"{id}; {{ {cmd}\n}} 2>&1; echo \"@@RC=$? \"@@E{id}\n");
        self.console
            .write_all(line.as_bytes())
            .expect("write console");
        let begin = format!("@@B{id}\n");
        self.expect(&begin, timeout);
        let end = format!("@@E{id}");
        let body = self.expect(&end, timeout);
        let body = body.strip_suffix(&end).unwrap_or(&body);
        let (out, rc) = body
            .rsplit_once("@@RC=")
            .unwrap_or_else(|| panic!("node{}: no exit code in {body:?}", self.node));
        let rc: i32 = rc
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("bad rc in {body:?}"));
        ShOut {
            rc,
            out: out.trim_end_matches('\n').to_string(),
        }
    }

    /// Run `cmd`, panic unless it exits 0; returns its output.
    pub fn ok(&mut self, cmd: &str) -> String {
        let r = self.sh(cmd, Duration::from_secs(120));
        assert_eq!(
            r.rc, 0,
            "node{}: `{cmd}` exited {}: {}",
            self.node, r.rc, r.out
        );
        r.out
    }

    /// Poll `cmd` until its output satisfies `pred`; panics with `what` and the last output.
    pub fn wait_until(
        &mut self,
        what: &str,
        cmd: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Duration {
        let t = Instant::now();
        let mut last = String::new();
        while t.elapsed() < timeout {
            last = self.sh(cmd, Duration::from_secs(30)).out;
            if pred(&last) {
                return t.elapsed();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "node{}: timed out after {timeout:?} waiting for {what}; last `{cmd}`: {last}",
            self.node
        );
    }

    /// Pull the plug: end QEMU at once (the peer sees the link die, nothing is shut down).
    pub fn kill(&mut self) {
        if let Some(id) = self.qemu.take() {
            if id.is_alive() {
                // SAFETY: signalling the QEMU process this harness started, checked by identity.
                unsafe { libc::kill(id.pid as i32, libc::SIGKILL) };
            }
            let gone = Deadline::after(Duration::from_secs(10))
                .poll(Duration::from_millis(20), || (!id.is_alive()).then_some(()));
            assert!(
                gone.is_some(),
                "node{}: qemu {} survived SIGKILL",
                self.node,
                id
            );
        }
    }

    pub fn is_running(&self) -> bool {
        self.qemu.as_ref().is_some_and(|q| q.is_alive())
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Two guests, node1 and node2, on one private UDP link; their run directory is removed when
/// the pair is dropped (after the QEMU processes are gone); after a failure (or with
/// `AXHA_KEEP_VM_DIR` set) only the console logs stay, under `target/drbd-vm/runs/`.
pub struct VmPair {
    pub dir: PathBuf,
    vms: Vec<Vm>,
    assets: Assets,
    initrd: PathBuf,
    ports: (u16, u16),
}

impl VmPair {
    /// Boot both guests (in parallel) and wait until both shells answer.
    pub fn boot(assets: &Assets, overlay: &Overlay) -> VmPair {
        let pid = std::process::id();
        let dir = cache_root()
            .join("runs")
            .join(format!("{pid}-{}", now_nanos() % 1_000_000));
        fs::create_dir_all(&dir).expect("create run dir");
        let initrd = dir.join("initrd.cpio");
        let mut bytes = fs::read(&assets.base_cpio).expect("read base.cpio");
        bytes.extend(overlay.to_cpio());
        fs::write(&initrd, bytes).expect("write initrd");
        // Ports derived from the pid: distinct between concurrent runs, high and unprivileged.
        let base = 20_000 + (pid % 20_000) as u16 * 2;
        let ports = (base, base + 1);
        let mut pair = VmPair {
            dir,
            vms: Vec::new(),
            assets: assets.clone(),
            initrd,
            ports,
        };
        pair.vms
            .push(Vm::start(assets, &pair.dir, &pair.initrd, 1, ports));
        pair.vms.push(Vm::start(
            assets,
            &pair.dir,
            &pair.initrd,
            2,
            (ports.1, ports.0),
        ));
        for vm in pair.vms.iter_mut() {
            vm.ready();
        }
        pair
    }

    pub fn vm(&mut self, node: u8) -> &mut Vm {
        &mut self.vms[usize::from(node - 1)]
    }

    /// Boot `node` again on the same disk (after [`Vm::kill`]).
    pub fn restart(&mut self, node: u8) {
        let ports = if node == 1 {
            self.ports
        } else {
            (self.ports.1, self.ports.0)
        };
        self.vm(node).kill();
        let mut vm = Vm::start(&self.assets, &self.dir, &self.initrd, node, ports);
        vm.ready();
        self.vms[usize::from(node - 1)] = vm;
    }
}

impl Vm {
    fn ready(&mut self) {
        self.expect("AXHA-READY", Duration::from_secs(120));
        self.expect("\n", Duration::from_secs(10));
        // No echo and no prompt: the console then carries only command output.
        self.console
            .write_all(b"stty -echo; PS1=''; PS2=''\n")
            .expect("write console");
        self.ok("true");
    }
}

impl Drop for VmPair {
    fn drop(&mut self) {
        for vm in self.vms.iter_mut() {
            vm.kill();
        }
        if std::thread::panicking() || std::env::var_os("AXHA_KEEP_VM_DIR").is_some() {
            // Keep the consoles' logs for the post-mortem; drop the bulky images.
            let _ = fs::remove_file(&self.initrd);
            for vm in &self.vms {
                let _ = fs::remove_file(&vm.disk);
            }
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

use axha_lab::vm::assets;
pub use axha_lab::vm::cpio;
