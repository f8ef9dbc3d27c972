//! Simulated IPMI BMCs for tests and the lab, served by OpenIPMI's `ipmi_sim`.
//!
//! - [`BmcSpec`]: where the BMC lives (a private directory), the UDP address it serves
//!   RMCP/RMCP+ on, its users with their privilege limits, an optional power hook and an
//!   optional network namespace.
//! - [`Bmc`]: a running `ipmi_sim`. [`Bmc::start`] writes `lan.conf` and the `.emu` command
//!   file, starts `ipmi_sim -n` detached and returns once its UDP port answers a Get Channel
//!   Authentication Capabilities request. [`Bmc::power`] / [`Bmc::set_power`] read and write
//!   the simulated chassis power state; [`Bmc::chassis_log`] is every chassis command the BMC
//!   executed. [`Bmc::stop`] (and `Drop`) end it by pid after checking it is still the very
//!   process that was started.
//!
//! Chassis power is delegated by ipmi_sim's `chassis_control "PROGRAM ARGS"` to the
//! `axha-bmc-chassis` binary of this crate, which keeps the power state in `DIR/power` and,
//! when `DIR/power-hook` exists, runs that argv with `off`/`on`/`reset` appended: that is how
//! the lab turns a power-off into the end of a node.
//!
//! ipmi_sim cannot restrict the RMCP+ cipher suites it offers, so it also answers suite 0
//! (no authentication). Clients in this project never ask for suite 0; tests that check
//! authentication must use suite 3.
//!
//! ipmi_sim 2.0.33 has no SHA-256 cipher suite (17) and no BMC key (K_G). A spec with
//! [`BmcServer::Lanplus`] is served instead by [`lanplus`], the project's own RMCP+
//! responder (`axha-bmc-lanplus`): suites 2, 3 and 17, an optional K_G, the same directory
//! layout, power state, chassis log and power hook ([`chassis`]), so [`Bmc`] works the same
//! over either.
//!
//! ```no_run
//! use axha_bmc::{Bmc, BmcSpec, BmcUser, Privilege};
//! let spec = BmcSpec::new("/tmp/bmc1", "127.0.0.1".parse().unwrap(), 16231)
//!     .user(BmcUser::new("admin", "secret", Privilege::Admin));
//! let bmc = Bmc::start(spec)?;
//! assert!(bmc.power()?);
//! bmc.stop()?;
//! # Ok::<(), axha_bmc::BmcError>(())
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_exec::{read_identity, Cmd, Deadline, ExecError, ProcessIdentity};

pub mod chassis;
pub mod lanplus;
mod state;
pub use state::{
    append_chassis_log, read_power_file, write_power_file, CHASSIS_LOG, POWER_FILE, POWER_HOOK,
};

/// Name of the chassis helper binary ipmi_sim calls for power control.
pub const CHASSIS_BIN: &str = "axha-bmc-chassis";
/// Name of the project's RMCP+ responder binary.
pub const LANPLUS_BIN: &str = "axha-bmc-lanplus";
/// Identity (`pid start_time exe`) of the running ipmi_sim, in the BMC's directory.
pub const PID_FILE: &str = "ipmi_sim.pid";
/// Where an installed `axha-bmc-chassis` lives.
pub const INSTALLED_DIR: &str = "/usr/lib/axigen-ha";
/// How long [`Bmc::start`] waits for the UDP port to answer.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Bmc::stop`] waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// IPMI v2.0 §22.28: user names are at most 16 bytes, RMCP+ passwords at most 20.
const MAX_NAME: usize = 16;
const MAX_PASSWORD: usize = 20;
/// User 1 is the anonymous user in ipmi_sim (ipmi_lan(5)); named users start at 2, up to 63.
const FIRST_USER: usize = 2;
const MAX_USERS: usize = 62;

/// Maximum privilege a BMC user may reach (IPMI v2.0 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// May read status only.
    User,
    /// May switch chassis power.
    Operator,
    /// May do everything.
    Admin,
}

impl Privilege {
    /// The spelling ipmi_lan(5) uses in `user` lines.
    fn lan_conf_name(self) -> &'static str {
        match self {
            Privilege::User => "user",
            Privilege::Operator => "operator",
            Privilege::Admin => "admin",
        }
    }
}

/// One BMC account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BmcUser {
    /// Login name (at most 16 bytes).
    pub name: String,
    /// Password (at most 20 bytes).
    pub password: String,
    /// Highest privilege the user may ask for.
    pub privilege: Privilege,
}

impl BmcUser {
    /// An account with this name, password and privilege.
    pub fn new(name: impl Into<String>, password: impl Into<String>, privilege: Privilege) -> Self {
        BmcUser {
            name: name.into(),
            password: password.into(),
            privilege,
        }
    }
}

/// Which program serves a simulated BMC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BmcServer {
    /// OpenIPMI's `ipmi_sim` (cipher suites 0-3 and more, no SHA-256, no K_G).
    IpmiSim,
    /// The project's `axha-bmc-lanplus` (cipher suites 2, 3 and 17, an optional K_G).
    Lanplus,
}

/// What a simulated BMC looks like. `dir` is private to this BMC (config, state, logs).
#[derive(Debug, Clone)]
pub struct BmcSpec {
    /// Directory of this BMC alone: its config, state and logs.
    pub dir: PathBuf,
    /// Address ipmi_sim serves on.
    pub addr: IpAddr,
    /// UDP port ipmi_sim serves on.
    pub port: u16,
    /// The BMC's accounts.
    pub users: Vec<BmcUser>,
    /// argv run by the chassis helper after each power change, with `off`/`on`/`reset`
    /// appended (bounded in time; see `axha-bmc-chassis`).
    pub power_hook: Option<Vec<String>>,
    /// Network namespace (a name under /run/netns) to serve in, via `ip netns exec`.
    pub netns: Option<String>,
    /// The `axha-bmc-chassis` binary; by default it is looked up next to the running
    /// executable, in its parent directory (tests run from `target/debug/deps`), then in
    /// `/usr/lib/axigen-ha/`.
    pub chassis_bin: Option<PathBuf>,
    /// Power state of a freshly made BMC (kept as is when `dir` already holds one).
    pub initial_power: bool,
    /// The program that serves it (ipmi_sim by default).
    pub server: BmcServer,
    /// The `axha-bmc-lanplus` binary; looked up as `chassis_bin` is when unset.
    pub lanplus_bin: Option<PathBuf>,
    /// The BMC key K_G in hexadecimal (at most 40 digits); only [`BmcServer::Lanplus`]
    /// supports one.
    pub bmc_key: Option<String>,
    /// The cipher suites offered; `None` is every one the server has. Only
    /// [`BmcServer::Lanplus`] can restrict them.
    pub cipher_suites: Option<Vec<axha_ipmi::CipherSuite>>,
}

impl BmcSpec {
    /// A BMC in `dir` serving `addr:port`, powered on, with no account yet.
    pub fn new(dir: impl Into<PathBuf>, addr: IpAddr, port: u16) -> Self {
        BmcSpec {
            dir: dir.into(),
            addr,
            port,
            users: Vec::new(),
            power_hook: None,
            netns: None,
            chassis_bin: None,
            initial_power: true,
            server: BmcServer::IpmiSim,
            lanplus_bin: None,
            bmc_key: None,
            cipher_suites: None,
        }
    }

    /// Offer only these cipher suites (a BMC that disabled suite 3 offers `[Suite17]`);
    /// needs [`BmcServer::Lanplus`].
    pub fn cipher_suites(mut self, suites: &[axha_ipmi::CipherSuite]) -> Self {
        self.cipher_suites = Some(suites.to_vec());
        self
    }

    /// Serve it with this program.
    pub fn server(mut self, server: BmcServer) -> Self {
        self.server = server;
        self
    }

    /// Use this `axha-bmc-lanplus` binary.
    pub fn lanplus_bin(mut self, p: impl Into<PathBuf>) -> Self {
        self.lanplus_bin = Some(p.into());
        self
    }

    /// Give the BMC a key K_G (hexadecimal); needs [`BmcServer::Lanplus`].
    pub fn bmc_key(mut self, hex: impl Into<String>) -> Self {
        self.bmc_key = Some(hex.into());
        self
    }

    /// Add an account.
    pub fn user(mut self, u: BmcUser) -> Self {
        self.users.push(u);
        self
    }

    /// Run `argv` after each power change, with `off`/`on`/`reset` appended.
    pub fn power_hook(mut self, argv: Vec<String>) -> Self {
        self.power_hook = Some(argv);
        self
    }

    /// Serve inside network namespace `ns`.
    pub fn netns(mut self, ns: impl Into<String>) -> Self {
        self.netns = Some(ns.into());
        self
    }

    /// Use this `axha-bmc-chassis` binary.
    pub fn chassis_bin(mut self, p: impl Into<PathBuf>) -> Self {
        self.chassis_bin = Some(p.into());
        self
    }

    /// The address and port clients send to.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// Reject what ipmi_sim would refuse or misread (its config has no escaping).
    fn validate(&self) -> Result<(), BmcError> {
        let bad = |what: String| Err(BmcError::InvalidSpec(what));
        if self.port == 0 {
            return bad("port 0".into());
        }
        if self.users.is_empty() {
            return bad("no users".into());
        }
        if self.users.len() > MAX_USERS {
            return bad(format!("{} users (at most {MAX_USERS})", self.users.len()));
        }
        let plain = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\' && c != '#')
        };
        for u in &self.users {
            if u.name.is_empty() || u.name.len() > MAX_NAME || !plain(&u.name) {
                return bad(format!(
                    "user name {:?} (1-{MAX_NAME} printable characters, no quotes)",
                    u.name
                ));
            }
            if u.password.len() > MAX_PASSWORD || !plain(&u.password) {
                return bad(format!(
                    "password of user {:?} (at most {MAX_PASSWORD} printable characters, no quotes)",
                    u.name
                ));
            }
        }
        if let Some(h) = &self.power_hook {
            if h.is_empty() || h.iter().any(|a| a.contains('\n')) {
                return bad("power hook (non-empty argv, no newlines in arguments)".into());
            }
        }
        if let Some(ns) = &self.netns {
            if ns.is_empty() || ns.contains('/') || ns.starts_with('.') {
                return bad(format!("netns name {ns:?}"));
            }
        }
        if let Some(s) = &self.cipher_suites {
            if self.server != BmcServer::Lanplus || s.is_empty() {
                return bad("a list of cipher suites needs the lanplus server and a suite".into());
            }
        }
        if let Some(k) = &self.bmc_key {
            if self.server != BmcServer::Lanplus {
                return bad("a BMC key needs the lanplus server (ipmi_sim has none)".into());
            }
            if let Err(e) = axha_ipmi::BmcKey::from_hex(k) {
                return bad(e.to_string());
            }
        }
        let dir = self.dir.to_string_lossy();
        if dir.contains(|c: char| c.is_whitespace() || c == '"') {
            return bad(format!("directory {dir:?} (no spaces or quotes)"));
        }
        Ok(())
    }

    /// `lan.conf` in ipmi_lan(5) syntax.
    fn lan_conf(&self, chassis: &Path) -> String {
        let mut s = String::new();
        s.push_str("# written by axha-bmc\n");
        s.push_str(&format!("name \"axha-bmc-{}\"\n", self.port));
        s.push_str("set_working_mc 0x20\n");
        s.push_str("  startlan 1\n");
        s.push_str(&format!("    addr {} {}\n", self.addr, self.port));
        s.push_str("    priv_limit admin\n");
        // IPMI 1.5 authentication types per privilege; RMCP+ ignores these lines.
        for p in ["callback", "user", "operator", "admin"] {
            s.push_str(&format!("    allowed_auths_{p} md5\n"));
        }
        s.push_str("    guid a123456789abcdefa123456789abcdef\n");
        s.push_str("  endlan\n");
        s.push_str(&format!(
            "  chassis_control \"{} {}\"\n",
            chassis.display(),
            self.dir.display()
        ));
        // User 1 (anonymous) disabled: a null user name must never log in.
        s.push_str("  user 1 false \"\" \"\" user 10 md5\n");
        for (i, u) in self.users.iter().enumerate() {
            s.push_str(&format!(
                "  user {} true \"{}\" \"{}\" {} 10 md5\n",
                i + FIRST_USER,
                u.name,
                u.password,
                u.privilege.lan_conf_name()
            ));
        }
        s
    }
}

/// The ipmi_sim command file: device support 0x9f includes the chassis bit (IPMI v2.0
/// §20.1); `mc_enable` is what opens the UDP sockets.
const SIM_EMU: &str = "mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
";

/// Why a BMC could not be started, queried or stopped. Each variant carries what it is about.
#[derive(Debug)]
pub enum BmcError {
    /// The spec is one ipmi_sim would refuse or misread.
    InvalidSpec(String),
    /// A file of the BMC's directory could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A helper binary (`axha-bmc-chassis`, `axha-bmc-lanplus`) is in none of the places
    /// tried.
    HelperMissing {
        /// The binary's name.
        name: String,
        /// Where it was looked for.
        tried: Vec<PathBuf>,
    },
    /// ipmi_sim could not be started.
    Spawn(ExecError),
    /// ipmi_sim exited before answering; `log` is the end of its output.
    Exited {
        /// The end of ipmi_sim's output.
        log: String,
    },
    /// The UDP port did not answer in time.
    NotAnswering {
        /// Where it should answer.
        addr: SocketAddr,
        /// The end of ipmi_sim's output.
        log: String,
    },
    /// Another socket already serves this address and port.
    PortInUse(SocketAddr),
    /// The power file holds something else than 0 or 1.
    BadPowerState {
        /// The power file.
        path: PathBuf,
        /// What it holds.
        content: String,
    },
    /// The network namespace to serve in cannot be used.
    Netns {
        /// The namespace's name.
        name: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl fmt::Display for BmcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BmcError::InvalidSpec(w) => write!(f, "invalid BMC spec: {w}"),
            BmcError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BmcError::HelperMissing { name, tried } => write!(
                f,
                "{name} not found (tried {}); build it with `cargo build -p axha-bmc`",
                tried
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            BmcError::Spawn(e) => write!(f, "starting ipmi_sim: {e}"),
            BmcError::Exited { log } => write!(f, "ipmi_sim exited at start: {log}"),
            BmcError::NotAnswering { addr, log } => {
                write!(f, "ipmi_sim does not answer on {addr}: {log}")
            }
            BmcError::BadPowerState { path, content } => {
                write!(f, "{}: bad power state {content:?}", path.display())
            }
            BmcError::Netns { name, source } => write!(f, "network namespace {name}: {source}"),
            BmcError::PortInUse(a) => write!(f, "UDP {a} is already in use"),
        }
    }
}

/// Each message already includes its cause (the I/O error of `Io`, `Spawn`, `Netns`), so
/// `source` stays empty: an error-chain printer would repeat the cause otherwise.
impl std::error::Error for BmcError {}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BmcError + '_ {
    move |source| BmcError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A running simulated BMC. Dropping it stops it.
#[derive(Debug)]
pub struct Bmc {
    spec: BmcSpec,
    process: Option<ProcessIdentity>,
}

impl Bmc {
    /// Write the configuration, start ipmi_sim and wait (bounded) until it answers.
    pub fn start(spec: BmcSpec) -> Result<Bmc, BmcError> {
        spec.validate()?;
        check_port_free(&spec)?;
        let dir = &spec.dir;
        std::fs::create_dir_all(dir.join("state")).map_err(io_err(dir))?;
        let power = dir.join(POWER_FILE);
        if !power.exists() {
            write_power_file(dir, spec.initial_power).map_err(io_err(&power))?;
        }
        let hook = dir.join(POWER_HOOK);
        match &spec.power_hook {
            Some(argv) => {
                let mut text = argv.join("\n");
                text.push('\n');
                std::fs::write(&hook, text).map_err(io_err(&hook))?;
            }
            None => match std::fs::remove_file(&hook) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_err(&hook)(e)),
                _ => {}
            },
        }

        let sim = match spec.server {
            BmcServer::IpmiSim => {
                let chassis = find_helper(CHASSIS_BIN, spec.chassis_bin.as_deref())?;
                let lan = dir.join("lan.conf");
                write_private(&lan, spec.lan_conf(&chassis).as_bytes())?;
                let emu = dir.join("sim.emu");
                std::fs::write(&emu, SIM_EMU).map_err(io_err(&emu))?;
                vec![
                    "ipmi_sim".to_string(),
                    // -n: no console on stdin (ipmi_sim aborts when stdin is /dev/null otherwise)
                    "-n".into(),
                    "-c".into(),
                    lan.display().to_string(),
                    "-f".into(),
                    emu.display().to_string(),
                    "-s".into(),
                    dir.join("state").display().to_string(),
                ]
            }
            BmcServer::Lanplus => {
                let bin = find_helper(LANPLUS_BIN, spec.lanplus_bin.as_deref())?;
                let conf = dir.join(lanplus::CONFIG_FILE);
                let cfg = lanplus::LanplusConfig {
                    addr: spec.socket_addr(),
                    users: spec.users.clone(),
                    bmc_key: spec.bmc_key.clone(),
                    suites: spec
                        .cipher_suites
                        .clone()
                        .unwrap_or_else(|| lanplus::DEFAULT_SUITES.to_vec()),
                };
                write_private(&conf, cfg.render().as_bytes())?;
                vec![bin.display().to_string(), dir.display().to_string()]
            }
        };
        let cmd = match &spec.netns {
            // `ip netns exec` execs the program in place: the pid stays ipmi_sim's.
            Some(ns) => Cmd::new("ip").args(["netns", "exec", ns]).args(&sim),
            None => Cmd::from_argv(&sim),
        }
        .current_dir(dir);
        let log = dir.join("sim.log");
        let pid = cmd.spawn_detached(Some(&log)).map_err(BmcError::Spawn)?;
        let mut bmc = Bmc {
            process: read_identity(pid),
            spec,
        };
        if bmc.process.is_none() {
            return Err(BmcError::Exited {
                log: log_tail(&log),
            });
        }
        let deadline = Deadline::after(START_TIMEOUT);
        match bmc.wait_answering(&deadline) {
            Ok(()) => {
                // Identity after the exec of `ip netns exec` (same pid, ipmi_sim's exe).
                bmc.process = read_identity(pid);
                if let Some(p) = &bmc.process {
                    let f = bmc.spec.dir.join(PID_FILE);
                    std::fs::write(&f, format!("{}\n", p.to_line())).map_err(io_err(&f))?;
                }
                Ok(bmc)
            }
            Err(e) => {
                let _ = bmc.stop_inner();
                Err(e)
            }
        }
    }

    fn wait_answering(&self, deadline: &Deadline) -> Result<(), BmcError> {
        let target = self.spec.socket_addr();
        let sock = udp_socket_in(self.spec.netns.as_deref(), target.is_ipv6())?;
        let probe = channel_auth_capabilities_request();
        let mut buf = [0u8; 512];
        loop {
            if !self.is_running() {
                return Err(BmcError::Exited {
                    log: log_tail(&self.spec.dir.join("sim.log")),
                });
            }
            // Errors such as ECONNREFUSED (port not bound yet) just mean: try again.
            let _ = sock.send_to(&probe, target);
            let wait = deadline.remaining().min(Duration::from_millis(100));
            if wait.is_zero() {
                return Err(BmcError::NotAnswering {
                    addr: target,
                    log: log_tail(&self.spec.dir.join("sim.log")),
                });
            }
            sock.set_read_timeout(Some(wait))
                .map_err(io_err(&self.spec.dir))?;
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                if from == target && is_rmcp_ipmi_reply(&buf[..n]) {
                    return Ok(());
                }
            } else {
                // A refused send returns at once; do not spin.
                deadline.sleep(Duration::from_millis(20));
            }
        }
    }

    /// What this BMC was made from.
    pub fn spec(&self) -> &BmcSpec {
        &self.spec
    }
    /// The address and port it serves.
    pub fn addr(&self) -> SocketAddr {
        self.spec.socket_addr()
    }
    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.spec.dir
    }
    /// Pid of the ipmi_sim it started (`None` once stopped).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// True while the ipmi_sim that was started still runs.
    pub fn is_running(&self) -> bool {
        self.process.as_ref().is_some_and(|p| p.is_alive())
    }

    /// Chassis power as the BMC reports it (true = on).
    pub fn power(&self) -> Result<bool, BmcError> {
        read_power_file(&self.spec.dir).map_err(|e| match e {
            state::PowerReadError::Io(source) => BmcError::Io {
                path: self.spec.dir.join(POWER_FILE),
                source,
            },
            state::PowerReadError::Bad(content) => BmcError::BadPowerState {
                path: self.spec.dir.join(POWER_FILE),
                content,
            },
        })
    }

    /// Set chassis power behind the BMC's back (as a person pressing the button would).
    pub fn set_power(&self, on: bool) -> Result<(), BmcError> {
        write_power_file(&self.spec.dir, on).map_err(io_err(&self.spec.dir.join(POWER_FILE)))
    }

    /// Every chassis command the BMC ran, one per line (`<unix time> <args>`).
    pub fn chassis_log(&self) -> Result<String, BmcError> {
        let p = self.spec.dir.join(CHASSIS_LOG);
        match std::fs::read_to_string(&p) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Leave ipmi_sim running past this value (a lab that outlives the command that built
    /// it). Its identity is also in `DIR/ipmi_sim.pid` for [`stop_recorded`].
    pub fn detach(mut self) -> Option<ProcessIdentity> {
        self.process.take()
    }

    /// Stop ipmi_sim (SIGTERM, then SIGKILL after a grace period), by pid, only if it is
    /// still the process that was started.
    pub fn stop(mut self) -> Result<(), BmcError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), BmcError> {
        let Some(p) = self.process.take() else {
            return Ok(());
        };
        p.terminate(STOP_GRACE);
        Ok(())
    }
}

/// Stop the ipmi_sim recorded in `dir` (by an earlier [`Bmc::start`], typically of a
/// [`Bmc::detach`]ed BMC), if that very process (pid and start time) still runs. Returns
/// whether one was stopped.
pub fn stop_recorded(dir: &Path) -> Result<bool, BmcError> {
    let f = dir.join(PID_FILE);
    let text = match std::fs::read_to_string(&f) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(&f)(e)),
    };
    let Some(p) = ProcessIdentity::parse_line(&text) else {
        return Ok(false);
    };
    if !p.is_alive() {
        return Ok(false);
    }
    let mut bmc = Bmc {
        spec: BmcSpec::new(dir, IpAddr::from([127, 0, 0, 1]), 1),
        process: Some(p),
    };
    bmc.stop_inner()?;
    Ok(true)
}

impl Drop for Bmc {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Write a file readable by its owner only (it holds BMC passwords).
fn write_private(path: &Path, data: &[u8]) -> Result<(), BmcError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    f.write_all(data).map_err(io_err(path))
}

/// A helper binary of this crate (`axha-bmc-chassis`, `axha-bmc-lanplus`): `explicit`, else
/// next to the running executable or one level up, else installed.
fn find_helper(name: &str, explicit: Option<&Path>) -> Result<PathBuf, BmcError> {
    let mut tried = Vec::new();
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_owned());
        }
        return Err(BmcError::HelperMissing {
            name: name.to_string(),
            tried: vec![p.to_owned()],
        });
    }
    if let Ok(exe) = std::env::current_exe() {
        let mut dir = exe.parent();
        // next to the executable, then one level up (target/debug/deps -> target/debug)
        for _ in 0..2 {
            let Some(d) = dir else { break };
            let p = d.join(name);
            if p.is_file() {
                return Ok(p);
            }
            tried.push(p);
            dir = d.parent();
        }
    }
    // Installed next to the lab helper (see the Makefile's install target).
    let installed = Path::new(INSTALLED_DIR).join(name);
    if installed.is_file() {
        return Ok(installed);
    }
    tried.push(installed);
    Err(BmcError::HelperMissing {
        name: name.to_string(),
        tried,
    })
}

fn log_tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    if lines.is_empty() {
        "(no output)".into()
    } else {
        lines[start..].join(" | ")
    }
}

/// A UDP socket created inside network namespace `ns` (or the current one). A socket keeps
/// the namespace it was created in, so it is made on a short-lived thread that enters the
/// namespace (setns(2) with CLONE_NEWNET affects only the calling thread).
pub fn udp_socket_in(ns: Option<&str>, v6: bool) -> Result<UdpSocket, BmcError> {
    let any: SocketAddr = if v6 {
        "[::]:0".parse().expect("literal")
    } else {
        "0.0.0.0:0".parse().expect("literal")
    };
    bind_in(ns, any).map_err(|e| match e {
        BindError::Netns(e) => e,
        BindError::Bind(source) => BmcError::Io {
            path: PathBuf::from(any.to_string()),
            source,
        },
    })
}

enum BindError {
    Netns(BmcError),
    Bind(std::io::Error),
}

/// Bind a UDP socket to `addr` inside namespace `ns` (or the current one).
fn bind_in(ns: Option<&str>, addr: SocketAddr) -> Result<UdpSocket, BindError> {
    let Some(ns) = ns else {
        return UdpSocket::bind(addr).map_err(BindError::Bind);
    };
    let path = PathBuf::from("/run/netns").join(ns);
    let netns_err = |source| {
        BindError::Netns(BmcError::Netns {
            name: ns.to_string(),
            source,
        })
    };
    // Ok(Err(_)): bind failed; Err(_): entering the namespace failed.
    let joined = std::thread::spawn(move || -> std::io::Result<std::io::Result<UdpSocket>> {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&path)?;
        // SAFETY: setns on a valid fd; only this thread changes namespace and it ends below.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(UdpSocket::bind(addr))
    })
    .join()
    .map_err(|_| netns_err(std::io::Error::other("thread panicked")))?;
    joined.map_err(netns_err)?.map_err(BindError::Bind)
}

/// ipmi_sim binds with SO_REUSEADDR, so a second BMC on a taken port would start "fine" and
/// share the first one's traffic. A plain bind (without SO_REUSEADDR) fails on a taken port.
fn check_port_free(spec: &BmcSpec) -> Result<(), BmcError> {
    let addr = spec.socket_addr();
    match bind_in(spec.netns.as_deref(), addr) {
        Ok(_) => Ok(()),
        Err(BindError::Bind(e)) if e.kind() == ErrorKind::AddrInUse => {
            Err(BmcError::PortInUse(addr))
        }
        Err(BindError::Bind(source)) => Err(BmcError::Io {
            path: PathBuf::from(addr.to_string()),
            source,
        }),
        Err(BindError::Netns(e)) => Err(e),
    }
}

/// A session-less IPMI 1.5 "Get Channel Authentication Capabilities" request (IPMI v2.0
/// §22.13) in an RMCP packet (§13.1.3): every IPMI LAN BMC answers it without credentials.
/// Data: channel 0x0E (this one) with bit 7 = "IPMI v2.0 extended data", privilege admin.
pub fn channel_auth_capabilities_request() -> Vec<u8> {
    let msg = axha_ipmi::wire::ipmi_request(0x06, 0x38, 0, &[0x8e, 0x04]);
    axha_ipmi::wire::encode_v15_sessionless(&msg)
}

fn is_rmcp_ipmi_reply(b: &[u8]) -> bool {
    b.len() >= 4 && b[0] == 0x06 && b[3] & 0x1f == 0x07
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BmcSpec {
        BmcSpec::new("/tmp/x", "127.0.0.1".parse().unwrap(), 1234)
            .user(BmcUser::new("admin", "secret", Privilege::Admin))
            .user(BmcUser::new("oper", "pw", Privilege::Operator))
    }

    #[test]
    fn lan_conf_lists_users_and_chassis() {
        let s = spec().lan_conf(Path::new("/bin/ch"));
        assert!(s.contains("addr 127.0.0.1 1234\n"), "{s}");
        assert!(s.contains("chassis_control \"/bin/ch /tmp/x\"\n"), "{s}");
        assert!(s.contains("user 1 false"), "{s}");
        assert!(
            s.contains("user 2 true \"admin\" \"secret\" admin 10 md5\n"),
            "{s}"
        );
        assert!(
            s.contains("user 3 true \"oper\" \"pw\" operator 10 md5\n"),
            "{s}"
        );
    }

    #[test]
    fn validate_rejects_unrepresentable_values() {
        assert!(spec().validate().is_ok());
        let mut s = spec();
        s.users[0].password = "a\"b".into();
        assert!(matches!(s.validate(), Err(BmcError::InvalidSpec(m)) if m.contains("admin")));
        let mut s = spec();
        s.users[1].name = "x".repeat(17);
        assert!(s.validate().is_err());
        let mut s = spec();
        s.port = 0;
        assert!(s.validate().is_err());
        let mut s = spec();
        s.users.clear();
        assert!(s.validate().is_err());
        assert!(spec().netns("../x").validate().is_err());
        assert!(spec().power_hook(vec![]).validate().is_err());
    }

    #[test]
    fn probe_checksums_are_valid() {
        let p = channel_auth_capabilities_request();
        assert_eq!(p[13] as usize, p.len() - 14);
        let m = &p[14..];
        assert_eq!(m[..3].iter().fold(0u8, |a, x| a.wrapping_add(*x)), 0);
        assert_eq!(m[3..].iter().fold(0u8, |a, x| a.wrapping_add(*x)), 0);
    }
}
