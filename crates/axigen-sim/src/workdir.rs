//! The workdir (`-W DIR`): where the configuration, pid file, admin password, data, log and
//! fault switches live, and `init`, which makes a new one.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axha_axigen::config::Config;

use crate::SimError;

/// The admin password when `run/admin.pw` is missing (like a fresh install; `init` says so
/// loudly).
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin";

/// Paths inside one workdir.
#[derive(Debug, Clone)]
pub struct Workdir {
    root: PathBuf,
    pid_file: Option<PathBuf>,
}

impl Workdir {
    /// A workdir at `root`, made absolute against the current directory (the daemon must
    /// not depend on where it was started from).
    pub fn new(root: impl AsRef<Path>) -> Result<Workdir, SimError> {
        let root = std::path::absolute(root.as_ref()).map_err(|source| SimError::Io {
            what: "resolving workdir",
            path: root.as_ref().to_path_buf(),
            source,
        })?;
        Ok(Workdir {
            root,
            pid_file: None,
        })
    }

    /// Use `pid_file` instead of `run/axigen.pid` (Axigen's `-P/--pidfile`), made absolute.
    pub fn with_pid_file(mut self, pid_file: Option<&Path>) -> Workdir {
        self.pid_file = pid_file.map(|p| std::path::absolute(p).unwrap_or_else(|_| p.into()));
        self
    }

    /// The working directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `run/`: configuration, pid file, admin password.
    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }
    /// `run/axigen.cfg`.
    pub fn config_path(&self) -> PathBuf {
        self.run_dir().join("axigen.cfg")
    }
    /// `run/axigen.pid`, unless another pid file was given.
    pub fn pid_path(&self) -> PathBuf {
        self.pid_file
            .clone()
            .unwrap_or_else(|| self.run_dir().join("axigen.pid"))
    }
    /// `run/admin.pw`: the CLI admin password.
    pub fn admin_pw_path(&self) -> PathBuf {
        self.run_dir().join("admin.pw")
    }
    /// `log/`.
    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }
    /// `log/axigen-sim.log`: the daemon's output.
    pub fn log_path(&self) -> PathBuf {
        self.log_dir().join("axigen-sim.log")
    }
    /// `domains/`: domains, accounts and mailboxes.
    pub fn domains_dir(&self) -> PathBuf {
        self.root.join("domains")
    }
    /// `faults/`: one file per fault switched on.
    pub fn faults_dir(&self) -> PathBuf {
        self.root.join("faults")
    }

    /// Create the directories of the layout (existing ones are kept).
    pub fn create_layout(&self) -> Result<(), SimError> {
        for d in [
            self.run_dir(),
            self.log_dir(),
            self.domains_dir(),
            self.faults_dir(),
        ] {
            std::fs::create_dir_all(&d).map_err(|source| SimError::Io {
                what: "creating",
                path: d.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// `init`: the layout, `run/axigen.cfg` from [`Config::default_for`], and `run/admin.pw`
    /// from `admin_password` (else kept if present, else [`DEFAULT_ADMIN_PASSWORD`]). Refuses
    /// to overwrite a configuration unless `force`. Returns true when the default password
    /// is in use (the caller warns).
    pub fn init(
        &self,
        address: IpAddr,
        base_port: Option<u16>,
        admin_password: Option<&str>,
        force: bool,
    ) -> Result<bool, SimError> {
        let cfg_path = self.config_path();
        if cfg_path.exists() && !force {
            return Err(SimError::Exists(cfg_path));
        }
        let cfg = Config::default_for(address, base_port)?;
        self.create_layout()?;
        cfg.write(&cfg_path)?;
        let pw_path = self.admin_pw_path();
        match admin_password {
            Some(pw) => {
                write_atomic(&pw_path, format!("{pw}\n").as_bytes(), 0o600)?;
                Ok(false)
            }
            None if pw_path.exists() => Ok(read_admin_password(&pw_path)?.is_none()),
            None => {
                write_atomic(
                    &pw_path,
                    format!("{DEFAULT_ADMIN_PASSWORD}\n").as_bytes(),
                    0o600,
                )?;
                Ok(true)
            }
        }
    }
}

/// The first line of a password file, without its line end; `None` when it is missing.
/// An empty password is refused.
pub fn read_admin_password(path: &Path) -> Result<Option<String>, SimError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let pw = text.lines().next().unwrap_or("").to_string();
            if pw.is_empty() {
                return Err(SimError::Usage(format!(
                    "{}: empty password",
                    path.display()
                )));
            }
            Ok(Some(pw))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SimError::Io {
            what: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Write a file so that a reader (or a crash) sees either the old or the new content: a
/// temporary file in the same directory, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), SimError> {
    replace_file(path, data, mode, true)
}

/// [`write_atomic`] without the fsyncs: a reader sees the old or the new content, and so does
/// the process's death, but not a crash of the kernel (for the account files, see
/// `store`'s module documentation).
pub fn write_replace(path: &Path, data: &[u8], mode: u32) -> Result<(), SimError> {
    replace_file(path, data, mode, false)
}

fn replace_file(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<(), SimError> {
    let io = |what, source| SimError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if durable {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("writing", e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("axsim-wd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn init_writes_layout_and_refuses_overwrite() {
        let d = tmp("init");
        let w = Workdir::new(&d).unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(w.init(ip, Some(4000), None, false).unwrap(), "default pw");
        assert!(w.faults_dir().is_dir() && w.domains_dir().is_dir());
        let cfg = Config::read(w.config_path()).unwrap();
        assert_eq!(cfg.cli_listener().unwrap().port(), 4003);
        let mode = std::fs::metadata(w.admin_pw_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            w.init(ip, None, None, false),
            Err(SimError::Exists(_))
        ));
        assert!(!w.init(ip, None, Some("s3cret"), true).unwrap());
        assert_eq!(
            read_admin_password(&w.admin_pw_path()).unwrap().as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            Config::read(w.config_path())
                .unwrap()
                .cli_listener()
                .unwrap()
                .port(),
            7000
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn relative_workdir_becomes_absolute() {
        let w = Workdir::new("some/dir").unwrap();
        assert!(w.root().is_absolute());
        assert!(w.pid_path().ends_with("some/dir/run/axigen.pid"));
        let w = w.with_pid_file(Some(Path::new("x.pid")));
        assert!(w.pid_path().is_absolute() && w.pid_path().ends_with("x.pid"));
    }
}
