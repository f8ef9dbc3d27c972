//! The configuration file (TOML). Secrets are never in it: it names the files that hold them.
//!
//! ```toml
//! [ldap]
//! url = "ldaps://ldap.example.com"      # or ldap://...; starttls = true to upgrade;
//!                                       # two providers: "ldaps://ldap1 ldaps://ldap2"
//! ca_file = "/etc/axigen-provision/ca.pem"
//! bind_dn = "cn=provision,dc=example,dc=com"
//! bind_password_file = "/etc/axigen-provision/ldap.pw"
//! base_dn = "ou=mail,dc=example,dc=com"
//!
//! [axigen]
//! admin_user = "admin"
//! password_dir = "/etc/axigen-provision/backends"   # one file per back-end, named after it
//! postmaster_password_file = "/etc/axigen-provision/postmaster.pw"
//!
//! [service]
//! listen = "127.0.0.1:8080"
//! token_file = "/etc/axigen-provision/token"
//! default_policy = "least-used"
//! tls_cert_file = "/etc/axigen-provision/api.crt"   # PEM chain, leaf first; with the key:
//! tls_key_file = "/etc/axigen-provision/api.key"    # HTTPS. The key must not be o+r.
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_directory::{LdapSettings, Policy, Secret};
use axha_exec::Deadline;
use serde::Deserialize;

use crate::error::ProvisionError;

/// The configuration file (TOML): `[ldap]`, `[axigen]`, `[service]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The location directory.
    pub ldap: LdapSection,
    /// How to reach the back-ends' CLIs.
    #[serde(default)]
    pub axigen: AxigenSection,
    /// The HTTP API and placement defaults.
    #[serde(default)]
    pub service: ServiceSection,
}

/// `[ldap]`: where the location directory is and how to bind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSection {
    /// Server URL (`ldap://host:389`, `ldaps://...`); the providers of a replicated directory
    /// separated by spaces (`"ldap://ldap1 ldap://ldap2"`): the first that answers is used.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// CA certificate (PEM) the server's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// Simple bind DN; anonymous when absent.
    pub bind_dn: Option<String>,
    /// File whose first line is the bind password.
    pub bind_password_file: Option<PathBuf>,
    /// Where the directory's subtree lives.
    pub base_dn: String,
    /// Seconds for connecting and for each operation (10 by default).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

/// `[axigen]`: the back-ends' administrative CLI.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxigenSection {
    /// Administrative user of every back-end (`admin` by default).
    #[serde(default = "default_admin")]
    pub admin_user: String,
    /// Directory with one file per back-end (named like the back-end) holding its admin
    /// password.
    pub password_dir: Option<PathBuf>,
    /// Postmaster password for domains this service creates.
    pub postmaster_password_file: Option<PathBuf>,
    /// Seconds for each CLI exchange (10 by default).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Moving accounts: how the back-ends' IMAP is reached.
    #[serde(default)]
    pub imap: crate::moves::ImapSettings,
}

impl Default for AxigenSection {
    fn default() -> Self {
        AxigenSection {
            admin_user: default_admin(),
            password_dir: None,
            postmaster_password_file: None,
            timeout_secs: default_timeout(),
            imap: Default::default(),
        }
    }
}

/// `[service]`: the HTTP API and placement defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// Address and port of the HTTP API (`127.0.0.1:8080` by default).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// File with the API's bearer token; `serve` refuses to run without one.
    pub token_file: Option<PathBuf>,
    /// Policy of domains created without one (`least-used` by default).
    #[serde(default = "default_policy")]
    pub default_policy: Policy,
    /// Connections served at once, 1 to 256 (4 by default).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Fixed seed of the random policies (reproducible distributions); random when absent.
    pub seed: Option<u64>,
    /// Certificate chain (PEM, leaf first) of the API's TLS listener; with `tls_key_file`
    /// the API is served over HTTPS only.
    pub tls_cert_file: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of `tls_cert_file`; refused when other users
    /// can read or write it.
    pub tls_key_file: Option<PathBuf>,
}

impl Default for ServiceSection {
    fn default() -> Self {
        ServiceSection {
            listen: default_listen(),
            token_file: None,
            default_policy: default_policy(),
            workers: default_workers(),
            seed: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

fn default_timeout() -> u64 {
    10
}
fn default_admin() -> String {
    "admin".into()
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_policy() -> Policy {
    Policy::LeastUsed
}
fn default_workers() -> usize {
    4
}

/// Largest configuration file read: a page of TOML, not megabytes.
const MAX_CONFIG_FILE: usize = 1 << 20;
/// Longest wait for a configuration file's end: a regular file reads at once, a FIFO nobody
/// closes must not hold the service's start.
const CONFIG_READ_TIMEOUT: Duration = Duration::from_secs(10);

impl Config {
    /// Parse and check the text of a configuration file.
    pub fn parse(text: &str) -> Result<Config, ProvisionError> {
        let c: Config =
            toml::from_str(text).map_err(|e| ProvisionError::config_syntax(text, &e))?;
        if c.service.workers == 0 || c.service.workers > 256 {
            return Err(ProvisionError::Workers {
                path: None,
                workers: c.service.workers,
            });
        }
        Ok(c)
    }

    /// Read, parse and check a configuration file.
    pub fn read(path: &Path) -> Result<Config, ProvisionError> {
        let deadline = Deadline::after(CONFIG_READ_TIMEOUT);
        let bytes = axha_exec::read_bounded(path, MAX_CONFIG_FILE, &deadline)
            .map_err(ProvisionError::ConfigRead)?;
        let text = String::from_utf8(bytes).map_err(|_| ProvisionError::ConfigNotText {
            path: path.to_path_buf(),
        })?;
        Config::parse(&text).map_err(|e| e.in_file(path))
    }

    /// LDAP settings with the bind password read from its file.
    pub fn ldap_settings(&self) -> Result<LdapSettings, ProvisionError> {
        let l = &self.ldap;
        let mut s = LdapSettings::new(&l.url, &l.base_dn);
        s.starttls = l.starttls;
        s.ca_file = l.ca_file.clone();
        s.bind_dn = l.bind_dn.clone();
        s.timeout = Duration::from_secs(l.timeout_secs.max(1));
        if let Some(p) = &l.bind_password_file {
            s.bind_password = Some(Secret::from_file(p).map_err(ProvisionError::SecretFile)?);
        }
        Ok(s)
    }

    /// The API token from `service.token_file`, `None` when none is configured.
    pub fn token(&self) -> Result<Option<Secret>, ProvisionError> {
        self.service
            .token_file
            .as_deref()
            .map(|p| Secret::from_file(p).map_err(ProvisionError::SecretFile))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_and_full() {
        let c = Config::parse("[ldap]\nurl = \"ldap://h\"\nbase_dn = \"ou=m,dc=x\"\n").unwrap();
        assert_eq!(c.service.default_policy, Policy::LeastUsed);
        assert_eq!(c.axigen.admin_user, "admin");
        let c = Config::parse(
            "[ldap]\nurl = \"ldap://h\"\nbase_dn = \"b\"\nstarttls = true\n\
             [service]\ndefault_policy = \"weighted-random\"\nseed = 7\n",
        )
        .unwrap();
        assert_eq!(c.service.default_policy, Policy::WeightedRandom);
        assert_eq!(c.service.seed, Some(7));
        let c = Config::parse(
            "[ldap]\nurl = \"ldap://h\"\nbase_dn = \"b\"\n\
             [service]\ntls_cert_file = \"/c.pem\"\ntls_key_file = \"/k.pem\"\n",
        )
        .unwrap();
        assert_eq!(c.service.tls_cert_file, Some(PathBuf::from("/c.pem")));
        assert_eq!(c.service.tls_key_file, Some(PathBuf::from("/k.pem")));
    }

    #[test]
    fn errors_are_clear() {
        let e = Config::parse("[ldap]\nurl = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("base_dn"), "{e}");
        let e = Config::parse("[ldap]\nurl=\"x\"\nbase_dn=\"b\"\nbind_password=\"p\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bind_password"), "secrets only from files: {e}");
        let e =
            Config::parse("[ldap]\nurl=\"x\"\nbase_dn=\"b\"\n[service]\ndefault_policy=\"rr\"\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("rr"), "{e}");
        let e =
            Config::parse("[ldap]\nurl=\"x\"\nbase_dn=\"b\"\n[service]\nworkers=0\n").unwrap_err();
        assert!(
            matches!(e, ProvisionError::Workers { workers: 0, .. }),
            "{e}"
        );
    }

    #[test]
    fn read_is_bounded_and_text_only() {
        let e = Config::read(Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(&e, ProvisionError::ConfigRead(r) if r.to_string().contains("more than 1048576 bytes")),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.toml");
        std::fs::write(&f, b"[ldap]\nurl = \"\xff\"\n").unwrap();
        let e = Config::read(&f).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: configuration: not UTF-8 text", f.display())
        );
        std::fs::write(&f, "[ldap]\nurl = \"x\"\n").unwrap();
        let e = Config::read(&f).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: configuration: ", f.display())) && e.contains("base_dn"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }
}
