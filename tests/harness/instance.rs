//! Fixtures for the `ocf:axigen:instance` suites: an instance of `axigen-sim` (the Axigen
//! stand-in: Axigen itself cannot be installed here) in a temporary workdir, and the agent run
//! the way Pacemaker runs it (an explicit OCF environment).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use crate::{bin, Cmd, Deadline};

static NEXT: AtomicU16 = AtomicU16::new(0);

/// Ports an instance uses from its base (SMTP .. WebAdmin).
const PORTS_PER_INSTANCE: u16 = 6;

/// A base port whose six ports are free now on every address: tried from a pseudo-random
/// start (pid, counter and clock mixed) so parallel suites and runs do not meet.
pub fn base_port() -> u16 {
    let n = NEXT.fetch_add(1, Ordering::SeqCst) as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let mut x = (std::process::id() as u64) << 32 ^ n << 16 ^ nanos;
    for _ in 0..200 {
        // xorshift: cheap, good enough to spread candidates
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let base = 20_000 + (x % 40_000) as u16;
        let free = (0..PORTS_PER_INSTANCE)
            .all(|i| std::net::TcpListener::bind(("0.0.0.0", base + i)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no free range of {PORTS_PER_INSTANCE} ports found");
}

/// A temporary directory removed on drop ([`crate::temp_dir`]).
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// A fresh directory named after `tag`.
    pub fn new(tag: &str) -> TempDir {
        TempDir(crate::temp_dir(tag))
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// One stand-in instance: workdir with config and admin password file, and the agent's
/// state directory. Drop stops whatever the agent started (through the agent's stop, then by
/// pid as a last resort).
pub struct SimInstance {
    pub dir: TempDir,
    pub workdir: PathBuf,
    pub state_dir: PathBuf,
    pub password_file: PathBuf,
    pub base_port: u16,
    pub address: String,
}

pub const ADMIN_PASSWORD: &str = "Adm1n-pw";

impl SimInstance {
    pub fn new(tag: &str, address: &str) -> SimInstance {
        let dir = TempDir::new(tag);
        let workdir = dir.path().join("axigen");
        let state_dir = dir.path().join("rsctmp");
        let password_file = dir.path().join("admin.pw");
        std::fs::write(&password_file, format!("{ADMIN_PASSWORD}\n")).expect("pw file");
        set_mode(&password_file, 0o600);
        let base_port = base_port();
        let out = Cmd::new(bin("axigen-sim"))
            .args(["init", "-W"])
            .arg(&workdir)
            .args(["--address", address, "--base-port", &base_port.to_string()])
            .arg("--admin-password-file")
            .arg(&password_file)
            .run_ok(&Deadline::after(Duration::from_secs(10)))
            .expect("axigen-sim init");
        drop(out);
        SimInstance {
            dir,
            workdir,
            state_dir,
            password_file,
            base_port,
            address: address.to_string(),
        }
    }

    pub fn cli_port(&self) -> u16 {
        self.base_port + 3
    }

    /// The OCF environment Pacemaker would pass for this instance.
    pub fn env(&self) -> BTreeMap<String, String> {
        let mut e = BTreeMap::new();
        e.insert("OCF_ROOT".into(), "/usr/lib/ocf".into());
        e.insert("OCF_RESOURCE_INSTANCE".into(), "ax1".into());
        e.insert("HA_RSCTMP".into(), self.state_dir.display().to_string());
        e.insert(
            "OCF_RESKEY_workdir".into(),
            self.workdir.display().to_string(),
        );
        e.insert(
            "OCF_RESKEY_binary".into(),
            bin("axigen-sim").display().to_string(),
        );
        e.insert(
            "OCF_RESKEY_cli_password_file".into(),
            self.password_file.display().to_string(),
        );
        e.insert("OCF_RESKEY_check_timeout".into(), "2".into());
        e
    }

    /// Switch an axigen-sim fault on (`Some(value)` or `Some("")`) or off (`None`).
    pub fn fault(&self, name: &str, value: Option<&str>) {
        let mut c = Cmd::new(bin("axigen-sim"))
            .arg("fault")
            .arg("-W")
            .arg(&self.workdir);
        c = match value {
            Some("") => c.args(["set", name]),
            Some(v) => c.args(["set", name, v]),
            None => c.args(["clear", name]),
        };
        c.run_ok(&Deadline::after(Duration::from_secs(5)))
            .expect("axigen-sim fault");
    }

    /// The supervisor pid the agent recorded, if any.
    pub fn recorded_pid(&self) -> Option<u32> {
        let rd = std::fs::read_dir(&self.state_dir).ok()?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".state") {
                let text = std::fs::read_to_string(e.path()).ok()?;
                return text.split_whitespace().next()?.parse().ok();
            }
        }
        None
    }
}

impl Drop for SimInstance {
    fn drop(&mut self) {
        let _ = run_agent(
            "stop",
            &self.env(),
            &[("OCF_RESKEY_CRM_meta_timeout", "10000")],
        );
        if let Some(pid) = self.recorded_pid() {
            // SAFETY: kill of the process group this instance's agent started (own session).
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
    }
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// What one agent call gave.
#[derive(Debug)]
pub struct AgentRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl AgentRun {
    /// The exit reason line, if the agent printed one.
    pub fn reason(&self) -> Option<&str> {
        self.stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
    }
}

/// Run the built agent with exactly `env` plus `extra` (no inherited variables).
pub fn run_agent(action: &str, env: &BTreeMap<String, String>, extra: &[(&str, &str)]) -> AgentRun {
    run_agent_bin(&bin("instance"), action, env, extra)
}

pub fn run_agent_bin(
    agent: &Path,
    action: &str,
    env: &BTreeMap<String, String>,
    extra: &[(&str, &str)],
) -> AgentRun {
    let mut c = std::process::Command::new(agent);
    c.arg(action)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (k, v) in env {
        c.env(k, v);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    let t = std::time::Instant::now();
    let out = c.output().expect("agent runs");
    AgentRun {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: t.elapsed(),
    }
}
