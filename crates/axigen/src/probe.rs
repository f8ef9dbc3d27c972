//! Protocol greeting checks: one connect, one greeting read, bounded by a deadline.
//!
//! A healthy server greets first: SMTP `220 ` (RFC 5321 §4.2, or `220-` for a multi-line
//! greeting), IMAP `* OK` (RFC 9051 §7.1.1; `* PREAUTH`/`* BYE` are not "ready"), POP3 `+OK`
//! (RFC 1939 §4). A monitor runs these every few seconds for as long as the cluster runs, so a
//! probe costs one connection and one read of at most [`GREETING_MAX`] bytes; after a good
//! greeting it sends the protocol's polite goodbye without waiting for the answer.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axha_exec::Deadline;

use crate::cli::printable;
use crate::config::Service;

/// The most of a greeting read (a greeting line is short; this bounds a confused peer).
pub const GREETING_MAX: usize = 512;

/// A protocol whose server speaks first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// SMTP: the server greets with `220`.
    Smtp,
    /// IMAP: the server greets with `* OK`.
    Imap,
    /// POP3: the server greets with `+OK`.
    Pop3,
}

impl Protocol {
    /// Every protocol that greets.
    pub const ALL: [Protocol; 3] = [Protocol::Smtp, Protocol::Imap, Protocol::Pop3];

    /// The protocol a service's listeners speak, for those that greet.
    pub fn for_service(s: Service) -> Option<Protocol> {
        match s {
            Service::Smtp => Some(Protocol::Smtp),
            Service::Imap => Some(Protocol::Imap),
            Service::Pop3 => Some(Protocol::Pop3),
            _ => None,
        }
    }

    /// The protocol's name in messages (`SMTP`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Smtp => "SMTP",
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
        }
    }

    /// What a ready greeting starts with, as shown in messages.
    pub fn expected(self) -> &'static str {
        match self {
            Protocol::Smtp => "220",
            Protocol::Imap => "* OK",
            Protocol::Pop3 => "+OK",
        }
    }

    /// Whether `line` (the first line the server sent) says "ready".
    pub fn is_ready(self, line: &str) -> bool {
        match self {
            Protocol::Smtp => {
                line.starts_with("220")
                    && matches!(line.as_bytes().get(3), None | Some(b' ' | b'-'))
            }
            Protocol::Imap => line.starts_with("* OK"),
            Protocol::Pop3 => line.starts_with("+OK"),
        }
    }

    fn goodbye(self) -> &'static [u8] {
        match self {
            Protocol::Smtp | Protocol::Pop3 => b"QUIT\r\n",
            Protocol::Imap => b"z LOGOUT\r\n",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server greeted as ready; the greeting line (printable, bounded).
    Ready {
        /// The greeting line.
        greeting: String,
    },
    /// It answered something else (printable, bounded).
    Unexpected {
        /// What it answered.
        answer: String,
    },
    /// It accepted the connection and closed it without a line.
    Closed {
        /// What came before the close, if anything.
        answer: String,
    },
    /// Nothing (or no full line) came before the deadline; what did come, if anything.
    TimedOut {
        /// What came before the deadline, if anything.
        partial: String,
    },
    /// Connection refused: nothing listens there.
    Refused,
    /// Connecting failed otherwise (unreachable, ...) or reading failed.
    Failed {
        /// The error.
        error: String,
    },
}

/// One probe: what was asked, how long it took, what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// The protocol spoken.
    pub protocol: Protocol,
    /// The address probed.
    pub addr: SocketAddr,
    /// How long the probe took.
    pub elapsed: Duration,
    /// What it found.
    pub outcome: Outcome,
}

impl ProbeResult {
    /// True when the server greeted as ready.
    pub fn is_ready(&self) -> bool {
        matches!(self.outcome, Outcome::Ready { .. })
    }
}

/// Short enough for an OCF exit reason, e.g. `IMAP 10.0.0.5:143 timed out after 5.0s`.
impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, a, t) = (self.protocol, self.addr, self.elapsed.as_secs_f64());
        match &self.outcome {
            Outcome::Ready { greeting } => write!(f, "{p} {a} ready in {t:.3}s: '{greeting}'"),
            Outcome::Unexpected { answer } => {
                write!(f, "{p} {a} answered '{answer}' (not '{}')", p.expected())
            }
            Outcome::Closed { answer } if answer.is_empty() => {
                write!(f, "{p} {a} closed the connection without a greeting")
            }
            Outcome::Closed { answer } => {
                write!(f, "{p} {a} closed the connection after '{answer}'")
            }
            Outcome::TimedOut { partial } if partial.is_empty() => {
                write!(f, "{p} {a} sent no greeting within {t:.1}s")
            }
            Outcome::TimedOut { partial } => {
                write!(f, "{p} {a} sent only '{partial}' within {t:.1}s")
            }
            Outcome::Refused => write!(f, "{p} {a} refused the connection"),
            Outcome::Failed { error } => write!(f, "{p} {a}: {error}"),
        }
    }
}

/// Connect to `addr`, read the greeting line, judge it. Never exceeds `deadline`.
pub fn greeting(protocol: Protocol, addr: SocketAddr, deadline: &Deadline) -> ProbeResult {
    let start = Instant::now();
    let outcome = probe(protocol, addr, deadline);
    ProbeResult {
        protocol,
        addr,
        elapsed: start.elapsed(),
        outcome,
    }
}

fn probe(protocol: Protocol, addr: SocketAddr, deadline: &Deadline) -> Outcome {
    let timed_out = |buf: &[u8]| Outcome::TimedOut {
        partial: printable(String::from_utf8_lossy(buf).trim_end()),
    };
    let left = deadline.remaining();
    if left.is_zero() {
        return timed_out(&[]);
    }
    let mut s = match TcpStream::connect_timeout(&addr, left) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Outcome::Refused,
        Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            return timed_out(&[])
        }
        Err(e) => {
            return Outcome::Failed {
                error: format!("cannot connect: {e}"),
            }
        }
    };
    let mut buf = [0u8; GREETING_MAX];
    let mut len = 0;
    while len < buf.len() && !buf[..len].contains(&b'\n') {
        let left = deadline.remaining();
        if left.is_zero() {
            return timed_out(&buf[..len]);
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut buf[len..]) {
            Ok(0) => {
                return Outcome::Closed {
                    answer: printable(String::from_utf8_lossy(&buf[..len]).trim_end()),
                }
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return timed_out(&buf[..len])
            }
            Err(e) => {
                return Outcome::Failed {
                    error: format!("reading the greeting: {e}"),
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&buf[..len]);
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if protocol.is_ready(line) {
        let _ = s.set_write_timeout(Some(deadline.remaining().max(Duration::from_millis(1))));
        let _ = s.write_all(protocol.goodbye());
        Outcome::Ready {
            greeting: printable(line),
        }
    } else {
        Outcome::Unexpected {
            answer: printable(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A listener that sends `greeting` to its first client then waits for it to go away.
    fn server(greeting: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let _ = s.write_all(greeting);
            if greeting.is_empty() {
                return;
            }
            let mut sink = [0u8; 64];
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.read(&mut sink);
        });
        addr
    }

    fn d(ms: u64) -> Deadline {
        Deadline::after(Duration::from_millis(ms))
    }

    #[test]
    fn ready_greetings() {
        for (p, g) in [
            (Protocol::Smtp, &b"220 mx.example ESMTP ready\r\n"[..]),
            (
                Protocol::Smtp,
                &b"220-mx.example first\r\n220 second\r\n"[..],
            ),
            (
                Protocol::Imap,
                &b"* OK [CAPABILITY IMAP4rev1] ready\r\n"[..],
            ),
            (Protocol::Pop3, &b"+OK POP3 ready\r\n"[..]),
        ] {
            let g: &'static [u8] = Box::leak(g.to_vec().into_boxed_slice());
            let r = greeting(p, server(g), &d(5000));
            assert!(r.is_ready(), "{r}");
            assert!(r.elapsed < Duration::from_secs(5));
        }
    }

    #[test]
    fn wrong_greetings_are_shown_printable() {
        let r = greeting(Protocol::Smtp, server(b"554 go away\x07\r\n"), &d(5000));
        assert_eq!(
            r.outcome,
            Outcome::Unexpected {
                answer: "554 go away.".into()
            }
        );
        assert!(r.to_string().contains("554 go away"), "{r}");
        let r = greeting(Protocol::Imap, server(b"+OK POP3 ready\r\n"), &d(5000));
        assert!(matches!(r.outcome, Outcome::Unexpected { .. }), "{r}");
        let r = greeting(Protocol::Smtp, server(b"2200 x\r\n"), &d(5000));
        assert!(!r.is_ready());
        let long: &'static [u8] = Box::leak(vec![b'A'; 5000].into_boxed_slice());
        let r = greeting(Protocol::Pop3, server(long), &d(5000));
        match &r.outcome {
            Outcome::Unexpected { answer } => assert!(answer.len() < 200),
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn silence_times_out_within_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = Instant::now();
        let r = greeting(Protocol::Imap, addr, &d(300));
        assert_eq!(r.outcome, Outcome::TimedOut { partial: "".into() });
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(r.to_string().contains("no greeting"), "{r}");
        drop(l);

        let r = greeting(Protocol::Smtp, server(b"220 no end of line"), &d(300));
        assert_eq!(
            r.outcome,
            Outcome::TimedOut {
                partial: "220 no end of line".into()
            }
        );
    }

    #[test]
    fn refused_and_closed() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        assert_eq!(
            greeting(Protocol::Pop3, addr, &d(2000)).outcome,
            Outcome::Refused
        );
        let r = greeting(Protocol::Pop3, server(b""), &d(2000));
        assert_eq!(r.outcome, Outcome::Closed { answer: "".into() });
        let r = greeting(Protocol::Pop3, server(b"x"), &d(1));
        assert!(!r.is_ready());
    }
}
