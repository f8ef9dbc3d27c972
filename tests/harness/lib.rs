//! Shared helpers of the end-to-end suites. Each suite is one `[[test]]` in `tests/Cargo.toml`;
//! the components they need (Pacemaker, Corosync, ipmi_sim, slapd, QEMU) run for real.

pub mod cib;
pub mod instance;
pub mod slapd;

use std::path::PathBuf;
use std::time::Duration;

pub use axha_exec::{Cmd, Deadline};

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
pub mod bmc;
pub mod drbdvm;
pub mod lab;
