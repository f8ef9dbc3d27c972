//! The project's own RMCP+ responder: a small BMC that speaks IPMI v2.0 LAN for cipher suites
//! 2, 3 and 17 and honours a BMC key (K_G), which ipmi_sim 2.0.33 cannot (it has no SHA-256
//! suite and no K_G). It answers exactly what chassis power needs:
//!
//! - session-less: Get Channel Authentication Capabilities (§22.13) and Get Channel Cipher
//!   Suites (§22.15), in IPMI v1.5 or v2.0 framing;
//! - the session handshake: Open Session, RAKP 1-4 (§13.17-§13.23);
//! - in a session: Set Session Privilege Level, Close Session, Get Device ID, Get Chassis
//!   Status and Chassis Control (power down, up, cycle, hard reset, diagnostic interrupt,
//!   soft off), with the privilege each needs.
//!
//! Power state, chassis log and power hook are [`crate::chassis`]'s, the same as with
//! ipmi_sim. The key derivations and message layouts are `axha_ipmi`'s ([`crypto`],
//! [`wire::bmc`]); what proves them is ipmitool, a client nobody here wrote, agreeing with
//! this responder (tests/fence_cipher17.rs), and the known-answer tests in `axha_ipmi`.
//!
//! Its configuration, `DIR/lanplus.conf` (mode 0600), one setting per line:
//!
//! ```text
//! addr 127.0.0.1 16231
//! guid a123456789abcdefa123456789abcdef
//! user admin secret admin
//! kg 0102030405060708090a0b0c0d0e0f1011121314
//! suites 17 3
//! ```
//!
//! `suites` lists the cipher suites offered (all of 17, 3 and 2 when absent): a BMC that
//! disabled suite 3 is `suites 17`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axha_exec::{read_bounded, Deadline};
use axha_ipmi::crypto::{self, codes_match, Key20, RakpExchange, SessionKeys};
use axha_ipmi::wire::{self, bmc as bw, PayloadType, Protection};
use axha_ipmi::{BmcKey, CipherSuite};

use crate::{chassis, BmcError, BmcUser, Privilege};

/// The responder's configuration file, in the BMC's directory.
pub const CONFIG_FILE: &str = "lanplus.conf";
/// The GUID every simulated BMC reports (the same as ipmi_sim's in `lan.conf`).
pub const GUID: [u8; 16] = [
    0xa1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xa1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
];
/// Sessions at once; a BMC has few (ipmi_sim: 16 by default).
const MAX_SESSIONS: usize = 16;
/// A session unused this long is forgotten (IPMI v2.0 §6.12.15 suggests 60 s).
const SESSION_IDLE: Duration = Duration::from_secs(60);
const MAX_DGRAM: usize = 1024;
const MAX_CONFIG: usize = 64 * 1024;
const CONFIG_WAIT: Duration = Duration::from_secs(5);

const NETFN_CHASSIS: u8 = 0x00;
const NETFN_APP: u8 = 0x06;
/// Completion codes (§5.2).
const CC_OK: u8 = 0x00;
const CC_INVALID_COMMAND: u8 = 0xc1;
const CC_LENGTH: u8 = 0xc7;
const CC_INVALID_DATA: u8 = 0xcc;
const CC_INSUFFICIENT_PRIVILEGE: u8 = 0xd4;
const CC_UNSPECIFIED: u8 = 0xff;
/// Set Session Privilege Level: level exceeds the user's or the session's limit (§22.18).
const CC_PRIVILEGE_LIMIT: u8 = 0x81;
/// RMCP+ status codes (§13.24).
const ST_NO_RESOURCES: u8 = 0x01;
const ST_INVALID_SESSION: u8 = 0x02;
const ST_INVALID_AUTH_ALG: u8 = 0x04;
const ST_UNAUTHORIZED_ROLE: u8 = 0x0a;
const ST_UNAUTHORIZED_NAME: u8 = 0x0d;
const ST_INVALID_ICV: u8 = 0x0f;
const ST_NO_CIPHER_MATCH: u8 = 0x11;

fn level(p: Privilege) -> u8 {
    match p {
        Privilege::User => 2,
        Privilege::Operator => 3,
        Privilege::Admin => 4,
    }
}

fn privilege_name(p: Privilege) -> &'static str {
    match p {
        Privilege::User => "user",
        Privilege::Operator => "operator",
        Privilege::Admin => "admin",
    }
}

/// What the responder serves: its address, accounts and BMC key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanplusConfig {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its accounts.
    pub users: Vec<BmcUser>,
    /// The BMC key K_G in hexadecimal, when it has one.
    pub bmc_key: Option<String>,
    /// The cipher suites offered, in the order Get Channel Cipher Suites lists them.
    pub suites: Vec<CipherSuite>,
}

/// What a BMC offers when its configuration does not say: every suite this crate speaks,
/// strongest first.
pub const DEFAULT_SUITES: [CipherSuite; 3] = [
    CipherSuite::Suite17,
    CipherSuite::Suite3,
    CipherSuite::Suite2,
];

impl LanplusConfig {
    /// The configuration file's text.
    pub fn render(&self) -> String {
        let mut s = String::from("# written by axha-bmc\n");
        s.push_str(&format!("addr {} {}\n", self.addr.ip(), self.addr.port()));
        let guid: String = GUID.iter().map(|b| format!("{b:02x}")).collect();
        s.push_str(&format!("guid {guid}\n"));
        for u in &self.users {
            s.push_str(&format!(
                "user {} {} {}\n",
                u.name,
                u.password,
                privilege_name(u.privilege)
            ));
        }
        if let Some(k) = &self.bmc_key {
            s.push_str(&format!("kg {k}\n"));
        }
        let ids: Vec<String> = self.suites.iter().map(|c| c.number().to_string()).collect();
        s.push_str(&format!("suites {}\n", ids.join(" ")));
        s
    }

    /// Parse the configuration file's text (what [`LanplusConfig::render`] writes).
    pub fn parse(text: &str) -> Result<LanplusConfig, BmcError> {
        let bad = |line: usize, what: &str| {
            Err(BmcError::InvalidSpec(format!(
                "{CONFIG_FILE} line {line}: {what}"
            )))
        };
        let (mut addr, mut users, mut bmc_key) = (None, Vec::new(), None);
        let mut suites = DEFAULT_SUITES.to_vec();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                [w, ..] if w.starts_with('#') => {}
                ["addr", ip, port] => {
                    let (Ok(ip), Ok(port)) = (ip.parse::<IpAddr>(), port.parse::<u16>()) else {
                        return bad(n, "addr needs an IP address and a port");
                    };
                    addr = Some(SocketAddr::new(ip, port));
                }
                ["guid", _] => {}
                ["user", name, password, p] => {
                    let privilege = match *p {
                        "user" => Privilege::User,
                        "operator" => Privilege::Operator,
                        "admin" => Privilege::Admin,
                        _ => return bad(n, "privilege is user, operator or admin"),
                    };
                    users.push(BmcUser::new(*name, *password, privilege));
                }
                ["kg", hex] => {
                    if BmcKey::from_hex(hex).is_err() {
                        return bad(n, "kg is not a key of up to 40 hexadecimal digits");
                    }
                    bmc_key = Some(hex.to_string());
                }
                ["suites", ids @ ..] => {
                    let parsed: Result<Vec<CipherSuite>, _> =
                        ids.iter().map(|id| id.parse::<CipherSuite>()).collect();
                    match parsed {
                        Ok(p) if !p.is_empty() => suites = p,
                        _ => return bad(n, "suites lists one or more of 17, 3 and 2"),
                    }
                }
                _ => return bad(n, "unknown setting"),
            }
        }
        let Some(addr) = addr else {
            return bad(0, "no addr line");
        };
        Ok(LanplusConfig {
            addr,
            users,
            bmc_key,
            suites,
        })
    }

    /// Read `DIR/lanplus.conf` (at most 64 KiB, within 5 s: a FIFO put there cannot hold
    /// the BMC's start).
    pub fn read(dir: &Path) -> Result<LanplusConfig, BmcError> {
        let p = dir.join(CONFIG_FILE);
        let bytes = read_bounded(&p, MAX_CONFIG, &Deadline::after(CONFIG_WAIT))
            .map_err(|e| BmcError::InvalidSpec(e.to_string()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| BmcError::InvalidSpec(format!("{} is not UTF-8", p.display())))?;
        LanplusConfig::parse(&text)
    }
}

/// One RMCP+ session, from Open Session to Close Session.
struct Sess {
    console_sid: u32,
    suite: CipherSuite,
    /// The maximum privilege the console asked for in Open Session (§13.17).
    requested: u8,
    /// After RAKP 1: the account, the role byte and both random numbers.
    user: Option<usize>,
    role: u8,
    console_random: [u8; 16],
    bmc_random: [u8; 16],
    /// After RAKP 3: the keys, and the RAKP 4 answered (sent again to a repeated RAKP 3).
    keys: Option<SessionKeys>,
    rakp4: Vec<u8>,
    privilege: u8,
    seq_in: u32,
    seq_out: u32,
    last_used: Instant,
}

impl Sess {
    /// Everything the RAKP codes and keys are computed over, once RAKP 1 has arrived.
    fn exchange<'u>(&self, bmc_sid: u32, user: &'u [u8]) -> RakpExchange<'u> {
        RakpExchange {
            console_sid: self.console_sid,
            bmc_sid,
            console_random: self.console_random,
            bmc_random: self.bmc_random,
            bmc_guid: GUID,
            role: self.role,
            user,
        }
    }
}

/// A running responder: its socket, directory and sessions.
pub struct Responder {
    sock: UdpSocket,
    dir: PathBuf,
    users: Vec<(BmcUser, Key20)>,
    bmc_key: Option<BmcKey>,
    offered: Vec<CipherSuite>,
    sessions: HashMap<u32, Sess>,
}

fn random<const N: usize>() -> [u8; N] {
    // The OS random source failing is all but impossible; a test BMC may then fall back to
    // a time-derived value (a real BMC would refuse the session).
    crypto::random::<N>().unwrap_or_else(|_| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            .to_le_bytes();
        std::array::from_fn(|i| t[i % t.len()] ^ i as u8)
    })
}

impl Responder {
    /// Bind the configured address and prepare to serve the BMC in `dir`.
    pub fn bind(cfg: &LanplusConfig, dir: &Path) -> Result<Responder, BmcError> {
        let sock = UdpSocket::bind(cfg.addr).map_err(|source| BmcError::Io {
            path: PathBuf::from(cfg.addr.to_string()),
            source,
        })?;
        Responder::on_socket(sock, cfg, dir)
    }

    /// Serve on an already bound socket (tests bind port 0).
    pub fn on_socket(
        sock: UdpSocket,
        cfg: &LanplusConfig,
        dir: &Path,
    ) -> Result<Responder, BmcError> {
        let mut users = Vec::new();
        for u in &cfg.users {
            let k = Key20::new(u.password.as_bytes()).ok_or_else(|| {
                BmcError::InvalidSpec(format!("password of {:?} is over 20 bytes", u.name))
            })?;
            users.push((u.clone(), k));
        }
        let bmc_key = match &cfg.bmc_key {
            Some(h) => {
                Some(BmcKey::from_hex(h).map_err(|e| BmcError::InvalidSpec(format!("kg: {e}")))?)
            }
            None => None,
        };
        Ok(Responder {
            sock,
            dir: dir.to_owned(),
            users,
            bmc_key,
            offered: cfg.suites.clone(),
            sessions: HashMap::new(),
        })
    }

    /// The address it serves.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Answer datagrams until the process ends (or `stop` returns true; it is asked at least
    /// every 200 ms).
    pub fn serve(&mut self, stop: &dyn Fn() -> bool) -> Result<(), BmcError> {
        let mut buf = [0u8; MAX_DGRAM];
        let io = |source| BmcError::Io {
            path: PathBuf::from("lanplus socket"),
            source,
        };
        self.sock
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(io)?;
        while !stop() {
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                // ICMP errors of earlier replies to a console that went away.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(io(e)),
            };
            if let Some(reply) = self.handle(&buf[..n]) {
                let _ = self.sock.send_to(&reply, from);
            }
        }
        Ok(())
    }

    /// The answer to one datagram, if any (garbage and unknown sessions get none).
    pub fn handle(&mut self, dgram: &[u8]) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.sessions
            .retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
        if let Some(msg) = wire::decode_v15_sessionless(dgram) {
            let req = bw::parse_ipmi_request(msg).ok()?;
            let (cc, data) = self.sessionless(&req);
            return Some(wire::encode_v15_sessionless(&bw::ipmi_response(
                &req, cc, &data,
            )));
        }
        if dgram.len() < 16 || dgram[4] != 0x06 {
            return None;
        }
        let sid = u32::from_le_bytes(dgram[6..10].try_into().expect("4 bytes"));
        if sid != 0 {
            return self.in_session(sid, dgram);
        }
        let p = wire::decode(dgram, None).ok()?;
        let (ty, payload) = match p.payload_type {
            PayloadType::Ipmi => {
                let req = bw::parse_ipmi_request(&p.payload).ok()?;
                let (cc, data) = self.sessionless(&req);
                let msg = bw::ipmi_response(&req, cc, &data);
                (PayloadType::Ipmi, msg)
            }
            PayloadType::OpenSessionRequest => (
                PayloadType::OpenSessionResponse,
                self.open_session(&p.payload)?,
            ),
            PayloadType::Rakp1 => (PayloadType::Rakp2, self.rakp1(&p.payload)?),
            PayloadType::Rakp3 => (PayloadType::Rakp4, self.rakp3(&p.payload)?),
            _ => return None,
        };
        Some(wire::encode(ty, 0, 0, &payload, None, [0; 16]))
    }

    /// Commands answered outside a session.
    fn sessionless(&self, req: &bw::IpmiRequest) -> (u8, Vec<u8>) {
        match (req.netfn, req.cmd) {
            (NETFN_APP, 0x38) => (CC_OK, self.auth_capabilities()),
            (NETFN_APP, 0x54) => cipher_suites(&self.offered, &req.data),
            _ => (CC_INSUFFICIENT_PRIVILEGE, Vec::new()),
        }
    }

    /// Get Channel Authentication Capabilities (§22.13): channel 1, IPMI v2.0 extended data,
    /// non-null user names, the K_G status bit, IPMI v2.0 connections only.
    fn auth_capabilities(&self) -> Vec<u8> {
        let kg_set = self.bmc_key.as_ref().is_some_and(|k| !k.key().is_zero());
        let status = 0x04 | if kg_set { 0x20 } else { 0 };
        vec![0x01, 0x80, status, 0x02, 0, 0, 0, 0]
    }

    fn open_session(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let req = bw::parse_open_session_request(payload).ok()?;
        let offered =
            CipherSuite::from_algorithms(req.algorithms).filter(|s| self.offered.contains(s));
        let Some(suite) = offered else {
            let status = if crypto::AuthAlgorithm::from_number(req.algorithms.0).is_none() {
                ST_INVALID_AUTH_ALG
            } else {
                ST_NO_CIPHER_MATCH
            };
            return Some(bw::open_session_response(&req, status, 0, 0));
        };
        if self.sessions.len() >= MAX_SESSIONS {
            // Half-open sessions go first: they cost the BMC a slot and do nothing.
            self.sessions.retain(|_, s| s.keys.is_some());
        }
        if self.sessions.len() >= MAX_SESSIONS {
            return Some(bw::open_session_response(&req, ST_NO_RESOURCES, 0, 0));
        }
        let bmc_sid = loop {
            let sid = u32::from_le_bytes(random::<4>());
            if sid != 0 && !self.sessions.contains_key(&sid) {
                break sid;
            }
        };
        let requested = if req.privilege == 0 { 4 } else { req.privilege };
        self.sessions.insert(
            bmc_sid,
            Sess {
                console_sid: req.console_sid,
                suite,
                requested,
                user: None,
                role: 0,
                console_random: [0; 16],
                bmc_random: [0; 16],
                keys: None,
                rakp4: Vec::new(),
                privilege: 0,
                seq_in: 0,
                seq_out: 0,
                last_used: Instant::now(),
            },
        );
        Some(bw::open_session_response(&req, 0, requested, bmc_sid))
    }

    fn rakp1(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let r = bw::parse_rakp1(payload).ok()?;
        let users = &self.users;
        let Some(s) = self.sessions.get_mut(&r.bmc_sid) else {
            return Some(bw::rakp2(
                r.tag,
                ST_INVALID_SESSION,
                0,
                &[0; 16],
                &[0; 16],
                &[],
            ));
        };
        let fail = |status| {
            Some(bw::rakp2(
                r.tag,
                status,
                s.console_sid,
                &[0; 16],
                &[0; 16],
                &[],
            ))
        };
        let Some(idx) = users
            .iter()
            .position(|(u, _)| !r.user.is_empty() && u.name.as_bytes() == r.user.as_slice())
        else {
            return fail(ST_UNAUTHORIZED_NAME);
        };
        let wanted = r.role & 0x0f;
        if wanted > level(users[idx].0.privilege) || wanted > s.requested {
            return fail(ST_UNAUTHORIZED_ROLE);
        }
        s.user = Some(idx);
        s.role = r.role;
        s.console_random = r.console_random;
        s.bmc_random = random::<16>();
        s.keys = None;
        s.last_used = Instant::now();
        let x = s.exchange(r.bmc_sid, &r.user);
        let code = x.rakp2_auth_code(s.suite.authentication(), &users[idx].1);
        Some(bw::rakp2(
            r.tag,
            0,
            s.console_sid,
            &s.bmc_random,
            &GUID,
            &code,
        ))
    }

    fn rakp3(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let r = bw::parse_rakp3(payload).ok()?;
        let s = self.sessions.get_mut(&r.bmc_sid)?;
        let idx = s.user?;
        if r.status != 0 {
            // The console gives up (wrong password on its side, §13.22): no answer.
            self.sessions.remove(&r.bmc_sid);
            return None;
        }
        if s.keys.is_some() {
            // A repeated RAKP 3 (its RAKP 4 was lost): the same answer again.
            return Some(s.rakp4.clone());
        }
        let (user, kuid) = &self.users[idx];
        let auth = s.suite.authentication();
        let x = s.exchange(r.bmc_sid, user.name.as_bytes());
        if !codes_match(&x.rakp3_auth_code(auth, kuid), &r.auth_code) {
            let tag = r.tag;
            let console_sid = s.console_sid;
            self.sessions.remove(&r.bmc_sid);
            return Some(bw::rakp4(tag, ST_INVALID_ICV, console_sid, &[]));
        }
        let kg = self.bmc_key.as_ref().map(BmcKey::key);
        let keys = SessionKeys::derive(auth, s.suite.integrity_algorithm(), x.sik(auth, kuid, kg));
        let icv = x.rakp4_icv(auth, keys.sik());
        s.keys = Some(keys);
        // Sessions start at User level (or lower, if that is all the user may have), §22.18.
        s.privilege = level(user.privilege).min(2);
        s.last_used = Instant::now();
        s.rakp4 = bw::rakp4(r.tag, 0, s.console_sid, &icv);
        Some(s.rakp4.clone())
    }

    fn in_session(&mut self, sid: u32, dgram: &[u8]) -> Option<Vec<u8>> {
        let caps = self.auth_capabilities();
        let s = self.sessions.get_mut(&sid)?;
        let keys = s.keys.as_ref()?;
        let protection = Protection {
            keys,
            integrity: s.suite.integrity(),
            confidentiality: s.suite.confidentiality(),
        };
        let p = wire::decode(dgram, Some(&protection)).ok()?;
        // Session sequence numbers only grow (§6.12.13): a replay is dropped.
        if p.payload_type != PayloadType::Ipmi || p.sequence <= s.seq_in {
            return None;
        }
        s.seq_in = p.sequence;
        s.last_used = Instant::now();
        let req = bw::parse_ipmi_request(&p.payload).ok()?;
        let user = &self.users[s.user?].0;
        let limit = level(user.privilege).min(s.requested);
        let mut close = false;
        let (cc, data) = match (req.netfn, req.cmd) {
            (NETFN_APP, 0x38) => (CC_OK, caps),
            (NETFN_APP, 0x54) => cipher_suites(&self.offered, &req.data),
            (NETFN_APP, 0x01) => (CC_OK, device_id()),
            (NETFN_APP, 0x3b) => match req.data.first().map(|b| b & 0x0f) {
                None => (CC_LENGTH, Vec::new()),
                Some(0) => (CC_OK, vec![s.privilege]),
                Some(l) if (1..=limit).contains(&l) => {
                    s.privilege = l;
                    (CC_OK, vec![l])
                }
                Some(_) => (CC_PRIVILEGE_LIMIT, Vec::new()),
            },
            (NETFN_APP, 0x3c) => {
                if req.data.get(..4) == Some(&sid.to_le_bytes()[..]) {
                    close = true;
                    (CC_OK, Vec::new())
                } else {
                    (CC_INVALID_DATA, Vec::new())
                }
            }
            (NETFN_CHASSIS, 0x01) => chassis_status(&self.dir),
            (NETFN_CHASSIS, 0x02) if s.privilege < 3 => (CC_INSUFFICIENT_PRIVILEGE, Vec::new()),
            (NETFN_CHASSIS, 0x02) => chassis_control(&self.dir, &req.data),
            _ => (CC_INVALID_COMMAND, Vec::new()),
        };
        s.seq_out = s.seq_out.wrapping_add(1).max(1);
        let reply = wire::encode(
            PayloadType::Ipmi,
            s.console_sid,
            s.seq_out,
            &bw::ipmi_response(&req, cc, &data),
            Some(&protection),
            random::<16>(),
        );
        if close {
            self.sessions.remove(&sid);
        }
        Some(reply)
    }
}

/// Get Channel Cipher Suites (§22.15): the records of the suites offered, 16 bytes per call.
fn cipher_suites(offered: &[CipherSuite], data: &[u8]) -> (u8, Vec<u8>) {
    if data.len() < 3 {
        return (CC_LENGTH, Vec::new());
    }
    if data[2] & 0x80 == 0 {
        // "List supported algorithms" is not offered.
        return (CC_INVALID_DATA, Vec::new());
    }
    let records = bw::cipher_suite_records(offered);
    let index = (data[2] & 0x3f) as usize;
    let start = (index * 16).min(records.len());
    let end = (start + 16).min(records.len());
    let mut out = vec![0x01];
    out.extend_from_slice(&records[start..end]);
    (CC_OK, out)
}

/// Get Device ID (§20.1): a chassis device speaking IPMI 2.0.
fn device_id() -> Vec<u8> {
    vec![
        0x20, 0x01, 0x01, 0x00, 0x02, 0x9f, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]
}

/// Get Chassis Status (§28.2): power on/off from the chassis state, nothing else to report.
fn chassis_status(dir: &Path) -> (u8, Vec<u8>) {
    match chassis::execute(dir, &["get", "power"]) {
        Ok(lines) => {
            let on = lines.iter().any(|l| l == "power:1");
            (CC_OK, vec![u8::from(on), 0x00, 0x00, 0x00])
        }
        Err(_) => (CC_UNSPECIFIED, Vec::new()),
    }
}

/// Chassis Control (§28.3, table 28-4).
fn chassis_control(dir: &Path, data: &[u8]) -> (u8, Vec<u8>) {
    let Some(&what) = data.first() else {
        return (CC_LENGTH, Vec::new());
    };
    let steps: &[&[&str]] = match what & 0x0f {
        0x00 | 0x05 => &[&["set", "power", "0"]],
        0x01 => &[&["set", "power", "1"]],
        // A power cycle does nothing to a chassis that is off (§28.3).
        0x02 => match chassis::execute(dir, &["get", "power"]) {
            Ok(l) if l.iter().any(|l| l == "power:1") => {
                &[&["set", "power", "0"], &["set", "power", "1"]]
            }
            Ok(_) => &[],
            Err(_) => return (CC_UNSPECIFIED, Vec::new()),
        },
        0x03 => &[&["set", "reset", "1"]],
        0x04 => &[&["set", "diag", "1"]],
        _ => return (CC_INVALID_DATA, Vec::new()),
    };
    for step in steps {
        if chassis::execute(dir, step).is_err() {
            return (CC_UNSPECIFIED, Vec::new());
        }
    }
    (CC_OK, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LanplusConfig {
        LanplusConfig {
            addr: "127.0.0.1:16231".parse().unwrap(),
            users: vec![
                BmcUser::new("admin", "secret", Privilege::Admin),
                BmcUser::new("oper", "pw", Privilege::Operator),
            ],
            bmc_key: Some("0102".into()),
            suites: vec![CipherSuite::Suite17],
        }
    }

    #[test]
    fn config_roundtrip_and_errors() {
        let text = cfg().render();
        assert!(text.contains("user oper pw operator\n"), "{text}");
        assert_eq!(LanplusConfig::parse(&text).unwrap(), cfg());
        let e = |t: &str| LanplusConfig::parse(t).unwrap_err().to_string();
        assert!(
            e("user a b c\n").contains("line 1"),
            "{}",
            e("user a b c\n")
        );
        assert!(e("addr 1.2.3.4 1\nkg xyz\n").contains("line 2"));
        assert!(e("frobnicate\n").contains("unknown setting"));
        assert!(e("user a b admin\n").contains("no addr"));
        assert!(e("addr 1.2.3.4 1\nsuites 17 1\n").contains("line 2"));
        let all = LanplusConfig::parse("addr 1.2.3.4 1\n").unwrap();
        assert_eq!(all.suites, DEFAULT_SUITES);
    }

    #[test]
    fn cipher_suite_records() {
        let (cc, d) = cipher_suites(&DEFAULT_SUITES, &[0x0e, 0x00, 0x80]);
        assert_eq!(cc, 0);
        assert_eq!(&d[..6], &[0x01, 0xc0, 17, 3, 0x44, 0x81]);
        assert_eq!(d.len(), 16);
        let (_, d) = cipher_suites(&DEFAULT_SUITES, &[0x0e, 0x00, 0x81]);
        assert_eq!(d, vec![0x01], "the three records fit in the first 16 bytes");
    }
}
