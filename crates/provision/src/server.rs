//! The API's HTTP/1.1 listener: one accept loop, a bounded pool of workers (each with its own
//! provisioner: its own LDAP connection and back-end sessions), a bounded queue of accepted
//! connections between them, and optional TLS (rustls) on the same socket.
//!
//! Limits, so that no client can hold a worker or memory for long: a request's head is at most
//! [`MAX_HEAD`] bytes, its body at most [`crate::http::MAX_BODY`] (announced by
//! `Content-Length`; chunked bodies are refused), and the TLS handshake, head and body must all
//! arrive within [`REQUEST_TIMEOUT`] of the connection being taken up. A connection reaches a
//! worker only once it has sent its first bytes: until then it waits, with every other silent
//! one, in the accept loop's `poll(2)` (closed after [`REQUEST_TIMEOUT`]), so silent clients
//! cannot take the workers. Each connection carries one request (`Connection: close`), so a
//! worker is never parked on an idle keep-alive client while others wait; a TLS client resumes
//! its session (tickets) to make reconnecting cheap.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axha_exec::{escape_controls, Deadline};
use rustls::ServerConnection;

use crate::error::ProvisionError;
use crate::http::{self, Api, Body, Reply, MAX_BODY, OTHER_ROUTE};
use crate::metrics;
use crate::service::Provisioner;

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Time a client has, from the moment a worker takes its connection, to complete the TLS
/// handshake and send the whole request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the client to take the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Accepted connections waiting for a worker, per worker; beyond them the kernel's listen
/// backlog holds new connections.
const QUEUE_PER_WORKER: usize = 4;
/// Connections accepted and still silent, at most (beyond, the oldest is closed).
const MAX_WAITING: usize = 512;
/// What is read and dropped after an answer sent before the request was read to its end
/// (a body above the limit), so that closing does not reset the connection under the answer.
const DRAIN_MAX: usize = 1 << 20;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// How to serve: address, pool size, TLS.
pub struct ServeOptions {
    /// `ADDRESS:PORT` to listen on.
    pub listen: String,
    /// Workers, each serving one connection at a time.
    pub workers: usize,
    /// The TLS configuration; plain HTTP when absent.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Makes worker `i`'s provisioner.
pub type WorkerConnector = dyn Fn(usize) -> Result<Provisioner, ProvisionError> + Send + Sync;

/// Bind, then serve until the process is stopped.
pub fn serve(
    opts: &ServeOptions,
    api: Arc<Api>,
    connect: Arc<WorkerConnector>,
) -> Result<(), ProvisionError> {
    let listener = TcpListener::bind(&opts.listen).map_err(|e| ProvisionError::Listen {
        address: opts.listen.clone(),
        reason: e.to_string(),
    })?;
    eprintln!(
        "axigen-provision: listening on {} ({}) with {} workers",
        opts.listen,
        if opts.tls.is_some() { "https" } else { "http" },
        opts.workers
    );
    serve_on(listener, opts, api, connect);
    Ok(())
}

/// Serve connections of an already bound listener.
pub fn serve_on(
    listener: TcpListener,
    opts: &ServeOptions,
    api: Arc<Api>,
    connect: Arc<WorkerConnector>,
) {
    let workers = opts.workers.max(1);
    let (tx, rx) = sync_channel::<TcpStream>(workers * QUEUE_PER_WORKER);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..workers {
        let rx = Arc::clone(&rx);
        let api = Arc::clone(&api);
        let connect = Arc::clone(&connect);
        let tls = opts.tls.clone();
        std::thread::spawn(move || worker(i, &rx, &api, connect, tls.as_ref()));
    }
    gate(&listener, |s| tx.send(s).is_ok());
}

/// Accepted connections that have sent nothing yet wait here, in one `poll(2)`, not in a
/// worker: a client that connects and stays silent (or a half-open one) costs a descriptor
/// until [`REQUEST_TIMEOUT`], never a worker. A connection goes to `hand` once it has
/// something to read (or has closed); `hand` returning false ends the loop.
fn gate(listener: &TcpListener, mut hand: impl FnMut(TcpStream) -> bool) {
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("axigen-provision: listener: {e}");
        return;
    }
    let listen_fd = std::os::fd::AsRawFd::as_raw_fd(listener);
    let mut waiting: Vec<(TcpStream, Instant)> = Vec::new();
    loop {
        let mut fds: Vec<libc::pollfd> = std::iter::once(listen_fd)
            .chain(
                waiting
                    .iter()
                    .map(|(s, _)| std::os::fd::AsRawFd::as_raw_fd(s)),
            )
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // Wake for the first silent client's deadline, and at least once a second.
        let now = Instant::now();
        let wait = waiting
            .iter()
            .map(|(_, since)| (*since + REQUEST_TIMEOUT).saturating_duration_since(now))
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        // SAFETY: `fds` is a live, correctly sized array of pollfd for the whole call.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis().max(1) as libc::c_int,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                eprintln!("axigen-provision: poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        // Ready first (in order), then expired, then new connections.
        let mut still = Vec::with_capacity(waiting.len());
        let now = Instant::now();
        for ((s, since), fd) in waiting.drain(..).zip(&fds[1..]) {
            if fd.revents != 0 {
                if !hand(s) {
                    return;
                }
            } else if now.duration_since(since) < REQUEST_TIMEOUT {
                still.push((s, since));
            }
            // else: silent past its deadline, closed by the drop.
        }
        waiting = still;
        if fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((s, _)) => {
                        if s.set_nonblocking(false).is_err() {
                            continue;
                        }
                        if waiting.len() >= MAX_WAITING {
                            // The oldest silent client makes room.
                            waiting.remove(0);
                        }
                        waiting.push((s, Instant::now()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Out of descriptors or a connection reset while queued: wait a
                        // moment rather than spin, and keep serving.
                        eprintln!("axigen-provision: accept: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                        break;
                    }
                }
            }
        }
    }
}

fn worker(
    i: usize,
    rx: &Mutex<Receiver<TcpStream>>,
    api: &Api,
    connect: Arc<WorkerConnector>,
    tls: Option<&Arc<rustls::ServerConfig>>,
) {
    let mut p: Option<Provisioner> = None;
    let conn = move || connect(i);
    loop {
        let stream = {
            let guard = rx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match guard.recv() {
                Ok(s) => s,
                Err(_) => return,
            }
        };
        // A bug in one request must not shrink the pool: the worker starts afresh.
        let served = std::panic::catch_unwind(AssertUnwindSafe(|| {
            serve_connection(stream, tls, api, &mut p, &conn)
        }));
        if served.is_err() {
            p = None;
        }
    }
}

/// A client connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<ServerConnection>, TcpStream),
}

fn invalid_data(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// Bound the next socket read by what is left of `deadline`.
fn read_within(sock: &TcpStream, deadline: &Deadline) -> io::Result<()> {
    let left = deadline.remaining();
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("not complete within {} s", REQUEST_TIMEOUT.as_secs_f64()),
        ));
    }
    sock.set_read_timeout(Some(left))
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) | Conn::Tls(_, s) => s,
        }
    }

    /// Complete the TLS handshake of a new connection before `deadline`.
    fn accept_tls(
        mut sock: TcpStream,
        cfg: &Arc<rustls::ServerConfig>,
        deadline: &Deadline,
    ) -> io::Result<Conn> {
        let mut c = ServerConnection::new(Arc::clone(cfg)).map_err(invalid_data)?;
        while c.is_handshaking() {
            while c.wants_write() {
                c.write_tls(&mut sock)?;
            }
            if !c.is_handshaking() {
                break;
            }
            read_within(&sock, deadline)?;
            if c.read_tls(&mut sock)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the handshake",
                ));
            }
            if let Err(e) = c.process_new_packets() {
                // Tell the client why (an alert), best effort.
                let _ = c.write_tls(&mut sock);
                return Err(invalid_data(e));
            }
        }
        while c.wants_write() {
            c.write_tls(&mut sock)?;
        }
        Ok(Conn::Tls(Box::new(c), sock))
    }

    /// Read what has arrived (at least one byte, 0 at the end) before `deadline`.
    fn read_some(&mut self, buf: &mut [u8], deadline: &Deadline) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => {
                read_within(s, deadline)?;
                s.read(buf)
            }
            Conn::Tls(c, s) => loop {
                match c.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                read_within(s, deadline)?;
                if c.read_tls(s)? == 0 {
                    return Ok(0);
                }
                if let Err(e) = c.process_new_packets() {
                    let _ = c.write_tls(s);
                    return Err(invalid_data(e));
                }
                while c.wants_write() {
                    c.write_tls(s)?;
                }
            },
        }
    }

    /// Send `data`, then the end of the stream (TLS close_notify and FIN).
    fn send_and_close(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => {
                s.write_all(data)?;
                s.flush()?;
            }
            Conn::Tls(c, s) => {
                // In slices: rustls buffers a bounded amount of plaintext at a time.
                let mut rest = data;
                while !rest.is_empty() {
                    let n = c.writer().write(rest)?;
                    while c.wants_write() {
                        c.write_tls(s)?;
                    }
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "TLS connection takes no more data",
                        ));
                    }
                    rest = &rest[n..];
                }
                c.send_close_notify();
                while c.wants_write() {
                    c.write_tls(s)?;
                }
            }
        }
        self.tcp().shutdown(Shutdown::Write)
    }

    /// Read and drop what the client still sends, within bounds.
    fn drain(&mut self) {
        let s = self.tcp();
        let _ = s.set_read_timeout(Some(DRAIN_TIMEOUT));
        let mut buf = [0u8; 8192];
        let mut left = DRAIN_MAX;
        let mut s: &TcpStream = s;
        while left > 0 {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    }
}

/// A request read off the wire.
struct Request {
    method: String,
    target: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// Why no request was handed to the API.
enum Failure {
    /// The client went away or was too slow: nothing to answer. The reason is for the log.
    Gone(String),
    /// The request is refused: answer with this error. Method and target when known; `unread`
    /// when part of the request is left on the socket.
    Refused {
        error: Box<ProvisionError>,
        method: String,
        target: String,
        unread: bool,
    },
}

fn refused(reason: impl Into<String>) -> Failure {
    Failure::Refused {
        error: Box::new(ProvisionError::Request {
            reason: reason.into(),
        }),
        method: "-".into(),
        target: "-".into(),
        unread: true,
    }
}

/// The parts of a request head that the API uses.
struct Head {
    method: String,
    target: String,
    authorization: Option<String>,
    content_length: usize,
    expect_continue: bool,
}

/// Parse a request head (without its closing blank line). Pure: bytes in, head or reason out.
fn parse_head(bytes: &[u8]) -> Result<Head, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the request head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the request line is not METHOD TARGET VERSION".into());
    };
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("the method is not a word of capital letters".into());
    }
    if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control()) {
        return Err("the target is not an absolute path".into());
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err("only HTTP/1.0 and HTTP/1.1 are served".into());
    }
    let mut head = Head {
        method: method.to_string(),
        target: target.to_string(),
        authorization: None,
        content_length: 0,
        expect_continue: false,
    };
    let mut length: Option<usize> = None;
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            return Err("a header line without a colon".into());
        };
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err("a header name with white space".into());
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| "Content-Length is not a number")?;
            if length.is_some_and(|m| m != n) {
                return Err("two different Content-Length headers".into());
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("Transfer-Encoding is not supported: send Content-Length".into());
        } else if name.eq_ignore_ascii_case("authorization") {
            head.authorization = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("expect") {
            if !value.eq_ignore_ascii_case("100-continue") {
                return Err("only Expect: 100-continue is supported".into());
            }
            head.expect_continue = true;
        }
    }
    head.content_length = length.unwrap_or(0);
    Ok(head)
}

/// Read one request before `deadline`.
fn read_request(conn: &mut Conn, deadline: &Deadline) -> Result<Request, Failure> {
    let gone = |e: io::Error| Failure::Gone(e.to_string());
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut scanned: usize = 0;
    let head_end = loop {
        // Look for the blank line only in what is new (and the 3 bytes before it).
        let from = scanned.saturating_sub(3);
        if let Some(i) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            break from + i;
        }
        scanned = buf.len();
        if buf.len() > MAX_HEAD {
            return Err(refused(format!("request head above {MAX_HEAD} bytes")));
        }
        let n = conn.read_some(&mut chunk, deadline).map_err(gone)?;
        if n == 0 {
            return Err(Failure::Gone(if buf.is_empty() {
                "closed without a request".into()
            } else {
                "closed in the middle of the request head".into()
            }));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_end > MAX_HEAD {
        return Err(refused(format!("request head above {MAX_HEAD} bytes")));
    }
    let head = parse_head(&buf[..head_end]).map_err(refused)?;
    if head.content_length > MAX_BODY {
        return Err(Failure::Refused {
            error: Box::new(ProvisionError::BodyTooLarge { max: MAX_BODY }),
            method: head.method,
            target: head.target,
            unread: true,
        });
    }
    let mut body = buf.split_off(head_end + 4);
    body.truncate(head.content_length);
    if body.len() < head.content_length && head.expect_continue {
        if let Err(e) = conn.send_interim(b"HTTP/1.1 100 Continue\r\n\r\n") {
            return Err(Failure::Gone(e.to_string()));
        }
    }
    while body.len() < head.content_length {
        let want = (head.content_length - body.len()).min(chunk.len());
        let n = conn.read_some(&mut chunk[..want], deadline).map_err(gone)?;
        if n == 0 {
            return Err(Failure::Gone(
                "closed in the middle of the request body".into(),
            ));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Request {
        method: head.method,
        target: head.target,
        authorization: head.authorization,
        body,
    })
}

impl Conn {
    /// Send an interim answer (`100 Continue`) and keep the connection open.
    fn send_interim(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(data),
            Conn::Tls(c, s) => {
                c.writer().write_all(data)?;
                while c.wants_write() {
                    c.write_tls(s)?;
                }
                Ok(())
            }
        }
    }
}

/// The reason phrase of the statuses the API answers with.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// The bytes of a whole answer.
fn encode(reply: &Reply) -> Vec<u8> {
    let (content_type, body) = match &reply.body {
        Body::Json(v) => ("application/json", v.to_string()),
        Body::Metrics(t) => (metrics::CONTENT_TYPE, t.clone()),
    };
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reason_phrase(reply.status),
        body.len()
    );
    if reply.status == 401 {
        out.push_str("WWW-Authenticate: Bearer\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// Longest path kept in a log line.
const LOGGED_PATH_MAX: usize = 256;

fn serve_connection(
    stream: TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
    api: &Api,
    p: &mut Option<Provisioner>,
    connect: &http::Connector,
) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let deadline = Deadline::after(REQUEST_TIMEOUT);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut conn = match tls {
        None => Conn::Plain(stream),
        Some(cfg) => match Conn::accept_tls(stream, cfg, &deadline) {
            Ok(c) => c,
            Err(e) => {
                api.metrics.tls_failed();
                eprintln!(
                    "axigen-provision: {peer}: TLS handshake failed: {}",
                    escape_controls(&e.to_string())
                );
                return;
            }
        },
    };
    let t = Instant::now();
    let (method, target, reply, unread) = match read_request(&mut conn, &deadline) {
        Ok(r) => {
            let reply = http::handle(
                api,
                p,
                connect,
                &r.method,
                &r.target,
                r.authorization.as_deref(),
                &r.body,
            );
            (r.method, r.target, reply, false)
        }
        Err(Failure::Gone(why)) => {
            eprintln!(
                "axigen-provision: {peer}: no request served: {}",
                escape_controls(&why)
            );
            return;
        }
        Err(Failure::Refused {
            error,
            method,
            target,
            unread,
        }) => {
            let reply = Reply {
                status: error.http_status(),
                body: Body::Json(error.to_json()),
                route: OTHER_ROUTE,
            };
            (method, target, reply, unread)
        }
    };
    let took = t.elapsed();
    api.metrics
        .observe_request(reply.route, &method, reply.status, took);
    // The path may hold an address, never a secret; bodies are not logged.
    let path: String = target
        .split('?')
        .next()
        .unwrap_or("")
        .chars()
        .take(LOGGED_PATH_MAX)
        .collect();
    eprintln!(
        "{} {} {} {:.1}ms",
        escape_controls(&method),
        escape_controls(&path),
        reply.status,
        took.as_secs_f64() * 1e3
    );
    if conn.send_and_close(&encode(&reply)).is_ok() && unread {
        conn.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_or_refused_with_a_reason() {
        let h = parse_head(
            b"POST /v1/accounts HTTP/1.1\r\nHost: x\r\ncontent-length:  12 \r\nAuthorization: Bearer t\r\nExpect: 100-continue",
        )
        .unwrap();
        assert_eq!(
            (h.method.as_str(), h.target.as_str(), h.content_length),
            ("POST", "/v1/accounts", 12)
        );
        assert_eq!(h.authorization.as_deref(), Some("Bearer t"));
        assert!(h.expect_continue);
        for (bad, why) in [
            (&b"GET /\xff HTTP/1.1"[..], "not UTF-8"),
            (b"GET / HTTP/1.1 x", "METHOD TARGET VERSION"),
            (b"get / HTTP/1.1", "capital letters"),
            (b"GET http://x/ HTTP/1.1", "absolute path"),
            (b"GET / HTTP/2", "HTTP/1.0 and HTTP/1.1"),
            (b"GET / HTTP/1.1\r\nNoColon", "without a colon"),
            (b"GET / HTTP/1.1\r\nContent-Length: -1", "not a number"),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2",
                "two different",
            ),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked",
                "Content-Length",
            ),
        ] {
            let e = parse_head(bad).err().unwrap_or_default();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn answers_carry_length_type_and_close() {
        let r = Reply {
            status: 401,
            body: Body::Json(serde_json::json!({"a": 1})),
            route: OTHER_ROUTE,
        };
        let text = String::from_utf8(encode(&r)).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.contains("\r\nContent-Length: 7\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n{\"a\":1}"), "{text}");
        let m = Reply {
            status: 200,
            body: Body::Metrics("x 1\n".into()),
            route: "/metrics",
        };
        let text = String::from_utf8(encode(&m)).unwrap();
        assert!(
            text.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            "{text}"
        );
    }
}
