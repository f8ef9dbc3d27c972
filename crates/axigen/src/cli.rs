//! A blocking client of the Axigen CLI (TCP port 7000 by default).
//!
//! The dialogue, as the server speaks it: on connect a banner ("Welcome to AXIGEN's Command
//! Line Interface") and the prompt `<login> `; `GET VERSION` works before login; `USER admin`
//! is answered by the prompt `<password> `, the password line by `+OK: Authentication
//! successful` (or `-ERR: ...`) and the prompt `<#> `. Every reply is zero or more body lines,
//! a status line `+OK[: text]` or `-ERR: text`, then a prompt (`<...> `, no line end). Contexts
//! such as `UPDATE Domain name d` change the prompt; `COMMIT` saves and leaves the context.
//!
//! Colour codes and telnet negotiation the server may mix in are dropped before parsing.
//!
//! Every connect, read and write is bounded by the client's [`Deadline`]. Errors say which
//! step failed and what the server answered; a password never appears in an error, in a
//! command echoed by an error, or in `Debug` output.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use axha_exec::Deadline;

/// A reply larger than this is not a CLI reply (a confused peer must not exhaust memory).
const MAX_REPLY: usize = 4 << 20;
/// How much of an unexpected answer an error keeps.
const SHOWN_MAX: usize = 120;

/// Why a CLI exchange failed.
#[derive(Debug)]
pub enum CliError {
    /// The TCP connection could not be made (refused, unreachable, ...).
    Connect {
        /// The CLI address.
        addr: SocketAddr,
        /// Why connecting failed.
        source: std::io::Error,
    },
    /// The deadline passed during `during` (connect, banner, a command's reply...).
    Timeout {
        /// The CLI address.
        addr: SocketAddr,
        /// What the exchange was doing.
        during: String,
    },
    /// The server did not greet like an Axigen CLI.
    BadBanner {
        /// The address that answered.
        addr: SocketAddr,
        /// What it sent (printable, shortened).
        received: String,
    },
    /// Login refused; `message` is the server's text.
    AuthRefused {
        /// The CLI address.
        addr: SocketAddr,
        /// The user that tried to log in.
        user: String,
        /// The server's answer.
        message: String,
    },
    /// The server answered `-ERR`. `command` has password values masked.
    Command {
        /// The CLI address.
        addr: SocketAddr,
        /// The command sent, passwords masked.
        command: String,
        /// The server's `-ERR` text.
        message: String,
    },
    /// An answer that does not follow the dialogue (no status line, wrong prompt, too large).
    Protocol {
        /// The CLI address.
        addr: SocketAddr,
        /// What the exchange was doing.
        during: String,
        /// What came instead (printable, shortened).
        received: String,
    },
    /// The server closed the connection during `during`.
    Closed {
        /// The CLI address.
        addr: SocketAddr,
        /// What the exchange was doing.
        during: String,
    },
    /// Reading or writing failed otherwise.
    Io {
        /// The CLI address.
        addr: SocketAddr,
        /// What the exchange was doing.
        during: String,
        /// The error reading or writing.
        source: std::io::Error,
    },
    /// A value that cannot be sent (a line break in it, an empty name...). `value` is empty
    /// for secrets.
    InvalidArgument {
        /// Which argument (`user`, `domain`...).
        what: &'static str,
        /// The value refused (empty for secrets).
        value: String,
    },
}

impl CliError {
    /// True when the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, CliError::Timeout { .. })
    }
    /// True when nothing listens on the address (connection refused).
    pub fn is_refused(&self) -> bool {
        matches!(self, CliError::Connect { source, .. } if source.kind() == ErrorKind::ConnectionRefused)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Connect { addr, source } => write!(f, "CLI {addr}: cannot connect: {source}"),
            CliError::Timeout { addr, during } => {
                write!(f, "CLI {addr}: timed out during {during}")
            }
            CliError::BadBanner { addr, received } => {
                write!(f, "CLI {addr}: not an Axigen CLI banner: '{received}'")
            }
            CliError::AuthRefused {
                addr,
                user,
                message,
            } => write!(f, "CLI {addr}: login as '{user}' refused: {message}"),
            CliError::Command {
                addr,
                command,
                message,
            } => write!(f, "CLI {addr}: '{command}' failed: {message}"),
            CliError::Protocol {
                addr,
                during,
                received,
            } => write!(
                f,
                "CLI {addr}: unexpected answer during {during}: '{received}'"
            ),
            CliError::Closed { addr, during } => {
                write!(
                    f,
                    "CLI {addr}: connection closed by the server during {during}"
                )
            }
            CliError::Io {
                addr,
                during,
                source,
            } => write!(f, "CLI {addr}: {during}: {source}"),
            CliError::InvalidArgument { what, value } if value.is_empty() => {
                write!(f, "invalid {what}")
            }
            CliError::InvalidArgument { what, value } => write!(f, "invalid {what}: '{value}'"),
        }
    }
}

/// Underlying I/O errors are part of the message, not a separate source (so a chain
/// printed with `{:#}` does not say them twice).
impl std::error::Error for CliError {}

/// A successful reply: body lines and the text after `+OK: ` (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The lines before the status line.
    pub body: Vec<String>,
    /// The text after `+OK: `, if any.
    pub text: Option<String>,
    /// The prompt that followed (`<#> `, `<#domain-example.com> `...).
    pub prompt: String,
}

/// What `SHOW Account` tells of an account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountInfo {
    /// The account is disabled (logins refused, deliveries deferred).
    pub disabled: bool,
    /// Its password as the server keeps it (salted hash), when it has one.
    pub hashed_password: Option<String>,
}

/// `key = value` lines of `SHOW Account` into an [`AccountInfo`] (unknown keys ignored).
pub fn parse_account_info(body: &[String]) -> AccountInfo {
    let mut info = AccountInfo::default();
    for line in body {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim().to_ascii_lowercase().as_str() {
                "status" => info.disabled = v.trim().eq_ignore_ascii_case("disabled"),
                "hashedpassword" => info.hashed_password = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    info
}

/// The answer to `GET VERSION`, e.g. `10.6.30|Linux|x86_64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// The whole answer, as sent.
    pub raw: String,
    /// The version number (`10.6.30`).
    pub number: String,
    /// The operating system, when given.
    pub os: Option<String>,
    /// The machine architecture, when given.
    pub arch: Option<String>,
}

impl Version {
    /// Parse `NUMBER|OS|ARCH` (OS and architecture optional); `None` when empty.
    pub fn parse(raw: &str) -> Option<Version> {
        let raw = raw.trim();
        let mut it = raw.split('|').map(str::trim);
        let number = it.next().filter(|n| !n.is_empty())?.to_string();
        let mut opt = || it.next().filter(|s| !s.is_empty()).map(str::to_string);
        let os = opt();
        let arch = opt();
        Some(Version {
            raw: raw.to_string(),
            number,
            os,
            arch,
        })
    }
}

/// A connected CLI session.
pub struct CliClient {
    stream: TcpStream,
    addr: SocketAddr,
    deadline: Deadline,
    banner: Vec<String>,
    prompt: String,
}

impl fmt::Debug for CliClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CliClient")
            .field("addr", &self.addr)
            .field("prompt", &self.prompt)
            .finish_non_exhaustive()
    }
}

impl CliClient {
    /// Connect, read the banner and the `<login> ` prompt, all before `deadline`. The same
    /// deadline bounds every later exchange (see [`CliClient::set_deadline`]).
    pub fn connect(addr: SocketAddr, deadline: &Deadline) -> Result<CliClient, CliError> {
        let left = deadline.remaining();
        if left.is_zero() {
            return Err(CliError::Timeout {
                addr,
                during: "connect".into(),
            });
        }
        let stream = TcpStream::connect_timeout(&addr, left).map_err(|source| {
            if matches!(source.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) {
                CliError::Timeout {
                    addr,
                    during: "connect".into(),
                }
            } else {
                CliError::Connect { addr, source }
            }
        })?;
        let _ = stream.set_nodelay(true);
        let mut c = CliClient {
            stream,
            addr,
            deadline: *deadline,
            banner: Vec::new(),
            prompt: String::new(),
        };
        let (lines, prompt) = c.read_until_prompt("banner")?;
        let is_cli = lines
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("command line interface"));
        if !is_cli {
            let mut shown = lines.join(" | ");
            shown.push_str(&prompt);
            return Err(CliError::BadBanner {
                addr,
                received: printable(&shown),
            });
        }
        c.banner = lines;
        c.prompt = prompt;
        Ok(c)
    }

    /// Bound later exchanges by another deadline (a long session spanning several steps).
    pub fn set_deadline(&mut self, deadline: &Deadline) {
        self.deadline = *deadline;
    }

    /// The address this client is connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The banner lines read on connect.
    pub fn banner(&self) -> &[String] {
        &self.banner
    }

    /// The current prompt (`<login> ` before login, `<#> ` after).
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// `GET VERSION` (answered before login too).
    pub fn get_version(&mut self) -> Result<Version, CliError> {
        let r = self.command("GET VERSION")?;
        let raw = r
            .body
            .iter()
            .find(|l| !l.trim().is_empty())
            .cloned()
            .or(r.text.clone())
            .unwrap_or_default();
        Version::parse(&raw).ok_or_else(|| CliError::Protocol {
            addr: self.addr,
            during: "GET VERSION".into(),
            received: printable(&raw),
        })
    }

    /// `USER name`, then the password on its own line after the `<password> ` prompt.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), CliError> {
        check_word("user name", user)?;
        if password.contains(['\r', '\n', '\0']) {
            return Err(CliError::InvalidArgument {
                what: "password (line break or NUL in it)",
                value: String::new(),
            });
        }
        let addr = self.addr;
        let refused = |message: String| CliError::AuthRefused {
            addr,
            user: user.to_string(),
            message,
        };
        self.send_line(&format!("USER {user}"), "USER")?;
        let (lines, prompt) = self.read_until_prompt("USER")?;
        if let Some(err) = lines.iter().find(|l| l.starts_with("-ERR")) {
            return Err(refused(status_text(err).unwrap_or_default()));
        }
        if !prompt.to_ascii_lowercase().contains("password") {
            return Err(CliError::Protocol {
                addr: self.addr,
                during: "USER".into(),
                received: printable(&format!("{}{prompt}", lines.join(" | "))),
            });
        }
        self.prompt = prompt;
        self.send_line(password, "password")?;
        let (lines, prompt) = self.read_until_prompt("password")?;
        self.prompt = prompt;
        match find_status(&lines) {
            Some((true, _)) => Ok(()),
            Some((false, i)) => Err(refused(status_text(&lines[i]).unwrap_or_default())),
            None => Err(CliError::Protocol {
                addr: self.addr,
                during: "password".into(),
                received: printable(&lines.join(" | ")),
            }),
        }
    }

    /// Send one command line and read its reply. `-ERR` is [`CliError::Command`].
    pub fn command(&mut self, text: &str) -> Result<Reply, CliError> {
        if text.contains(['\r', '\n', '\0']) {
            return Err(CliError::InvalidArgument {
                what: "command (line break or NUL in it)",
                value: printable(&redact(text)),
            });
        }
        let shown = redact(text);
        self.send_line(text, &shown)?;
        let (mut lines, prompt) = self.read_until_prompt(&shown)?;
        self.prompt = prompt.clone();
        match find_status(&lines) {
            Some((true, i)) => {
                let text = status_text(&lines[i]);
                lines.truncate(i);
                Ok(Reply {
                    body: lines,
                    text,
                    prompt,
                })
            }
            Some((false, i)) => Err(CliError::Command {
                addr: self.addr,
                command: shown,
                message: status_text(&lines[i]).unwrap_or_default(),
            }),
            None => Err(CliError::Protocol {
                addr: self.addr,
                during: shown,
                received: printable(&lines.join(" | ")),
            }),
        }
    }

    /// `CREATE Domain name D postmasterPassword P`: enters the new domain's context;
    /// [`CliClient::commit`] saves it.
    pub fn create_domain(
        &mut self,
        name: &str,
        postmaster_password: &str,
    ) -> Result<Reply, CliError> {
        check_word("domain name", name)?;
        let pw = quote_secret(postmaster_password)?;
        self.command(&format!(
            "CREATE Domain name {name} postmasterPassword {pw}"
        ))
    }

    /// `UPDATE Domain name D`: enters the domain's context.
    pub fn update_domain(&mut self, name: &str) -> Result<Reply, CliError> {
        check_word("domain name", name)?;
        self.command(&format!("UPDATE Domain name {name}"))
    }

    /// `DELETE Domain name D` (from the initial context `<#> `).
    pub fn delete_domain(&mut self, name: &str) -> Result<Reply, CliError> {
        check_word("domain name", name)?;
        self.command(&format!("DELETE Domain name {name}"))
    }

    /// `ADD Account name U password P` in the current domain context.
    pub fn add_account(&mut self, name: &str, password: &str) -> Result<Reply, CliError> {
        check_word("account name", name)?;
        let pw = quote_secret(password)?;
        self.command(&format!("ADD Account name {name} password {pw}"))
    }

    /// `REMOVE Account name U` in the current domain context.
    pub fn remove_account(&mut self, name: &str) -> Result<Reply, CliError> {
        check_word("account name", name)?;
        self.command(&format!("REMOVE Account name {name}"))
    }

    /// `ADD Account name U hashedPassword H` in the current domain context: the account with
    /// the password another server of the cluster hashed (an account moved between
    /// back-ends keeps its password; the hash is masked in errors like a password).
    pub fn add_account_hashed(&mut self, name: &str, hashed: &str) -> Result<Reply, CliError> {
        check_word("account name", name)?;
        let h = quote_secret(hashed)?;
        self.command(&format!("ADD Account name {name} hashedPassword {h}"))
    }

    /// `SHOW Account name U` in the current domain context: its status and hashed password.
    pub fn show_account(&mut self, name: &str) -> Result<AccountInfo, CliError> {
        check_word("account name", name)?;
        let r = self.command(&format!("SHOW Account name {name}"))?;
        Ok(parse_account_info(&r.body))
    }

    /// `DISABLE Account name U` / `ENABLE Account name U` in the current domain context: a
    /// disabled account refuses logins and defers deliveries (senders retry later).
    pub fn set_account_disabled(&mut self, name: &str, disabled: bool) -> Result<Reply, CliError> {
        check_word("account name", name)?;
        let verb = if disabled { "DISABLE" } else { "ENABLE" };
        self.command(&format!("{verb} Account name {name}"))
    }

    /// `COMMIT`: save the current context and leave it.
    pub fn commit(&mut self) -> Result<Reply, CliError> {
        self.command("COMMIT")
    }

    /// `LIST Domains`: the domain names.
    pub fn list_domains(&mut self) -> Result<Vec<String>, CliError> {
        Ok(parse_name_table(&self.command("LIST Domains")?.body))
    }

    /// `LIST Accounts` in a domain context: the account names.
    pub fn list_accounts(&mut self) -> Result<Vec<String>, CliError> {
        Ok(parse_name_table(&self.command("LIST Accounts")?.body))
    }

    /// `QUIT`, then wait (within the deadline) for the server's goodbye or its close.
    pub fn quit(mut self) -> Result<(), CliError> {
        self.send_line("QUIT", "QUIT")?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        loop {
            if buf.contains(&b'\n') {
                break;
            }
            match self.read_some(&mut chunk, "QUIT") {
                Ok(0) | Err(CliError::Closed { .. }) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e),
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        Ok(())
    }

    fn send_line(&mut self, line: &str, during: &str) -> Result<(), CliError> {
        let left = self.left(during)?;
        let _ = self.stream.set_write_timeout(Some(left));
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.stream
            .write_all(&data)
            .map_err(|e| self.io_error(e, during))
    }

    fn left(&self, during: &str) -> Result<Duration, CliError> {
        let left = self.deadline.remaining();
        if left.is_zero() {
            Err(CliError::Timeout {
                addr: self.addr,
                during: during.to_string(),
            })
        } else {
            Ok(left)
        }
    }

    fn io_error(&self, e: std::io::Error, during: &str) -> CliError {
        let during = during.to_string();
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => CliError::Timeout {
                addr: self.addr,
                during,
            },
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof => {
                CliError::Closed {
                    addr: self.addr,
                    during,
                }
            }
            _ => CliError::Io {
                addr: self.addr,
                during,
                source: e,
            },
        }
    }

    fn read_some(&mut self, chunk: &mut [u8], during: &str) -> Result<usize, CliError> {
        let left = self.left(during)?;
        let _ = self.stream.set_read_timeout(Some(left));
        loop {
            match self.stream.read(chunk) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e, during)),
            }
        }
    }

    /// Read complete lines until the unterminated tail is a prompt (`<...> `). Terminal
    /// codes (ANSI colours, telnet negotiation) are dropped first: Axigen can colour its
    /// output (`SET CONSOLE-CODES on`).
    fn read_until_prompt(&mut self, during: &str) -> Result<(Vec<String>, String), CliError> {
        let mut buf: Vec<u8> = Vec::new();
        let mut decoder = TerminalCodes::default();
        let mut tail_start = 0;
        let mut chunk = [0u8; 4096];
        loop {
            if is_prompt(&buf[tail_start..]) {
                let prompt = String::from_utf8_lossy(&buf[tail_start..]).into_owned();
                let lines = String::from_utf8_lossy(&buf[..tail_start])
                    .lines()
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .collect();
                return Ok((lines, prompt));
            }
            if buf.len() > MAX_REPLY {
                return Err(CliError::Protocol {
                    addr: self.addr,
                    during: during.to_string(),
                    received: format!("more than {MAX_REPLY} bytes without a prompt"),
                });
            }
            let n = self.read_some(&mut chunk, during)?;
            if n == 0 {
                if buf.is_empty() {
                    return Err(CliError::Closed {
                        addr: self.addr,
                        during: during.to_string(),
                    });
                }
                return Err(CliError::Protocol {
                    addr: self.addr,
                    during: during.to_string(),
                    received: printable(&String::from_utf8_lossy(&buf)),
                });
            }
            let old_len = buf.len();
            decoder.feed(&chunk[..n], &mut buf);
            if let Some(i) = buf[old_len..].iter().rposition(|b| *b == b'\n') {
                tail_start = old_len + i + 1;
            }
        }
    }
}

/// Removes terminal codes from a byte stream, across reads: ANSI escape sequences (ECMA-48:
/// `ESC [` parameters and a final byte in 0x40..=0x7E, or `ESC` and one byte) and telnet
/// commands (RFC 854: `IAC` with a verb and an option, `IAC SB ... IAC SE`, `IAC IAC` for a
/// literal 0xFF).
#[derive(Debug, Default)]
struct TerminalCodes {
    state: CodeState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum CodeState {
    #[default]
    Text,
    Esc,
    Csi,
    Iac,
    IacOption,
    Sub,
    SubIac,
}

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;

impl TerminalCodes {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        use CodeState::*;
        for &b in input {
            self.state = match (self.state, b) {
                (Text, 0x1b) => Esc,
                (Text, IAC) => Iac,
                (Text, _) => {
                    out.push(b);
                    Text
                }
                (Esc, b'[') => Csi,
                (Esc, _) => Text,
                (Csi, 0x40..=0x7e) => Text,
                (Csi, _) => Csi,
                (Iac, IAC) => {
                    out.push(IAC);
                    Text
                }
                (Iac, SB) => Sub,
                (Iac, 251..=254) => IacOption,
                (Iac, _) | (IacOption, _) => Text,
                (Sub, IAC) => SubIac,
                (Sub, _) => Sub,
                (SubIac, SE) => Text,
                (SubIac, _) => Sub,
            };
        }
    }
}

/// A prompt: `<`, no line break or other `<`/`>`, then `> ` at the very end.
fn is_prompt(tail: &[u8]) -> bool {
    tail.len() >= 3
        && tail[0] == b'<'
        && tail.ends_with(b"> ")
        && !tail[1..tail.len() - 2]
            .iter()
            .any(|b| matches!(b, b'<' | b'>' | b'\r' | b'\n'))
}

/// Index of the last status line and whether it is `+OK`.
fn find_status(lines: &[String]) -> Option<(bool, usize)> {
    lines.iter().enumerate().rev().find_map(|(i, l)| {
        if l.starts_with("+OK") {
            Some((true, i))
        } else if l.starts_with("-ERR") {
            Some((false, i))
        } else {
            None
        }
    })
}

/// `+OK: text` -> `text`; `+OK` -> None.
fn status_text(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix("+OK")
        .or_else(|| line.strip_prefix("-ERR"))?;
    let rest = rest.trim_start_matches(':').trim();
    (!rest.is_empty()).then(|| rest.to_string())
}

/// Names from a `LIST` body: the first word of each line after a `----` rule if there is
/// one (Axigen prints a header and a rule), else of every non-empty line.
fn parse_name_table(body: &[String]) -> Vec<String> {
    let is_rule = |l: &str| l.len() >= 3 && l.trim().chars().all(|c| c == '-');
    let rows: &[String] = match body.iter().rposition(|l| is_rule(l)) {
        Some(i) => &body[i + 1..],
        None => body,
    };
    rows.iter()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn check_word(what: &'static str, v: &str) -> Result<(), CliError> {
    if v.is_empty()
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err(CliError::InvalidArgument {
            what,
            value: printable(v),
        });
    }
    Ok(())
}

/// A secret as one CLI word: quoted when it holds spaces or quotes.
fn quote_secret(v: &str) -> Result<String, CliError> {
    if v.is_empty() || v.contains(['\r', '\n', '\0']) {
        return Err(CliError::InvalidArgument {
            what: "password (empty, or a line break or NUL in it)",
            value: String::new(),
        });
    }
    if v.chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        Ok(format!(
            "\"{}\"",
            v.replace('\\', "\\\\").replace('"', "\\\"")
        ))
    } else {
        Ok(v.to_string())
    }
}

/// The command with the value after any `...password` keyword masked.
pub fn redact(command: &str) -> String {
    let mut out = Vec::new();
    let mut mask_next = false;
    let mut in_quote = false;
    for word in command.split(' ') {
        if in_quote {
            in_quote = !ends_quote(word);
            continue;
        }
        if mask_next && !word.is_empty() {
            out.push("***".to_string());
            mask_next = false;
            in_quote = word.starts_with('"') && !(word.len() > 1 && ends_quote(word));
            continue;
        }
        mask_next = word.to_ascii_lowercase().ends_with("password");
        out.push(word.to_string());
    }
    out.join(" ")
}

fn ends_quote(word: &str) -> bool {
    word.ends_with('"') && !word.ends_with("\\\"")
}

/// Printable, bounded form of what a server said, for errors and exit reasons.
pub fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(SHOWN_MAX)
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    if s.chars().count() > SHOWN_MAX {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn account_info_lines() {
        let body: Vec<String> = [
            "name = bob",
            "status = disabled",
            "hashedPassword = sha256:ab:cd",
            "x",
        ]
        .map(String::from)
        .to_vec();
        let i = parse_account_info(&body);
        assert!(i.disabled);
        assert_eq!(i.hashed_password.as_deref(), Some("sha256:ab:cd"));
        assert_eq!(parse_account_info(&[]), AccountInfo::default());
        assert_eq!(
            redact("ADD Account name bob hashedPassword sha256:ab:cd"),
            "ADD Account name bob hashedPassword ***"
        );
    }
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::thread;

    /// A scripted server (the real one, axigen-sim, is tested in its own package): answers
    /// each received line with the next canned answer, after the greeting.
    fn scripted(
        greeting: &'static str,
        answers: Vec<&'static str>,
    ) -> (SocketAddr, thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(greeting.as_bytes()).unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut got = Vec::new();
            for a in answers {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                got.push(line.trim_end().to_string());
                s.write_all(a.as_bytes()).unwrap();
            }
            got
        });
        (addr, h)
    }

    const BANNER: &str =
        "Welcome to AXIGEN's Command Line Interface\r\nYou must login first.\r\n<login> ";

    fn d() -> Deadline {
        Deadline::after(Duration::from_secs(5))
    }

    #[test]
    fn version_login_and_commands() {
        let (addr, h) = scripted(
            BANNER,
            vec![
                "10.6.30|Linux|x86_64\r\n+OK: command successful\r\n<login> ",
                "<password> ",
                "+OK: Authentication successful\r\n<#> ",
                "The list of domains:\r\nname\r\n----------\r\na.example  1\r\nb.example\r\n+OK: command successful\r\n<#> ",
                "-ERR: Domain already exists\r\n<#> ",
                "+OK\r\n",
            ],
        );
        let mut c = CliClient::connect(addr, &d()).unwrap();
        assert_eq!(c.prompt(), "<login> ");
        let v = c.get_version().unwrap();
        assert_eq!(v.number, "10.6.30");
        assert_eq!(v.os.as_deref(), Some("Linux"));
        assert_eq!(v.arch.as_deref(), Some("x86_64"));
        c.login("admin", "s3cret pw").unwrap();
        assert_eq!(c.prompt(), "<#> ");
        assert_eq!(c.list_domains().unwrap(), vec!["a.example", "b.example"]);
        let e = c.create_domain("a.example", "pm pass").unwrap_err();
        let msg = format!("{e} {e:?}");
        assert!(msg.contains("Domain already exists"), "{msg}");
        assert!(!msg.contains("pm pass") && !msg.contains("pm"), "{msg}");
        c.quit().unwrap();
        let got = h.join().unwrap();
        assert_eq!(got[1], "USER admin");
        assert_eq!(got[2], "s3cret pw");
        assert_eq!(
            got[4],
            "CREATE Domain name a.example postmasterPassword \"pm pass\""
        );
        assert_eq!(got[5], "QUIT");
    }

    #[test]
    fn refused_login_carries_server_text_not_password() {
        let (addr, _h) = scripted(
            BANNER,
            vec!["<password> ", "-ERR: Authentication failed\r\n<login> "],
        );
        let mut c = CliClient::connect(addr, &d()).unwrap();
        let e = c.login("admin", "hunter2").unwrap_err();
        assert!(matches!(e, CliError::AuthRefused { .. }), "{e:?}");
        let msg = format!("{e} {e:?} {c:?}");
        assert!(msg.contains("Authentication failed"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn bad_banner_and_silence() {
        let (addr, _h) = scripted("220 smtp.example ESMTP\r\n<x> ", vec![]);
        let e = CliClient::connect(addr, &d()).unwrap_err();
        assert!(
            matches!(e, CliError::BadBanner { ref received, .. } if received.contains("220")),
            "{e:?}"
        );

        // Accepts but never speaks: the deadline bounds the banner read.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::time::Instant::now();
        let e = CliClient::connect(addr, &Deadline::after(Duration::from_millis(300))).unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(2));
        drop(l);
    }

    #[test]
    fn refused_connection() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = CliClient::connect(addr, &d()).unwrap_err();
        assert!(e.is_refused(), "{e:?}");
    }

    #[test]
    fn closed_mid_reply_and_missing_status() {
        let (addr, _h) = scripted(BANNER, vec!["just text\r\n<login> "]);
        let mut c = CliClient::connect(addr, &d()).unwrap();
        let e = c.command("GET VERSION").unwrap_err();
        assert!(matches!(e, CliError::Protocol { .. }), "{e:?}");
        let e = c.command("GET VERSION").unwrap_err();
        assert!(matches!(e, CliError::Closed { .. }), "{e:?}");
    }

    #[test]
    fn arguments_are_checked() {
        assert!(check_word("x", "a b").is_err());
        assert!(check_word("x", "").is_err());
        assert!(check_word("x", "ok.example").is_ok());
        assert!(quote_secret("a\nb").is_err());
        assert_eq!(quote_secret("plain").unwrap(), "plain");
        assert_eq!(quote_secret("a \"b\"").unwrap(), "\"a \\\"b\\\"\"");
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("ADD Account name u password p4ss"),
            "ADD Account name u password ***"
        );
        assert_eq!(
            redact("CREATE Domain name d postmasterPassword \"a b c\" x y"),
            "CREATE Domain name d postmasterPassword *** x y"
        );
        assert_eq!(redact("LIST Domains"), "LIST Domains");
    }

    #[test]
    fn terminal_codes_are_dropped_across_reads() {
        let raw: &[u8] =
            b"\x1b[1;32mWelcome\x1b[0m\r\n\xff\xfb\x01<lo\xff\xfa\x18\x01\xff\xf0gin\xff\xff> ";
        for split in 0..raw.len() {
            let mut d = TerminalCodes::default();
            let mut out = Vec::new();
            d.feed(&raw[..split], &mut out);
            d.feed(&raw[split..], &mut out);
            assert_eq!(out, b"Welcome\r\n<login\xff> ", "split at {split}");
        }
    }

    #[test]
    fn coloured_prompt_is_recognised() {
        let (addr, _h) = scripted(
            "\x1b[1mWelcome to AXIGEN's Command Line Interface\x1b[0m\r\n\x1b[33m<login>\x1b[0m ",
            vec!["10.6.30|Linux|x86_64\r\n\x1b[32m+OK\x1b[0m: done\r\n<login> "],
        );
        let mut c = CliClient::connect(addr, &d()).unwrap();
        assert_eq!(c.prompt(), "<login> ");
        assert_eq!(c.get_version().unwrap().number, "10.6.30");
    }

    #[test]
    fn prompt_detection_and_parsing() {
        assert!(is_prompt(b"<login> "));
        assert!(is_prompt(b"<#domain-a.example> "));
        assert!(!is_prompt(b"<login>"));
        assert!(!is_prompt(b"<log"));
        assert!(!is_prompt(b"x<#> "));
        assert_eq!(status_text("+OK: fine"), Some("fine".into()));
        assert_eq!(status_text("+OK"), None);
        assert_eq!(status_text("-ERR: no"), Some("no".into()));
        assert_eq!(
            Version::parse(" 10.6|Linux "),
            Some(Version {
                raw: "10.6|Linux".into(),
                number: "10.6".into(),
                os: Some("Linux".into()),
                arch: None
            })
        );
        assert_eq!(Version::parse(""), None);
        assert_eq!(
            parse_name_table(&["x".into(), "y z".into()]),
            vec!["x", "y"]
        );
    }
}
