//! One connection on one listener: the protocol greetings and minimal dialogues (SMTP, IMAP,
//! POP3, HTTP for WebMail/WebAdmin) and the CLI, over a bounded line reader.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use axha_axigen::config::Service;

use crate::faults::Fault;
use crate::mail::{ImapSession, MailSession, Pop3Session, SmtpSession};
use crate::session::{CliSession, SessionEnv};

/// Longest line read; longer ones are answered with an error and skipped.
pub const MAX_LINE: usize = 4096;
/// A client silent this long is disconnected (so abandoned connections do not pile up).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a hung connection is held before the stand-in lets it go.
pub const HANG_HOLD: Duration = Duration::from_secs(600);
/// Most header lines of an HTTP request read before answering.
const MAX_HTTP_LINES: usize = 100;

/// What a read of one line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, without its line end (invalid UTF-8 replaced).
    Text(String),
    /// A line over [`MAX_LINE`] bytes (its content is dropped).
    TooLong,
    /// The peer closed, reset, or was idle too long.
    End,
}

/// Reads lines of at most `max` bytes from a stream, dropping the excess of longer ones.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
}

impl<R: Read> LineReader<R> {
    /// Exactly `n` raw bytes (an IMAP literal), `None` when the peer goes away first.
    pub fn read_bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 16384];
            match self.inner.read(&mut chunk) {
                Ok(0) => return None,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        let rest = self.buf.split_off(n);
        Some(std::mem::replace(&mut self.buf, rest))
    }

    /// A reader of lines of at most `max` bytes.
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            max,
        }
    }

    /// The next line, or why there is none.
    pub fn read_line(&mut self) -> Line {
        let mut discarding = false;
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let rest = self.buf.split_off(i + 1);
                let mut line = std::mem::replace(&mut self.buf, rest);
                if discarding || i > self.max {
                    return Line::TooLong;
                }
                line.truncate(i);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Line::Text(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() > self.max {
                discarding = true;
                self.buf.clear();
            }
            let mut chunk = [0u8; 1024];
            match self.inner.read(&mut chunk) {
                Ok(0) => return Line::End,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Line::End,
            }
        }
    }
}

/// Serve one accepted connection to the end.
pub fn serve(service: Service, stream: TcpStream, env: &SessionEnv, host: &str) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    if env.faults.is_set(Fault::Hang) {
        hold(stream);
        return;
    }
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = LineReader::new(read_half, MAX_LINE);
    let mut out = stream;
    match service {
        Service::Cli => serve_cli(&mut reader, out, env),
        Service::Smtp => dialogue(&mut reader, &mut out, SmtpSession::new(env, host)),
        Service::Imap => dialogue(&mut reader, &mut out, ImapSession::new(env, host)),
        Service::Pop3 => dialogue(&mut reader, &mut out, Pop3Session::new(env, host)),
        Service::WebMail | Service::WebAdmin => serve_http(&mut reader, &mut out, service),
    }
}

/// Keep the connection open and never answer (the `hang` fault): read and drop until the
/// peer goes away.
fn hold(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(HANG_HOLD));
    let mut s = stream;
    let mut sink = [0u8; 1024];
    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
}

fn send(out: &mut impl Write, text: &str) -> bool {
    out.write_all(text.as_bytes()).is_ok()
}

fn serve_cli(reader: &mut LineReader<TcpStream>, mut out: TcpStream, env: &SessionEnv) {
    let mut session = CliSession::new(env);
    if !send(&mut out, &session.greeting()) {
        return;
    }
    loop {
        let answer = match reader.read_line() {
            Line::End => return,
            Line::TooLong => session.too_long(MAX_LINE),
            Line::Text(l) => {
                if env.faults.is_set(Fault::Hang) {
                    hold(out);
                    return;
                }
                session.handle(&l)
            }
        };
        if !send(&mut out, &answer.text) || answer.close {
            return;
        }
    }
}

/// The line dialogue SMTP, IMAP and POP3 share: a greeting, then the session's answer to
/// each line (or to an overlong line) until the client leaves or an answer closes.
fn dialogue(reader: &mut LineReader<TcpStream>, out: &mut TcpStream, mut s: impl MailSession) {
    if !send(out, &s.greeting()) {
        return;
    }
    loop {
        let (text, close) = match reader.read_line() {
            Line::End => return,
            Line::TooLong => (s.too_long(), false),
            Line::Text(l) => s.handle(&l),
        };
        if (!text.is_empty() && !send(out, &text)) || close {
            return;
        }
        // The sessions bound a literal's size before announcing it (MAX_MESSAGE).
        if let Some(n) = s.literal_wanted() {
            let Some(data) = reader.read_bytes(n) else {
                return;
            };
            let rest = match reader.read_line() {
                Line::Text(l) => l,
                Line::TooLong => "(too long)".to_string(),
                Line::End => return,
            };
            if !send(out, &s.literal(data, &rest)) {
                return;
            }
        }
    }
}

fn serve_http(reader: &mut LineReader<TcpStream>, out: &mut TcpStream, service: Service) {
    for _ in 0..MAX_HTTP_LINES {
        match reader.read_line() {
            Line::End => return,
            Line::Text(l) if l.is_empty() => break,
            _ => {}
        }
    }
    let body = format!("Axigen-compatible stand-in: {service}\n");
    let _ = send(
        out,
        &format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_reader_bounds_and_splits() {
        let long = "x".repeat(100);
        let input = format!("a\r\nb\n{long}\nc\npartial");
        let mut r = LineReader::new(input.as_bytes(), 10);
        assert_eq!(r.read_line(), Line::Text("a".into()));
        assert_eq!(r.read_line(), Line::Text("b".into()));
        assert_eq!(r.read_line(), Line::TooLong);
        assert_eq!(r.read_line(), Line::Text("c".into()));
        assert_eq!(r.read_line(), Line::End);
        let mut r = LineReader::new(&b"\xff\xfe\n"[..], 10);
        assert_eq!(r.read_line(), Line::Text("\u{fffd}\u{fffd}".into()));
    }
}
