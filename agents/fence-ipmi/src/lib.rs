//! `fence_axigen_ipmi`: power fencing over IPMI v2.0 LAN (RMCP+), with the parameters of
//! fence_ipmilan where they mean the same, a host binding, and verified power changes.
//!
//! - `status`: one session, Get Chassis Status: exit 0 on, 2 off, 1 error.
//! - `monitor`: the BMC answers and accepts the login (and the chassis status query).
//! - `off`: Chassis Control power down, then Get Chassis Status polled (10 ms growing to
//!   250 ms) until it reads off, within `power_timeout`. Never success before that.
//! - `on`: power up, verified the same way; `retry_on` attempts.
//! - `reboot`: `method=onoff` (default): verified off, then on. A failed power-on after a
//!   verified off is logged but the fence succeeded (the node is safe), as in fence-agents.
//!   `method=cycle`: power cycle only when the chassis is on (when off: power on), then
//!   verified on.
//! - `diag`: Chassis Control "pulse diagnostic interrupt" (an NMI), as fence_ipmilan's
//!   `diag`; the power state is neither changed nor verified.
//!
//! Passwords come from stdin (`password=`), `password_script` or `password_file`; `-p` is
//! accepted for compatibility but is visible in `ps`. The BMC key the same way: stdin
//! (`hexadecimal_kg=`) or `hexadecimal_kg_file`. No secret reaches a child's argv or
//! environment or a log line.

#![warn(missing_docs)]

use std::time::{Duration, Instant};

use axha_exec::Deadline;
use axha_fencing::spec::common;
use axha_fencing::{
    Action, AgentSpec, Content, FenceAgent, FenceError, Log, Outcome, Param, Request, Source,
};
use axha_ipmi::{
    check_password, check_user_name, offered_cipher_suites, resolve, with_session, BmcKey,
    ChassisControl, CipherSuite, IpmiError, Password, PrivilegeLevel, Session, SessionConfig,
};

/// The agent's name, as installed and in its metadata.
pub const AGENT_NAME: &str = "fence_axigen_ipmi";

/// Parameters beyond the shared ones, spelled as fence_ipmilan spells them.
const IP: Param = Param::new("ip", "ip", "IP address or hostname of fencing device")
    .short('a')
    .value("ip")
    .deprecated("ipaddr")
    .required();
const IPPORT: Param = Param::new(
    "ipport",
    "ipport",
    "UDP port to use for connection with device",
)
.short('u')
.value("port")
.content(Content::Integer)
.default("623");
const USERNAME: Param = Param::new("username", "username", "Login name")
    .short('l')
    .value("name")
    .deprecated("login")
    .required();
const CIPHER: Param = Param::new(
    "cipher",
    "cipher",
    "RMCP+ cipher suite: 3 (AES-CBC-128 + HMAC-SHA1-96), 17 (AES-CBC-128 + HMAC-SHA256-128), 2 (HMAC-SHA1-96), or auto (17 when the BMC lists it in Get Channel Cipher Suites, else 3); 0 and 1 are refused",
)
.short('C')
.value("cipher")
.content(Content::Select(&["3", "17", "2", "auto"]))
.default("3");
const HEXADECIMAL_KG: Param = Param::new(
    "hexadecimal_kg",
    "hexadecimal-kg",
    "Hexadecimal-encoded Kg key for IPMIv2 authentication: the BMC key, up to 40 hex digits (on the command line it shows in ps: prefer stdin or hexadecimal_kg_file)",
)
.value("key")
.secret();
const HEXADECIMAL_KG_FILE: Param = Param::new(
    "hexadecimal_kg_file",
    "hexadecimal-kg-file",
    "File whose first line is the hexadecimal Kg key (the BMC key)",
)
.value("path");
const PRIVLVL: Param = Param::new("privlvl", "privlvl", "Privilege level on IPMI device")
    .short('L')
    .value("level")
    .content(Content::Select(&[
        "callback",
        "user",
        "operator",
        "administrator",
    ]))
    .default("administrator");
const LANPLUS: Param = Param::new(
    "lanplus",
    "lanplus",
    "Accepted for compatibility and ignored: this agent always uses IPMI 2.0 RMCP+ (lanplus)",
)
.short('P')
.flag()
.default("1");
const METHOD: Param = Param::new("method", "method", "Method to fence")
    .short('m')
    .value("method")
    .content(Content::Select(&["onoff", "cycle"]))
    .default("onoff");

const ACTIONS: &[Action] = &[
    Action::On,
    Action::Off,
    Action::Reboot,
    Action::Status,
    Action::Monitor,
    Action::Diag,
    Action::Metadata,
    Action::ValidateAll,
];

/// The `cipher` value that asks the BMC which suites it offers.
const CIPHER_AUTO: &str = "auto";
/// Longest `cipher=auto` waits for the BMC's list before it settles for suite 3, should a BMC
/// drop the question unanswered.
const CIPHER_QUERY_BUDGET: Duration = Duration::from_secs(2);

/// Fastest and slowest status poll while waiting for a power change.
const POLL_MAX: Duration = Duration::from_millis(250);

/// The agent, for `axha_fencing::dispatch`.
pub struct IpmiFenceAgent;

/// The validated configuration of one request.
struct Config {
    session: SessionConfig,
    /// `cipher=auto`: the suite is chosen from the BMC's list before the first session.
    cipher_auto: bool,
    login_timeout: Duration,
    power_timeout: Duration,
    power_wait: Duration,
    retry_on: u32,
    cycle: bool,
}

fn device(e: IpmiError) -> FenceError {
    match e {
        IpmiError::BmcKeyMismatch { .. } => FenceError::Device(format!(
            "{e}; the BMC key is given with hexadecimal_kg or hexadecimal_kg_file"
        )),
        e => FenceError::Device(e.to_string()),
    }
}

fn invalid(param: &'static str, value: &str, reason: impl Into<String>) -> FenceError {
    FenceError::Invalid {
        param,
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl IpmiFenceAgent {
    /// The whole configuration of a request: parameters checked, the password obtained (from
    /// stdin, password_script or password_file, each bounded) and the device address resolved
    /// (within login_timeout). validate-all runs it too, so that it answers 0 only for a
    /// request the other actions can carry out.
    fn config(&self, req: &Request) -> Result<Config, FenceError> {
        let ip = req.require("ip")?.trim().to_string();
        let port_s = req.require("ipport")?;
        let port = port_s
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid("ipport", port_s, "not a port number (1-65535)"))?;
        let username = req.require("username")?.to_string();
        check_user_name(&username).map_err(|e| match e {
            IpmiError::UserName { reason, .. } => invalid("username", &username, reason),
            other => invalid("username", &username, other.to_string()),
        })?;
        let cipher_s = req.require("cipher")?;
        let cipher_auto = cipher_s.trim().eq_ignore_ascii_case(CIPHER_AUTO);
        let cipher: CipherSuite = if cipher_auto {
            CipherSuite::Suite3
        } else {
            cipher_s
                .parse()
                .map_err(|e: IpmiError| invalid("cipher", cipher_s, e.to_string()))?
        };
        let priv_s = req.choice("privlvl")?;
        let privilege: PrivilegeLevel = priv_s.parse().map_err(|_| {
            invalid(
                "privlvl",
                priv_s,
                "chassis control needs operator or administrator",
            )
        })?;
        if privilege < PrivilegeLevel::Operator
            && req.action != Action::Status
            && req.action != Action::Monitor
        {
            return Err(invalid(
                "privlvl",
                priv_s,
                "chassis control needs operator or administrator",
            ));
        }
        let cycle = req.choice("method")? == "cycle";
        let retry_on = req.integer("retry_on")?.max(1);
        let login_timeout = req.seconds("login_timeout")?;
        if login_timeout.is_zero() {
            return Err(invalid("login_timeout", "0", "must be more than 0"));
        }
        let power_timeout = req.seconds("power_timeout")?;
        if power_timeout.is_zero() {
            return Err(invalid("power_timeout", "0", "must be more than 0"));
        }
        let power_wait = req.seconds("power_wait")?;
        req.seconds("delay")?;
        let pw = req
            .password(&Deadline::after(login_timeout))?
            .ok_or(FenceError::Missing(
                "password (or password_script / password_file)",
            ))?;
        check_password(pw.expose()).map_err(|e| FenceError::Password(e.to_string()))?;
        let bmc_key = bmc_key(req, login_timeout)?;
        let addr = resolve(&ip, port, &Deadline::after(login_timeout)).map_err(device)?;
        let mut session = SessionConfig::new(addr, username, Password::new(pw.expose().to_vec()));
        session.privilege = privilege;
        session.cipher_suite = cipher;
        session.bmc_key = bmc_key;
        Ok(Config {
            session,
            cipher_auto,
            login_timeout,
            power_timeout,
            power_wait,
            retry_on,
            cycle,
        })
    }
}

impl FenceAgent for IpmiFenceAgent {
    fn spec(&self) -> AgentSpec {
        AgentSpec {
            name: AGENT_NAME,
            shortdesc: "Fence agent for IPMI over LAN (RMCP+), verified power off",
            longdesc: "fence_axigen_ipmi powers a node off, on or through a reboot via its BMC, \
                       over IPMI v2.0 RMCP+: cipher suite 3 (HMAC-SHA1) by default, 17 \
                       (HMAC-SHA256, for BMCs that disabled 3), 2, or auto (17 when the BMC lists \
                       it, else 3) on request; never 0 or 1. Suite 3 stays the default because \
                       every IPMI 2.0 BMC offers it and asking for it costs nothing; auto costs a \
                       Get Channel Cipher Suites exchange before every action, and up to 2 s on \
                       a BMC that drops that question. The default's cost is SHA-1 \
                       where the BMC could do SHA-256 (HMAC-SHA1 is still unbroken as a MAC): set \
                       cipher=17 or auto where the BMC offers 17. A BMC key (K_G) is given with hexadecimal_kg or \
                       hexadecimal_kg_file. It speaks IPMI itself (no ipmitool): an action is one \
                       session raised to privlvl and always closed. Off is reported only after the \
                       BMC reads the chassis as off. diag pulses a diagnostic interrupt (NMI) and \
                       verifies nothing. With bound_node set, it refuses any request naming another \
                       node. Passwords come from stdin, password_script or password_file.",
            vendor_url: "https://www.intel.com/content/www/us/en/products/docs/servers/ipmi/ipmi-second-gen-interface-spec-v2-rev1-1.html",
            params: vec![
                common::ACTION,
                IP,
                IPPORT,
                USERNAME,
                common::PASSWORD,
                common::PASSWORD_SCRIPT,
                common::PASSWORD_FILE,
                HEXADECIMAL_KG,
                HEXADECIMAL_KG_FILE,
                CIPHER,
                PRIVLVL,
                LANPLUS,
                METHOD,
                common::PLUG,
                common::BOUND_NODE,
                common::DELAY,
                common::LOGIN_TIMEOUT,
                common::POWER_TIMEOUT,
                common::POWER_WAIT,
                common::RETRY_ON,
                common::VERBOSE,
                common::VERBOSE_LEVEL,
                common::DEBUG_FILE,
                common::QUIET,
                common::VERSION,
                common::HELP,
            ],
            actions: ACTIONS,
        }
    }

    fn validate(&self, req: &Request) -> Result<(), FenceError> {
        self.config(req).map(|_| ())
    }

    fn run(&self, req: &Request, log: &mut Log) -> Result<Outcome, FenceError> {
        if req.source == Source::CommandLine && req.is_set("password") {
            log.info("warning: a password on the command line is visible in ps; use stdin, password_script or password_file");
        }
        if req.source == Source::CommandLine && req.is_set("hexadecimal_kg") {
            log.info("warning: a BMC key on the command line is visible in ps; use stdin or hexadecimal_kg_file");
        }
        let mut cfg = self.config(req)?;
        if cfg.cipher_auto {
            choose_cipher_suite(&mut cfg, log);
        }
        log.debug(&format!(
            "{} {} as {} ({}), cipher suite {}, {}",
            req.action,
            cfg.session.addr,
            cfg.session.username,
            cfg.session.privilege,
            cfg.session.cipher_suite.number(),
            if cfg.session.bmc_key.is_some() {
                "with a BMC key"
            } else {
                "no BMC key"
            }
        ));
        match req.action {
            Action::Status => {
                let on = status(&cfg, log)?;
                Ok(if on {
                    Outcome::PowerOn
                } else {
                    Outcome::PowerOff
                })
            }
            Action::Monitor => {
                status(&cfg, log)?;
                Ok(Outcome::Ok)
            }
            Action::Off => {
                off_verified(&cfg, log)?;
                Ok(Outcome::Done("Success: Powered OFF".into()))
            }
            Action::On => {
                on_verified(&cfg, log)?;
                Ok(Outcome::Done("Success: Powered ON".into()))
            }
            Action::Reboot if cfg.cycle => {
                cycle_verified(&cfg, log)?;
                Ok(Outcome::Done("Success: Rebooted".into()))
            }
            Action::Reboot => {
                off_verified(&cfg, log)?;
                if let Err(e) = on_verified(&cfg, log) {
                    // The node is verified off: fenced. Failing to start it again is worth a
                    // loud log line, not a failed fence (fence-agents does the same).
                    log.info(&format!("warning: powered off, but power on failed: {e}"));
                }
                Ok(Outcome::Done("Success: Rebooted".into()))
            }
            Action::Diag => {
                session(&cfg, log, |s, d, log| {
                    control(s, ChassisControl::DiagnosticInterrupt, d, log)
                })?;
                Ok(Outcome::Done(
                    "Success: Diagnostic interrupt (NMI) sent".into(),
                ))
            }
            other => Err(FenceError::Usage(format!(
                "action {other} is not supported"
            ))),
        }
    }
}

/// `cipher=auto`: 17 when the BMC lists it, else 3 (also when the list does not come within
/// [`CIPHER_QUERY_BUDGET`]). The list is not authenticated: a forged one can only make the
/// choice 3.
fn choose_cipher_suite(cfg: &mut Config, log: &mut Log) {
    let budget = Deadline::after(cfg.login_timeout.min(CIPHER_QUERY_BUDGET));
    let suite = match offered_cipher_suites(&cfg.session, &budget) {
        Ok(ids) => {
            let suite = CipherSuite::preferred(&ids);
            log.debug(&format!(
                "cipher=auto: the BMC offers cipher suites {ids:?}; using {}",
                suite.number()
            ));
            suite
        }
        Err(e) => {
            log.debug(&format!("cipher=auto: {e}; using cipher suite 3"));
            CipherSuite::Suite3
        }
    };
    cfg.session.cipher_suite = suite;
}

/// The BMC key from `hexadecimal_kg` or `hexadecimal_kg_file`, checked (never echoed).
fn bmc_key(req: &Request, login_timeout: Duration) -> Result<Option<BmcKey>, FenceError> {
    let Some(hex) = req.secret(
        "BMC key",
        "hexadecimal_kg",
        "hexadecimal_kg_file",
        &Deadline::after(login_timeout),
    )?
    else {
        return Ok(None);
    };
    let text = std::str::from_utf8(hex.expose()).map_err(|_| FenceError::Invalid {
        param: "hexadecimal_kg",
        value: "<redacted>".into(),
        reason: "is not hexadecimal".into(),
    })?;
    BmcKey::from_hex(text)
        .map(Some)
        .map_err(|e| FenceError::Invalid {
            param: "hexadecimal_kg",
            value: "<redacted>".into(),
            reason: match e {
                IpmiError::InvalidBmcKey { reason } => reason.to_string(),
                other => other.to_string(),
            },
        })
}

/// One RMCP+ session around `f`: its steps and their times go to the log (debug level and
/// `debug_file`): the handshake (Open Session, RAKP 1-4, Set Session Privilege), each command,
/// the close. Never a password or key: only names, addresses, suites and results.
fn session<T>(
    cfg: &Config,
    log: &mut Log,
    f: impl FnOnce(&mut Session, &Deadline, &mut Log) -> Result<T, IpmiError>,
) -> Result<T, FenceError> {
    let login = Deadline::after(cfg.login_timeout);
    let t = Instant::now();
    log.debug(&format!(
        "RMCP+ session to {} as {} ({}), cipher suite {}: Open Session, RAKP 1-4, Set Session \
         Privilege",
        cfg.session.addr,
        cfg.session.username,
        cfg.session.privilege,
        cfg.session.cipher_suite.number()
    ));
    let r = with_session(&cfg.session, &login, |s| {
        log.debug(&format!(
            "RMCP+ session established in {:.3}s",
            t.elapsed().as_secs_f64()
        ));
        let c = Instant::now();
        let r = f(s, &login, log);
        log.debug(&format!(
            "session commands done in {:.3}s; Close Session",
            c.elapsed().as_secs_f64()
        ));
        r
    });
    match &r {
        Ok(_) => log.debug(&format!(
            "RMCP+ session closed, {:.3}s in all",
            t.elapsed().as_secs_f64()
        )),
        Err(e) => log.debug(&format!(
            "RMCP+ session failed after {:.3}s: {e}",
            t.elapsed().as_secs_f64()
        )),
    }
    r.map_err(device)
}

/// Get Chassis Status, its answer and time at detail level.
fn chassis_power(s: &mut Session, d: &Deadline, log: &mut Log) -> Result<bool, IpmiError> {
    let t = Instant::now();
    let r = s.chassis_status(d).map(|st| st.power_on);
    log.detail(&format!(
        "Get Chassis Status -> {} in {:.3}s",
        match &r {
            Ok(true) => "power on".to_string(),
            Ok(false) => "power off".to_string(),
            Err(e) => e.to_string(),
        },
        t.elapsed().as_secs_f64()
    ));
    r
}

/// Chassis Control, logged with its time.
fn control(
    s: &mut Session,
    what: ChassisControl,
    d: &Deadline,
    log: &mut Log,
) -> Result<(), IpmiError> {
    let t = Instant::now();
    let r = s.chassis_control(what, d);
    log.debug(&format!(
        "Chassis Control {what:?} -> {} in {:.3}s",
        match &r {
            Ok(()) => "accepted".to_string(),
            Err(e) => e.to_string(),
        },
        t.elapsed().as_secs_f64()
    ));
    r
}

fn status(cfg: &Config, log: &mut Log) -> Result<bool, FenceError> {
    session(cfg, log, chassis_power)
}

/// Poll chassis status in the open session until it reads `want`, within `power_timeout`.
fn wait_power(s: &mut Session, want: bool, cfg: &Config, log: &mut Log) -> Result<bool, IpmiError> {
    let started = Instant::now();
    let deadline = Deadline::after(cfg.power_timeout);
    let mut last_err = None;
    let mut polls = 0u32;
    let reached = deadline.poll(POLL_MAX, || {
        polls += 1;
        match chassis_power(s, &deadline.within(cfg.login_timeout), log) {
            Ok(on) if on == want => Some(()),
            Ok(_) => None,
            Err(e) => {
                last_err = Some(e);
                None
            }
        }
    });
    log.debug(&format!(
        "power {}: {} after {polls} status polls in {:.3}s",
        if want { "on" } else { "off" },
        if reached.is_some() {
            "reached"
        } else {
            "not reached"
        },
        started.elapsed().as_secs_f64()
    ));
    match (reached, last_err) {
        (Some(()), _) => Ok(true),
        (None, Some(e)) if e.is_credentials() => Err(e),
        (None, _) => Ok(false),
    }
}

fn switch_verified(
    cfg: &Config,
    log: &mut Log,
    what: ChassisControl,
    want: bool,
) -> Result<(), FenceError> {
    let word = if want { "ON" } else { "OFF" };
    let reached = session(cfg, log, |s, d, log| {
        control(s, what, d, log)?;
        wait_power(s, want, cfg, log)
    })?;
    if !reached {
        return Err(FenceError::Device(format!(
            "timed out after {:.1}s (power_timeout) waiting for the BMC to report power {word}",
            cfg.power_timeout.as_secs_f64()
        )));
    }
    if !cfg.power_wait.is_zero() {
        std::thread::sleep(cfg.power_wait);
    }
    Ok(())
}

fn off_verified(cfg: &Config, log: &mut Log) -> Result<(), FenceError> {
    switch_verified(cfg, log, ChassisControl::PowerDown, false)
}

fn on_verified(cfg: &Config, log: &mut Log) -> Result<(), FenceError> {
    let mut last = None;
    for attempt in 1..=cfg.retry_on {
        match switch_verified(cfg, log, ChassisControl::PowerUp, true) {
            Ok(()) => return Ok(()),
            Err(e) => {
                log.debug(&format!("power on attempt {attempt}/{}: {e}", cfg.retry_on));
                last = Some(e);
            }
        }
    }
    Err(last.expect("retry_on is at least 1"))
}

/// method=cycle: a power cycle needs the chassis on (IPMI v2.0 §28.3: "no action if power is
/// off"), so an off chassis is powered on instead; either way the end state, on, is verified.
fn cycle_verified(cfg: &Config, log: &mut Log) -> Result<(), FenceError> {
    let was_on = status(cfg, log)?;
    let control = if was_on {
        ChassisControl::PowerCycle
    } else {
        log.debug("chassis is off: power on instead of a cycle");
        ChassisControl::PowerUp
    };
    switch_verified(cfg, log, control, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(text: &str) -> Request {
        Request::from_stdin(&IpmiFenceAgent.spec(), text).unwrap()
    }

    const BASE: &str = "ip=127.0.0.1\nusername=admin\npassword=x\n";

    #[test]
    fn validation_messages() {
        let a = IpmiFenceAgent;
        assert!(a.validate(&req(&format!("action=off\n{BASE}"))).is_ok());
        let e = |extra: &str| {
            a.validate(&req(&format!("action=off\n{BASE}{extra}")))
                .unwrap_err()
                .to_string()
        };
        assert!(e("cipher=0\n").contains("cipher"));
        assert!(a
            .validate(&req(&format!("action=off\n{BASE}cipher=17\n")))
            .is_ok());
        assert!(e("cipher=16\n").contains("16 is not supported (17, 3 or 2)"));
        assert!(a
            .validate(&req(&format!("action=off\n{BASE}cipher=auto\n")))
            .is_ok());
        let key = "0x00112233445566778899aabbccddeeff00112233";
        assert!(a
            .validate(&req(&format!("action=off\n{BASE}hexadecimal_kg={key}\n")))
            .is_ok());
        let bad_key = e("hexadecimal_kg=s3cr3t\n");
        assert!(
            bad_key.contains("hexadecimal_kg") && bad_key.contains("not hexadecimal"),
            "{bad_key}"
        );
        assert!(
            !bad_key.contains("s3cr3t"),
            "the key is never echoed: {bad_key}"
        );
        assert!(e(&format!("hexadecimal_kg={key}44\n")).contains("longer than 40"));
        let missing = e("hexadecimal_kg_file=/nonexistent/kg\n");
        assert!(
            missing.contains("BMC key") && missing.contains("/nonexistent/kg"),
            "{missing}"
        );
        assert!(e("hexadecimal_kg_file=/dev/zero\n").contains("more than 4096 bytes"));
        assert!(e("cipher=1\n").contains("cipher"));
        assert!(e("ipport=0\n").contains("ipport"));
        assert!(e("ipport=70000\n").contains("70000"));
        assert!(e("privlvl=user\n").contains("operator or administrator"));
        assert!(e("method=sideways\n").contains("onoff, cycle"));
        assert!(e("power_timeout=0\n").contains("power_timeout"));
        assert!(e("username=abcdefghijklmnopq\n").contains("16 bytes"));
        assert!(e("password=123456789012345678901\n").contains("more than the 20"));
        assert!(a
            .validate(&req(&format!(
                "action=off\n{BASE}password=12345678901234567890\n"
            )))
            .is_ok());
        assert!(e("ip=no-such-host.invalid\n").contains("no-such-host.invalid"));
        let pw_fifo_free = e("password=\npassword_file=/dev/zero\n");
        assert!(
            pw_fifo_free.contains("more than 4096 bytes"),
            "{pw_fifo_free}"
        );
        let e = a
            .validate(&req("action=off\nip=h\nusername=u\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("password"), "{e}");
        // status at user level is fine
        assert!(a
            .validate(&req(&format!("action=status\n{BASE}privlvl=user\n")))
            .is_ok());
    }

    #[test]
    fn metadata_declares_fence_ipmilan_names() {
        let m = IpmiFenceAgent.spec().metadata();
        for name in [
            "ip",
            "ipaddr",
            "ipport",
            "username",
            "login",
            "password",
            "passwd",
            "password_script",
            "passwd_script",
            "cipher",
            "privlvl",
            "method",
            "power_wait",
            "power_timeout",
            "login_timeout",
            "retry_on",
            "delay",
            "plug",
            "port",
            "bound_node",
            "hexadecimal_kg",
            "hexadecimal_kg_file",
        ] {
            assert!(
                m.contains(&format!("<parameter name=\"{name}\"")),
                "{name} missing"
            );
        }
        assert!(!m.contains("\"list\""));
        assert!(m.contains("<action name=\"diag\" />"), "{m}");
        assert!(m.contains("<option value=\"17\" />"), "{m}");
    }
}

#[cfg(test)]
mod readme {
    use super::*;

    /// The README's parameter table is the declaration's: regenerate it with
    /// `AXHA_WRITE_README=1 cargo test -p fence_axigen_ipmi readme`.
    #[test]
    fn readme_parameter_table_is_current() {
        let table = IpmiFenceAgent.spec().parameter_table();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).expect("agents/fence-ipmi/README.md");
        let (start, end) = ("<!-- parameters -->\n", "<!-- /parameters -->");
        let a = readme.find(start).expect("start marker") + start.len();
        let b = readme.find(end).expect("end marker");
        if readme[a..b] != table {
            if std::env::var_os("AXHA_WRITE_README").is_some() {
                let new = format!("{}{table}{}", &readme[..a], &readme[b..]);
                std::fs::write(&path, new).expect("write README");
            } else {
                panic!("README parameter table is stale; regenerate it:\n{table}");
            }
        }
    }
}
