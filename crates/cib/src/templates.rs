//! The two reference architectures as CIB templates (DESIGN.md, seeds/):
//!
//! - `two-node-active-passive`: one Axigen instance on a node pair; storage either the DRBD
//!   promotable clone (`ocf:axigen:drbd`) or a shared LUN; Filesystem, IPaddr2 and the
//!   instance in a group, colocated with and ordered after the DRBD promotion; one
//!   `fence_axigen_ipmi` device per node with a delay on one side against the fence race;
//!   corosync `two_node`.
//! - `multi-tier-n-plus-1`: N back-end instances, each a group (storage, IP, instance)
//!   preferring its own node; hot stand-by nodes that take at most `standby_capacity`
//!   instances each (utilization + `placement-strategy=balanced`); fencing per node;
//!   stickiness so a returning node causes no needless move.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::model::{
    Agent, Cib, ClusterNode, Constraint, FencingLevel, Op, Pairs, Primitive, Resource, Role, Score,
};
use crate::values::{Instance, LoadBalancer, Storage, Values};
use crate::CibError;

/// Score with which an instance prefers its own node. Below the stickiness of a running group
/// (three members times `resource-stickiness`), so a returning node pulls nothing back.
pub const PREFERRED_NODE_SCORE: i32 = 100;
/// Utilization attribute that counts instances.
pub const CAPACITY: &str = "capacity";
/// The fence agent every template uses.
pub const FENCE_AGENT: &str = "fence_axigen_ipmi";

/// The reference architectures a values file renders into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Template {
    /// One instance on a node pair: DRBD or shared storage, a fence delay on one side.
    TwoNodeActivePassive,
    /// Back-end instances on their own nodes and hot stand-by nodes that take them over.
    MultiTierNPlus1,
}

/// One table drives the names, descriptions, parsing and the list.
const TEMPLATES: &[(Template, &str, &str)] = &[
    (
        Template::TwoNodeActivePassive,
        "two-node-active-passive",
        "one Axigen instance on a node pair: DRBD (or shared) storage, Filesystem, IP, instance; IPMI fencing with a delay on one side; corosync two_node",
    ),
    (
        Template::MultiTierNPlus1,
        "multi-tier-n-plus-1",
        "N back-end instances, each preferring its own node, and hot stand-by nodes taking at most two instances each; IPMI fencing per node",
    ),
];

impl Template {
    /// Every template.
    pub fn all() -> impl Iterator<Item = Template> {
        TEMPLATES.iter().map(|t| t.0)
    }
    fn entry(&self) -> &'static (Template, &'static str, &'static str) {
        TEMPLATES
            .iter()
            .find(|t| t.0 == *self)
            .expect("every template is in the table")
    }
    /// The template's name on the command line.
    pub fn name(&self) -> &'static str {
        self.entry().1
    }
    /// One line saying what the template builds.
    pub fn description(&self) -> &'static str {
        self.entry().2
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Template {
    type Err = CibError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TEMPLATES
            .iter()
            .find(|t| t.1 == s)
            .map(|t| t.0)
            .ok_or_else(|| CibError::UnknownTemplate(s.to_string()))
    }
}

fn pairs<const N: usize>(kv: [(&str, String); N]) -> Pairs {
    kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn problem(field: &str, msg: impl fmt::Display) -> String {
    format!("{field}: {msg}")
}

/// Ids of the resources made for one instance.
pub struct InstanceIds {
    /// The instance's group (`grp-<id>`).
    pub group: String,
    /// Its Filesystem resource (`fs-<id>`).
    pub filesystem: String,
    /// Its IPaddr2 resource (`ip-<id>`).
    pub ip: String,
    /// Its `ocf:axigen:instance` resource (`<id>`).
    pub instance: String,
}

/// The ids of the resources of instance `id`.
pub fn instance_ids(id: &str) -> InstanceIds {
    InstanceIds {
        group: format!("grp-{id}"),
        filesystem: format!("fs-{id}"),
        ip: format!("ip-{id}"),
        instance: id.to_string(),
    }
}

/// Id of the fence device of `node` (`fence-<node>`).
pub fn fence_id(node: &str) -> String {
    format!("fence-{node}")
}

fn fence_devices(v: &Values) -> (Vec<Resource>, Vec<Constraint>) {
    let mut res = Vec::new();
    let mut cons = Vec::new();
    for n in &v.nodes {
        let id = fence_id(&n.name);
        let mut params = pairs([
            ("ip", n.bmc_ip.to_string()),
            ("ipport", n.bmc_port.to_string()),
            ("username", n.bmc_user.clone()),
            // The password stays in its file (the agent reads its first line), so it is
            // never in the CIB.
            ("password_file", n.bmc_password_file.clone()),
            // The agent refuses to act on any other node than this one: a wrong host map
            // can never power off the wrong machine.
            ("bound_node", n.name.clone()),
            ("pcmk_host_list", n.name.clone()),
            ("pcmk_host_check", "static-list".to_string()),
        ]);
        if let Some(d) = &v.fence_delay {
            if d.node == n.name {
                // Delaying the fencing OF this node lets it shoot first in a partition.
                params.push(("pcmk_delay_base".into(), format!("{}s", d.seconds)));
            }
        }
        res.push(Resource::Primitive(Primitive {
            id: id.clone(),
            agent: Agent::stonith(FENCE_AGENT),
            params,
            meta: vec![],
            utilization: vec![],
            ops: vec![Op::new("monitor", 60, 20)],
        }));
        // A node never runs the device that fences itself (it could not fence itself).
        cons.push(Constraint::Location {
            id: format!("loc-{id}-avoids-{}", n.name),
            rsc: id,
            node: n.name.clone(),
            score: Score::MinusInfinity,
        });
    }
    (res, cons)
}

/// The stock agent of the PDU level (fence-agents).
pub const PDU_FENCE_AGENT: &str = "fence_apc_snmp";

/// Id of the PDU fence device of `node` (`fence-pdu-<node>`).
pub fn pdu_fence_id(node: &str) -> String {
    format!("fence-pdu-{node}")
}

/// Nodes with a `[nodes.pdu]` outlet get a second fencing level: a `fence_apc_snmp` device
/// for their outlet (kept off the node itself) and a topology of level 1 their BMC device,
/// level 2 the outlet. Their BMC device then tries once per action (`pcmk_*_retries=1`):
/// a BMC that did not answer within the agent's login timeout (which retransmits) will not
/// answer a second time, and each try delays the PDU level by that timeout.
fn add_pdu_level(cib: &mut Cib, v: &Values) {
    for n in &v.nodes {
        let Some(pdu) = &n.pdu else {
            continue;
        };
        let id = pdu_fence_id(&n.name);
        let ipmi = fence_id(&n.name);
        for r in cib.resources.iter_mut() {
            if let Resource::Primitive(p) = r {
                if p.id == ipmi {
                    p.params.extend(pairs([
                        ("pcmk_off_retries", "1".to_string()),
                        ("pcmk_reboot_retries", "1".to_string()),
                    ]));
                }
            }
        }
        cib.resources.push(Resource::Primitive(Primitive {
            id: id.clone(),
            agent: Agent::stonith(PDU_FENCE_AGENT),
            params: pairs([
                ("ip", pdu.ip.to_string()),
                ("ipport", pdu.port.to_string()),
                ("community", pdu.community.clone()),
                ("snmp_version", pdu.snmp_version.clone()),
                ("plug", pdu.outlet.to_string()),
                ("pcmk_host_list", n.name.clone()),
                ("pcmk_host_check", "static-list".to_string()),
            ]),
            meta: vec![],
            utilization: vec![],
            ops: vec![Op::new("monitor", 60, 20)],
        }));
        cib.constraints.push(Constraint::Location {
            id: format!("loc-{id}-avoids-{}", n.name),
            rsc: id.clone(),
            node: n.name.clone(),
            score: Score::MinusInfinity,
        });
        for (index, device) in [(1, ipmi), (2, id)] {
            cib.fencing_levels.push(FencingLevel {
                target: n.name.clone(),
                index,
                devices: vec![device],
            });
        }
    }
}

fn instance_group(i: &Instance, capacity: bool) -> Resource {
    let ids = instance_ids(&i.id);
    let fs = Primitive {
        id: ids.filesystem,
        agent: Agent::ocf("heartbeat", "Filesystem"),
        params: pairs([
            ("device", i.device.clone()),
            ("directory", i.mountpoint.clone()),
            ("fstype", i.fstype.clone()),
        ]),
        meta: vec![],
        // On the group's first member: Pacemaker checks a member's utilization when it places
        // that member, so on a later one a full stand-by would still take the instance's
        // storage and IP although its server cannot run there.
        utilization: if capacity {
            pairs([(CAPACITY, "1".to_string())])
        } else {
            vec![]
        },
        ops: vec![
            Op::new("start", 0, 60),
            Op::new("stop", 0, 60),
            Op::new("monitor", 20, 40),
        ],
    };
    let mut ip_params = pairs([
        ("ip", i.ip.to_string()),
        ("cidr_netmask", i.cidr.to_string()),
    ]);
    if let Some(nic) = &i.nic {
        ip_params.push(("nic".into(), nic.clone()));
    }
    let ip = Primitive {
        id: ids.ip,
        agent: Agent::ocf("heartbeat", "IPaddr2"),
        params: ip_params,
        meta: vec![],
        utilization: vec![],
        ops: vec![Op::new("monitor", 10, 20)],
    };
    let mut params = pairs([
        ("workdir", i.workdir.clone()),
        ("binary", i.binary.clone()),
        ("config", i.config.clone()),
        ("address", i.ip.to_string()),
        ("cli_port", i.cli_port.to_string()),
        ("cli_user", i.cli_user.clone()),
    ]);
    if let Some(f) = &i.cli_password_file {
        params.push(("cli_password_file".into(), f.clone()));
    }
    let inst = Primitive {
        id: ids.instance,
        agent: Agent::ocf("axigen", "instance"),
        params,
        meta: vec![],
        utilization: vec![],
        // Axigen start and stop can take tens of seconds on a large store (DESIGN.md).
        // Monitors as the agent declares them: a cheap process check every 10 s, the
        // protocol greetings (depth 10) every minute.
        ops: vec![
            Op::new("start", 0, 120),
            Op::new("stop", 0, 120),
            Op::new("monitor", 10, 30),
            Op::new("monitor", 60, 30).with_depth(10),
        ],
    };
    Resource::Group {
        id: ids.group,
        members: vec![fs, ip, inst],
    }
}

fn common_defaults(v: &Values) -> Pairs {
    pairs([
        ("resource-stickiness", v.stickiness.to_string()),
        ("migration-threshold", v.migration_threshold.to_string()),
    ])
}

fn nodes(v: &Values, capacity: impl Fn(&str) -> Option<u32>) -> Vec<ClusterNode> {
    v.nodes
        .iter()
        .map(|n| ClusterNode {
            id: n.id,
            name: n.name.clone(),
            address: n.address,
            address2: n.address2,
            utilization: capacity(&n.name)
                .map(|c| pairs([(CAPACITY, c.to_string())]))
                .unwrap_or_default(),
        })
        .collect()
}

fn two_node(v: &Values) -> Result<Cib, Vec<String>> {
    let mut p = Vec::new();
    if v.nodes.len() != 2 {
        p.push(problem(
            "nodes",
            format!("this template needs exactly 2 nodes, not {}", v.nodes.len()),
        ));
    }
    if v.instances.len() != 1 {
        p.push(problem(
            "instances",
            format!(
                "this template runs exactly 1 instance, not {}",
                v.instances.len()
            ),
        ));
    }
    if !v.standby_nodes.is_empty() {
        p.push(problem(
            "standby_nodes",
            "only for multi-tier-n-plus-1 (the passive node is the stand-by)",
        ));
    }
    let storage = match &v.storage {
        Some(s) => s.clone(),
        None => {
            p.push(problem(
                "storage",
                "missing: \"drbd\" (with [drbd] resource) or \"shared\"",
            ));
            Storage::Shared
        }
    };
    if !p.is_empty() {
        return Err(p);
    }
    let inst = &v.instances[0];
    let (mut resources, mut constraints) = fence_devices(v);
    let group = instance_group(inst, false);
    let gid = group.id().to_string();
    if let Storage::Drbd { resource } = &storage {
        let child_id = format!("drbd-{resource}");
        let clone_id = format!("{child_id}-clone");
        resources.push(Resource::Clone {
            id: clone_id.clone(),
            child: Primitive {
                id: child_id,
                agent: Agent::ocf("axigen", "drbd"),
                params: pairs([("drbd_resource", resource.clone())]),
                meta: vec![],
                utilization: vec![],
                // Two monitors with different intervals: Pacemaker tells recurring ops
                // apart by interval, and each role needs its own.
                ops: vec![
                    Op::new("start", 0, 240),
                    Op::new("stop", 0, 100),
                    Op::new("promote", 0, 90),
                    Op::new("demote", 0, 90),
                    Op::new("notify", 0, 90),
                    Op::new("monitor", 20, 20).with_role(Role::Promoted),
                    Op::new("monitor", 30, 20).with_role(Role::Unpromoted),
                ],
            },
            meta: pairs([
                ("promotable", "true".to_string()),
                ("notify", "true".to_string()),
                ("promoted-max", "1".to_string()),
                ("promoted-node-max", "1".to_string()),
                ("clone-max", "2".to_string()),
                ("clone-node-max", "1".to_string()),
            ]),
        });
        constraints.push(Constraint::Colocation {
            id: format!("col-{gid}-with-{clone_id}"),
            rsc: gid.clone(),
            with_rsc: clone_id.clone(),
            with_role: Some(Role::Promoted),
            score: Score::Infinity,
        });
        constraints.push(Constraint::Order {
            id: format!("ord-{clone_id}-before-{gid}"),
            first: clone_id,
            first_action: "promote".into(),
            then: gid.clone(),
            then_action: "start".into(),
        });
    }
    resources.push(group);
    constraints.push(Constraint::Location {
        id: format!("loc-{gid}-prefers-{}", inst.preferred_node),
        rsc: gid,
        node: inst.preferred_node.clone(),
        score: Score::Value(PREFERRED_NODE_SCORE),
    });
    Ok(Cib {
        cluster_name: v.cluster_name.clone(),
        properties: pairs([("stonith-enabled", "true".to_string())]),
        rsc_defaults: common_defaults(v),
        nodes: nodes(v, |_| None),
        resources,
        constraints,
        fencing_levels: Vec::new(),
        two_node: true,
    })
}

fn multi_tier(v: &Values) -> Result<Cib, Vec<String>> {
    let mut p = Vec::new();
    if v.standby_nodes.is_empty() {
        p.push(problem(
            "standby_nodes",
            "at least one hot stand-by node is required",
        ));
    }
    if matches!(v.storage, Some(Storage::Drbd { .. })) {
        p.push(problem(
            "storage",
            "\"drbd\" is for two-node-active-passive; multi-tier instances use shared storage",
        ));
    }
    let standby: BTreeSet<&str> = v.standby_nodes.iter().map(String::as_str).collect();
    let mut homes = BTreeSet::new();
    for (i, inst) in v.instances.iter().enumerate() {
        let field = format!("instances[{i}].preferred_node");
        if standby.contains(inst.preferred_node.as_str()) {
            p.push(problem(
                &field,
                format!(
                    "{:?} is a stand-by node, not a back-end",
                    inst.preferred_node
                ),
            ));
        } else if !homes.insert(inst.preferred_node.as_str()) {
            p.push(problem(
                &field,
                format!(
                    "back-end {:?} already runs another instance (capacity 1)",
                    inst.preferred_node
                ),
            ));
        }
    }
    if v.nodes.len() < 2 {
        p.push(problem(
            "nodes",
            "at least one back-end and one stand-by node are required",
        ));
    }
    if let Some(lb) = &v.load_balancer {
        p.extend(load_balancer_problems(v, lb, &homes, &standby));
    }
    if !p.is_empty() {
        return Err(p);
    }
    let (mut resources, mut constraints) = fence_devices(v);
    if let Some(lb) = &v.load_balancer {
        let (r, c) = load_balancer(lb);
        resources.extend(r);
        constraints.extend(c);
    }
    for inst in &v.instances {
        let group = instance_group(inst, true);
        let gid = group.id().to_string();
        resources.push(group);
        constraints.push(Constraint::Location {
            id: format!("loc-{gid}-prefers-{}", inst.preferred_node),
            rsc: gid.clone(),
            node: inst.preferred_node.clone(),
            score: Score::Value(PREFERRED_NODE_SCORE),
        });
        let mut allowed = vec![inst.preferred_node.clone()];
        allowed.extend(v.standby_nodes.iter().cloned());
        constraints.push(Constraint::OnlyOn {
            id: format!("loc-{gid}-only-home-or-standby"),
            rsc: gid,
            allowed,
        });
    }
    let cap = v.standby_capacity;
    Ok(Cib {
        cluster_name: v.cluster_name.clone(),
        properties: pairs([
            ("stonith-enabled", "true".to_string()),
            // Utilization limits are enforced only with a placement strategy other than
            // "default"; "balanced" also spreads instances over the stand-bys.
            ("placement-strategy", "balanced".to_string()),
        ]),
        rsc_defaults: common_defaults(v),
        // Back-ends: room for their own instance; stand-bys: the best-practice two.
        nodes: nodes(v, |n| Some(if standby.contains(n) { cap } else { 1 })),
        resources,
        constraints,
        fencing_levels: Vec::new(),
        two_node: v.nodes.len() == 2,
    })
}

/// Load-balancer nodes are cluster nodes that are neither back-ends nor stand-bys.
fn load_balancer_problems(
    v: &Values,
    lb: &LoadBalancer,
    homes: &BTreeSet<&str>,
    standby: &BTreeSet<&str>,
) -> Vec<String> {
    let mut p = Vec::new();
    if lb.nodes.is_empty() {
        p.push(problem(
            "load_balancer.nodes",
            "at least one node is required",
        ));
    }
    for (i, n) in lb.nodes.iter().enumerate() {
        let field = format!("load_balancer.nodes[{i}]");
        if v.node(n).is_none() {
            p.push(problem(&field, format!("{n:?} is not in [[nodes]]")));
        } else if homes.contains(n.as_str()) || standby.contains(n.as_str()) {
            p.push(problem(
                &field,
                format!("{n:?} is a back-end or stand-by node, not a front-end"),
            ));
        }
    }
    if v.instances.iter().any(|i| i.ip == lb.vip) {
        p.push(problem(
            "load_balancer.vip",
            format!("{} is an instance's service IP", lb.vip),
        ));
    }
    p
}

/// The load balancer: HAProxy cloned on the front-end nodes (`ocf:heartbeat:anything`,
/// HAProxy in the foreground), the VIP on one of them where HAProxy runs, started after it.
/// HAProxy binds the VIP before it arrives (`transparent`), so only the address moves.
fn load_balancer(lb: &LoadBalancer) -> (Vec<Resource>, Vec<Constraint>) {
    let haproxy = Primitive {
        id: "lb-haproxy".into(),
        agent: Agent::ocf("heartbeat", "anything"),
        params: pairs([
            ("binfile", "/usr/sbin/haproxy".to_string()),
            ("cmdline_options", format!("-db -f {}", lb.haproxy_config)),
        ]),
        meta: vec![],
        utilization: vec![],
        ops: vec![
            Op::new("start", 0, 20),
            Op::new("stop", 0, 20),
            Op::new("monitor", 5, 20),
        ],
    };
    let vip = Primitive {
        id: "lb-vip".into(),
        agent: Agent::ocf("heartbeat", "IPaddr2"),
        params: pairs([
            ("ip", lb.vip.to_string()),
            ("cidr_netmask", lb.cidr.to_string()),
        ]),
        meta: vec![],
        utilization: vec![],
        ops: vec![Op::new("monitor", 5, 20)],
    };
    let clone_id = "lb-haproxy-clone".to_string();
    let resources = vec![
        Resource::Clone {
            id: clone_id.clone(),
            child: haproxy,
            meta: pairs([("clone-max", lb.nodes.len().to_string())]),
        },
        Resource::Primitive(vip),
    ];
    let constraints = vec![
        Constraint::OnlyOn {
            id: "loc-lb-haproxy-only-front-ends".into(),
            rsc: clone_id.clone(),
            allowed: lb.nodes.clone(),
        },
        Constraint::OnlyOn {
            id: "loc-lb-vip-only-front-ends".into(),
            rsc: "lb-vip".into(),
            allowed: lb.nodes.clone(),
        },
        Constraint::Colocation {
            id: "col-lb-vip-with-haproxy".into(),
            rsc: "lb-vip".into(),
            with_rsc: clone_id.clone(),
            with_role: None,
            score: Score::Infinity,
        },
        Constraint::Order {
            id: "ord-lb-haproxy-then-vip".into(),
            first: clone_id,
            first_action: "start".into(),
            then: "lb-vip".into(),
            then_action: "start".into(),
        },
    ];
    (resources, constraints)
}

/// Every id in the CIB must be unique; instance ids could clash with generated ones.
fn check_unique_ids(cib: &Cib) -> Result<(), Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut p = Vec::new();
    let ids = cib
        .resources
        .iter()
        .flat_map(|r| {
            let mut v = vec![r.id().to_string()];
            if !matches!(r, Resource::Primitive(_)) {
                v.extend(r.primitives().iter().map(|p| p.id.clone()));
            }
            v
        })
        .chain(cib.constraints.iter().map(|c| match c {
            Constraint::Location { id, .. }
            | Constraint::OnlyOn { id, .. }
            | Constraint::Colocation { id, .. }
            | Constraint::Order { id, .. } => id.clone(),
        }));
    for id in ids {
        if !seen.insert(id.clone()) {
            p.push(problem(
                "instances",
                format!("resource id {id:?} would be used twice; rename the instance"),
            ));
        }
    }
    if p.is_empty() {
        Ok(())
    } else {
        Err(p)
    }
}

/// Build the configuration of `template` from validated values.
pub fn build(template: Template, v: &Values) -> Result<Cib, CibError> {
    let r = match template {
        Template::TwoNodeActivePassive => two_node(v),
        Template::MultiTierNPlus1 => multi_tier(v),
    };
    let mut cib = r.map_err(|problems| CibError::Values {
        problems,
        span: None,
    })?;
    add_pdu_level(&mut cib, v);
    check_unique_ids(&cib).map_err(|problems| CibError::Values {
        problems,
        span: None,
    })?;
    Ok(cib)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::values::parse_values;

    fn node(n: u32) -> String {
        format!(
            "[[nodes]]\nname = \"n{n}\"\naddress = \"10.0.0.{n}\"\nbmc = {{ ip = \"10.0.1.{n}\", user = \"admin\", password_file = \"/etc/axigen-ha/bmc-n{n}\" }}\n"
        )
    }
    fn instance(id: &str, n: u32) -> String {
        format!(
            "[[instances]]\nid = \"{id}\"\nworkdir = \"/var/opt/{id}\"\nip = \"10.0.0.{}\"\ncidr = 24\ndevice = \"/dev/disk/by-id/{id}\"\nmountpoint = \"/var/opt/{id}\"\nfstype = \"ext4\"\npreferred_node = \"n{n}\"\ncli_password_file = \"/etc/axigen-ha/{id}-cli\"\n",
            100 + n
        )
    }

    /// Multi-tier values: back-ends n1..=backends each with instance mailN, stand-bys after.
    pub fn multi_tier_values(backends: u32, standbys: u32) -> String {
        let mut s = String::from("standby_nodes = [");
        s += &(backends + 1..=backends + standbys)
            .map(|i| format!("\"n{i}\""))
            .collect::<Vec<_>>()
            .join(", ");
        s += "]\n";
        for i in 1..=backends + standbys {
            s += &node(i);
        }
        for i in 1..=backends {
            s += &instance(&format!("mail{i}"), i);
        }
        s
    }

    pub fn two_node_values(storage: &str) -> String {
        let mut s = match storage {
            "drbd" => "storage = \"drbd\"\ndrbd = { resource = \"r0\" }\n".to_string(),
            _ => "storage = \"shared\"\n".to_string(),
        };
        s += "fencing = { delay_node = \"n1\", delay_seconds = 5 }\n";
        s += &node(1);
        s += &node(2);
        s += &instance("mail1", 1);
        s
    }

    fn problems(t: Template, text: &str) -> Vec<String> {
        let v = parse_values(text).unwrap();
        match build(t, &v) {
            Err(CibError::Values { problems, .. }) => problems,
            other => panic!("expected a values error, got {other:?}"),
        }
    }

    #[test]
    fn names_round_trip() {
        for t in Template::all() {
            assert_eq!(t.name().parse::<Template>().unwrap(), t);
        }
        assert!(matches!(
            "three-node".parse::<Template>(),
            Err(CibError::UnknownTemplate(_))
        ));
    }

    #[test]
    fn multi_tier_shape() {
        let v = parse_values(&multi_tier_values(2, 1)).unwrap();
        let cib = build(Template::MultiTierNPlus1, &v).unwrap();
        assert_eq!(cib.instance_ids(), vec!["mail1", "mail2"]);
        let caps: Vec<_> = cib
            .nodes
            .iter()
            .map(|n| n.utilization[0].1.as_str())
            .collect();
        assert_eq!(caps, vec!["1", "1", "2"]);
        assert!(cib
            .properties
            .contains(&("placement-strategy".into(), "balanced".into())));
        assert_eq!(cib.primitives().filter(|p| p.agent.is_stonith()).count(), 3);
        assert!(cib.constraints.contains(&Constraint::OnlyOn {
            id: "loc-grp-mail1-only-home-or-standby".into(),
            rsc: "grp-mail1".into(),
            allowed: vec!["n1".into(), "n3".into()],
        }));
        assert!(!cib.two_node);
    }

    #[test]
    fn two_node_drbd_shape() {
        let v = parse_values(&two_node_values("drbd")).unwrap();
        let cib = build(Template::TwoNodeActivePassive, &v).unwrap();
        assert!(cib.two_node);
        let fence_n1 = cib.primitives().find(|p| p.id == "fence-n1").unwrap();
        assert!(fence_n1
            .params
            .contains(&("pcmk_delay_base".into(), "5s".into())));
        let fence_n2 = cib.primitives().find(|p| p.id == "fence-n2").unwrap();
        assert!(!fence_n2.params.iter().any(|(k, _)| k == "pcmk_delay_base"));
        assert!(cib.resources.iter().any(|r| r.id() == "drbd-r0-clone"));
        assert!(cib.constraints.iter().any(|c| matches!(c,
            Constraint::Colocation { with_role: Some(Role::Promoted), with_rsc, .. } if with_rsc == "drbd-r0-clone")));
        // No secret in the configuration: only the path of the file that holds it.
        assert!(fence_n1
            .params
            .contains(&("password_file".into(), "/etc/axigen-ha/bmc-n1".into())));
        assert!(fence_n1
            .params
            .contains(&("bound_node".into(), "n1".into())));
    }

    #[test]
    fn template_rules_name_fields() {
        let three = multi_tier_values(2, 1);
        let e = problems(Template::TwoNodeActivePassive, &three);
        assert!(
            e.iter()
                .any(|m| m.starts_with("nodes: this template needs exactly 2")),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.starts_with("instances: ")), "{e:?}");
        assert!(e.iter().any(|m| m.starts_with("standby_nodes: ")), "{e:?}");
        assert!(e.iter().any(|m| m.starts_with("storage: missing")), "{e:?}");

        let no_standby = three.replace("standby_nodes = [\"n3\"]", "standby_nodes = []");
        let e = problems(Template::MultiTierNPlus1, &no_standby);
        assert_eq!(
            e,
            vec!["standby_nodes: at least one hot stand-by node is required"]
        );

        let on_standby = three.replace("preferred_node = \"n2\"", "preferred_node = \"n3\"");
        let e = problems(Template::MultiTierNPlus1, &on_standby);
        assert_eq!(
            e,
            vec![r#"instances[1].preferred_node: "n3" is a stand-by node, not a back-end"#]
        );
        let same_home = three.replace("preferred_node = \"n2\"", "preferred_node = \"n1\"");
        let e = problems(Template::MultiTierNPlus1, &same_home);
        assert!(
            e[0].starts_with("instances[1].preferred_node: back-end \"n1\" already"),
            "{e:?}"
        );
    }

    #[test]
    fn clashing_generated_ids_are_refused() {
        let text = multi_tier_values(2, 1).replace("id = \"mail2\"", "id = \"fence-n1\"");
        let e = problems(Template::MultiTierNPlus1, &text);
        assert!(e[0].contains("\"fence-n1\" would be used twice"), "{e:?}");
    }

    /// Multi-tier values with a second link and a PDU outlet per node.
    fn with_links_and_pdu(text: &str) -> String {
        let mut out = String::new();
        for line in text.lines() {
            out.push_str(line);
            out.push('\n');
            if let Some(n) = line
                .strip_prefix("address = \"10.0.0.")
                .and_then(|r| r.strip_suffix('"'))
            {
                out.push_str(&format!(
                    "address2 = \"10.0.9.{n}\"\npdu = {{ ip = \"10.0.1.250\", outlet = {n}, community = \"rw\" }}\n"
                ));
            }
        }
        out
    }

    #[test]
    fn pdu_outlets_become_a_second_fencing_level() {
        let text = with_links_and_pdu(&multi_tier_values(2, 1));
        let v = parse_values(&text).unwrap();
        let cib = build(Template::MultiTierNPlus1, &v).unwrap();
        let pdu2 = cib.primitives().find(|p| p.id == "fence-pdu-n2").unwrap();
        assert_eq!(pdu2.agent, Agent::stonith("fence_apc_snmp"));
        let param = |p: &Primitive, k: &str| {
            p.params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(param(pdu2, "plug").as_deref(), Some("2"));
        assert_eq!(param(pdu2, "community").as_deref(), Some("rw"));
        assert_eq!(param(pdu2, "pcmk_host_list").as_deref(), Some("n2"));
        let ipmi2 = cib.primitives().find(|p| p.id == "fence-n2").unwrap();
        assert_eq!(param(ipmi2, "pcmk_reboot_retries").as_deref(), Some("1"));
        assert!(cib.constraints.iter().any(|c| matches!(c,
            Constraint::Location { rsc, node, score: Score::MinusInfinity, .. }
                if rsc == "fence-pdu-n2" && node == "n2")));
        let levels: Vec<_> = cib
            .fencing_levels
            .iter()
            .filter(|l| l.target == "n2")
            .map(|l| (l.index, l.devices.join(",")))
            .collect();
        assert_eq!(
            levels,
            vec![(1, "fence-n2".to_string()), (2, "fence-pdu-n2".to_string())]
        );
        assert_eq!(cib.fencing_levels.len(), 6);
        assert_eq!(cib.nodes[2].address2, Some("10.0.9.3".parse().unwrap()));
        let xml = crate::xml::render(&cib);
        assert!(
            xml.contains(
                r#"<fencing-level id="fl-n2-2" target="n2" index="2" devices="fence-pdu-n2"/>"#
            ),
            "{xml}"
        );
        let crm = crate::script::render_crm(&cib, "t");
        assert!(crm.contains("\tn2: fence-n2 fence-pdu-n2"), "{crm}");
        let pcs = crate::script::render_pcs(&cib, "t");
        assert!(
            pcs.contains("pcs stonith level add 2 n2 fence-pdu-n2\n"),
            "{pcs}"
        );
        let coro = crate::script::render_corosync(&cib);
        assert!(
            coro.contains("ring0_addr: 10.0.0.3\n\t\tring1_addr: 10.0.9.3\n"),
            "{coro}"
        );
    }

    #[test]
    fn values_without_pdu_or_second_link_render_as_before() {
        let v = parse_values(&multi_tier_values(2, 1)).unwrap();
        let cib = build(Template::MultiTierNPlus1, &v).unwrap();
        assert!(cib.fencing_levels.is_empty());
        assert!(!crate::xml::render(&cib).contains("fencing-topology"));
        assert!(!crate::script::render_corosync(&cib).contains("ring1_addr"));
        assert!(!crate::script::render_crm(&cib, "t").contains("fencing_topology"));
        let fence1 = cib.primitives().find(|p| p.id == "fence-n1").unwrap();
        assert!(!fence1.params.iter().any(|(k, _)| k.ends_with("_retries")));
    }

    #[test]
    fn links_and_outlets_are_checked() {
        let good = with_links_and_pdu(&multi_tier_values(2, 1));
        let e = |text: &str| match parse_values(text) {
            Err(CibError::Values { problems, .. }) => problems.join("\n"),
            other => panic!("expected problems, got {other:?}"),
        };
        let one_missing = good.replacen("address2 = \"10.0.9.2\"\n", "", 1);
        assert!(
            e(&one_missing).contains("nodes[1].address2: missing"),
            "{}",
            e(&one_missing)
        );
        let clash = good.replace("10.0.9.2", "10.0.0.1");
        assert!(e(&clash).contains("already a node's first-link address"));
        let same_outlet = good.replace("outlet = 2", "outlet = 1");
        assert!(
            e(&same_outlet).contains("nodes[1].pdu.outlet"),
            "{}",
            e(&same_outlet)
        );
        let v3 = good.replacen(
            "community = \"rw\"",
            "community = \"rw\", snmp_version = \"3\"",
            1,
        );
        assert!(e(&v3).contains("snmp_version"), "{}", e(&v3));
        let no_outlet = good.replacen("outlet = 1, ", "", 1);
        assert!(e(&no_outlet).contains("nodes[0].pdu"), "{}", e(&no_outlet));
        let stray = good.replacen("community = \"rw\"", "community = \"rw\", user = \"x\"", 1);
        assert!(e(&stray).contains("unknown field `user`"), "{}", e(&stray));
    }
}
