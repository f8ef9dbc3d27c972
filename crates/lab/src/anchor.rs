//! The node anchor: the first process of a lab node. It runs inside the node's network
//! namespace and a fresh mount + UTS namespace (`ip netns exec NS unshare -m -u
//! --propagation private -- axha-lab-node anchor ...`), builds the node's private filesystem
//! view, records who it is, then sleeps: while it lives, `nsenter -t PID -n -m -u` enters the
//! node. Power loss of the node ends it together with every other process of the node.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Per-node directories (under `<state>/nodes/<node>/`) bind-mounted over host paths, so each
/// node has its own corosync/Pacemaker configuration, state and logs.
pub const BINDS: &[(&str, &str)] = &[
    ("etc-corosync", "/etc/corosync"),
    ("var-lib-corosync", "/var/lib/corosync"),
    ("var-lib-pacemaker", "/var/lib/pacemaker"),
    ("log-pacemaker", "/var/log/pacemaker"),
    ("log-corosync", "/var/log/corosync"),
    // crmsh writes /var/log/crmsh/crmsh.log (and ~/.cache/crm, ~/.config/crm: the node's
    // HOME is its own directory, see NODE_HOME; /root itself stays visible, since a tree
    // cloned there holds the binaries the nodes run)
    ("log-crmsh", "/var/log/crmsh"),
];

/// The node's home directory (under `<state>/nodes/<node>/`), given to its commands as `HOME`.
pub const NODE_HOME: &str = "home";

/// Name of the file (in the node directory) where the anchor records its identity.
pub const ANCHOR_FILE: &str = "anchor";

/// What the anchor needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorArgs {
    /// The node's private directories (bound over /etc/corosync, /var/lib/pacemaker, ...).
    pub node_dir: PathBuf,
    /// The node's hostname (its UTS namespace).
    pub hostname: String,
    /// Overlaid (read-only) onto /usr/sbin.
    pub sbin: Option<PathBuf>,
    /// Overlaid (read-only) onto /usr/lib/ocf/resource.d.
    pub ocf: Option<PathBuf>,
}

impl AnchorArgs {
    /// The argv after the program name: `anchor NODE_DIR HOSTNAME [--sbin DIR] [--ocf DIR]`.
    pub fn to_argv(&self) -> Vec<String> {
        let mut v = vec![
            "anchor".to_string(),
            self.node_dir.display().to_string(),
            self.hostname.clone(),
        ];
        if let Some(s) = &self.sbin {
            v.push("--sbin".into());
            v.push(s.display().to_string());
        }
        if let Some(o) = &self.ocf {
            v.push("--ocf".into());
            v.push(o.display().to_string());
        }
        v
    }

    /// Parse what [`AnchorArgs::to_argv`] wrote.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let usage = "usage: axha-lab-node anchor NODE_DIR HOSTNAME [--sbin DIR] [--ocf DIR]";
        let mut it = args.iter();
        if it.next().map(String::as_str) != Some("anchor") {
            return Err(usage.into());
        }
        let node_dir = PathBuf::from(it.next().ok_or(usage)?);
        let hostname = it.next().ok_or(usage)?.clone();
        let mut a = AnchorArgs {
            node_dir,
            hostname,
            sbin: None,
            ocf: None,
        };
        while let Some(flag) = it.next() {
            let val = it.next().ok_or(usage)?;
            match flag.as_str() {
                "--sbin" => a.sbin = Some(val.into()),
                "--ocf" => a.ocf = Some(val.into()),
                _ => return Err(format!("unknown option {flag:?}; {usage}")),
            }
        }
        Ok(a)
    }
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("NUL byte in {s:?}"))
}

fn mount(
    src: &str,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), String> {
    let c_src = cstr(src)?;
    let c_target = cstr(target)?;
    let c_type = fstype.map(cstr).transpose()?;
    let c_data = data.map(cstr).transpose()?;
    // SAFETY: all pointers are valid NUL-terminated strings (or null) for the call's duration.
    let rc = unsafe {
        libc::mount(
            c_src.as_ptr(),
            c_target.as_ptr(),
            c_type.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
            flags,
            c_data
                .as_ref()
                .map_or(std::ptr::null(), |c| c.as_ptr().cast()),
        )
    };
    if rc != 0 {
        return Err(format!(
            "mount {src} on {target} ({}): {}",
            fstype.unwrap_or("bind"),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn mkdir_owned(path: &str, mode: u32, owner: Option<(u32, u32)>) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("mkdir {path}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {path}: {e}"))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("chown {path}: {e}"))?;
    }
    Ok(())
}

/// Build the node's filesystem view. Must run in the node's own (fresh, private) mount
/// namespace: every mount here is invisible to the host and to the other nodes. The mount
/// syscall writes nothing to `/run/mount/utab` (what `mount -n` avoids for mount(8)).
pub fn setup_node(a: &AnchorArgs) -> Result<(), String> {
    let (uid, gid) = crate::config::pacemaker_ids().map_err(|e| e.to_string())?;
    // SAFETY: plain syscall with a valid buffer and its length.
    let rc = unsafe { libc::sethostname(a.hostname.as_ptr().cast(), a.hostname.len()) };
    if rc != 0 {
        return Err(format!(
            "sethostname {}: {}",
            a.hostname,
            std::io::Error::last_os_error()
        ));
    }
    // The copies of other namespaces' handles under /run/netns would pin those namespaces
    // (of other nodes, other labs) for as long as this node lives: detach them (lazy and
    // recursive, umount2(2) MNT_DETACH). Not mounted = nothing to do.
    if let Ok(c) = cstr("/run/netns") {
        // SAFETY: valid NUL-terminated path.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
    let tag = &a.hostname;
    let nosuid_nodev = libc::MS_NOSUID | libc::MS_NODEV;
    // Private /run: corosync/Pacemaker IPC (libqb), /run/resource-agents state of agents, pid
    // files. /var/run is a symlink to /run on Debian 12.
    mount(
        &format!("tmpfs-axl-{tag}-run"),
        "/run",
        Some("tmpfs"),
        nosuid_nodev,
        Some("mode=755,size=64m"),
    )?;
    mount(
        &format!("tmpfs-axl-{tag}-shm"),
        "/dev/shm",
        Some("tmpfs"),
        nosuid_nodev,
        Some("mode=1777,size=256m"),
    )?;
    for (sub, target) in BINDS {
        if !Path::new(target).is_dir() {
            continue; // e.g. /var/log/crmsh without crmsh installed
        }
        let src = a.node_dir.join(sub);
        mount(
            &src.display().to_string(),
            target,
            None,
            libc::MS_BIND,
            None,
        )?;
    }
    mkdir_owned("/run/crm", 0o750, Some((uid, gid)))?;
    mkdir_owned("/run/lock", 0o1777, None)?;
    mkdir_owned("/run/resource-agents", 0o1755, None)?;
    mkdir_owned("/run/fence-agents", 0o1755, None)?;
    mkdir_owned("/run/corosync", 0o755, None)?;
    mkdir_owned("/run/pacemaker", 0o755, None)?;
    mkdir_owned("/run/axigen-ha", 0o755, None)?;
    // Agents under test appear at their installed paths, in this node only; read-only overlays
    // (lowerdirs only) never write to the host's directories.
    if let Some(sbin) = &a.sbin {
        mount(
            &format!("overlay-axl-{tag}-sbin"),
            "/usr/sbin",
            Some("overlay"),
            libc::MS_RDONLY,
            Some(&format!("lowerdir={}:/usr/sbin", sbin.display())),
        )?;
    }
    if let Some(ocf) = &a.ocf {
        mount(
            &format!("overlay-axl-{tag}-ocf"),
            "/usr/lib/ocf/resource.d",
            Some("overlay"),
            libc::MS_RDONLY,
            Some(&format!(
                "lowerdir={}:/usr/lib/ocf/resource.d",
                ocf.display()
            )),
        )?;
    }
    Ok(())
}

/// Record the anchor's identity (`pid start_time exe`) atomically: its appearance tells the
/// lab the node's mounts are ready.
pub fn record_identity(node_dir: &Path) -> Result<(), String> {
    let me = axha_exec::read_identity(std::process::id())
        .ok_or_else(|| "cannot read own /proc entry".to_string())?;
    let tmp = node_dir.join(format!("{ANCHOR_FILE}.tmp"));
    let dst = node_dir.join(ANCHOR_FILE);
    std::fs::write(&tmp, format!("{}\n", me.to_line()))
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &dst).map_err(|e| format!("{}: {e}", dst.display()))
}

/// `axha-lab-node power STATE_DIR NODE off|on|reset`: the power hook of a node's BMC.
pub fn power_main(args: &[String]) -> Result<(), String> {
    let usage = "usage: axha-lab-node power STATE_DIR NODE off|on|reset|boot";
    let [cmd, dir, node, action] = args else {
        return Err(usage.into());
    };
    if cmd != "power" {
        return Err(usage.into());
    }
    let action = crate::fencing::PowerAction::parse(action).ok_or(usage)?;
    let lab = crate::Lab::open_state(Path::new(dir)).map_err(|e| e.to_string())?;
    lab.apply_power(node, action).map_err(|e| e.to_string())
}

/// The whole anchor: set up, record, then sleep until killed.
pub fn anchor_main(args: &[String]) -> Result<std::convert::Infallible, String> {
    let a = AnchorArgs::parse(args)?;
    setup_node(&a)?;
    record_identity(&a.node_dir)?;
    loop {
        // SAFETY: pause(2) has no preconditions; it returns only when a handled signal
        // arrives, and the anchor handles none (SIGKILL/SIGTERM end it).
        unsafe {
            libc::pause();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_roundtrip() {
        let a = AnchorArgs {
            node_dir: "/var/tmp/x/nodes/n1".into(),
            hostname: "n1".into(),
            sbin: Some("/var/tmp/x/sbin".into()),
            ocf: None,
        };
        assert_eq!(AnchorArgs::parse(&a.to_argv()).unwrap(), a);
        let b = AnchorArgs {
            ocf: Some("/o".into()),
            sbin: None,
            ..a
        };
        assert_eq!(AnchorArgs::parse(&b.to_argv()).unwrap(), b);
    }

    #[test]
    fn bad_args() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(AnchorArgs::parse(&s(&[])).is_err());
        assert!(AnchorArgs::parse(&s(&["anchor", "/d"])).is_err());
        assert!(AnchorArgs::parse(&s(&["anchor", "/d", "n1", "--sbin"])).is_err());
        let e = AnchorArgs::parse(&s(&["anchor", "/d", "n1", "--x", "y"])).unwrap_err();
        assert!(e.contains("--x"), "{e}");
    }
}
