//! Configuration of the tiers around the back-end cluster in the multi-tier architecture:
//! the front-end proxies (Dovecot for IMAP/POP3, Postfix for inbound SMTP, both routing each
//! account by its `mailHost` in the LDAP location directory), the L4 load balancer (HAProxy in
//! TCP mode with health checks) and the directory pair (two OpenLDAP providers replicating
//! each other, multi-provider syncrepl). One renderer per file serves the operator snippets
//! under `cib-templates/multi-tier-n-plus-1/` and the lab that runs them.
//!
//! Why Dovecot: it is the most widely deployed IMAP/POP3 proxy, it routes by an LDAP passdb
//! out of the box (`proxy=y`, `host=<mailHost>`) and, with `nopassword=y`, forwards the
//! client's password so that the back-end (Axigen) checks it: the front-end holds no secret
//! of any user. nginx's mail proxy would need an HTTP lookup service written for it.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// IMAP, POP3 and SMTP: the ports the load balancer and the front-ends serve.
pub const MAIL_PORTS: [(&str, u16); 3] = [("imap", 143), ("pop3", 110), ("smtp", 25)];

/// LDAP filter of an account entry by its address (`%u` Dovecot's, `%s` Postfix's key).
const ACCOUNT_FILTER: &str = "(&(objectClass=inetLocalMailRecipient)(mail=KEY))";

/// Where a front-end's directory lookups go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRef {
    /// Every provider's URL, tried in order (`ldap://10.0.0.21 ldap://10.0.0.22`).
    pub uris: Vec<String>,
    /// The location directory's base DN (`ou=mail,dc=example,dc=com`).
    pub base_dn: String,
    /// The front-ends' own read-only identity; None: anonymous lookups.
    pub bind: Option<LdapBind>,
}

/// A simple-bind identity. Its password is written only into configuration files that are
/// secrets themselves (Dovecot's: root, mode 0600; Postfix's: root:postfix, mode 0640).
#[derive(Clone, PartialEq, Eq)]
pub struct LdapBind {
    /// The bind DN (`cn=frontend,dc=example,dc=com`).
    pub dn: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for LdapBind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapBind")
            .field("dn", &self.dn)
            .field("password", &"(hidden)")
            .finish()
    }
}

impl DirectoryRef {
    fn uris(&self) -> String {
        self.uris.join(" ")
    }
}

/// Files and directories a front-end's daemons use (production: the packages' defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontEndPaths {
    /// Directory of the configuration files rendered here (`/etc/dovecot`, `/etc/postfix`...).
    pub config_dir: String,
    /// Dovecot's runtime directory (`/run/dovecot`).
    pub dovecot_run: String,
    /// Dovecot's state directory (`/var/lib/dovecot`).
    pub dovecot_state: String,
    /// Dovecot's log file.
    pub dovecot_log: String,
    /// Postfix's queue directory (`/var/spool/postfix`).
    pub postfix_queue: String,
    /// Postfix's data directory (`/var/lib/postfix`).
    pub postfix_data: String,
    /// Postfix's log file (`maillog_file`).
    pub postfix_log: String,
}

impl FrontEndPaths {
    /// The Debian packages' own locations.
    pub fn debian() -> Self {
        FrontEndPaths {
            config_dir: "/etc/axigen-ha/front-end".into(),
            dovecot_run: "/run/dovecot".into(),
            dovecot_state: "/var/lib/dovecot".into(),
            dovecot_log: "/var/log/dovecot.log".into(),
            postfix_queue: "/var/spool/postfix".into(),
            postfix_data: "/var/lib/postfix".into(),
            postfix_log: "/var/log/postfix.log".into(),
        }
    }
}

/// `dovecot.conf` of a front-end: IMAP and POP3 proxy on `listen`, routing by `mailHost`.
pub fn dovecot_conf(listen: Ipv4Addr, p: &FrontEndPaths) -> String {
    format!(
        "# Dovecot 2.3 as an IMAP/POP3 proxy: every login is looked up in the location directory\n\
         # and proxied to the account's back-end (mailHost), which checks the password.\n\
         base_dir = {run}\n\
         state_dir = {state}\n\
         log_path = {log}\n\
         protocols = imap pop3\n\
         listen = {listen}\n\
         # TLS ends here in production (ssl = required + certificates); the lab speaks plain text.\n\
         ssl = no\n\
         disable_plaintext_auth = no\n\
         auth_mechanisms = plain login\n\
         # Back-end refusals are not the client's fault: no growing delay for them.\n\
         auth_failure_delay = 0\n\
         passdb {{\n  driver = ldap\n  args = {conf}/dovecot-ldap.conf.ext\n}}\n\
         service imap-login {{\n  inet_listener imap {{\n    port = 143\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
         service pop3-login {{\n  inet_listener pop3 {{\n    port = 110\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n",
        run = p.dovecot_run,
        state = p.dovecot_state,
        log = p.dovecot_log,
        conf = p.config_dir,
    )
}

/// `dovecot-ldap.conf.ext`: the passdb that turns a login into a proxy destination.
pub fn dovecot_ldap_conf(dir: &DirectoryRef) -> String {
    format!(
        "# Both providers: Dovecot moves to the next at once when one is stopped.\n\
         uris = {uris}\n\
         ldap_version = 3\n\
         base = {base}\n\
         scope = subtree\n\
         auth_bind = no\n\
         {bind}\
         pass_filter = {filter}\n\
         # proxy=y: proxy to host=mailHost; nopassword=y with no password field forwards the\n\
         # client's password to the back-end, which checks it (never return pass=y: the\n\
         # literal \"y\" would be sent as the password).\n\
         pass_attrs = =user=%{{ldap:mail}}, =proxy=y, =host=%{{ldap:mailHost}}, =nopassword=y\n",
        uris = dir.uris(),
        base = dir.base_dn,
        bind = match &dir.bind {
            Some(b) => format!(
                "# The front-ends' read-only identity (this file is opened as root: root, 0600).\n\
                 dn = {}\ndnpass = {}\n",
                b.dn, b.password
            ),
            None => String::new(),
        },
        filter = ACCOUNT_FILTER.replace("KEY", "%u"),
    )
}

/// Postfix `main.cf` of a front-end: inbound SMTP on `listen`, relayed to the recipient's
/// back-end found in the directory; `networks` may relay (the back-ends' own submissions).
pub fn postfix_main_cf(
    listen: Ipv4Addr,
    hostname: &str,
    networks: &str,
    p: &FrontEndPaths,
) -> String {
    let c = &p.config_dir;
    format!(
        "# Postfix as the SMTP router of the front-end tier: it accepts mail for the domains of the\n\
         # location directory and only for its accounts, and relays each message to the\n\
         # recipient's back-end (transport smtp:[mailHost]:25 from the directory).\n\
         compatibility_level = 3.6\n\
         myhostname = {hostname}\n\
         queue_directory = {queue}\n\
         data_directory = {data}\n\
         maillog_file = {log}\n\
         inet_interfaces = {listen}\n\
         inet_protocols = ipv4\n\
         mydestination =\n\
         local_recipient_maps =\n\
         alias_maps =\n\
         alias_database =\n\
         mynetworks = 127.0.0.0/8 {networks}\n\
         relay_domains = ldap:{c}/ldap-relay-domains.cf\n\
         relay_recipient_maps = ldap:{c}/ldap-recipients.cf\n\
         transport_maps = ldap:{c}/ldap-transport.cf\n\
         smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
         smtpd_recipient_restrictions = reject_unlisted_recipient\n\
         # A back-end that is failing over takes its mail again within seconds, not an hour.\n\
         queue_run_delay = 2s\n\
         minimal_backoff_time = 2s\n\
         maximal_backoff_time = 10s\n\
         smtp_connect_timeout = 5s\n\
         biff = no\n\
         append_dot_mydomain = no\n",
        queue = p.postfix_queue,
        data = p.postfix_data,
        log = p.postfix_log,
    )
}

/// The three LDAP tables of Postfix, as (file name, content).
pub fn postfix_ldap_maps(dir: &DirectoryRef) -> Vec<(&'static str, String)> {
    let table = |filter: &str, attr: &str, format: Option<&str>| {
        let mut s = format!(
            "server_host = {}\nsearch_base = {}\nversion = 3\nquery_filter = {filter}\nresult_attribute = {attr}\n",
            dir.uris(),
            dir.base_dn
        );
        if let Some(f) = format {
            let _ = writeln!(s, "result_format = {f}");
        }
        if let Some(b) = &dir.bind {
            let _ = write!(
                s,
                "# the front-ends' read-only identity (this file: root:postfix, mode 0640)\n\
                 bind = yes\nbind_dn = {}\nbind_pw = {}\n",
                b.dn, b.password
            );
        }
        s
    };
    let account = ACCOUNT_FILTER.replace("KEY", "%s");
    vec![
        (
            "ldap-relay-domains.cf",
            table("(&(objectClass=axhaDomain)(cn=%s))", "cn", None),
        ),
        ("ldap-recipients.cf", table(&account, "mail", None)),
        (
            "ldap-transport.cf",
            table(&account, "mailHost", Some("smtp:[%s]:25")),
        ),
    ]
}

/// Postfix `master.cf`: the services a relay needs, none chrooted.
pub fn postfix_master_cf() -> String {
    let mut s = String::from(
        "# service type  private unpriv  chroot  wakeup  maxproc command\n\
         smtp      inet  n       -       n       -       -       smtpd\n",
    );
    for (name, kind, private, wakeup, maxproc, cmd) in [
        ("pickup", "unix", "n", "60", "1", "pickup"),
        ("cleanup", "unix", "n", "-", "0", "cleanup"),
        ("qmgr", "unix", "n", "300", "1", "qmgr"),
        ("rewrite", "unix", "-", "-", "-", "trivial-rewrite"),
        ("bounce", "unix", "-", "-", "0", "bounce"),
        ("defer", "unix", "-", "-", "0", "bounce"),
        ("trace", "unix", "-", "-", "0", "bounce"),
        ("verify", "unix", "-", "-", "1", "verify"),
        ("flush", "unix", "n", "1000?", "0", "flush"),
        ("proxymap", "unix", "-", "-", "-", "proxymap"),
        ("smtp", "unix", "-", "-", "-", "smtp"),
        ("relay", "unix", "-", "-", "-", "smtp"),
        ("showq", "unix", "n", "-", "-", "showq"),
        ("error", "unix", "-", "-", "-", "error"),
        ("retry", "unix", "-", "-", "-", "error"),
        ("discard", "unix", "-", "-", "-", "discard"),
        ("anvil", "unix", "-", "-", "1", "anvil"),
        ("scache", "unix", "-", "-", "1", "scache"),
        ("postlog", "unix-dgram", "n", "-", "1", "postlogd"),
    ] {
        let _ = writeln!(
            s,
            "{name:<9} {kind:<5} {private:<7} -       n       {wakeup:<7} {maxproc:<7} {cmd}"
        );
    }
    s
}

/// `haproxy.cfg` of the load balancer: TCP mode on the VIP, each mail port spread over the
/// front-ends, a front-end dropped after two failed checks one second apart.
pub fn haproxy_cfg(vip: Ipv4Addr, front_ends: &[(String, Ipv4Addr)], dir: &DirectoryRef) -> String {
    let mut s = String::from(
        "# HAProxy at layer 4: it knows nothing of accounts, it spreads TCP connections over the\n\
         # front-ends and stops sending to one that fails its checks. It runs on every\n\
         # load-balancer node; Pacemaker moves only the VIP (bound with `transparent`, so\n\
         # HAProxy listens before the address arrives).\n\
         global\n    maxconn 4000\n\
         \x20   # read-only statistics on the loopback (`show stat`: each front-end's state and\n\
         \x20   # the seconds since it changed)\n\
         \x20   stats socket ipv4@127.0.0.1:9101 level user\n\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5m\n    timeout server 5m\n\
         \x20   # a connection refused by a dead front-end is retried on another one\n\
         \x20   retries 2\n    option redispatch\n\n",
    );
    for (name, port) in MAIL_PORTS {
        let _ = write!(
            s,
            "frontend {name}\n    bind {vip}:{port} transparent\n    default_backend {name}-front-ends\n\n\
             backend {name}-front-ends\n    balance roundrobin\n    default-server inter 1s fall 2 rise 2\n"
        );
        for (fe, addr) in front_ends {
            let _ = writeln!(s, "    server {fe} {addr}:{port} check");
        }
        s.push('\n');
    }
    s.push_str(&ldap_balancer(dir));
    s
}

/// Where a front-end's Dovecot and Postfix send their lookups: the load balancer on their own
/// node ([`LOCAL_LDAP`]), which knows every provider.
pub const LOCAL_LDAP: &str = "ldap://127.0.0.1:3389";

/// `dir` as a front-end's Dovecot and Postfix use it: through [`LOCAL_LDAP`].
pub fn through_local_balancer(dir: &DirectoryRef) -> DirectoryRef {
    DirectoryRef {
        uris: vec![LOCAL_LDAP.to_string()],
        ..dir.clone()
    }
}

/// The `listen` section that puts the providers behind [`LOCAL_LDAP`] on every front-end:
/// a provider that hangs (accepts, never answers) fails the LDAP check (an anonymous bind)
/// and its sessions are shut at once, so Dovecot and Postfix reconnect to the next one; a
/// list of URIs alone never moves on from a hung server. The first provider takes every
/// lookup while it answers (one consistent view), the others are backups.
fn ldap_balancer(dir: &DirectoryRef) -> String {
    let mut s = String::from(
        "listen ldap-directory\n    bind 127.0.0.1:3389\n    option ldap-check\n    timeout check 1s\n\
         \x20   timeout client 1h\n    timeout server 1h\n\
         \x20   default-server inter 1s fall 2 rise 2 on-marked-down shutdown-sessions\n",
    );
    for (k, uri) in dir.uris.iter().enumerate() {
        let host = uri
            .strip_prefix("ldap://")
            .unwrap_or(uri)
            .trim_end_matches('/');
        let hostport = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:389")
        };
        let _ = writeln!(
            s,
            "    server ldap{} {hostport} check{}",
            k + 1,
            if k > 0 { " backup" } else { "" }
        );
    }
    s
}

/// The tiers around the back-ends as an operator sees them on a cluster node: the
/// load-balancer nodes (where the template's `lb-haproxy` clone runs), the node holding the VIP
/// and the directory providers a front-end routes by.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct TierStatus {
    /// Nodes where HAProxy runs (they are also the front-ends in the template's layout).
    pub load_balancers: Vec<String>,
    /// The node holding the VIP (`lb-vip`), if any.
    pub vip_holder: Option<String>,
    /// The providers (`host:port`), from the load balancer's `ldap-directory` section.
    pub directory: Vec<String>,
}

/// The tiers in `st` (None when the cluster has no load balancer from the template);
/// `haproxy_cfg` is the text of the load balancer's `haproxy.cfg`, when readable.
pub fn tier_status(
    st: &crate::status::ClusterStatus,
    haproxy_cfg: Option<&str>,
) -> Option<TierStatus> {
    let vip = st.resources.iter().find(|r| r.id == "lb-vip")?;
    let mut load_balancers: Vec<String> = st
        .resources
        .iter()
        .filter(|r| r.id.starts_with("lb-haproxy") && r.is_started())
        .flat_map(|r| r.nodes.clone())
        .collect();
    load_balancers.sort();
    load_balancers.dedup();
    Some(TierStatus {
        load_balancers,
        vip_holder: vip
            .is_started()
            .then(|| vip.nodes.first().cloned())
            .flatten(),
        directory: haproxy_cfg.map(parse_ldap_servers).unwrap_or_default(),
    })
}

/// The providers (`host:port`) of the `listen ldap-directory` section of a `haproxy.cfg`.
pub fn parse_ldap_servers(cfg: &str) -> Vec<String> {
    let mut inside = false;
    let mut out = Vec::new();
    for l in cfg.lines() {
        if !l.starts_with(' ') && !l.starts_with('\t') && !l.trim().is_empty() {
            inside = l.trim() == "listen ldap-directory";
            continue;
        }
        let mut w = l.split_whitespace();
        if inside && w.next() == Some("server") {
            out.extend(w.nth(1).map(str::to_string));
        }
    }
    out
}

/// One provider of the directory pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// `serverID` (1 or 2, unique in the pair).
    pub id: u32,
    /// Its own URL.
    pub url: String,
}

/// The replication part of a provider's `slapd.conf` (after its `database` block): pull from
/// every other provider with refreshAndPersist, serve changes with syncprov. No
/// `syncprov-sessionlog`: with it slapd 2.5.13 silently skips adds made after a delete while
/// a provider is down.
pub fn slapd_syncrepl(
    me: &Provider,
    all: &[Provider],
    suffix: &str,
    repl_dn: &str,
    repl_pw_hint: &str,
) -> String {
    let mut s = String::new();
    for other in all.iter().filter(|p| p.id != me.id) {
        let _ = writeln!(
            s,
            "syncrepl rid={:03} provider={} bindmethod=simple binddn=\"{repl_dn}\" credentials={repl_pw_hint}\n  \
             searchbase=\"{suffix}\" type=refreshAndPersist retry=\"1 +\" timeout=2 network-timeout=2",
            other.id, other.url
        );
    }
    s.push_str("multiprovider on\noverlay syncprov\nsyncprov-checkpoint 100 1\n");
    s
}

/// Access rules and limits of a provider's mdb database: the front-ends' identity (`reader`)
/// reads the location directory under `base_dn`, the replication identity (`replicator`)
/// reads everything (passwords included: it copies them), nobody else reads anything
/// (anonymous may only bind). The root DN is above every rule.
pub fn slapd_access(base_dn: &str, reader: &str, replicator: &str) -> String {
    format!(
        "access to attrs=userPassword\n  by dn.exact=\"{replicator}\" read\n  by anonymous auth\n  by * none\n\
         access to dn.subtree=\"{base_dn}\"\n  by dn.exact=\"{replicator}\" read\n  by dn.exact=\"{reader}\" read\n  by * none\n\
         access to *\n  by dn.exact=\"{replicator}\" read\n  by * none\n\
         limits dn.exact=\"{replicator}\" size=unlimited time=unlimited\n"
    )
}

/// The top of a provider's `slapd.conf`: its `serverID` and the modules replication needs.
pub fn slapd_server_id(me: &Provider) -> String {
    format!("serverID {}\nmoduleload syncprov\n", me.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> DirectoryRef {
        DirectoryRef {
            uris: vec!["ldap://10.0.0.21".into(), "ldap://10.0.0.22".into()],
            base_dn: "ou=mail,dc=example,dc=com".into(),
            bind: None,
        }
    }

    #[test]
    fn dovecot_routes_by_mailhost_without_a_password() {
        let l = dovecot_ldap_conf(&dir());
        assert!(l.contains("uris = ldap://10.0.0.21 ldap://10.0.0.22\n"));
        assert!(l.contains("=host=%{ldap:mailHost}") && l.contains("=nopassword=y"));
        let attrs = l.lines().find(|x| x.starts_with("pass_attrs")).unwrap();
        assert!(
            !attrs.contains("=pass=") && !attrs.contains(" pass="),
            "{attrs}"
        );
        let c = dovecot_conf(Ipv4Addr::new(10, 0, 0, 4), &FrontEndPaths::debian());
        assert!(c.contains("listen = 10.0.0.4\n") && c.contains("dovecot-ldap.conf.ext"));
    }

    #[test]
    fn postfix_maps_route_to_mailhost() {
        let maps = postfix_ldap_maps(&dir());
        let t = &maps
            .iter()
            .find(|(n, _)| *n == "ldap-transport.cf")
            .unwrap()
            .1;
        assert!(t.contains("result_format = smtp:[%s]:25") && t.contains("mail=%s"));
        let m = postfix_main_cf(
            Ipv4Addr::new(10, 0, 0, 4),
            "fe1",
            "10.0.0.0/24",
            &FrontEndPaths::debian(),
        );
        for f in [
            "ldap-relay-domains.cf",
            "ldap-recipients.cf",
            "ldap-transport.cf",
        ] {
            assert!(m.contains(f), "{f}");
        }
        assert!(postfix_master_cf()
            .lines()
            .all(|l| l.starts_with('#') || l.split_whitespace().count() == 8));
    }

    #[test]
    fn haproxy_checks_every_front_end_on_every_port() {
        let fes = vec![
            ("fe1".to_string(), Ipv4Addr::new(10, 0, 0, 4)),
            ("fe2".to_string(), Ipv4Addr::new(10, 0, 0, 5)),
        ];
        let h = haproxy_cfg(Ipv4Addr::new(10, 0, 0, 200), &fes, &dir());
        for (_, port) in MAIL_PORTS {
            assert!(h.contains(&format!("bind 10.0.0.200:{port} transparent")));
            assert!(h.contains(&format!("server fe2 10.0.0.5:{port} check")));
        }
    }

    #[test]
    fn syncrepl_pulls_from_the_other_provider_only() {
        let all = [
            Provider {
                id: 1,
                url: "ldap://a".into(),
            },
            Provider {
                id: 2,
                url: "ldap://b".into(),
            },
        ];
        let s = slapd_syncrepl(&all[0], &all, "dc=x", "cn=repl,dc=x", "SECRET");
        assert!(s.contains("rid=002 provider=ldap://b") && !s.contains("ldap://a"));
        assert!(s.contains("multiprovider on") && !s.contains("sessionlog"));
    }

    #[test]
    fn a_hung_provider_is_checked_and_its_sessions_shut() {
        let h = haproxy_cfg(Ipv4Addr::new(10, 0, 0, 200), &[], &dir());
        assert!(
            h.contains("listen ldap-directory\n    bind 127.0.0.1:3389\n    option ldap-check\n")
        );
        assert!(h.contains("on-marked-down shutdown-sessions"));
        assert!(h.contains("    server ldap1 10.0.0.21:389 check\n"));
        assert!(h.contains("    server ldap2 10.0.0.22:389 check backup\n"));
        let local = through_local_balancer(&dir());
        assert_eq!(local.uris, [LOCAL_LDAP]);
        assert_eq!(local.base_dn, dir().base_dn);
    }

    #[test]
    fn front_ends_bind_with_their_own_identity_when_given_one() {
        let mut d = dir();
        assert!(!dovecot_ldap_conf(&d).contains("dnpass"));
        d.bind = Some(LdapBind {
            dn: "cn=frontend,dc=x".into(),
            password: "s3cret".into(),
        });
        assert!(dovecot_ldap_conf(&d).contains("dn = cn=frontend,dc=x\ndnpass = s3cret\n"));
        for (_, t) in postfix_ldap_maps(&d) {
            assert!(t.contains("bind = yes\nbind_dn = cn=frontend,dc=x\nbind_pw = s3cret\n"));
        }
        assert!(
            !format!("{d:?}").contains("s3cret"),
            "Debug hides the password"
        );
        let acl = slapd_access("ou=mail,dc=x", "cn=frontend,dc=x", "cn=repl,dc=x");
        assert!(acl.contains("by anonymous auth\n  by * none"));
        assert!(acl.contains("limits dn.exact=\"cn=repl,dc=x\" size=unlimited"));
    }
}

/// The operator snippets under `cib-templates/multi-tier-n-plus-1/front-end/`, rendered for
/// the addresses of that directory's `values.toml` (front-ends n4 and n5, VIP .200, providers
/// .21 and .22): kept current by the test below (`AXHA_REGENERATE=1` rewrites them).
#[cfg(test)]
mod snippets {
    use super::*;

    fn rendered() -> Vec<(String, String)> {
        let dir = DirectoryRef {
            uris: vec!["ldap://10.20.0.21".into(), "ldap://10.20.0.22".into()],
            base_dn: "ou=mail,dc=example,dc=com".into(),
            bind: Some(LdapBind {
                dn: "cn=frontend,dc=example,dc=com".into(),
                password: "FRONT-END-PASSWORD".into(),
            }),
        };
        let paths = FrontEndPaths::debian();
        let fe = Ipv4Addr::new(10, 20, 0, 4);
        let fes = vec![
            ("n4".to_string(), fe),
            ("n5".to_string(), Ipv4Addr::new(10, 20, 0, 5)),
        ];
        let providers = [
            Provider {
                id: 1,
                url: "ldap://10.20.0.21".into(),
            },
            Provider {
                id: 2,
                url: "ldap://10.20.0.22".into(),
            },
        ];
        let mut v = vec![
            ("dovecot.conf".to_string(), dovecot_conf(fe, &paths)),
            (
                "dovecot-ldap.conf.ext".into(),
                dovecot_ldap_conf(&through_local_balancer(&dir)),
            ),
            (
                "main.cf".into(),
                postfix_main_cf(fe, "n4.example.com", "10.20.0.0/24", &paths),
            ),
            ("master.cf".into(), postfix_master_cf()),
            (
                "haproxy.cfg".into(),
                haproxy_cfg(Ipv4Addr::new(10, 20, 0, 200), &fes, &dir),
            ),
        ];
        v.extend(
            postfix_ldap_maps(&through_local_balancer(&dir))
                .into_iter()
                .map(|(n, t)| (n.to_string(), t)),
        );
        for p in &providers {
            v.push((
                format!("slapd-provider{}.conf.part", p.id),
                format!(
                    "# Add to the provider's slapd.conf: the first part at the top, the second\n\
                     # inside its mdb database (replace REPLICATION-PASSWORD; mode 0600).\n{}\n{}{}",
                    slapd_server_id(p),
                    slapd_access(
                        "ou=mail,dc=example,dc=com",
                        "cn=frontend,dc=example,dc=com",
                        "cn=replicator,dc=example,dc=com"
                    ),
                    slapd_syncrepl(
                        p,
                        &providers,
                        "dc=example,dc=com",
                        "cn=replicator,dc=example,dc=com",
                        "REPLICATION-PASSWORD"
                    )
                ),
            ));
        }
        v
    }

    #[test]
    fn shipped_snippets_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../cib-templates/multi-tier-n-plus-1/front-end");
        let regen = std::env::var_os("AXHA_REGENERATE").is_some();
        for (name, text) in rendered() {
            let p = dir.join(&name);
            if regen {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&p, &text).unwrap();
            }
            let shipped = std::fs::read_to_string(&p).unwrap_or_default();
            assert_eq!(
                shipped,
                text,
                "{} is stale: AXHA_REGENERATE=1 cargo test -p axha-cib shipped_snippets",
                p.display()
            );
        }
    }

    #[test]
    fn ldap_providers_of_a_load_balancer() {
        let cfg = haproxy_cfg(
            Ipv4Addr::new(10, 0, 0, 200),
            &[("n4".into(), Ipv4Addr::new(10, 0, 0, 4))],
            &DirectoryRef {
                uris: vec!["ldap://10.0.0.21".into(), "ldap://10.0.0.22".into()],
                base_dn: "ou=mail,dc=example,dc=com".into(),
                bind: None,
            },
        );
        assert_eq!(parse_ldap_servers(&cfg), ["10.0.0.21:389", "10.0.0.22:389"]);
        assert!(parse_ldap_servers("garbage\n  server\n").is_empty());
    }

    #[test]
    fn tiers_of_a_cluster_without_load_balancer_are_none() {
        let st = crate::status::ClusterStatus::default();
        assert_eq!(tier_status(&st, None), None);
    }
}
