//! Pacemaker's view of the cluster, read from `crm_mon --output-as=xml` (Pacemaker 2.1
//! `pacemaker-result` schema, `/usr/share/pacemaker/api/crm_mon-*.rng`) with an XML parser:
//! the text output changes between versions (Master/Slave vs Promoted/Unpromoted), the XML
//! API is versioned.

use crate::LabError;

/// One node as crm_mon sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub online: bool,
    pub unclean: bool,
    pub pending: bool,
    pub standby: bool,
}

/// One primitive resource (a member of a group or clone is listed with its parent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceView {
    pub id: String,
    /// `class:provider:type` as crm_mon prints it, e.g. `ocf:axigen:instance`.
    pub agent: String,
    /// Started, Stopped, Promoted, Unpromoted, Starting, ...
    pub role: String,
    pub active: bool,
    pub failed: bool,
    /// The enclosing group/clone/bundle ids, innermost first.
    pub parents: Vec<String>,
    /// Nodes it is active on.
    pub nodes: Vec<String>,
}

/// One entry of the fencing history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceEvent {
    pub target: String,
    pub action: String,
    /// success, failed, pending
    pub status: String,
    /// The node that executed it, when known.
    pub delegate: Option<String>,
    /// Completion time as crm_mon prints it.
    pub completed: Option<String>,
}

/// The cluster as one node's crm_mon sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterView {
    /// The designated controller, when one is elected.
    pub dc: Option<String>,
    pub with_quorum: bool,
    pub nodes: Vec<NodeView>,
    pub resources: Vec<ResourceView>,
    pub fencing: Vec<FenceEvent>,
}

impl ClusterView {
    /// Names of the nodes crm_mon reports online.
    pub fn online(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.online)
            .map(|n| n.name.clone())
            .collect()
    }

    /// The node entry of `name`.
    pub fn node(&self, name: &str) -> Option<&NodeView> {
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
    pub fn resource(&self, id: &str) -> Option<&ResourceView> {
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

fn child<'a, 'i>(parent: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    parent
        .children()
        .find(|c| c.is_element() && c.has_tag_name(name))
}

fn attr_bool(n: &roxmltree::Node, name: &str) -> bool {
    n.attribute(name) == Some("true")
}

/// Parse `crm_mon --output-as=xml`. Unknown elements and attributes are ignored (newer
/// Pacemaker adds some); a missing `<nodes>` section is an error (that is not crm_mon output).
pub fn parse_crm_mon(xml: &str) -> Result<ClusterView, LabError> {
    let bad = |reason: String| LabError::Xml {
        what: "crm_mon XML".into(),
        reason,
    };
    let doc = roxmltree::Document::parse(xml).map_err(|e| bad(e.to_string()))?;
    let root = doc.root_element();
    let nodes_el = child(root, "nodes")
        .ok_or_else(|| bad(format!("no <nodes> under <{}>", root.tag_name().name())))?;
    let mut view = ClusterView::default();
    if let Some(summary) = child(root, "summary") {
        if let Some(dc) = child(summary, "current_dc") {
            if attr_bool(&dc, "present") {
                view.dc = dc.attribute("name").map(str::to_string);
            }
            view.with_quorum = attr_bool(&dc, "with_quorum");
        }
    }
    for n in nodes_el
        .children()
        .filter(|c| c.is_element() && c.has_tag_name("node"))
    {
        let name = n
            .attribute("name")
            .ok_or_else(|| bad("<node> without name".into()))?;
        view.nodes.push(NodeView {
            name: name.to_string(),
            online: attr_bool(&n, "online"),
            unclean: attr_bool(&n, "unclean"),
            pending: attr_bool(&n, "pending"),
            standby: attr_bool(&n, "standby"),
        });
    }
    if let Some(res) = child(root, "resources") {
        collect_resources(res, &mut Vec::new(), &mut view.resources);
    }
    if let Some(fh) = child(root, "fence_history") {
        for e in fh
            .children()
            .filter(|c| c.is_element() && c.has_tag_name("fence_event"))
        {
            view.fencing.push(FenceEvent {
                target: e.attribute("target").unwrap_or_default().to_string(),
                action: e.attribute("action").unwrap_or_default().to_string(),
                status: e.attribute("status").unwrap_or_default().to_string(),
                delegate: e.attribute("delegate").map(str::to_string),
                completed: e.attribute("completed").map(str::to_string),
            });
        }
    }
    Ok(view)
}

fn collect_resources(
    parent: roxmltree::Node<'_, '_>,
    stack: &mut Vec<String>,
    out: &mut Vec<ResourceView>,
) {
    for c in parent.children().filter(|c| c.is_element()) {
        match c.tag_name().name() {
            "resource" => {
                let mut parents = stack.clone();
                parents.reverse();
                out.push(ResourceView {
                    id: c.attribute("id").unwrap_or_default().to_string(),
                    agent: c
                        .attribute("resource_agent")
                        .unwrap_or_default()
                        .to_string(),
                    role: c.attribute("role").unwrap_or_default().to_string(),
                    active: attr_bool(&c, "active"),
                    failed: attr_bool(&c, "failed"),
                    parents,
                    nodes: c
                        .children()
                        .filter(|n| n.is_element() && n.has_tag_name("node"))
                        .filter_map(|n| n.attribute("name").map(str::to_string))
                        .collect(),
                });
            }
            "group" | "clone" | "bundle" | "replica" => {
                let pushed = c.attribute("id").map(|id| stack.push(id.to_string()));
                collect_resources(c, stack, out);
                if pushed.is_some() {
                    stack.pop();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(v.with_quorum);
        assert_eq!(v.online(), vec!["n2", "n3"]);
        assert!(v.node("n1").unwrap().unclean);
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
    fn garbage_is_an_error_not_a_panic() {
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
