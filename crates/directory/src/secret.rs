//! Secrets read from files, never shown.

use std::fmt;
use std::path::Path;

use crate::DirectoryError;

/// How long reading a secret file may take (a regular file: at once).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A password or token. `Debug` and `Display` print `(secret)`, so a secret put in a log line
/// or an error by mistake shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// Read a secret file: its first line, without the line end. Refuses an empty secret and a
    /// file readable by others than its owner's group (a leaked password file is worse than
    /// a refused start).
    pub fn from_file(path: &Path) -> Result<Self, DirectoryError> {
        use std::os::unix::fs::MetadataExt;
        let err = |reason: String| DirectoryError::Secret {
            path: path.to_path_buf(),
            reason,
        };
        // stat, not open: opening a FIFO with no writer would block.
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if !meta.is_file() {
            return Err(err("not a regular file".into()));
        }
        if meta.mode() & 0o004 != 0 {
            return Err(err(format!(
                "readable by everyone (mode {:o}); chmod o-r it",
                meta.mode() & 0o777
            )));
        }
        let deadline = axha_exec::Deadline::after(READ_TIMEOUT);
        let bytes = axha_exec::read_bounded(path, axha_exec::MAX_SECRET_BYTES, &deadline)
            .map_err(|e| err(e.to_string()))?;
        let text = String::from_utf8_lossy(&bytes);
        let first = text.lines().next().unwrap_or("").to_string();
        if first.is_empty() {
            return Err(err("empty".into()));
        }
        Ok(Secret(first))
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compare in time independent of where the first difference is (for API tokens).
    pub fn matches(&self, candidate: &str) -> bool {
        let a = self.0.as_bytes();
        let b = candidate.as_bytes();
        let mut diff = a.len() ^ b.len();
        for i in 0..a.len().max(b.len()) {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            diff |= usize::from(x ^ y);
        }
        diff == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(secret)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(secret)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reads_first_line_and_hides_it() {
        let dir = std::env::temp_dir().join(format!("axha-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pw");
        std::fs::write(&p, "hunter2\nignored\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = Secret::from_file(&p).unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s:?} {s}"), "(secret) (secret)");
        assert!(s.matches("hunter2"));
        assert!(!s.matches("hunter"));
        assert!(!s.matches("hunter22"));

        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Secret::from_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("readable by everyone") && !e.contains("hunter2"),
            "{e}"
        );

        std::fs::write(&p, "\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Secret::from_file(&p).is_err());
        assert!(Secret::from_file(&dir.join("missing")).is_err());
        let e = Secret::from_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::write(&p, "x".repeat(5000)).unwrap();
        let e = Secret::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("more than 4096 bytes"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
