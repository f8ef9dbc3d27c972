//! The CLI dialogue of one connection, as a state machine over lines: [`CliSession::handle`]
//! takes one line and returns what to send back (ending with the next prompt).
//!
//! ```text
//! Welcome to AXIGEN's Command Line Interface        (banner, then the prompt)
//! <login> GET VERSION                                 (allowed before login)
//! 10.6.30|Linux|x86_64
//! +OK: command successful
//! <login> USER admin
//! <password> ********
//! +OK: Authentication successful
//! <#> UPDATE Domain name example.com
//! +OK: Entered domain context
//! <#domain-example.com> ADD Account name bob password ****
//! +OK: Account added (saved at COMMIT)
//! <#domain-example.com> COMMIT
//! +OK: Committed
//! <#> QUIT
//! +OK: Bye
//! ```
//! Commands and keywords are case-insensitive; parameters are `key value` pairs in any order
//! (unknown keys are ignored); values may be written as Axigen accepts them: double-quoted
//! (`\"` and `\\` escapes), single-quoted (literal), or bare with backslash escapes. Changes made
//! in a domain context (`CREATE Domain` or `UPDATE Domain`) are saved by `COMMIT` and dropped by
//! `BACK` or a disconnect, except `DISABLE Account` / `ENABLE Account`, which take effect at
//! once (an account's status is not part of a domain's pending changes), and `SHOW Account`.
//!
//! For moving accounts the stand-in offers what an Axigen administrator can do to an account
//! (see its settings, disable and enable it, create it with a password already hashed by
//! another server of the cluster). The command words used for these (`SHOW Account`,
//! `DISABLE Account`, `ENABLE Account`, `ADD Account ... hashedPassword`) are the stand-in's:
//! they were not checked against Axigen's CLI reference, so the client keeps each in one
//! method of `axha_axigen::cli::CliClient` to adapt.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::faults::{Fault, Faults};
use crate::store::{valid_account, valid_domain, Store};
use crate::workdir::{read_admin_password, DEFAULT_ADMIN_PASSWORD};

/// What the CLI says on connect, before the first prompt.
pub const BANNER: &str = "Welcome to AXIGEN's Command Line Interface\r\n\
    (Axigen-compatible stand-in: axigen-sim)\r\nYou must login first.\r\n";
/// The only administrator the stand-in knows.
pub const ADMIN_USER: &str = "admin";
const OK: &str = "+OK: command successful";

/// The version `GET VERSION` reports: Axigen's format `VERSION|OS|ARCH`.
pub fn version_string() -> String {
    format!("10.6.30|Linux|{}", std::env::consts::ARCH)
}

/// What every session of a worker shares.
#[derive(Debug)]
pub struct SessionEnv {
    /// The domains, accounts and mailboxes.
    pub store: Store,
    /// The faults switched on.
    pub faults: Faults,
    /// The file holding the CLI admin password.
    pub admin_pw_path: PathBuf,
}

#[derive(Debug)]
enum State {
    Login,
    Password { user: String },
    Admin,
    Domain(DomainCtx),
}

/// A domain being created or changed: what `COMMIT` will apply. Only the changes are kept
/// (never the domain's whole account list), so a context on a domain of any size is cheap.
#[derive(Debug)]
struct DomainCtx {
    name: String,
    is_new: bool,
    /// Accounts to add, with the password given (Axigen keeps it for the account's logins).
    added: BTreeMap<String, Option<Password>>,
    removed: BTreeSet<String>,
}

/// An account's password as `ADD Account` gives it: in clear (`password P`) or already
/// hashed by a server of the cluster (`hashedPassword H`, how an account moved between
/// back-ends keeps its password).
#[derive(Debug)]
enum Password {
    Clear(String),
    Hashed(String),
}

impl Password {
    /// The line the account file keeps: a clear password salted and hashed, a hash as given
    /// (checked when the command was read).
    fn line(&self) -> Result<String, crate::SimError> {
        match self {
            Password::Clear(pw) => crate::mail::hash_password(pw),
            Password::Hashed(h) => Ok(h.clone()),
        }
    }
}

/// What to send, and whether to close the connection after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// The reply, ending with the next prompt.
    pub text: String,
    /// Close the connection after sending it.
    pub close: bool,
}

/// One CLI connection's dialogue state.
pub struct CliSession<'a> {
    env: &'a SessionEnv,
    state: State,
}

impl<'a> CliSession<'a> {
    /// A new connection, at the login prompt.
    pub fn new(env: &'a SessionEnv) -> Self {
        CliSession {
            env,
            state: State::Login,
        }
    }

    /// The banner and first prompt.
    pub fn greeting(&self) -> String {
        format!("{BANNER}{}", self.prompt())
    }

    /// The prompt the session shows now (`<login> `, `<#> `, `<#domain-D> `...).
    pub fn prompt(&self) -> String {
        match &self.state {
            State::Login => "<login> ".to_string(),
            State::Password { .. } => "<password> ".to_string(),
            State::Admin => "<#> ".to_string(),
            State::Domain(c) => format!("<#domain-{}> ", c.name),
        }
    }

    /// What to answer a line that was too long to read.
    pub fn too_long(&mut self, max: usize) -> Answer {
        if matches!(self.state, State::Password { .. }) {
            self.state = State::Login;
        }
        self.reply(&format!("-ERR: Line too long (at most {max} bytes)"))
    }

    fn reply(&self, status: &str) -> Answer {
        Answer {
            text: format!("{status}\r\n{}", self.prompt()),
            close: false,
        }
    }

    fn body_reply(&self, body: &[String], status: &str) -> Answer {
        let mut text = String::new();
        for l in body {
            text.push_str(l);
            text.push_str("\r\n");
        }
        text.push_str(status);
        text.push_str("\r\n");
        text.push_str(&self.prompt());
        Answer { text, close: false }
    }

    /// Handle one line (without its line end).
    pub fn handle(&mut self, line: &str) -> Answer {
        if let State::Password { user } = &self.state {
            let user = user.clone();
            return self.check_password(&user, line);
        }
        let words = match split_words(line) {
            Ok(w) => w,
            Err(m) => return self.reply(&format!("-ERR: {m}")),
        };
        let Some(first) = words.first() else {
            return Answer {
                text: self.prompt(),
                close: false,
            };
        };
        let cmd = first.to_ascii_uppercase();
        let obj = words
            .get(1)
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        let params = &words[words.len().min(2)..];
        match (cmd.as_str(), obj.as_str()) {
            ("QUIT" | "EXIT", _) => Answer {
                text: "+OK: Bye\r\n".to_string(),
                close: true,
            },
            ("GET", "VERSION") => self.body_reply(&[version_string()], OK),
            ("HELP", _) => self.body_reply(&help(&self.state), OK),
            ("USER", _) if matches!(self.state, State::Login) => match words.get(1) {
                Some(u) => {
                    self.state = State::Password { user: u.clone() };
                    Answer {
                        text: self.prompt(),
                        close: false,
                    }
                }
                None => self.reply("-ERR: USER needs a name"),
            },
            _ if matches!(self.state, State::Login) => self.reply("-ERR: You must login first"),
            _ if self.env.faults.command_fails(&cmd, &obj) => {
                self.reply("-ERR: Command failed (injected fault)")
            }
            ("LIST", "DOMAINS") => match self.env.store.domains() {
                Ok(d) => self.body_reply(&table("domains", &d), OK),
                Err(e) => self.reply(&format!("-ERR: {e}")),
            },
            ("CREATE", "DOMAIN") => self.create_domain(params),
            ("UPDATE", "DOMAIN") => self.update_domain(params),
            ("DELETE", "DOMAIN") => self.delete_domain(params),
            ("COMMIT", _) => self.commit(),
            ("BACK" | "CANCEL", _) => {
                self.state = State::Admin;
                self.reply("+OK: Changes discarded")
            }
            ("ADD", "ACCOUNT") => self.add_account(params),
            ("REMOVE", "ACCOUNT") => self.remove_account(params),
            ("LIST", "ACCOUNTS") => self.list_accounts(),
            ("SHOW", "ACCOUNT") => self.show_account(params),
            ("DISABLE", "ACCOUNT") => self.set_account_status(params, true),
            ("ENABLE", "ACCOUNT") => self.set_account_status(params, false),
            _ => self.reply("-ERR: Invalid command"),
        }
    }
}

/// Whether `user`/`password` are the administrator's credentials of this server.
pub fn is_admin(env: &SessionEnv, user: &str, password: &str) -> bool {
    let expected = match read_admin_password(&env.admin_pw_path) {
        Ok(Some(p)) => p,
        Ok(None) => DEFAULT_ADMIN_PASSWORD.to_string(),
        Err(e) => {
            crate::log("worker", &format!("cannot check a login: {e}"));
            return false;
        }
    };
    user == ADMIN_USER && constant_time_eq(password.as_bytes(), expected.as_bytes())
}

impl CliSession<'_> {
    fn check_password(&mut self, user: &str, password: &str) -> Answer {
        self.state = State::Login;
        if self.env.faults.is_set(Fault::RefuseLogins) {
            return self.reply("-ERR: Authentication failed");
        }
        if is_admin(self.env, user, password) {
            self.state = State::Admin;
            self.reply("+OK: Authentication successful")
        } else {
            self.reply("-ERR: Authentication failed")
        }
    }

    fn create_domain(&mut self, params: &[String]) -> Answer {
        if !matches!(self.state, State::Admin) {
            return self.reply("-ERR: COMMIT or BACK the current context first");
        }
        let p = match pairs(params) {
            Ok(p) => p,
            Err(m) => return self.reply(&format!("-ERR: {m}")),
        };
        let Some(name) = p.get("name").map(|n| n.to_ascii_lowercase()) else {
            return self.reply("-ERR: CREATE Domain needs 'name D'");
        };
        if !valid_domain(&name) {
            return self.reply("-ERR: Invalid domain name");
        }
        if self.env.store.domain_exists(&name) {
            return self.reply("-ERR: Domain already exists");
        }
        self.state = State::Domain(DomainCtx {
            name,
            is_new: true,
            added: BTreeMap::from([("postmaster".to_string(), None)]),
            removed: BTreeSet::new(),
        });
        self.reply("+OK: Domain context entered (COMMIT to create it)")
    }

    fn update_domain(&mut self, params: &[String]) -> Answer {
        if !matches!(self.state, State::Admin) {
            return self.reply("-ERR: COMMIT or BACK the current context first");
        }
        let p = match pairs(params) {
            Ok(p) => p,
            Err(m) => return self.reply(&format!("-ERR: {m}")),
        };
        let Some(name) = p.get("name").map(|n| n.to_ascii_lowercase()) else {
            return self.reply("-ERR: UPDATE Domain needs 'name D'");
        };
        if !self.env.store.domain_exists(&name) {
            return self.reply("-ERR: No such domain");
        }
        self.state = State::Domain(DomainCtx {
            name,
            is_new: false,
            added: BTreeMap::new(),
            removed: BTreeSet::new(),
        });
        self.reply("+OK: Entered domain context")
    }

    fn delete_domain(&mut self, params: &[String]) -> Answer {
        if !matches!(self.state, State::Admin) {
            return self.reply("-ERR: COMMIT or BACK the current context first");
        }
        let p = match pairs(params) {
            Ok(p) => p,
            Err(m) => return self.reply(&format!("-ERR: {m}")),
        };
        let Some(name) = p.get("name").map(|n| n.to_ascii_lowercase()) else {
            return self.reply("-ERR: DELETE Domain needs 'name D'");
        };
        match self.env.store.delete_domain(&name) {
            Ok(true) => self.reply("+OK: Domain deleted"),
            Ok(false) => self.reply("-ERR: No such domain"),
            Err(e) => self.reply(&format!("-ERR: {e}")),
        }
    }

    fn account_param(
        &self,
        params: &[String],
        verb: &str,
    ) -> Result<(String, Option<Password>), Answer> {
        if !matches!(self.state, State::Domain(_)) {
            return Err(self.reply("-ERR: No domain context (UPDATE Domain name D first)"));
        }
        let p = pairs(params).map_err(|m| self.reply(&format!("-ERR: {m}")))?;
        let Some(name) = p.get("name") else {
            return Err(self.reply(&format!("-ERR: {verb} Account needs 'name U'")));
        };
        if !valid_account(name) {
            return Err(self.reply("-ERR: Invalid account name"));
        }
        let pw = match (p.get("password"), p.get("hashedpassword")) {
            (Some(c), _) => Some(Password::Clear(c.clone())),
            (None, Some(h)) if crate::mail::is_password_hash(h) => {
                Some(Password::Hashed(h.clone()))
            }
            (None, Some(_)) => return Err(self.reply("-ERR: Invalid hashedPassword")),
            (None, None) => None,
        };
        Ok((name.clone(), pw))
    }

    fn add_account(&mut self, params: &[String]) -> Answer {
        let (name, password) = match self.account_param(params, "ADD") {
            Ok(n) => n,
            Err(a) => return a,
        };
        let store = &self.env.store;
        let State::Domain(c) = &mut self.state else {
            return self.reply("-ERR: No domain context");
        };
        let exists = c.added.contains_key(&name)
            || (!c.is_new && !c.removed.contains(&name) && store.account_exists(&c.name, &name));
        if exists {
            return self.reply("-ERR: Account already exists");
        }
        // A removed and re-added account keeps its files; the new password replaces the old.
        c.removed.remove(&name);
        c.added.insert(name, password);
        self.reply("+OK: Account added (saved at COMMIT)")
    }

    fn remove_account(&mut self, params: &[String]) -> Answer {
        let name = match self.account_param(params, "REMOVE") {
            Ok((n, _)) => n,
            Err(a) => return a,
        };
        let store = &self.env.store;
        let State::Domain(c) = &mut self.state else {
            return self.reply("-ERR: No domain context");
        };
        let removed = c.added.remove(&name).is_some()
            || (!c.is_new
                && !c.removed.contains(&name)
                && store.account_exists(&c.name, &name)
                && c.removed.insert(name));
        if removed {
            self.reply("+OK: Account removed (saved at COMMIT)")
        } else {
            self.reply("-ERR: No such account")
        }
    }

    /// The saved account `name` of the current (existing) domain context, or the answer.
    fn saved_account(&self, params: &[String], verb: &str) -> Result<(String, String), Answer> {
        let (name, _) = self.account_param(params, verb)?;
        let State::Domain(c) = &self.state else {
            return Err(self.reply("-ERR: No domain context"));
        };
        if c.is_new || !self.env.store.account_exists(&c.name, &name) {
            return Err(self.reply("-ERR: No such account"));
        }
        Ok((c.name.clone(), name))
    }

    /// `SHOW Account name U`: the account's status and hashed password (as Axigen shows an
    /// account's settings to its administrator).
    fn show_account(&self, params: &[String]) -> Answer {
        let (domain, name) = match self.saved_account(params, "SHOW") {
            Ok(x) => x,
            Err(a) => return a,
        };
        let store = &self.env.store;
        let status = if store.is_disabled(&domain, &name) {
            "disabled"
        } else {
            "enabled"
        };
        let mut body = vec![format!("name = {name}"), format!("status = {status}")];
        if let Some(h) = store.password_hash(&domain, &name) {
            body.push(format!("hashedPassword = {h}"));
        }
        self.body_reply(&body, OK)
    }

    /// `DISABLE Account name U` / `ENABLE Account name U`, applied at once (Axigen: a
    /// disabled account refuses logins and answers deliveries with a temporary failure).
    fn set_account_status(&self, params: &[String], disabled: bool) -> Answer {
        let verb = if disabled { "DISABLE" } else { "ENABLE" };
        let (domain, name) = match self.saved_account(params, verb) {
            Ok(x) => x,
            Err(a) => return a,
        };
        match self.env.store.set_disabled(&domain, &name, disabled) {
            Ok(()) if disabled => self.reply("+OK: Account disabled"),
            Ok(()) => self.reply("+OK: Account enabled"),
            Err(e) => self.reply(&format!("-ERR: {e}")),
        }
    }

    /// The domain's accounts as the context sees them (saved ones with its changes).
    fn list_accounts(&self) -> Answer {
        let State::Domain(c) = &self.state else {
            return self.reply("-ERR: No domain context (UPDATE Domain name D first)");
        };
        let saved = if c.is_new {
            Ok(Vec::new())
        } else {
            self.env
                .store
                .accounts(&c.name)
                .map(Option::unwrap_or_default)
        };
        match saved {
            Ok(saved) => {
                let mut all: BTreeSet<String> = saved
                    .into_iter()
                    .filter(|a| !c.removed.contains(a))
                    .collect();
                all.extend(c.added.keys().cloned());
                let names: Vec<String> = all.into_iter().collect();
                self.body_reply(&table("accounts", &names), OK)
            }
            Err(e) => self.reply(&format!("-ERR: {e}")),
        }
    }

    /// Apply the context's changes and leave it.
    fn commit(&mut self) -> Answer {
        let State::Domain(c) = &self.state else {
            return self.reply("+OK: Nothing to commit");
        };
        let store = &self.env.store;
        let result = if c.is_new {
            let names: BTreeSet<String> = c.added.keys().cloned().collect();
            store.create_domain(&c.name, &names).and_then(|created| {
                if created {
                    Ok(())
                } else {
                    Err(crate::SimError::Usage("Domain already exists".into()))
                }
            })
        } else {
            (|| {
                for a in &c.removed {
                    store.remove_account(&c.name, a)?;
                }
                // Each new account is one file, created with its password line.
                for (a, pw) in &c.added {
                    let line = pw.as_ref().map(Password::line).transpose()?;
                    if !store.add_account_with(&c.name, a, line.as_deref())? {
                        if let Some(line) = line {
                            store.set_password_hash(&c.name, a, &line)?;
                        }
                    }
                }
                Ok(())
            })()
        }
        .and_then(|()| {
            if c.is_new {
                for (a, pw) in &c.added {
                    if let Some(pw) = pw {
                        store.set_password_hash(&c.name, a, &pw.line()?)?;
                    }
                }
            }
            Ok(())
        });
        self.state = State::Admin;
        match result {
            Ok(()) => self.reply("+OK: Committed"),
            Err(e) => self.reply(&format!("-ERR: Commit failed: {e}")),
        }
    }
}

/// Compare secrets without an early exit on the first difference.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn help(state: &State) -> Vec<String> {
    let mut v = vec!["GET VERSION".to_string(), "HELP".into(), "QUIT".into()];
    match state {
        State::Login | State::Password { .. } => v.push("USER <name>".into()),
        State::Admin => v.extend([
            "LIST Domains".to_string(),
            "CREATE Domain name <domain> postmasterPassword <password>".into(),
            "UPDATE Domain name <domain>".into(),
            "DELETE Domain name <domain>".into(),
        ]),
        State::Domain(_) => v.extend([
            "ADD Account name <account> password <password>".to_string(),
            "ADD Account name <account> hashedPassword <hash>".into(),
            "REMOVE Account name <account>".into(),
            "SHOW Account name <account>".into(),
            "DISABLE Account name <account>".into(),
            "ENABLE Account name <account>".into(),
            "LIST Accounts".into(),
            "COMMIT".into(),
            "BACK".into(),
        ]),
    }
    v
}

/// A listing as Axigen prints one: a title, a header, a rule, one name a line.
fn table(what: &str, names: &[String]) -> Vec<String> {
    let mut v = vec![
        format!("The list of {what}:"),
        "name".to_string(),
        "-".repeat(40),
    ];
    v.extend(names.iter().cloned());
    v
}

/// `key value` pairs, keys lower-cased.
fn pairs(words: &[String]) -> Result<BTreeMap<String, String>, String> {
    if words.len() % 2 == 1 {
        return Err(format!(
            "Missing value for '{}'",
            words[words.len() - 1].chars().take(40).collect::<String>()
        ));
    }
    Ok(words
        .chunks(2)
        .map(|c| (c[0].to_ascii_lowercase(), c[1].clone()))
        .collect())
}

/// Split on whitespace; `"..."` is one word with `\"` and `\\` escapes, `'...'` one literal
/// word, and a backslash in a bare word escapes the next character (a space, a quote).
fn split_words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(c) = chars.next() else {
            return Ok(out);
        };
        let mut w = String::new();
        match c {
            '"' => loop {
                match chars.next() {
                    None => return Err("Unterminated quoted value"),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e) => w.push(e),
                        None => return Err("Unterminated quoted value"),
                    },
                    Some(x) => w.push(x),
                }
            },
            '\'' => loop {
                match chars.next() {
                    None => return Err("Unterminated quoted value"),
                    Some('\'') => break,
                    Some(x) => w.push(x),
                }
            },
            _ => {
                let mut next = Some(c);
                while let Some(x) = next {
                    if x == '\\' {
                        match chars.next() {
                            Some(e) => w.push(e),
                            None => return Err("Escape at the end of the line"),
                        }
                    } else {
                        w.push(x);
                    }
                    next = chars.next_if(|x| !x.is_whitespace());
                }
            }
        }
        out.push(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(tag: &str) -> (SessionEnv, PathBuf) {
        let d = std::env::temp_dir().join(format!("axsim-sess-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("admin.pw"), "pw 1\n").unwrap();
        (
            SessionEnv {
                store: Store::new(d.join("domains")),
                faults: Faults::new(d.join("faults")),
                admin_pw_path: d.join("admin.pw"),
            },
            d,
        )
    }

    fn status(a: &Answer) -> &str {
        a.text.lines().rev().nth(1).unwrap_or("")
    }

    #[test]
    fn full_dialogue() {
        let (e, d) = env("full");
        let mut s = CliSession::new(&e);
        assert!(s.greeting().ends_with("<login> "));
        let v = s.handle("get version");
        assert!(v.text.starts_with("10.6.30|Linux|"), "{}", v.text);
        assert!(v.text.ends_with("+OK: command successful\r\n<login> "));
        assert!(status(&s.handle("LIST Domains")).starts_with("-ERR"));
        assert_eq!(s.handle("USER admin").text, "<password> ");
        assert!(s
            .handle("wrong")
            .text
            .starts_with("-ERR: Authentication failed"));
        s.handle("USER admin");
        let a = s.handle("pw 1");
        assert_eq!(a.text, "+OK: Authentication successful\r\n<#> ");
        let a = s.handle("CREATE Domain name Example.COM postmasterPassword \"x y\"");
        assert!(a.text.ends_with("<#domain-example.com> "), "{}", a.text);
        assert!(status(&s.handle("ADD Account name bob password p")).starts_with("+OK"));
        assert!(status(&s.handle("ADD Account name bob password p")).starts_with("-ERR"));
        assert!(status(&s.handle("ADD Account name ../x password p")).starts_with("-ERR"));
        assert!(status(&s.handle("ADD Account name")).starts_with("-ERR"));
        let l = s.handle("list accounts");
        assert!(l.text.contains("\r\nbob\r\npostmaster\r\n"), "{}", l.text);
        assert_eq!(s.handle("COMMIT").text, "+OK: Committed\r\n<#> ");
        assert!(s
            .handle("LIST Domains")
            .text
            .contains("\r\nexample.com\r\n"));
        assert!(status(&s.handle("CREATE Domain name example.com")).starts_with("-ERR"));
        s.handle("UPDATE Domain name example.com");
        s.handle("REMOVE Account name bob");
        s.handle("BACK");
        assert_eq!(
            e.store.accounts("example.com").unwrap().unwrap(),
            vec!["bob", "postmaster"],
            "BACK discards"
        );
        // Changes of an existing domain: remove then re-add, add then remove.
        s.handle("UPDATE Domain name example.com");
        assert!(status(&s.handle("REMOVE Account name bob")).starts_with("+OK"));
        assert!(status(&s.handle("REMOVE Account name bob")).starts_with("-ERR"));
        assert!(status(&s.handle("ADD Account name bob password x")).starts_with("+OK"));
        assert!(status(&s.handle("ADD Account name carol password x")).starts_with("+OK"));
        assert!(status(&s.handle("REMOVE Account name postmaster")).starts_with("+OK"));
        assert!(status(&s.handle("ADD Account name dave password x")).starts_with("+OK"));
        assert!(status(&s.handle("REMOVE Account name dave")).starts_with("+OK"));
        assert!(status(&s.handle("REMOVE Account name nobody")).starts_with("-ERR"));
        let l = s.handle("LIST Accounts");
        assert!(l.text.contains("\r\nbob\r\ncarol\r\n+OK"), "{}", l.text);
        assert_eq!(s.handle("COMMIT").text, "+OK: Committed\r\n<#> ");
        assert_eq!(
            e.store.accounts("example.com").unwrap().unwrap(),
            vec!["bob", "carol"]
        );
        assert!(status(&s.handle("FROB")).starts_with("-ERR: Invalid command"));
        s.handle("CREATE Domain name gone.example");
        s.handle("COMMIT");
        assert!(status(&s.handle("DELETE Domain name gone.example")).starts_with("+OK"));
        assert!(status(&s.handle("DELETE Domain name gone.example")).starts_with("-ERR"));
        assert_eq!(e.store.domains().unwrap(), vec!["example.com"]);
        assert!(status(&s.handle("ADD Account \"open")).starts_with("-ERR"));
        assert_eq!(s.handle("").text, "<#> ");
        assert!(s.handle("quit").close);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuse_logins_fault_and_unknown_user() {
        let (e, d) = env("refuse");
        let mut s = CliSession::new(&e);
        s.handle("USER root");
        assert!(s.handle("pw 1").text.starts_with("-ERR"));
        e.faults.set(Fault::RefuseLogins, None).unwrap();
        s.handle("USER admin");
        assert!(s
            .handle("pw 1")
            .text
            .starts_with("-ERR: Authentication failed"));
        e.faults.clear(Fault::RefuseLogins).unwrap();
        s.handle("USER admin");
        assert!(s.handle("pw 1").text.starts_with("+OK"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#" a  "b c" "d\"e" f 'g "h' i\ j\'k"#).unwrap(),
            vec!["a", "b c", "d\"e", "f", "g \"h", "i j'k"]
        );
        assert!(split_words("\"x").is_err());
        assert!(split_words("'x").is_err());
        assert!(split_words("x\\").is_err());
        assert!(pairs(&["a".into()]).is_err());
    }
}
