//! The values file: what an operator fills in to render a template (TOML).
//!
//! Each field is declared once, in one of the `fields!` blocks below: its documentation,
//! its typed Rust form, and how it is read (required or its default, and the conversion
//! that checks it), like a CLI's flag definitions. Reading collects every problem, each
//! naming its field (`instances[1].ip: "10.0.0.300" is not an IPv4 address`), rejects
//! unknown fields (a typo never passes silently), and then checks what relates fields to
//! each other (duplicate names and addresses, references to nodes). Passwords never appear
//! here, only the paths of files that hold them.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::Path;
use std::rc::Rc;

use toml::{Table, Value};

use crate::CibError;

/// Default Axigen binary (DESIGN.md, "What Axigen looks like").
pub const DEFAULT_BINARY: &str = "/opt/axigen/bin/axigen";
/// Default port of Axigen's CLI listener.
pub const DEFAULT_CLI_PORT: u16 = 7000;
/// Default administrative user of Axigen's CLI.
pub const DEFAULT_CLI_USER: &str = "admin";
/// Standard IPMI-over-LAN port (IPMI v2.0 §13.1.1: RMCP port 623).
pub const DEFAULT_BMC_PORT: u16 = 623;
/// SNMP's port, where a PDU answers by default.
pub const DEFAULT_SNMP_PORT: u16 = 161;
/// Best practice of the multi-tier architecture: a hot stand-by runs no more than two
/// instances (seeds/clustering-solution-overview.txt).
pub const DEFAULT_STANDBY_CAPACITY: u32 = 2;
/// Default `resource-stickiness` of each member of an instance group.
pub const DEFAULT_STICKINESS: u32 = 100;
/// Default `migration-threshold`: failures on a node before an instance leaves it.
pub const DEFAULT_MIGRATION_THRESHOLD: u32 = 3;
/// Largest values file read: a values file is a page of TOML, not megabytes.
const MAX_VALUES_FILE: usize = 1 << 20;
/// Longest wait for a values file's end: a regular file reads at once, a FIFO nobody closes
/// must not hold the command.
const VALUES_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Declares a struct of the values file once: each field's documentation, type and the
/// expression that reads it (from the `Fields` arguments, and from the fields above it)
/// sit together, so a new field is one entry here.
macro_rules! fields {
    (
        $(#[$meta:meta])*
        pub struct $name:ident read from ($($arg:ident: $argty:ty),*) {
            $( $(#[$fmeta:meta])* $field:ident: $ty:ty = $read:expr, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            fn read($($arg: $argty),*) -> $name {
                $( let $field: $ty = $read; )*
                $name { $($field),* }
            }
        }
    };
}

fields! {
    /// Values after validation: every field checked, defaults filled in.
    pub struct Values read from (f: &mut Fields, cluster: &mut Fields) {
        /// Pacemaker `cluster-name` and corosync's `totem.cluster_name`.
        cluster_name: String = cluster.or("name", "axigen".into(), id),
        /// `resource-stickiness` of each member of an instance group.
        stickiness: u32 = cluster.or("stickiness", DEFAULT_STICKINESS, |v| {
            let n = uint(v)?;
            if n > 1_000_000 {
                return Err(format!("{n} is above 1000000 (INFINITY)"));
            }
            Ok(n)
        }),
        /// `migration-threshold`: failures on a node before an instance moves away.
        migration_threshold: u32 =
            cluster.or("migration_threshold", DEFAULT_MIGRATION_THRESHOLD, at_least_one),
        /// The cluster's nodes, in corosync's order.
        nodes: Vec<Node> = f.tables("nodes", "at least one node is required", read_node),
        /// The Axigen service instances.
        instances: Vec<Instance> =
            f.tables("instances", "at least one instance is required", read_instance),
        /// Multi-tier: names of the hot stand-by nodes.
        standby_nodes: Vec<String> = f.or("standby_nodes", Vec::new(), strings),
        /// Multi-tier: how many instances one stand-by may run.
        standby_capacity: u32 = f.or("standby_capacity", DEFAULT_STANDBY_CAPACITY, at_least_one),
        /// Two-node: the instance's storage (`storage` and the `[drbd]` table).
        storage: Option<Storage> = read_storage(f),
        /// The node whose fencing waits, so that it wins a fence race (`[fencing]`).
        fence_delay: Option<FenceDelay> = f.optional_table("fencing").map(|mut t| {
            let d = FenceDelay::read(&mut t);
            t.finish();
            d
        }),
        /// Multi-tier: the L4 load balancer in front of the front-ends (`[load_balancer]`).
        load_balancer: Option<LoadBalancer> = f.optional_table("load_balancer").map(|mut t| {
            let lb = LoadBalancer::read(&mut t);
            t.finish();
            lb
        }),
    }
}

/// Default HAProxy configuration file on a load-balancer node.
pub const DEFAULT_HAPROXY_CONFIG: &str = "/etc/haproxy/haproxy.cfg";

fields! {
    /// Multi-tier: HAProxy on every load-balancer node, its virtual IP moved by Pacemaker.
    pub struct LoadBalancer read from (f: &mut Fields) {
        /// The VIP clients connect to (IPaddr2).
        vip: Ipv4Addr = f.required("vip", ipv4),
        /// Prefix length of the VIP.
        cidr: u8 = f.or("cidr", 24, |v| {
            let n = uint(v)?;
            u8::try_from(n)
                .ok()
                .filter(|c| (1..=32).contains(c))
                .ok_or_else(|| format!("{n} is not a prefix length (1-32)"))
        }),
        /// Cluster nodes that run HAProxy and may hold the VIP (the front-end nodes).
        nodes: Vec<String> = f.or("nodes", Vec::new(), strings),
        /// HAProxy's configuration file on those nodes.
        haproxy_config: String = f.or("haproxy_config", DEFAULT_HAPROXY_CONFIG.into(), path),
    }
}

fields! {
    /// One cluster node and its BMC.
    pub struct Node read from (f: &mut Fields, bmc: &mut Fields, position: usize) {
        /// Host name: corosync's `nodelist.node.name` and Pacemaker's node name.
        name: String = f.required("name", node_name),
        /// Corosync node id (`nodelist.node.nodeid`); defaults to the position in the list, from 1.
        id: u32 = f.or("id", position as u32 + 1, at_least_one),
        /// The cluster (ring0) address.
        address: Ipv4Addr = f.required("address", ipv4),
        /// Address of the node's BMC.
        bmc_ip: Ipv4Addr = bmc.required("ip", ipv4),
        /// UDP port of the node's BMC.
        bmc_port: u16 = bmc.or("port", DEFAULT_BMC_PORT, port),
        /// IPMI user the fence agent logs in as.
        bmc_user: String = bmc.required("user", bmc_user),
        /// File with the BMC password, on every node.
        bmc_password_file: String = bmc.required("password_file", plain_path),
        /// Corosync's second link (`ring1_addr`): every node has one or none.
        address2: Option<Ipv4Addr> = f.optional("address2", ipv4),
        /// The node's outlet on a switched PDU: the second fencing level (`[nodes.pdu]`).
        pdu: Option<Pdu> = f.optional_table("pdu").map(|mut t| {
            let p = Pdu::read(&mut t);
            t.finish();
            p
        }),
    }
}

fields! {
    /// A node's outlet on a switched PDU driven by fence_apc_snmp (SNMP v1/v2c).
    pub struct Pdu read from (f: &mut Fields) {
        /// Address of the PDU.
        ip: Ipv4Addr = f.required("ip", ipv4),
        /// SNMP port of the PDU.
        port: u16 = f.or("port", DEFAULT_SNMP_PORT, port),
        /// The outlet (fence_apc_snmp's `plug`) that feeds this node.
        outlet: u32 = f.required("outlet", at_least_one),
        /// The PDU's read-write community. fence_apc_snmp takes it only as a parameter, so
        /// it is in the CIB: give the PDU a community of its own, limited to the nodes.
        community: String = f.required("community", |v| {
            let c = text(v)?;
            if c.is_empty() || c.chars().any(char::is_whitespace) {
                return Err(format!("{c:?} is not an SNMP community (empty or white space)"));
            }
            Ok(c)
        }),
        /// SNMP version: "1" or "2c".
        snmp_version: String = f.or("snmp_version", "2c".into(), |v| {
            let s = string(v)?;
            match s.as_str() {
                "1" | "2c" => Ok(s),
                _ => Err(format!("{s:?} is not an SNMP version fence_apc_snmp speaks here (1 or 2c)")),
            }
        }),
    }
}

fields! {
    /// One Axigen service instance: its resource id, storage, service IP and CLI.
    pub struct Instance read from (f: &mut Fields) {
        /// Resource id of the instance (and prefix of its group's members).
        id: String = f.required("id", id),
        /// The instance's working directory (Axigen's -W).
        workdir: String = f.required("workdir", path),
        /// Full path of the Axigen binary.
        binary: String = f.or("binary", DEFAULT_BINARY.into(), path),
        /// Configuration file; defaults to `<workdir>/run/axigen.cfg`.
        config: String = f.or(
            "config",
            format!("{}/run/axigen.cfg", workdir.trim_end_matches('/')),
            path,
        ),
        /// The service IP (IPaddr2).
        ip: Ipv4Addr = f.required("ip", ipv4),
        /// Prefix length of the service IP.
        cidr: u8 = f.required("cidr", |v| {
            let n = uint(v)?;
            u8::try_from(n)
                .ok()
                .filter(|c| (1..=32).contains(c))
                .ok_or_else(|| format!("{n} is not a prefix length (1-32)"))
        }),
        /// Interface for the service IP; IPaddr2 finds it from the routes when absent.
        nic: Option<String> = f.optional("nic", |v| {
            let nic = string(v)?;
            // IFNAMSIZ is 16 with the NUL (linux/if.h).
            if nic.is_empty()
                || nic.len() > 15
                || !nic
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(format!("{nic:?} is not an interface name"));
            }
            Ok(nic)
        }),
        /// Block device of the instance's file system.
        device: String = f.required("device", path),
        /// Where the file system is mounted.
        mountpoint: String = f.required("mountpoint", path),
        /// File system type (`ocf:heartbeat:Filesystem`'s `fstype`).
        fstype: String = f.required("fstype", |v| {
            let t = string(v)?;
            if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                return Err(format!("{t:?} is not a file system type"));
            }
            Ok(t)
        }),
        /// The node the instance runs on when it can.
        preferred_node: String = f.required("preferred_node", string),
        /// Port of the instance's CLI listener.
        cli_port: u16 = f.or("cli_port", DEFAULT_CLI_PORT, port),
        /// Administrative user of the agent's depth-20 check.
        cli_user: String = f.or("cli_user", DEFAULT_CLI_USER.into(), text),
        /// File with the CLI password (the agent's depth-20 check logs in with it).
        cli_password_file: Option<String> = f.optional("cli_password_file", path),
    }
}

fields! {
    /// Two-node partitions are a fence race: this node's fencing waits, so it wins.
    pub struct FenceDelay read from (f: &mut Fields) {
        /// The node whose fencing is delayed.
        node: String = f.required("delay_node", string),
        /// Delay in seconds (Pacemaker `pcmk_delay_base`).
        seconds: u32 = f.required("delay_seconds", |v| {
            let n = uint(v)?;
            if n == 0 || n > 600 {
                return Err(format!("{n} is not between 1 and 600"));
            }
            Ok(n)
        }),
    }
}

/// Storage of a two-node instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Storage {
    /// A DRBD replicated volume (promotable clone of `ocf:axigen:drbd`).
    Drbd {
        /// The DRBD resource name (drbd.conf).
        resource: String,
    },
    /// A SAN LUN both nodes see.
    Shared,
}

fn read_node(mut f: Fields, position: usize) -> Node {
    let mut bmc = f.required_table("bmc");
    let node = Node::read(&mut f, &mut bmc, position);
    bmc.finish();
    f.finish();
    node
}

fn read_instance(mut f: Fields, _position: usize) -> Instance {
    let instance = Instance::read(&mut f);
    f.finish();
    instance
}

/// `storage = "drbd"` goes with a `[drbd]` table, `"shared"` without one.
fn read_storage(f: &mut Fields) -> Option<Storage> {
    let kind = f.optional("storage", string);
    let drbd = f.optional_table("drbd").map(|mut t| {
        let resource: String = t.required("resource", |v| {
            let r = string(v)?;
            if !is_valid_id(&r) {
                return Err(format!("{r:?} is not a DRBD resource name"));
            }
            Ok(r)
        });
        t.finish();
        resource
    });
    match (kind.as_deref(), drbd) {
        (None, None) => None,
        (Some("drbd"), Some(resource)) => Some(Storage::Drbd { resource }),
        (Some("drbd"), None) => {
            f.problem(
                "drbd",
                "storage = \"drbd\" needs a [drbd] table with resource",
            );
            None
        }
        (Some("shared"), None) => Some(Storage::Shared),
        (Some("shared") | None, Some(_)) => {
            f.problem("drbd", "a [drbd] table needs storage = \"drbd\"");
            None
        }
        (Some(other), _) => {
            f.problem(
                "storage",
                format!("{other:?} is neither \"drbd\" nor \"shared\""),
            );
            None
        }
    }
}

/// Every problem of a values file, so one run shows them all (shared by nested tables).
#[derive(Clone, Default)]
struct Problems(Rc<RefCell<Vec<String>>>);

impl Problems {
    fn add(&self, field: &str, msg: impl std::fmt::Display) {
        self.0.borrow_mut().push(format!("{field}: {msg}"));
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

/// One TOML table being read into a typed struct: each field is taken once by name, a
/// problem is recorded under the field's full name (`instances[1].ip`), and what no one took
/// is an unknown field.
struct Fields {
    /// Full name of the table (`nodes[0].bmc`); empty at the top.
    at: String,
    table: Table,
    problems: Problems,
    /// The table itself is missing (already reported): its fields are not reported again.
    missing: bool,
}

/// What a field holds while it has a problem; never returned (reading then fails).
trait Fallback {
    fn fallback() -> Self;
}

impl Fallback for String {
    fn fallback() -> Self {
        String::new()
    }
}

impl Fallback for Ipv4Addr {
    fn fallback() -> Self {
        Ipv4Addr::UNSPECIFIED
    }
}

macro_rules! fallback_zero {
    ($($t:ty),*) => { $(impl Fallback for $t { fn fallback() -> Self { 0 } })* };
}
fallback_zero!(u8, u16, u32);

impl Fields {
    fn new(at: String, table: Table, problems: Problems) -> Fields {
        Fields {
            at,
            table,
            problems,
            missing: false,
        }
    }

    /// Full name of field `key` of this table.
    fn name(&self, key: &str) -> String {
        if self.at.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at)
        }
    }

    fn problem(&self, key: &str, msg: impl std::fmt::Display) {
        self.problems.add(&self.name(key), msg);
    }

    /// The field's value converted, `None` when absent; a value `convert` refuses is
    /// recorded as a problem of the field and read as absent.
    fn take<T>(
        &mut self,
        key: &str,
        convert: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Result<Option<T>, ()> {
        let Some(v) = self.table.remove(key) else {
            return Ok(None);
        };
        match convert(&v) {
            Ok(t) => Ok(Some(t)),
            Err(msg) => {
                self.problem(key, msg);
                Err(())
            }
        }
    }

    /// A field that must be present.
    fn required<T: Fallback>(
        &mut self,
        key: &str,
        convert: impl FnOnce(&Value) -> Result<T, String>,
    ) -> T {
        match self.take(key, convert) {
            Ok(Some(t)) => t,
            Ok(None) => {
                if !self.missing {
                    let at = if self.at.is_empty() {
                        "values"
                    } else {
                        &self.at
                    };
                    self.problems.add(at, format!("missing field `{key}`"));
                }
                T::fallback()
            }
            Err(()) => T::fallback(),
        }
    }

    /// A field with a default.
    fn or<T>(
        &mut self,
        key: &str,
        default: T,
        convert: impl FnOnce(&Value) -> Result<T, String>,
    ) -> T {
        match self.take(key, convert) {
            Ok(Some(t)) => t,
            Ok(None) | Err(()) => default,
        }
    }

    /// A field that may be left out.
    fn optional<T>(
        &mut self,
        key: &str,
        convert: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        self.take(key, convert).ok().flatten()
    }

    fn sub(&self, at: String, table: Table) -> Fields {
        Fields::new(at, table, self.problems.clone())
    }

    /// A table that may be left out.
    fn optional_table(&mut self, key: &str) -> Option<Fields> {
        let at = self.name(key);
        let table = self.optional(key, |v| match v {
            Value::Table(t) => Ok(t.clone()),
            other => Err(format!("expected a table, found {}", other.type_str())),
        })?;
        Some(self.sub(at, table))
    }

    /// Stands for table `key` when it is left out: its fields are not reported missing.
    fn absent_table(&self, key: &str) -> Fields {
        let mut t = self.sub(self.name(key), Table::new());
        t.missing = true;
        t
    }

    /// A table that must be present; when it is not, an empty one whose fields are not
    /// reported one by one.
    fn required_table(&mut self, key: &str) -> Fields {
        let present = self.table.contains_key(key);
        match self.optional_table(key) {
            Some(t) => t,
            None => {
                if !present {
                    self.problems
                        .add(&self.at, format!("missing field `{key}`"));
                }
                self.absent_table(key)
            }
        }
    }

    /// An array of tables (`[[key]]`), each read by `read` with its position; `empty` is
    /// the problem of an absent or empty array.
    fn tables<T>(&mut self, key: &str, empty: &str, read: impl Fn(Fields, usize) -> T) -> Vec<T> {
        let items = self.optional(key, |v| match v {
            Value::Array(a) => Ok(a.clone()),
            other => Err(format!(
                "expected an array of tables, found {}",
                other.type_str()
            )),
        });
        let Some(items) = items else {
            if !self.table.contains_key(key) {
                self.problem(key, empty);
            }
            return Vec::new();
        };
        if items.is_empty() {
            self.problem(key, empty);
        }
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("{}[{i}]", self.name(key));
            match item {
                Value::Table(t) => out.push(read(self.sub(at, t), i)),
                other => self
                    .problems
                    .add(&at, format!("expected a table, found {}", other.type_str())),
            }
        }
        out
    }

    /// Every field left is one the values file does not know.
    fn finish(self) {
        let at = if self.at.is_empty() {
            "values"
        } else {
            &self.at
        };
        for key in self.table.keys() {
            self.problems.add(at, format!("unknown field `{key}`"));
        }
    }
}

/// Read and validate a values file.
pub fn read_values(path: &Path) -> Result<Values, CibError> {
    let deadline = axha_exec::Deadline::after(VALUES_READ_TIMEOUT);
    parse_values(&crate::read_text(path, MAX_VALUES_FILE, &deadline)?)
}

/// Parse and validate the text of a values file.
pub fn parse_values(text: &str) -> Result<Values, CibError> {
    let table: Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|sp| {
                let line = text[..sp.start.min(text.len())].matches('\n').count() + 1;
                format!("line {line}: ")
            })
            .unwrap_or_default();
        CibError::Values {
            problems: vec![format!("{at}{}", e.message().trim_end())],
            span: e.span(),
        }
    })?;
    let problems = Problems::default();
    let mut top = Fields::new(String::new(), table, problems.clone());
    let mut cluster = top
        .optional_table("cluster")
        .unwrap_or_else(|| top.absent_table("cluster"));
    let values = Values::read(&mut top, &mut cluster);
    cluster.finish();
    top.finish();
    check_relations(&values, &problems);
    check_links_and_pdus(&values, &problems);
    let problems = problems.take();
    if !problems.is_empty() {
        return Err(CibError::Values {
            problems,
            span: None,
        });
    }
    Ok(values)
}

/// What relates fields to each other: nothing appears twice that Pacemaker, corosync or the
/// network needs unique, and every node named is one of the nodes. Values that already have
/// a problem of their own (read as empty or zero) are left out.
fn check_relations(v: &Values, p: &Problems) {
    let mut names = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut addresses = BTreeSet::new();
    let mut bmcs = BTreeSet::new();
    for (i, n) in v.nodes.iter().enumerate() {
        let f = |k: &str| format!("nodes[{i}].{k}");
        if !n.name.is_empty() && !names.insert(n.name.as_str()) {
            p.add(&f("name"), format!("{:?} appears twice", n.name));
        }
        if n.id != 0 && !ids.insert(n.id) {
            p.add(&f("id"), format!("{} appears twice", n.id));
        }
        if !n.address.is_unspecified() && !addresses.insert(n.address) {
            p.add(
                &f("address"),
                format!("{} is already the address of another node", n.address),
            );
        }
        if !n.bmc_ip.is_unspecified() && !bmcs.insert((n.bmc_ip, n.bmc_port)) {
            p.add(
                &f("bmc"),
                format!(
                    "{}:{} is already the BMC of another node",
                    n.bmc_ip, n.bmc_port
                ),
            );
        }
    }
    let mut inst_ids = BTreeSet::new();
    let mut ips = BTreeSet::new();
    for (i, r) in v.instances.iter().enumerate() {
        let f = |k: &str| format!("instances[{i}].{k}");
        if !r.id.is_empty() && !inst_ids.insert(r.id.as_str()) {
            p.add(&f("id"), format!("{:?} appears twice", r.id));
        }
        if !r.ip.is_unspecified() {
            if !ips.insert(r.ip) {
                p.add(
                    &f("ip"),
                    format!("{} is already the service IP of another instance", r.ip),
                );
            } else if addresses.contains(&r.ip) {
                p.add(
                    &f("ip"),
                    format!("{} is already the address of a node", r.ip),
                );
            }
        }
        if !names.contains(r.preferred_node.as_str()) {
            p.add(
                &f("preferred_node"),
                format!("{:?} is not one of the nodes", r.preferred_node),
            );
        }
    }
    let mut standby_seen = BTreeSet::new();
    for (i, s) in v.standby_nodes.iter().enumerate() {
        let f = format!("standby_nodes[{i}]");
        if !names.contains(s.as_str()) {
            p.add(&f, format!("{s:?} is not one of the nodes"));
        } else if !standby_seen.insert(s.as_str()) {
            p.add(&f, format!("{s:?} appears twice"));
        }
    }
    if let Some(fd) = &v.fence_delay {
        if !names.contains(fd.node.as_str()) {
            p.add(
                "fencing.delay_node",
                format!("{:?} is not one of the nodes", fd.node),
            );
        }
    }
}

/// The second corosync link and the PDU level: a link is every node's or none (corosync
/// needs the same links on every node), its addresses are unique and not the first link's;
/// no two nodes share an outlet.
fn check_links_and_pdus(v: &Values, p: &Problems) {
    let with2 = v.nodes.iter().filter(|n| n.address2.is_some()).count();
    let first: BTreeSet<Ipv4Addr> = v.nodes.iter().map(|n| n.address).collect();
    let mut seen = BTreeSet::new();
    let mut outlets = BTreeSet::new();
    for (i, n) in v.nodes.iter().enumerate() {
        let f = |k: &str| format!("nodes[{i}].{k}");
        match n.address2 {
            None if with2 > 0 => p.add(
                &f("address2"),
                "missing: a second corosync link needs an address on every node",
            ),
            Some(a) if first.contains(&a) => p.add(
                &f("address2"),
                format!("{a} is already a node's first-link address"),
            ),
            Some(a) if !seen.insert(a) => p.add(
                &f("address2"),
                format!("{a} is already the address2 of another node"),
            ),
            _ => {}
        }
        if let Some(pdu) = &n.pdu {
            if pdu.outlet != 0 && !outlets.insert((pdu.ip, pdu.port, pdu.outlet)) {
                p.add(
                    &f("pdu.outlet"),
                    format!(
                        "outlet {} of {}:{} already feeds another node",
                        pdu.outlet, pdu.ip, pdu.port
                    ),
                );
            }
        }
    }
}

// Conversions of one TOML value: each checks what it converts, and says what is wrong with
// the value itself (the caller adds the field's name).

/// Any string that ends up in the CIB or a script: no control character, ever.
fn string(v: &Value) -> Result<String, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("expected a string, found {}", v.type_str()))?;
    if s.chars().any(char::is_control) {
        return Err(format!("{s:?} contains a control character"));
    }
    Ok(s.to_string())
}

/// A list of strings.
fn strings(v: &Value) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or_else(|| format!("expected an array of strings, found {}", v.type_str()))?
        .iter()
        .map(string)
        .collect()
}

/// A string that must not be empty.
fn text(v: &Value) -> Result<String, String> {
    let s = string(v)?;
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(s)
}

/// A whole number that fits a `u32`.
fn uint(v: &Value) -> Result<u32, String> {
    let n = v
        .as_integer()
        .ok_or_else(|| format!("expected a whole number, found {}", v.type_str()))?;
    u32::try_from(n).map_err(|_| format!("{n} is not between 0 and {}", u32::MAX))
}

fn at_least_one(v: &Value) -> Result<u32, String> {
    match uint(v)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

fn port(v: &Value) -> Result<u16, String> {
    match uint(v)? {
        0 => Err("must not be 0".into()),
        n => u16::try_from(n).map_err(|_| format!("{n} is not a port number (1-65535)")),
    }
}

fn ipv4(v: &Value) -> Result<Ipv4Addr, String> {
    let s = string(v)?;
    s.parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address"))
}

/// A Pacemaker id (see [`is_valid_id`]).
fn id(v: &Value) -> Result<String, String> {
    let s = string(v)?;
    if !is_valid_id(&s) {
        return Err(format!(
            "{s:?} must start with a letter and hold only letters, digits, - _ ."
        ));
    }
    Ok(s)
}

fn node_name(v: &Value) -> Result<String, String> {
    let s = string(v)?;
    if !is_valid_node_name(&s) {
        return Err(format!("{s:?} is not a valid host name"));
    }
    Ok(s)
}

/// The IPMI user rule of the fence agent itself ([`axha_ipmi::check_user_name`]).
fn bmc_user(v: &Value) -> Result<String, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("expected a string, found {}", v.type_str()))?;
    axha_ipmi::check_user_name(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

fn path(v: &Value) -> Result<String, String> {
    let s = string(v)?;
    if !s.starts_with('/') {
        return Err(format!("{s:?} is not an absolute path"));
    }
    Ok(s)
}

/// A path handed to a fence agent: only characters that need no quoting anywhere (stonith
/// parameters also travel as `key=value` lines and through pcs/crm scripts).
fn plain_path(v: &Value) -> Result<String, String> {
    let s = path(v)?;
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | '@'))
    {
        return Err(format!(
            "{s:?} may hold only letters, digits and / . _ - + @"
        ));
    }
    Ok(s)
}

/// Pacemaker ids are XML IDs (NCName); we take the portable subset that is also safe in
/// pcs/crm scripts: a letter, then letters, digits, `-`, `_`, `.`.
pub fn is_valid_id(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphabetic())
        && c.all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        && s.len() <= 64
}

/// Host names as RFC 1123 labels separated by dots (corosync and Pacemaker node names).
pub fn is_valid_node_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl Values {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_is_bounded_and_text_only() {
        let e = read_values(Path::new("/dev/zero")).unwrap_err();
        assert!(
            matches!(&e, CibError::Read(axha_exec::ReadError::TooLarge { max, .. }) if *max == MAX_VALUES_FILE),
            "{e}"
        );
        assert_eq!(e.to_string(), "/dev/zero holds more than 1048576 bytes");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("values.toml");
        std::fs::write(&f, b"[cluster]\nname = \"\xff\"\n").unwrap();
        let e = read_values(&f).unwrap_err();
        assert_eq!(e.to_string(), format!("{} is not UTF-8 text", f.display()));
        let e = read_values(&dir.path().join("missing.toml")).unwrap_err();
        assert!(matches!(&e, CibError::Read(r) if r.is_not_found()), "{e}");
    }

    pub const GOOD: &str = r#"
[cluster]
name = "mail"

[[nodes]]
name = "n1"
address = "10.0.0.1"
bmc = { ip = "10.0.1.1", user = "admin", password_file = "/etc/axigen-ha/bmc-n1" }

[[nodes]]
name = "n2"
address = "10.0.0.2"
bmc = { ip = "10.0.1.2", port = 6230, user = "admin", password_file = "/etc/axigen-ha/bmc-n2" }

[[instances]]
id = "mail1"
workdir = "/var/opt/axigen"
ip = "10.0.0.100"
cidr = 24
device = "/dev/drbd0"
mountpoint = "/var/opt/axigen"
fstype = "ext4"
preferred_node = "n1"
cli_password_file = "/etc/axigen-ha/cli-mail1"
"#;

    fn errors(text: &str) -> Vec<String> {
        match parse_values(text) {
            Err(CibError::Values { problems, .. }) => problems,
            other => panic!("expected a values error, got {other:?}"),
        }
    }

    #[test]
    fn good_file_gets_defaults() {
        let v = parse_values(GOOD).unwrap();
        assert_eq!(v.cluster_name, "mail");
        assert_eq!(v.nodes[0].id, 1);
        assert_eq!(v.nodes[1].id, 2);
        assert_eq!(v.nodes[0].bmc_port, 623);
        assert_eq!(v.nodes[1].bmc_port, 6230);
        assert_eq!(v.instances[0].binary, DEFAULT_BINARY);
        assert_eq!(v.instances[0].config, "/var/opt/axigen/run/axigen.cfg");
        assert_eq!(v.instances[0].cli_port, 7000);
        assert_eq!(v.storage, None);
    }

    #[test]
    fn bad_ip_names_the_field() {
        let text = GOOD.replace("10.0.0.100", "10.0.0.300");
        assert_eq!(
            errors(&text),
            vec![r#"instances[0].ip: "10.0.0.300" is not an IPv4 address"#]
        );
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = GOOD.replace("cidr = 24", "cidr = 24\ncolour = \"blue\"");
        let e = errors(&text);
        assert!(e[0].contains("unknown field `colour`"), "{e:?}");
    }

    #[test]
    fn missing_field_is_named() {
        let text = GOOD.replace("fstype = \"ext4\"\n", "");
        let e = errors(&text);
        assert!(e[0].contains("missing field `fstype`"), "{e:?}");
    }

    #[test]
    fn all_problems_are_reported() {
        let text = GOOD
            .replace("preferred_node = \"n1\"", "preferred_node = \"n9\"")
            .replace("name = \"n2\"", "name = \"n1\"")
            .replace("/etc/axigen-ha/bmc-n1", "/etc/a b; rm -rf /");
        let e = errors(&text);
        assert!(
            e.contains(&r#"nodes[1].name: "n1" appears twice"#.to_string()),
            "{e:?}"
        );
        assert!(
            e.contains(&r#"instances[0].preferred_node: "n9" is not one of the nodes"#.to_string()),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("nodes[0].bmc.password_file:")),
            "{e:?}"
        );
    }

    #[test]
    fn storage_and_drbd_must_agree() {
        let e = errors(&format!("storage = \"drbd\"\n{GOOD}"));
        assert!(e[0].starts_with("drbd:"), "{e:?}");
        let e = errors(&format!("storage = \"nfs\"\n{GOOD}"));
        assert_eq!(e, vec![r#"storage: "nfs" is neither "drbd" nor "shared""#]);
        let v = parse_values(&format!(
            "storage = \"drbd\"\ndrbd = {{ resource = \"r0\" }}\n{GOOD}"
        ))
        .unwrap();
        assert_eq!(
            v.storage,
            Some(Storage::Drbd {
                resource: "r0".into()
            })
        );
    }

    #[test]
    fn ids_and_names() {
        assert!(is_valid_id("mail-1.a_b"));
        assert!(!is_valid_id("1mail"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("a\"b"));
        assert!(is_valid_node_name("node-1.example.com"));
        assert!(!is_valid_node_name("-bad"));
        assert!(!is_valid_node_name("a..b"));
        assert!(!is_valid_node_name("n<1>"));
    }

    #[test]
    fn what_the_cluster_would_refuse_is_refused() {
        let case = |from: &str, to: &str| errors(&GOOD.replacen(from, to, 1));
        assert_eq!(
            case("10.0.0.2\"", "10.0.0.1\""),
            vec!["nodes[1].address: 10.0.0.1 is already the address of another node"]
        );
        assert_eq!(
            case("10.0.1.2\", port = 6230", "10.0.1.1\", port = 623"),
            vec!["nodes[1].bmc: 10.0.1.1:623 is already the BMC of another node"]
        );
        // Same BMC address, another port: two BMCs behind one address are fine.
        parse_values(&GOOD.replacen("10.0.1.2", "10.0.1.1", 1)).unwrap();
        assert_eq!(
            case("10.0.0.100", "10.0.0.2"),
            vec!["instances[0].ip: 10.0.0.2 is already the address of a node"]
        );
        assert_eq!(
            case("user = \"admin\"", "user = \"administrator-of-n1\""),
            vec![
                r#"nodes[0].bmc.user: user name "administrator-of-n1" is longer than 16 bytes (IPMI v2.0 §22.28)"#
            ]
        );
        assert_eq!(
            case("user = \"admin\"", "user = \" admin\""),
            vec![r#"nodes[0].bmc.user: user name " admin" begins or ends with white space"#]
        );
        assert_eq!(
            case("user = \"admin\"", "user = \"ad\\rmin\""),
            vec![r#"nodes[0].bmc.user: user name "ad\rmin" contains a control character"#]
        );
        assert_eq!(
            case("user = \"admin\"", "user = \"\""),
            vec![r#"nodes[0].bmc.user: user name "" is empty"#]
        );
        assert_eq!(
            case(
                "workdir = \"/var/opt/axigen\"",
                "workdir = \"/var/opt/ax\\u001bigen\""
            ),
            vec![r#"instances[0].workdir: "/var/opt/ax\u{1b}igen" contains a control character"#]
        );
        assert_eq!(
            case("cidr = 24", "cidr = \"24\""),
            vec!["instances[0].cidr: expected a whole number, found string"]
        );
        assert_eq!(
            case("bmc = { ip", "bmx = { ip"),
            vec![
                "nodes[0]: missing field `bmc`",
                "nodes[0]: unknown field `bmx`"
            ]
        );
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = errors("this is [not toml");
        assert!(!e[0].is_empty());
    }
}
