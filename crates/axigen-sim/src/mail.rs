//! The mail protocols as Axigen serves them to a front-end proxy and a relay: IMAP (RFC 3501
//! subset) and POP3 (RFC 1939) logins with the account's full address and its password,
//! reading the INBOX; SMTP (RFC 5321) delivery into the mailbox of an account of this server.
//! Each protocol is a state machine over lines ([`MailSession`]), like the CLI in
//! [`crate::session`].
//!
//! ```text
//! C: a LOGIN bob@example.com secret        S: a OK LOGIN completed
//! C: b SELECT INBOX                        S: * 1 EXISTS ... b OK [READ-WRITE] SELECT completed
//! C: c FETCH 1 BODY[]                      S: * 1 FETCH (BODY[] {42} ...) c OK FETCH completed
//! C: d ID NIL                              S: * ID ("name" "Axigen-compatible stand-in" "host" "n1")
//! ```
//!
//! What moving an account between back-ends uses, as Axigen offers it over IMAP: folders
//! (`LIST`, `CREATE`, `SELECT` of any folder), `UID FETCH` (RFC 3501 section 6.4.8) with
//! `UID`, `RFC822.SIZE` and `BODY[]`, and `APPEND` with a synchronising (`{N}`) or
//! non-synchronising (`{N+}`, RFC 7888) literal. An administrator opens any account's mailbox
//! with `LOGIN "user@domain*admin" ADMINPASSWORD`: the stand-in's form of a master-user login
//! (the `*` separator of UW-IMAP and Dovecot; how a real Axigen grants an administrator access
//! to a mailbox is a deployment choice this project makes a parameter of the mover, not a fact
//! it relies on). A disabled account refuses its own logins (`NO [UNAVAILABLE]`) and answers
//! SMTP deliveries with `450 4.2.1`, a temporary failure, so the sender retries.
//!
//! What the stand-in leaves out (a proxy and a relay never need it): TLS, SASL mechanisms,
//! literals anywhere but APPEND, flags, folder hierarchy, deletion.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::faults::Fault;
use crate::session::SessionEnv;
use crate::SimError;

/// Largest message accepted over SMTP and read back from a mailbox.
pub const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// Most recipients of one SMTP transaction (RFC 5321 section 4.5.3.1.8: at least 100).
const MAX_RECIPIENTS: usize = 100;
/// Longest account file read (a password hash line).
const MAX_ACCOUNT_FILE: u64 = 4096;
const HASH_PREFIX: &str = "sha256";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(password.as_bytes());
    hex(&h.finalize())
}

/// `sha256:SALT:HASH` for a password, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, SimError> {
    let mut salt = [0u8; 12];
    getrandom::getrandom(&mut salt)
        .map_err(|e| SimError::Usage(format!("no random salt for a password: {e}")))?;
    let salt = hex(&salt);
    Ok(format!("{HASH_PREFIX}:{salt}:{}", digest(&salt, password)))
}

/// Whether `password` matches a line made by [`hash_password`].
pub fn verify_password(stored: &str, password: &str) -> bool {
    let mut parts = stored.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(HASH_PREFIX), Some(salt), Some(hash)) => {
            crate::session::constant_time_eq(digest(salt, password).as_bytes(), hash.as_bytes())
        }
        _ => false,
    }
}

/// Whether `line` has the form [`hash_password`] makes (what `hashedPassword` accepts).
pub fn is_password_hash(line: &str) -> bool {
    let mut parts = line.splitn(3, ':');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(HASH_PREFIX), Some(salt), Some(hash))
            if !salt.is_empty()
                && hash.len() == 64
                && salt.bytes().chain(hash.bytes()).all(|b| b.is_ascii_hexdigit())
    )
}

/// A small file's text (an account file), `None` when missing, unreadable or too large.
pub fn read_small(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(MAX_ACCOUNT_FILE).read_to_string(&mut s).ok()?;
    Some(s)
}

/// One stored message, at most [`MAX_MESSAGE`] bytes.
pub fn read_message(path: &Path) -> Option<Vec<u8>> {
    let f = std::fs::File::open(path).ok()?;
    let mut v = Vec::new();
    f.take(MAX_MESSAGE as u64).read_to_end(&mut v).ok()?;
    Some(v)
}

/// What a mail protocol session answers, line by line.
pub trait MailSession {
    /// The greeting sent on connect.
    fn greeting(&self) -> String;
    /// The answer to one line (without its line end) and whether to close after it.
    fn handle(&mut self, line: &str) -> (String, bool);
    /// The answer to a line longer than the reader takes.
    fn too_long(&mut self) -> String;
    /// The size of a literal the last line announced, which the connection reads next as
    /// raw bytes and hands to [`MailSession::literal`].
    fn literal_wanted(&self) -> Option<usize> {
        None
    }
    /// The answer once an announced literal and the rest of its command line are read.
    fn literal(&mut self, _data: Vec<u8>, _rest: &str) -> String {
        String::new()
    }
}

/// The words of an IMAP command's arguments: atoms and quoted strings (RFC 3501 section 4.3,
/// `\"` and `\\` escapes). `None` for a literal or an unterminated string.
fn imap_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        if c == '{' {
            return None;
        }
        let mut w = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => w.push(chars.next()?),
                    c => w.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
}

/// A message as an IMAP literal's text (the bytes as received, lossily as text).
fn literal(msg: &[u8]) -> String {
    let text = String::from_utf8_lossy(msg);
    format!("{{{}}}\r\n{text}", text.len())
}

enum ImapState {
    NotAuthenticated,
    Authenticated(String),
    /// User and the selected folder's message files (UID n is the n-th), read when fetched
    /// (a SELECT costs one directory listing, as on a real server, not a read of the folder).
    Selected(String, Vec<std::path::PathBuf>),
}

/// The literal announced at the end of an APPEND line: `{N}` or `{N+}`, with whether it is
/// non-synchronising.
fn trailing_literal(args: &str) -> Option<(usize, bool, &str)> {
    let open = args.rfind('{')?;
    let inner = args[open + 1..].strip_suffix('}')?;
    let (n, plus) = match inner.strip_suffix('+') {
        Some(n) => (n, true),
        None => (inner, false),
    };
    Some((n.parse().ok()?, plus, args[..open].trim_end()))
}

/// A message set of `FETCH` / `UID FETCH` (`n`, `a:b`, `a:*`, comma lists) as ranges,
/// `*` standing for `last`.
fn message_set(set: &str, last: usize) -> Option<Vec<(usize, usize)>> {
    let num = |s: &str| -> Option<usize> {
        if s == "*" {
            Some(last)
        } else {
            s.parse().ok()
        }
    };
    set.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                Some((a.min(b), a.max(b)))
            }
            None => num(part).map(|n| (n, n)),
        })
        .collect()
}

/// One IMAP connection.
pub struct ImapSession<'a> {
    env: &'a SessionEnv,
    host: String,
    state: ImapState,
    /// An APPEND waiting for its literal: (tag, folder, size).
    append: Option<(String, String, usize)>,
}

impl<'a> ImapSession<'a> {
    /// A new connection to this server (`host`: its name, shown in greetings and `ID`).
    pub fn new(env: &'a SessionEnv, host: &str) -> Self {
        ImapSession {
            env,
            host: host.to_string(),
            state: ImapState::NotAuthenticated,
            append: None,
        }
    }

    fn user(&self) -> Option<String> {
        match &self.state {
            ImapState::NotAuthenticated => None,
            ImapState::Authenticated(u) | ImapState::Selected(u, _) => Some(u.clone()),
        }
    }

    fn list(&self, tag: &str) -> String {
        let Some(user) = self.user() else {
            return format!("{tag} NO Log in first\r\n");
        };
        match self.env.store.folders(&user) {
            Ok(fs) => {
                let mut out = String::new();
                for f in fs {
                    out.push_str(&format!("* LIST () \"/\" \"{f}\"\r\n"));
                }
                out.push_str(&format!("{tag} OK LIST completed\r\n"));
                out
            }
            Err(e) => format!("{tag} NO [SERVERBUG] {e}\r\n"),
        }
    }

    fn create(&self, tag: &str, args: &str) -> String {
        let Some(user) = self.user() else {
            return format!("{tag} NO Log in first\r\n");
        };
        let Some(folder) = imap_words(args).and_then(|w| w.into_iter().next()) else {
            return format!("{tag} BAD CREATE needs a folder name\r\n");
        };
        if !crate::store::valid_folder(&folder) {
            return format!("{tag} NO [CANNOT] Invalid folder name\r\n");
        }
        match self.env.store.create_folder(&user, &folder) {
            Ok(true) => format!("{tag} OK CREATE completed\r\n"),
            Ok(false) => format!("{tag} NO [ALREADYEXISTS] Folder exists\r\n"),
            Err(e) => format!("{tag} NO [SERVERBUG] {e}\r\n"),
        }
    }

    fn start_append(&mut self, tag: &str, args: &str) -> String {
        let Some(user) = self.user() else {
            return format!("{tag} NO Log in first\r\n");
        };
        let Some((size, plus, head)) = trailing_literal(args) else {
            return format!("{tag} BAD APPEND needs a folder and a literal\r\n");
        };
        if size > MAX_MESSAGE {
            return format!("{tag} NO [TOOBIG] Message larger than {MAX_MESSAGE} bytes\r\n");
        }
        // Flags and a date may sit between the folder and the literal: kept out (no flags).
        let Some(folder) = imap_words(head).and_then(|w| w.into_iter().next()) else {
            return format!("{tag} BAD APPEND needs a folder\r\n");
        };
        let folder = if folder.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            folder
        };
        match self.env.store.folders(&user) {
            Ok(fs) if fs.contains(&folder) => {}
            Ok(_) => return format!("{tag} NO [TRYCREATE] No such folder\r\n"),
            Err(e) => return format!("{tag} NO [SERVERBUG] {e}\r\n"),
        }
        self.append = Some((tag.to_string(), folder, size));
        if plus {
            String::new()
        } else {
            "+ Ready for literal data\r\n".to_string()
        }
    }

    fn login(&mut self, tag: &str, args: &str) -> String {
        if !matches!(self.state, ImapState::NotAuthenticated) {
            return format!("{tag} BAD Already logged in\r\n");
        }
        let Some(w) = imap_words(args).filter(|w| w.len() == 2) else {
            return format!("{tag} BAD LOGIN needs a user and a password (no literals)\r\n");
        };
        if self.env.faults.is_set(Fault::RefuseLogins) {
            return format!("{tag} NO [UNAVAILABLE] Logins are refused\r\n");
        }
        if self.env.faults.counted_failure(Fault::FailImapLogin) {
            return format!("{tag} NO [UNAVAILABLE] Logins are refused (injected fault)\r\n");
        }
        if let Some((user, admin)) = w[0].rsplit_once('*') {
            let hosted = crate::store::split_address(user)
                .is_some_and(|(a, d)| self.env.store.account_exists(&d, &a));
            if hosted && crate::session::is_admin(self.env, admin, &w[1]) {
                self.state = ImapState::Authenticated(user.to_ascii_lowercase());
                return format!("{tag} OK [CAPABILITY IMAP4rev1 ID] LOGIN completed\r\n");
            }
            return format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
        }
        let disabled = crate::store::split_address(&w[0])
            .is_some_and(|(a, d)| self.env.store.is_disabled(&d, &a));
        if disabled {
            return format!("{tag} NO [UNAVAILABLE] Account disabled\r\n");
        }
        if self.env.store.check_login(&w[0], &w[1]) {
            self.state = ImapState::Authenticated(w[0].to_ascii_lowercase());
            format!("{tag} OK [CAPABILITY IMAP4rev1 ID] LOGIN completed\r\n")
        } else {
            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed\r\n")
        }
    }

    fn select(&mut self, tag: &str, cmd: &str, args: &str) -> String {
        let Some(user) = self.user() else {
            return format!("{tag} NO Log in first\r\n");
        };
        let folder = match imap_words(args).and_then(|w| w.into_iter().next()) {
            Some(f) if f.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
            Some(f) => f,
            None => return format!("{tag} BAD {cmd} needs a folder\r\n"),
        };
        match self.env.store.folders(&user) {
            Ok(fs) if fs.contains(&folder) => {}
            Ok(_) => return format!("{tag} NO [NONEXISTENT] No such folder\r\n"),
            Err(e) => return format!("{tag} NO [SERVERBUG] {e}\r\n"),
        }
        match self.env.store.folder_files(&user, &folder) {
            Ok(msgs) => {
                let n = msgs.len();
                self.state = ImapState::Selected(user, msgs);
                let mode = if cmd == "EXAMINE" {
                    "READ-ONLY"
                } else {
                    "READ-WRITE"
                };
                format!(
                    "* FLAGS ()\r\n* {n} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n\
                     * OK [UIDNEXT {}] Predicted next UID\r\n\
                     {tag} OK [{mode}] {cmd} completed\r\n",
                    n + 1
                )
            }
            Err(e) => format!("{tag} NO [SERVERBUG] {e}\r\n"),
        }
    }

    /// `FETCH` (by position) and `UID FETCH` (by UID: the same numbers here, see the store).
    fn fetch(&self, tag: &str, args: &str, uid: bool) -> String {
        let ImapState::Selected(_, msgs) = &self.state else {
            return format!("{tag} BAD Select a mailbox first\r\n");
        };
        let (set, items) = args.split_once(' ').unwrap_or((args, ""));
        let Some(ranges) = message_set(set, msgs.len()) else {
            return format!("{tag} BAD Bad message set\r\n");
        };
        let u = items.to_ascii_uppercase();
        let body = u.contains("BODY[]")
            || u.contains("BODY.PEEK[]")
            || u.contains("RFC822)")
            || u.trim_end_matches(')').ends_with("RFC822");
        let size = u.contains("RFC822.SIZE");
        let mut out = String::new();
        let mut seen = std::collections::BTreeSet::new();
        for (first, last) in ranges {
            for n in first.max(1)..=last.min(msgs.len()) {
                if !seen.insert(n) {
                    continue;
                }
                let mut parts = Vec::new();
                let msg = if size || body {
                    read_message(&msgs[n - 1]).unwrap_or_default()
                } else {
                    Vec::new()
                };
                if uid || u.contains("UID") {
                    parts.push(format!("UID {n}"));
                }
                if size {
                    parts.push(format!("RFC822.SIZE {}", msg.len()));
                }
                if body {
                    parts.push(format!("BODY[] {}", literal(&msg)));
                }
                if parts.is_empty() {
                    parts.push("FLAGS ()".to_string());
                }
                out.push_str(&format!("* {n} FETCH ({})\r\n", parts.join(" ")));
            }
        }
        let what = if uid { "UID FETCH" } else { "FETCH" };
        out.push_str(&format!("{tag} OK {what} completed\r\n"));
        out
    }
}

impl MailSession for ImapSession<'_> {
    fn greeting(&self) -> String {
        format!(
            "* OK [CAPABILITY IMAP4rev1 ID] {} Axigen-compatible stand-in IMAP4rev1 ready\r\n",
            self.host
        )
    }

    fn handle(&mut self, line: &str) -> (String, bool) {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        if tag.is_empty() {
            return ("* BAD Missing tag\r\n".to_string(), false);
        }
        let tag: String = tag.chars().take(64).collect();
        let (cmd, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let cmd = cmd.to_ascii_uppercase();
        let host = self.host.clone();
        let reply = match cmd.as_str() {
            "CAPABILITY" => {
                format!("* CAPABILITY IMAP4rev1 ID\r\n{tag} OK CAPABILITY completed\r\n")
            }
            "NOOP" => format!("{tag} OK NOOP completed\r\n"),
            "LOGOUT" => {
                return (
                    format!("* BYE {host} logging out\r\n{tag} OK LOGOUT completed\r\n"),
                    true,
                )
            }
            // RFC 2971: the server names itself; `host` tells which back-end answered.
            "ID" => format!(
                "* ID (\"name\" \"Axigen-compatible stand-in\" \"host\" \"{host}\")\r\n\
                 {tag} OK ID completed\r\n"
            ),
            "LOGIN" => self.login(&tag, args),
            "AUTHENTICATE" => format!("{tag} NO Use LOGIN\r\n"),
            "SELECT" | "EXAMINE" => self.select(&tag, &cmd, args),
            "FETCH" => self.fetch(&tag, args, false),
            "UID" => match args.split_once(' ') {
                Some((sub, rest)) if sub.eq_ignore_ascii_case("FETCH") => {
                    self.fetch(&tag, rest, true)
                }
                _ => format!("{tag} BAD Only UID FETCH is supported\r\n"),
            },
            "LIST" => self.list(&tag),
            "CREATE" => self.create(&tag, args),
            "APPEND" => self.start_append(&tag, args),
            "CLOSE" | "UNSELECT" => {
                if let ImapState::Selected(u, _) = &self.state {
                    self.state = ImapState::Authenticated(u.clone());
                }
                format!("{tag} OK {cmd} completed\r\n")
            }
            _ => format!("{tag} BAD Command not supported\r\n"),
        };
        (reply, false)
    }

    fn too_long(&mut self) -> String {
        "* BAD Line too long\r\n".to_string()
    }

    fn literal_wanted(&self) -> Option<usize> {
        self.append.as_ref().map(|(_, _, n)| *n)
    }

    fn literal(&mut self, data: Vec<u8>, rest: &str) -> String {
        let Some((tag, folder, _)) = self.append.take() else {
            return String::new();
        };
        if !rest.trim().is_empty() {
            return format!("{tag} BAD Only one message per APPEND\r\n");
        }
        let Some(user) = self.user() else {
            return format!("{tag} NO Log in first\r\n");
        };
        if self.env.faults.counted_failure(Fault::FailAppend) {
            return format!("{tag} NO [SERVERBUG] Not stored (injected fault)\r\n");
        }
        match self.env.store.append(&user, &folder, &data) {
            Ok(()) => format!("{tag} OK APPEND completed\r\n"),
            Err(e) => format!("{tag} NO [SERVERBUG] {e}\r\n"),
        }
    }
}

enum Pop3State {
    User,
    Pass(String),
    Transaction(Vec<Vec<u8>>),
}

/// One POP3 connection.
pub struct Pop3Session<'a> {
    env: &'a SessionEnv,
    host: String,
    state: Pop3State,
}

impl<'a> Pop3Session<'a> {
    /// A new connection to this server.
    pub fn new(env: &'a SessionEnv, host: &str) -> Self {
        Pop3Session {
            env,
            host: host.to_string(),
            state: Pop3State::User,
        }
    }
}

impl MailSession for Pop3Session<'_> {
    fn greeting(&self) -> String {
        format!(
            "+OK {} Axigen-compatible stand-in POP3 ready\r\n",
            self.host
        )
    }

    fn handle(&mut self, line: &str) -> (String, bool) {
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        let cmd = cmd.to_ascii_uppercase();
        let reply = match (cmd.as_str(), &self.state) {
            ("CAPA", _) => "+OK Capability list follows\r\nUSER\r\n.\r\n".to_string(),
            ("NOOP", _) => "+OK\r\n".to_string(),
            ("QUIT", _) => return (format!("+OK {} signing off\r\n", self.host), true),
            ("USER", Pop3State::User) if !arg.is_empty() => {
                self.state = Pop3State::Pass(arg.to_string());
                "+OK\r\n".to_string()
            }
            ("PASS", Pop3State::Pass(user)) => {
                let user = user.clone();
                if self.env.faults.is_set(Fault::RefuseLogins) {
                    self.state = Pop3State::User;
                    "-ERR [SYS/TEMP] Logins are refused\r\n".to_string()
                } else if self.env.store.check_login(&user, arg) {
                    match self.env.store.messages(&user) {
                        Ok(m) => {
                            self.state = Pop3State::Transaction(m);
                            "+OK Logged in\r\n".to_string()
                        }
                        Err(e) => {
                            self.state = Pop3State::User;
                            format!("-ERR [SYS/TEMP] {e}\r\n")
                        }
                    }
                } else {
                    self.state = Pop3State::User;
                    "-ERR [AUTH] Authentication failed\r\n".to_string()
                }
            }
            ("STAT", Pop3State::Transaction(m)) => {
                let size: usize = m.iter().map(Vec::len).sum();
                format!("+OK {} {size}\r\n", m.len())
            }
            ("LIST", Pop3State::Transaction(m)) => {
                let mut s = format!("+OK {} messages\r\n", m.len());
                for (i, msg) in m.iter().enumerate() {
                    s.push_str(&format!("{} {}\r\n", i + 1, msg.len()));
                }
                s.push_str(".\r\n");
                s
            }
            ("RETR", Pop3State::Transaction(m)) => {
                match arg
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| m.get(n.wrapping_sub(1)))
                {
                    Some(msg) => {
                        let mut s = format!("+OK {} octets\r\n", msg.len());
                        for l in String::from_utf8_lossy(msg).lines() {
                            // RFC 1939 section 3: byte-stuff lines that start with "."
                            if l.starts_with('.') {
                                s.push('.');
                            }
                            s.push_str(l);
                            s.push_str("\r\n");
                        }
                        s.push_str(".\r\n");
                        s
                    }
                    None => "-ERR No such message\r\n".to_string(),
                }
            }
            (_, Pop3State::Transaction(_)) | (_, Pop3State::User) | (_, Pop3State::Pass(_)) => {
                "-ERR Command not supported here\r\n".to_string()
            }
        };
        (reply, false)
    }

    fn too_long(&mut self) -> String {
        "-ERR Line too long\r\n".to_string()
    }
}

/// The address in `FROM:<a>` / `TO:<a>` (parameters after it ignored).
fn path_arg(arg: &str, keyword: &str) -> Option<String> {
    let (k, rest) = arg.split_once(':')?;
    if !k.trim().eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest.trim_start();
    let addr = match rest.strip_prefix('<') {
        Some(r) => r.split_once('>')?.0,
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    Some(addr.to_string())
}

/// One SMTP connection.
pub struct SmtpSession<'a> {
    env: &'a SessionEnv,
    host: String,
    from: Option<String>,
    rcpts: Vec<String>,
    /// Collecting a message (after `DATA`), and whether it grew too large.
    data: Option<(Vec<u8>, bool)>,
}

impl<'a> SmtpSession<'a> {
    /// A new connection to this server.
    pub fn new(env: &'a SessionEnv, host: &str) -> Self {
        SmtpSession {
            env,
            host: host.to_string(),
            from: None,
            rcpts: Vec::new(),
            data: None,
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
        self.data = None;
    }

    fn end_of_data(&mut self) -> String {
        let Some((msg, too_big)) = self.data.take() else {
            return "503 5.5.1 No message\r\n".to_string();
        };
        let rcpts = std::mem::take(&mut self.rcpts);
        self.from = None;
        if too_big {
            return format!("552 5.3.4 Message larger than {MAX_MESSAGE} bytes\r\n");
        }
        // One recipient per transaction is what a relay sends a back-end (it routes each
        // recipient by the directory); with several, the first failure ends the delivery.
        for r in &rcpts {
            match self.env.store.deliver(r, &msg) {
                Ok(true) => {}
                Ok(false) => {
                    return format!("450 4.2.1 <{r}>: mailbox disabled, try again later\r\n")
                }
                Err(e) => return format!("451 4.3.0 Not stored for {r}: {e}\r\n"),
            }
        }
        format!("250 2.0.0 Delivered to {} mailbox(es)\r\n", rcpts.len())
    }
}

impl MailSession for SmtpSession<'_> {
    fn greeting(&self) -> String {
        format!(
            "220 {} ESMTP Axigen-compatible stand-in ready\r\n",
            self.host
        )
    }

    fn handle(&mut self, line: &str) -> (String, bool) {
        if let Some((msg, too_big)) = &mut self.data {
            if line == "." {
                return (self.end_of_data(), false);
            }
            // RFC 5321 section 4.5.2: a leading "." was doubled by the client.
            let l = line.strip_prefix('.').unwrap_or(line);
            if msg.len() + l.len() + 2 > MAX_MESSAGE {
                *too_big = true;
            } else {
                msg.extend_from_slice(l.as_bytes());
                msg.extend_from_slice(b"\r\n");
            }
            return (String::new(), false);
        }
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        let host = self.host.clone();
        let reply = match cmd.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.reset();
                format!("250-{host}\r\n250-PIPELINING\r\n250 SIZE {MAX_MESSAGE}\r\n")
            }
            "HELO" => {
                self.reset();
                format!("250 {host}\r\n")
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_string(),
            "RSET" => {
                self.reset();
                "250 2.0.0 OK\r\n".to_string()
            }
            "QUIT" => return (format!("221 2.0.0 {host} closing connection\r\n"), true),
            "MAIL" => match path_arg(arg, "FROM") {
                Some(_) if self.from.is_some() => "503 5.5.1 Nested MAIL\r\n".to_string(),
                Some(f) => {
                    self.from = Some(f);
                    "250 2.1.0 OK\r\n".to_string()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".to_string(),
            },
            "RCPT" => match path_arg(arg, "TO") {
                _ if self.from.is_none() => "503 5.5.1 MAIL first\r\n".to_string(),
                _ if self.rcpts.len() >= MAX_RECIPIENTS => {
                    "452 4.5.3 Too many recipients\r\n".to_string()
                }
                // Axigen: a disabled account's mail is deferred, never bounced.
                Some(to)
                    if crate::store::split_address(&to)
                        .is_some_and(|(a, d)| self.env.store.is_disabled(&d, &a)) =>
                {
                    format!("450 4.2.1 <{to}>: mailbox disabled, try again later\r\n")
                }
                Some(to) if self.env.store.has_address(&to) => {
                    self.rcpts.push(to);
                    "250 2.1.5 OK\r\n".to_string()
                }
                // Axigen refuses a recipient it does not host: the relay must route by the
                // directory, never guess.
                Some(to) => format!("550 5.1.1 <{to}>: no such mailbox here\r\n"),
                None => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".to_string(),
            },
            "DATA" if self.rcpts.is_empty() => "554 5.5.1 No valid recipients\r\n".to_string(),
            "DATA" => {
                self.data = Some((Vec::new(), false));
                "354 End data with <CR><LF>.<CR><LF>\r\n".to_string()
            }
            "" => "500 5.5.2 Empty command\r\n".to_string(),
            _ => "502 5.5.1 Command not implemented by the stand-in\r\n".to_string(),
        };
        (reply, false)
    }

    fn too_long(&mut self) -> String {
        match &mut self.data {
            Some((_, too_big)) => {
                *too_big = true;
                String::new()
            }
            None => "500 5.5.2 Line too long\r\n".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Faults;
    use crate::store::Store;
    use std::collections::BTreeSet;

    fn env(tag: &str) -> (SessionEnv, std::path::PathBuf) {
        let d = std::env::temp_dir().join(format!("axsim-mail-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("faults")).unwrap();
        let store = Store::new(d.join("domains"));
        let accounts: BTreeSet<String> = ["bob".to_string()].into();
        store.create_domain("example.com", &accounts).unwrap();
        store.set_password("example.com", "bob", "s3cret").unwrap();
        let e = SessionEnv {
            store,
            faults: Faults::new(d.join("faults")),
            admin_pw_path: d.join("admin.pw"),
        };
        (e, d)
    }

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password("pw").unwrap();
        assert!(h.starts_with("sha256:") && !h.contains("pw:"));
        assert!(verify_password(&h, "pw"));
        assert!(!verify_password(&h, "pW"));
        assert!(!verify_password("garbage", "pw"));
        assert_ne!(h, hash_password("pw").unwrap(), "salted");
    }

    #[test]
    fn smtp_delivers_and_imap_reads() {
        let (e, d) = env("flow");
        let mut s = SmtpSession::new(&e, "n1");
        assert!(s.greeting().starts_with("220 "));
        assert!(s.handle("EHLO relay").0.starts_with("250-"));
        assert!(s.handle("RCPT TO:<bob@example.com>").0.starts_with("503"));
        assert!(s.handle("MAIL FROM:<a@b.c> SIZE=10").0.starts_with("250"));
        assert!(s
            .handle("RCPT TO:<nobody@example.com>")
            .0
            .starts_with("550"));
        assert!(s.handle("RCPT TO:<bob@Example.COM>").0.starts_with("250"));
        assert!(s.handle("DATA").0.starts_with("354"));
        assert_eq!(s.handle("Subject: t1").0, "");
        assert_eq!(s.handle("..dot").0, "");
        assert!(s.handle(".").0.starts_with("250"));
        let msgs = e.store.messages("bob@example.com").unwrap();
        assert_eq!(msgs, vec![b"Subject: t1\r\n.dot\r\n".to_vec()]);

        let mut i = ImapSession::new(&e, "n1");
        assert!(i.handle("a SELECT INBOX").0.starts_with("a NO"));
        assert!(i
            .handle("a LOGIN bob@example.com wrong")
            .0
            .contains("AUTHENTICATIONFAILED"));
        assert!(i
            .handle("b LOGIN \"bob@example.com\" \"s3cret\"")
            .0
            .starts_with("b OK"));
        assert!(i.handle("c SELECT INBOX").0.contains("* 1 EXISTS"));
        let f = i.handle("d FETCH 1 BODY[]").0;
        assert!(
            f.contains("Subject: t1") && f.ends_with("d OK FETCH completed\r\n"),
            "{f}"
        );
        assert!(i.handle("e ID NIL").0.contains("\"host\" \"n1\""));
        assert!(i.handle("f LOGIN x {3}").0.starts_with("f BAD"));
        assert!(i.handle("g LOGOUT").1);

        let mut p = Pop3Session::new(&e, "n1");
        p.handle("USER bob@example.com");
        assert!(p.handle("PASS bad").0.starts_with("-ERR [AUTH]"));
        p.handle("USER bob@example.com");
        assert!(p.handle("PASS s3cret").0.starts_with("+OK"));
        assert_eq!(p.handle("STAT").0, format!("+OK 1 {}\r\n", msgs[0].len()));
        assert!(p.handle("RETR 1").0.contains("\r\n..dot\r\n.\r\n"));
        assert!(p.handle("RETR 0").0.starts_with("-ERR"));

        e.faults.set(Fault::RefuseLogins, None).unwrap();
        let mut i = ImapSession::new(&e, "n1");
        assert!(i
            .handle("a LOGIN bob@example.com s3cret")
            .0
            .contains("UNAVAILABLE"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn folders_append_uid_fetch_and_disable() {
        let (e, d) = env("move");
        std::fs::write(&e.admin_pw_path, "adm\n").unwrap();
        let mut i = ImapSession::new(&e, "n1");
        assert!(i
            .handle("a LOGIN bob@example.com*admin wrong")
            .0
            .contains("AUTHENTICATIONFAILED"));
        assert!(i
            .handle("a LOGIN bob@example.com*admin adm")
            .0
            .starts_with("a OK"));
        assert!(i.handle("b CREATE Archive").0.starts_with("b OK"));
        assert!(i.handle("b CREATE Archive").0.contains("ALREADYEXISTS"));
        assert!(i.handle("c LIST \"\" \"*\"").0.contains("\"Archive\""));
        assert!(i.handle("d APPEND Nope {3+}").0.contains("TRYCREATE"));
        assert_eq!(i.handle("d APPEND Archive (\\Seen) {5+}").0, "");
        assert_eq!(i.literal_wanted(), Some(5));
        assert!(i.literal(b"hello".to_vec(), "").starts_with("d OK"));
        assert!(i.handle("e APPEND INBOX {3}").0.starts_with("+ "));
        assert!(i.literal(b"abc".to_vec(), "").starts_with("e OK"));
        assert!(i.handle("f SELECT Archive").0.contains("* 1 EXISTS"));
        let f = i.handle("g UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])").0;
        assert!(f.contains("UID 1 RFC822.SIZE 5 BODY[] {5}\r\nhello"), "{f}");
        assert_eq!(
            e.store.messages("bob@example.com").unwrap(),
            vec![b"abc".to_vec()]
        );

        e.store.set_disabled("example.com", "bob", true).unwrap();
        let mut j = ImapSession::new(&e, "n1");
        assert!(j
            .handle("a LOGIN bob@example.com s3cret")
            .0
            .contains("UNAVAILABLE"));
        let mut s = SmtpSession::new(&e, "n1");
        s.handle("MAIL FROM:<a@b.c>");
        assert!(s
            .handle("RCPT TO:<bob@example.com>")
            .0
            .starts_with("450 4.2.1"));
        assert!(!e.store.deliver("bob@example.com", b"x").unwrap());
        e.store.set_disabled("example.com", "bob", false).unwrap();
        assert!(e.store.deliver("bob@example.com", b"x").unwrap());
        let h = e.store.password_hash("example.com", "bob").unwrap();
        assert!(is_password_hash(&h));
        assert!(!is_password_hash("sha256:zz:1"));
        // Removing the account removes its mailbox: a re-created account starts empty.
        assert!(e.store.remove_account("example.com", "bob").unwrap());
        assert!(e.store.add_account("example.com", "bob").unwrap());
        e.store.set_password_hash("example.com", "bob", &h).unwrap();
        assert!(e.store.check_login("bob@example.com", "s3cret"));
        assert!(e.store.messages("bob@example.com").unwrap().is_empty());
        assert_eq!(e.store.folders("bob@example.com").unwrap(), vec!["INBOX"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn imap_words_parse() {
        assert_eq!(
            imap_words(r#"a "b c" "d\"e""#).unwrap(),
            vec!["a", "b c", "d\"e"]
        );
        assert!(imap_words("\"open").is_none());
        assert!(imap_words("{5}").is_none());
    }
}
