//! Mail helpers shared by the move suites and the move benchmark (included with `#[path]`):
//! SMTP delivery and IMAP seeding against axigen-sim (the Axigen stand-in), and reading a
//! back-end's mailboxes straight from its data directory (independent of the mover's own
//! IMAP client).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use axha_e2e::provision::{Lab, Sim};
use axha_e2e::slapd::BASE_DN;

/// The address of one of a sim's listeners (offsets of `axigen-sim init --base-port`).
pub fn listener(sim: &Sim, offset: u16) -> SocketAddr {
    SocketAddr::new(sim.cli.ip(), sim.cli.port() - 3 + offset)
}

pub fn smtp_addr(sim: &Sim) -> SocketAddr {
    listener(sim, 0)
}

pub fn imap_addr(sim: &Sim) -> SocketAddr {
    listener(sim, 2)
}

/// Tell the provisioning configuration where each back-end's IMAP listens.
pub fn configure_imap(lab: &Lab) {
    let mut cfg = std::fs::read_to_string(&lab.config).unwrap();
    cfg.push_str("[axigen.imap.addresses]\n");
    for s in &lab.sims {
        cfg.push_str(&format!("{} = \"{}\"\n", s.name, imap_addr(s)));
    }
    std::fs::write(&lab.config, cfg).unwrap();
}

/// A message with a Message-ID.
pub fn message(id: &str) -> String {
    format!("Message-ID: <{id}>\r\nSubject: {id}\r\n\r\nbody of {id}\r\n")
}

/// One SMTP connection to a back-end.
pub struct Smtp {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Smtp {
    pub fn connect(addr: SocketAddr) -> Smtp {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let w = s.try_clone().unwrap();
        let mut c = Smtp {
            r: BufReader::new(s),
            w,
        };
        assert!(c.reply().starts_with("220"));
        c.cmd("HELO test");
        c
    }

    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            self.r.read_line(&mut l).unwrap();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    /// Deliver one message; Err(reply) when the server refuses or defers it.
    pub fn send(&mut self, rcpt: &str, body: &str) -> Result<(), String> {
        let r = self.cmd("MAIL FROM:<load@test.example>");
        assert!(r.starts_with("250"), "{r}");
        let r = self.cmd(&format!("RCPT TO:<{rcpt}>"));
        if !r.starts_with("250") {
            self.cmd("RSET");
            return Err(r);
        }
        let r = self.cmd("DATA");
        assert!(r.starts_with("354"), "{r}");
        let r = self.cmd(&format!("{body}."));
        if r.starts_with("250") {
            Ok(())
        } else {
            Err(r)
        }
    }
}

/// Log in to IMAP as the account's user; create `folder` and append `bodies` to it.
pub fn imap_seed(addr: SocketAddr, user: &str, password: &str, folder: &str, bodies: &[String]) {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let mut expect = |r: &mut BufReader<TcpStream>, tag: &str| loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.starts_with(tag) {
            assert!(line.contains(" OK"), "{line}");
            return;
        }
    };
    expect(&mut r, "*");
    w.write_all(format!("a LOGIN {user} {password}\r\n").as_bytes())
        .unwrap();
    expect(&mut r, "a ");
    if folder != "INBOX" {
        w.write_all(format!("b CREATE {folder}\r\n").as_bytes())
            .unwrap();
        expect(&mut r, "b ");
    }
    for (i, b) in bodies.iter().enumerate() {
        w.write_all(format!("c{i} APPEND {folder} {{{}+}}\r\n{b}\r\n", b.len()).as_bytes())
            .unwrap();
        expect(&mut r, &format!("c{i} "));
    }
    w.write_all(b"z LOGOUT\r\n").unwrap();
}

/// The directory of one folder of an account in a sim's data directory.
fn folder_dir(sim: &Sim, address: &str, folder: &str) -> PathBuf {
    let (local, domain) = address.split_once('@').unwrap();
    let d = sim.workdir.join("domains").join(domain);
    if folder == "INBOX" {
        d.join("mailboxes").join(local)
    } else {
        d.join("folders").join(local).join(folder)
    }
}

/// The Message-IDs of a folder as stored by the sim, sorted (duplicates kept).
pub fn message_ids(sim: &Sim, address: &str, folder: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(folder_dir(sim, address, folder)) else {
        return out;
    };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".eml") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: <"))
            .map(|l| l.trim_end_matches('>').to_string())
            .unwrap_or_else(|| format!("(none: {name})"));
        out.push(id);
    }
    out.sort();
    out
}

/// Whether the sim hosts the account (its account file exists).
pub fn hosts(sim: &Sim, address: &str) -> bool {
    let (local, domain) = address.split_once('@').unwrap();
    sim.workdir
        .join("domains")
        .join(domain)
        .join("accounts")
        .join(local)
        .is_file()
}

/// Whether the sim has the account disabled.
pub fn disabled(sim: &Sim, address: &str) -> bool {
    let (local, domain) = address.split_once('@').unwrap();
    sim.workdir
        .join("domains")
        .join(domain)
        .join("accounts")
        .join(format!(".disabled.{local}"))
        .exists()
}

/// The account's entry as slapd holds it: (axhaBackendName, mailHost, description).
pub fn entry(lab: &Lab, address: &str) -> (String, String, Option<String>) {
    let (_, domain) = address.split_once('@').unwrap();
    let out = lab.slapd.ldapsearch(
        &format!("cn={domain},ou=domains,{BASE_DN}"),
        &format!("(mail={address})"),
        &["axhaBackendName", "mailHost", "description"],
    );
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .map(str::to_string)
    };
    (
        get("axhaBackendName").unwrap_or_default(),
        get("mailHost").unwrap_or_default(),
        get("description"),
    )
}

/// The user's own IMAP login on a sim: "OK", "UNAVAILABLE" or the answer.
pub fn user_login(sim: &Sim, user: &str, password: &str) -> String {
    let s = TcpStream::connect_timeout(&imap_addr(sim), Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    w.write_all(format!("a LOGIN {user} {password}\r\n").as_bytes())
        .unwrap();
    l.clear();
    r.read_line(&mut l).unwrap();
    if l.starts_with("a OK") {
        "OK".into()
    } else if l.contains("UNAVAILABLE") {
        "UNAVAILABLE".into()
    } else {
        l
    }
}

/// Create an account with a known password (from a file, never the command line).
pub fn create_account(lab: &Lab, address: &str, password: &str) -> String {
    let pw = lab.dir.join(format!("{address}.pw"));
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let v = lab.json(&[
        "account",
        "create",
        address,
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    v["backend"].as_str().unwrap().to_string()
}
