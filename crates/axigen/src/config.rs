//! The Axigen main configuration file, `<workdir>/run/axigen.cfg`: parse, query and write.
//!
//! # Syntax (the subset of Axigen's this crate reads and writes)
//! ```text
//! # a comment runs from '#' to the end of the line
//! server = {
//!   services = (smtpIncoming, imap, pop3, cli)
//! }
//! smtpIncoming = { listeners = ( { address = 10.0.0.5:25 enable = yes } ) }
//! cli = { listeners = ( { address = 10.0.0.5:7000 } ) }
//! ```
//! - A file is a sequence of entries `name = value`, separated by whitespace (newlines).
//!   Names are letters, digits and `_` `-` `.`, starting with a letter or `_`; like Axigen,
//!   names are case-insensitive (written back as they were spelled).
//! - Comments: `#` to the end of the line, and `/* ... */` blocks.
//! - A value is a group `{ entries }`, a list `( values )` (items separated by whitespace
//!   and/or commas), or a scalar: a bare word (anything but whitespace and `{ } ( ) = , # "`)
//!   or a double-quoted string (`\"` and `\\` escapes, no newline inside).
//! - A name appears at most once per group. Names this crate does not know are kept as they
//!   are (real Axigen files hold many more sections) and written back by [`Config::render`].
//!
//! # What is interpreted
//! The services this suite cares about ([`Service`]) are top-level groups named as Axigen
//! names them (`smtpIncoming`, `imap`, `pop3`, `cli`, `webmail`, `webadmin`), each with a
//! `listeners` list of groups holding `address = IP:PORT` and optionally `enable = yes|no`.
//! When `server.services` is present, only the services it lists are active (as in Axigen,
//! where a service not started has no listeners). Addresses and switches are checked when the
//! file is parsed, so [`Config::listeners`] cannot fail.

use std::fmt;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Largest file [`Config::read`] accepts (Axigen's own are well under a megabyte); a wrong
/// path to a huge file must not exhaust memory.
const MAX_FILE: usize = 16 << 20;
/// How long reading a configuration file may take (a local file: at once).
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How much of an offending token an error keeps.
const ERR_TEXT_MAX: usize = 60;

/// A service of the server that has listeners, by its section name in `axigen.cfg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// SMTP (port 25).
    Smtp,
    /// POP3 (port 110).
    Pop3,
    /// IMAP (port 143).
    Imap,
    /// The administration CLI (port 7000).
    Cli,
    /// WebMail (port 80).
    WebMail,
    /// WebAdmin (port 9000).
    WebAdmin,
}

/// One table drives the section name, Axigen's default port and the offset from a base port
/// (see [`Config::default_for`]): (service, section name, default port, base-port offset).
const SERVICES: &[(Service, &str, u16, u16)] = &[
    (Service::Smtp, "smtpIncoming", 25, 0),
    (Service::Pop3, "pop3", 110, 1),
    (Service::Imap, "imap", 143, 2),
    (Service::Cli, "cli", 7000, 3),
    (Service::WebMail, "webmail", 80, 4),
    (Service::WebAdmin, "webadmin", 9000, 5),
];

impl Service {
    /// Every service, in the order of the table above.
    pub const ALL: [Service; 6] = [
        Service::Smtp,
        Service::Pop3,
        Service::Imap,
        Service::Cli,
        Service::WebMail,
        Service::WebAdmin,
    ];

    fn row(self) -> &'static (Service, &'static str, u16, u16) {
        SERVICES
            .iter()
            .find(|r| r.0 == self)
            .expect("every service has a row in SERVICES")
    }

    /// The section name in `axigen.cfg` (`smtpIncoming`, `imap`, ...).
    pub fn section(self) -> &'static str {
        self.row().1
    }

    /// Axigen's default port for the service (SMTP 25, POP3 110, IMAP 143, CLI 7000,
    /// WebMail 80, WebAdmin 9000).
    pub fn default_port(self) -> u16 {
        self.row().2
    }

    /// Offset from the base port in [`Config::default_for`] (SMTP +0, POP3 +1, IMAP +2,
    /// CLI +3, WebMail +4, WebAdmin +5).
    pub fn base_offset(self) -> u16 {
        self.row().3
    }

    /// The service whose section is named `name` (case-insensitive, as Axigen reads names).
    pub fn from_section(name: &str) -> Option<Service> {
        SERVICES
            .iter()
            .find(|r| r.1.eq_ignore_ascii_case(name))
            .map(|r| r.0)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.section())
    }
}

impl std::str::FromStr for Service {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::from_section(s).ok_or_else(|| ConfigError::UnknownService { name: shorten(s) })
    }
}

/// One enabled listener of an active service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    /// The service listening.
    pub service: Service,
    /// The address and port it listens on (possibly the unspecified address).
    pub addr: SocketAddr,
}

/// A value in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A single value (quotes removed).
    Scalar(String),
    /// A parenthesised list `( ... )`.
    List(Vec<Value>),
    /// A braced group `{ ... }`.
    Group(Group),
}

impl Value {
    /// The text of a scalar value.
    pub fn as_scalar(&self) -> Option<&str> {
        match self {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }
    /// The items of a list value.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
    /// The entries of a group value.
    pub fn as_group(&self) -> Option<&Group> {
        match self {
            Value::Group(g) => Some(g),
            _ => None,
        }
    }
}

/// `name = value` entries in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

impl Group {
    /// The value of `key`; names are case-insensitive, as in Axigen.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entry(key).map(|e| &e.value)
    }
    fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key))
    }
}

/// One `name = value`, with the line it started on (1-based; 0 when built in code).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name before `=`.
    pub key: String,
    /// The value after it.
    pub value: Value,
    /// The line the entry starts on.
    pub line: usize,
}

/// Entries compare by content: where they were in a file does not matter.
impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.value == other.value
    }
}

/// Why a configuration could not be read or used. Each variant carries the offending text.
#[derive(Debug)]
pub enum ConfigError {
    /// Not the syntax described in this module.
    Syntax {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The line of the problem.
        line: usize,
        /// The offending text (shortened).
        text: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// Well-formed, but a value the server cannot use (a bad listener address, ...).
    Invalid {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The line of the problem.
        line: usize,
        /// The offending text (shortened).
        text: String,
        /// What is wrong with it.
        message: &'static str,
    },
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read or written.
        source: std::io::Error,
    },
    /// A base port so high that the last service's port would pass 65535 (or zero).
    PortRange {
        /// The base port asked for.
        base: u16,
    },
    /// A service name that is not one of [`Service`]'s sections.
    UnknownService {
        /// The name given (shortened).
        name: String,
    },
}

impl ConfigError {
    /// The line the problem is on, for syntax and value errors.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Syntax { line, .. } | ConfigError::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }

    fn with_path(mut self, p: &Path) -> Self {
        if let ConfigError::Syntax { path, .. } | ConfigError::Invalid { path, .. } = &mut self {
            *path = Some(p.to_path_buf());
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |path: &Option<PathBuf>, line: &usize| match path {
            Some(p) => format!("{} line {line}", p.display()),
            None => format!("line {line}"),
        };
        match self {
            ConfigError::Syntax {
                path,
                line,
                text,
                message,
            } => write!(f, "{}: {message} at '{text}'", at(path, line)),
            ConfigError::Invalid {
                path,
                line,
                text,
                message,
            } => write!(f, "{}: {message}: '{text}'", at(path, line)),
            ConfigError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ConfigError::PortRange { base } => write!(
                f,
                "base port {base} leaves no room for {} services (1..={})",
                Service::ALL.len(),
                u16::MAX - max_offset()
            ),
            ConfigError::UnknownService { name } => write!(f, "unknown service '{name}'"),
        }
    }
}

/// The underlying I/O error is part of the message, not a separate source (so a chain
/// printed with `{:#}` does not say it twice).
impl std::error::Error for ConfigError {}

fn max_offset() -> u16 {
    SERVICES.iter().map(|r| r.3).max().unwrap_or(0)
}

/// Printable, bounded form of offending text (a garbage file must not flood a log line).
fn shorten(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(ERR_TEXT_MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > ERR_TEXT_MAX {
        out.push_str("...");
    }
    out
}

/// A parsed `axigen.cfg`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    root: Group,
}

impl Config {
    /// Parse the text of a configuration file (see the module documentation for the syntax).
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let tokens = lex(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let root = p.group_body(None)?;
        let cfg = Config { root };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Read and parse a file; errors name the file.
    /// The read is bounded in size and time: a FIFO or a device named as the config file
    /// must not hold the caller.
    pub fn read(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        use axha_exec::ReadError;
        let path = path.as_ref();
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let deadline = axha_exec::Deadline::after(READ_TIMEOUT);
        let bytes = match axha_exec::read_bounded(path, MAX_FILE, &deadline) {
            Ok(b) => b,
            Err(ReadError::Open { error, .. } | ReadError::Read { error, .. }) => {
                return Err(io(error))
            }
            Err(ReadError::TooLarge { .. }) => {
                return Err(ConfigError::Invalid {
                    path: Some(path.to_path_buf()),
                    line: 1,
                    text: format!("more than {MAX_FILE} bytes"),
                    message: "not a configuration file (too large)",
                })
            }
            Err(e @ ReadError::Timeout { .. }) => {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    e.to_string(),
                )))
            }
        };
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Syntax {
            path: Some(path.to_path_buf()),
            line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            text: "<bytes that are not UTF-8>".to_string(),
            message: "not UTF-8 text",
        })?;
        Config::parse(&text).map_err(|e| e.with_path(path))
    }

    /// Write the rendered file atomically (a temporary file in the same directory, then
    /// rename), so a reader never sees half a file.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<(), ConfigError> {
        let path = path.as_ref();
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        let tmp = path.with_extension(format!("cfg.tmp.{}", std::process::id()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            // On disk before the rename, so a crash leaves the old file or the whole new one.
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    /// The whole file as a group of top-level entries.
    pub fn root(&self) -> &Group {
        &self.root
    }

    /// A value by dotted path through groups, e.g. `get("server.services")`.
    pub fn get(&self, dotted: &str) -> Option<&Value> {
        let mut group = &self.root;
        let mut parts = dotted.split('.').peekable();
        while let Some(part) = parts.next() {
            let v = group.get(part)?;
            if parts.peek().is_none() {
                return Some(v);
            }
            group = v.as_group()?;
        }
        None
    }

    /// The services started by the server: those listed in `server.services`, or, without
    /// that list, every service section present in the file.
    pub fn active_services(&self) -> Vec<Service> {
        match self.get("server.services").and_then(Value::as_list) {
            Some(list) => {
                let mut v: Vec<Service> = list
                    .iter()
                    .filter_map(|x| x.as_scalar().and_then(Service::from_section))
                    .collect();
                v.dedup();
                v
            }
            None => self
                .root
                .entries
                .iter()
                .filter_map(|e| Service::from_section(&e.key))
                .collect(),
        }
    }

    /// Every enabled listener of every active service, services in [`Config::active_services`]
    /// order, listeners in file order.
    pub fn listeners(&self) -> Vec<Listener> {
        let mut out = Vec::new();
        for service in self.active_services() {
            let Some(list) = self
                .root
                .get(service.section())
                .and_then(Value::as_group)
                .and_then(|g| g.get("listeners"))
                .and_then(Value::as_list)
            else {
                continue;
            };
            for l in list.iter().filter_map(Value::as_group) {
                let enabled = l
                    .get("enable")
                    .and_then(Value::as_scalar)
                    .map(|s| parse_switch(s).unwrap_or(true))
                    .unwrap_or(true);
                let addr = l
                    .get("address")
                    .and_then(Value::as_scalar)
                    .and_then(|a| a.parse().ok());
                if let (true, Some(addr)) = (enabled, addr) {
                    out.push(Listener { service, addr });
                }
            }
        }
        out
    }

    /// The first enabled CLI listener, where `GET VERSION` and the admin dialogue are served.
    pub fn cli_listener(&self) -> Option<SocketAddr> {
        self.listeners()
            .into_iter()
            .find(|l| l.service == Service::Cli)
            .map(|l| l.addr)
    }

    /// The configuration of a fresh instance listening on `address`: every [`Service`], one
    /// listener each. Without `base_port`, Axigen's default ports (SMTP 25, POP3 110, IMAP 143,
    /// CLI 7000, WebMail 80, WebAdmin 9000). With it, port = base + offset (SMTP +0, POP3 +1,
    /// IMAP +2, CLI +3, WebMail +4, WebAdmin +5) so that many instances can share one address
    /// in tests; the base must be between 1 and 65530.
    pub fn default_for(address: IpAddr, base_port: Option<u16>) -> Result<Config, ConfigError> {
        if let Some(base) = base_port {
            if base == 0 || base.checked_add(max_offset()).is_none() {
                return Err(ConfigError::PortRange { base });
            }
        }
        let entry = |key: &str, value: Value| Entry {
            key: key.to_string(),
            value,
            line: 0,
        };
        let scalar = |s: &str| Value::Scalar(s.to_string());
        let mut root = Group::default();
        root.entries.push(entry(
            "server",
            Value::Group(Group {
                entries: vec![entry(
                    "services",
                    Value::List(Service::ALL.iter().map(|s| scalar(s.section())).collect()),
                )],
            }),
        ));
        for s in Service::ALL {
            let port = match base_port {
                Some(b) => b + s.base_offset(),
                None => s.default_port(),
            };
            let listener = Group {
                entries: vec![
                    entry(
                        "address",
                        Value::Scalar(SocketAddr::new(address, port).to_string()),
                    ),
                    entry("enable", scalar("yes")),
                ],
            };
            root.entries.push(entry(
                s.section(),
                Value::Group(Group {
                    entries: vec![entry(
                        "listeners",
                        Value::List(vec![Value::Group(listener)]),
                    )],
                }),
            ));
        }
        Ok(Config { root })
    }

    /// The file text: two-space indents, one entry per line, lists of plain words on one line.
    /// Comments of a parsed file are not kept.
    pub fn render(&self) -> String {
        let mut out = String::from("# Axigen main configuration\n");
        for e in &self.root.entries {
            render_entry(&mut out, e, 0);
        }
        out
    }

    /// Checks that make [`Config::listeners`] infallible: in service sections, `listeners`
    /// is a list of groups, each with a usable `address` and a yes/no `enable`.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |line, text: &str, message| ConfigError::Invalid {
            path: None,
            line,
            text: shorten(text),
            message,
        };
        if let Some(e) = self.root.entry("server") {
            let g = e
                .value
                .as_group()
                .ok_or_else(|| invalid(e.line, &e.key, "'server' must be a group { ... }"))?;
            if let Some(s) = g.entry("services") {
                let list = s
                    .value
                    .as_list()
                    .ok_or_else(|| invalid(s.line, &s.key, "'services' must be a list ( ... )"))?;
                if list.iter().any(|v| v.as_scalar().is_none()) {
                    return Err(invalid(s.line, &s.key, "'services' must list names"));
                }
            }
        }
        for e in &self.root.entries {
            if Service::from_section(&e.key).is_none() {
                continue;
            }
            let g = e
                .value
                .as_group()
                .ok_or_else(|| invalid(e.line, &e.key, "a service section must be a group"))?;
            let Some(l) = g.entry("listeners") else {
                continue;
            };
            let list = l
                .value
                .as_list()
                .ok_or_else(|| invalid(l.line, &l.key, "'listeners' must be a list ( ... )"))?;
            for item in list {
                let lg = item.as_group().ok_or_else(|| {
                    invalid(l.line, &l.key, "each listener must be a group { ... }")
                })?;
                let a = lg.entry("address").ok_or_else(|| {
                    invalid(l.line, &l.key, "a listener without 'address = IP:PORT'")
                })?;
                let text = a.value.as_scalar().unwrap_or("(not a word)");
                let addr: SocketAddr = text
                    .parse()
                    .map_err(|_| invalid(a.line, text, "listener address is not IP:PORT"))?;
                if addr.port() == 0 {
                    return Err(invalid(a.line, text, "listener port 0"));
                }
                if let Some(en) = lg.entry("enable") {
                    let t = en.value.as_scalar().unwrap_or("(not a word)");
                    if parse_switch(t).is_none() {
                        return Err(invalid(en.line, t, "'enable' must be yes or no"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Axigen writes switches as yes/no; true/false/on/off/1/0 are read too.
fn parse_switch(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '{' | '}' | '(' | ')' | '=' | ',' | '#' | '"')
}

fn is_key(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || matches!(x, '_' | '-' | '.'))
}

fn quote_scalar(s: &str) -> String {
    if !s.is_empty() && s.chars().all(is_word_char) {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn render_entry(out: &mut String, e: &Entry, depth: usize) {
    indent(out, depth);
    out.push_str(&e.key);
    out.push_str(" = ");
    render_value(out, &e.value, depth);
    out.push('\n');
}

fn render_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Scalar(s) => out.push_str(&quote_scalar(s)),
        Value::Group(g) => {
            out.push_str("{\n");
            for e in &g.entries {
                render_entry(out, e, depth + 1);
            }
            indent(out, depth);
            out.push('}');
        }
        Value::List(items) if items.iter().all(|i| i.as_scalar().is_some()) => {
            let words: Vec<String> = items
                .iter()
                .filter_map(Value::as_scalar)
                .map(quote_scalar)
                .collect();
            out.push('(');
            out.push_str(&words.join(", "));
            out.push(')');
        }
        Value::List(items) => {
            out.push_str("(\n");
            for i in items {
                indent(out, depth + 1);
                render_value(out, i, depth + 1);
                out.push('\n');
            }
            indent(out, depth);
            out.push(')');
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Punct(char),
    End,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Word(w) => shorten(w),
            Tok::Quoted(q) => shorten(&format!("\"{q}\"")),
            Tok::Punct(c) => c.to_string(),
            Tok::End => "end of file".to_string(),
        }
    }
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, ConfigError> {
    let syntax = |line, text: &str, message| ConfigError::Syntax {
        path: None,
        line,
        text: shorten(text),
        message,
    };
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let start = line;
                chars.next();
                let mut prev = ' ';
                loop {
                    match chars.next() {
                        None => return Err(syntax(start, "/*", "unterminated /* comment")),
                        Some('/') if prev == '*' => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            prev = c;
                        }
                    }
                }
            }
            '{' | '}' | '(' | ')' | '=' | ',' => out.push((Tok::Punct(c), line)),
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None | Some('\n') => {
                            return Err(syntax(line, &format!("\"{s}"), "unterminated string"))
                        }
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => s.push(e),
                            Some(other) => {
                                return Err(syntax(
                                    line,
                                    &format!("\\{other}"),
                                    "unknown escape in string",
                                ))
                            }
                            None => return Err(syntax(line, &s, "unterminated string")),
                        },
                        Some(ch) if ch.is_control() && ch != '\t' => {
                            return Err(syntax(line, &s, "control character in string"))
                        }
                        Some(ch) => s.push(ch),
                    }
                }
                out.push((Tok::Quoted(s), line));
            }
            c if c.is_control() => {
                return Err(syntax(
                    line,
                    &format!("\\x{:02x}", c as u32),
                    "control character",
                ))
            }
            c => {
                let mut w = String::from(c);
                while let Some(n) = chars.peek().copied().filter(|n| is_word_char(*n)) {
                    if n.is_control() {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push((Tok::Word(w), line));
            }
        }
    }
    out.push((Tok::End, line));
    Ok(out)
}

/// Deepest nesting of groups and lists accepted (Axigen's own files nest a handful of
/// levels); bounds the parser's recursion so that garbage cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &(Tok, usize) {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }
    fn next(&mut self) -> (Tok, usize) {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }
    fn err(&self, (tok, line): &(Tok, usize), message: &'static str) -> ConfigError {
        ConfigError::Syntax {
            path: None,
            line: *line,
            text: tok.text(),
            message,
        }
    }

    /// Entries until `close` (a `}`) or, at top level, the end of the input.
    fn group_body(&mut self, close: Option<char>) -> Result<Group, ConfigError> {
        let mut g = Group::default();
        let mut seen = std::collections::HashSet::new();
        loop {
            let t = self.next();
            let (key, line) = match (&t.0, close) {
                (Tok::End, None) => return Ok(g),
                (Tok::Punct(c), Some(cl)) if *c == cl => return Ok(g),
                (Tok::End, Some(_)) => return Err(self.err(&t, "missing '}' before")),
                (Tok::Word(w), _) if is_key(w) => (w.clone(), t.1),
                _ => return Err(self.err(&t, "expected a name")),
            };
            let eq = self.next();
            if eq.0 != Tok::Punct('=') {
                return Err(ConfigError::Syntax {
                    path: None,
                    line,
                    text: shorten(&key),
                    message: "expected '=' after the name",
                });
            }
            if !seen.insert(key.to_ascii_lowercase()) {
                return Err(ConfigError::Syntax {
                    path: None,
                    line,
                    text: shorten(&key),
                    message: "name given twice in the same group",
                });
            }
            let value = self.value()?;
            g.entries.push(Entry { key, value, line });
        }
    }

    fn value(&mut self) -> Result<Value, ConfigError> {
        let t = self.next();
        let nested = matches!(t.0, Tok::Punct('{' | '('));
        if nested {
            if self.depth >= MAX_DEPTH {
                return Err(self.err(&t, "nested too deeply"));
            }
            self.depth += 1;
        }
        let v = self.value_after(t);
        if nested {
            self.depth -= 1;
        }
        v
    }

    fn value_after(&mut self, t: (Tok, usize)) -> Result<Value, ConfigError> {
        match t.0 {
            Tok::Word(w) | Tok::Quoted(w) => Ok(Value::Scalar(w)),
            Tok::Punct('{') => Ok(Value::Group(self.group_body(Some('}'))?)),
            Tok::Punct('(') => {
                let mut items = Vec::new();
                loop {
                    match &self.peek().0 {
                        Tok::Punct(')') => {
                            self.next();
                            return Ok(Value::List(items));
                        }
                        Tok::Punct(',') => {
                            self.next();
                        }
                        Tok::End => {
                            let t = self.peek().clone();
                            return Err(self.err(&t, "missing ')' before"));
                        }
                        _ => items.push(self.value()?),
                    }
                }
            }
            _ => Err(self.err(&t, "expected a value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
# a comment
server = {
  services = (smtpIncoming, imap, pop3, cli)   # webmail not started
  hostname = "mail one"
}
smtpIncoming = { listeners = ( { address = 10.0.0.5:25 enable = yes } ) }
imap = { listeners = ( { address = 10.0.0.5:143 } { address = 10.0.0.6:143 enable = no } ) }
pop3 = { listeners = ( { address = 10.0.0.5:110 } ) }
cli  = { listeners = ( { address = 10.0.0.5:7000 } ) }
webmail = { listeners = ( { address = 10.0.0.5:80 } ) }
processing = { maxThreads = 8 unknownThing = ( a b "c d" ) }
"#;

    #[test]
    fn parses_listeners_of_active_services() {
        let c = Config::parse(SAMPLE).unwrap();
        let l = c.listeners();
        let want: Vec<(Service, &str)> = vec![
            (Service::Smtp, "10.0.0.5:25"),
            (Service::Imap, "10.0.0.5:143"),
            (Service::Pop3, "10.0.0.5:110"),
            (Service::Cli, "10.0.0.5:7000"),
        ];
        let got: Vec<(Service, String)> =
            l.iter().map(|x| (x.service, x.addr.to_string())).collect();
        let want: Vec<(Service, String)> =
            want.into_iter().map(|(s, a)| (s, a.to_string())).collect();
        assert_eq!(got, want);
        assert_eq!(c.cli_listener(), Some("10.0.0.5:7000".parse().unwrap()));
        assert_eq!(
            c.get("server.hostname").and_then(Value::as_scalar),
            Some("mail one")
        );
        assert_eq!(
            c.get("processing.maxThreads").and_then(Value::as_scalar),
            Some("8")
        );
    }

    #[test]
    fn round_trip_keeps_everything_but_comments() {
        let c = Config::parse(SAMPLE).unwrap();
        let text = c.render();
        let back = Config::parse(&text).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.render(), text);
        assert!(text.contains("hostname = \"mail one\""), "{text}");
        assert!(text.contains("unknownThing = (a, b, \"c d\")"), "{text}");
    }

    #[test]
    fn default_ports_and_base_offsets() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let d = Config::default_for(ip, None).unwrap();
        let ports: Vec<(Service, u16)> = d
            .listeners()
            .iter()
            .map(|l| (l.service, l.addr.port()))
            .collect();
        assert_eq!(
            ports,
            vec![
                (Service::Smtp, 25),
                (Service::Pop3, 110),
                (Service::Imap, 143),
                (Service::Cli, 7000),
                (Service::WebMail, 80),
                (Service::WebAdmin, 9000)
            ]
        );
        let b = Config::default_for(ip, Some(20000)).unwrap();
        let ports: Vec<u16> = b.listeners().iter().map(|l| l.addr.port()).collect();
        assert_eq!(ports, vec![20000, 20001, 20002, 20003, 20004, 20005]);
        assert_eq!(Config::parse(&b.render()).unwrap(), b);
        assert!(matches!(
            Config::default_for(ip, Some(65531)),
            Err(ConfigError::PortRange { base: 65531 })
        ));
        assert!(Config::default_for(ip, Some(0)).is_err());
        let v6 = Config::default_for("::1".parse().unwrap(), Some(1000)).unwrap();
        assert_eq!(v6.cli_listener(), Some("[::1]:1003".parse().unwrap()));
        assert_eq!(Config::parse(&v6.render()).unwrap(), v6);
    }

    #[test]
    fn names_are_case_insensitive_and_block_comments_skipped() {
        let c = Config::parse(
            "/* header\n spanning lines */ Server = { Services = (CLI, Imap) }\n\
             cli = { Listeners = ( { Address = 127.0.0.1:7000 Enable = YES } ) }\n\
             IMAP = { listeners = ( { address = 127.0.0.1:143 } ) }",
        )
        .unwrap();
        let got: Vec<Service> = c.listeners().iter().map(|l| l.service).collect();
        assert_eq!(got, vec![Service::Cli, Service::Imap]);
        assert!(c.get("server.services").is_some());
        assert!(c.render().contains("Server = {"));
        let e = err_of("a = 1\nA = 2");
        assert_eq!(e.line(), Some(2));
        let e = err_of("a = 1\n/* open\n\n");
        assert_eq!(e.line(), Some(2));
        assert!(Config::parse("path = /var/opt/axigen").is_ok());
    }

    #[test]
    fn without_services_list_every_section_is_active() {
        let c = Config::parse("cli = { listeners = ({ address = 127.0.0.1:7000 }) }").unwrap();
        assert_eq!(c.active_services(), vec![Service::Cli]);
        assert_eq!(c.listeners().len(), 1);
    }

    fn err_of(text: &str) -> ConfigError {
        Config::parse(text).expect_err(text)
    }

    #[test]
    fn errors_carry_line_and_text() {
        let e = err_of("server = {\n  services = (cli)\n  x y\n}");
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().contains("'x'"), "{e}");
        let e = err_of("server = {\n  oops\n}");
        assert_eq!(e.line(), Some(2));
        assert!(
            e.to_string().contains("'='") && e.to_string().contains("oops"),
            "{e}"
        );
        let e = err_of("a = 1\nb = \"open\n");
        assert_eq!(e.line(), Some(2));
        assert!(e.to_string().contains("unterminated"), "{e}");
        let e = err_of("a = {\n b = 1\n");
        assert!(e.to_string().contains("missing '}'"), "{e}");
        let e = err_of("\n\ncli = { listeners = ( { address = 10.0.0.5:99999 } ) }");
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().contains("10.0.0.5:99999"), "{e}");
        let e = err_of("cli = { listeners = ( { address = 10.0.0.5:7000 enable = maybe } ) }");
        assert!(e.to_string().contains("maybe"), "{e}");
        let e = err_of("a = 1\na = 2");
        assert_eq!(e.line(), Some(2));
        let e = err_of("imap = { listeners = ( { enable = yes } ) }");
        assert!(e.to_string().contains("without 'address"), "{e}");
        let e = err_of("server = { services = cli }");
        assert!(e.to_string().contains("list"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for g in [
            "=",
            "}",
            "(",
            "a",
            "a =",
            "a = (",
            "a = ( { ) }",
            "1abc = 2",
            "a = \"x\\q\"",
            "a = \u{1}",
            "\u{feff}\u{0}",
            "a = ((((((",
            "{}{}{}{}",
        ] {
            let e = err_of(g);
            assert!(e.line().is_some(), "{g:?}: {e}");
        }
        let long = "x".repeat(10_000);
        let e = err_of(&long);
        assert!(e.to_string().len() < 200);
        let deep = format!("a = {}", "(".repeat(100_000));
        assert!(err_of(&deep).to_string().contains("nested too deeply"));
        let ok_depth = format!("a = {}x{}", "(".repeat(60), ")".repeat(60));
        assert!(Config::parse(&ok_depth).is_ok());
        // Many entries parse in linear time.
        let many: String = (0..50_000).map(|i| format!("k{i} = v\n")).collect();
        assert_eq!(Config::parse(&many).unwrap().root().entries.len(), 50_000);
    }

    #[test]
    fn read_names_the_file_and_rejects_non_utf8() {
        let dir = std::env::temp_dir().join(format!("axha-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("axigen.cfg");
        std::fs::write(&p, b"a = 1\nb = \xff\n").unwrap();
        let e = Config::read(&p).unwrap_err();
        assert_eq!(e.line(), Some(2));
        assert!(e.to_string().contains("axigen.cfg line 2"), "{e}");
        let missing = Config::read(dir.join("nope")).unwrap_err();
        assert!(matches!(missing, ConfigError::Io { .. }));
        let c = Config::default_for("127.0.0.1".parse().unwrap(), Some(3000)).unwrap();
        c.write(&p).unwrap();
        assert_eq!(Config::read(&p).unwrap(), c);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn service_names_round_trip() {
        for s in Service::ALL {
            assert_eq!(s.section().parse::<Service>().unwrap(), s);
        }
        assert!("smtp".parse::<Service>().is_err());
    }
}
