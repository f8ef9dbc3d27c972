//! Checks of one cluster node, each ending in ok / warn / fail with a one-line reason:
//!
//! - our three agents are installed and their meta-data is valid: OCF agents against the
//!   OCF 1.0 DTD shipped by resource-agents (`ra-api-1.dtd`), the fence agent against the
//!   fence-agents RelaxNG schema (`metadata.rng`), both with `xmllint`;
//! - every `fence_axigen_ipmi` device of the CIB (or the BMC given on the command line)
//!   answers the agent's `monitor` action with its configured credentials: the agent logs in
//!   to the BMC; the password goes to the agent on stdin, never on a command line;
//! - the node's name is the same for corosync (`nodelist` entry of the local node id),
//!   Pacemaker (`crm_node -n`) and the host (`/proc/sys/kernel/hostname`);
//! - versions of Pacemaker, Corosync and drbd-utils;
//! - every program the cluster tools and the agents of the templates call is installed
//!   (the heartbeat shell agents `Filesystem` and `IPaddr2` refuse to run, as "not installed",
//!   when one of theirs is missing), each named with its Debian package. The same table
//!   serves the lab's preflight (`axha_lab::preflight`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_exec::{Cmd, Deadline};
use axha_ocf::cibadmin::{CibAdmin, Target, CIBADMIN};
use serde::Serialize;

/// How a check ended, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Nothing to do.
    Ok,
    /// Works, but something an operator should know (an optional part is missing).
    Warn,
    /// This node cannot run the cluster as configured.
    Fail,
}

impl Level {
    /// `ok`, `warn` or `fail`, as the report prints it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked (`agent ocf:axigen:instance`, `programs drbd`, `bmc fence-n1`...).
    pub name: String,
    /// How it ended.
    pub level: Level,
    /// Why, in one line.
    pub reason: String,
}

fn check(name: impl Into<String>, level: Level, reason: impl Into<String>) -> Check {
    let reason: String = reason.into();
    Check {
        name: name.into(),
        level,
        // One line: the last non-empty one is where tools put the cause.
        reason: reason
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_string(),
    }
}

/// A fencing device to check, at any level: a BMC (fence_axigen_ipmi `monitor`: it answers
/// and accepts the login) or a PDU outlet (fence_apc_snmp `status` of the outlet). The
/// device's parameters are what the agent reads on stdin (`ip`, `ipport`, `username`,
/// `password_file`, `community`, `plug`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceTarget {
    /// The fence device's id (or the node and address given).
    pub name: String,
    /// The fence agent that reaches it: [`FENCE_AGENT`] or [`PDU_AGENT`].
    pub agent: String,
    /// The device's parameters, `pcmk_*` ones left out.
    pub params: Vec<(String, String)>,
}

/// Where the checks look, and what they check.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The OCF root (`/usr/lib/ocf`).
    pub ocf_root: PathBuf,
    /// Where fence agents are installed (`/usr/sbin`).
    pub sbin: PathBuf,
    /// resource-agents' OCF 1.0 DTD, for our agents' meta-data.
    pub ra_dtd: PathBuf,
    /// fence-agents' RelaxNG schema, for the fence agent's metadata.
    pub fence_rng: PathBuf,
    /// Fencing devices to check (every level); empty: every fence_axigen_ipmi and
    /// fence_apc_snmp device in the CIB.
    pub devices: Vec<FenceTarget>,
    /// Budget of each command.
    pub timeout: Duration,
    /// Where programs are looked up (`PATH`): Pacemaker's agents run with the PATH
    /// pacemakerd was started with.
    pub search_path: OsString,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            ocf_root: "/usr/lib/ocf".into(),
            sbin: "/usr/sbin".into(),
            ra_dtd: "/usr/share/resource-agents/ra-api-1.dtd".into(),
            fence_rng: "/usr/share/cluster/relaxng/metadata.rng".into(),
            devices: Vec::new(),
            timeout: Duration::from_secs(30),
            search_path: std::env::var_os("PATH").unwrap_or_default(),
        }
    }
}

/// The fence agent whose devices are checked.
pub const FENCE_AGENT: &str = "fence_axigen_ipmi";
/// The stock agent of a PDU fencing level, whose outlets are checked too.
pub const PDU_AGENT: &str = "fence_apc_snmp";

/// Run every check; the order is the order of the report.
pub fn run_checks(opts: &DoctorOptions) -> Vec<Check> {
    let mut out = vec![
        ocf_agent(opts, "instance", Level::Fail),
        // Only the two-node template with DRBD storage uses it.
        ocf_agent(opts, "drbd", Level::Warn),
        fence_agent(opts),
    ];
    out.extend(programs(opts));
    out.extend(fence_devices(opts));
    out.extend(node_names(opts));
    out.extend(versions(opts));
    out
}

fn deadline(opts: &DoctorOptions) -> Deadline {
    Deadline::after(opts.timeout)
}

/// `xmllint --noout <schema args> -` on `xml`.
fn xmllint(opts: &DoctorOptions, schema: &[&str], xml: &[u8]) -> Result<(), String> {
    let out = Cmd::new("xmllint")
        .arg("--noout")
        .args(schema)
        .arg("-")
        .stdin(xml.to_vec())
        .run(&deadline(opts))
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(out.stderr_str())
    }
}

fn ocf_agent(opts: &DoctorOptions, kind: &str, missing: Level) -> Check {
    let name = format!("agent ocf:axigen:{kind}");
    let path = opts.ocf_root.join("resource.d/axigen").join(kind);
    if !is_executable(&path) {
        return check(
            name,
            missing,
            format!("{} is not installed", path.display()),
        );
    }
    let out = match Cmd::new(&path)
        .arg("meta-data")
        .env("OCF_ROOT", &opts.ocf_root)
        .run_ok(&deadline(opts))
    {
        Ok(o) => o,
        Err(e) => return check(name, Level::Fail, format!("meta-data: {e}")),
    };
    // As stock ocf-tester checks it: the DOCTYPE names ra-api-1.dtd and adds the OCF 1.1
    // attributes (reloadable, unique-group) in its internal subset, which --dtdvalid ignores.
    let dtd_dir = opts
        .ra_dtd
        .parent()
        .unwrap_or(Path::new("/"))
        .to_string_lossy()
        .into_owned();
    match xmllint(opts, &["--valid", "--path", &dtd_dir], &out.stdout) {
        Ok(()) => check(
            name,
            Level::Ok,
            format!(
                "{}: meta-data valid against {}",
                path.display(),
                opts.ra_dtd.display()
            ),
        ),
        Err(e) => check(name, Level::Fail, format!("meta-data invalid: {e}")),
    }
}

fn fence_agent(opts: &DoctorOptions) -> Check {
    let name = format!("agent stonith:{FENCE_AGENT}");
    let path = opts.sbin.join(FENCE_AGENT);
    if !is_executable(&path) {
        return check(
            name,
            Level::Fail,
            format!("{} is not installed", path.display()),
        );
    }
    let out = match Cmd::new(&path)
        .args(["-o", "metadata"])
        .run_ok(&deadline(opts))
    {
        Ok(o) => o,
        Err(e) => return check(name, Level::Fail, format!("metadata: {e}")),
    };
    let rng = opts.fence_rng.to_string_lossy().into_owned();
    match xmllint(opts, &["--relaxng", &rng], &out.stdout) {
        Ok(()) => check(
            name,
            Level::Ok,
            format!(
                "{}: metadata valid against {}",
                path.display(),
                opts.fence_rng.display()
            ),
        ),
        Err(e) => check(name, Level::Fail, format!("metadata invalid: {e}")),
    }
}

// ------------------------------------------------------------------ programs

/// Program -> Debian package, the one table for every "missing program" message (doctor and
/// the lab's preflight). An entry with a `/` is a file checked at that path (an agent script).
pub const PACKAGES: &[(&str, &str)] = &[
    ("corosync", "corosync"),
    ("corosync-cfgtool", "corosync"),
    ("corosync-cmapctl", "corosync"),
    ("pacemakerd", "pacemaker"),
    ("crm_node", "pacemaker"),
    ("crm_mon", "pacemaker-cli-utils"),
    (CIBADMIN, "pacemaker-cli-utils"),
    ("crm_attribute", "pacemaker-cli-utils"),
    ("crmadmin", "pacemaker-cli-utils"),
    (FILESYSTEM_AGENT_PATH, "resource-agents"),
    (IPADDR2_AGENT_PATH, "resource-agents"),
    ("/usr/libexec/heartbeat/send_arp", "resource-agents"),
    ("fence_ipmilan", "fence-agents"),
    ("fence_apc_snmp", "fence-agents"),
    ("snmpget", "snmp"),
    ("snmpset", "snmp"),
    ("snmpd", "snmpd"),
    ("drbdadm", "drbd-utils"),
    ("drbdsetup", "drbd-utils"),
    ("ipmi_sim", "openipmi"),
    ("modprobe", "kmod"),
    ("fuser", "psmisc"),
    ("ps", "procps"),
    ("fsck", "util-linux"),
    ("nsenter", "util-linux"),
    ("unshare", "util-linux"),
    ("mount", "mount"),
    ("umount", "mount"),
    ("losetup", "mount"),
    ("mkfs.ext4", "e2fsprogs"),
    ("ip", "iproute2"),
    ("env", "coreutils"),
    ("xmllint", "libxml2-utils"),
    ("mmdebstrap", "mmdebstrap"),
    ("apt-get", "apt"),
    ("dpkg-deb", "dpkg"),
    ("strip", "binutils"),
    ("xz", "xz-utils"),
    ("depmod", "kmod"),
    ("mke2fs", "e2fsprogs"),
    ("ipmitool", "ipmitool"),
];

/// Where resource-agents installs `ocf:heartbeat:Filesystem`.
pub const FILESYSTEM_AGENT_PATH: &str = "/usr/lib/ocf/resource.d/heartbeat/Filesystem";
/// Where resource-agents installs `ocf:heartbeat:IPaddr2`.
pub const IPADDR2_AGENT_PATH: &str = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2";

/// What a Pacemaker/Corosync node runs and what our agents call.
pub const CLUSTER_PROGRAMS: &[&str] = &[
    "corosync",
    "corosync-cfgtool",
    "corosync-cmapctl",
    "pacemakerd",
    "crm_node",
    "crm_mon",
    CIBADMIN,
    "crm_attribute",
    "crmadmin",
];
/// `ocf:heartbeat:Filesystem` and what it checks with `check_binary` before any action
/// (modprobe, fuser, fsck, mount, umount) or runs while stopping (`ps` on force_unmount).
pub const FILESYSTEM_PROGRAMS: &[&str] = &[
    FILESYSTEM_AGENT_PATH,
    "modprobe",
    "fuser",
    "fsck",
    "mount",
    "umount",
    "ps",
];
/// `ocf:heartbeat:IPaddr2`, its `ip` (check_binary $IP2UTIL) and the default ARP sender.
pub const IPADDR2_PROGRAMS: &[&str] =
    &[IPADDR2_AGENT_PATH, "ip", "/usr/libexec/heartbeat/send_arp"];
/// What `ocf:axigen:drbd` drives.
pub const DRBD_PROGRAMS: &[&str] = &["drbdadm", "drbdsetup"];

/// A program that was not found, with the Debian package that provides it (when known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingProgram {
    /// The program's name (or the agent file's path).
    pub program: String,
    /// The Debian package that installs it.
    pub package: Option<&'static str>,
}

impl fmt::Display for MissingProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.package {
            Some(p) => write!(f, "{} (Debian package {p})", self.program),
            None => write!(f, "{}", self.program),
        }
    }
}

/// The Debian package that provides `program`, from [`PACKAGES`].
pub fn package_of(program: &str) -> Option<&'static str> {
    PACKAGES
        .iter()
        .find(|(p, _)| *p == program)
        .map(|(_, pkg)| *pkg)
}

/// The executable `program` resolves to in `search_path` (a `PATH` value); a name with a
/// `/` is taken as it is.
pub fn find_program(program: &str, search_path: &OsStr) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    std::env::split_paths(search_path)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

/// Every program of `needed` that is not found in `search_path`, in the order given, each
/// once.
pub fn missing_programs(needed: &[&str], search_path: &OsStr) -> Vec<MissingProgram> {
    let mut out: Vec<MissingProgram> = Vec::new();
    for p in needed {
        if find_program(p, search_path).is_none() && !out.iter().any(|m| m.program == *p) {
            out.push(MissingProgram {
                program: p.to_string(),
                package: package_of(p),
            });
        }
    }
    out
}

/// `modprobe (Debian package kmod), fuser (Debian package psmisc)`.
pub fn describe_missing(missing: &[MissingProgram]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn programs(opts: &DoctorOptions) -> Vec<Check> {
    [
        ("programs cluster", CLUSTER_PROGRAMS, Level::Fail),
        (
            "programs ocf:heartbeat:Filesystem",
            FILESYSTEM_PROGRAMS,
            Level::Fail,
        ),
        (
            "programs ocf:heartbeat:IPaddr2",
            IPADDR2_PROGRAMS,
            Level::Fail,
        ),
        // Only the two-node template with DRBD storage uses them.
        ("programs drbd", DRBD_PROGRAMS, Level::Warn),
    ]
    .into_iter()
    .map(|(name, needed, level)| {
        let missing = missing_programs(needed, &opts.search_path);
        if missing.is_empty() {
            check(name, Level::Ok, format!("installed: {}", needed.join(" ")))
        } else {
            check(
                name,
                level,
                format!("missing programs: {}", describe_missing(&missing)),
            )
        }
    })
    .collect()
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The fence_axigen_ipmi and fence_apc_snmp devices of a CIB (`cibadmin --query` output):
/// id, agent and parameters, without Pacemaker's own `pcmk_*` ones.
pub fn parse_fence_devices(cib_xml: &str) -> Result<Vec<FenceTarget>, String> {
    let doc = roxmltree::Document::parse(cib_xml).map_err(|e| e.to_string())?;
    Ok(doc
        .descendants()
        .filter(|n| {
            n.has_tag_name("primitive")
                && n.attribute("class") == Some("stonith")
                && matches!(n.attribute("type"), Some(FENCE_AGENT | PDU_AGENT))
        })
        .map(|p| FenceTarget {
            name: p.attribute("id").unwrap_or_default().to_string(),
            agent: p.attribute("type").unwrap_or_default().to_string(),
            params: p
                .children()
                .filter(|c| c.has_tag_name("instance_attributes"))
                .flat_map(|c| c.children().filter(|x| x.has_tag_name("nvpair")))
                .filter_map(|x| Some((x.attribute("name")?, x.attribute("value")?)))
                .filter(|(k, _)| !k.starts_with("pcmk_"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .collect())
}

/// The agent's stdin for `action` (fence-agents' `key=value` lines).
fn agent_input(t: &FenceTarget, action: &str) -> String {
    let mut s = format!("action={action}\n");
    for (k, v) in &t.params {
        if k != "action" && !v.contains('\n') {
            s += &format!("{k}={v}\n");
        }
    }
    s
}

/// Every fencing device, each level of each node: the given ones, else the CIB's.
fn fence_devices(opts: &DoctorOptions) -> Vec<Check> {
    let targets = if opts.devices.is_empty() {
        let cib = CibAdmin::live()
            .query(Target::Section("resources"))
            .run(&deadline(opts));
        match cib
            .map_err(|e| e.to_string())
            .and_then(|xml| parse_fence_devices(&xml))
        {
            Ok(t) if t.is_empty() => {
                return vec![check(
                    "bmc",
                    Level::Warn,
                    format!("no {FENCE_AGENT} device in the CIB and no --bmc given"),
                )]
            }
            Ok(t) => t,
            Err(e) => {
                return vec![check(
                    "bmc",
                    Level::Warn,
                    format!(
                        "cannot read the fence devices from the CIB ({e}); give --bmc to check one"
                    ),
                )]
            }
        }
    } else {
        opts.devices.clone()
    };
    targets.iter().map(|t| fence_device(opts, t)).collect()
}

/// One device: a BMC answers `monitor` (login accepted); a PDU answers `status` for the
/// outlet (0 on, 2 off: an outlet that is off feeds a node without power).
fn fence_device(opts: &DoctorOptions, t: &FenceTarget) -> Check {
    let param = |k: &str| {
        t.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let at = param("ip").or_else(|| param("ipaddr")).unwrap_or("?");
    let pdu = t.agent == PDU_AGENT;
    let (name, action, what) = if pdu {
        let plug = param("plug").or_else(|| param("port")).unwrap_or("?");
        (
            format!("pdu {}", t.name),
            "status",
            format!("{at} outlet {plug}"),
        )
    } else {
        (format!("bmc {}", t.name), "monitor", at.to_string())
    };
    // Secrets reach the agent on stdin only (never argv, never the environment).
    let out = Cmd::new(opts.sbin.join(&t.agent))
        .stdin(agent_input(t, action))
        .run(&deadline(opts));
    match out {
        Ok(o) if o.status.success() && pdu => {
            check(name, Level::Ok, format!("{what}: reachable, outlet on"))
        }
        Ok(o) if o.status.success() => check(
            name,
            Level::Ok,
            format!("{what}: reachable, login accepted"),
        ),
        Ok(o) if pdu && o.code() == Some(2) => check(
            name,
            Level::Warn,
            format!("{what}: reachable, outlet OFF (its node has no power)"),
        ),
        Ok(o) => check(
            name,
            Level::Fail,
            format!(
                "{what}: {action} failed (exit {}): {}",
                o.code()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "signal".into()),
                o.stderr_str()
            ),
        ),
        Err(e) => check(name, Level::Fail, format!("{what}: {e}")),
    }
}

/// `corosync-cmapctl nodelist` lines (`nodelist.node.0.name (str) = n1`): (nodeid, name).
pub fn parse_cmap_nodelist(text: &str) -> Vec<(u32, String)> {
    let mut entries: std::collections::BTreeMap<String, (Option<u32>, Option<String>)> =
        Default::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        let key = key.split_whitespace().next().unwrap_or("");
        let Some(rest) = key.strip_prefix("nodelist.node.") else {
            continue;
        };
        let Some((idx, field)) = rest.split_once('.') else {
            continue;
        };
        let e = entries.entry(idx.to_string()).or_default();
        match field {
            "nodeid" => e.0 = value.trim().parse().ok(),
            "name" => e.1 = Some(value.trim().to_string()),
            _ => {}
        }
    }
    entries
        .into_values()
        .filter_map(|(id, name)| Some((id?, name?)))
        .collect()
}

/// The value of a `corosync-cmapctl -g KEY` line (`KEY (u32) = 1`).
pub fn parse_cmap_value(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.split_once(" = ").map(|(_, v)| v.trim().to_string()))
}

fn node_names(opts: &DoctorOptions) -> Vec<Check> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let corosync = (|| -> Result<String, String> {
        let run = |args: &[&str]| {
            Cmd::new("corosync-cmapctl")
                .args(args)
                .run_ok(&deadline(opts))
                .map(|o| o.stdout_str())
                .map_err(|e| e.to_string())
        };
        let id: u32 = parse_cmap_value(&run(&["-g", "runtime.votequorum.this_node_id"])?)
            .and_then(|v| v.parse().ok())
            .ok_or("no runtime.votequorum.this_node_id")?;
        parse_cmap_nodelist(&run(&["nodelist"])?)
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n)
            .ok_or_else(|| format!("node id {id} has no name in corosync's nodelist"))
    })();
    let pacemaker = Cmd::new("crm_node")
        .arg("-n")
        .run_ok(&deadline(opts))
        .map(|o| o.stdout_str().trim().to_string())
        .map_err(|e| e.to_string());
    vec![compare_names(&host, corosync, pacemaker)]
}

/// The verdict on the three names of this node.
pub fn compare_names(
    host: &str,
    corosync: Result<String, String>,
    pacemaker: Result<String, String>,
) -> Check {
    let name = "node names";
    match (corosync, pacemaker) {
        (Err(e), _) => check(name, Level::Fail, format!("corosync: {e}")),
        (_, Err(e)) => check(name, Level::Fail, format!("pacemaker (crm_node -n): {e}")),
        (Ok(c), Ok(p)) if c != p => check(
            name,
            Level::Fail,
            format!("corosync calls this node {c:?}, Pacemaker {p:?}"),
        ),
        (Ok(c), Ok(_)) if c != host => check(
            name,
            Level::Warn,
            format!("cluster name {c:?} differs from the host name {host:?} (the cluster uses corosync's)"),
        ),
        (Ok(c), Ok(_)) => check(
            name,
            Level::Ok,
            format!("{c:?} for corosync, Pacemaker and the host"),
        ),
    }
}

/// "Pacemaker 2.1.5" (pacemakerd --version), "Corosync Cluster Engine, version '3.1.7'"
/// (corosync -v), "DRBDADM_VERSION=9.22.0" (drbdadm --version).
pub fn parse_version(tool: &str, text: &str) -> Option<String> {
    match tool {
        "pacemaker" => text
            .lines()
            .find_map(|l| l.strip_prefix("Pacemaker "))
            .map(|v| v.trim().to_string()),
        "corosync" => text
            .lines()
            .find_map(|l| l.split_once("version '"))
            .and_then(|(_, v)| v.split('\'').next())
            .map(str::to_string),
        "drbd-utils" => text
            .lines()
            .find_map(|l| l.strip_prefix("DRBDADM_VERSION="))
            .map(|v| v.trim().to_string()),
        _ => None,
    }
}

fn versions(opts: &DoctorOptions) -> Vec<Check> {
    let tools: [(&str, &[&str], Level); 3] = [
        ("pacemaker", &["pacemakerd", "--version"], Level::Fail),
        ("corosync", &["corosync", "-v"], Level::Fail),
        // Needed only with DRBD storage.
        ("drbd-utils", &["drbdadm", "--version"], Level::Warn),
    ];
    tools
        .iter()
        .map(|(tool, argv, missing)| {
            let name = format!("version {tool}");
            match Cmd::from_argv(*argv).run(&deadline(opts)) {
                Ok(o) => match parse_version(tool, &o.stdout_str()) {
                    Some(v) => check(name, Level::Ok, v),
                    None => check(name, *missing, format!("{} printed no version", argv[0])),
                },
                Err(e) if e.is_not_found() => {
                    check(name, *missing, format!("{} is not installed", argv[0]))
                }
                Err(e) => check(name, *missing, e.to_string()),
            }
        })
        .collect()
}

/// The worst level of a report (what the exit code reflects).
pub fn worst(checks: &[Check]) -> Level {
    checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PATH of one directory holding executables named `present`.
    fn fake_path(tag: &str, present: &[&str]) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("axha-doctor-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for p in present {
            let f = dir.join(p);
            std::fs::write(&f, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    #[test]
    fn missing_programs_name_their_package() {
        let dir = fake_path("missing", &["fuser", "fsck", "mount", "umount", "ps"]);
        // not executable: does not count
        std::fs::write(dir.join("modprobe"), "").unwrap();
        let needed = [
            "fuser", "modprobe", "fsck", "mount", "umount", "ps", "modprobe", "nosuch",
        ];
        let m = missing_programs(&needed, dir.as_os_str());
        assert_eq!(
            describe_missing(&m),
            "modprobe (Debian package kmod), nosuch",
            "{m:?}"
        );
        let all = missing_programs(&["fuser", "ps"], dir.as_os_str());
        assert!(all.is_empty(), "{all:?}");
        // relative PATH entries are never searched
        assert!(find_program("fuser", OsStr::new("rel:")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_needed_program_has_a_package() {
        for list in [
            CLUSTER_PROGRAMS,
            FILESYSTEM_PROGRAMS,
            IPADDR2_PROGRAMS,
            DRBD_PROGRAMS,
        ] {
            for p in list {
                assert!(package_of(p).is_some(), "{p} has no package in PACKAGES");
            }
        }
    }

    #[test]
    fn doctor_reports_missing_programs() {
        let dir = fake_path("doctor", &["drbdadm"]);
        let opts = DoctorOptions {
            search_path: dir.clone().into_os_string(),
            ..DoctorOptions::default()
        };
        let checks = programs(&opts);
        let drbd = checks.iter().find(|c| c.name == "programs drbd").unwrap();
        assert_eq!(drbd.level, Level::Warn);
        assert_eq!(
            drbd.reason,
            "missing programs: drbdsetup (Debian package drbd-utils)"
        );
        let cluster = checks
            .iter()
            .find(|c| c.name == "programs cluster")
            .unwrap();
        assert_eq!(cluster.level, Level::Fail);
        assert!(
            cluster
                .reason
                .contains("crm_mon (Debian package pacemaker-cli-utils)"),
            "{}",
            cluster.reason
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cmap_nodelist() {
        let text = "nodelist.local_node_pos (u32) = 1\n\
                    nodelist.node.0.name (str) = n1\n\
                    nodelist.node.0.nodeid (u32) = 1\n\
                    nodelist.node.0.ring0_addr (str) = 10.231.0.1\n\
                    nodelist.node.1.name (str) = n2\n\
                    nodelist.node.1.nodeid (u32) = 2\n\
                    nodelist.node.2.ring0_addr (str) = 10.231.0.3\n";
        assert_eq!(
            parse_cmap_nodelist(text),
            vec![(1, "n1".to_string()), (2, "n2".to_string())]
        );
        assert_eq!(
            parse_cmap_value("runtime.votequorum.this_node_id (u32) = 2\n").as_deref(),
            Some("2")
        );
        assert!(parse_cmap_nodelist("garbage").is_empty());
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            parse_version("pacemaker", "Pacemaker 2.1.5\nWritten by Andrew Beekhof").as_deref(),
            Some("2.1.5")
        );
        assert_eq!(
            parse_version(
                "corosync",
                "Corosync Cluster Engine, version '3.1.7'\nCopyright"
            )
            .as_deref(),
            Some("3.1.7")
        );
        assert_eq!(
            parse_version(
                "drbd-utils",
                "DRBDADM_API_VERSION=2\nDRBDADM_VERSION=9.22.0\n"
            )
            .as_deref(),
            Some("9.22.0")
        );
        assert_eq!(parse_version("corosync", "nothing"), None);
    }

    #[test]
    fn names() {
        let ok = compare_names("n1", Ok("n1".into()), Ok("n1".into()));
        assert_eq!(ok.level, Level::Ok);
        let w = compare_names("host", Ok("n1".into()), Ok("n1".into()));
        assert_eq!(w.level, Level::Warn);
        let f = compare_names("n1", Ok("n1".into()), Ok("n2".into()));
        assert_eq!(f.level, Level::Fail);
        assert!(f.reason.contains("\"n2\""));
        let f = compare_names(
            "n1",
            Err("cannot run corosync-cmapctl".into()),
            Ok("n1".into()),
        );
        assert_eq!(f.level, Level::Fail);
        assert!(f.reason.starts_with("corosync:"));
    }

    #[test]
    fn fence_devices_from_cib() {
        let cib = r#"<resources>
          <primitive id="fence-n1" class="stonith" type="fence_axigen_ipmi">
            <instance_attributes id="a"><nvpair id="1" name="ip" value="10.0.1.1"/>
            <nvpair id="2" name="password_file" value="/etc/p"/>
            <nvpair id="3" name="pcmk_host_list" value="n1"/></instance_attributes></primitive>
          <primitive id="fence-other" class="stonith" type="fence_ipmilan"/>
          <primitive id="fence-pdu-n1" class="stonith" type="fence_apc_snmp">
            <instance_attributes id="b"><nvpair id="4" name="plug" value="1"/>
            <nvpair id="5" name="pcmk_host_list" value="n1"/></instance_attributes></primitive>
          <primitive id="d" class="ocf" provider="heartbeat" type="Dummy"/>
        </resources>"#;
        let t = parse_fence_devices(cib).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].name, "fence-n1");
        assert_eq!(t[0].agent, "fence_axigen_ipmi");
        assert_eq!(t[1].agent, "fence_apc_snmp");
        assert_eq!(t[1].params, vec![("plug".to_string(), "1".to_string())]);
        assert_eq!(agent_input(&t[1], "status"), "action=status\nplug=1\n");
        assert_eq!(
            t[0].params,
            vec![
                ("ip".to_string(), "10.0.1.1".to_string()),
                ("password_file".to_string(), "/etc/p".to_string())
            ]
        );
        assert_eq!(
            agent_input(&t[0], "monitor"),
            "action=monitor\nip=10.0.1.1\npassword_file=/etc/p\n"
        );
        assert!(parse_fence_devices("<bad").is_err());
    }

    #[test]
    fn one_line_reasons_and_worst() {
        let c = check("x", Level::Warn, "first\n\nthe cause\n");
        assert_eq!(c.reason, "the cause");
        assert_eq!(worst(std::slice::from_ref(&c)), Level::Warn);
        assert_eq!(worst(&[]), Level::Ok);
        assert_eq!(worst(&[c, check("y", Level::Fail, "z")]), Level::Fail);
    }
}
