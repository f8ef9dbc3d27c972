//! The location directory against a real slapd: schema, registry, atomic counters, routing
//! lookups, escaping of hostile names, TLS.

use std::time::Duration;

use axha_directory::{
    Account, Backend, Directory, DirectoryError, Domain, LdapSettings, Policy, Secret,
};
use axha_e2e::slapd::{Slapd, BASE_DN};
use axha_e2e::{Cmd, Deadline};

fn settings(s: &Slapd) -> LdapSettings {
    let mut st = LdapSettings::new(s.url(), BASE_DN);
    st.bind_dn = Some(s.root_dn().to_string());
    st.bind_password = Some(Secret::from_file(&s.password_file()).unwrap());
    st.timeout = Duration::from_secs(5);
    st
}

fn backend(name: &str) -> Backend {
    Backend {
        name: name.into(),
        cli_address: "127.0.0.1:7000".into(),
        mail_host: format!("{name}.mail.example.net"),
        weight: 1,
        enabled: true,
        account_count: 0,
    }
}

#[test]
fn registry_domains_accounts_and_counters() {
    let slapd = Slapd::start();
    let st = settings(&slapd);
    let mut dir = Directory::connect(&st).unwrap();
    dir.init_tree().unwrap();
    dir.init_tree().unwrap(); // idempotent

    dir.add_backend(&backend("be1")).unwrap();
    dir.add_backend(&backend("be2")).unwrap();
    assert!(matches!(
        dir.add_backend(&backend("be1")),
        Err(DirectoryError::AlreadyExists { .. })
    ));
    dir.update_backend("be2", Some(false), Some(5), None)
        .unwrap();
    let bs = dir.backends().unwrap();
    assert_eq!(bs.len(), 2);
    assert_eq!((bs[1].enabled, bs[1].weight), (false, 5));

    // RFC 4525 increments from 4 connections at once: none is lost.
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let st = st.clone();
            std::thread::spawn(move || {
                let mut d = Directory::connect(&st).unwrap();
                for _ in 0..25 {
                    d.add_to_count("be1", 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(dir.backend("be1").unwrap().unwrap().account_count, 100);
    dir.add_to_count("be1", -40).unwrap();
    assert_eq!(dir.backend("be1").unwrap().unwrap().account_count, 60);
    dir.set_count("be1", 0).unwrap();

    // A domain-based domain carries the one routing entry for the whole domain.
    let d = Domain {
        name: "example.org".into(),
        policy: Policy::DomainBased,
        home: Some("be1".into()),
    };
    dir.add_domain(&d, Some("be1.mail.example.net")).unwrap();
    assert_eq!(dir.domain("example.org").unwrap().unwrap(), d);
    let routing = slapd.ldapsearch(BASE_DN, "(mailLocalAddress=@example.org)", &["mailHost"]);
    assert!(
        routing.contains("mailHost: be1.mail.example.net"),
        "{routing}"
    );

    for (addr, be) in [
        ("ab@example.org", "be1"),
        ("a*@example.org", "be1"),
        ("x=y+z@example.org", "be2"),
    ] {
        dir.add_account(&Account {
            address: addr.into(),
            backend: be.into(),
            mail_host: format!("{be}.mail.example.net"),
        })
        .unwrap();
    }
    // Filter injection: the '*' is a value, so it finds its own entry only.
    let r = dir.route("a*@example.org").unwrap();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].address, "a*@example.org");
    assert_eq!(dir.route("*").unwrap().len(), 0);
    assert_eq!(dir.route("ab@example.org)(mail=*").unwrap().len(), 0);
    // DN injection: '=' and '+' (legal in a local part) stay inside the RDN value.
    let a = dir.account("x=y+z@example.org").unwrap().unwrap();
    assert_eq!(a.backend, "be2");
    let dn = slapd.ldapsearch(BASE_DN, "(mail=x=y+z@example.org)", &["1.1"]);
    let dn_line = dn.lines().next().unwrap_or("");
    assert!(
        dn_line.starts_with("dn: mail=x")
            && dn_line
                .ends_with("z@example.org,cn=example.org,ou=domains,ou=mail,dc=example,dc=com"),
        "{dn}"
    );
    assert_eq!(dn_line.matches(',').count(), 5, "{dn_line}");
    assert!(matches!(
        dir.add_account(&Account {
            address: "ab@example.org".into(),
            backend: "be2".into(),
            mail_host: "h".into(),
        }),
        Err(DirectoryError::AlreadyExists { .. })
    ));

    let counts = dir.count_all_accounts().unwrap();
    assert_eq!(counts.get("be1"), Some(&2));
    assert_eq!(dir.count_accounts_on("be2").unwrap(), 1);
    assert_eq!(dir.accounts_of_domain("example.org").unwrap().len(), 3);

    assert!(matches!(
        dir.delete_domain("example.org"),
        Err(DirectoryError::NotEmpty { .. })
    ));
    assert!(matches!(
        dir.remove_backend("be2"),
        Err(DirectoryError::NotEmpty { .. })
    ));
    for a in ["ab@example.org", "a*@example.org", "x=y+z@example.org"] {
        dir.delete_account(a).unwrap();
    }
    assert!(matches!(
        dir.delete_account("ab@example.org"),
        Err(DirectoryError::NotFound { .. })
    ));
    dir.delete_domain("example.org").unwrap();
    assert!(dir.domain("example.org").unwrap().is_none());
    dir.remove_backend("be2").unwrap();
}

#[test]
fn lost_server_is_unavailable_then_reconnects() {
    let mut slapd = Slapd::start();
    let mut dir = Directory::connect(&settings(&slapd)).unwrap();
    dir.init_tree().unwrap();
    slapd.stop();
    let e = dir.backends().unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    slapd.start_again();
    assert!(dir.backends().unwrap().is_empty());
}

#[test]
fn wrong_password_is_a_clear_error_without_the_password() {
    let slapd = Slapd::start();
    let mut st = settings(&slapd);
    st.bind_password = Some(Secret::new("not-the-password"));
    let e = Directory::connect(&st)
        .err()
        .expect("bind refused")
        .to_string();
    assert!(e.contains("bind") && e.contains("49"), "{e}");
    assert!(!e.contains("not-the-password"), "{e}");
}

#[test]
fn tls_ldaps_and_starttls_with_ca_file() {
    let slapd = Slapd::start_with_tls();
    let mut st = settings(&slapd);
    st.url = slapd.ldaps_url().unwrap();
    // Without our CA the server's certificate is not trusted.
    let e = Directory::connect(&st)
        .err()
        .expect("untrusted certificate refused");
    assert!(e.is_unavailable(), "{e}");
    st.ca_file = Some(slapd.ca_file());
    let mut dir = Directory::connect(&st).unwrap();
    dir.init_tree().unwrap();

    let mut st2 = settings(&slapd);
    st2.starttls = true;
    st2.ca_file = Some(slapd.ca_file());
    let mut dir2 = Directory::connect(&st2).unwrap();
    dir2.ping().unwrap();

    st2.url = slapd.ldaps_url().unwrap();
    assert!(matches!(
        Directory::connect(&st2),
        Err(DirectoryError::Config { .. })
    ));
}

/// The cn=config form of the schema loads into a slapd configuration beside the standard ones.
#[test]
fn schema_ldif_loads_into_cn_config() {
    let tmp = axha_e2e::temp_dir("cnconfig");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("slapd.d")).unwrap();
    let mut conf = String::new();
    for s in ["core", "cosine", "inetorgperson", "nis", "misc"] {
        conf.push_str(&format!("include /etc/ldap/schema/{s}.schema\n"));
    }
    std::fs::write(dir.join("slapd.conf"), conf).unwrap();
    let ldif = dir.join("axigen-ha.ldif");
    std::fs::write(&ldif, axha_directory::SCHEMA_LDIF).unwrap();
    let d = Deadline::after(Duration::from_secs(30));
    let cfg = dir.join("slapd.d").display().to_string();
    Cmd::new("slaptest")
        .args([
            "-f",
            &dir.join("slapd.conf").display().to_string(),
            "-F",
            &cfg,
        ])
        .run_ok(&d)
        .unwrap();
    Cmd::new("slapadd")
        .args(["-n0", "-F", &cfg, "-l", &ldif.display().to_string()])
        .run_ok(&d)
        .unwrap();
    Cmd::new("slaptest")
        .args(["-u", "-F", &cfg])
        .run_ok(&d)
        .unwrap();
    let schema_dir = dir.join("slapd.d/cn=config/cn=schema");
    let names: Vec<String> = std::fs::read_dir(&schema_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("}axigen-ha.ldif")),
        "{names:?}"
    );
}
