//! CIB XML from the model, written by an XML writer (quick-xml) so every value is escaped.
//!
//! Element and attribute names follow the Pacemaker 3.x schema (`pacemaker-3.9.rng`, the
//! newest Pacemaker 2.1.5 validates against). For simulation without a cluster,
//! [`render_for_simulation`] adds a `<status>` section with every node online, and the
//! promotion scores a DRBD agent would have set for UpToDate disks.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use quick_xml::Writer;

use crate::model::{Cib, Constraint, Op, Pairs, Primitive, Resource};

/// The schema the rendered CIB declares (Pacemaker 2.1.5's newest).
pub const VALIDATE_WITH: &str = "pacemaker-3.9";
/// Feature set of Pacemaker 2.1.5: a simulated CIB must not claim a newer one, or
/// crm_simulate discards its own updates.
pub const CRM_FEATURE_SET: &str = "3.16.1";
/// Promotion score given to every clone instance in a simulation (both disks UpToDate).
pub const SIMULATED_PROMOTION_SCORE: u32 = 10000;

/// A small element tree, serialised in one place.
#[derive(Debug, Clone)]
struct El {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    children: Vec<El>,
}

impl El {
    fn new(name: &'static str) -> Self {
        El {
            name,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }
    fn attr(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.attrs.push((k, v.into()));
        self
    }
    fn child(mut self, c: El) -> Self {
        self.children.push(c);
        self
    }
    fn children(mut self, cs: impl IntoIterator<Item = El>) -> Self {
        self.children.extend(cs);
        self
    }
    fn write(&self, w: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        let mut start = BytesStart::new(self.name);
        for (k, v) in &self.attrs {
            // push_attribute escapes & < > " ' in the value.
            start.push_attribute((*k, v.as_str()));
        }
        if self.children.is_empty() {
            w.write_event(Event::Empty(start))?;
        } else {
            w.write_event(Event::Start(start))?;
            for c in &self.children {
                c.write(w)?;
            }
            w.write_event(Event::End(BytesEnd::new(self.name)))?;
        }
        Ok(())
    }
}

/// `<tag id="..."><nvpair id="..-name" name= value=/>...</tag>`; `None` when empty.
fn nvset(tag: &'static str, id: &str, pairs: &Pairs) -> Option<El> {
    if pairs.is_empty() {
        return None;
    }
    Some(
        El::new(tag)
            .attr("id", id)
            .children(pairs.iter().map(|(k, v)| {
                El::new("nvpair")
                    .attr("id", format!("{id}-{k}"))
                    .attr("name", k.clone())
                    .attr("value", v.clone())
            })),
    )
}

fn op_el(rsc: &str, op: &Op) -> El {
    let mut e = El::new("op")
        .attr("id", op.id(rsc))
        .attr("name", op.name.clone())
        .attr("interval", format!("{}s", op.interval))
        .attr("timeout", format!("{}s", op.timeout));
    if let Some(r) = op.role {
        e = e.attr("role", r.as_str());
    }
    if let Some(d) = op.depth {
        let id = op.id(rsc);
        let pairs = vec![("OCF_CHECK_LEVEL".to_string(), d.to_string())];
        e = e.children(nvset(
            "instance_attributes",
            &format!("{id}-instance_attributes"),
            &pairs,
        ));
    }
    e
}

fn primitive_el(p: &Primitive) -> El {
    let mut e = El::new("primitive")
        .attr("id", p.id.clone())
        .attr("class", p.agent.class.clone());
    if let Some(prov) = &p.agent.provider {
        e = e.attr("provider", prov.clone());
    }
    e = e.attr("type", p.agent.kind.clone());
    let sets = [
        nvset(
            "instance_attributes",
            &format!("{}-instance_attributes", p.id),
            &p.params,
        ),
        nvset(
            "meta_attributes",
            &format!("{}-meta_attributes", p.id),
            &p.meta,
        ),
        nvset(
            "utilization",
            &format!("{}-utilization", p.id),
            &p.utilization,
        ),
    ];
    e = e.children(sets.into_iter().flatten());
    if !p.ops.is_empty() {
        e = e.child(El::new("operations").children(p.ops.iter().map(|o| op_el(&p.id, o))));
    }
    e
}

fn resource_el(r: &Resource) -> El {
    match r {
        Resource::Primitive(p) => primitive_el(p),
        Resource::Group { id, members } => El::new("group")
            .attr("id", id.clone())
            .children(members.iter().map(primitive_el)),
        Resource::Clone { id, child, meta } => {
            let mut e = El::new("clone").attr("id", id.clone());
            if let Some(m) = nvset("meta_attributes", &format!("{id}-meta_attributes"), meta) {
                e = e.child(m);
            }
            e.child(primitive_el(child))
        }
    }
}

fn constraint_el(c: &Constraint) -> El {
    match c {
        Constraint::Location {
            id,
            rsc,
            node,
            score,
        } => El::new("rsc_location")
            .attr("id", id.clone())
            .attr("rsc", rsc.clone())
            .attr("node", node.clone())
            .attr("score", score.to_string()),
        Constraint::OnlyOn { id, rsc, allowed } => El::new("rsc_location")
            .attr("id", id.clone())
            .attr("rsc", rsc.clone())
            .child(
                El::new("rule")
                    .attr("id", format!("{id}-rule"))
                    .attr("boolean-op", "and")
                    .attr("score", "-INFINITY")
                    .children(allowed.iter().enumerate().map(|(i, n)| {
                        El::new("expression")
                            .attr("id", format!("{id}-rule-expr-{i}"))
                            .attr("attribute", "#uname")
                            .attr("operation", "ne")
                            .attr("value", n.clone())
                    })),
            ),
        Constraint::Colocation {
            id,
            rsc,
            with_rsc,
            with_role,
            score,
        } => {
            let mut e = El::new("rsc_colocation")
                .attr("id", id.clone())
                .attr("rsc", rsc.clone())
                .attr("with-rsc", with_rsc.clone())
                .attr("score", score.to_string());
            if let Some(r) = with_role {
                e = e.attr("with-rsc-role", r.as_str());
            }
            e
        }
        Constraint::Order {
            id,
            first,
            first_action,
            then,
            then_action,
        } => El::new("rsc_order")
            .attr("id", id.clone())
            .attr("first", first.clone())
            .attr("first-action", first_action.clone())
            .attr("then", then.clone())
            .attr("then-action", then_action.clone())
            .attr("kind", "Mandatory"),
    }
}

fn configuration_el(cib: &Cib) -> El {
    let props = nvset(
        "cluster_property_set",
        "cib-bootstrap-options",
        &cib.properties,
    );
    let defaults = nvset("meta_attributes", "rsc-options", &cib.rsc_defaults);
    El::new("configuration")
        .child(El::new("crm_config").children(props))
        .child(El::new("nodes").children(cib.nodes.iter().map(|n| {
            El::new("node")
                .attr("id", n.id.to_string())
                .attr("uname", n.name.clone())
                .children(nvset(
                    "utilization",
                    &format!("nodes-{}-utilization", n.id),
                    &n.utilization,
                ))
        })))
        .child(El::new("resources").children(cib.resources.iter().map(resource_el)))
        .child(El::new("constraints").children(cib.constraints.iter().map(constraint_el)))
        .children(fencing_topology_el(cib))
        .child(El::new("rsc_defaults").children(defaults))
}

/// `<fencing-topology>`, only when some node has fencing levels.
fn fencing_topology_el(cib: &Cib) -> Option<El> {
    (!cib.fencing_levels.is_empty()).then(|| {
        El::new("fencing-topology").children(cib.fencing_levels.iter().map(|l| {
            El::new("fencing-level")
                .attr("id", l.id())
                .attr("target", l.target.clone())
                .attr("index", l.index.to_string())
                .attr("devices", l.devices.join(","))
        }))
    })
}

fn serialise(root: &El) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    // Writing into a Vec cannot fail.
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .expect("writing to memory");
    root.write(&mut w).expect("writing to memory");
    let mut s = String::from_utf8(w.into_inner()).expect("the writer emits UTF-8");
    s.push('\n');
    s
}

fn cib_el(cib: &Cib) -> El {
    El::new("cib")
        .attr("validate-with", VALIDATE_WITH)
        .attr("epoch", "1")
        .attr("num_updates", "0")
        .attr("admin_epoch", "0")
        .child(configuration_el(cib))
        .child(El::new("status"))
}

/// The CIB XML of a configuration (empty `<status/>`): ready for `cibadmin --replace --xml-file`.
pub fn render(cib: &Cib) -> String {
    serialise(&cib_el(cib))
}

/// The CIB with a status section in which `online` nodes are cluster members, and every
/// promotable clone has a promotion score on each of them; `quorate` sets `have-quorum`.
pub fn render_for_simulation(cib: &Cib, online: &[&str], quorate: bool) -> String {
    let mut root = cib_el(cib)
        .attr("crm_feature_set", CRM_FEATURE_SET)
        .attr("have-quorum", if quorate { "1" } else { "0" });
    let promotable: Vec<&str> = cib
        .resources
        .iter()
        .filter_map(|r| match r {
            Resource::Clone { child, meta, .. }
                if meta.iter().any(|(k, v)| k == "promotable" && v == "true") =>
            {
                Some(child.id.as_str())
            }
            _ => None,
        })
        .collect();
    let states = cib
        .nodes
        .iter()
        .filter(|n| online.contains(&n.name.as_str()))
        .map(|n| {
            let id = n.id.to_string();
            let mut st = El::new("node_state")
                .attr("id", id.clone())
                .attr("uname", n.name.clone())
                .attr("in_ccm", "true")
                .attr("crmd", "online")
                .attr("join", "member")
                .attr("expected", "member");
            if !promotable.is_empty() {
                // The promotion score attribute is "master-<primitive>" in Pacemaker 2.1
                // (crm_attribute --promotion writes it).
                let pairs: Pairs = promotable
                    .iter()
                    .map(|p| (format!("master-{p}"), SIMULATED_PROMOTION_SCORE.to_string()))
                    .collect();
                st = st.child(
                    El::new("transient_attributes")
                        .attr("id", id.clone())
                        .children(nvset(
                            "instance_attributes",
                            &format!("status-{id}"),
                            &pairs,
                        )),
                );
            }
            st
        });
    root.children.retain(|c| c.name != "status");
    root = root.child(El::new("status").children(states));
    serialise(&root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Agent, ClusterNode, Role, Score};

    fn tiny() -> Cib {
        Cib {
            cluster_name: "c".into(),
            properties: vec![("stonith-enabled".into(), "true".into())],
            rsc_defaults: vec![("resource-stickiness".into(), "100".into())],
            nodes: vec![ClusterNode {
                id: 1,
                name: "n1".into(),
                address: "10.0.0.1".parse().unwrap(),
                address2: None,
                utilization: vec![("capacity".into(), "1".into())],
            }],
            resources: vec![Resource::Clone {
                id: "d-clone".into(),
                meta: vec![("promotable".into(), "true".into())],
                child: Primitive {
                    id: "d".into(),
                    agent: Agent::ocf("axigen", "drbd"),
                    params: vec![("drbd_resource".into(), "r0 & <\"'>".into())],
                    meta: vec![],
                    utilization: vec![],
                    ops: vec![Op::new("monitor", 29, 20).with_role(Role::Promoted)],
                },
            }],
            fencing_levels: vec![],
            constraints: vec![
                Constraint::OnlyOn {
                    id: "only".into(),
                    rsc: "d-clone".into(),
                    allowed: vec!["n1".into()],
                },
                Constraint::Location {
                    id: "l".into(),
                    rsc: "d-clone".into(),
                    node: "n1".into(),
                    score: Score::Value(5),
                },
            ],
            two_node: false,
        }
    }

    #[test]
    fn hostile_values_are_escaped_and_round_trip() {
        let x = render(&tiny());
        assert!(x.contains("r0 &amp; &lt;&quot;&apos;&gt;"), "{x}");
        let doc = roxmltree::Document::parse(&x).expect("well-formed");
        let v = doc
            .descendants()
            .find(|n| n.attribute("name") == Some("drbd_resource"))
            .and_then(|n| n.attribute("value"));
        assert_eq!(v, Some("r0 & <\"'>"));
    }

    #[test]
    fn simulation_status_marks_nodes_online_with_scores() {
        let x = render_for_simulation(&tiny(), &["n1"], true);
        let doc = roxmltree::Document::parse(&x).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("have-quorum"), Some("1"));
        let st = doc
            .descendants()
            .find(|n| n.has_tag_name("node_state"))
            .unwrap();
        assert_eq!(st.attribute("crmd"), Some("online"));
        assert!(doc
            .descendants()
            .any(|n| n.attribute("name") == Some("master-d")
                && n.attribute("value") == Some("10000")));
        let none = render_for_simulation(&tiny(), &[], false);
        assert!(!none.contains("node_state"));
        assert_eq!(none.matches("<status").count(), 1);
    }
}
