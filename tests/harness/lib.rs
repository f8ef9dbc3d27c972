//! Shared helpers of the end-to-end suites. Each suite is one `[[test]]` in `tests/Cargo.toml`
//! (run one by name: `cargo test -p axha-e2e --test lab`); the components they need
//! (Pacemaker, Corosync, ipmi_sim, slapd, QEMU) run for real. A suite that needs root starts
//! its tests with [`need_root!`]; one that watches for a transient state reads Pacemaker's
//! own record of it ([`history`]).

pub mod api;
pub mod cib;
pub mod fence;
pub mod history;
pub mod instance;
pub mod provision;
pub mod slapd;

use std::path::PathBuf;
use std::time::Duration;

pub use axha_exec::{Cmd, Deadline};

/// A benchmark's count from the environment variable `name` (a whole number), else `default`.
pub fn bench_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The binaries a benchmark measures: `AXHA_BIN_DIR`, else the workspace's release build.
pub fn bench_bins() -> PathBuf {
    std::env::var_os("AXHA_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release"))
}

/// The workspace's target directory (where `make test` built every binary first).
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .join("target")
}

/// Path of a workspace binary (debug profile, or the directory in `AXHA_BIN_DIR`); panics
/// with the command to build it.
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("AXHA_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug"));
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (make test does)",
        p.display()
    );
    p
}

/// A temporary directory `axha-<tag>-XXXXXX` under the system's, removed on drop. Mode 0755
/// as a directory made by hand: daemons the suites start may read it under their own user.
pub fn temp_dir(tag: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(&format!("axha-{tag}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("temporary directory for {tag}: {e}"));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("mode of {}: {e}", dir.path().display()));
    dir
}

/// Wait (until `deadline`) for a daemon to write its pid to `pidfile`; the identity of that
/// process (pid + start time), or `None` when none appeared in time.
pub fn wait_pidfile(
    pidfile: &std::path::Path,
    deadline: &Deadline,
) -> Option<axha_exec::ProcessIdentity> {
    deadline.poll(Duration::from_millis(50), || {
        let pid: u32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
        axha_exec::read_identity(pid)
    })
}

/// Poll `check` until it holds, or panic with `what` after `timeout`. Returns the time taken.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = std::time::Instant::now();
    let d = Deadline::after(timeout);
    if d.poll(Duration::from_millis(200), || check().then_some(()))
        .is_none()
    {
        panic!("timed out after {timeout:?} waiting for {what}");
    }
    start.elapsed()
}

/// True when running as root (the suites that need namespaces skip loudly otherwise).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The one message of a test skipped for want of root.
pub const NEED_ROOT: &str =
    "SKIP: needs root (network and mount namespaces, mounts, loop devices); run the suite as root";

/// Return from the calling test, saying so on stderr, unless it runs as root.
#[macro_export]
macro_rules! need_root {
    () => {
        if !$crate::is_root() {
            eprintln!("{}", $crate::NEED_ROOT);
            return;
        }
    };
}
pub mod bmc;
pub mod drbdvm;
pub mod lab;
