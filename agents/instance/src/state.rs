//! Per-node state of an instance under `HA_RSCTMP`: the identity of the supervisor the agent
//! started. The directory is on tmpfs, so a reboot forgets it together with the processes.

use std::io::Write;
use std::path::{Path, PathBuf};

use axha_exec::ProcessIdentity;

/// State and start log of the instance whose working directory is `workdir`. The workdir
/// identifies an instance (it is a unique parameter), so two instances never share a file.
#[derive(Debug, Clone)]
pub struct StateFile {
    pub path: PathBuf,
    pub log: PathBuf,
}

/// Longest key kept readable: with the `axigen-instance-` prefix and `.state` suffix the file
/// name stays within NAME_MAX (255 bytes).
const KEY_MAX: usize = 200;

/// A file-name-safe spelling of a path: `/srv/ax 1` -> `srv%2Fax%201`. A spelling longer than
/// [`KEY_MAX`] is cut and ends with a hash of the whole path, so any valid workdir has a state
/// file and two workdirs never share one.
fn key(workdir: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = workdir.as_os_str().as_bytes();
    let mut out = String::new();
    for &b in bytes.strip_prefix(b"/").unwrap_or(bytes) {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > KEY_MAX {
        // FNV-1a, 64 bits: stable across builds and releases (a std hasher is not).
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        out.truncate(KEY_MAX - 17);
        out.push_str(&format!("-{hash:016x}"));
    }
    out
}

/// What the state file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    None,
    Server(ProcessIdentity),
    /// The file exists but does not hold an identity (damaged): treated as no record, and
    /// replaced or removed by the next start or stop.
    Garbage(String),
}

impl StateFile {
    pub fn new(state_dir: &Path, workdir: &Path) -> StateFile {
        let k = key(workdir);
        StateFile {
            path: state_dir.join(format!("axigen-instance-{k}.state")),
            log: state_dir.join(format!("axigen-instance-{k}.log")),
        }
    }

    pub fn read(&self) -> Recorded {
        // One line is expected; a file of more than a page is garbage, not a record.
        let deadline = axha_exec::Deadline::after(std::time::Duration::from_secs(1));
        let text = axha_exec::read_bounded(&self.path, 4096, &deadline)
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        match text {
            Err(e) if e.is_not_found() => Recorded::None,
            Err(e) => Recorded::Garbage(e.to_string()),
            Ok(text) => match ProcessIdentity::parse_line(&text) {
                Some(id) => Recorded::Server(id),
                None => Recorded::Garbage(text.chars().take(60).collect()),
            },
        }
    }

    /// Record the server, atomically (write a temporary file, then rename).
    pub fn write(&self, id: &ProcessIdentity) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("state.tmp");
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{}", id.to_line())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    /// Start a fresh start log (the server's own output during this start).
    pub fn reset_log(&self) -> std::io::Result<()> {
        if let Some(dir) = self.log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::File::create(&self.log).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_safe() {
        assert_eq!(key(Path::new("/srv/ax1")), "srv%2Fax1");
        assert_ne!(key(Path::new("/srv/a_b")), key(Path::new("/srv/a/b")));
        assert_eq!(key(Path::new("/x y")), "x%20y");
        let long = |tail: &str| key(Path::new(&format!("/{}{tail}", "a/".repeat(300))));
        assert_eq!(long("x").len(), KEY_MAX);
        assert_ne!(long("x"), long("y"));
    }

    #[test]
    fn roundtrip_and_garbage() {
        let dir = std::env::temp_dir().join(format!("axha-inst-state-{}", std::process::id()));
        let s = StateFile::new(&dir, Path::new("/srv/a"));
        assert_eq!(s.read(), Recorded::None);
        let me = axha_exec::read_identity(std::process::id()).unwrap();
        s.write(&me).unwrap();
        assert_eq!(s.read(), Recorded::Server(me));
        std::fs::write(&s.path, "not a pid\n").unwrap();
        assert!(matches!(s.read(), Recorded::Garbage(_)));
        s.remove();
        assert_eq!(s.read(), Recorded::None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
