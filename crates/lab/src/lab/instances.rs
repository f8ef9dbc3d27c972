//! Service instances: an Axigen workdir (made by the server's own `init`; the lab uses
//! axigen-sim, the Axigen stand-in) put on its own disk, a service IP and a password file, as
//! the [`crate::service::Instance`] that renders the CIB group; and the greeting probe that
//! reads a service's first line from inside a node's network namespace. A new kind of
//! service (a front-end proxy, a directory) is a module like this one.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use axha_exec::{Cmd, Deadline};

use super::mkdir_mode;
use crate::diagnosis::printable;
use crate::fencing::random_password;
use crate::service::{service_ip, Instance};
use crate::{Lab, LabError};

/// How long the greeting probe waits for a connection, and then for the first line.
const GREETING_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest first line the greeting probe reads.
const GREETING_MAX: usize = 1024;

impl Lab {
    /// A service instance (see [`crate::service`]): number `k` (service IP 10.231.0.(100+k)),
    /// preferring node `home`, served by `server` (the `axigen-sim` binary: Axigen itself
    /// cannot be installed here). Its workdir is made with `server init` and put on a new
    /// disk; the returned value renders the CIB group and home preference.
    pub fn add_instance(
        &self,
        id: &str,
        k: usize,
        home: Option<&str>,
        server: &Path,
    ) -> Result<Instance, LabError> {
        if let Some(h) = home {
            self.check_node(h)?;
        }
        if !(1..=99).contains(&k) {
            return Err(LabError::InvalidSpec {
                field: "instance number",
                value: k.to_string(),
                reason: "1 to 99",
            });
        }
        let dir = self.state_dir.join("instances").join(id);
        let seed = dir.join("seed");
        mkdir_mode(&dir, 0o700, None)?;
        let password_file = dir.join("admin.pw");
        let password = random_password().map_err(|e| LabError::io("/dev/urandom", e))?;
        std::fs::write(&password_file, format!("{password}\n"))
            .map_err(|e| LabError::io(&password_file, e))?;
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(&password_file, e))?;
        let ip = service_ip(k);
        Cmd::new(server)
            .args(["init", "-W"])
            .arg(&seed)
            .args(["--address", &ip.to_string(), "--admin-password-file"])
            .arg(&password_file)
            .run_ok(&Deadline::after(Duration::from_secs(30)))
            .map_err(|e| LabError::exec(format!("making the workdir of {id}"), e))?;
        let disk = self.add_disk(id, 64, Some(&seed))?;
        let workdir = self.state_dir.join("mnt").join(id);
        mkdir_mode(&workdir, 0o755, None)?;
        Ok(Instance {
            id: id.to_string(),
            ip,
            device: disk.device,
            workdir,
            password_file,
            binary: server.to_path_buf(),
            home: home.map(str::to_string),
        })
    }

    /// The first line a TCP service at `ip:port` sends, read from inside `node`'s network
    /// namespace (an IMAP greeting, the Axigen CLI banner); `None` when the node is off or
    /// nothing answers a full line within `GREETING_TIMEOUT` (2 s).
    pub fn greeting(&self, node: &str, ip: Ipv4Addr, port: u16) -> Option<String> {
        if !self.is_alive(node) {
            return None;
        }
        self.greeting_in(&self.netns_name(node), ip, port)
    }

    /// [`Lab::greeting`] from the lab's network namespace `ns` (a node's, or the hub's).
    pub(super) fn greeting_in(&self, ns: &str, ip: Ipv4Addr, port: u16) -> Option<String> {
        // The `ip netns` handle names the namespace for as long as the lab exists.
        let netns = File::open(Path::new("/run/netns").join(ns)).ok()?;
        // setns(CLONE_NEWNET) moves only the calling thread, and a socket stays in the
        // namespace it was made in: a short-lived thread of our own does the whole read.
        std::thread::spawn(move || first_line_in(&netns, SocketAddr::from((ip, port))))
            .join()
            .ok()?
    }
}

/// Connect to `addr` from the network namespace `netns` (this thread moves into it) and
/// read the first line, at most [`GREETING_MAX`] bytes within [`GREETING_TIMEOUT`].
fn first_line_in(netns: &File, addr: SocketAddr) -> Option<String> {
    // SAFETY: setns with a valid namespace fd; it changes this thread's network namespace
    // only, and the thread ends after this probe.
    if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return None;
    }
    let deadline = Instant::now() + GREETING_TIMEOUT;
    let mut stream = TcpStream::connect_timeout(&addr, GREETING_TIMEOUT).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || buf.len() >= GREETING_MAX {
            return None;
        }
        stream.set_read_timeout(Some(left)).ok()?;
        match stream.read(&mut chunk).ok()? {
            0 => return None,
            n => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let end = buf.iter().position(|b| *b == b'\n')?;
    let line = printable(&String::from_utf8_lossy(&buf[..end]));
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn own_netns() -> File {
        File::open("/proc/self/ns/net").unwrap()
    }

    #[test]
    fn first_line_is_read_and_bounded() {
        // setns into the namespace we are already in needs CAP_SYS_ADMIN: root only.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP: setns needs root");
            return;
        }
        let serve = |reply: &'static [u8]| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            std::thread::spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                let _ = c.write_all(reply);
                std::thread::sleep(Duration::from_secs(3));
            });
            addr
        };
        let ns = own_netns();
        let a = serve(b"* OK IMAP ready\r\nmore\r\n");
        assert_eq!(first_line_in(&ns, a).as_deref(), Some("* OK IMAP ready"));
        let a = serve(b"\x1b[31m* OK\x07\n");
        assert_eq!(first_line_in(&ns, a).as_deref(), Some("[31m* OK"));
        // no full line within the time: nothing
        let a = serve(b"* OK without an end");
        assert_eq!(first_line_in(&ns, a), None);
        // an endless line is cut off by size
        let a = serve(&[b'x'; 4096]);
        assert_eq!(first_line_in(&ns, a), None);
    }
}
