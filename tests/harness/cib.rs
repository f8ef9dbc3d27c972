//! Helpers of the CIB suites: a semantic form of a CIB's configuration, so a CIB written by
//! `axigen-ha cib render` can be compared with the one pcs or crmsh builds from the rendered
//! scripts (the tools choose their own ids for rules, nvsets and some constraints).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Pacemaker 2.1 accepts the legacy role names; compare by meaning.
fn role(r: &str) -> &str {
    match r {
        "Master" => "Promoted",
        "Slave" => "Unpromoted",
        other => other,
    }
}

fn score(s: &str) -> String {
    match s {
        "+INFINITY" | "INFINITY" | "inf" | "+inf" => "INFINITY".into(),
        "-INFINITY" | "-inf" => "-INFINITY".into(),
        other => other.into(),
    }
}

/// "0" / "0s" / "0ms" all mean no interval; "60" means seconds.
fn duration(s: &str) -> String {
    let s = s.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        return format!("{}ms", ms.parse::<u64>().unwrap_or(0));
    }
    let n = s.strip_suffix('s').unwrap_or(s);
    match n.parse::<u64>() {
        Ok(v) => format!("{v}s"),
        Err(_) => s.to_string(),
    }
}

fn nvpairs(n: roxmltree::Node, tag: &str) -> Vec<String> {
    let mut v: Vec<String> = n
        .children()
        .filter(|c| c.has_tag_name(tag))
        .flat_map(|set| set.children().filter(|c| c.has_tag_name("nvpair")))
        .map(|p| {
            format!(
                "{}={}",
                p.attribute("name").unwrap_or(""),
                p.attribute("value").unwrap_or("")
            )
        })
        .collect();
    v.sort();
    v
}

fn primitive(p: roxmltree::Node, out: &mut BTreeSet<String>) {
    let id = p.attribute("id").unwrap_or("");
    out.insert(format!(
        "primitive {id} {}:{}:{} params[{}] meta[{}] utilization[{}]",
        p.attribute("class").unwrap_or(""),
        p.attribute("provider").unwrap_or("-"),
        p.attribute("type").unwrap_or(""),
        nvpairs(p, "instance_attributes").join(" "),
        nvpairs(p, "meta_attributes").join(" "),
        nvpairs(p, "utilization").join(" "),
    ));
    for op in p.descendants().filter(|c| c.has_tag_name("op")) {
        out.insert(format!(
            "op {id} {} interval={} timeout={} role={} attrs[{}]",
            op.attribute("name").unwrap_or(""),
            duration(op.attribute("interval").unwrap_or("0")),
            duration(op.attribute("timeout").unwrap_or("")),
            role(op.attribute("role").unwrap_or("-")),
            nvpairs(op, "instance_attributes").join(" "),
        ));
    }
}

/// One line per fact of the configuration, sorted, ids of generated sub-elements left out.
pub fn semantic_form(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).expect("CIB XML parses");
    let conf = doc
        .descendants()
        .find(|n| n.has_tag_name("configuration"))
        .expect("a configuration section");
    let mut out = BTreeSet::new();
    for n in conf.descendants() {
        match n.tag_name().name() {
            "cluster_property_set" => {
                for p in nvpairs(n.parent().expect("crm_config"), "cluster_property_set") {
                    // Written by the cluster itself, not by a configuration.
                    if !p.starts_with("cluster-infrastructure=")
                        && !p.starts_with("dc-version=")
                        && !p.starts_with("have-watchdog=")
                        && !p.starts_with("cluster-name=")
                    {
                        out.insert(format!("property {p}"));
                    }
                }
            }
            "rsc_defaults" => {
                for p in nvpairs(n, "meta_attributes") {
                    out.insert(format!("rsc_defaults {p}"));
                }
            }
            "node" if n.parent().is_some_and(|p| p.has_tag_name("nodes")) => {
                let u = nvpairs(n, "utilization");
                if !u.is_empty() {
                    out.insert(format!(
                        "node {} utilization[{}]",
                        n.attribute("uname").unwrap_or(""),
                        u.join(" ")
                    ));
                }
            }
            "primitive" => primitive(n, &mut out),
            "group" => {
                let members: Vec<_> = n
                    .children()
                    .filter(|c| c.has_tag_name("primitive"))
                    .filter_map(|c| c.attribute("id"))
                    .collect();
                out.insert(format!(
                    "group {} [{}]",
                    n.attribute("id").unwrap_or(""),
                    members.join(" ")
                ));
            }
            "clone" => {
                let child = n
                    .children()
                    .find(|c| c.has_tag_name("primitive") || c.has_tag_name("group"))
                    .and_then(|c| c.attribute("id"))
                    .unwrap_or("");
                out.insert(format!(
                    "clone {} of {child} meta[{}]",
                    n.attribute("id").unwrap_or(""),
                    nvpairs(n, "meta_attributes").join(" ")
                ));
            }
            "rsc_location" => {
                let rsc = n.attribute("rsc").unwrap_or("");
                if let Some(node) = n.attribute("node") {
                    out.insert(format!(
                        "location {rsc} {node} {}",
                        score(n.attribute("score").unwrap_or(""))
                    ));
                }
                for rule in n.children().filter(|c| c.has_tag_name("rule")) {
                    let mut exprs: Vec<String> = rule
                        .children()
                        .filter(|c| c.has_tag_name("expression"))
                        .map(|e| {
                            format!(
                                "{} {} {}",
                                e.attribute("attribute").unwrap_or(""),
                                e.attribute("operation").unwrap_or(""),
                                e.attribute("value").unwrap_or("")
                            )
                        })
                        .collect();
                    exprs.sort();
                    out.insert(format!(
                        "location {rsc} rule {} {} [{}]",
                        score(rule.attribute("score").unwrap_or("")),
                        rule.attribute("boolean-op").unwrap_or("and"),
                        exprs.join(", ")
                    ));
                }
            }
            "rsc_colocation" => {
                out.insert(format!(
                    "colocation {} with {} role={} {}",
                    n.attribute("rsc").unwrap_or(""),
                    n.attribute("with-rsc").unwrap_or(""),
                    role(n.attribute("with-rsc-role").unwrap_or("-")),
                    score(n.attribute("score").unwrap_or(""))
                ));
            }
            "fencing-level" => {
                out.insert(format!(
                    "fencing level {} of {}: {}",
                    n.attribute("index").unwrap_or(""),
                    n.attribute("target").unwrap_or(""),
                    n.attribute("devices").unwrap_or("")
                ));
            }
            "rsc_order" => {
                out.insert(format!(
                    "order {} {} then {} {} kind={}",
                    n.attribute("first").unwrap_or(""),
                    n.attribute("first-action").unwrap_or("start"),
                    n.attribute("then").unwrap_or(""),
                    n.attribute("then-action").unwrap_or("start"),
                    n.attribute("kind").unwrap_or("Mandatory")
                ));
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}

/// Panic with the facts only one side has, when two configurations differ.
pub fn assert_same_configuration(have: &str, want: &str, what: &str) {
    let (h, w) = (semantic_form(have), semantic_form(want));
    let missing: Vec<_> = w.iter().filter(|x| !h.contains(x)).collect();
    let extra: Vec<_> = h.iter().filter(|x| !w.contains(x)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: configuration differs from the rendered XML\n missing: {missing:#?}\n extra: {extra:#?}"
    );
}

/// An empty CIB (`cibadmin --empty`) whose nodes section lists `nodes` (id, name), as the CIB
/// of a running cluster does once they joined: pcs looks nodes up there.
pub fn empty_cib_with_nodes(nodes: &[(u32, &str)]) -> String {
    let out = crate::Cmd::new("cibadmin")
        .arg("--empty")
        .run_ok(&crate::Deadline::after(std::time::Duration::from_secs(30)))
        .expect("cibadmin --empty");
    let nodes: String = nodes
        .iter()
        .map(|(id, n)| format!("<node id=\"{id}\" uname=\"{n}\"/>"))
        .collect();
    let xml = out.stdout_str();
    assert!(xml.contains("<nodes/>"), "{xml}");
    xml.replace("<nodes/>", &format!("<nodes>{nodes}</nodes>"))
}

/// The directory of the checked-in templates and example values.
pub fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .join("cib-templates")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_roles_normalise() {
        assert_eq!(duration("0"), "0s");
        assert_eq!(duration("60s"), "60s");
        assert_eq!(duration("20"), "20s");
        assert_eq!(role("Master"), "Promoted");
        assert_eq!(score("inf"), "INFINITY");
    }
}
