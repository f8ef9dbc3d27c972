//! Simulated BMCs (real ipmi_sim, through axha-bmc) and a lossy UDP proxy for the fencing
//! suites.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use axha_bmc::{Bmc, BmcServer, BmcSpec, BmcUser, Privilege};

pub const ADMIN: (&str, &str) = ("admin", "secret");
pub const OPERATOR: (&str, &str) = ("oper", "opsecret");
pub const PLAIN_USER: (&str, &str) = ("viewer", "viewsecret");

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A UDP port derived from the pid (so parallel runs and suites rarely clash), different on
/// every call within this process.
pub fn next_port() -> u16 {
    let base = 41000 + (std::process::id() % 1200) as u16 * 16;
    base + NEXT.fetch_add(1, Ordering::Relaxed) % 16
}

pub fn localhost() -> IpAddr {
    "127.0.0.1".parse().expect("literal address")
}

/// A started BMC plus the temporary directory that holds it (removed after the BMC stops).
pub struct TestBmc {
    pub bmc: Bmc,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestBmc {
    type Target = Bmc;
    fn deref(&self) -> &Bmc {
        &self.bmc
    }
}

impl TestBmc {
    pub fn dir(&self) -> PathBuf {
        self.bmc.dir().to_owned()
    }
}

/// The test BMC: an administrator, an operator-limited and a user-limited account, on
/// 127.0.0.1 at a pid-derived port (tries a few ports if one is taken).
pub fn start_bmc() -> TestBmc {
    start_bmc_with(|s| s)
}

pub fn start_bmc_with(adjust: impl Fn(BmcSpec) -> BmcSpec) -> TestBmc {
    let dir = tempfile::Builder::new()
        .prefix("axha-bmc-")
        .tempdir()
        .expect("temp dir");
    let mut last = None;
    for _ in 0..4 {
        let spec = BmcSpec::new(dir.path().join("bmc"), localhost(), next_port())
            .user(BmcUser::new(ADMIN.0, ADMIN.1, Privilege::Admin))
            .user(BmcUser::new(OPERATOR.0, OPERATOR.1, Privilege::Operator))
            .user(BmcUser::new(PLAIN_USER.0, PLAIN_USER.1, Privilege::User))
            .chassis_bin(crate::bin("axha-bmc-chassis"));
        match Bmc::start(adjust(spec)) {
            Ok(bmc) => return TestBmc { bmc, _dir: dir },
            Err(e) => last = Some(e),
        }
    }
    panic!("cannot start ipmi_sim: {}", last.expect("at least one try"));
}

/// The test BMC served by the project's RMCP+ responder (`axha-bmc-lanplus`: cipher suites
/// 2, 3 and 17, an optional BMC key) instead of ipmi_sim, with the same accounts.
pub fn start_lanplus_bmc_with(adjust: impl Fn(BmcSpec) -> BmcSpec) -> TestBmc {
    start_bmc_with(|s| {
        adjust(
            s.server(BmcServer::Lanplus)
                .lanplus_bin(crate::bin("axha-bmc-lanplus")),
        )
    })
}

/// A UDP proxy in front of a BMC that drops chosen datagrams: `drop_request(n)` /
/// `drop_reply(n)` decide for the n-th (from 0) request / reply. Stops on drop.
pub struct LossyProxy {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub dropped: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

type Rule = Box<dyn Fn(u32) -> bool + Send>;

impl LossyProxy {
    pub fn start(bmc: SocketAddr, drop_request: Rule, drop_reply: Rule) -> LossyProxy {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind proxy");
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind proxy back");
        back.connect(bmc).expect("connect to bmc");
        front
            .set_read_timeout(Some(Duration::from_millis(5)))
            .expect("timeout");
        back.set_read_timeout(Some(Duration::from_millis(5)))
            .expect("timeout");
        let addr = front.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU32::new(0));
        let (s, d) = (stop.clone(), dropped.clone());
        let thread = std::thread::spawn(move || {
            let mut client: Option<SocketAddr> = None;
            let (mut nreq, mut nrep) = (0u32, 0u32);
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    client = Some(from);
                    if drop_request(nreq) {
                        d.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let _ = back.send(&buf[..n]);
                    }
                    nreq += 1;
                }
                if let Ok(n) = back.recv(&mut buf) {
                    if drop_reply(nrep) {
                        d.fetch_add(1, Ordering::Relaxed);
                    } else if let Some(c) = client {
                        let _ = front.send_to(&buf[..n], c);
                    }
                    nrep += 1;
                }
            }
        });
        LossyProxy {
            addr,
            stop,
            dropped,
            thread: Some(thread),
        }
    }

    pub fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A UDP port on 127.0.0.1 where nothing listens (bound, read, then released).
pub fn dead_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}
