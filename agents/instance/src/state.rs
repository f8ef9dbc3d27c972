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

/// A file-name-safe spelling of a path: `/srv/ax 1` -> `srv%2Fax%201`.
fn key(workdir: &Path) -> String {
    let s = workdir.to_string_lossy();
    let mut out = String::new();
    for b in s.trim_start_matches('/').bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
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
        match std::fs::read_to_string(&self.path) {
            Err(_) => Recorded::None,
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
