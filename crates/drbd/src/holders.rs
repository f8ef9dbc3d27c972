//! Who keeps a DRBD device open: a Primary cannot be demoted while anything does, and the
//! operator needs names, not "device busy".

use std::fmt;
use std::path::Path;

/// One thing holding `/dev/drbdN` open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A process with an open file descriptor on the device.
    Process {
        /// Its pid.
        pid: u32,
        /// Its command name (`/proc/PID/comm`).
        command: String,
    },
    /// A mounted file system on the device.
    Mount {
        /// Where it is mounted.
        mount_point: String,
    },
    /// A block device stacked on top (device-mapper, md): `/sys/block/drbdN/holders/NAME`.
    Stacked {
        /// The holder's name under `/sys/block/drbdN/holders/`.
        name: String,
    },
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Process { pid, command } => write!(f, "process {pid} ({command})"),
            Holder::Mount { mount_point } => write!(f, "mount on {mount_point}"),
            Holder::Stacked { name } => write!(f, "stacked device {name}"),
        }
    }
}

/// Mount points in `/proc/self/mountinfo` text whose source is `device` (proc(5): the mount
/// point is field 5, the source follows the ` - ` separator after the file system type).
pub fn parse_mounts_of(mountinfo: &str, device: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let source = right.split_whitespace().nth(1)?;
            (source == device).then(|| left.split_whitespace().nth(4).map(str::to_string))?
        })
        .collect()
}

/// Everything holding `/dev/drbd<minor>` open right now (best effort: processes whose
/// descriptors cannot be read, e.g. without root, are skipped).
pub fn read_holders(minor: u32) -> Vec<Holder> {
    let device = format!("/dev/drbd{minor}");
    let mut out = Vec::new();
    if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
        out.extend(
            parse_mounts_of(&mi, &device)
                .into_iter()
                .map(|mount_point| Holder::Mount { mount_point }),
        );
    }
    if let Ok(rd) = std::fs::read_dir(format!("/sys/block/drbd{minor}/holders")) {
        for e in rd.flatten() {
            out.push(Holder::Stacked {
                name: e.file_name().to_string_lossy().into_owned(),
            });
        }
    }
    let me = std::process::id();
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
                continue;
            };
            let holds = fds
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == Path::new(&device)));
            if holds {
                let command = std::fs::read_to_string(p.path().join("comm"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                out.push(Holder::Process { pid, command });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounts_of_the_device() {
        let mi = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                  40 1 147:0 / /var/opt/axigen rw,relatime shared:1 - ext4 /dev/drbd0 rw\n\
                  41 1 147:1 / /srv rw - ext4 /dev/drbd1 rw\n";
        assert_eq!(parse_mounts_of(mi, "/dev/drbd0"), vec!["/var/opt/axigen"]);
        assert!(parse_mounts_of(mi, "/dev/drbd7").is_empty());
        assert!(parse_mounts_of("garbage\n", "/dev/drbd0").is_empty());
    }

    #[test]
    fn no_holders_for_a_missing_device() {
        assert!(read_holders(4242).is_empty());
    }
}
