//! One connection on one listener: the protocol greetings and minimal dialogues (SMTP, IMAP,
//! POP3, HTTP for WebMail/WebAdmin) and the CLI, over a bounded line reader.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use axha_axigen::config::Service;

use crate::faults::Fault;
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
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            max,
        }
    }

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
        Service::Smtp => serve_smtp(&mut reader, &mut out, host),
        Service::Imap => serve_imap(&mut reader, &mut out, host),
        Service::Pop3 => serve_pop3(&mut reader, &mut out, host),
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

/// The line dialogue SMTP, IMAP and POP3 share: a greeting, then one answer per line (or the
/// protocol's reply to an overlong line) until the client leaves or an answer closes.
fn dialogue(
    reader: &mut LineReader<TcpStream>,
    out: &mut TcpStream,
    greeting: &str,
    too_long: &str,
    answer: impl Fn(&str) -> (String, bool),
) {
    if !send(out, greeting) {
        return;
    }
    loop {
        let (text, close) = match reader.read_line() {
            Line::End => return,
            Line::TooLong => (too_long.to_string(), false),
            Line::Text(l) => answer(&l),
        };
        if !send(out, &text) || close {
            return;
        }
    }
}

fn first_word_upper(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

fn serve_smtp(reader: &mut LineReader<TcpStream>, out: &mut TcpStream, host: &str) {
    let greeting = format!("220 {host} ESMTP Axigen-compatible stand-in ready\r\n");
    dialogue(
        reader,
        out,
        &greeting,
        "500 5.5.2 Line too long\r\n",
        |line| match first_word_upper(line).as_str() {
            "EHLO" => (
                format!("250-{host}\r\n250-PIPELINING\r\n250 HELP\r\n"),
                false,
            ),
            "HELO" => (format!("250 {host}\r\n"), false),
            "NOOP" | "RSET" => ("250 2.0.0 OK\r\n".to_string(), false),
            "QUIT" => (format!("221 2.0.0 {host} closing connection\r\n"), true),
            "" => ("500 5.5.2 Empty command\r\n".to_string(), false),
            _ => (
                "502 5.5.1 Command not implemented by the stand-in\r\n".to_string(),
                false,
            ),
        },
    );
}

fn serve_imap(reader: &mut LineReader<TcpStream>, out: &mut TcpStream, host: &str) {
    let greeting = format!(
        "* OK [CAPABILITY IMAP4rev1] {host} Axigen-compatible stand-in IMAP4rev1 ready\r\n"
    );
    dialogue(reader, out, &greeting, "* BAD Line too long\r\n", |line| {
        let mut words = line.split_whitespace();
        let (Some(tag), cmd) = (words.next(), words.next()) else {
            return ("* BAD Missing tag\r\n".to_string(), false);
        };
        let tag: String = tag.chars().take(64).collect();
        match cmd.map(str::to_ascii_uppercase).as_deref() {
            Some("CAPABILITY") => (
                format!("* CAPABILITY IMAP4rev1\r\n{tag} OK CAPABILITY completed\r\n"),
                false,
            ),
            Some("NOOP") => (format!("{tag} OK NOOP completed\r\n"), false),
            Some("LOGOUT") => (
                format!("* BYE {host} logging out\r\n{tag} OK LOGOUT completed\r\n"),
                true,
            ),
            Some("LOGIN") | Some("AUTHENTICATE") => (
                format!("{tag} NO Logins are not served by the stand-in\r\n"),
                false,
            ),
            _ => (format!("{tag} BAD Command not supported\r\n"), false),
        }
    });
}

fn serve_pop3(reader: &mut LineReader<TcpStream>, out: &mut TcpStream, host: &str) {
    let greeting = format!("+OK {host} Axigen-compatible stand-in POP3 ready\r\n");
    dialogue(
        reader,
        out,
        &greeting,
        "-ERR Line too long\r\n",
        |line| match first_word_upper(line).as_str() {
            "CAPA" => (
                "+OK Capability list follows\r\nUSER\r\n.\r\n".to_string(),
                false,
            ),
            "NOOP" => ("+OK\r\n".to_string(), false),
            "QUIT" => (format!("+OK {host} signing off\r\n"), true),
            _ => ("-ERR Command not supported\r\n".to_string(), false),
        },
    );
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
