//! Commands in a guest: a small server in each VM (`axha-lab-node guest-serve`, started by the
//! guest's init) runs one argv per TCP connection on the management network and sends back
//! its output and exit status; the client (`axha-lab-node guest-exec`, which [`crate::Lab::cmd`]
//! runs for VM nodes) joins the lab's hub namespace, sends the request and its own stdin, and
//! ends with the command's exit status, so a guest command behaves like a local one for every
//! caller of `Lab::cmd` (cibadmin with XML on stdin, crm_mon, `lab exec`).
//!
//! The wire format is frames of `[tag: u8][length: u32 big-endian][bytes]`. Request: `A`
//! (one argv element, repeated), `E` (`KEY=VALUE`, repeated), `T` (timeout in seconds, ASCII),
//! `I` (stdin, at most once), `G` (go). Reply: `O` (stdout), `R` (stderr), then `X` (exit code,
//! ASCII; a signal is 128 + its number). Every frame and the whole request are bounded.
//!
//! The server trusts its network: it listens only on the lab's private management network,
//! which only the hub namespace reaches. It is a lab tool, not a remote shell for production.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use axha_exec::{Cmd, Deadline};

/// The TCP port the guest command server listens on (management network only).
pub const GUEST_EXEC_PORT: u16 = 7010;
/// Largest single frame (stdin, stdout and stderr are each at most this).
pub const MAX_FRAME: usize = 64 << 20;
/// Most argv + environment entries a request may carry.
const MAX_ITEMS: usize = 4096;
/// The longest a guest command may run when the request names no timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the client waits to connect to a guest.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// PATH of guest commands.
const GUEST_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// A guest command request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// The program and its arguments.
    pub argv: Vec<Vec<u8>>,
    /// Extra environment (`KEY=VALUE`) besides PATH, HOME and LC_ALL.
    pub env: Vec<Vec<u8>>,
    /// Bytes for the command's stdin.
    pub stdin: Vec<u8>,
    /// How long it may run.
    pub timeout: Duration,
}

fn put(w: &mut impl Write, tag: u8, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut head = [0u8; 5];
    head[0] = tag;
    head[1..].copy_from_slice(&len.to_be_bytes());
    w.write_all(&head)?;
    w.write_all(data)
}

fn get(r: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head)?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut data = vec![0u8; len];
    r.read_exact(&mut data)?;
    Ok((head[0], data))
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Write a request.
pub fn write_request(w: &mut impl Write, req: &Request) -> io::Result<()> {
    for a in &req.argv {
        put(w, b'A', a)?;
    }
    for e in &req.env {
        put(w, b'E', e)?;
    }
    put(w, b'T', req.timeout.as_secs().to_string().as_bytes())?;
    if !req.stdin.is_empty() {
        put(w, b'I', &req.stdin)?;
    }
    put(w, b'G', &[])?;
    w.flush()
}

/// Read a request (what the server does first).
pub fn read_request(r: &mut impl Read) -> io::Result<Request> {
    let mut req = Request {
        timeout: DEFAULT_TIMEOUT,
        ..Request::default()
    };
    loop {
        let (tag, data) = get(r)?;
        if req.argv.len() + req.env.len() > MAX_ITEMS {
            return Err(bad("too many argv and environment entries"));
        }
        match tag {
            b'A' => req.argv.push(data),
            b'E' if data.contains(&b'=') => req.env.push(data),
            b'E' => return Err(bad("environment entry without '='")),
            b'T' => {
                let secs: u64 = std::str::from_utf8(&data)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .filter(|s| *s > 0 && *s <= 24 * 3600)
                    .ok_or_else(|| bad("timeout is not 1..86400 seconds"))?;
                req.timeout = Duration::from_secs(secs);
            }
            b'I' => req.stdin = data,
            b'G' if req.argv.is_empty() => return Err(bad("empty command")),
            b'G' => return Ok(req),
            t => return Err(bad(format!("unknown request frame {t:#04x}"))),
        }
    }
}

/// Serve one connection: run its command, send its output and status.
fn serve_one(mut s: TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let req = match read_request(&mut s) {
        Ok(r) => r,
        Err(e) => {
            let _ = put(&mut s, b'R', format!("guest-serve: {e}\n").as_bytes());
            return put(&mut s, b'X', b"125");
        }
    };
    use std::os::unix::ffi::OsStrExt;
    let os = |b: &[u8]| std::ffi::OsStr::from_bytes(b).to_os_string();
    let mut cmd = Cmd::from_argv(req.argv.iter().map(|a| os(a)))
        .env("PATH", GUEST_PATH)
        .env("HOME", "/root")
        .env("LANG", "C")
        .max_output(MAX_FRAME);
    for e in &req.env {
        let i = e.iter().position(|b| *b == b'=').unwrap_or(e.len());
        cmd = cmd.env(os(&e[..i]), os(&e[(i + 1).min(e.len())..]));
    }
    if !req.stdin.is_empty() {
        cmd = cmd.stdin(req.stdin);
    }
    match cmd.run(&Deadline::after(req.timeout)) {
        Ok(out) => {
            put(&mut s, b'O', &out.stdout)?;
            put(&mut s, b'R', &out.stderr)?;
            let code = match (out.status.code(), out.status.signal()) {
                (Some(c), _) => c,
                (None, Some(sig)) => 128 + sig,
                (None, None) => 125,
            };
            put(&mut s, b'X', code.to_string().as_bytes())
        }
        Err(e) => {
            // Could not run, timed out, or printed too much: the message says which.
            put(&mut s, b'R', format!("guest-serve: {e}\n").as_bytes())?;
            let code = match e {
                axha_exec::ExecError::Spawn { .. } => 127,
                _ => 124,
            };
            put(&mut s, b'X', code.to_string().as_bytes())
        }
    }
}

/// Listen on `addr` and serve each connection in its own thread, for ever.
pub fn serve(addr: SocketAddr) -> io::Result<()> {
    let l = TcpListener::bind(addr)?;
    for s in l.incoming() {
        match s {
            Ok(s) => {
                std::thread::spawn(move || {
                    let _ = serve_one(s);
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    Ok(())
}

/// The result of a guest command, as the client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// Its exit code (128 + N for signal N).
    pub code: i32,
}

/// Send `req` to the guest server at `addr` (from the calling thread's network namespace)
/// and wait for its reply, at most the request's timeout plus a margin.
pub fn call(addr: SocketAddr, req: &Request) -> io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    s.set_read_timeout(Some(req.timeout + Duration::from_secs(10)))?;
    write_request(&mut s, req)?;
    let mut reply = Reply {
        stdout: Vec::new(),
        stderr: Vec::new(),
        code: 125,
    };
    loop {
        let (tag, data) = get(&mut s)?;
        match tag {
            b'O' => reply.stdout = data,
            b'R' => reply.stderr.extend(data),
            b'X' => {
                reply.code = std::str::from_utf8(&data)
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| bad("bad exit code frame"))?;
                return Ok(reply);
            }
            t => return Err(bad(format!("unknown reply frame {t:#04x}"))),
        }
    }
}

/// Move the calling thread into the network namespace at `path` (an `ip netns` handle).
pub fn enter_netns(path: &std::path::Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    // SAFETY: setns with a namespace descriptor we hold open; only this thread moves.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `axha-lab-node guest-serve`: serve on every address of the guest, port
/// [`GUEST_EXEC_PORT`] (the guest's only non-loopback networks are the lab's).
pub fn serve_main() -> Result<(), String> {
    serve(SocketAddr::from(([0, 0, 0, 0], GUEST_EXEC_PORT)))
        .map_err(|e| format!("guest-serve: {e}"))
}

/// `axha-lab-node guest-exec --netns PATH --addr IP:PORT [--timeout SECS] [--env K=V]... --
/// ARGV...`: run ARGV in the guest; stdin (unless a terminal) is forwarded, the output
/// printed, and the command's exit code returned.
pub fn client_main(args: &[String]) -> Result<i32, String> {
    let mut netns = None;
    let mut addr = None;
    let mut req = Request {
        timeout: DEFAULT_TIMEOUT,
        ..Request::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("guest-exec: {name} needs a value"))
        };
        match a.as_str() {
            "--netns" => netns = Some(value("--netns")?),
            "--addr" => {
                let v = value("--addr")?;
                addr = Some(
                    v.parse::<SocketAddr>()
                        .map_err(|_| format!("guest-exec: bad --addr {v:?}"))?,
                );
            }
            "--timeout" => {
                let v = value("--timeout")?;
                let s: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("guest-exec: bad --timeout {v:?}"))?;
                req.timeout = Duration::from_secs(s);
            }
            "--env" => req.env.push(value("--env")?.into_bytes()),
            "--" => {
                req.argv = it.by_ref().map(|a| a.clone().into_bytes()).collect();
            }
            other => return Err(format!("guest-exec: unknown argument {other:?}")),
        }
    }
    let addr = addr.ok_or("guest-exec: --addr is required")?;
    if req.argv.is_empty() {
        return Err("guest-exec: no command after --".into());
    }
    // SAFETY: isatty has no preconditions.
    if unsafe { libc::isatty(0) } == 0 {
        req.stdin =
            axha_exec::read_stdin_bounded(MAX_FRAME, &Deadline::after(Duration::from_secs(60)))
                .map_err(|e| format!("guest-exec: reading stdin: {e}"))?;
    }
    if let Some(ns) = netns {
        enter_netns(std::path::Path::new(&ns))
            .map_err(|e| format!("guest-exec: entering {ns}: {e}"))?;
    }
    let reply = call(addr, &req).map_err(|e| format!("guest-exec: {addr}: {e}"))?;
    let _ = std::io::stdout().write_all(&reply.stdout);
    let _ = std::io::stderr().write_all(&reply.stderr);
    Ok(reply.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_is_checked() {
        let req = Request {
            argv: vec![b"cibadmin".to_vec(), b"-Q".to_vec(), vec![0xff, 0x00]],
            env: vec![b"CIB_file=/x".to_vec()],
            stdin: b"<cib/>".to_vec(),
            timeout: Duration::from_secs(7),
        };
        let mut buf = Vec::new();
        write_request(&mut buf, &req).unwrap();
        assert_eq!(read_request(&mut buf.as_slice()).unwrap(), req);

        let mut only_go = Vec::new();
        put(&mut only_go, b'G', &[]).unwrap();
        let e = read_request(&mut only_go.as_slice()).unwrap_err();
        assert!(e.to_string().contains("empty command"), "{e}");

        let mut huge = vec![b'A'];
        huge.extend(((MAX_FRAME + 1) as u32).to_be_bytes());
        let e = read_request(&mut huge.as_slice()).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");

        let mut bad_t = Vec::new();
        put(&mut bad_t, b'A', b"true").unwrap();
        put(&mut bad_t, b'T', b"0").unwrap();
        assert!(read_request(&mut bad_t.as_slice()).is_err());

        // A truncated request is an error, not a hang or a panic.
        assert!(read_request(&mut &buf[..buf.len() - 3]).is_err());
    }

    #[test]
    fn server_runs_commands_with_stdin_status_and_signals() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                std::thread::spawn(move || serve_one(s));
            }
        });
        let req = |argv: &[&str], stdin: &[u8]| Request {
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            env: vec![b"AXHA_X=42".to_vec()],
            stdin: stdin.to_vec(),
            timeout: Duration::from_secs(10),
        };
        let r = call(
            addr,
            &req(
                &["sh", "-c", "cat; echo $AXHA_X; echo e >&2; exit 3"],
                b"in\n",
            ),
        )
        .unwrap();
        assert_eq!(r.stdout, b"in\n42\n");
        assert_eq!(r.stderr, b"e\n");
        assert_eq!(r.code, 3);
        let r = call(addr, &req(&["sh", "-c", "kill -9 $$"], b"")).unwrap();
        assert_eq!(r.code, 128 + 9);
        let r = call(addr, &req(&["/nonexistent/prog"], b"")).unwrap();
        assert_eq!(r.code, 127);
        assert!(String::from_utf8_lossy(&r.stderr).contains("/nonexistent/prog"));
    }
}
