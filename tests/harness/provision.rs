//! Shared by the provisioning suites: a lab of one throwaway slapd and N axigen-sim back-ends
//! (axigen-sim is the Axigen stand-in: Axigen itself cannot be installed here), a
//! configuration file for axigen-provision, and helpers to run it.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::slapd::{Slapd, BASE_DN};
use crate::{bin, Cmd, Deadline};
use axha_axigen::cli::CliClient;
use axha_exec::ProcessIdentity;

static LAB: AtomicU32 = AtomicU32::new(0);

pub const ADMIN_PW: &str = "sim-admin-pw";

fn write_private(path: &Path, data: &str) {
    std::fs::write(path, data).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// One axigen-sim back-end (the Axigen stand-in) in its own workdir.
pub struct Sim {
    pub name: String,
    pub workdir: PathBuf,
    pub cli: SocketAddr,
    proc: Option<ProcessIdentity>,
}

impl Sim {
    fn new(name: &str, dir: &Path, base_port: u16) -> Sim {
        let workdir = dir.join(name);
        let pw = dir.join(format!("{name}.admin"));
        write_private(&pw, &format!("{ADMIN_PW}\n"));
        Cmd::new(bin("axigen-sim"))
            .args(["init", "-W"])
            .arg(&workdir)
            .args([
                "--address",
                "127.0.0.1",
                "--base-port",
                &base_port.to_string(),
            ])
            .arg("--admin-password-file")
            .arg(&pw)
            .run_ok(&Deadline::after(Duration::from_secs(20)))
            .unwrap();
        let mut s = Sim {
            name: name.into(),
            workdir,
            cli: format!("127.0.0.1:{}", base_port + 3).parse().unwrap(),
            proc: None,
        };
        s.start();
        s
    }

    pub fn start(&mut self) {
        Cmd::new(bin("axigen-sim"))
            .arg("-W")
            .arg(&self.workdir)
            .run_ok(&Deadline::after(Duration::from_secs(20)))
            .unwrap();
        let pidfile = self.workdir.join("run/axigen.pid");
        let d = Deadline::after(Duration::from_secs(15));
        let ident = crate::wait_pidfile(&pidfile, &d).expect("axigen-sim wrote its pid file");
        self.proc = Some(ident);
        let cli = self.cli;
        d.poll(Duration::from_millis(50), || {
            CliClient::connect(cli, &Deadline::after(Duration::from_millis(500))).ok()
        })
        .expect("axigen-sim CLI answers");
    }

    /// SIGTERM to the supervisor (its worker follows), SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(p) = self.proc.take() else { return };
        p.terminate(Duration::from_secs(10));
    }

    pub fn set_fault(&self, name: &str) {
        let d = self.workdir.join("faults");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), "").unwrap();
    }

    pub fn clear_fault(&self, name: &str) {
        let _ = std::fs::remove_file(self.workdir.join("faults").join(name));
    }

    fn session(&self) -> CliClient {
        let d = Deadline::after(Duration::from_secs(10));
        let mut c = CliClient::connect(self.cli, &d).unwrap();
        c.login("admin", ADMIN_PW).unwrap();
        c
    }

    pub fn domains(&self) -> Vec<String> {
        self.session().list_domains().unwrap()
    }

    /// Full addresses of a domain's accounts, without the postmaster.
    pub fn accounts(&self, domain: &str) -> Vec<String> {
        let mut c = self.session();
        if c.update_domain(domain).is_err() {
            return Vec::new();
        }
        let mut v: Vec<String> = c
            .list_accounts()
            .unwrap()
            .into_iter()
            .map(|a| a.split('@').next().unwrap().to_string())
            .filter(|a| a != "postmaster")
            .map(|a| format!("{a}@{domain}"))
            .collect();
        v.sort();
        v
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// slapd + back-ends + a configuration for axigen-provision.
pub struct Lab {
    pub dir: PathBuf,
    /// Holds `dir`: removed on drop, after the back-ends stopped.
    _tmp: tempfile::TempDir,
    pub slapd: Slapd,
    pub sims: Vec<Sim>,
    pub config: PathBuf,
    pub token: String,
}

impl Lab {
    /// A lab with back-ends `be1..beN` (weights given), registered, policy default least-used.
    pub fn new(weights: &[u32]) -> Lab {
        Lab::with_slapd(Slapd::start(), weights)
    }

    /// A lab on a given slapd (e.g. [`Slapd::start_durable`] for benchmarks).
    pub fn with_slapd(slapd: Slapd, weights: &[u32]) -> Lab {
        let n = LAB.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let tmp = crate::temp_dir("prov");
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("backends")).unwrap();
        let mut sims = Vec::new();
        for (i, _) in weights.iter().enumerate() {
            let name = format!("be{}", i + 1);
            let base = free_block(pid, n, i as u32);
            sims.push(Sim::new(&name, &dir, base));
            write_private(&dir.join("backends").join(&name), &format!("{ADMIN_PW}\n"));
        }
        write_private(&dir.join("postmaster.pw"), "postmaster-pw\n");
        let token = format!("tok-{pid}-{n}");
        write_private(&dir.join("token"), &format!("{token}\n"));
        let config = dir.join("provision.toml");
        let cfg = format!(
            "[ldap]\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password_file = \"{}\"\nbase_dn = \"{BASE_DN}\"\n\
             [axigen]\npassword_dir = \"{}\"\npostmaster_password_file = \"{}\"\ntimeout_secs = 5\n\
             [service]\ntoken_file = \"{}\"\nseed = 42\nworkers = 2\n",
            slapd.url(),
            slapd.root_dn(),
            slapd.password_file().display(),
            dir.join("backends").display(),
            dir.join("postmaster.pw").display(),
            dir.join("token").display(),
        );
        std::fs::write(&config, cfg).unwrap();
        let lab = Lab {
            dir,
            _tmp: tmp,
            slapd,
            sims,
            config,
            token,
        };
        lab.ok(&["init"]);
        for (i, w) in weights.iter().enumerate() {
            let s = &lab.sims[i];
            lab.ok(&[
                "backend",
                "add",
                &s.name,
                "--cli",
                &s.cli.to_string(),
                "--mail-host",
                &format!("{}.mail.example.net", s.name),
                "--weight",
                &w.to_string(),
            ]);
        }
        lab
    }

    pub fn cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new(bin("axigen-provision"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
    }

    /// Run axigen-provision; (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_cmd(self.cmd(args))
    }

    pub fn run_cmd(&self, c: Cmd) -> (i32, String, String) {
        let out = c.run(&Deadline::after(Duration::from_secs(300))).unwrap();
        (out.code().unwrap_or(-1), out.stdout_str(), out.stderr_str())
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "axigen-provision {args:?}: {err}{out}");
        out
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    pub fn sim(&self, name: &str) -> &Sim {
        self.sims.iter().find(|s| s.name == name).unwrap()
    }

    /// Account counters per back-end, from the directory.
    pub fn counts(&self) -> Vec<(String, i64)> {
        let v = self.json(&["backend", "list"]);
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["name"].as_str().unwrap().to_string(),
                    b["account_count"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    /// (address, back-end) of every account entry in a domain, by ldapsearch.
    pub fn entries(&self, domain: &str) -> Vec<(String, String)> {
        let out = self.slapd.ldapsearch(
            &format!("cn={domain},ou=domains,{BASE_DN}"),
            "(objectClass=axhaAccount)",
            &["mail", "axhaBackendName", "mailHost"],
        );
        let mut v = Vec::new();
        for entry in out.split("\n\n") {
            let get = |k: &str| {
                entry
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                    .map(str::to_string)
            };
            if let (Some(m), Some(b), Some(h)) =
                (get("mail"), get("axhaBackendName"), get("mailHost"))
            {
                assert_eq!(h, format!("{b}.mail.example.net"), "mailHost of {m}");
                v.push((m, b));
            }
        }
        v.sort();
        v
    }

    /// Write a CSV file of `n` accounts `u{i}@domain`.
    pub fn csv(&self, name: &str, domain: &str, n: usize) -> PathBuf {
        self.csv_prefixed(name, domain, "u", n)
    }

    /// Write a CSV file of `n` accounts `{prefix}{i}@domain`.
    pub fn csv_prefixed(&self, name: &str, domain: &str, prefix: &str, n: usize) -> PathBuf {
        let p = self.dir.join(name);
        let mut s = String::from("address,password\n");
        for i in 0..n {
            s.push_str(&format!("{prefix}{i}@{domain},pw-{i}\n"));
        }
        std::fs::write(&p, s).unwrap();
        p
    }

    /// Mismatches in a domain: (entries whose account is missing on their back-end, accounts
    /// on a back-end without an entry naming it), as "address@backend".
    pub fn mismatches(&self, domain: &str) -> (Vec<String>, Vec<String>) {
        let entries = self.entries(domain);
        let (mut no_account, mut no_entry) = (Vec::new(), Vec::new());
        for s in &self.sims {
            let on = s.accounts(domain);
            for (a, b) in &entries {
                if b == &s.name && !on.contains(a) {
                    no_account.push(format!("{a}@{b}"));
                }
            }
            for a in &on {
                if !entries.iter().any(|(e, b)| e == a && b == &s.name) {
                    no_entry.push(format!("{a}@{}", s.name));
                }
            }
        }
        (no_account, no_entry)
    }

    /// After an interrupted import: never an entry without an account, and an account without
    /// an entry only for a row the progress file (`state`) names pending with that back-end
    /// (the resumed import completes it there). Returns those accounts, as "address@backend".
    pub fn assert_only_pending_without_entry(&self, domain: &str, state: &str) -> Vec<String> {
        let (no_account, no_entry) = self.mismatches(domain);
        assert!(
            no_account.is_empty(),
            "entries without account: {no_account:?}"
        );
        for a in &no_entry {
            let (addr, be) = a.rsplit_once('@').unwrap();
            assert!(
                state.contains(&format!("pending {addr} {be} ")),
                "{a} not pending in {state:?}"
            );
        }
        no_entry
    }

    /// No orphans: every entry's account exists on its back-end and every account on a
    /// back-end has an entry naming it.
    pub fn assert_consistent(&self, domain: &str) {
        let entries = self.entries(domain);
        for s in &self.sims {
            let mut expected: Vec<String> = entries
                .iter()
                .filter(|(_, b)| b == &s.name)
                .map(|(a, _)| a.clone())
                .collect();
            expected.sort();
            assert_eq!(
                s.accounts(domain),
                expected,
                "accounts of {domain} on {}",
                s.name
            );
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &mut self.sims {
            s.stop();
        }
    }
}

/// A block of 6 ports for a sim, derived from the pid, lab and back-end numbers, free now.
fn free_block(pid: u32, lab: u32, i: u32) -> u16 {
    let mut base = 30_000 + ((pid.wrapping_mul(13) + lab * 97 + i * 11) % 3000) as u16 * 10;
    for _ in 0..100 {
        if (0..6).all(|k| std::net::TcpListener::bind(("127.0.0.1", base + k)).is_ok()) {
            return base;
        }
        base = if base > 60_000 { 30_000 } else { base + 10 };
    }
    panic!("no free port block");
}
