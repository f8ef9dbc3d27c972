//! The project's RMCP+ responder against the project's RMCP+ client (axha-ipmi), in one
//! process: every cipher suite both speak, the BMC key, credentials and privilege. What
//! proves the pair against an implementation nobody here wrote is ipmitool, in
//! tests/fence_cipher17.rs.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axha_bmc::lanplus::{LanplusConfig, Responder};
use axha_bmc::{read_power_file, BmcUser, Privilege, CHASSIS_LOG};
use axha_ipmi::{
    offered_cipher_suites, with_session, BmcKey, ChassisControl, CipherSuite, Deadline, IpmiError,
    Password, PrivilegeLevel, Session, SessionConfig,
};

const KG: &str = "00112233445566778899aabbccddeeff01020304";

struct Running {
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(bmc_key: Option<&str>) -> Running {
    start_offering(bmc_key, &axha_bmc::lanplus::DEFAULT_SUITES)
}

fn start_offering(bmc_key: Option<&str>, suites: &[CipherSuite]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let cfg = LanplusConfig {
        addr,
        users: vec![
            BmcUser::new("admin", "secret", Privilege::Admin),
            BmcUser::new("oper", "opsecret", Privilege::Operator),
            BmcUser::new("viewer", "viewsecret", Privilege::User),
        ],
        bmc_key: bmc_key.map(str::to_string),
        suites: suites.to_vec(),
    };
    let mut r = Responder::on_socket(sock, &cfg, dir.path()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        r.serve(&|| s.load(Ordering::Relaxed)).unwrap();
    });
    Running {
        addr,
        dir,
        stop,
        thread: Some(thread),
    }
}

fn cfg(b: &Running, user: &str, pw: &str, suite: CipherSuite) -> SessionConfig {
    let mut c = SessionConfig::new(b.addr, user, Password::new(pw.as_bytes().to_vec()));
    c.cipher_suite = suite;
    c
}

fn d() -> Deadline {
    Deadline::after(Duration::from_secs(5))
}

#[test]
fn every_suite_switches_power_and_reads_it_back() {
    let b = start(None);
    for suite in CipherSuite::SUPPORTED {
        let c = cfg(&b, "admin", "secret", suite);
        let dl = d();
        let st = with_session(&c, &dl, |s| s.chassis_status(&dl)).unwrap();
        assert!(st.power_on, "{suite:?}");
        with_session(&c, &dl, |s| {
            s.chassis_control(ChassisControl::PowerDown, &dl)
        })
        .unwrap();
        assert!(!read_power_file(b.dir.path()).unwrap(), "{suite:?}");
        let st = with_session(&c, &dl, |s| s.chassis_status(&dl)).unwrap();
        assert!(!st.power_on, "{suite:?}");
        with_session(&c, &dl, |s| s.chassis_control(ChassisControl::PowerUp, &dl)).unwrap();
        assert!(read_power_file(b.dir.path()).unwrap(), "{suite:?}");
    }
    let dl = d();
    let c = cfg(&b, "admin", "secret", CipherSuite::Suite17);
    with_session(&c, &dl, |s| {
        s.chassis_control(ChassisControl::DiagnosticInterrupt, &dl)
    })
    .unwrap();
    let log = std::fs::read_to_string(b.dir.path().join(CHASSIS_LOG)).unwrap();
    assert!(log.contains("diagnostic interrupt (NMI) pulsed"), "{log}");
}

#[test]
fn bmc_key_is_needed_and_must_match() {
    let b = start(Some(KG));
    let dl = d();
    for suite in [CipherSuite::Suite3, CipherSuite::Suite17] {
        let mut c = cfg(&b, "admin", "secret", suite);
        let e = Session::open(&c, &dl).unwrap_err();
        assert!(
            matches!(
                e,
                IpmiError::BmcKeyMismatch {
                    key_given: false,
                    ..
                }
            ),
            "{suite:?}: {e}"
        );
        assert!(e.to_string().contains("none was given"), "{e}");
        c.bmc_key = Some(BmcKey::from_hex(&KG.replace("04", "05")).unwrap());
        let e = Session::open(&c, &dl).unwrap_err();
        assert!(e.to_string().contains("is not the BMC's"), "{suite:?}: {e}");
        c.bmc_key = Some(BmcKey::from_hex(KG).unwrap());
        let st = with_session(&c, &dl, |s| s.chassis_status(&dl)).unwrap();
        assert!(st.power_on);
    }
    // A key on the console side only is as wrong as a missing one.
    let plain = start(None);
    let mut c = cfg(&plain, "admin", "secret", CipherSuite::Suite17);
    c.bmc_key = Some(BmcKey::from_hex(KG).unwrap());
    let e = Session::open(&c, &dl).unwrap_err();
    assert!(matches!(e, IpmiError::BmcKeyMismatch { .. }), "{e}");
}

#[test]
fn credentials_and_privilege_are_enforced() {
    let b = start(None);
    let dl = d();
    let s17 = CipherSuite::Suite17;
    let e = Session::open(&cfg(&b, "admin", "wrong", s17), &dl).unwrap_err();
    assert!(matches!(e, IpmiError::WrongPassword { .. }), "{e}");
    let e = Session::open(&cfg(&b, "nobody", "x", s17), &dl).unwrap_err();
    assert!(matches!(e, IpmiError::UnknownUser { .. }), "{e}");
    let e = Session::open(&cfg(&b, "oper", "opsecret", s17), &dl).unwrap_err();
    assert!(
        matches!(e, IpmiError::InsufficientPrivilege { .. }),
        "operator asking administrator: {e}"
    );
    let mut c = cfg(&b, "oper", "opsecret", s17);
    c.privilege = PrivilegeLevel::Operator;
    with_session(&c, &dl, |s| {
        s.chassis_control(ChassisControl::PowerDown, &dl)
    })
    .unwrap();
    let mut c = cfg(&b, "viewer", "viewsecret", s17);
    c.privilege = PrivilegeLevel::User;
    let st = with_session(&c, &dl, |s| s.chassis_status(&dl)).unwrap();
    assert!(!st.power_on);
    let e = with_session(&c, &dl, |s| s.chassis_control(ChassisControl::PowerUp, &dl)).unwrap_err();
    assert!(matches!(e, IpmiError::Completion { code: 0xd4, .. }), "{e}");
}

#[test]
fn the_suites_offered_are_listed_and_the_others_refused() {
    let b = start(None);
    let c = cfg(&b, "admin", "secret", CipherSuite::Suite3);
    assert_eq!(offered_cipher_suites(&c, &d()).unwrap(), vec![17, 3, 2]);
    let only17 = start_offering(None, &[CipherSuite::Suite17]);
    let c = cfg(&only17, "admin", "secret", CipherSuite::Suite3);
    let offered = offered_cipher_suites(&c, &d()).unwrap();
    assert_eq!(offered, vec![17]);
    assert_eq!(CipherSuite::preferred(&offered), CipherSuite::Suite17);
    let e = Session::open(&c, &d()).unwrap_err();
    assert!(
        matches!(e, IpmiError::UnsupportedCipherSuite { suite: 3, .. }),
        "{e}"
    );
    let c = cfg(&only17, "admin", "secret", CipherSuite::Suite17);
    let dl = d();
    assert!(with_session(&c, &dl, |s| s.chassis_status(&dl)).is_ok());
}
