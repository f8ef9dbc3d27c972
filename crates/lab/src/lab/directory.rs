//! The directory pair and other side machines of the multi-tier architecture: network
//! namespaces on the cluster network that are not cluster nodes (`d1`, `d2`: the two
//! OpenLDAP providers replicating each other; `c1`: the clients), recorded under
//! `<state_dir>/side-netns` so that teardown ends them with the nodes. A side machine is
//! powered off by ending every process of its namespace, as a node is.

use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_cib::tiers::{
    slapd_access, slapd_server_id, slapd_syncrepl, DirectoryRef, LdapBind, Provider,
};
use axha_exec::{Cmd, Deadline, Output};

use super::network::ip;
use super::{mkdir_mode, KILL_TIMEOUT};
use crate::fencing::random_password;
use crate::procs::{kill_netns, netns_id_of_path};
use crate::spec::{LAB_NET, LAB_PREFIX};
use crate::{Lab, LabError};

/// The suffix the lab's directory serves.
pub const DIRECTORY_SUFFIX: &str = "dc=example,dc=com";
/// The location directory's base DN in the lab.
pub const DIRECTORY_BASE_DN: &str = "ou=mail,dc=example,dc=com";
/// The directory's administrator (axigen-provision writes as it).
pub const DIRECTORY_ROOT_DN: &str = "cn=admin,dc=example,dc=com";
/// The front-ends' read-only identity (Dovecot and Postfix bind as it).
pub const DIRECTORY_READER_DN: &str = "cn=frontend,dc=example,dc=com";
/// The identity each provider replicates the other as (reads everything, writes nothing).
pub const DIRECTORY_REPLICATOR_DN: &str = "cn=replicator,dc=example,dc=com";
/// The two providers.
pub const DIRECTORY_SERVERS: [&str; 2] = ["d1", "d2"];
/// The client machine (load generators, axigen-provision).
pub const CLIENT: &str = "c1";
const SCHEMAS: &[&str] = &["core", "cosine", "inetorgperson", "nis", "misc"];
const SIDE_FILE: &str = "side-netns";
const LDAP_TIMEOUT: Duration = Duration::from_secs(20);

/// Address of a side machine on the cluster network: providers 10.231.0.21 and .22, the
/// client .30 (cluster nodes use 1-8, service IPs 100 and up, the load balancer's VIP 200).
pub fn side_addr(name: &str) -> Option<Ipv4Addr> {
    let last = match name {
        "d1" => 21,
        "d2" => 22,
        CLIENT => 30,
        _ => return None,
    };
    Some(Ipv4Addr::new(LAB_NET[0], LAB_NET[1], LAB_NET[2], last))
}

/// The directory pair as its clients see it.
#[derive(Debug, Clone)]
pub struct DirectoryPair {
    /// Both providers' URLs, d1 first.
    pub uris: Vec<String>,
    /// File (mode 0600, no line end) with the root DN's password.
    pub password_file: PathBuf,
    /// File (mode 0600, no line end) with the front-ends' identity's password.
    pub reader_password_file: PathBuf,
}

impl DirectoryPair {
    /// What a front-end needs to route by the directory, binding as its own read-only
    /// identity.
    pub fn reference(&self) -> Result<DirectoryRef, LabError> {
        let p = &self.reader_password_file;
        let password = std::fs::read_to_string(p).map_err(|e| LabError::io(p, e))?;
        Ok(DirectoryRef {
            uris: self.uris.clone(),
            base_dn: DIRECTORY_BASE_DN.into(),
            bind: Some(LdapBind {
                dn: DIRECTORY_READER_DN.into(),
                password,
            }),
        })
    }
}

/// Entry count and `contextCSN` values of one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderState {
    /// Entries under the suffix.
    pub entries: usize,
    /// The suffix's `contextCSN` values, sorted (one per serverID that wrote).
    pub context_csn: Vec<String>,
}

fn write_private(path: &Path, data: &str) -> Result<(), LabError> {
    std::fs::write(path, data).map_err(|e| LabError::io(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| LabError::io(path, e))
}

fn provider_url(name: &str) -> String {
    format!("ldap://{}", side_addr(name).expect("a directory server"))
}

impl Lab {
    /// Side namespaces made for this lab (teardown ends them).
    pub(super) fn side_netns(&self) -> Vec<String> {
        std::fs::read_to_string(self.state_dir.join(SIDE_FILE))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A side machine: its namespace with one cable into the cluster network.
    pub fn add_side_machine(&self, name: &str) -> Result<(), LabError> {
        let addr = side_addr(name).ok_or_else(|| LabError::InvalidSpec {
            field: "side machine",
            value: name.to_string(),
            reason: "d1, d2 or c1",
        })?;
        let ns = self.netns_name(name);
        if self.side_netns().contains(&ns) {
            return Ok(());
        }
        let file = self.state_dir.join(SIDE_FILE);
        let mut list = self.side_netns();
        list.push(ns.clone());
        std::fs::write(&file, list.join("\n") + "\n").map_err(|e| LabError::io(&file, e))?;
        let hub = self.hub_netns();
        let veth = format!("v{name}");
        ip(&["netns", "add", &ns])?;
        ip(&[
            "-n", &hub, "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ])?;
        ip(&["-n", &hub, "link", "set", &veth, "master", "br0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/{LAB_PREFIX}"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        Ok(())
    }

    /// A command run in a side machine's network namespace (this machine's files).
    pub fn side_cmd(&self, name: &str, argv: &[&str]) -> Cmd {
        Cmd::new("ip")
            .args(["netns", "exec", &self.netns_name(name)])
            .args(argv)
    }

    /// Power loss of a side machine: every process of its namespace ends.
    pub fn side_power_off(&self, name: &str) -> Result<(), LabError> {
        let path = Path::new("/run/netns").join(self.netns_name(name));
        let id = netns_id_of_path(&path).map_err(|e| LabError::io(&path, e))?;
        let left = kill_netns(&id, &Deadline::after(KILL_TIMEOUT));
        if left.is_empty() {
            Ok(())
        } else {
            Err(LabError::Unkillable {
                node: name.to_string(),
                pids: left,
            })
        }
    }

    fn directory_dir(&self) -> PathBuf {
        self.state_dir.join("directory")
    }

    /// Two OpenLDAP providers, d1 and d2, replicating each other (multi-provider syncrepl),
    /// with the standard schemas and axigen-ha's (`schema`: `axigen-ha.schema`); the suffix
    /// entry is made on d1 and returns once d2 has it.
    pub fn start_directory_pair(&self, schema: &Path) -> Result<DirectoryPair, LabError> {
        let dir = self.directory_dir();
        mkdir_mode(&dir, 0o700, None)?;
        let password = random_password().map_err(|e| LabError::io("/dev/urandom", e))?;
        let password_file = dir.join("root.pw");
        write_private(&password_file, &password)?;
        let mut identities = Vec::new();
        for (dn, file) in [
            (DIRECTORY_READER_DN, "reader.pw"),
            (DIRECTORY_REPLICATOR_DN, "replicator.pw"),
        ] {
            let pw = random_password().map_err(|e| LabError::io("/dev/urandom", e))?;
            let f = dir.join(file);
            write_private(&f, &pw)?;
            identities.push((dn, f, pw));
        }
        let replicator_pw = identities[1].2.clone();
        let providers: Vec<Provider> = DIRECTORY_SERVERS
            .iter()
            .enumerate()
            .map(|(i, n)| Provider {
                id: i as u32 + 1,
                url: provider_url(n),
            })
            .collect();
        for (name, me) in DIRECTORY_SERVERS.iter().zip(&providers) {
            self.add_side_machine(name)?;
            let d = dir.join(name);
            mkdir_mode(&d.join("db"), 0o700, None)?;
            let mut conf = String::new();
            for s in SCHEMAS {
                conf.push_str(&format!("include /etc/ldap/schema/{s}.schema\n"));
            }
            conf.push_str(&format!(
                "include {}\npidfile {dd}/slapd.pid\nargsfile {dd}/slapd.args\n\
                 modulepath /usr/lib/ldap\nmoduleload back_mdb\n{}\
                 database mdb\nmaxsize 1073741824\nsuffix \"{DIRECTORY_SUFFIX}\"\n\
                 rootdn \"{DIRECTORY_ROOT_DN}\"\nrootpw {password}\ndirectory {dd}/db\n\
                 dbnosync\nindex objectClass,entryCSN,entryUUID eq\n\
                 index mail,cn,axhaBackendName,mailLocalAddress eq\n\
                 limits dn.exact=\"{DIRECTORY_ROOT_DN}\" size=unlimited time=unlimited\n{}{}",
                schema.display(),
                slapd_server_id(me),
                slapd_access(
                    DIRECTORY_BASE_DN,
                    DIRECTORY_READER_DN,
                    DIRECTORY_REPLICATOR_DN
                ),
                slapd_syncrepl(
                    me,
                    &providers,
                    DIRECTORY_SUFFIX,
                    DIRECTORY_REPLICATOR_DN,
                    &replicator_pw
                ),
                dd = d.display(),
            ));
            write_private(&d.join("slapd.conf"), &conf)?;
            self.start_provider(name)?;
        }
        self.add_side_machine(CLIENT)?;
        let pair = DirectoryPair {
            uris: providers.iter().map(|p| p.url.clone()).collect(),
            password_file,
            reader_password_file: identities[0].1.clone(),
        };
        // The suffix and the two service identities, their passwords hashed (slappasswd
        // reads each from its file: no secret on a command line).
        let mut ldif = format!(
            "dn: {DIRECTORY_SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
        );
        for (dn, file, _) in &identities {
            let hash = Cmd::new("slappasswd")
                .args(["-h", "{SSHA}", "-T"])
                .arg(file)
                .run_ok(&Deadline::after(LDAP_TIMEOUT))
                .map_err(|e| LabError::exec(format!("hashing the password of {dn}"), e))?
                .stdout_str();
            let cn = dn
                .strip_prefix("cn=")
                .and_then(|r| r.split(',').next())
                .unwrap_or_default();
            ldif.push_str(&format!(
                "\ndn: {dn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: {cn}\nuserPassword: {}\n",
                hash.trim()
            ));
        }
        self.ldap_modify("d1", "ldapadd", &ldif)?;
        let d = Deadline::after(LDAP_TIMEOUT);
        d.poll(Duration::from_millis(100), || {
            self.provider_state("d2").ok().filter(|s| s.entries >= 3)
        })
        .ok_or_else(|| LabError::Timeout {
            what: "the suffix and the service identities replicated to d2".into(),
            last: String::new(),
        })?;
        Ok(pair)
    }

    /// Hang one provider (`true`: SIGSTOP its slapd: connections are still accepted, nothing
    /// answers) or let it go on (`false`: SIGCONT).
    pub fn pause_provider(&self, name: &str, paused: bool) -> Result<(), LabError> {
        let p = self.directory_dir().join(name).join("slapd.pid");
        let text = std::fs::read_to_string(&p).map_err(|e| LabError::io(&p, e))?;
        let pid: i32 = text.trim().parse().map_err(|_| LabError::BadState {
            path: p.clone(),
            reason: format!("not a pid: {:?}", text.trim()),
        })?;
        let sig = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill has no memory preconditions; the pid is slapd's own, from its pid file.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(LabError::io(&p, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Start (or start again, on its database) one provider of the pair.
    pub fn start_provider(&self, name: &str) -> Result<(), LabError> {
        let d = self.directory_dir().join(name);
        let url = format!("{}/", provider_url(name));
        // slapd forks into the background once its listener is open.
        self.side_cmd(
            name,
            &[
                "slapd",
                "-f",
                &d.join("slapd.conf").display().to_string(),
                "-h",
                &url,
            ],
        )
        .run_ok(&Deadline::after(LDAP_TIMEOUT))
        .map_err(|e| LabError::exec(format!("starting slapd on {name}"), e))?;
        Ok(())
    }

    fn ldap_tool(&self, name: &str, tool: &str, extra: &[&str]) -> Cmd {
        let pw = self.directory_dir().join("root.pw").display().to_string();
        let url = provider_url(name);
        let mut argv = vec![tool, "-x", "-H", &url, "-D", DIRECTORY_ROOT_DN, "-y", &pw];
        argv.extend_from_slice(extra);
        self.side_cmd(CLIENT, &argv)
    }

    /// `ldapadd`/`ldapmodify` of `ldif` on one provider, as the root DN, from the client.
    pub fn ldap_modify(&self, name: &str, tool: &str, ldif: &str) -> Result<Output, LabError> {
        self.ldap_tool(name, tool, &[])
            .stdin(ldif.as_bytes().to_vec())
            .run_ok(&Deadline::after(LDAP_TIMEOUT))
            .map_err(|e| LabError::exec(format!("{tool} on {name}"), e))
    }

    /// Entries an anonymous client finds under the location directory on one provider
    /// (none: only the front-ends' identity reads it).
    pub fn anonymous_entries(&self, name: &str) -> Result<usize, LabError> {
        let url = provider_url(name);
        let out = self
            .side_cmd(
                CLIENT,
                &[
                    "ldapsearch",
                    "-x",
                    "-LLL",
                    "-o",
                    "nettimeout=2",
                    "-H",
                    &url,
                    "-b",
                    DIRECTORY_SUFFIX,
                    "(objectClass=*)",
                    "1.1",
                ],
            )
            .run(&Deadline::after(LDAP_TIMEOUT))
            .map_err(|e| LabError::exec(format!("anonymous search on {name}"), e))?;
        Ok(out
            .stdout_str()
            .lines()
            .filter(|l| l.starts_with("dn: "))
            .count())
    }

    /// Entry count and contextCSN of one provider (asked from the client machine).
    pub fn provider_state(&self, name: &str) -> Result<ProviderState, LabError> {
        let out = self
            .ldap_tool(
                name,
                "ldapsearch",
                &[
                    "-LLL",
                    "-o",
                    "ldif-wrap=no",
                    "-o",
                    "nettimeout=2",
                    "-b",
                    DIRECTORY_SUFFIX,
                    "(objectClass=*)",
                    "1.1",
                ],
            )
            .run_ok(&Deadline::after(LDAP_TIMEOUT))
            .map_err(|e| LabError::exec(format!("counting entries on {name}"), e))?;
        let entries = out
            .stdout_str()
            .lines()
            .filter(|l| l.starts_with("dn: "))
            .count();
        let csn = self
            .ldap_tool(
                name,
                "ldapsearch",
                &[
                    "-LLL",
                    "-o",
                    "nettimeout=2",
                    "-s",
                    "base",
                    "-b",
                    DIRECTORY_SUFFIX,
                    "(objectClass=*)",
                    "contextCSN",
                ],
            )
            .run_ok(&Deadline::after(LDAP_TIMEOUT))
            .map_err(|e| LabError::exec(format!("reading contextCSN on {name}"), e))?;
        let mut context_csn: Vec<String> = csn
            .stdout_str()
            .lines()
            .filter_map(|l| l.strip_prefix("contextCSN: "))
            .map(str::to_string)
            .collect();
        context_csn.sort();
        Ok(ProviderState {
            entries,
            context_csn,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_addresses_do_not_clash_with_nodes_or_services() {
        assert_eq!(side_addr("d1").unwrap().to_string(), "10.231.0.21");
        assert_eq!(side_addr("c1").unwrap().to_string(), "10.231.0.30");
        assert_eq!(side_addr("n1"), None);
    }
}
