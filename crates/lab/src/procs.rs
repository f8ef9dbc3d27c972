//! Processes of a lab node, identified by network namespace membership.
//!
//! There is no PID namespace per node (a fence action inside one node must be able to end
//! another node's processes through the host's /proc), so `ps` inside a node sees every node.
//! "All processes of node X" is therefore every pid whose `/proc/PID/ns/net` is X's network
//! namespace, never a match on process names.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use axha_exec::Deadline;

/// The identity of a network namespace as the kernel prints it: `net:[INODE]`.
pub type NetnsId = String;

/// `net:[INODE]` of the namespace a handle (e.g. `/run/netns/NAME`) refers to.
pub fn netns_id_of_path(path: &Path) -> std::io::Result<NetnsId> {
    let m = std::fs::metadata(path)?;
    Ok(format!("net:[{}]", m.ino()))
}

/// `net:[INODE]` of a process; `None` when it is gone or a zombie (a zombie has released its
/// namespaces).
pub fn netns_of(pid: u32) -> Option<NetnsId> {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// Every live pid in the network namespace `netns`, in ascending order.
pub fn pids_in_netns(netns: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| netns_of(*pid).as_deref() == Some(netns))
        .collect();
    pids.sort_unstable();
    pids
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(p) = libc::pid_t::try_from(pid) {
        // SAFETY: plain syscall on a positive pid.
        unsafe {
            libc::kill(p, sig);
        }
    }
}

/// End every process of a namespace at one instant, like a power cut: SIGSTOP every member
/// until a rescan finds nothing new (a stopped process cannot fork or respawn a sibling), then
/// SIGKILL them all, then SIGKILL stragglers until none is left or `deadline` passes.
/// Returns the survivors (empty on success).
pub fn kill_netns(netns: &str, deadline: &Deadline) -> Vec<u32> {
    let me = std::process::id();
    let mut stopped: Vec<u32> = Vec::new();
    for _ in 0..100 {
        let new: Vec<u32> = pids_in_netns(netns)
            .into_iter()
            .filter(|p| *p != me && !stopped.contains(p))
            .collect();
        if new.is_empty() {
            break;
        }
        for p in &new {
            signal(*p, libc::SIGSTOP);
        }
        stopped.extend(new);
    }
    for p in &stopped {
        signal(*p, libc::SIGKILL);
    }
    let left = deadline.poll(Duration::from_millis(50), || {
        let left: Vec<u32> = pids_in_netns(netns)
            .into_iter()
            .filter(|p| *p != me)
            .collect();
        if left.is_empty() {
            return Some(Vec::new());
        }
        for p in &left {
            signal(*p, libc::SIGKILL);
        }
        None
    });
    left.unwrap_or_else(|| pids_in_netns(netns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_netns_contains_self() {
        let mine = netns_of(std::process::id()).expect("own ns");
        assert!(mine.starts_with("net:["), "{mine}");
        assert!(pids_in_netns(&mine).contains(&std::process::id()));
        assert_eq!(
            netns_id_of_path(Path::new("/proc/self/ns/net")).unwrap(),
            mine
        );
    }

    #[test]
    fn unknown_netns_is_empty() {
        assert!(pids_in_netns("net:[1]").is_empty());
        assert!(kill_netns("net:[1]", &Deadline::after(Duration::from_millis(100))).is_empty());
        assert_eq!(netns_of(u32::MAX), None);
    }
}
