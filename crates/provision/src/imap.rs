//! A small IMAP4rev1 client (RFC 3501) for copying a mailbox between back-ends: login, `LIST`,
//! `CREATE`, `SELECT`, `UID FETCH` of sizes and bodies, `APPEND` with a synchronising literal.
//!
//! Every read is bounded: a line by [`MAX_LINE`], a literal by [`MAX_MESSAGE`], a whole reply
//! by [`MAX_REPLY`] bytes and by [`COMMAND_BUDGET`] times the session's timeout (each read
//! also by the timeout itself, so a server that trickles bytes cannot hold a move). Nothing the server says reaches an error unprintable: the
//! text shown is cut and its control characters replaced.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axha_axigen::cli::printable;

/// Longest response line read (without literals).
pub const MAX_LINE: usize = 64 * 1024;
/// Largest message copied (Axigen's default message size limit is well below).
pub const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// Most bytes one reply may hold (its lines and literals together).
pub const MAX_REPLY: usize = 1024 * 1024 * 1024;
/// A command's whole exchange may take this many times the session's timeout per read.
pub const COMMAND_BUDGET: u32 = 30;
/// Most messages fetched by one command: a reply holds at most this many messages, so what
/// one read keeps in memory is bounded whatever the size of the folder.
pub const FETCH_BATCH: u32 = 200;

/// Why an IMAP exchange failed.
#[derive(Debug)]
pub enum ImapError {
    /// Connecting or talking to the server failed.
    Io {
        /// The server.
        addr: SocketAddr,
        /// What was being done.
        during: String,
        /// The system's error.
        error: std::io::Error,
    },
    /// The server answered `NO` or `BAD`, or something that is not IMAP.
    Refused {
        /// The server.
        addr: SocketAddr,
        /// The command (passwords masked).
        command: String,
        /// The server's answer, printable and cut.
        answer: String,
    },
}

impl std::fmt::Display for ImapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImapError::Io {
                addr,
                during,
                error,
            } => write!(f, "IMAP {addr}: {during}: {error}"),
            ImapError::Refused {
                addr,
                command,
                answer,
            } => write!(f, "IMAP {addr}: {command}: {answer}"),
        }
    }
}

/// The cause is part of the message (see the crate's error convention).
impl std::error::Error for ImapError {}

/// One message of a folder: its UID and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its UID in the folder.
    pub uid: u32,
    /// The whole message (`BODY[]`).
    pub body: Vec<u8>,
}

/// What `SELECT` tells of a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    /// Messages in the folder (`EXISTS`).
    pub exists: u32,
    /// The UID the next message will get (`UIDNEXT`): every UID is below it.
    pub uid_next: u32,
}

/// One logged-in IMAP connection.
pub struct ImapClient {
    addr: SocketAddr,
    reader: BufReader<Timed>,
    writer: TcpStream,
    tag: u32,
    /// Bytes read of the reply under way.
    reply_bytes: usize,
}

/// The connection's reading side: each read waits at most the session's timeout and never
/// past the deadline of the command under way.
struct Timed {
    stream: TcpStream,
    timeout: Duration,
    /// How long one command's whole exchange may take.
    budget: Duration,
    deadline: Instant,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the command's time is up",
            ));
        }
        // A timeout below a millisecond may read as none (wait forever): wait at least that.
        let wait = left.min(self.timeout).max(Duration::from_millis(1));
        self.stream.set_read_timeout(Some(wait))?;
        self.stream.read(buf).map_err(|e| match e.kind() {
            // What a socket's read timeout gives on Linux: the wait was cut by the command's
            // deadline or by the timeout per read.
            std::io::ErrorKind::WouldBlock if Instant::now() >= self.deadline => {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "the command's time is up")
            }
            std::io::ErrorKind::WouldBlock => {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within the timeout")
            }
            _ => e,
        })
    }
}

/// A literal announced at the end of a response line: `{N}`.
fn literal_size(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"}")?;
    let open = l.iter().rposition(|b| *b == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

/// IMAP quoted string (RFC 3501 section 4.3).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The parts of one untagged response: its text and the literals inside it, in order.
#[derive(Debug, Default)]
struct Untagged {
    text: String,
    literals: Vec<Vec<u8>>,
}

impl ImapClient {
    /// Connect, read the greeting, and log in as `user`: each read waits at most `timeout`,
    /// each command's whole exchange [`COMMAND_BUDGET`] times that.
    pub fn login(
        addr: SocketAddr,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<ImapClient, ImapError> {
        Self::login_within(addr, user, password, timeout, timeout * COMMAND_BUDGET)
    }

    /// [`ImapClient::login`] with each command's whole exchange bounded by `budget`.
    fn login_within(
        addr: SocketAddr,
        user: &str,
        password: &str,
        timeout: Duration,
        budget: Duration,
    ) -> Result<ImapClient, ImapError> {
        let io = |during: &str| {
            let during = during.to_string();
            move |error| ImapError::Io {
                addr,
                during,
                error,
            }
        };
        let s = TcpStream::connect_timeout(&addr, timeout).map_err(io("connecting"))?;
        s.set_read_timeout(Some(timeout))
            .map_err(io("connecting"))?;
        s.set_write_timeout(Some(timeout))
            .map_err(io("connecting"))?;
        let _ = s.set_nodelay(true);
        let writer = s.try_clone().map_err(io("connecting"))?;
        let mut c = ImapClient {
            addr,
            reader: BufReader::new(Timed {
                stream: s,
                timeout,
                budget,
                deadline: Instant::now() + budget,
            }),
            writer,
            tag: 0,
            reply_bytes: 0,
        };
        let greeting = c.read_line("greeting")?;
        if !greeting.starts_with(b"* OK") {
            return Err(c.refused("greeting", &greeting));
        }
        let cmd = format!("LOGIN {} {}", quoted(user), quoted(password));
        c.run(&cmd, "LOGIN ***")?;
        Ok(c)
    }

    fn refused(&self, command: &str, answer: &[u8]) -> ImapError {
        ImapError::Refused {
            addr: self.addr,
            command: printable(command),
            answer: printable(&String::from_utf8_lossy(answer)),
        }
    }

    fn io(&self, during: &str, error: std::io::Error) -> ImapError {
        ImapError::Io {
            addr: self.addr,
            during: printable(during),
            error,
        }
    }

    /// Count `bytes` more of the reply under way: an error past [`MAX_REPLY`].
    fn before_read(&mut self, during: &str, bytes: usize) -> Result<(), ImapError> {
        self.reply_bytes = self.reply_bytes.saturating_add(bytes);
        if self.reply_bytes > MAX_REPLY {
            return Err(self.refused(during, b"reply above the size limit"));
        }
        Ok(())
    }

    fn read_line(&mut self, during: &str) -> Result<Vec<u8>, ImapError> {
        let mut line = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| self.io(during, e))?;
        if n == 0 {
            return Err(self.io(during, std::io::ErrorKind::UnexpectedEof.into()));
        }
        if !line.ends_with(b"\n") {
            return Err(self.refused(during, b"response line too long"));
        }
        self.before_read(during, n)?;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        Ok(line)
    }

    fn send(&mut self, bytes: &[u8], during: &str) -> Result<(), ImapError> {
        self.writer.write_all(bytes).map_err(|e| self.io(during, e))
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("m{}", self.tag)
    }

    /// Read responses up to the tagged one; the untagged ones with their literals.
    fn responses(&mut self, tag: &str, shown: &str) -> Result<Vec<Untagged>, ImapError> {
        let mut out = Vec::new();
        loop {
            let line = self.read_line(shown)?;
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                let status = &line[tag.len() + 1..];
                if status.starts_with(b"OK") {
                    return Ok(out);
                }
                return Err(self.refused(shown, &line));
            }
            let mut u = Untagged {
                text: String::from_utf8_lossy(&line).into_owned(),
                literals: Vec::new(),
            };
            let mut cur = line;
            while let Some(n) = literal_size(&cur) {
                if n > MAX_MESSAGE {
                    return Err(self.refused(shown, b"literal above the size limit"));
                }
                self.before_read(shown, n)?;
                let mut data = vec![0u8; n];
                self.reader
                    .read_exact(&mut data)
                    .map_err(|e| self.io(shown, e))?;
                u.literals.push(data);
                cur = self.read_line(shown)?;
                u.text.push(' ');
                u.text.push_str(&String::from_utf8_lossy(&cur));
            }
            out.push(u);
        }
    }

    /// Send one command; its untagged responses.
    fn run(&mut self, command: &str, shown: &str) -> Result<Vec<Untagged>, ImapError> {
        let tag = self.next_tag();
        let r = self.reader.get_mut();
        r.deadline = Instant::now() + r.budget;
        self.reply_bytes = 0;
        self.send(format!("{tag} {command}\r\n").as_bytes(), shown)?;
        self.responses(&tag, shown)
    }

    /// The folders (`LIST "" "*"`), INBOX spelled `INBOX`.
    pub fn list(&mut self) -> Result<Vec<String>, ImapError> {
        let r = self.run("LIST \"\" \"*\"", "LIST")?;
        let mut out = Vec::new();
        for u in r {
            let Some(rest) = u.text.strip_prefix("* LIST ") else {
                continue;
            };
            // `(flags) "sep" name`: the name is the last word, quoted or an atom.
            let name = match rest.strip_suffix('"') {
                Some(r) => match r.rfind(" \"") {
                    Some(i) => r[i + 2..].replace("\\\"", "\"").replace("\\\\", "\\"),
                    None => continue,
                },
                None => match rest.rsplit_once(' ') {
                    Some((_, n)) => n.to_string(),
                    None => continue,
                },
            };
            if name.eq_ignore_ascii_case("INBOX") {
                out.push("INBOX".to_string());
            } else {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Create a folder.
    pub fn create(&mut self, folder: &str) -> Result<(), ImapError> {
        self.run(&format!("CREATE {}", quoted(folder)), "CREATE")
            .map(|_| ())
    }

    /// Select a folder. RFC 3501 section 6.3.1 requires the `UIDNEXT` code in the answer.
    pub fn select(&mut self, folder: &str) -> Result<Selected, ImapError> {
        let r = self.run(&format!("SELECT {}", quoted(folder)), "SELECT")?;
        let exists = r
            .iter()
            .find_map(|u| {
                u.text
                    .strip_prefix("* ")
                    .and_then(|t| t.strip_suffix(" EXISTS"))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0);
        let uid_next = r.iter().find_map(|u| {
            let i = u.text.find("[UIDNEXT ")?;
            u.text[i + 9..].split(']').next()?.trim().parse().ok()
        });
        match uid_next {
            Some(uid_next) => Ok(Selected { exists, uid_next }),
            None => Err(self.refused("SELECT", b"no UIDNEXT in the answer")),
        }
    }

    /// The messages of the selected folder with UIDs from `first` to `last`, in UID order.
    pub fn fetch_range(&mut self, first: u32, last: u32) -> Result<Vec<Message>, ImapError> {
        let cmd = format!("UID FETCH {first}:{last} (UID BODY.PEEK[])");
        let r = self.run(&cmd, "UID FETCH")?;
        let mut out: Vec<Message> = r
            .into_iter()
            .filter_map(|mut u| {
                let i = u.text.find("UID ")?;
                let uid: u32 = u.text[i + 4..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()?;
                let body = u.literals.pop()?;
                // Keep only the ones asked for (a server may add unsolicited FETCH answers).
                (first..=last)
                    .contains(&uid)
                    .then_some(Message { uid, body })
            })
            .collect();
        out.sort_by_key(|m| m.uid);
        Ok(out)
    }

    /// Append one message to a folder (synchronising literal: the server says when to send).
    pub fn append(&mut self, folder: &str, message: &[u8]) -> Result<(), ImapError> {
        let tag = self.next_tag();
        let head = format!("{tag} APPEND {} {{{}}}\r\n", quoted(folder), message.len());
        self.send(head.as_bytes(), "APPEND")?;
        let go = self.read_line("APPEND")?;
        if !go.starts_with(b"+") {
            return Err(self.refused("APPEND", &go));
        }
        self.send(message, "APPEND")?;
        self.send(b"\r\n", "APPEND")?;
        self.responses(&tag, "APPEND").map(|_| ())
    }

    /// `LOGOUT` (errors ignored: the copy is done).
    pub fn logout(mut self) {
        let _ = self.run("LOGOUT", "LOGOUT");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_sizes_and_quoting() {
        assert_eq!(literal_size(b"* 1 FETCH (UID 1 BODY[] {42}"), Some(42));
        assert_eq!(literal_size(b"* 1 FETCH (FLAGS ())"), None);
        assert_eq!(literal_size(b"{x}"), None);
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }
    /// A server that sends its greeting one byte at a time, each far within the read timeout
    /// (5 s against gaps of 5 ms), is given up on at the command's deadline (0.5 s), not after
    /// the whole line (20 s).
    #[test]
    fn a_trickling_server_meets_the_command_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // Far more bytes than the budget lets through, far fewer than a line's limit.
            for _ in 0..4000 {
                if s.write_all(b"*").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let err = match ImapClient::login_within(
            addr,
            "u",
            "p",
            Duration::from_secs(5),
            Duration::from_millis(500),
        ) {
            Err(e) => e,
            Ok(_) => panic!("a greeting that never ends was taken"),
        };
        match &err {
            ImapError::Io { error, during, .. } => {
                assert_eq!(error.to_string(), "the command's time is up", "{err}");
                assert_eq!(during, "greeting");
            }
            other => panic!("not a timeout: {other}"),
        }
        server.join().unwrap();
    }
}
