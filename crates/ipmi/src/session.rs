//! An RMCP+ session over UDP: open (RAKP), raise privilege, run commands, close. Every
//! exchange retransmits until its deadline (§13.16 leaves retries to the remote console).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use axha_exec::Deadline;

use crate::crypto::{self, codes_match, AuthAlgorithm, Key20, RakpExchange, SessionKeys};
use crate::error::{completion_meaning, rmcp_status_meaning, IpmiError};
use crate::wire::{self, PayloadType, Protection};
use crate::{BmcKey, ChassisControl, ChassisStatus, CipherSuite, Password, PrivilegeLevel};

/// App and Chassis network functions and the commands used (§22, §28).
const NETFN_CHASSIS: u8 = 0x00;
const NETFN_APP: u8 = 0x06;
const CMD_GET_CHASSIS_STATUS: u8 = 0x01;
const CMD_CHASSIS_CONTROL: u8 = 0x02;
const CMD_SET_SESSION_PRIVILEGE: u8 = 0x3b;
const CMD_CLOSE_SESSION: u8 = 0x3c;
const CMD_GET_CHANNEL_CIPHER_SUITES: u8 = 0x54;
/// Get Channel Cipher Suites returns its list 16 bytes at a time, in at most 64 chunks.
const CIPHER_SUITE_CHUNK: usize = 16;
/// RAKP 1 role bit 4: look the user up by name only (§13.20), so that an operator-limited
/// user can log in asking for operator.
const NAME_ONLY_LOOKUP: u8 = 0x10;
/// Longest a Close Session may take, even past the caller's deadline: it frees one of the
/// BMC's few session slots.
const CLOSE_BUDGET: Duration = Duration::from_millis(600);
const MAX_DGRAM: usize = 1024;

/// Takes a received datagram: `None` = not the answer, `Some` = the outcome.
type Accept<'a, T> = dyn FnMut(&[u8]) -> Option<Result<T, IpmiError>> + 'a;

/// How to reach and log in to one BMC.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The BMC's address and UDP port.
    pub addr: SocketAddr,
    /// The IPMI user to log in as.
    pub username: String,
    /// The user's password.
    pub password: Password,
    /// The privilege level the session is raised to (operator is enough to fence).
    pub privilege: PrivilegeLevel,
    /// The RMCP+ cipher suite (3 by default).
    pub cipher_suite: CipherSuite,
    /// The BMC key K_G, when the BMC has one (§13.31); `None` computes the session keys
    /// under the password, as the specification does for a null K_G.
    pub bmc_key: Option<BmcKey>,
    /// First retransmission interval; doubled after each loss up to [`SessionConfig::max_retransmit`].
    pub retransmit: Duration,
    /// Longest retransmission interval.
    pub max_retransmit: Duration,
}

impl SessionConfig {
    /// Settings for `addr` with the defaults: administrator, suite 3, retransmit 250 ms up to 1 s.
    pub fn new(addr: SocketAddr, username: impl Into<String>, password: Password) -> Self {
        SessionConfig {
            addr,
            username: username.into(),
            password,
            privilege: PrivilegeLevel::Administrator,
            cipher_suite: CipherSuite::Suite3,
            bmc_key: None,
            retransmit: Duration::from_millis(250),
            max_retransmit: Duration::from_secs(1),
        }
    }
}

/// The UDP side: one connected socket and the retransmission loop.
struct Link {
    sock: UdpSocket,
    addr: SocketAddr,
    retransmit: Duration,
    max_retransmit: Duration,
}

impl Link {
    fn connect(cfg: &SessionConfig) -> Result<Link, IpmiError> {
        let io = |source| IpmiError::Io {
            addr: cfg.addr,
            source,
        };
        let any = if cfg.addr.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let sock = UdpSocket::bind(any).map_err(io)?;
        // connect(2): only the BMC's datagrams are received, and ICMP "port unreachable"
        // comes back as ECONNREFUSED.
        sock.connect(cfg.addr).map_err(io)?;
        Ok(Link {
            sock,
            addr: cfg.addr,
            retransmit: cfg.retransmit.max(Duration::from_millis(10)),
            max_retransmit: cfg.max_retransmit.max(cfg.retransmit),
        })
    }

    /// Another handle on the same socket (the session keeps one; the handshake loop the other).
    fn clone_handle(&self) -> Result<Link, IpmiError> {
        Ok(Link {
            sock: self.sock.try_clone().map_err(|source| IpmiError::Io {
                addr: self.addr,
                source,
            })?,
            addr: self.addr,
            retransmit: self.retransmit,
            max_retransmit: self.max_retransmit,
        })
    }

    /// Send what `make` builds (called again for every retransmission) until `accept` takes a
    /// reply or the deadline passes. `accept` returns `None` for datagrams that are not the
    /// answer (late duplicates, noise), `Some(Err)` for a definite failure.
    fn exchange<T>(
        &mut self,
        step: &'static str,
        deadline: &Deadline,
        make: &mut dyn FnMut() -> Vec<u8>,
        accept: &mut Accept<T>,
    ) -> Result<T, IpmiError> {
        let started = Instant::now();
        let mut interval = self.retransmit;
        let mut refused = false;
        let mut buf = [0u8; MAX_DGRAM];
        loop {
            if deadline.expired() {
                return Err(IpmiError::Timeout {
                    addr: self.addr,
                    step,
                    waited: started.elapsed(),
                    refused,
                });
            }
            let pkt = make();
            match self.sock.send(&pkt) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused = true,
                Err(e) => {
                    return Err(IpmiError::Io {
                        addr: self.addr,
                        source: e,
                    })
                }
            }
            let attempt = deadline.within(interval);
            loop {
                let left = attempt.remaining();
                if left.is_zero() {
                    break;
                }
                self.sock
                    .set_read_timeout(Some(left))
                    .map_err(|source| IpmiError::Io {
                        addr: self.addr,
                        source,
                    })?;
                match self.sock.recv(&mut buf) {
                    Ok(n) => {
                        if let Some(r) = accept(&buf[..n]) {
                            return r;
                        }
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break
                    }
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                        // Nothing listens (yet): wait out this attempt instead of spinning.
                        refused = true;
                        attempt.sleep(attempt.remaining());
                        break;
                    }
                    Err(e) => {
                        return Err(IpmiError::Io {
                            addr: self.addr,
                            source: e,
                        })
                    }
                }
            }
            interval = (interval * 2).min(self.max_retransmit);
        }
    }
}

/// The ids of the cipher suites the BMC offers on this channel: Get Channel Cipher Suites
/// (§22.15), asked outside any session (IPMI v1.5 framing, as ipmitool asks it), chunk by
/// chunk until one is short. Each chunk retransmits until `deadline`.
pub fn offered_cipher_suites(
    cfg: &SessionConfig,
    deadline: &Deadline,
) -> Result<Vec<u8>, IpmiError> {
    let step = "Get Channel Cipher Suites";
    let mut link = Link::connect(cfg)?;
    let mut records = Vec::new();
    for index in 0..64u8 {
        let rq_seq = index + 1;
        let msg = wire::ipmi_request(
            NETFN_APP,
            CMD_GET_CHANNEL_CIPHER_SUITES,
            rq_seq,
            &wire::cipher_suites_request(index),
        );
        let pkt = wire::encode_v15_sessionless(&msg);
        let chunk = link.exchange(step, deadline, &mut || pkt.clone(), &mut |d| {
            let r = wire::parse_ipmi_response(wire::decode_v15_sessionless(d)?).ok()?;
            if r.netfn != NETFN_APP + 1
                || r.cmd != CMD_GET_CHANNEL_CIPHER_SUITES
                || r.rq_seq != rq_seq
            {
                return None;
            }
            Some(if r.completion == 0 {
                Ok(r.data)
            } else {
                Err(IpmiError::Completion {
                    command: step,
                    code: r.completion,
                    meaning: completion_meaning(r.completion),
                })
            })
        })?;
        // The first byte is the channel number; the rest is record data.
        let part = chunk.get(1..).unwrap_or_default();
        records.extend_from_slice(&part[..part.len().min(CIPHER_SUITE_CHUNK)]);
        if part.len() < CIPHER_SUITE_CHUNK {
            break;
        }
    }
    Ok(wire::parse_cipher_suite_ids(&records))
}

/// An active, authenticated RMCP+ session at the configured privilege level. Dropping it
/// closes it (best effort, bounded); [`Session::close`] does the same and reports the result.
pub struct Session {
    link: Link,
    user: String,
    suite: CipherSuite,
    console_sid: u32,
    bmc_sid: u32,
    keys: SessionKeys,
    seq_out: u32,
    /// Highest session sequence number received from the BMC.
    seq_in: u32,
    rq_seq: u8,
    open: bool,
    privilege: PrivilegeLevel,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("addr", &self.link.addr)
            .field("user", &self.user)
            .field("suite", &self.suite)
            .field("bmc_sid", &format_args!("{:#010x}", self.bmc_sid))
            .field("privilege", &self.privilege)
            .field("open", &self.open)
            .finish()
    }
}

fn random<const N: usize>() -> Result<[u8; N], IpmiError> {
    crypto::random::<N>().map_err(|e| IpmiError::Random(e.to_string()))
}

/// A handshake message: outside any session, so no session id, sequence or protection
/// (§13.6: the session id and sequence number are 0 until the session is active).
fn handshake_packet(payload_type: PayloadType, payload: &[u8]) -> Vec<u8> {
    wire::encode(payload_type, 0, 0, payload, None, [0; 16])
}

/// What one handshake attempt has settled before its first datagram: the console's session
/// id and tag, the requested role, and how long one step may retransmit. Each RMCP+ step is
/// one method; each takes what the steps before it returned.
struct Handshake<'a> {
    cfg: &'a SessionConfig,
    kuid: &'a Key20,
    user: &'a [u8],
    suite: CipherSuite,
    algorithms: (u8, u8, u8),
    console_sid: u32,
    tag: u8,
    /// The requested maximum privilege (RAKP 1 role bits 0-3, §13.20).
    privilege: u8,
    /// Retransmitting one step helps only so long; then the whole handshake is redone.
    step_budget: Duration,
}

/// What RAKP 1/2 exchanged: the random numbers and GUID that RAKP 3/4 and the session keys
/// are computed over.
struct Rakp2Exchange {
    bmc_sid: u32,
    console_random: [u8; 16],
    bmc_random: [u8; 16],
    bmc_guid: [u8; 16],
}

impl<'a> Handshake<'a> {
    fn new(cfg: &'a SessionConfig, kuid: &'a Key20) -> Result<Handshake<'a>, IpmiError> {
        let console_sid = loop {
            let sid = u32::from_le_bytes(random::<4>()?);
            if sid != 0 {
                break sid;
            }
        };
        Ok(Handshake {
            cfg,
            kuid,
            user: cfg.username.as_bytes(),
            suite: cfg.cipher_suite,
            algorithms: cfg.cipher_suite.algorithms(),
            console_sid,
            tag: random::<1>()?[0],
            privilege: cfg.privilege as u8,
            step_budget: cfg.max_retransmit * 3,
        })
    }

    /// RAKP 1 role byte: the privilege, looked up by name only.
    fn role(&self) -> u8 {
        self.privilege | NAME_ONLY_LOOKUP
    }

    /// Everything the RAKP codes and keys are computed over, once RAKP 2 has arrived.
    fn exchange(&self, r: &Rakp2Exchange) -> RakpExchange<'a> {
        RakpExchange {
            console_sid: self.console_sid,
            bmc_sid: r.bmc_sid,
            console_random: r.console_random,
            bmc_random: r.bmc_random,
            bmc_guid: r.bmc_guid,
            role: self.role(),
            user: self.user,
        }
    }

    fn insufficient_privilege(&self, detail: &str) -> IpmiError {
        IpmiError::InsufficientPrivilege {
            user: self.cfg.username.clone(),
            requested: self.cfg.privilege,
            detail: detail.into(),
        }
    }

    /// Open Session Request / Response (§13.17, §13.18): the BMC's session id, once it
    /// accepts the cipher suite's algorithms exactly.
    fn open_session(&self, link: &mut Link, deadline: &Deadline) -> Result<u32, IpmiError> {
        let req = handshake_packet(
            PayloadType::OpenSessionRequest,
            &wire::open_session_request(
                self.tag,
                self.privilege,
                self.console_sid,
                self.algorithms,
            ),
        );
        let step = "RMCP+ Open Session";
        let suite = self.suite.number();
        link.exchange(
            step,
            &deadline.within(self.step_budget),
            &mut || req.clone(),
            &mut |d| {
                let p = wire::decode(d, None).ok()?;
                if p.payload_type != PayloadType::OpenSessionResponse {
                    return None;
                }
                let r = wire::parse_open_session_response(&p.payload).ok()?;
                if r.tag != self.tag || r.console_sid.is_some_and(|c| c != self.console_sid) {
                    return None;
                }
                Some(match r.status {
                    0 if r.algorithms != self.algorithms => {
                        Err(IpmiError::UnsupportedCipherSuite {
                            suite,
                            detail: format!("BMC chose algorithms {:?}", r.algorithms),
                        })
                    }
                    0 => Ok(r.bmc_sid),
                    s @ (0x04..=0x07 | 0x10 | 0x11) => Err(IpmiError::UnsupportedCipherSuite {
                        suite,
                        detail: rmcp_status_meaning(s).into(),
                    }),
                    s @ (0x09 | 0x0a) => Err(self.insufficient_privilege(rmcp_status_meaning(s))),
                    s => Err(IpmiError::SessionRejected {
                        step,
                        status: s,
                        meaning: rmcp_status_meaning(s),
                    }),
                })
            },
        )
    }

    /// RAKP 1 / 2 (§13.20, §13.21): the BMC proves it knows the password. On a wrong
    /// password the half-open session is dropped with a RAKP 3 error status (§13.22).
    fn rakp_1_2(
        &self,
        link: &mut Link,
        bmc_sid: u32,
        deadline: &Deadline,
    ) -> Result<Rakp2Exchange, IpmiError> {
        let console_random = random::<16>()?;
        let (role, user) = (self.role(), self.user);
        let auth = self.suite.authentication();
        let rakp1 = handshake_packet(
            PayloadType::Rakp1,
            &wire::rakp1(self.tag, bmc_sid, &console_random, role, user),
        );
        let step = "RAKP 1";
        let (bmc_random, bmc_guid) = link
            .exchange(
                step,
                &deadline.within(self.step_budget),
                &mut || rakp1.clone(),
                &mut |d| {
                    let p = wire::decode(d, None).ok()?;
                    if p.payload_type != PayloadType::Rakp2 {
                        return None;
                    }
                    let r = wire::parse_rakp2(&p.payload).ok()?;
                    if r.tag != self.tag || r.console_sid != self.console_sid {
                        return None;
                    }
                    Some(match r.status {
                        0 => {
                            let x = self.exchange(&Rakp2Exchange {
                                bmc_sid,
                                console_random,
                                bmc_random: r.bmc_random,
                                bmc_guid: r.bmc_guid,
                            });
                            if codes_match(&x.rakp2_auth_code(auth, self.kuid), &r.auth_code) {
                                Ok((r.bmc_random, r.bmc_guid))
                            } else {
                                Err(IpmiError::WrongPassword {
                                    user: self.cfg.username.clone(),
                                })
                            }
                        }
                        0x0d => Err(IpmiError::UnknownUser {
                            user: self.cfg.username.clone(),
                        }),
                        s @ (0x09 | 0x0a) => {
                            Err(self.insufficient_privilege(rmcp_status_meaning(s)))
                        }
                        s => Err(IpmiError::SessionRejected {
                            step,
                            status: s,
                            meaning: rmcp_status_meaning(s),
                        }),
                    })
                },
            )
            .inspect_err(|e| {
                if matches!(e, IpmiError::WrongPassword { .. }) {
                    // Tell the BMC to drop the half-open session (RAKP 3 with an error
                    // status, §13.22); no answer is expected.
                    let abort = wire::rakp3(self.tag, 0x0f, bmc_sid, &[]);
                    let pkt = handshake_packet(PayloadType::Rakp3, &abort);
                    let _ = link.sock.send(&pkt);
                }
            })?;
        Ok(Rakp2Exchange {
            bmc_sid,
            console_random,
            bmc_random,
            bmc_guid,
        })
    }

    /// RAKP 3 / 4 (§13.22, §13.23): we prove we know the password; the session keys
    /// (§13.32). A lost RAKP 4 cannot be asked for again (BMCs ignore a repeated RAKP 3):
    /// after a few intervals the keys are returned anyway, and the integrity-protected Set
    /// Session Privilege Level that follows, which only the real BMC can answer, tells
    /// whether the session is active.
    fn rakp_3_4(
        &self,
        link: &mut Link,
        rakp2: &Rakp2Exchange,
        deadline: &Deadline,
    ) -> Result<SessionKeys, IpmiError> {
        let auth = self.suite.authentication();
        let x = self.exchange(rakp2);
        let rakp3_code = x.rakp3_auth_code(auth, self.kuid);
        let kg = self.cfg.bmc_key.as_ref().map(BmcKey::key);
        let keys = SessionKeys::derive(
            auth,
            self.suite.integrity_algorithm(),
            x.sik(auth, self.kuid, kg),
        );
        let icv = x.rakp4_icv(auth, keys.sik());
        let rakp3 = handshake_packet(
            PayloadType::Rakp3,
            &wire::rakp3(self.tag, 0, rakp2.bmc_sid, &rakp3_code),
        );
        let step = "RAKP 3";
        let sent = std::cell::Cell::new(0u32);
        let rakp4 = link.exchange(
            step,
            &deadline.within(self.cfg.retransmit * 4),
            &mut || {
                sent.set(sent.get() + 1);
                rakp3.clone()
            },
            &mut |d| {
                let p = wire::decode(d, None).ok()?;
                if p.payload_type != PayloadType::Rakp4 {
                    return None;
                }
                let r = wire::parse_rakp4(&p.payload).ok()?;
                if r.tag != self.tag || r.console_sid != self.console_sid {
                    return None;
                }
                match r.status {
                    0 if codes_match(&icv, &r.integrity_check) => Some(Ok(())),
                    // RAKP 2 proved the password, so only the key the SIK is computed
                    // under can differ: K_G (§13.31).
                    0 => Some(Err(IpmiError::BmcKeyMismatch {
                        user: self.cfg.username.clone(),
                        key_given: kg.is_some_and(|k| !k.is_zero()),
                    })),
                    0x0f => Some(Err(IpmiError::WrongPassword {
                        user: self.cfg.username.clone(),
                    })),
                    // The answer to a retransmitted RAKP 3 when the first one already
                    // activated the session: go on, the integrity-protected commands that
                    // follow prove the session (and the BMC) anyway.
                    0x02 | 0x08 if sent.get() > 1 && self.suite.integrity() => Some(Ok(())),
                    s => Some(Err(IpmiError::SessionRejected {
                        step,
                        status: s,
                        meaning: rmcp_status_meaning(s),
                    })),
                }
            },
        );
        match rakp4 {
            Ok(()) => Ok(keys),
            Err(e) if e.is_timeout() => Ok(keys),
            Err(e) => Err(e),
        }
    }

    /// Set Session Privilege Level (§22.18): sessions start at User level; raise to the
    /// configured level. Sent for User too: it confirms the session is active when RAKP 4
    /// was lost.
    fn set_privilege(&self, session: &mut Session, deadline: &Deadline) -> Result<(), IpmiError> {
        match session.command(
            "Set Session Privilege Level",
            NETFN_APP,
            CMD_SET_SESSION_PRIVILEGE,
            &[self.privilege],
            &deadline.within(self.step_budget),
        ) {
            Ok(_) => {
                session.privilege = self.cfg.privilege;
                Ok(())
            }
            Err(IpmiError::Completion {
                code: 0x80 | 0x81 | 0xd4,
                meaning,
                ..
            }) => Err(self.insufficient_privilege(meaning)),
            Err(e) => {
                if e.is_timeout() {
                    // Not active (or unreachable): nothing to close.
                    session.open = false;
                }
                Err(e)
            }
        }
    }

    /// One attempt: the four steps in order (§13.14, figure 13-8).
    fn run(&self, link: &mut Link, deadline: &Deadline) -> Result<Session, IpmiError> {
        let bmc_sid = self.open_session(link, deadline)?;
        let rakp2 = self.rakp_1_2(link, bmc_sid, deadline)?;
        let keys = self.rakp_3_4(link, &rakp2, deadline)?;
        let mut session = Session {
            link: link.clone_handle()?,
            user: self.cfg.username.clone(),
            suite: self.suite,
            console_sid: self.console_sid,
            bmc_sid,
            keys,
            seq_out: 0,
            seq_in: 0,
            rq_seq: 0,
            open: true,
            privilege: PrivilegeLevel::User,
        };
        self.set_privilege(&mut session, deadline)?;
        Ok(session)
    }
}

impl Session {
    /// Open a session (Open Session, RAKP 1-4) and raise it to `cfg.privilege` (Set Session
    /// Privilege Level): sessions start at User level (§22.18).
    ///
    /// The recovery rule: a handshake whose datagrams were lost beyond what retransmission
    /// of one step repairs (BMCs ignore a repeated RAKP 3, for instance) starts over with a
    /// new session, until the deadline; §13.16 leaves retries to the remote console. Any
    /// other failure is final.
    pub fn open(cfg: &SessionConfig, deadline: &Deadline) -> Result<Session, IpmiError> {
        crate::check_user_name(&cfg.username)?;
        crate::check_password(cfg.password.expose())?;
        let kuid = Key20::new(cfg.password.expose()).expect("checked: at most 20 bytes");
        let started = Instant::now();
        let mut link = Link::connect(cfg)?;
        loop {
            match Handshake::new(cfg, &kuid)?.run(&mut link, deadline) {
                Ok(s) => return Ok(s),
                Err(IpmiError::Timeout {
                    addr,
                    step,
                    refused,
                    ..
                }) => {
                    if deadline.expired() {
                        return Err(IpmiError::Timeout {
                            addr,
                            step,
                            waited: started.elapsed(),
                            refused,
                        });
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The privilege level the session now has.
    pub fn privilege(&self) -> PrivilegeLevel {
        self.privilege
    }

    /// The BMC's id of this session (for diagnostics).
    pub fn bmc_session_id(&self) -> u32 {
        self.bmc_sid
    }

    /// Run one IPMI command in the session; returns the response data after the completion
    /// code. A non-zero completion code is [`IpmiError::Completion`].
    pub fn command(
        &mut self,
        name: &'static str,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        deadline: &Deadline,
    ) -> Result<Vec<u8>, IpmiError> {
        if !self.open {
            return Err(IpmiError::Protocol {
                step: name,
                detail: "session already closed".into(),
            });
        }
        self.rq_seq = (self.rq_seq % 63) + 1;
        let rq_seq = self.rq_seq;
        let msg = wire::ipmi_request(netfn, cmd, rq_seq, data);
        let suite = self.suite;
        let keys = &self.keys;
        let (console_sid, bmc_sid) = (self.console_sid, self.bmc_sid);
        let seq_out = &mut self.seq_out;
        let seq_in = &mut self.seq_in;
        let protection = Protection {
            keys,
            integrity: suite.integrity(),
            confidentiality: suite.confidentiality(),
        };
        let mut make = || {
            // Each datagram, retransmissions included, takes the next session sequence
            // number (§6.12.13: the BMC rejects repeated numbers).
            *seq_out = seq_out.wrapping_add(1).max(1);
            let iv = crypto::random::<16>().unwrap_or_else(|_| {
                // Fall back to a hash of time and sequence: an IV must not repeat, not be
                // secret (§13.29); the random source failing here is all but impossible.
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
                    .to_le_bytes();
                let h = AuthAlgorithm::HmacSha1.hmac(&t, &[&seq_out.to_le_bytes()]);
                h[..16].try_into().expect("20 >= 16")
            });
            wire::encode(
                PayloadType::Ipmi,
                bmc_sid,
                *seq_out,
                &msg,
                Some(&protection),
                iv,
            )
        };
        let mut accept = |d: &[u8]| {
            let p = wire::decode(d, Some(&protection)).ok()?;
            if p.payload_type != PayloadType::Ipmi || p.session_id != console_sid {
                return None;
            }
            // Replies carry increasing session sequence numbers (§6.12.13); a lower or
            // repeated one is a late duplicate or a replay, never the answer.
            if p.sequence <= *seq_in {
                return None;
            }
            let r = wire::parse_ipmi_response(&p.payload).ok()?;
            if r.netfn != netfn + 1 || r.cmd != cmd || r.rq_seq != rq_seq {
                return None;
            }
            *seq_in = p.sequence;
            Some(if r.completion == 0 {
                Ok(r.data)
            } else {
                Err(IpmiError::Completion {
                    command: name,
                    code: r.completion,
                    meaning: completion_meaning(r.completion),
                })
            })
        };
        self.link.exchange(name, deadline, &mut make, &mut accept)
    }

    /// Get Chassis Status (§28.2).
    pub fn chassis_status(&mut self, deadline: &Deadline) -> Result<ChassisStatus, IpmiError> {
        let step = "Get Chassis Status";
        let d = self.command(step, NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS, &[], deadline)?;
        ChassisStatus::parse(&d).ok_or_else(|| IpmiError::Protocol {
            step,
            detail: format!("{} bytes of data, at least 3 expected", d.len()),
        })
    }

    /// Chassis Control (§28.3).
    pub fn chassis_control(
        &mut self,
        what: ChassisControl,
        deadline: &Deadline,
    ) -> Result<(), IpmiError> {
        self.command(
            "Chassis Control",
            NETFN_CHASSIS,
            CMD_CHASSIS_CONTROL,
            &[what as u8],
            deadline,
        )
        .map(|_| ())
    }

    /// Close the session (§22.19). Takes at most a short fixed budget, even when `deadline`
    /// has passed: freeing the BMC's session slot is worth a few hundred milliseconds.
    pub fn close(mut self, deadline: &Deadline) -> Result<(), IpmiError> {
        self.close_inner(deadline)
    }

    fn close_inner(&mut self, deadline: &Deadline) -> Result<(), IpmiError> {
        if !self.open {
            return Ok(());
        }
        let budget = if deadline.remaining() > CLOSE_BUDGET {
            deadline.within(CLOSE_BUDGET)
        } else {
            Deadline::after(CLOSE_BUDGET / 2)
        };
        let sid = self.bmc_sid.to_le_bytes();
        let r = self.command("Close Session", NETFN_APP, CMD_CLOSE_SESSION, &sid, &budget);
        self.open = false;
        r.map(|_| ())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.close_inner(&Deadline::after(CLOSE_BUDGET));
    }
}
