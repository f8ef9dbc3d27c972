//! A throwaway OpenLDAP server for the suites: `slapd` on 127.0.0.1 with a port derived from
//! the test process's pid, an mdb database in a private temp dir, the standard schemas (core,
//! cosine, inetorgperson, nis, misc) plus axigen-ha's. Optionally also ldaps with a CA made for
//! the occasion. Dropping the guard ends slapd (by its pid) and removes the directory.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axha_exec::{Cmd, Deadline, ProcessIdentity};

/// The suffix every throwaway server serves.
pub const SUFFIX: &str = "dc=example,dc=com";
/// Its root DN (no ACL applies to it).
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
/// Base DN of the location directory in tests.
pub const BASE_DN: &str = "ou=mail,dc=example,dc=com";
const ROOT_PW: &str = "lab-root-secret";
const SCHEMAS: &[&str] = &["core", "cosine", "inetorgperson", "nis", "misc"];

static INSTANCE: AtomicU32 = AtomicU32::new(0);

/// A running slapd. Stop and start it again with [`Slapd::stop`] / [`Slapd::start_again`]
/// (same database, same ports) to test what happens while the directory is down.
pub struct Slapd {
    dir: PathBuf,
    /// Holds `dir`: removed on drop, after the server stopped.
    _tmp: tempfile::TempDir,
    durable: bool,
    pub port: u16,
    pub tls_port: Option<u16>,
    proc: Option<ProcessIdentity>,
}

fn free_port(seed: u32) -> u16 {
    // Derive from pid and instance so parallel suites and a second run pick different ports;
    // step on until one is actually free.
    let mut p = 20_000 + (seed % 25_000) as u16;
    for _ in 0..200 {
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
        p = if p >= 45_000 { 20_000 } else { p + 1 };
    }
    panic!("no free port near {p}");
}

fn write_private(path: &Path, data: &str) {
    std::fs::write(path, data).expect("write test file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

fn run(cmd: Cmd) {
    let d = Deadline::after(Duration::from_secs(30));
    if let Err(e) = cmd.run_ok(&d) {
        panic!("{e}");
    }
}

impl Slapd {
    /// Start a plain `ldap://` server. Its database skips fsync on commit (`dbnosync`): the
    /// suites test behaviour, not durability, and run in parallel on shared disks.
    pub fn start() -> Slapd {
        Self::start_inner(false, false)
    }

    /// Like [`Slapd::start`], but every write is synced to disk as in production (for
    /// benchmarks).
    pub fn start_durable() -> Slapd {
        Self::start_inner(false, true)
    }

    /// Start a server that also serves ldaps and StartTLS with a certificate for 127.0.0.1
    /// signed by a fresh CA ([`Slapd::ca_file`]).
    pub fn start_with_tls() -> Slapd {
        Self::start_inner(true, false)
    }

    fn start_inner(tls: bool, durable: bool) -> Slapd {
        let n = INSTANCE.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let tmp = crate::temp_dir("slapd");
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("db")).expect("create slapd dir");
        let seed = pid.wrapping_mul(7).wrapping_add(n.wrapping_mul(101));
        let port = free_port(seed);
        let tls_port = tls.then(|| free_port(seed.wrapping_add(13_000)));
        let mut s = Slapd {
            dir,
            _tmp: tmp,
            durable,
            port,
            tls_port,
            proc: None,
        };
        if tls {
            s.make_certificates();
        }
        s.write_config();
        s.start_again();
        s.ldapadd(&format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
        ));
        s
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn ldaps_url(&self) -> Option<String> {
        self.tls_port.map(|p| format!("ldaps://127.0.0.1:{p}"))
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn root_dn(&self) -> &'static str {
        ROOT_DN
    }

    /// A file (mode 600) holding the root DN's password.
    pub fn password_file(&self) -> PathBuf {
        let p = self.dir.join("root.pw");
        if !p.exists() {
            // ldapadd -y takes the whole file as the password: no line end.
            write_private(&p, ROOT_PW);
        }
        p
    }

    fn make_certificates(&self) {
        let d = &self.dir;
        let p = |f: &str| d.join(f).display().to_string();
        run(Cmd::new("openssl").args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=axigen-ha test CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ]));
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .expect("write ext");
        run(Cmd::new("openssl").args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("server.key"),
            "-out",
            &p("server.csr"),
        ]));
        run(Cmd::new("openssl").args([
            "x509",
            "-req",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("server.pem"),
        ]));
    }

    fn write_config(&self) {
        let schema_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../crates/directory/schema/axigen-ha.schema");
        let schema = schema_dir.canonicalize().expect("axigen-ha.schema exists");
        let d = self.dir.display();
        let mut conf = String::new();
        for s in SCHEMAS {
            conf.push_str(&format!("include /etc/ldap/schema/{s}.schema\n"));
        }
        conf.push_str(&format!("include {}\n", schema.display()));
        conf.push_str(&format!(
            "pidfile {d}/slapd.pid\nargsfile {d}/slapd.args\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        ));
        if self.tls_port.is_some() {
            conf.push_str(&format!(
                "TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\nTLSCertificateKeyFile {d}/server.key\n"
            ));
        }
        conf.push_str(&format!(
            "database mdb\nmaxsize 2147483648\nsuffix \"{SUFFIX}\"\nrootdn \"{ROOT_DN}\"\nrootpw {ROOT_PW}\n\
             directory {d}/db\nindex objectClass eq\nindex mail,cn,axhaBackendName,mailLocalAddress eq\n"
        ));
        if !self.durable {
            conf.push_str("dbnosync\n");
        }
        write_private(&self.dir.join("slapd.conf"), &conf);
    }

    /// Start slapd (again) on the same database and ports.
    pub fn start_again(&mut self) {
        assert!(self.proc.is_none(), "slapd already running");
        let mut urls = self.url() + "/";
        if let Some(u) = self.ldaps_url() {
            urls = format!("{urls} {u}/");
        }
        let pidfile = self.dir.join("slapd.pid");
        let _ = std::fs::remove_file(&pidfile);
        // slapd forks into the background once its listeners are open.
        run(Cmd::new("slapd").args([
            "-f",
            &self.dir.join("slapd.conf").display().to_string(),
            "-h",
            &urls,
        ]));
        let d = Deadline::after(Duration::from_secs(10));
        let ident = crate::wait_pidfile(&pidfile, &d).expect("slapd wrote its pid file");
        self.proc = Some(ident);
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().expect("addr");
        d.poll(Duration::from_millis(50), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        })
        .expect("slapd accepts connections");
    }

    /// Stop slapd: SIGTERM, then SIGKILL if it is still there after 5 s.
    pub fn stop(&mut self) {
        let Some(p) = self.proc.take() else { return };
        p.terminate(Duration::from_secs(5));
    }

    /// Kill slapd with SIGKILL: no chance to answer or close its connections. Returns once
    /// it is gone.
    pub fn kill(&mut self) {
        let Some(p) = self.proc.take() else { return };
        if p.is_alive() {
            // SAFETY: plain syscall on the pid whose identity (start time) was checked just now.
            unsafe { libc::kill(p.pid as libc::pid_t, libc::SIGKILL) };
        }
        Deadline::after(Duration::from_secs(10))
            .poll(Duration::from_millis(20), || (!p.is_alive()).then_some(()))
            .expect("slapd gone after SIGKILL");
    }

    pub fn is_running(&self) -> bool {
        self.proc.as_ref().is_some_and(|p| p.is_alive())
    }

    /// Run `ldapadd` as the root DN (password from the file, never on the command line).
    pub fn ldapadd(&self, ldif: &str) {
        let out = self.ldapadd_result(ldif);
        assert!(out.0, "ldapadd failed: {}", out.1);
    }

    /// `ldapadd` as the root DN; (success, stderr).
    pub fn ldapadd_result(&self, ldif: &str) -> (bool, String) {
        let pw = self.password_file();
        let out = Cmd::new("ldapadd")
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-y"])
            .arg(&pw)
            .stdin(ldif.as_bytes().to_vec())
            .run(&Deadline::after(Duration::from_secs(600)))
            .expect("ldapadd runs");
        (out.status.success(), out.stderr_str())
    }

    /// `ldapsearch` as the root DN; the LDIF output.
    pub fn ldapsearch(&self, base: &str, filter: &str, attrs: &[&str]) -> String {
        let pw = self.password_file();
        Cmd::new("ldapsearch")
            .args([
                "-x",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                &self.url(),
                "-D",
                ROOT_DN,
                "-y",
            ])
            .arg(&pw)
            .args(["-b", base, filter])
            .args(attrs)
            .run_ok(&Deadline::after(Duration::from_secs(60)))
            .expect("ldapsearch")
            .stdout_str()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
