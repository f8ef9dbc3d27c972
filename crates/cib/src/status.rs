//! Cluster state from Pacemaker's XML output (`crm_mon --output-as=xml`, and the
//! `revised_cluster_status` of `crm_simulate --output-as=xml`, which has the same shape).
//! Pacemaker state is read as XML, never scraped from text (LAB-RECIPES.md §6): 2.1.5 says
//! Promoted/Unpromoted where older tools say Master/Slave. This is the one parser of that
//! output: `axigen-ha status`/doctor and the lab both read the cluster through it.

use std::time::Duration;

use axha_exec::{Cmd, Deadline};
use serde::Serialize;

use crate::CibError;

/// Pacemaker's INFINITY for scores and fail counts.
pub const SCORE_INFINITY: u32 = 1_000_000;

/// The agent of an Axigen service instance.
pub const INSTANCE_AGENT: &str = "ocf:axigen:instance";

/// A node's state as an operator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// A cluster member, running resources.
    Online,
    /// Not a member (stopped or fenced).
    Offline,
    /// Lost without a confirmed fence: the cluster must fence it before recovering.
    Unclean,
    /// Put in standby: a member that runs no resources.
    Standby,
    /// In maintenance: Pacemaker neither starts nor stops anything on it.
    Maintenance,
    /// Joining the cluster.
    Pending,
}

impl NodeState {
    /// The state as `axigen-ha status` prints it.
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeState::Online => "online",
            NodeState::Offline => "offline",
            NodeState::Unclean => "unclean",
            NodeState::Standby => "standby",
            NodeState::Maintenance => "maintenance",
            NodeState::Pending => "pending",
        }
    }
}

/// One node as crm_mon reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// Node name.
    pub name: String,
    /// Its id in the CIB (corosync's node id).
    pub id: String,
    /// What an operator needs to know first.
    pub state: NodeState,
    /// crm_mon's `online` flag as is: `state` ranks unclean above it, and an unclean node may
    /// still be a corosync member.
    pub online: bool,
    /// It is the Designated Controller (the node that decides).
    pub is_dc: bool,
    /// How many resources run on it.
    pub resources_running: u32,
}

/// One primitive (or clone instance) as crm_mon reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceStatus {
    /// Resource id.
    pub id: String,
    /// `class:provider:type` as crm_mon prints it.
    pub agent: String,
    /// Started, Stopped, Promoted, Unpromoted, Starting...
    pub role: String,
    /// crm_mon's `active` flag: running (or believed running) somewhere.
    pub active: bool,
    /// Nodes it is active on (more than one means it is running twice).
    pub nodes: Vec<String>,
    /// An operation on it failed.
    pub failed: bool,
    /// Pacemaker manages it (not unmanaged).
    pub managed: bool,
    /// Pacemaker cannot act on it until an operator does (a stop failed without fencing).
    pub blocked: bool,
    /// The enclosing group/clone/bundle ids, innermost first.
    pub parents: Vec<String>,
}

impl ResourceStatus {
    /// Its start has completed and nothing failed: crm_mon's `active` is also true while a
    /// start is still pending (role `Starting`), which is not yet running.
    pub fn is_started(&self) -> bool {
        self.active
            && !self.failed
            && matches!(
                self.role.as_str(),
                "Started" | "Promoted" | "Unpromoted" | "Master" | "Slave"
            )
    }
}

/// A failed operation from crm_mon's failure list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The resource.
    pub resource: String,
    /// The operation key, `<rsc>_<action>_<interval in ms>`.
    pub op_key: String,
    /// The node it failed on.
    pub node: String,
    /// The agent's exit code.
    pub exitcode: Option<i32>,
    /// What the exit code means (`not running`, `error`...).
    pub exitstatus: String,
    /// The agent's exit reason.
    pub exitreason: String,
    /// When it happened, as crm_mon prints it.
    pub last_rc_change: Option<String>,
}

/// One fencing action from the cluster's fencing history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FenceEvent {
    /// What was done (off, on, reboot).
    pub action: String,
    /// The node fenced.
    pub target: String,
    /// Node that carried it out.
    pub delegate: Option<String>,
    /// Node that asked for it.
    pub origin: Option<String>,
    /// How it ended (success, failed, pending).
    pub status: String,
    /// When it completed, as crm_mon prints it.
    pub completed: Option<String>,
    /// The fence agent's reason, when it failed.
    pub exit_reason: Option<String>,
}

/// The whole cluster as `crm_mon --output-as=xml` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ClusterStatus {
    /// The Designated Controller's name, when there is one.
    pub dc: Option<String>,
    /// Whether the partition has quorum, when crm_mon says.
    pub quorate: Option<bool>,
    /// The nodes.
    pub nodes: Vec<NodeStatus>,
    /// The resources.
    pub resources: Vec<ResourceStatus>,
    /// Failed operations.
    pub failures: Vec<Failure>,
    /// The fencing history.
    pub fencing: Vec<FenceEvent>,
    /// (resource, node) -> fail count, from crm_mon's node history.
    pub fail_counts: Vec<(String, String, u32)>,
}

/// One Axigen instance as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceView {
    /// The instance's resource id.
    pub id: String,
    /// Its role (Started, Stopped...).
    pub role: String,
    /// Nodes it is active on.
    pub nodes: Vec<String>,
    /// An operation on it failed.
    pub failed: bool,
    /// The group it belongs to.
    pub group: Option<String>,
    /// Fail count summed over all nodes (migration-threshold applies per node), capped at
    /// Pacemaker's INFINITY (1000000), which a failed start sets.
    pub fail_count: u32,
    /// Its failed operations.
    pub failures: Vec<Failure>,
}

impl ClusterStatus {
    /// The resources run by `ocf:axigen:instance`, with their recorded failures.
    pub fn instances(&self) -> Vec<InstanceView> {
        self.resources
            .iter()
            .filter(|r| r.agent == INSTANCE_AGENT)
            .map(|r| InstanceView {
                id: r.id.clone(),
                role: r.role.clone(),
                nodes: r.nodes.clone(),
                failed: r.failed,
                group: r.parents.first().cloned(),
                fail_count: self
                    .fail_counts
                    .iter()
                    .filter(|(rsc, _, _)| *rsc == r.id)
                    .fold(0u32, |acc, (_, _, c)| acc.saturating_add(*c))
                    .min(SCORE_INFINITY),
                failures: self
                    .failures
                    .iter()
                    .filter(|f| f.resource == r.id)
                    .cloned()
                    .collect(),
            })
            .collect()
    }

    /// Where the resource `id` is active (empty when stopped).
    pub fn placement(&self, id: &str) -> Vec<String> {
        self.resources
            .iter()
            .filter(|r| r.id == id)
            .flat_map(|r| r.nodes.iter().cloned())
            .collect()
    }

    /// Names of the nodes crm_mon reports online.
    pub fn online(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.name.clone())
            .collect()
    }

    /// The node entry of `name`.
    pub fn node(&self, name: &str) -> Option<&NodeStatus> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Nodes where `rsc` is active. `rsc` may name a primitive, a clone instance (`r:0`), or a
    /// group/clone (then every active member counts), like `crm_resource --locate`.
    pub fn locate(&self, rsc: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.resources {
            let matches = r.id == rsc
                || r.id.split_once(':').is_some_and(|(base, _)| base == rsc)
                || r.parents.iter().any(|p| p == rsc);
            if matches && r.active {
                for n in &r.nodes {
                    if !out.contains(n) {
                        out.push(n.clone());
                    }
                }
            }
        }
        out
    }

    /// The primitive `id` (first match, clone instances included).
    pub fn resource(&self, id: &str) -> Option<&ResourceStatus> {
        self.resources
            .iter()
            .find(|r| r.id == id || r.id.split_once(':').is_some_and(|(base, _)| base == id))
    }

    /// Successful fencing actions against `node`.
    pub fn fenced(&self, node: &str) -> Vec<&FenceEvent> {
        self.fencing
            .iter()
            .filter(|f| f.target == node && f.status == "success")
            .collect()
    }
}

fn perr(what: &str, detail: impl ToString) -> CibError {
    CibError::Parse {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

fn flag(n: roxmltree::Node, k: &str) -> bool {
    n.attribute(k) == Some("true")
}

fn parse_nodes(nodes: roxmltree::Node, what: &str) -> Result<Vec<NodeStatus>, CibError> {
    nodes
        .children()
        .filter(|n| n.has_tag_name("node"))
        .map(|n| {
            let state = if flag(n, "unclean") {
                NodeState::Unclean
            } else if !flag(n, "online") {
                NodeState::Offline
            } else if flag(n, "pending") {
                NodeState::Pending
            } else if flag(n, "standby") || flag(n, "standby_onfail") {
                NodeState::Standby
            } else if flag(n, "maintenance") {
                NodeState::Maintenance
            } else {
                NodeState::Online
            };
            // Every node has a name in the crm_mon schema; one without is not crm_mon output.
            let name = n
                .attribute("name")
                .ok_or_else(|| perr(what, "<node> without name"))?;
            Ok(NodeStatus {
                name: name.to_string(),
                id: n.attribute("id").unwrap_or_default().to_string(),
                state,
                online: flag(n, "online"),
                is_dc: flag(n, "is_dc"),
                resources_running: n
                    .attribute("resources_running")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            })
        })
        .collect()
}

/// Flatten `<resources>`: primitives at top level, in groups, in clones (one entry per clone
/// instance, each with its role), in bundles.
fn parse_resources(resources: roxmltree::Node) -> Vec<ResourceStatus> {
    /// `stack` holds the enclosing ids, outermost first.
    fn walk(n: roxmltree::Node, stack: &mut Vec<String>, out: &mut Vec<ResourceStatus>) {
        for c in n.children().filter(|c| c.is_element()) {
            match c.tag_name().name() {
                "resource" => out.push(ResourceStatus {
                    id: c.attribute("id").unwrap_or_default().to_string(),
                    agent: c
                        .attribute("resource_agent")
                        .unwrap_or_default()
                        .to_string(),
                    role: c.attribute("role").unwrap_or_default().to_string(),
                    active: flag(c, "active"),
                    nodes: c
                        .children()
                        .filter(|x| x.has_tag_name("node"))
                        .filter_map(|x| x.attribute("name").map(str::to_string))
                        .collect(),
                    failed: flag(c, "failed"),
                    managed: c.attribute("managed") != Some("false"),
                    blocked: flag(c, "blocked"),
                    parents: stack.iter().rev().cloned().collect(),
                }),
                "group" | "clone" | "bundle" | "replica" => {
                    let id = c.attribute("id");
                    if let Some(id) = id {
                        stack.push(id.to_string());
                    }
                    walk(c, stack, out);
                    if id.is_some() {
                        stack.pop();
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(resources, &mut Vec::new(), &mut out);
    out
}

/// The resource of an operation key `<rsc>_<task>_<interval>` (clone instances keep their
/// `:N` suffix in op keys; crm_mon lists the primitive without it).
fn op_key_resource(op_key: &str) -> String {
    let mut parts = op_key.rsplitn(3, '_');
    let (_interval, _task) = (parts.next(), parts.next());
    let rsc = parts.next().unwrap_or(op_key);
    rsc.split(':').next().unwrap_or(rsc).to_string()
}

fn parse_failures(f: roxmltree::Node) -> Vec<Failure> {
    f.children()
        .filter(|n| n.has_tag_name("failure"))
        .map(|n| {
            let op_key = n.attribute("op_key").unwrap_or_default().to_string();
            Failure {
                resource: op_key_resource(&op_key),
                op_key,
                node: n.attribute("node").unwrap_or_default().to_string(),
                exitcode: n.attribute("exitcode").and_then(|v| v.parse().ok()),
                exitstatus: n.attribute("exitstatus").unwrap_or_default().to_string(),
                exitreason: n.attribute("exitreason").unwrap_or_default().to_string(),
                last_rc_change: n.attribute("last-rc-change").map(str::to_string),
            }
        })
        .collect()
}

fn parse_fencing(f: roxmltree::Node) -> Vec<FenceEvent> {
    f.children()
        .filter(|n| n.has_tag_name("fence_event"))
        .map(|n| FenceEvent {
            action: n.attribute("action").unwrap_or_default().to_string(),
            target: n.attribute("target").unwrap_or_default().to_string(),
            delegate: n.attribute("delegate").map(str::to_string),
            origin: n.attribute("origin").map(str::to_string),
            status: n.attribute("status").unwrap_or_default().to_string(),
            completed: n.attribute("completed").map(str::to_string),
            exit_reason: n.attribute("exit-reason").map(str::to_string),
        })
        .collect()
}

/// `<node_history><node name=><resource_history id= fail-count=>`.
fn parse_fail_counts(h: roxmltree::Node) -> Vec<(String, String, u32)> {
    let mut out = Vec::new();
    for node in h.children().filter(|n| n.has_tag_name("node")) {
        let name = node.attribute("name").unwrap_or_default();
        for r in node
            .children()
            .filter(|n| n.has_tag_name("resource_history"))
        {
            if let Some(c) = r.attribute("fail-count").and_then(|v| v.parse().ok()) {
                let id = r.attribute("id").unwrap_or_default();
                out.push((op_key_resource(&format!("{id}_x_0")), name.to_string(), c));
            }
        }
    }
    out
}

fn parse_cluster_status(parent: roxmltree::Node, what: &str) -> Result<ClusterStatus, CibError> {
    let child = |name: &str| parent.children().find(|c| c.has_tag_name(name));
    let dc = parent
        .descendants()
        .find(|n| n.has_tag_name("current_dc"))
        .filter(|n| flag(*n, "present"));
    // Both crm_mon and crm_simulate always print <nodes>: without it this is something else.
    let nodes = child("nodes").ok_or_else(|| {
        perr(
            what,
            format!("no <nodes> under <{}>", parent.tag_name().name()),
        )
    })?;
    Ok(ClusterStatus {
        dc: dc.and_then(|n| n.attribute("name").map(str::to_string)),
        quorate: dc
            .and_then(|n| n.attribute("with_quorum"))
            .map(|q| q == "true"),
        nodes: parse_nodes(nodes, what)?,
        resources: child("resources").map(parse_resources).unwrap_or_default(),
        failures: child("failures").map(parse_failures).unwrap_or_default(),
        fencing: child("fence_history")
            .map(parse_fencing)
            .unwrap_or_default(),
        fail_counts: child("node_history")
            .map(parse_fail_counts)
            .unwrap_or_default(),
    })
}

fn document<'a>(xml: &'a str, what: &str) -> Result<roxmltree::Document<'a>, CibError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| perr(what, e))?;
    if !doc.root_element().has_tag_name("pacemaker-result") {
        return Err(perr(
            what,
            format!(
                "root element is <{}>, not <pacemaker-result>",
                doc.root_element().tag_name().name()
            ),
        ));
    }
    Ok(doc)
}

/// Parse `crm_mon --output-as=xml` (Pacemaker 2.1 API 2.x).
pub fn parse_crm_mon(xml: &str) -> Result<ClusterStatus, CibError> {
    let doc = document(xml, "crm_mon XML")?;
    parse_cluster_status(doc.root_element(), "crm_mon XML")
}

/// The state after the simulated transition of `crm_simulate -S --output-as=xml`.
pub fn parse_simulation(xml: &str) -> Result<ClusterStatus, CibError> {
    let doc = document(xml, "crm_simulate XML")?;
    let revised = doc
        .root_element()
        .children()
        .find(|c| c.has_tag_name("revised_cluster_status"))
        .ok_or_else(|| {
            perr(
                "crm_simulate XML",
                "no <revised_cluster_status> (was -S given?)",
            )
        })?;
    parse_cluster_status(revised, "crm_simulate XML")
}

/// Ask the local cluster: `crm_mon -1 --output-as=xml --fence-history=2` (all fencing
/// events, failed ones included).
pub fn query_status(timeout: Duration) -> Result<ClusterStatus, CibError> {
    let out = Cmd::new("crm_mon")
        .args(["-1", "--output-as=xml", "--fence-history=2"])
        .run(&Deadline::after(timeout))?;
    // crm_mon exits non-zero (e.g. 102 "not connected") with an XML result that says why.
    let text = out.stdout_str();
    if !out.status.success() {
        let why = roxmltree::Document::parse(&text)
            .ok()
            .and_then(|d| {
                d.descendants()
                    .find(|n| n.has_tag_name("status"))
                    .and_then(|s| s.attribute("message").map(str::to_string))
            })
            .unwrap_or_else(|| out.stderr_str().trim().to_string());
        return Err(CibError::ClusterUnavailable {
            tool: "crm_mon".into(),
            code: out.code(),
            message: why,
        });
    }
    parse_crm_mon(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from `crm_simulate -S --output-as=xml` (Pacemaker 2.1.5) on the rendered
    /// multi-tier template, after n1 failed.
    const SIMULATED: &str = include_str!("../testdata/simulate-multi-tier-n1-failed.xml");
    /// Recorded from `crm_mon -1 --output-as=xml --fence-history=2` on a real single-node
    /// Pacemaker 2.1.5 cluster after n2 was fenced and an instance's monitor failed
    /// (testdata/README.md).
    const CRM_MON: &str = include_str!("../testdata/crm_mon-1-node-fenced-failure.xml");

    #[test]
    fn simulation_placement() {
        let s = parse_simulation(SIMULATED).unwrap();
        assert_eq!(s.placement("mail1"), vec!["n3"]);
        assert_eq!(s.placement("mail2"), vec!["n2"]);
        let n1 = s.nodes.iter().find(|n| n.name == "n1").unwrap();
        assert_eq!(n1.state, NodeState::Offline);
        let inst: Vec<_> = s.instances().into_iter().map(|i| i.id).collect();
        assert_eq!(inst, vec!["mail1", "mail2"]);
        assert_eq!(s.instances()[0].group.as_deref(), Some("grp-mail1"));
    }

    #[test]
    fn real_crm_mon() {
        let s = parse_crm_mon(CRM_MON).unwrap();
        assert_eq!(s.dc.as_deref(), Some("n1"));
        assert_eq!(s.quorate, Some(true));
        assert_eq!(s.nodes.len(), 1);
        assert_eq!(s.nodes[0].state, NodeState::Online);
        assert!(s.nodes[0].is_dc);
        assert_eq!(
            s.fencing,
            vec![FenceEvent {
                action: "off".into(),
                target: "n2".into(),
                delegate: Some("n1".into()),
                origin: Some("n1".into()),
                status: "success".into(),
                completed: Some("2026-11-22 02:33:10Z".into()),
                exit_reason: None,
            }]
        );
        let inst = s.instances();
        assert_eq!(inst.len(), 2);
        assert_eq!(inst[0].id, "mail1");
        assert_eq!(inst[0].nodes, vec!["n1"]);
        assert_eq!(inst[0].role, "Started");
        assert_eq!(inst[0].group.as_deref(), Some("grp-mail1"));
        assert_eq!(inst[0].fail_count, 1);
        assert_eq!(inst[0].failures.len(), 1);
        assert_eq!(inst[0].failures[0].exitcode, Some(7));
        assert_eq!(
            inst[0].failures[0].exitreason,
            "No process state file found"
        );
        assert_eq!(inst[1].id, "mail2");
        assert!(inst[1].nodes.is_empty());
        assert_eq!(inst[1].role, "Stopped");
        assert_eq!(inst[1].fail_count, 0);
        // The fence device is not an instance.
        assert!(s.resources.iter().any(|r| r.id == "fence-n2"));
    }

    /// Recorded on a real 3-node cluster (the lab) right after n3 was cut off, before it
    /// was fenced, and after; mail1's start failed on n1 and n2 (binary missing).
    const UNCLEAN: &str = include_str!("../testdata/crm_mon-3-nodes-n3-unclean.xml");
    const FENCED: &str = include_str!("../testdata/crm_mon-3-nodes-n3-fenced.xml");

    #[test]
    fn real_three_nodes_unclean_then_fenced() {
        let s = parse_crm_mon(UNCLEAN).unwrap();
        let states: Vec<_> = s.nodes.iter().map(|n| (n.name.as_str(), n.state)).collect();
        assert_eq!(
            states,
            vec![
                ("n1", NodeState::Online),
                ("n2", NodeState::Online),
                ("n3", NodeState::Unclean)
            ]
        );
        let s = parse_crm_mon(FENCED).unwrap();
        assert_eq!(s.nodes[2].state, NodeState::Offline);
        assert_eq!(s.dc.as_deref(), Some("n1"));
        assert_eq!(s.fencing.len(), 1);
        let f = &s.fencing[0];
        assert_eq!(
            (f.action.as_str(), f.target.as_str(), f.status.as_str()),
            ("reboot", "n3", "success")
        );
        assert_eq!(f.delegate.as_deref(), Some("n1"));
        let inst = s.instances();
        assert_eq!(inst.len(), 1);
        assert_eq!(inst[0].id, "mail1");
        assert_eq!(inst[0].role, "Stopped");
        assert!(inst[0].nodes.is_empty());
        assert_eq!(inst[0].group.as_deref(), Some("grp-mail1"));
        assert_eq!(inst[0].fail_count, SCORE_INFINITY);
        let nodes: Vec<_> = inst[0].failures.iter().map(|f| f.node.as_str()).collect();
        assert_eq!(nodes, vec!["n1", "n2"]);
        assert_eq!(inst[0].failures[0].exitcode, Some(5));
        assert_eq!(
            inst[0].failures[0].exitreason,
            "binary /nonexistent/axigen not found"
        );
        assert_eq!(s.placement("ip-mail1"), vec!["n1"]);
    }

    #[test]
    fn unknown_elements_and_attributes_are_ignored() {
        let x = CRM_MON.replace("<nodes>", "<nodes><future_thing a=\"1\"/>");
        assert_eq!(parse_crm_mon(&x).unwrap(), parse_crm_mon(CRM_MON).unwrap());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            parse_crm_mon("not xml"),
            Err(CibError::Parse { .. })
        ));
        assert!(matches!(
            parse_crm_mon("<cib/>"),
            Err(CibError::Parse { .. })
        ));
        assert!(matches!(
            parse_simulation("<pacemaker-result/>"),
            Err(CibError::Parse { .. })
        ));
    }

    #[test]
    fn node_states() {
        let x = r#"<pacemaker-result><nodes>
          <node name="a" id="1" online="true" standby="false" unclean="false" is_dc="true" resources_running="2"/>
          <node name="b" id="2" online="false" unclean="true"/>
          <node name="c" id="3" online="false" unclean="false"/>
          <node name="d" id="4" online="true" standby="true"/>
          <node name="e" id="5" online="true" maintenance="true"/>
        </nodes></pacemaker-result>"#;
        let s = parse_crm_mon(x).unwrap();
        let st: Vec<_> = s.nodes.iter().map(|n| n.state).collect();
        assert_eq!(
            st,
            vec![
                NodeState::Online,
                NodeState::Unclean,
                NodeState::Offline,
                NodeState::Standby,
                NodeState::Maintenance
            ]
        );
        assert!(s.nodes[0].is_dc);
        assert_eq!(s.nodes[0].resources_running, 2);
    }

    #[test]
    fn op_keys() {
        assert_eq!(op_key_resource("mail1_monitor_10000"), "mail1");
        assert_eq!(op_key_resource("drbd-r0:1_promote_0"), "drbd-r0");
        assert_eq!(op_key_resource("fs_mail_1_start_0"), "fs_mail_1");
    }

    // Shape of Pacemaker 2.1.5 `crm_mon -1 --output-as=xml` (trimmed), with a group, a
    // promotable clone and a fencing event.
    const SAMPLE: &str = r#"<pacemaker-result api-version="2.29" request="crm_mon -1 --output-as=xml">
  <summary>
    <stack type="corosync"/>
    <current_dc present="true" version="2.1.5-a3f44794f94" name="n2" id="2" with_quorum="true" mixed_version="false"/>
    <nodes_configured number="3"/>
  </summary>
  <nodes>
    <node name="n1" id="1" online="false" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="true" shutdown="false" expected_up="true" is_dc="false" resources_running="0" type="member"/>
    <node name="n2" id="2" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" expected_up="true" is_dc="true" resources_running="3" type="member"/>
    <node name="n3" id="3" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" expected_up="true" is_dc="false" resources_running="2" type="member" future_attr="x"/>
  </nodes>
  <resources>
    <resource id="fence-n1" resource_agent="stonith:fence_axigen_ipmi" role="Started" active="true" orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false" nodes_running_on="1">
      <node name="n2" id="2" cached="true"/>
    </resource>
    <group id="inst1" number_resources="2" managed="true" disabled="false">
      <resource id="inst1-ip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true" failed="false" nodes_running_on="1">
        <node name="n3" id="3" cached="true"/>
      </resource>
      <resource id="inst1-axigen" resource_agent="ocf:axigen:instance" role="Stopped" active="false" failed="false" nodes_running_on="0"/>
    </group>
    <clone id="vol-clone" multi_state="true" unique="false">
      <resource id="vol" resource_agent="ocf:axigen:drbd" role="Promoted" active="true" failed="false" nodes_running_on="1">
        <node name="n2" id="2" cached="true"/>
      </resource>
      <resource id="vol" resource_agent="ocf:axigen:drbd" role="Unpromoted" active="true" failed="false" nodes_running_on="1">
        <node name="n3" id="3" cached="true"/>
      </resource>
    </clone>
  </resources>
  <fence_history>
    <fence_event status="success" target="n1" action="off" delegate="n2" client="pacemaker-controld.1234" origin="n2" completed="2026-11-22 02:40:01 +00:00"/>
    <fence_event status="failed" target="n3" action="reboot" client="stonith_admin" origin="n2"/>
  </fence_history>
  <status code="0" message="OK"/>
</pacemaker-result>"#;

    #[test]
    fn parses_nodes_dc_and_resources() {
        let v = parse_crm_mon(SAMPLE).unwrap();
        assert_eq!(v.dc.as_deref(), Some("n2"));
        assert_eq!(v.quorate, Some(true));
        assert_eq!(v.online(), vec!["n2", "n3"]);
        assert_eq!(v.node("n1").unwrap().state, NodeState::Unclean);
        assert_eq!(v.locate("fence-n1"), vec!["n2"]);
        assert_eq!(v.locate("inst1-ip"), vec!["n3"]);
        assert!(v.locate("inst1-axigen").is_empty());
        assert_eq!(v.locate("inst1"), vec!["n3"], "a group: any active member");
        assert_eq!(v.locate("vol"), vec!["n2", "n3"]);
        assert_eq!(v.locate("vol-clone"), vec!["n2", "n3"]);
        assert!(v.locate("nonexistent").is_empty());
        let ip = v.resource("inst1-ip").unwrap();
        assert_eq!(ip.parents, vec!["inst1"]);
        assert_eq!(ip.agent, "ocf:heartbeat:IPaddr2");
        assert_eq!(v.fenced("n1").len(), 1);
        assert_eq!(v.fenced("n1")[0].delegate.as_deref(), Some("n2"));
        assert!(v.fenced("n3").is_empty(), "failed fencing does not count");
    }

    #[test]
    fn no_dc_while_electing() {
        let x = r#"<pacemaker-result><summary><current_dc present="false"/></summary><nodes><node name="n1" online="true"/></nodes></pacemaker-result>"#;
        let v = parse_crm_mon(x).unwrap();
        assert_eq!(v.dc, None);
        assert_eq!(v.online(), vec!["n1"]);
        assert!(v.resources.is_empty());
    }

    #[test]
    fn garbage_crm_mon_is_an_error_not_a_panic() {
        for bad in [
            "",
            "not xml",
            "<a><b></a>",
            "<pacemaker-result/>",
            "<x><nodes><node/></nodes></x>",
        ] {
            let e = parse_crm_mon(bad).unwrap_err();
            assert!(e.to_string().contains("crm_mon XML"), "{bad}: {e}");
        }
    }
}
