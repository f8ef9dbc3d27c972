//! What a VM boots from, built from Debian packages and cached in [`cache_root`]:
//!
//! - QEMU and its firmware, `apt-get download`ed and unpacked (never installed: some Debian 12
//!   images carry a backports qemu-utils that blocks installing qemu-system-x86), with every
//!   library of their dependency closure this machine lacks;
//! - Debian's kernel: the ELF inside its xz-compressed bzImage (booted through PVH, faster than
//!   the bzImage under TCG) and the modules the guests load;
//! - the guest root file system: `mmdebstrap` of Debian 12 with Pacemaker, Corosync,
//!   resource-agents, crmsh and the tools the agents call (maintainer scripts run, so users,
//!   groups and directories are as on an installed node), plus drbd-utils' files (unpacked: its
//!   package conflicts with current base-files over `/var/lock`) and the kernel modules, written
//!   to an ext4 image with `mke2fs -d`. Both guests boot it read-only, under a tmpfs overlay;
//! - a small initramfs (busybox and the modules to reach the root image) that mounts it and
//!   switches to it, after copying in the per-lab files of [`super::Payload`].
//!
//! Assets are keyed by the package file names and [`ASSET_REVISION`]; a build holds a lock
//! so two processes never build the same assets at once.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_exec::{Cmd, Deadline};

use super::cpio::CpioWriter;
use crate::LabError;

/// Bump when the content of the assets changes in a way the key cannot see.
pub const ASSET_REVISION: &str = "guest-1";

/// Where VM assets are cached (outside any checkout, so fresh clones reuse them); the
/// `AXHA_VM_CACHE` environment variable moves it.
pub fn cache_root() -> PathBuf {
    std::env::var_os("AXHA_VM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/axigen-ha-vm"))
}

/// QEMU and its firmware.
pub const QEMU_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "qemu-system-common",
    "qemu-system-data",
    "seabios",
];

/// DRBD's user-space tools (unpacked into the guest, see the module docs).
pub const DRBD_PACKAGE: &str = "drbd-utils";

/// Files of [`DRBD_PACKAGE`] the guests need: (path in the package, path in the guest).
pub const DRBD_FILES: &[(&str, &str)] = &[
    ("sbin/drbdadm", "/usr/sbin/drbdadm"),
    ("sbin/drbdsetup", "/usr/sbin/drbdsetup"),
    ("sbin/drbdmeta", "/usr/sbin/drbdmeta"),
    ("lib/drbd/drbdadm-84", "/usr/lib/drbd/drbdadm-84"),
    ("lib/drbd/drbdsetup-84", "/usr/lib/drbd/drbdsetup-84"),
    (
        "usr/lib/ocf/resource.d/linbit/drbd",
        "/usr/lib/ocf/resource.d/linbit/drbd",
    ),
    (
        "usr/lib/ocf/resource.d/linbit/drbd.shellfuncs.sh",
        "/usr/lib/ocf/resource.d/linbit/drbd.shellfuncs.sh",
    ),
];

/// Debian packages of the guest root (with their dependencies).
pub const GUEST_PACKAGES: &[&str] = &[
    "pacemaker",
    "pacemaker-cli-utils",
    "corosync",
    "resource-agents",
    "crmsh",
    "iproute2",
    "kmod",
    "e2fsprogs",
    "util-linux",
    "procps",
    "psmisc",
    "busybox",
    "libxml2-utils",
];

/// Kernel modules the initramfs loads, in order, to reach the root image (virtio disk and
/// network, ext4, overlay).
const INITRAMFS_MODULES: &[&str] = &[
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
    "lib/crc16.ko",
    "fs/mbcache.ko",
    "fs/jbd2/jbd2.ko",
    "crypto/crc32c_generic.ko",
    "fs/ext4/ext4.ko",
    "fs/overlayfs/overlay.ko",
    // Entropy: without it getrandom blocks and every Pacemaker IPC connection waits ~1 s.
    "drivers/char/hw_random/virtio-rng.ko",
];

/// Kernel modules installed in the guest root for `modprobe` (DRBD and what it needs).
const ROOT_MODULES: &[&str] = &[
    "drivers/block/drbd/drbd.ko",
    "lib/lru_cache.ko",
    "lib/libcrc32c.ko",
    "crypto/crc32c_generic.ko",
];

/// The initramfs's init: load the modules, mount the root image read-only under a tmpfs
/// overlay, copy in the lab's payload, switch to it and run its init.
const INITRAMFS_INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
dmesg -n 1
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m || echo "AXHA insmod $m failed"; done
fail() { echo "AXHA-FAIL $*"; exec sh; }
mount -t ext4 -o ro /dev/vdb /lower || fail "mount of the root image"
mount -t tmpfs -o size=384m,mode=755 upper /upper || fail "tmpfs"
mkdir -p /upper/u /upper/w
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w root /newroot || fail overlay
cp -a /payload/. /newroot/ || fail "copying the payload"
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/busybox init
"#;

/// The built pieces a VM boots from.
#[derive(Debug, Clone)]
pub struct Assets {
    /// The assets directory.
    pub dir: PathBuf,
    /// Uncompressed ELF kernel.
    pub kernel: PathBuf,
    /// The base initramfs (newc cpio); a lab appends its payload archive.
    pub initramfs: PathBuf,
    /// The guest root file system image (ext4, booted read-only).
    pub root_image: PathBuf,
    /// `qemu-system-x86_64`.
    pub qemu: PathBuf,
    /// Directory of QEMU's firmware (`-L`).
    pub firmware_dir: PathBuf,
    /// QEMU's module directory (`QEMU_MODULE_DIR`).
    pub qemu_module_dir: PathBuf,
    /// `LD_LIBRARY_PATH` for the unpacked QEMU.
    pub ld_library_path: String,
    /// The kernel release, e.g. `6.1.0-57-amd64`.
    pub kernel_release: String,
}

fn step_err(what: &str, e: axha_exec::ExecError) -> LabError {
    LabError::exec(format!("building the VM assets: {what}"), e)
}

fn run_ok(what: &str, cmd: Cmd, secs: u64) -> Result<String, LabError> {
    cmd.run_ok(&Deadline::after(Duration::from_secs(secs)))
        .map(|o| o.stdout_str())
        .map_err(|e| step_err(what, e))
}

/// FNV-1a, stable across toolchains (the std hasher is not), for cache keys.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// An exclusive `flock` on a file, released on drop.
pub struct FileLock(fs::File);

impl FileLock {
    /// Wait for the lock on `path` (created if missing).
    pub fn acquire(path: &Path) -> Result<FileLock, LabError> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| LabError::io(path, e))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(LabError::io(path, std::io::Error::last_os_error()));
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The `linux-image-<version>` package `linux-image-amd64` depends on.
pub fn kernel_package() -> Result<String, LabError> {
    let out = run_ok(
        "apt-cache depends linux-image-amd64",
        Cmd::new("apt-cache").args(["depends", "linux-image-amd64"]),
        60,
    )?;
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| {
            p.starts_with("linux-image-") && p.as_bytes().get(12).is_some_and(u8::is_ascii_digit)
        })
        .map(str::to_string)
        .ok_or_else(|| LabError::BadState {
            path: PathBuf::from("apt-cache depends linux-image-amd64"),
            reason: "names no linux-image-<version> package".into(),
        })
}

/// `pkg` and the packages it needs, recursively (Depends and Pre-Depends), less those
/// installed on this machine.
pub fn missing_dependency_closure(pkg: &str) -> Result<Vec<String>, LabError> {
    let out = run_ok(
        "apt-cache depends --recurse",
        Cmd::new("apt-cache").args([
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            pkg,
        ]),
        60,
    )?;
    // Package lines start in column 0; virtual packages are shown as <name>.
    let closure: BTreeSet<&str> = out
        .lines()
        .filter(|l| !l.starts_with([' ', '<']) && !l.contains(':'))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let status = run_ok(
        "dpkg-query",
        Cmd::new("dpkg-query").args(["-W", "-f", "${Package} ${db:Status-Status}\n"]),
        30,
    )?;
    let installed: BTreeSet<&str> = status
        .lines()
        .filter_map(|l| l.strip_suffix(" installed"))
        .collect();
    Ok(closure
        .into_iter()
        .filter(|p| !installed.contains(p))
        .map(str::to_string)
        .collect())
}

/// The newest `<pkg>_*.deb` in `debs`.
pub fn deb_for(debs: &Path, pkg: &str) -> Option<PathBuf> {
    let prefix = format!("{pkg}_");
    let mut found: Vec<PathBuf> = fs::read_dir(debs)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// `apt-get download` every package of `pkgs` that has no .deb in `debs` yet; returns the
/// .deb of each, in order.
pub fn download(debs: &Path, pkgs: &[String]) -> Result<Vec<PathBuf>, LabError> {
    fs::create_dir_all(debs).map_err(|e| LabError::io(debs, e))?;
    let missing: Vec<&String> = pkgs.iter().filter(|p| deb_for(debs, p).is_none()).collect();
    if !missing.is_empty() {
        run_ok(
            "apt-get download",
            Cmd::new("apt-get")
                .arg("download")
                .args(missing.iter().map(|s| s.as_str()))
                .current_dir(debs),
            900,
        )?;
    }
    pkgs.iter()
        .map(|p| {
            deb_for(debs, p).ok_or_else(|| LabError::BadState {
                path: debs.to_path_buf(),
                reason: format!("apt-get download {p} left no .deb"),
            })
        })
        .collect()
}

/// Every package QEMU needs that is not installed here, QEMU's own first.
pub fn qemu_packages() -> Result<Vec<String>, LabError> {
    let mut wanted: Vec<String> = QEMU_PACKAGES.iter().map(|p| p.to_string()).collect();
    for p in missing_dependency_closure(QEMU_PACKAGES[0])? {
        if !wanted.contains(&p) {
            wanted.push(p);
        }
    }
    Ok(wanted)
}

/// Unpack QEMU's packages into `dir/qroot` and link their firmware into `dir/firmware`.
pub fn unpack_qemu(dir: &Path, debs: &[PathBuf]) -> Result<(), LabError> {
    let q = dir.join("qroot");
    for d in debs {
        run_ok(
            "unpacking QEMU",
            Cmd::new("dpkg-deb").arg("-x").arg(d).arg(&q),
            120,
        )?;
    }
    let fw = dir.join("firmware");
    fs::create_dir_all(&fw).map_err(|e| LabError::io(&fw, e))?;
    for src in [q.join("usr/share/qemu"), q.join("usr/share/seabios")] {
        for e in fs::read_dir(&src).map_err(|e| LabError::io(&src, e))? {
            let e = e.map_err(|e| LabError::io(&src, e))?;
            let target = fs::canonicalize(e.path()).unwrap_or(e.path());
            let _ = std::os::unix::fs::symlink(target, fw.join(e.file_name()));
        }
    }
    Ok(())
}

/// Unpack the kernel package into `kroot` and write its uncompressed ELF to `vmlinux`;
/// returns the kernel release.
pub fn unpack_kernel(kernel_deb: &Path, kroot: &Path, vmlinux: &Path) -> Result<String, LabError> {
    run_ok(
        "unpacking the kernel",
        Cmd::new("dpkg-deb").arg("-x").arg(kernel_deb).arg(kroot),
        300,
    )?;
    let mods = kroot.join("lib/modules");
    let release = fs::read_dir(&mods)
        .map_err(|e| LabError::io(&mods, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .next()
        .ok_or_else(|| LabError::BadState {
            path: mods.clone(),
            reason: "no kernel release in the package".into(),
        })?;
    let vmlinuz = kroot.join(format!("boot/vmlinuz-{release}"));
    let bz = fs::read(&vmlinuz).map_err(|e| LabError::io(&vmlinuz, e))?;
    let at = bz
        .windows(6)
        .position(|w| w == b"\xfd7zXZ\x00")
        .ok_or_else(|| LabError::BadState {
            path: vmlinuz.clone(),
            reason: "no xz stream inside the kernel image".into(),
        })?;
    let xz = vmlinux.with_extension("xz");
    fs::write(&xz, &bz[at..]).map_err(|e| LabError::io(&xz, e))?;
    let elf = Cmd::new("xz")
        .args(["-dc", "--single-stream", "-q"])
        .arg(&xz)
        .max_output(256 << 20)
        .run(&Deadline::after(Duration::from_secs(120)))
        .map_err(|e| step_err("decompressing the kernel", e))?;
    let _ = fs::remove_file(&xz);
    if !elf.stdout.starts_with(b"\x7fELF") {
        return Err(LabError::BadState {
            path: vmlinuz,
            reason: "the decompressed kernel is not an ELF file".into(),
        });
    }
    fs::write(vmlinux, &elf.stdout).map_err(|e| LabError::io(vmlinux, e))?;
    Ok(release)
}

fn debian_sources() -> Option<PathBuf> {
    [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| fs::metadata(p).is_ok_and(|m| m.len() > 0))
}

fn copy(src: &Path, dst: &Path) -> Result<(), LabError> {
    if let Some(d) = dst.parent() {
        fs::create_dir_all(d).map_err(|e| LabError::io(d, e))?;
    }
    fs::copy(src, dst).map_err(|e| LabError::io(src, e))?;
    Ok(())
}

/// Build the guest root tree in `tree` and its image `image`.
fn build_root(
    tmp: &Path,
    kroot: &Path,
    release: &str,
    drbd_deb: &Path,
    image: &Path,
) -> Result<(), LabError> {
    let tree = tmp.join("tree");
    let mut mm = Cmd::new("mmdebstrap")
        .args(["--quiet", "--mode=root", "--variant=minbase"])
        .arg(format!("--include={}", GUEST_PACKAGES.join(",")))
        .args([
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--format=directory",
            "bookworm",
        ])
        .arg(&tree);
    if let Some(s) = debian_sources() {
        mm = mm.arg(s);
    }
    run_ok("mmdebstrap of the guest root", mm, 1800)?;
    // drbd-utils' files.
    let droot = tmp.join("droot");
    run_ok(
        "unpacking drbd-utils",
        Cmd::new("dpkg-deb").arg("-x").arg(drbd_deb).arg(&droot),
        120,
    )?;
    for (in_deb, guest) in DRBD_FILES {
        let dst = tree.join(guest.trim_start_matches('/'));
        copy(&droot.join(in_deb), &dst)?;
    }
    // drbdadm looks for its version helpers in /lib/drbd too (merged /usr: /lib is /usr/lib).
    // Kernel modules for modprobe, with their dependency index.
    let kmods = kroot.join("lib/modules").join(release);
    let gmods = tree.join("lib/modules").join(release);
    for m in ROOT_MODULES {
        copy(&kmods.join("kernel").join(m), &gmods.join("kernel").join(m))?;
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        if kmods.join(f).is_file() {
            copy(&kmods.join(f), &gmods.join(f))?;
        }
    }
    run_ok(
        "depmod of the guest modules",
        Cmd::new("depmod").arg("-b").arg(&tree).arg(release),
        120,
    )?;
    // Size: what the tree holds plus a margin (the image is read-only in the guests).
    let du = run_ok(
        "du of the guest root",
        Cmd::new("du").args(["-s", "-B1M"]).arg(&tree),
        120,
    )?;
    let used: u64 = du
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(600);
    run_ok(
        "mke2fs of the guest root image",
        Cmd::new("mke2fs")
            .args([
                "-q",
                "-t",
                "ext4",
                "-O",
                "^has_journal",
                "-L",
                "axroot",
                "-d",
            ])
            .arg(&tree)
            .arg(image)
            .arg(format!("{}M", used + used / 4 + 64)),
        600,
    )?;
    let _ = fs::remove_dir_all(&tree);
    let _ = fs::remove_dir_all(&droot);
    Ok(())
}

/// The base initramfs: a static busybox, the modules of [`INITRAMFS_MODULES`] and the init.
fn build_initramfs(kroot: &Path, release: &str, out: &Path) -> Result<(), LabError> {
    let mut w = CpioWriter::new(Vec::new());
    let mem = |e: std::io::Error| LabError::io(out, e);
    for d in [
        "/bin",
        "/dev",
        "/proc",
        "/sys",
        "/lower",
        "/upper",
        "/newroot",
        "/payload",
        "/lib",
        "/lib/modules",
    ] {
        w.dir(d).map_err(mem)?;
    }
    w.char_dev("/dev/console", 0o600, 5, 1).map_err(mem)?;
    w.char_dev("/dev/null", 0o666, 1, 3).map_err(mem)?;
    let bb = Path::new("/bin/busybox");
    let data = fs::read(bb).map_err(|e| LabError::io(bb, e))?;
    w.file("/bin/busybox", 0o755, &data).map_err(mem)?;
    w.file("/init", 0o755, INITRAMFS_INIT.as_bytes())
        .map_err(mem)?;
    let mut order = String::new();
    for m in INITRAMFS_MODULES {
        let src = kroot
            .join("lib/modules")
            .join(release)
            .join("kernel")
            .join(m);
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let data = fs::read(&src).map_err(|e| LabError::io(&src, e))?;
        w.file(&format!("/lib/modules/{name}"), 0o644, &data)
            .map_err(mem)?;
        order.push_str(&name);
        order.push('\n');
    }
    w.file("/lib/modules/order", 0o644, order.as_bytes())
        .map_err(mem)?;
    let bytes = w.finish().map_err(mem)?;
    fs::write(out, bytes).map_err(|e| LabError::io(out, e))
}

impl Assets {
    /// Build (once, cached) or reuse every asset. Needs root (mmdebstrap runs maintainer
    /// scripts in the new root) and the network to the Debian mirror on the first run.
    pub fn ensure() -> Result<Assets, LabError> {
        let root = cache_root();
        let debs = root.join("debs");
        fs::create_dir_all(&debs).map_err(|e| LabError::io(&debs, e))?;
        let _lock = FileLock::acquire(&root.join(".lock"))?;
        let mut wanted = vec![kernel_package()?, DRBD_PACKAGE.to_string()];
        wanted.extend(qemu_packages()?);
        let files = download(&debs, &wanted)?;
        let mut key = String::from(ASSET_REVISION);
        for f in &files {
            key.push_str(&f.file_name().unwrap_or_default().to_string_lossy());
        }
        key.push_str(&GUEST_PACKAGES.join(","));
        key.push_str(&ROOT_MODULES.join(","));
        let dir = root.join(format!("guest-{:016x}", fnv(key.as_bytes())));
        if !dir.join("ready").exists() {
            let tmp = root.join(format!("build-{}", std::process::id()));
            let _ = fs::remove_dir_all(&tmp);
            fs::create_dir_all(&tmp).map_err(|e| LabError::io(&tmp, e))?;
            unpack_qemu(&tmp, &files[2..])?;
            let kroot = tmp.join("kroot");
            let release = unpack_kernel(&files[0], &kroot, &tmp.join("vmlinux"))?;
            fs::write(tmp.join("kernel-release"), &release)
                .map_err(|e| LabError::io(tmp.join("kernel-release"), e))?;
            build_root(&tmp, &kroot, &release, &files[1], &tmp.join("root.img"))?;
            let _ = fs::remove_dir_all(&kroot);
            let _ = fs::remove_dir_all(&dir);
            fs::rename(&tmp, &dir).map_err(|e| LabError::io(&dir, e))?;
            fs::write(dir.join("ready"), &key).map_err(|e| LabError::io(dir.join("ready"), e))?;
            // Older asset generations are no longer used by anything of this version.
            if let Ok(entries) = fs::read_dir(&root) {
                for e in entries.flatten() {
                    let n = e.file_name().to_string_lossy().to_string();
                    if n.starts_with("guest-") && e.path() != dir {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        // The initramfs is cheap to rebuild: its own key, so changing it keeps the root image.
        let ikey = format!("{}{}", INITRAMFS_INIT, INITRAMFS_MODULES.join(","));
        let initramfs = dir.join(format!("initramfs-{:016x}.cpio", fnv(ikey.as_bytes())));
        if !initramfs.exists() {
            let kroot = root.join(format!("kroot-{}", std::process::id()));
            let _ = fs::remove_dir_all(&kroot);
            let release = unpack_kernel(&files[0], &kroot, &kroot.join("vmlinux"))?;
            let tmp = initramfs.with_extension("tmp");
            build_initramfs(&kroot, &release, &tmp)?;
            let _ = fs::remove_dir_all(&kroot);
            fs::rename(&tmp, &initramfs).map_err(|e| LabError::io(&initramfs, e))?;
            fs::write(dir.join("initramfs"), initramfs.display().to_string())
                .map_err(|e| LabError::io(dir.join("initramfs"), e))?;
        }
        Assets::at_dir(&dir)
    }

    /// The assets already built in `dir` (a lab records where its assets are).
    pub fn at_dir(dir: &Path) -> Result<Assets, LabError> {
        let q = dir.join("qroot");
        let rel = dir.join("kernel-release");
        let kernel_release = fs::read_to_string(&rel)
            .map_err(|e| LabError::io(&rel, e))?
            .trim()
            .to_string();
        Ok(Assets {
            dir: dir.to_path_buf(),
            kernel: dir.join("vmlinux"),
            initramfs: fs::read_to_string(dir.join("initramfs"))
                .map(|s| PathBuf::from(s.trim()))
                .map_err(|e| LabError::io(dir.join("initramfs"), e))?,
            root_image: dir.join("root.img"),
            qemu: q.join("usr/bin/qemu-system-x86_64"),
            firmware_dir: dir.join("firmware"),
            qemu_module_dir: q.join("usr/lib/x86_64-linux-gnu/qemu"),
            ld_library_path: format!(
                "{}:{}",
                q.join("usr/lib/x86_64-linux-gnu").display(),
                q.join("lib/x86_64-linux-gnu").display()
            ),
            kernel_release,
        })
    }
}
