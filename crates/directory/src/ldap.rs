//! The directory over LDAP (ldap3's synchronous connection).

use std::collections::{HashMap, HashSet};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConn, LdapConnSettings, LdapError, Mod, Scope, SearchEntry, StdStream};

use crate::escape::{escape_dn_value, escape_filter_value};
use crate::{parse_address, rc, Account, Backend, DirectoryError, Domain, Policy, Secret};

/// Page size for searches that may return many entries (RFC 2696 paged results), so a
/// recount works under any server size limit.
const PAGE_SIZE: i32 = 500;

/// How to reach and bind to the directory.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// `ldap://HOST:PORT` or `ldaps://HOST:PORT`; several separated by spaces (the providers of
    /// a replicated directory, as in ldap.conf's `URI`): tried in order at each connect, the
    /// first that answers is used until its connection is lost.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS (RFC 4511 section 4.14) before binding.
    pub starttls: bool,
    /// CA certificate (PEM) the server's certificate must chain to; the system store is used
    /// as well.
    pub ca_file: Option<PathBuf>,
    /// Simple bind DN; anonymous when `None`.
    pub bind_dn: Option<String>,
    /// Password of the bind DN.
    pub bind_password: Option<Secret>,
    /// Where the directory's subtree lives, e.g. `ou=mail,dc=example,dc=com`.
    pub base_dn: String,
    /// Bound for connecting and for each operation.
    pub timeout: Duration,
}

impl LdapSettings {
    /// Settings for `url` and `base_dn`: anonymous bind, no StartTLS, a 10 s timeout.
    pub fn new(url: impl Into<String>, base_dn: impl Into<String>) -> Self {
        LdapSettings {
            url: url.into(),
            starttls: false,
            ca_file: None,
            bind_dn: None,
            bind_password: None,
            base_dn: base_dn.into(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A connection to the location directory. Not shared between threads: each worker keeps
/// its own. After the connection is lost, the next call connects again.
pub struct Directory {
    settings: LdapSettings,
    conn: Option<LdapConn>,
}

fn ldap_err(op: &'static str, dn: &str, e: LdapError, url: &str) -> DirectoryError {
    match e {
        LdapError::LdapResult { result } => match result.rc {
            rc::ENTRY_ALREADY_EXISTS => DirectoryError::AlreadyExists { dn: dn.to_string() },
            rc::NO_SUCH_OBJECT => DirectoryError::NotFound { dn: dn.to_string() },
            rc::NOT_ALLOWED_ON_NON_LEAF => DirectoryError::NotEmpty { dn: dn.to_string() },
            code => DirectoryError::Ldap {
                op,
                dn: dn.to_string(),
                rc: code,
                text: result.text,
            },
        },
        other => DirectoryError::Unavailable {
            url: url.to_string(),
            reason: format!("{op} of {dn}: {other}"),
        },
    }
}

/// Values of one attribute, looked up without regard to case (servers answer with the
/// schema's spelling, not the request's).
fn values<'a>(e: &'a SearchEntry, attr: &str) -> &'a [String] {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

fn first<'a>(e: &'a SearchEntry, attr: &'static str) -> Result<&'a str, DirectoryError> {
    values(e, attr)
        .first()
        .map(String::as_str)
        .ok_or_else(|| DirectoryError::Corrupt {
            dn: e.dn.clone(),
            attr,
            value: String::new(),
        })
}

fn parse_num<T: std::str::FromStr>(
    e: &SearchEntry,
    attr: &'static str,
) -> Result<T, DirectoryError> {
    let v = first(e, attr)?;
    v.parse().map_err(|_| DirectoryError::Corrupt {
        dn: e.dn.clone(),
        attr,
        value: v.to_string(),
    })
}

fn set(v: &[&str]) -> HashSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const BACKEND_ATTRS: &[&str] = &[
    "cn",
    "axhaCliAddress",
    "mailHost",
    "axhaWeight",
    "axhaEnabled",
    "axhaAccountCount",
];
const DOMAIN_ATTRS: &[&str] = &["cn", "axhaPolicy", "axhaHomeBackend"];
const ACCOUNT_ATTRS: &[&str] = &["mail", "mailHost", "axhaBackendName"];

fn backend_from(e: &SearchEntry) -> Result<Backend, DirectoryError> {
    let enabled = match first(e, "axhaEnabled")? {
        "TRUE" => true,
        "FALSE" => false,
        v => {
            return Err(DirectoryError::Corrupt {
                dn: e.dn.clone(),
                attr: "axhaEnabled",
                value: v.to_string(),
            })
        }
    };
    Ok(Backend {
        name: first(e, "cn")?.to_string(),
        cli_address: first(e, "axhaCliAddress")?.to_string(),
        mail_host: first(e, "mailHost")?.to_string(),
        weight: parse_num(e, "axhaWeight")?,
        enabled,
        account_count: parse_num(e, "axhaAccountCount")?,
    })
}

fn domain_from(e: &SearchEntry) -> Result<Domain, DirectoryError> {
    let p = first(e, "axhaPolicy")?;
    let policy: Policy = p.parse().map_err(|_| DirectoryError::Corrupt {
        dn: e.dn.clone(),
        attr: "axhaPolicy",
        value: p.to_string(),
    })?;
    Ok(Domain {
        name: first(e, "cn")?.to_string(),
        policy,
        home: values(e, "axhaHomeBackend").first().cloned(),
    })
}

fn account_from(e: &SearchEntry) -> Result<Account, DirectoryError> {
    Ok(Account {
        address: first(e, "mail")?.to_string(),
        backend: first(e, "axhaBackendName")?.to_string(),
        mail_host: first(e, "mailHost")?.to_string(),
    })
}

/// Host and port of an `ldap://` or `ldaps://` URL (RFC 4516), default ports 389 and 636.
fn parse_host_port(url: &str) -> Option<(String, u16)> {
    let (rest, default) = if let Some(r) = url.strip_prefix("ldaps://") {
        (r, 636)
    } else {
        (url.strip_prefix("ldap://")?, 389)
    };
    let hostport = rest.split('/').next().unwrap_or("");
    if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    let (h, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hostport, default),
    };
    let h = if h.is_empty() { "localhost" } else { h };
    Some((h.to_string(), port))
}

fn bool_word(b: bool) -> &'static str {
    // RFC 4517 section 3.3.3: Boolean = "TRUE" / "FALSE"
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

impl Directory {
    /// Connect (and bind) now, so that bad settings show at once.
    pub fn connect(settings: &LdapSettings) -> Result<Self, DirectoryError> {
        let mut d = Directory {
            settings: settings.clone(),
            conn: None,
        };
        d.conn()?;
        Ok(d)
    }

    /// The settings this connection was made with.
    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    /// Connect to the first of the configured servers that answers (a stopped provider of a
    /// replicated pair is skipped at once). A configuration error stops at once; when every
    /// server is unavailable the error names them all and each one's reason.
    fn open(&self) -> Result<LdapConn, DirectoryError> {
        let mut failures = Vec::new();
        for url in self.settings.url.split_whitespace() {
            match self.open_one(url) {
                Ok(c) => return Ok(c),
                Err(DirectoryError::Unavailable { url, reason }) => {
                    failures.push(format!("{url}: {reason}"))
                }
                Err(e) => return Err(e),
            }
        }
        match failures.len() {
            0 => Err(DirectoryError::Config {
                reason: "no LDAP URL configured".into(),
            }),
            1 => Err(DirectoryError::Unavailable {
                url: self.settings.url.clone(),
                reason: failures
                    .pop()
                    .map(|f| f.split_once(": ").map(|(_, r)| r.to_string()).unwrap_or(f))
                    .unwrap_or_default(),
            }),
            _ => Err(DirectoryError::Unavailable {
                url: self.settings.url.clone(),
                reason: failures.join("; "),
            }),
        }
    }

    fn open_one(&self, url: &str) -> Result<LdapConn, DirectoryError> {
        let s = &self.settings;
        let unavailable = |reason: String| DirectoryError::Unavailable {
            url: url.to_string(),
            reason,
        };
        let mut cs = LdapConnSettings::new()
            .set_conn_timeout(s.timeout)
            .set_starttls(s.starttls);
        if s.starttls && !url.starts_with("ldap://") {
            return Err(DirectoryError::Config {
                reason: format!("StartTLS needs an ldap:// URL, not {url}"),
            });
        }
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca).map_err(|e| DirectoryError::Config {
                reason: format!("CA file {}: {e}", ca.display()),
            })?;
            let cert =
                native_tls::Certificate::from_pem(&pem).map_err(|e| DirectoryError::Config {
                    reason: format!("CA file {}: {e}", ca.display()),
                })?;
            let connector = native_tls::TlsConnector::builder()
                .add_root_certificate(cert)
                .build()
                .map_err(|e| DirectoryError::Config {
                    reason: format!("TLS setup: {e}"),
                })?;
            cs = cs.set_connector(connector);
        }
        cs = cs.set_std_stream(StdStream::Tcp(self.tcp_connect(url)?));
        let mut conn = LdapConn::with_settings(cs, url).map_err(|e| match e {
            LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) => DirectoryError::Config {
                reason: format!("URL {url}: {e}"),
            },
            other => unavailable(other.to_string()),
        })?;
        if let Some(dn) = &s.bind_dn {
            let pw = s.bind_password.as_ref().map(Secret::expose).unwrap_or("");
            let r = conn
                .with_timeout(s.timeout)
                .simple_bind(dn, pw)
                .map_err(|e| unavailable(format!("bind: {e}")))?;
            if r.rc != 0 {
                // The server's text may quote the DN, never the password.
                return Err(DirectoryError::Ldap {
                    op: "bind",
                    dn: dn.clone(),
                    rc: r.rc,
                    text: r.text,
                });
            }
        }
        Ok(conn)
    }

    /// Open the TCP connection ourselves to set TCP_NODELAY: each LDAP request is one small
    /// write, and Nagle's algorithm together with delayed ACKs would stall every request
    /// that follows another for ~40 ms.
    fn tcp_connect(&self, url: &str) -> Result<TcpStream, DirectoryError> {
        let s = &self.settings;
        let (host, port) = parse_host_port(url).ok_or_else(|| DirectoryError::Config {
            reason: format!("URL {url:?}: expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]"),
        })?;
        let unavailable = |reason: String| DirectoryError::Unavailable {
            url: url.to_string(),
            reason,
        };
        let addrs = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| unavailable(format!("resolving {host}: {e}")))?;
        let mut last = format!("{host} has no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, s.timeout) {
                Ok(t) => {
                    let _ = t.set_nodelay(true);
                    return Ok(t);
                }
                Err(e) => last = format!("connect {a}: {e}"),
            }
        }
        Err(unavailable(last))
    }

    fn conn(&mut self) -> Result<&mut LdapConn, DirectoryError> {
        if self.conn.as_mut().is_some_and(|c| c.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.open()?);
        }
        let t = self.settings.timeout;
        let c = self.conn.as_mut().expect("just set");
        c.with_timeout(t);
        Ok(c)
    }

    /// Turn an operation's outcome into ours; a lost connection is dropped so that the next
    /// call connects again.
    fn check<T>(
        &mut self,
        op: &'static str,
        dn: &str,
        r: Result<T, LdapError>,
    ) -> Result<T, DirectoryError> {
        r.map_err(|e| {
            let e = ldap_err(op, dn, e, &self.settings.url);
            if matches!(e, DirectoryError::Unavailable { .. }) {
                self.conn = None;
            }
            e
        })
    }

    fn add(&mut self, dn: &str, attrs: Vec<(&str, HashSet<String>)>) -> Result<(), DirectoryError> {
        let attrs: Vec<(String, HashSet<String>)> =
            attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let r = self.conn()?.add(dn, attrs).and_then(|r| r.success());
        self.check("add", dn, r).map(|_| ())
    }

    fn modify(&mut self, dn: &str, mods: Vec<Mod<String>>) -> Result<(), DirectoryError> {
        let r = self.conn()?.modify(dn, mods).and_then(|r| r.success());
        self.check("modify", dn, r).map(|_| ())
    }

    fn delete(&mut self, dn: &str) -> Result<(), DirectoryError> {
        let r = self.conn()?.delete(dn).and_then(|r| r.success());
        self.check("delete", dn, r).map(|_| ())
    }

    /// Read one entry; `None` when it does not exist.
    fn read(&mut self, dn: &str, attrs: &[&str]) -> Result<Option<SearchEntry>, DirectoryError> {
        let r = self
            .conn()?
            .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
            .and_then(|r| r.success());
        match self.check("read", dn, r) {
            Ok((mut entries, _)) => Ok(entries.pop().map(SearchEntry::construct)),
            Err(DirectoryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Search with paged results; `visit` sees every entry.
    fn search_paged(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
        mut visit: impl FnMut(SearchEntry) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(PAGE_SIZE)),
        ];
        let attrs: Vec<String> = attrs.iter().map(|s| s.to_string()).collect();
        let url = self.settings.url.clone();
        let conn = self.conn()?;
        let outcome: Result<Result<(), DirectoryError>, LdapError> = (|| {
            let mut stream = conn.streaming_search_with(adapters, base, scope, filter, attrs)?;
            while let Some(e) = stream.next()? {
                if let Err(e) = visit(SearchEntry::construct(e)) {
                    return Ok(Err(e));
                }
            }
            stream.result().success()?;
            Ok(Ok(()))
        })();
        match outcome {
            Ok(inner) => inner,
            Err(e) => {
                let e = ldap_err("search", base, e, &url);
                if matches!(e, DirectoryError::Unavailable { .. }) {
                    self.conn = None;
                }
                Err(e)
            }
        }
    }

    // ---- names ----

    /// Where the directory's subtree lives.
    pub fn base_dn(&self) -> &str {
        &self.settings.base_dn
    }
    /// DN of the container of back-end entries.
    pub fn backends_dn(&self) -> String {
        format!("ou=backends,{}", self.settings.base_dn)
    }
    /// DN of the container of domain entries.
    pub fn domains_dn(&self) -> String {
        format!("ou=domains,{}", self.settings.base_dn)
    }
    /// DN of back-end `name`'s entry.
    pub fn backend_dn(&self, name: &str) -> String {
        format!("cn={},{}", escape_dn_value(name), self.backends_dn())
    }
    /// DN of `domain`'s entry (its accounts' entries sit below it).
    pub fn domain_dn(&self, domain: &str) -> String {
        format!("cn={},{}", escape_dn_value(domain), self.domains_dn())
    }
    /// The DN of an account entry (the address must be validated: its domain part names the
    /// parent entry).
    pub fn account_dn(&self, address: &str) -> Result<String, DirectoryError> {
        let (address, _, domain) = parse_address(address)?;
        Ok(format!(
            "mail={},{}",
            escape_dn_value(&address),
            self.domain_dn(&domain)
        ))
    }

    // ---- tree ----

    /// Create the base entry (when its RDN is `ou=`) and the two containers, if missing.
    pub fn init_tree(&mut self) -> Result<(), DirectoryError> {
        let base = self.settings.base_dn.clone();
        if self.read(&base, &["1.1"])?.is_none() {
            let (rdn, _) = base.split_once(',').unwrap_or((&base, ""));
            let (attr, value) = rdn.split_once('=').ok_or_else(|| DirectoryError::Config {
                reason: format!("base DN {base:?} is not a DN"),
            })?;
            if !attr.trim().eq_ignore_ascii_case("ou") {
                return Err(DirectoryError::NotFound { dn: base });
            }
            self.add(
                &base,
                vec![
                    ("objectClass", set(&["top", "organizationalUnit"])),
                    ("ou", set(&[value.trim()])),
                ],
            )?;
        }
        for (dn, ou) in [
            (self.backends_dn(), "backends"),
            (self.domains_dn(), "domains"),
        ] {
            match self.add(
                &dn,
                vec![
                    ("objectClass", set(&["top", "organizationalUnit"])),
                    ("ou", set(&[ou])),
                ],
            ) {
                Ok(()) | Err(DirectoryError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A cheap round trip (reads the base entry): for health checks.
    pub fn ping(&mut self) -> Result<(), DirectoryError> {
        let base = self.settings.base_dn.clone();
        self.read(&base, &["1.1"])?
            .map(|_| ())
            .ok_or(DirectoryError::NotFound { dn: base })
    }

    // ---- back-ends ----

    /// Record a new back-end; [`DirectoryError::AlreadyExists`] when one has that name.
    pub fn add_backend(&mut self, b: &Backend) -> Result<(), DirectoryError> {
        let dn = self.backend_dn(&b.name);
        self.add(
            &dn,
            vec![
                ("objectClass", set(&["top", "axhaBackend"])),
                ("cn", set(&[&b.name])),
                ("axhaCliAddress", set(&[&b.cli_address])),
                ("mailHost", set(&[&b.mail_host])),
                ("axhaWeight", set(&[&b.weight.to_string()])),
                ("axhaEnabled", set(&[bool_word(b.enabled)])),
                ("axhaAccountCount", set(&[&b.account_count.to_string()])),
            ],
        )
    }

    /// Every registered back-end, sorted by name.
    pub fn backends(&mut self) -> Result<Vec<Backend>, DirectoryError> {
        let mut out = Vec::new();
        let base = self.backends_dn();
        self.search_paged(
            &base,
            Scope::OneLevel,
            "(objectClass=axhaBackend)",
            BACKEND_ATTRS,
            |e| {
                out.push(backend_from(&e)?);
                Ok(())
            },
        )?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Back-end `name`, `None` when the directory has no such back-end.
    pub fn backend(&mut self, name: &str) -> Result<Option<Backend>, DirectoryError> {
        let dn = self.backend_dn(name);
        self.read(&dn, BACKEND_ATTRS)?
            .map(|e| backend_from(&e))
            .transpose()
    }

    /// Change a back-end's settings; `None` leaves a field as it is.
    pub fn update_backend(
        &mut self,
        name: &str,
        enabled: Option<bool>,
        weight: Option<u32>,
        cli_address: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let mut mods = Vec::new();
        if let Some(e) = enabled {
            mods.push(Mod::Replace(
                "axhaEnabled".to_string(),
                set(&[bool_word(e)]),
            ));
        }
        if let Some(w) = weight {
            mods.push(Mod::Replace(
                "axhaWeight".to_string(),
                set(&[&w.to_string()]),
            ));
        }
        if let Some(a) = cli_address {
            mods.push(Mod::Replace("axhaCliAddress".to_string(), set(&[a])));
        }
        if mods.is_empty() {
            return Ok(());
        }
        let dn = self.backend_dn(name);
        self.modify(&dn, mods)
    }

    /// Remove a back-end from the registry; refused while an account still names it.
    pub fn remove_backend(&mut self, name: &str) -> Result<(), DirectoryError> {
        let dn = self.backend_dn(name);
        if self.count_accounts_on(name)? > 0 {
            return Err(DirectoryError::NotEmpty { dn });
        }
        self.delete(&dn)
    }

    /// Add `delta` to a back-end's account counter in one atomic modify (RFC 4525 increment):
    /// concurrent writers never lose an update and no read is needed.
    pub fn add_to_count(&mut self, name: &str, delta: i64) -> Result<(), DirectoryError> {
        let dn = self.backend_dn(name);
        self.modify(
            &dn,
            vec![Mod::Increment(
                "axhaAccountCount".to_string(),
                delta.to_string(),
            )],
        )
    }

    /// Overwrite a back-end's counter (reconcile).
    pub fn set_count(&mut self, name: &str, count: i64) -> Result<(), DirectoryError> {
        let dn = self.backend_dn(name);
        self.modify(
            &dn,
            vec![Mod::Replace(
                "axhaAccountCount".to_string(),
                set(&[&count.to_string()]),
            )],
        )
    }

    // ---- domains ----

    /// Add a domain entry. `route_to` is the home back-end's `mailHost` for a domain-based
    /// domain: the entry then also routes the whole domain (`mailLocalAddress: @domain`), the
    /// one-entry-per-domain routing of the architecture.
    pub fn add_domain(&mut self, d: &Domain, route_to: Option<&str>) -> Result<(), DirectoryError> {
        let dn = self.domain_dn(&d.name);
        let mut attrs = vec![
            ("cn", set(&[&d.name])),
            ("axhaPolicy", set(&[d.policy.as_str()])),
        ];
        if let Some(h) = &d.home {
            attrs.push(("axhaHomeBackend", set(&[h])));
        }
        match route_to {
            Some(host) => {
                attrs.push((
                    "objectClass",
                    set(&["top", "axhaDomain", "inetLocalMailRecipient"]),
                ));
                attrs.push(("mailLocalAddress", set(&[&format!("@{}", d.name)])));
                attrs.push(("mailHost", set(&[host])));
            }
            None => attrs.push(("objectClass", set(&["top", "axhaDomain"]))),
        }
        self.add(&dn, attrs)
    }

    /// Domain `name`, `None` when it is not provisioned.
    pub fn domain(&mut self, name: &str) -> Result<Option<Domain>, DirectoryError> {
        let dn = self.domain_dn(name);
        self.read(&dn, DOMAIN_ATTRS)?
            .map(|e| domain_from(&e))
            .transpose()
    }

    /// Every provisioned domain.
    pub fn domains(&mut self) -> Result<Vec<Domain>, DirectoryError> {
        let mut out = Vec::new();
        let base = self.domains_dn();
        self.search_paged(
            &base,
            Scope::OneLevel,
            "(objectClass=axhaDomain)",
            DOMAIN_ATTRS,
            |e| {
                out.push(domain_from(&e)?);
                Ok(())
            },
        )?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Delete a domain entry; [`DirectoryError::NotEmpty`] while it has accounts.
    pub fn delete_domain(&mut self, name: &str) -> Result<(), DirectoryError> {
        let dn = self.domain_dn(name);
        self.delete(&dn)
    }

    // ---- accounts ----

    /// Add an account's routing entry under its domain.
    pub fn add_account(&mut self, a: &Account) -> Result<(), DirectoryError> {
        let (address, local, _) = parse_address(&a.address)?;
        let dn = self.account_dn(&address)?;
        self.add(
            &dn,
            vec![
                (
                    "objectClass",
                    set(&[
                        "top",
                        "person",
                        "organizationalPerson",
                        "inetOrgPerson",
                        "inetLocalMailRecipient",
                        "axhaAccount",
                    ]),
                ),
                ("cn", set(&[&address])),
                ("sn", set(&[&local])),
                ("mail", set(&[&address])),
                ("mailHost", set(&[&a.mail_host])),
                ("axhaBackendName", set(&[&a.backend])),
            ],
        )
    }

    /// The routing entry of `address`, `None` when it has none.
    pub fn account(&mut self, address: &str) -> Result<Option<Account>, DirectoryError> {
        let dn = self.account_dn(address)?;
        self.read(&dn, ACCOUNT_ATTRS)?
            .map(|e| account_from(&e))
            .transpose()
    }

    /// Look an address up the way a front-end does: `(mail=ADDRESS)` anywhere under the base.
    /// Returns every match (more than one would be a broken directory).
    pub fn route(&mut self, address: &str) -> Result<Vec<Account>, DirectoryError> {
        let filter = format!(
            "(&(objectClass=inetLocalMailRecipient)(mail={}))",
            escape_filter_value(address)
        );
        let base = self.settings.base_dn.clone();
        let mut out = Vec::new();
        self.search_paged(&base, Scope::Subtree, &filter, ACCOUNT_ATTRS, |e| {
            out.push(account_from(&e)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Remove the routing entry of `address`; [`DirectoryError::NotFound`] when it has none.
    pub fn delete_account(&mut self, address: &str) -> Result<(), DirectoryError> {
        let dn = self.account_dn(address)?;
        self.delete(&dn)
    }

    /// Count the accounts naming a back-end, by searching them (cost grows with the number of
    /// accounts: for `reconcile`, not for placement).
    pub fn count_accounts_on(&mut self, backend: &str) -> Result<u64, DirectoryError> {
        let filter = format!(
            "(&(objectClass=axhaAccount)(axhaBackendName={}))",
            escape_filter_value(backend)
        );
        let base = self.domains_dn();
        let mut n = 0u64;
        self.search_paged(&base, Scope::Subtree, &filter, &["1.1"], |_| {
            n += 1;
            Ok(())
        })?;
        Ok(n)
    }

    /// Count every account per back-end name, in one pass.
    pub fn count_all_accounts(&mut self) -> Result<HashMap<String, u64>, DirectoryError> {
        let base = self.domains_dn();
        let mut out: HashMap<String, u64> = HashMap::new();
        self.search_paged(
            &base,
            Scope::Subtree,
            "(objectClass=axhaAccount)",
            &["axhaBackendName"],
            |e| {
                let b = first(&e, "axhaBackendName")?.to_string();
                *out.entry(b).or_default() += 1;
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The addresses of a domain's accounts with their back-ends.
    pub fn accounts_of_domain(&mut self, domain: &str) -> Result<Vec<Account>, DirectoryError> {
        let base = self.domain_dn(domain);
        let mut out = Vec::new();
        self.search_paged(
            &base,
            Scope::OneLevel,
            "(objectClass=axhaAccount)",
            ACCOUNT_ATTRS,
            |e| {
                out.push(account_from(&e)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The note on an account's entry (`description`): the journal of a move in progress.
    pub fn account_note(&mut self, address: &str) -> Result<Option<String>, DirectoryError> {
        let dn = self.account_dn(address)?;
        Ok(self
            .read(&dn, &["description"])?
            .and_then(|e| e.attrs.get("description").and_then(|v| v.first().cloned())))
    }

    /// Set (or with `None` clear) the note on an account's entry.
    pub fn set_account_note(
        &mut self,
        address: &str,
        note: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let dn = self.account_dn(address)?;
        let m = match note {
            Some(n) => Mod::Replace("description".to_string(), set(&[n])),
            None => Mod::Replace("description".to_string(), HashSet::new()),
        };
        self.modify(&dn, vec![m])
    }

    /// Point an account at another back-end and set its note, in one modify (atomic: a
    /// front-end sees the old or the new route, never a mix).
    pub fn repoint_account(
        &mut self,
        address: &str,
        backend: &str,
        mail_host: &str,
        note: &str,
    ) -> Result<(), DirectoryError> {
        let dn = self.account_dn(address)?;
        self.modify(
            &dn,
            vec![
                Mod::Replace("mailHost".to_string(), set(&[mail_host])),
                Mod::Replace("axhaBackendName".to_string(), set(&[backend])),
                Mod::Replace("description".to_string(), set(&[note])),
            ],
        )
    }

    /// The accounts naming a back-end, sorted by address.
    pub fn accounts_on(&mut self, backend: &str) -> Result<Vec<Account>, DirectoryError> {
        let filter = format!(
            "(&(objectClass=axhaAccount)(axhaBackendName={}))",
            escape_filter_value(backend)
        );
        let base = self.domains_dn();
        let mut out = Vec::new();
        self.search_paged(&base, Scope::Subtree, &filter, ACCOUNT_ATTRS, |e| {
            out.push(account_from(&e)?);
            Ok(())
        })?;
        out.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(out)
    }

    /// The accounts whose note starts with `prefix` (moves in progress), with their notes.
    pub fn accounts_noted(
        &mut self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        let filter = format!(
            "(&(objectClass=axhaAccount)(description={}*))",
            escape_filter_value(prefix)
        );
        let base = self.domains_dn();
        let mut out = Vec::new();
        self.search_paged(
            &base,
            Scope::Subtree,
            &filter,
            &["mail", "description"],
            |e| {
                let mail = first(&e, "mail")?.to_string();
                let note = e
                    .attrs
                    .get("description")
                    .and_then(|v| v.first().cloned())
                    .unwrap_or_default();
                out.push((mail, note));
                Ok(())
            },
        )?;
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_is_tried_and_named() {
        // Two closed ports on this machine: both are tried, the error names each.
        let closed = |n| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let p = l.local_addr().unwrap().port();
            drop(l);
            format!("ldap://127.0.0.1:{p}/{n}")
        };
        let (a, b) = (closed(1), closed(2));
        let mut s = LdapSettings::new(format!("{a}  {b}"), "ou=m,dc=x");
        s.timeout = Duration::from_secs(2);
        let e = Directory::connect(&s)
            .err()
            .expect("nothing listens")
            .to_string();
        assert!(e.contains(&a) && e.contains(&b), "{e}");
        s.url = "  ".into();
        let e = Directory::connect(&s).err().expect("no URL").to_string();
        assert!(e.contains("no LDAP URL"), "{e}");
    }

    #[test]
    fn host_and_port_from_url() {
        let hp = |u: &str| parse_host_port(u);
        assert_eq!(hp("ldap://h:3890"), Some(("h".into(), 3890)));
        assert_eq!(hp("ldap://h"), Some(("h".into(), 389)));
        assert_eq!(hp("ldaps://h/"), Some(("h".into(), 636)));
        assert_eq!(hp("ldaps://[::1]:6360/dc=x"), Some(("::1".into(), 6360)));
        assert_eq!(hp("ldap://"), Some(("localhost".into(), 389)));
        assert_eq!(hp("http://h"), None);
        assert_eq!(hp("ldap://h:x"), None);
    }
}
