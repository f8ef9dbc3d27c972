//! The multi-tier architecture whole, in one lab, and its scenarios: two back-end instances
//! (n1, n2) with a hot stand-by (n3), front-end nodes (n4, n5, ...) running Dovecot (IMAP/POP3
//! proxy by LDAP) and Postfix (SMTP routed by LDAP transport maps) behind HAProxy whose VIP
//! Pacemaker moves, and two OpenLDAP providers replicating each other (d1, d2). A client pool
//! on c1 reaches everything through the VIP only.
//!
//! [`Tiers::build`] makes the tiers in a lab that is up ([`tier_spec`]); the scenarios
//! ([`Tiers::routing`], [`Tiers::directory_loss`], [`Tiers::frontend_loss`],
//! [`Tiers::backend_loss`], [`Tiers::vip_loss`]) each return their figures; `axigen-ha lab
//! demo --template multi-tier-n-plus-1` and the end-to-end suite run the same ones, and
//! [`TierReport::to_json`] is the demo's JSON. Back-ends are `axigen-sim`, the Axigen
//! stand-in; everything else is the real program.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axha_exec::Deadline;

use crate::scenario::values_toml;
use crate::service::Instance;
use crate::spec::{Fencing, LabSpec};
use crate::{Lab, LabError, CLIENT, DIRECTORY_BASE_DN, DIRECTORY_ROOT_DN, LB_VIP};

/// The template the tiers are rendered from.
pub const TIER_TEMPLATE: &str = "multi-tier-n-plus-1";
/// Back-end nodes, each the home of one instance (`mail1`, `mail2`).
pub const BACKENDS: [&str; 2] = ["n1", "n2"];
/// The hot stand-by.
pub const STANDBY: &str = "n3";
/// The schema of the location directory (object classes of back-ends and domains).
const SCHEMA: &str = include_str!("../../directory/schema/axigen-ha.schema");
/// Port of HAProxy's read-only statistics socket on each load-balancer node (loopback).
pub const HAPROXY_STATS_PORT: u16 = 9101;
/// Accounts the scenarios spread over the back-ends.
pub const ACCOUNTS: usize = 8;
const WAIT: Duration = Duration::from_secs(120);
const IO: Duration = Duration::from_secs(10);
/// A client's connect timeout: short, so an address nobody holds costs little of a gap.
const CONNECT: Duration = Duration::from_secs(1);
const PROVISION_TIMEOUT: Duration = Duration::from_secs(60);
/// A pool client's pause after a failed login (the gap's resolution).
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// The front-end nodes of a lab with `n` of them: n4, n5, ...
pub fn front_end_nodes(n: usize) -> Vec<String> {
    (4..4 + n).map(|i| format!("n{i}")).collect()
}

/// The lab for the tiers: back-ends, the stand-by and `front_ends` front-end nodes, corosync
/// token 1000 ms, IPMI fencing, the agents and `axigen-sim` from `binaries`.
pub fn tier_spec(name: &str, front_ends: usize, binaries: &Path) -> LabSpec {
    let mut s = LabSpec::new(name, 3 + front_ends);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries.to_path_buf());
    s
}

/// The address of scenario account `i`.
pub fn account(i: usize) -> String {
    format!("user{i}@example.com")
}

/// The password of scenario account `i` (it reaches axigen-provision on stdin only).
fn password(i: usize) -> String {
    format!("pw-{i}-secret")
}

/// Run `f` on a thread inside the network namespace `ns` (sockets it opens live there).
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, LabError> {
    let path = Path::new("/run/netns").join(ns);
    let file = File::open(&path).map_err(|e| LabError::io(&path, e))?;
    std::thread::spawn(move || {
        // SAFETY: setns with a valid namespace fd moves only this short-lived thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(f())
    })
    .join()
    .map_err(|_| LabError::BadState {
        path: path.clone(),
        reason: "the client thread panicked".into(),
    })?
    .map_err(|e| LabError::io(&path, e))
}

/// Read until `end` is in what was read (bounded by size and time).
fn read_until(s: &mut TcpStream, end: &str) -> Result<String, String> {
    let d = Instant::now() + IO;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&buf).contains(end) {
        if Instant::now() > d || buf.len() > 1 << 20 {
            return Err(format!("no {end:?} in {:?}", String::from_utf8_lossy(&buf)));
        }
        s.set_read_timeout(Some(IO)).map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => {
                return Err(format!(
                    "closed before {end:?}: {:?}",
                    String::from_utf8_lossy(&buf)
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn connect(to: Ipv4Addr, port: u16) -> Result<TcpStream, String> {
    TcpStream::connect_timeout(&SocketAddr::from((to, port)), CONNECT)
        .map_err(|e| format!("connect {to}:{port}: {e}"))
}

/// What one IMAP session saw: the back-end host that answered `ID` and the INBOX's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapSession {
    /// The `host` of the back-end's `ID` answer (its node name).
    pub host: String,
    /// Every message of the INBOX, as FETCH returned them.
    pub inbox: String,
}

fn imap_say(s: &mut TcpStream, tag: &str, cmd: &str) -> Result<String, String> {
    s.write_all(format!("{tag} {cmd}\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let r = read_until(s, &format!("{tag} "))?;
    let r = if r.contains("\r\n") && !r.ends_with("\r\n") {
        r + &read_until(s, "\r\n")?
    } else {
        r
    };
    if r.contains(&format!("{tag} OK")) {
        Ok(r)
    } else {
        Err(r)
    }
}

/// Log in over IMAP at `to`, ask `ID`, read the whole INBOX, log out.
pub fn imap_session(to: Ipv4Addr, user: &str, password: &str) -> Result<ImapSession, String> {
    let mut s = connect(to, 143)?;
    read_until(&mut s, "\r\n")?;
    imap_say(&mut s, "a", &format!("LOGIN \"{user}\" \"{password}\""))?;
    let id = imap_say(&mut s, "b", "ID NIL")?;
    let host = id
        .split("\"host\" \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_string();
    imap_say(&mut s, "c", "SELECT INBOX")?;
    let inbox = imap_say(&mut s, "d", "FETCH 1:* BODY[]")?;
    let _ = s.write_all(b"e LOGOUT\r\n");
    Ok(ImapSession { host, inbox })
}

/// Only an IMAP login at `to` (greeting, LOGIN, LOGOUT): what a login costs.
pub fn imap_login(to: Ipv4Addr, user: &str, password: &str) -> Result<(), String> {
    let mut s = connect(to, 143)?;
    read_until(&mut s, "\r\n")?;
    imap_say(&mut s, "a", &format!("LOGIN \"{user}\" \"{password}\""))?;
    let _ = s.write_all(b"b LOGOUT\r\n");
    Ok(())
}

/// A POP3 session at `to`: USER, PASS, STAT, then RETR of every message; returns the
/// messages.
pub fn pop3_session(to: Ipv4Addr, user: &str, password: &str) -> Result<String, String> {
    let mut s = connect(to, 110)?;
    read_until(&mut s, "\r\n")?;
    let mut say = |cmd: &str| -> Result<String, String> {
        s.write_all(format!("{cmd}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let r = read_until(&mut s, "\r\n")?;
        if r.starts_with("+OK") {
            Ok(r)
        } else {
            Err(format!("{} -> {r:?}", cmd.split(' ').next().unwrap_or("")))
        }
    };
    say(&format!("USER {user}"))?;
    say(&format!("PASS {password}"))?;
    let stat = say("STAT")?;
    let count: usize = stat
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("STAT -> {stat:?}"))?;
    let mut all = String::new();
    for m in 1..=count.min(100) {
        s.write_all(format!("RETR {m}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let r = read_until(&mut s, "\r\n.\r\n")?;
        if !r.starts_with("+OK") {
            return Err(format!("RETR {m} -> {r:?}"));
        }
        all.push_str(&r);
    }
    let _ = s.write_all(b"QUIT\r\n");
    Ok(all)
}

/// Send one message over SMTP at `to`.
pub fn smtp_send(to: Ipv4Addr, rcpt: &str, body: &str) -> Result<(), String> {
    let mut s = connect(to, 25)?;
    read_until(&mut s, "\r\n")?;
    for (line, want) in [
        ("EHLO client.lab".to_string(), "250 "),
        ("MAIL FROM:<probe@client.lab>".to_string(), "250 "),
        (format!("RCPT TO:<{rcpt}>"), "250 "),
        ("DATA".to_string(), "354 "),
        (format!("Subject: {body}\r\n\r\n{body}\r\n."), "250 "),
    ] {
        s.write_all(format!("{line}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let r = read_until(&mut s, "\r\n")?;
        let last = r.lines().last().unwrap_or("");
        if !last.starts_with(want) {
            return Err(format!("{line:?} -> {r:?}"));
        }
    }
    let _ = s.write_all(b"QUIT\r\n");
    Ok(())
}

/// The value at fraction `p` (0.5 = median) of `v`, in milliseconds (0 when empty).
pub fn percentile_ms(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

/// One round of logins: the failed ones (account, why) and the latencies of the good ones.
pub type LoginRound = (Vec<(usize, String)>, Vec<Duration>);

/// One login of the client pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The account's index.
    pub account: usize,
    /// When the login began, from the pool's start.
    pub at: Duration,
    /// How long it took.
    pub took: Duration,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Clients logging in (IMAP) through the VIP, one account after the other, until stopped:
/// the record of every attempt is the scenarios' source of truth.
pub struct ClientPool {
    stop: Arc<AtomicBool>,
    start: Instant,
    thread: std::thread::JoinHandle<Result<Vec<Attempt>, LabError>>,
}

impl ClientPool {
    /// Start logging in to `accounts`, round after round, from the client machine.
    pub fn start(lab: &Lab, accounts: &[usize]) -> ClientPool {
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let (ns, accounts, flag) = (lab.netns_name(CLIENT), accounts.to_vec(), stop.clone());
        let thread = std::thread::spawn(move || {
            in_netns(&ns, move || {
                let mut record = Vec::new();
                while !flag.load(Ordering::Relaxed) && !accounts.is_empty() {
                    for &i in &accounts {
                        let at = start.elapsed();
                        let r = imap_login(LB_VIP, &account(i), &password(i));
                        let failed = r.is_err();
                        record.push(Attempt {
                            account: i,
                            at,
                            took: start.elapsed() - at,
                            error: r.err(),
                        });
                        // a client that failed retries after a pause, as mail clients do
                        if failed {
                            std::thread::sleep(RETRY_PAUSE);
                        }
                    }
                }
                record
            })
        });
        ClientPool {
            stop,
            start,
            thread,
        }
    }

    /// When the pool started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Stop and return the record.
    pub fn finish(self) -> Result<Vec<Attempt>, LabError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().map_err(|_| LabError::BadState {
            path: PathBuf::from("/run/netns"),
            reason: "the client pool panicked".into(),
        })?
    }
}

/// A failed attempt in one line: its start relative to `zero`, its duration, its error.
fn describe(a: &Attempt, zero: Duration) -> String {
    let at = a.at.as_secs_f64() - zero.as_secs_f64();
    format!(
        "{} at {at:+.2} s for {:.2} s: {}",
        account(a.account),
        a.took.as_secs_f64(),
        a.error.as_deref().unwrap_or("ok")
    )
}

/// Where one account landed: what routing by the directory did with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The account.
    pub account: String,
    /// Its back-end's node, as the directory places it.
    pub home: String,
    /// The node that answered its IMAP login through the VIP.
    pub imap_host: String,
    /// The message sent to the VIP over SMTP was in its INBOX (over IMAP).
    pub mail_arrived: bool,
    /// The same message was read over POP3 through the VIP (USER/PASS/STAT/RETR).
    pub pop3_read: bool,
}

/// Routing through the whole path.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// Each account.
    pub accounts: Vec<Routed>,
    /// A wrong password through the proxy was refused by the back-end (AUTHENTICATIONFAILED).
    pub wrong_password_refused: bool,
    /// Logins through the VIP, median.
    pub login_p50_ms: f64,
    /// Logins through the VIP, 99th percentile.
    pub login_p99_ms: f64,
}

/// One LDAP provider powered off.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryLoss {
    /// Logins and provisioning calls that failed while d1 was down (after the clients'
    /// failover to d2).
    pub failed_after_failover: usize,
    /// Logins and provisioning calls made while d1 was down.
    pub attempts: usize,
    /// From d1's restart to both providers holding the same entries and contextCSN.
    pub caught_up_s: f64,
    /// Entries both providers hold afterwards.
    pub entries: usize,
}

/// One LDAP provider hung (SIGSTOP: it accepts connections and never answers).
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryHang {
    /// Logins through the VIP that failed while d1 hung.
    pub failed: usize,
    /// Logins made while d1 hung.
    pub attempts: usize,
    /// From the hang to the end of the last failed login (0: none failed).
    pub recovered_s: f64,
    /// The last login before d1 went on again succeeded.
    pub answering_at_end: bool,
    /// The slowest login while d1 hung (the lookups that waited for the switch to d2).
    pub slowest_s: f64,
    /// Every front-end's HAProxy had marked d1 DOWN (its LDAP check) before d1 went on.
    pub marked_down: bool,
    /// How long an account creation took with d1 hung.
    pub provisioning_s: f64,
}

/// A front-end (not the VIP holder) powered off.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontendLoss {
    /// The front-end lost.
    pub node: String,
    /// From the power loss to HAProxy marking it DOWN (HAProxy's own record).
    pub detection_s: f64,
    /// Logins that failed inside the detection window.
    pub failed_in_detection: usize,
    /// Logins that failed after it.
    pub failed_after_detection: usize,
    /// Logins made.
    pub attempts: usize,
    /// From the power on through its BMC to HAProxy sending to it again.
    pub back_s: f64,
    /// Each failed login: when, relative to the loss, and why.
    pub failures: Vec<String>,
}

/// A back-end powered off.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendLoss {
    /// The back-end lost.
    pub node: String,
    /// Failed logins of the other back-ends' accounts.
    pub failed_other_backends: usize,
    /// Logins of the other back-ends' accounts.
    pub attempts_other_backends: usize,
    /// From the power loss to every affected account logging in again.
    pub affected_answering_s: f64,
    /// The node serving the affected accounts afterwards (the ID answer).
    pub served_by: String,
}

/// The node holding the VIP powered off through its BMC.
#[derive(Debug, Clone, PartialEq)]
pub struct VipLoss {
    /// The node that held the VIP.
    pub node: String,
    /// The node holding it afterwards.
    pub new_node: String,
    /// First failed login to the first good one after it, from the client pool's record.
    pub gap_s: f64,
    /// Logins that failed.
    pub failed: usize,
    /// Logins made.
    pub attempts: usize,
}

/// Every scenario's figures: the demo's report.
#[derive(Debug, Clone, PartialEq)]
pub struct TierReport {
    /// Front-end nodes.
    pub front_ends: Vec<String>,
    /// Routing through the whole path.
    pub routing: Routing,
    /// One LDAP provider lost.
    pub directory_loss: DirectoryLoss,
    /// One LDAP provider hung.
    pub directory_hang: DirectoryHang,
    /// One front-end lost.
    pub frontend_loss: FrontendLoss,
    /// One back-end lost.
    pub backend_loss: BackendLoss,
    /// The VIP holder lost.
    pub vip_loss: VipLoss,
}

fn q(s: &str) -> String {
    format!(
        "\"{}\"",
        axha_exec::escape_controls(s)
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

impl TierReport {
    /// One JSON object: `routing`, `directory_loss`, `frontend_loss`, `backend_loss`,
    /// `vip_loss`, each with its figures (seconds as `*_s`).
    pub fn to_json(&self) -> String {
        let r = &self.routing;
        let misrouted = r
            .accounts
            .iter()
            .filter(|a| a.imap_host != a.home || !a.mail_arrived || !a.pop3_read)
            .count();
        let h = &self.directory_hang;
        let (d, f, b, v) = (
            &self.directory_loss,
            &self.frontend_loss,
            &self.backend_loss,
            &self.vip_loss,
        );
        let fes: Vec<String> = self.front_ends.iter().map(|n| q(n)).collect();
        format!(
            "{{\"front_ends\":[{}],\
             \"routing\":{{\"accounts\":{},\"misrouted\":{misrouted},\"wrong_password_refused\":{},\"login_p50_ms\":{:.1},\"login_p99_ms\":{:.1}}},\
             \"directory_loss\":{{\"failed_after_failover\":{},\"attempts\":{},\"caught_up_s\":{:.2},\"entries\":{}}},\
             \"directory_hang\":{{\"failed\":{},\"attempts\":{},\"recovered_s\":{:.2},\"answering_at_end\":{},\"slowest_s\":{:.2},\"marked_down\":{},\"provisioning_s\":{:.2}}},\
             \"frontend_loss\":{{\"node\":{},\"detection_s\":{:.2},\"failed_in_detection\":{},\"failed_after_detection\":{},\"attempts\":{},\"back_s\":{:.2}}},\
             \"backend_loss\":{{\"node\":{},\"failed_other_backends\":{},\"attempts_other_backends\":{},\"affected_answering_s\":{:.2},\"served_by\":{}}},\
             \"vip_loss\":{{\"node\":{},\"new_node\":{},\"gap_s\":{:.2},\"failed\":{},\"attempts\":{}}}}}",
            fes.join(","),
            r.accounts.len(),
            r.wrong_password_refused,
            r.login_p50_ms,
            r.login_p99_ms,
            d.failed_after_failover,
            d.attempts,
            d.caught_up_s,
            d.entries,
            h.failed,
            h.attempts,
            h.recovered_s,
            h.answering_at_end,
            h.slowest_s,
            h.marked_down,
            h.provisioning_s,
            q(&f.node),
            f.detection_s,
            f.failed_in_detection,
            f.failed_after_detection,
            f.attempts,
            f.back_s,
            q(&b.node),
            b.failed_other_backends,
            b.attempts_other_backends,
            b.affected_answering_s,
            q(&b.served_by),
            q(&v.node),
            q(&v.new_node),
            v.gap_s,
            v.failed,
            v.attempts,
        )
    }
}

/// The tiers of a lab, built by [`Tiers::build`].
#[derive(Debug, Clone)]
pub struct Tiers {
    /// Front-end nodes and their addresses.
    pub front_ends: Vec<(String, Ipv4Addr)>,
    /// The back-end instances (`mail1` on n1, `mail2` on n2).
    pub instances: Vec<Instance>,
    /// The directory pair.
    pub directory: crate::DirectoryPair,
    /// axigen-provision's configuration (both providers).
    pub provision_config: PathBuf,
    /// axigen-provision itself.
    pub provision_bin: PathBuf,
    /// The node of each scenario account's back-end, by account index.
    pub homes: Vec<String>,
}

fn failed(what: &str, reason: String) -> LabError {
    LabError::Timeout {
        what: what.to_string(),
        last: reason,
    }
}

impl Tiers {
    /// Build the tiers in `lab` (made from [`tier_spec`]): the directory pair, Dovecot and
    /// Postfix on every front-end, the back-end instances, the template rendered from one
    /// values file and loaded, then [`ACCOUNTS`] accounts created by axigen-provision (from
    /// `binaries`, with `axigen-sim`) over both back-ends. Returns when every instance runs
    /// on its home node and the VIP is held.
    pub fn build(lab: &Lab, binaries: &Path) -> Result<Tiers, LabError> {
        let nodes = lab.nodes();
        let fe_names: Vec<String> = nodes.iter().skip(3).cloned().collect();
        if nodes.len() < 5 {
            return Err(LabError::InvalidSpec {
                field: "nodes",
                value: nodes.len().to_string(),
                reason: "the tiers need two back-ends, a stand-by and two front-ends or more",
            });
        }
        let schema = lab.state_dir().join("axigen-ha.schema");
        std::fs::write(&schema, SCHEMA).map_err(|e| LabError::io(&schema, e))?;
        let directory = lab.start_directory_pair(&schema)?;
        let front_ends: Vec<(String, Ipv4Addr)> = fe_names
            .iter()
            .map(|n| (n.clone(), lab.node_addr(n)))
            .collect();
        for (n, _) in &front_ends {
            lab.start_front_end(n, &directory.reference()?, LB_VIP, &front_ends)?;
        }
        let sim = binaries.join("axigen-sim");
        let instances = BACKENDS
            .iter()
            .enumerate()
            .map(|(k, h)| lab.add_instance(&format!("mail{}", k + 1), k + 1, Some(h), &sim))
            .collect::<Result<Vec<_>, _>>()?;
        let lb_nodes: Vec<String> = fe_names.iter().map(|n| format!("\"{n}\"")).collect();
        let values = format!(
            "standby_nodes = [\"{STANDBY}\"]\nstandby_capacity = 2\n\n[cluster]\nname = \"lab\"\n\n\
             [load_balancer]\nvip = \"{LB_VIP}\"\ncidr = 24\nnodes = [{}]\nhaproxy_config = \"{}\"\n\n{}",
            lb_nodes.join(", "),
            lab.haproxy_config().display(),
            values_toml(lab, &instances)
        );
        let vfile = lab.state_dir().join("values.toml");
        std::fs::write(&vfile, &values).map_err(|e| LabError::io(&vfile, e))?;
        let bad = |e: axha_cib::CibError| LabError::BadState {
            path: vfile.clone(),
            reason: e.to_string(),
        };
        let t: axha_cib::Template = TIER_TEMPLATE.parse().map_err(bad)?;
        let cib =
            axha_cib::build(t, &axha_cib::parse_values(&values).map_err(bad)?).map_err(bad)?;
        lab.load_configuration(&axha_cib::xml::render(&cib))?;
        // A fenced node stays off (the scenarios power it on through its BMC): a node that
        // rebooted at once could take its instance back before the failover showed.
        lab.fence_action_off(&lab.first_alive()?)?;
        lab.wait_view("instances home, VIP on a front-end", WAIT, |v| {
            v.locate("mail1") == [BACKENDS[0]]
                && v.locate("mail2") == [BACKENDS[1]]
                && v.locate("lb-vip").len() == 1
        })?;
        let mut tiers = Tiers {
            front_ends,
            instances,
            directory,
            provision_config: PathBuf::new(),
            provision_bin: binaries.join("axigen-provision"),
            homes: Vec::new(),
        };
        tiers.provision_setup(lab)?;
        Ok(tiers)
    }

    /// axigen-provision's configuration (both providers), the back-ends, the domain and the
    /// scenario accounts.
    fn provision_setup(&mut self, lab: &Lab) -> Result<(), LabError> {
        let pdir = lab.state_dir().join("provision");
        let backends = pdir.join("backends");
        std::fs::create_dir_all(&backends).map_err(|e| LabError::io(&backends, e))?;
        for i in &self.instances {
            let to = backends.join(&i.id);
            std::fs::copy(&i.password_file, &to).map_err(|e| LabError::io(&to, e))?;
        }
        let pm = pdir.join("postmaster.pw");
        std::fs::write(&pm, "postmaster-pw\n").map_err(|e| LabError::io(&pm, e))?;
        std::fs::set_permissions(&pm, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(&pm, e))?;
        let conf = pdir.join("provision.toml");
        std::fs::write(
            &conf,
            format!(
                "[ldap]\nurl = \"{}\"\nbind_dn = \"{DIRECTORY_ROOT_DN}\"\nbind_password_file = \"{}\"\nbase_dn = \"{DIRECTORY_BASE_DN}\"\ntimeout_secs = 3\n\
                 [axigen]\npassword_dir = \"{}\"\npostmaster_password_file = \"{}\"\ntimeout_secs = 5\n",
                self.directory.uris.join(" "),
                self.directory.password_file.display(),
                backends.display(),
                pm.display()
            ),
        )
        .map_err(|e| LabError::io(&conf, e))?;
        self.provision_config = conf;
        self.provision(lab, &["init"], None)?;
        for i in self.instances.clone() {
            self.provision(
                lab,
                &[
                    "backend",
                    "add",
                    &i.id,
                    "--cli",
                    &format!("{}:7000", i.ip),
                    "--mail-host",
                    &i.ip.to_string(),
                ],
                None,
            )?;
        }
        self.provision(
            lab,
            &["domain", "create", "example.com", "--policy", "random"],
            None,
        )?;
        for i in 0..ACCOUNTS {
            self.create_account(lab, i)?;
        }
        self.homes = (0..ACCOUNTS)
            .map(|i| {
                let out = self.provision(lab, &["account", "show", &account(i)], None)?;
                let node = self
                    .instances
                    .iter()
                    .zip(BACKENDS)
                    .find(|(inst, _)| out.contains(&inst.id))
                    .map(|(_, n)| n.to_string());
                node.ok_or_else(|| failed("the account's back-end in the directory", out))
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }

    /// axigen-provision run on the client machine with the tiers' configuration.
    pub fn provision(
        &self,
        lab: &Lab,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, LabError> {
        let bin = self.provision_bin.display().to_string();
        let conf = self.provision_config.display().to_string();
        let mut argv = vec![bin.as_str(), "--config", conf.as_str()];
        argv.extend_from_slice(args);
        let mut c = lab.side_cmd(CLIENT, &argv);
        if let Some(s) = stdin {
            c = c.stdin(s.as_bytes().to_vec());
        }
        c.run_ok(&Deadline::after(PROVISION_TIMEOUT))
            .map(|o| o.stdout_str())
            .map_err(|e| LabError::exec(format!("axigen-provision {}", args.join(" ")), e))
    }

    /// Create scenario account `i` (its password on stdin).
    pub fn create_account(&self, lab: &Lab, i: usize) -> Result<(), LabError> {
        self.provision(
            lab,
            &["account", "create", &account(i)],
            Some(&format!("{}\n", password(i))),
        )
        .map(|_| ())
    }

    /// The accounts whose back-end is `node`.
    pub fn accounts_on(&self, node: &str) -> Vec<usize> {
        (0..self.homes.len())
            .filter(|i| self.homes[*i] == node)
            .collect()
    }

    /// Routing: a message to each account through the VIP (SMTP), then its IMAP login
    /// (which back-end answers, is the message there) and its POP3 session (is the message
    /// there) through the VIP; a wrong password; login latency through the VIP.
    pub fn routing(&self, lab: &Lab) -> Result<Routing, LabError> {
        let ns = lab.netns_name(CLIENT);
        let mut accounts = Vec::new();
        for (i, home) in self.homes.iter().enumerate() {
            let token = format!("token-{i}-{}", std::process::id());
            let (a, p) = (account(i), password(i));
            let routed = in_netns(&ns, move || -> Result<Routed, String> {
                smtp_send(LB_VIP, &a, &token)?;
                // delivery is asynchronous: wait for the message to be there
                let d = Deadline::after(WAIT);
                let mut last = Err(String::new());
                let got = d.poll(Duration::from_millis(200), || {
                    last = imap_session(LB_VIP, &a, &p);
                    last.as_ref()
                        .ok()
                        .filter(|l| l.inbox.contains(&token))
                        .cloned()
                });
                let (imap_host, mail_arrived) = match (got, last) {
                    (Some(l), _) => (l.host, true),
                    (None, Ok(l)) => (l.host, false),
                    (None, Err(e)) => return Err(e),
                };
                let pop3_read = pop3_session(LB_VIP, &a, &p)?.contains(&token);
                Ok(Routed {
                    account: a,
                    home: String::new(),
                    imap_host,
                    mail_arrived,
                    pop3_read,
                })
            })?
            .map_err(|e| failed(&format!("{} through the VIP", account(i)), e))?;
            accounts.push(Routed {
                home: home.clone(),
                ..routed
            });
        }
        let (a0, wrong) = (account(0), "not-it".to_string());
        let refused = in_netns(&ns, move || imap_session(LB_VIP, &a0, &wrong))?;
        let wrong_password_refused = refused.is_err_and(|e| e.contains("AUTHENTICATIONFAILED"));
        let all: Vec<usize> = (0..self.homes.len()).collect();
        let mut lat = Vec::new();
        for _ in 0..5 {
            let (fails, l) = self.login_round(lab, &all)?;
            if let Some((i, e)) = fails.first() {
                return Err(failed(
                    &format!("{} logging in through the VIP", account(*i)),
                    e.clone(),
                ));
            }
            lat.extend(l);
        }
        Ok(Routing {
            accounts,
            wrong_password_refused,
            login_p50_ms: percentile_ms(&mut lat, 0.5),
            login_p99_ms: percentile_ms(&mut lat, 0.99),
        })
    }

    /// One round of IMAP logins of `accounts` through the VIP: the failures, the latencies of
    /// the successful ones.
    pub fn login_round(&self, lab: &Lab, accounts: &[usize]) -> Result<LoginRound, LabError> {
        let accounts = accounts.to_vec();
        in_netns(&lab.netns_name(CLIENT), move || {
            let mut failed = Vec::new();
            let mut lat = Vec::new();
            for i in accounts {
                let t = Instant::now();
                match imap_login(LB_VIP, &account(i), &password(i)) {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => failed.push((i, e)),
                }
            }
            (failed, lat)
        })
    }

    /// One LDAP provider (d1) powered off: an account is created and logins go on through
    /// d2; d1 restarts and must catch up.
    pub fn directory_loss(&self, lab: &Lab) -> Result<DirectoryLoss, LabError> {
        lab.side_power_off("d1")?;
        let mut attempts = 0;
        let mut failures = 0;
        let extra = self.homes.len();
        attempts += 1;
        if self.create_account(lab, extra).is_err() {
            failures += 1;
        }
        let some: Vec<usize> = (0..self.homes.len()).chain([extra]).collect();
        for _ in 0..3 {
            let (f, l) = self.login_round(lab, &some)?;
            attempts += f.len() + l.len();
            failures += f.len();
        }
        lab.start_provider("d1")?;
        let t = Instant::now();
        let same = Deadline::after(WAIT).poll(Duration::from_millis(100), || {
            let (a, b) = (
                lab.provider_state("d1").ok()?,
                lab.provider_state("d2").ok()?,
            );
            (a == b).then_some(a)
        });
        let state = same.ok_or_else(|| {
            failed(
                "d1 holding every entry of d2 after its restart",
                format!(
                    "d1 {:?}, d2 {:?}",
                    lab.provider_state("d1"),
                    lab.provider_state("d2")
                ),
            )
        })?;
        Ok(DirectoryLoss {
            failed_after_failover: failures,
            attempts,
            caught_up_s: t.elapsed().as_secs_f64(),
            entries: state.entries,
        })
    }

    /// One provider (d1, the one every front-end uses while it answers: run this before
    /// [`Tiers::directory_loss`], after which the front-ends stay on d2) hangs while the client pool logs
    /// in and an account is created: the front-ends' HAProxy finds it failing its LDAP check
    /// and shuts its sessions, so lookups move to d2; then d1 goes on again.
    pub fn directory_hang(&self, lab: &Lab) -> Result<DirectoryHang, LabError> {
        let all: Vec<usize> = (0..self.homes.len()).collect();
        let pool = ClientPool::start(lab, &all);
        std::thread::sleep(Duration::from_secs(1));
        let hung_at = pool.started().elapsed();
        lab.pause_provider("d1", true)?;
        let t = Instant::now();
        let created = self.create_account(lab, self.homes.len() + 1);
        let provisioning = t.elapsed();
        std::thread::sleep(Duration::from_secs(8).saturating_sub(t.elapsed()));
        let marked_down = self.front_ends.iter().all(|(n, _)| {
            haproxy_server(lab, n, LDAP_PROXY, "ldap1").is_ok_and(|s| s.status.starts_with("DOWN"))
        });
        let record = pool.finish();
        lab.pause_provider("d1", false)?;
        created?;
        let during: Vec<Attempt> = record?.into_iter().filter(|a| a.at >= hung_at).collect();
        let failed: Vec<&Attempt> = during.iter().filter(|a| a.error.is_some()).collect();
        Ok(DirectoryHang {
            failed: failed.len(),
            attempts: during.len(),
            recovered_s: failed.last().map_or(0.0, |a| {
                (a.at + a.took).saturating_sub(hung_at).as_secs_f64()
            }),
            answering_at_end: during.last().is_some_and(|a| a.error.is_none()),
            marked_down,
            slowest_s: during
                .iter()
                .map(|a| a.took.as_secs_f64())
                .fold(0.0, f64::max),
            provisioning_s: provisioning.as_secs_f64(),
        })
    }

    /// The node holding the VIP now.
    pub fn vip_holder(&self, lab: &Lab) -> Result<String, LabError> {
        lab.view_any()?
            .locate("lb-vip")
            .first()
            .cloned()
            .ok_or_else(|| failed("the VIP to be held", String::new()))
    }

    /// A front-end that does not hold the VIP loses power while the client pool logs in;
    /// HAProxy's record gives the detection; then it is powered on through its BMC and
    /// serves again.
    pub fn frontend_loss(&self, lab: &Lab) -> Result<FrontendLoss, LabError> {
        let vip = self.vip_holder(lab)?;
        let node = self
            .front_ends
            .iter()
            .map(|(n, _)| n.clone())
            .find(|n| *n != vip)
            .ok_or_else(|| failed("a front-end besides the VIP holder", vip.clone()))?;
        let all: Vec<usize> = (0..self.homes.len()).collect();
        let fenced_before = lab.view(&vip)?.fenced(&node).len();
        let pool = ClientPool::start(lab, &all);
        std::thread::sleep(Duration::from_secs(1));
        let lost_at = pool.started().elapsed();
        lab.kill(&node)?;
        let down = Deadline::after(WAIT)
            .poll(Duration::from_millis(200), || {
                haproxy_server(lab, &vip, IMAP_PROXY, &node)
                    .ok()
                    .filter(|s| s.status.starts_with("DOWN"))
            })
            .ok_or_else(|| {
                failed(
                    &format!("HAProxy on {vip} to mark {node} DOWN"),
                    String::new(),
                )
            })?;
        // HAProxy's own record: the status changed `last_change` seconds ago.
        let now = pool.started().elapsed();
        let changed = now.saturating_sub(Duration::from_secs(down.last_change));
        let detection = changed.saturating_sub(lost_at);
        std::thread::sleep(Duration::from_secs(3));
        let record = pool.finish()?;
        let window_end = lost_at + detection + Duration::from_secs(1);
        let failures: Vec<&Attempt> = record.iter().filter(|a| a.error.is_some()).collect();
        // in the window: a login under way at the loss or begun before HAProxy's detection
        let in_window = failures
            .iter()
            .filter(|a| a.at + a.took >= lost_at && a.at < window_end)
            .count();
        // Powered on before Pacemaker's fencing (action off) completed, the node would be
        // switched off again as it boots: wait for the fencing history to record it.
        lab.wait_view(&format!("{node} fenced"), WAIT, |v| {
            v.fenced(&node).len() > fenced_before
        })?;
        let t = Instant::now();
        self.power_on_front_end(lab, &node)?;
        Ok(FrontendLoss {
            node,
            detection_s: detection.as_secs_f64(),
            failed_in_detection: in_window,
            failed_after_detection: failures.len() - in_window,
            attempts: record.len(),
            back_s: t.elapsed().as_secs_f64(),
            failures: failures.iter().map(|a| describe(a, lost_at)).collect(),
        })
    }

    /// Power a front-end on through its BMC, wait for it to join, start its Dovecot and
    /// Postfix (not cluster resources) and wait until HAProxy sends to it again.
    pub fn power_on_front_end(&self, lab: &Lab, node: &str) -> Result<(), LabError> {
        let from = lab
            .alive_nodes()
            .into_iter()
            .find(|n| n != node)
            .ok_or_else(|| LabError::NodeDown {
                node: "(every other node)".into(),
            })?;
        lab.bmc_chassis_power(&from, node, true)?;
        lab.wait_view(
            "the front-end back online, its HAProxy running",
            WAIT,
            |v| {
                lab.is_alive(node)
                    && v.online().iter().any(|n| n == node)
                    && v.resources.iter().any(|r| {
                        r.id.starts_with("lb-haproxy") && r.nodes.iter().any(|n| n == node)
                    })
            },
        )?;
        lab.start_front_end(node, &self.directory.reference()?, LB_VIP, &self.front_ends)?;
        let vip = self.vip_holder(lab)?;
        Deadline::after(WAIT)
            .poll(Duration::from_millis(200), || {
                haproxy_server(lab, &vip, IMAP_PROXY, node)
                    .ok()
                    .filter(|s| s.status.starts_with("UP"))
            })
            .map(|_| ())
            .ok_or_else(|| {
                failed(
                    &format!("HAProxy on {vip} to send to {node} again"),
                    String::new(),
                )
            })
    }

    /// A back-end (n2) loses power while its accounts and the other back-end's log in: the
    /// others must not notice; the affected ones answer again on the stand-by.
    pub fn backend_loss(&self, lab: &Lab) -> Result<BackendLoss, LabError> {
        let node = BACKENDS[1];
        let (others, affected) = (self.accounts_on(BACKENDS[0]), self.accounts_on(node));
        let pool = ClientPool::start(lab, &others);
        let t = Instant::now();
        lab.kill(node)?;
        let back = Deadline::after(WAIT).poll(Duration::from_millis(100), || {
            self.login_round(lab, &affected)
                .ok()
                .filter(|(f, _)| f.is_empty())
                .map(|_| t.elapsed())
        });
        // a few more rounds of the others once the instance runs on the stand-by
        std::thread::sleep(Duration::from_secs(2));
        let record = pool.finish()?;
        let back = back.ok_or_else(|| {
            failed(
                &format!("the accounts of {node} answering again"),
                String::new(),
            )
        })?;
        let served_by = match affected.first() {
            Some(&i) => {
                let (a, p) = (account(i), password(i));
                in_netns(&lab.netns_name(CLIENT), move || {
                    imap_session(LB_VIP, &a, &p)
                })?
                .map_err(|e| failed("the affected account's login", e))?
                .host
            }
            None => String::new(),
        };
        Ok(BackendLoss {
            node: node.to_string(),
            failed_other_backends: record.iter().filter(|a| a.error.is_some()).count(),
            attempts_other_backends: record.len(),
            affected_answering_s: back.as_secs_f64(),
            served_by,
        })
    }

    /// The node holding the VIP is powered off through its BMC while the client pool logs
    /// in: the VIP moves to another front-end; the gap is the pool's first failed login to
    /// its first good one after it. The lost node is not waited for (it stays off).
    pub fn vip_loss(&self, lab: &Lab) -> Result<VipLoss, LabError> {
        let node = self.vip_holder(lab)?;
        let from = lab.other_alive(&node)?;
        let all: Vec<usize> = (0..self.homes.len()).collect();
        let pool = ClientPool::start(lab, &all);
        std::thread::sleep(Duration::from_secs(1));
        lab.bmc_chassis_power(&from, &node, false)?;
        let view = lab.wait_view("the VIP on another front-end", WAIT, |v| {
            v.locate("lb-vip").first().is_some_and(|n| *n != node)
        })?;
        let new_node = view.locate("lb-vip")[0].clone();
        // a few seconds of good logins through the new holder close the record
        std::thread::sleep(Duration::from_secs(3));
        let record = pool.finish()?;
        let first_fail = record.iter().position(|a| a.error.is_some());
        let gap = first_fail.and_then(|k| {
            let good = record[k..].iter().find(|a| a.error.is_none())?;
            Some((good.at + good.took).saturating_sub(record[k].at))
        });
        let gap = match (first_fail, gap) {
            (None, _) => Duration::ZERO,
            (Some(_), Some(g)) => g,
            (Some(_), None) => {
                return Err(failed(
                    "a good login through the VIP after it moved",
                    record
                        .last()
                        .and_then(|a| a.error.clone())
                        .unwrap_or_default(),
                ))
            }
        };
        Ok(VipLoss {
            node,
            new_node,
            gap_s: gap.as_secs_f64(),
            failed: record.iter().filter(|a| a.error.is_some()).count(),
            attempts: record.len(),
        })
    }

    /// Every scenario in order (routing, directory hung, directory lost, front-end, back-end,
    /// VIP holder), each
    /// reported through `say` as it ends.
    pub fn run_all(&self, lab: &Lab, say: &mut dyn FnMut(&str)) -> Result<TierReport, LabError> {
        let routing = self.routing(lab)?;
        say(&format!(
            "routing: {} accounts through the VIP, each on its own back-end over IMAP {}, mail by SMTP read over IMAP {} and POP3 {}; logins p50 {:.1} ms p99 {:.1} ms",
            routing.accounts.len(),
            routing.accounts.iter().filter(|a| a.imap_host == a.home).count(),
            routing.accounts.iter().filter(|a| a.mail_arrived).count(),
            routing.accounts.iter().filter(|a| a.pop3_read).count(),
            routing.login_p50_ms,
            routing.login_p99_ms
        ));
        let directory_hang = self.directory_hang(lab)?;
        say(&format!(
            "directory: d1 hung (SIGSTOP): {} of {} logins failed (the last {:.2} s after the hang), the slowest took {:.2} s; an account created in {:.2} s",
            directory_hang.failed,
            directory_hang.attempts,
            directory_hang.recovered_s,
            directory_hang.slowest_s,
            directory_hang.provisioning_s
        ));
        let directory_loss = self.directory_loss(lab)?;
        say(&format!(
            "directory: d1 powered off, {} of {} logins and provisioning calls failed; d1 caught up {:.2} s after its restart ({} entries)",
            directory_loss.failed_after_failover,
            directory_loss.attempts,
            directory_loss.caught_up_s,
            directory_loss.entries
        ));
        let frontend_loss = self.frontend_loss(lab)?;
        say(&format!(
            "front-end {} powered off: HAProxy marked it DOWN after {:.2} s; failed logins {} inside that window, {} after, of {}; back through its BMC in {:.1} s",
            frontend_loss.node,
            frontend_loss.detection_s,
            frontend_loss.failed_in_detection,
            frontend_loss.failed_after_detection,
            frontend_loss.attempts,
            frontend_loss.back_s
        ));
        let backend_loss = self.backend_loss(lab)?;
        say(&format!(
            "back-end {} powered off: the other back-end's accounts failed {} of {} logins; the affected accounts answer on {} after {:.1} s",
            backend_loss.node,
            backend_loss.failed_other_backends,
            backend_loss.attempts_other_backends,
            backend_loss.served_by,
            backend_loss.affected_answering_s
        ));
        let vip_loss = self.vip_loss(lab)?;
        say(&format!(
            "VIP holder {} powered off through its BMC: the VIP moved to {}; clients' gap {:.2} s ({} of {} logins failed)",
            vip_loss.node, vip_loss.new_node, vip_loss.gap_s, vip_loss.failed, vip_loss.attempts
        ));
        Ok(TierReport {
            front_ends: self.front_ends.iter().map(|(n, _)| n.clone()).collect(),
            routing,
            directory_loss,
            directory_hang,
            frontend_loss,
            backend_loss,
            vip_loss,
        })
    }
}

/// Login figures of one path.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginFigures {
    /// Successful logins.
    pub logins: usize,
    /// Failed logins.
    pub failed: usize,
    /// Successful logins per second of wall time, all clients together.
    pub per_s: f64,
    /// Latency of one login (connect, greeting, LOGIN, LOGOUT), median.
    pub p50_ms: f64,
    /// The same, 99th percentile.
    pub p99_ms: f64,
}

/// IMAP logins through the VIP (HAProxy, then a front-end's Dovecot proxy, which asks the
/// directory, then the back-end) against straight to the account's back-end, side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct LoginBench {
    /// Through the VIP.
    pub through_vip: LoginFigures,
    /// Straight to the back-end's service IP.
    pub direct: LoginFigures,
    /// Concurrent clients.
    pub clients: usize,
}

impl Tiers {
    /// `rounds` rounds, each: every account logs in once from each of `clients` concurrent
    /// clients through the VIP, then the same straight to its back-end (interleaved, so both
    /// paths see the same machine load).
    pub fn login_bench(
        &self,
        lab: &Lab,
        rounds: usize,
        clients: usize,
    ) -> Result<LoginBench, LabError> {
        let ips: Vec<Ipv4Addr> = self
            .homes
            .iter()
            .map(|h| {
                self.instances
                    .iter()
                    .find(|i| i.home.as_deref() == Some(h.as_str()))
                    .map(|i| i.ip)
                    .ok_or_else(|| failed("the account's back-end instance", h.clone()))
            })
            .collect::<Result<_, _>>()?;
        let ns = lab.netns_name(CLIENT);
        let batch = |direct: bool| -> Result<(Duration, Vec<Duration>, usize), LabError> {
            let threads: Vec<_> = (0..clients.max(1))
                .map(|_| {
                    let (ns, ips) = (ns.clone(), ips.clone());
                    std::thread::spawn(move || {
                        in_netns(&ns, move || {
                            let (mut lat, mut bad) = (Vec::new(), 0);
                            for (i, ip) in ips.iter().enumerate() {
                                let to = if direct { *ip } else { LB_VIP };
                                let t = Instant::now();
                                match imap_login(to, &account(i), &password(i)) {
                                    Ok(()) => lat.push(t.elapsed()),
                                    Err(_) => bad += 1,
                                }
                            }
                            (lat, bad)
                        })
                    })
                })
                .collect();
            let t = Instant::now();
            let (mut lat, mut bad) = (Vec::new(), 0);
            for th in threads {
                let (l, b) = th.join().map_err(|_| LabError::BadState {
                    path: PathBuf::from("/run/netns"),
                    reason: "a benchmark client panicked".into(),
                })??;
                lat.extend(l);
                bad += b;
            }
            Ok((t.elapsed(), lat, bad))
        };
        let mut sides = [
            (Duration::ZERO, Vec::new(), 0usize),
            (Duration::ZERO, Vec::new(), 0),
        ];
        for _ in 0..rounds {
            for (k, direct) in [false, true].into_iter().enumerate() {
                let (wall, lat, bad) = batch(direct)?;
                sides[k].0 += wall;
                sides[k].1.extend(lat);
                sides[k].2 += bad;
            }
        }
        let figures = |(wall, mut lat, bad): (Duration, Vec<Duration>, usize)| LoginFigures {
            logins: lat.len(),
            failed: bad,
            per_s: lat.len() as f64 / wall.as_secs_f64().max(1e-9),
            p50_ms: percentile_ms(&mut lat, 0.5),
            p99_ms: percentile_ms(&mut lat, 0.99),
        };
        let [vip, direct] = sides;
        Ok(LoginBench {
            through_vip: figures(vip),
            direct: figures(direct),
            clients,
        })
    }
}

/// One server line of HAProxy's statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaproxyServer {
    /// `UP`, `DOWN`, `UP 1/2`, `no check`...
    pub status: String,
    /// Seconds since the status last changed (`lastchg`).
    pub last_change: u64,
}

/// The IMAP back-end of the load balancer (the front-ends).
pub const IMAP_PROXY: &str = "imap-front-ends";
/// The directory section of the load balancer (the providers).
pub const LDAP_PROXY: &str = "ldap-directory";

/// Parse `show stat` CSV: the line of server `server` of proxy `proxy`.
pub fn parse_haproxy_stat(csv: &str, proxy: &str, server: &str) -> Option<HaproxyServer> {
    let header = csv.lines().next()?.trim_start_matches("# ");
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (px, sv, st, lc) = (
        col("pxname")?,
        col("svname")?,
        col("status")?,
        col("lastchg")?,
    );
    csv.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split(',').collect();
        (f.get(px) == Some(&proxy) && f.get(sv) == Some(&server)).then(|| HaproxyServer {
            status: f.get(st).unwrap_or(&"").to_string(),
            last_change: f.get(lc).and_then(|v| v.parse().ok()).unwrap_or(0),
        })
    })
}

/// What HAProxy on `lb_node` thinks of `server` of `proxy`, read from its statistics socket
/// on the node's loopback.
pub fn haproxy_server(
    lab: &Lab,
    lb_node: &str,
    proxy: &'static str,
    server: &str,
) -> Result<HaproxyServer, LabError> {
    let csv = in_netns(
        &lab.netns_name(lb_node),
        move || -> Result<String, String> {
            let mut s = connect(Ipv4Addr::LOCALHOST, HAPROXY_STATS_PORT)?;
            s.write_all(b"show stat\n").map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(IO)).map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            s.take(1 << 20)
                .read_to_end(&mut buf)
                .map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        },
    )?
    .map_err(|e| failed(&format!("HAProxy statistics on {lb_node}"), e))?;
    parse_haproxy_stat(&csv, proxy, server).ok_or_else(|| {
        failed(
            &format!("{server} in HAProxy's statistics on {lb_node}"),
            csv.chars().take(200).collect(),
        )
    })
}

impl Lab {
    /// Make the cluster's fence action "off" (asked on `node`): a fenced node stays down
    /// until powered on through its BMC.
    pub fn fence_action_off(&self, node: &str) -> Result<(), LabError> {
        self.run_ok(
            node,
            &[
                "crm_attribute",
                "--name",
                "stonith-action",
                "--update",
                "off",
            ],
            Duration::from_secs(30),
        )
        .map(|_| ())
    }

    /// Chassis power of `node` on or off through its BMC (IPMI over LAN, as an operator would
    /// with ipmitool), asked from `from`, a live node. The BMC acts on the node's power; on
    /// boots it in the background.
    pub fn bmc_chassis_power(&self, from: &str, node: &str, on: bool) -> Result<(), LabError> {
        let bmc = self.bmc_addr(node);
        let pw = self.state_dir().join("bmc").join("password");
        let (ip, port, pw) = (
            bmc.ip().to_string(),
            bmc.port().to_string(),
            pw.display().to_string(),
        );
        // Cipher suite 3: ipmi_sim does not answer the cipher suite query (LAB-RECIPES.md 3).
        let argv = [
            "ipmitool",
            "-I",
            "lanplus",
            "-C",
            "3",
            "-H",
            &ip,
            "-p",
            &port,
            "-U",
            crate::fencing::BMC_USER,
            "-f",
            &pw,
            "chassis",
            "power",
            if on { "on" } else { "off" },
        ];
        self.run_ok(from, &argv, Duration::from_secs(60))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "# pxname,svname,qcur,status,lastchg,\n\
        imap,FRONTEND,0,OPEN,,\n\
        imap-front-ends,n4,0,UP,12,\n\
        imap-front-ends,n5,0,DOWN,3,\n\
        pop3-front-ends,n5,0,UP,40,\n";

    #[test]
    fn haproxy_stat_line_of_one_imap_server() {
        assert_eq!(
            parse_haproxy_stat(STAT, IMAP_PROXY, "n5"),
            Some(HaproxyServer {
                status: "DOWN".into(),
                last_change: 3
            })
        );
        assert_eq!(parse_haproxy_stat(STAT, IMAP_PROXY, "n9"), None);
        assert_eq!(parse_haproxy_stat(STAT, LDAP_PROXY, "n5"), None);
        assert_eq!(parse_haproxy_stat("garbage", IMAP_PROXY, "n5"), None);
        assert_eq!(parse_haproxy_stat("", IMAP_PROXY, "n5"), None);
    }

    #[test]
    fn front_ends_follow_the_stand_by() {
        assert_eq!(front_end_nodes(2), ["n4", "n5"]);
        assert_eq!(tier_spec("t", 3, Path::new("/b")).nodes, 6);
    }
}
