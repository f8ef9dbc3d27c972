//! `axigen-ha status`: the running cluster as crm_mon sees it (library: axha_cib::status).

use std::time::Duration;

use axha_cib::links::{describe, query_links, LinkStatus};
use axha_cib::status::{query_status, ClusterStatus, SCORE_INFINITY};
use axha_cib::tiers::{tier_status, TierStatus};
use clap::Args;

use crate::OutputFormat;

#[derive(Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value = "table")]
    output: OutputFormat,
    /// The load balancer's HAProxy configuration, whose `ldap-directory` section names the
    /// directory providers (multi-tier clusters).
    #[arg(long, default_value = axha_cib::values::DEFAULT_HAPROXY_CONFIG)]
    haproxy_config: std::path::PathBuf,
}

/// At most this much of the HAProxy configuration is read.
const HAPROXY_CONFIG_MAX: u64 = 256 * 1024;

/// The text of a small configuration file, None when unreadable (bounded in size).
fn read_small(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(HAPROXY_CONFIG_MAX)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The tiers section (multi-tier clusters): load balancers, VIP holder, directory providers.
pub fn format_tiers(t: &TierStatus) -> String {
    let dir = if t.directory.is_empty() {
        "(unknown: no ldap-directory section in the HAProxy configuration; --haproxy-config PATH)"
            .to_string()
    } else {
        t.directory.join(" ")
    };
    format!(
        "\nTiers:\n  front-ends / load balancers: {}\n  VIP holder: {}\n  directory providers: {dir}\n",
        if t.load_balancers.is_empty() {
            "(none running)".to_string()
        } else {
            t.load_balancers.join(" ")
        },
        t.vip_holder.as_deref().unwrap_or("NONE (the VIP is not running)"),
    )
}

pub fn run(a: StatusArgs) -> anyhow::Result<()> {
    let st = query_status(Duration::from_secs(30))?;
    // A cut link loses no node: corosync's own link status is the only place it shows.
    let links = query_links(Duration::from_secs(10)).map_err(|e| e.to_string());
    let tiers = tier_status(&st, read_small(&a.haproxy_config).as_deref());
    match a.output {
        OutputFormat::Json => {
            let v = serde_json::json!({
                "dc": st.dc,
                "quorate": st.quorate,
                "nodes": st.nodes,
                "instances": st.instances(),
                "fencing": st.fencing,
                "links": links.as_ref().ok(),
                "links_error": links.as_ref().err(),
                "tiers": tiers,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        OutputFormat::Table => {
            print!("{}", format_status(&st));
            print!("{}", format_links(&st, &links));
            if let Some(t) = &tiers {
                print!("{}", format_tiers(t));
            }
        }
    }
    Ok(())
}

/// The links section: one line per corosync link, peers named from the cluster's nodes.
pub fn format_links(st: &ClusterStatus, links: &Result<Vec<LinkStatus>, String>) -> String {
    let mut s = String::from("\nCorosync links (this node):\n");
    match links {
        Ok(l) => {
            let name_of = |id: u32| {
                st.nodes
                    .iter()
                    .find(|n| n.id == id.to_string())
                    .map(|n| n.name.clone())
            };
            for line in describe(l, name_of) {
                s += &format!("  {line}\n");
            }
        }
        Err(e) => s += &format!("  (unknown: {e})\n"),
    }
    s
}

/// The human view: nodes, instances, recent fencing.
pub fn format_status(st: &ClusterStatus) -> String {
    let mut s = String::new();
    let q = match st.quorate {
        Some(true) => "with quorum",
        Some(false) => "WITHOUT QUORUM",
        None => "quorum unknown",
    };
    s += &format!(
        "Cluster: DC {} ({q})\n\nNodes:\n",
        st.dc.as_deref().unwrap_or("none")
    );
    for n in &st.nodes {
        s += &format!(
            "  {:<20} {:<11}{}\n",
            n.name,
            n.state.as_str(),
            if n.is_dc { " DC" } else { "" }
        );
    }
    s += "\nInstances:\n";
    let inst = st.instances();
    if inst.is_empty() {
        s += "  (no ocf:axigen:instance resource)\n";
    }
    for i in inst {
        let at = if i.nodes.is_empty() {
            "-".to_string()
        } else {
            i.nodes.join(",")
        };
        let fails = match i.fail_count {
            0 => String::new(),
            c if c >= SCORE_INFINITY => " fail-count INFINITY".to_string(),
            c => format!(" fail-count {c}"),
        };
        s += &format!(
            "  {:<20} {:<11} {:<16}{}{fails}\n",
            i.id,
            i.role,
            at,
            if i.failed { " FAILED" } else { "" }
        );
        for f in &i.failures {
            s += &format!(
                "    failure: {} on {}: {} ({}){}\n",
                f.op_key,
                f.node,
                f.exitstatus,
                f.exitcode.map(|c| c.to_string()).unwrap_or_default(),
                if f.exitreason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", f.exitreason)
                }
            );
        }
    }
    s += "\nFencing history:\n";
    if st.fencing.is_empty() {
        s += "  (none)\n";
    }
    for f in &st.fencing {
        s += &format!(
            "  {} of {} by {} for {}: {}{}\n",
            f.action,
            f.target,
            f.delegate.as_deref().unwrap_or("?"),
            f.origin.as_deref().unwrap_or("?"),
            f.status,
            f.completed
                .as_deref()
                .map(|c| format!(" at {c}"))
                .unwrap_or_default()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_a_recorded_cluster() {
        // crm_mon of a real single-node Pacemaker 2.1.5 (crates/cib/testdata/README.md).
        let xml = include_str!("../../cib/testdata/crm_mon-1-node-fenced-failure.xml");
        let st = axha_cib::status::parse_crm_mon(xml).unwrap();
        let t = format_status(&st);
        assert!(t.starts_with("Cluster: DC n1 (with quorum)\n"), "{t}");
        assert!(t.contains("  n1                   online      DC\n"), "{t}");
        assert!(
            t.contains("  mail1                Started     n1               fail-count 1\n"),
            "{t}"
        );
        assert!(t.contains("  mail2                Stopped     -"), "{t}");
        assert!(
            t.contains(
                "failure: mail1_monitor_10000 on n1: not running (7): No process state file found"
            ),
            "{t}"
        );
        assert!(
            t.contains("off of n2 by n1 for n1: success at 2026-11-22 02:33:10Z"),
            "{t}"
        );
    }

    #[test]
    fn tiers_section_names_the_vip_holder_and_providers() {
        let t = TierStatus {
            load_balancers: vec!["n4".into(), "n5".into()],
            vip_holder: Some("n4".into()),
            directory: vec!["10.0.0.21:389".into(), "10.0.0.22:389".into()],
        };
        let s = format_tiers(&t);
        assert!(s.contains("front-ends / load balancers: n4 n5\n"), "{s}");
        assert!(s.contains("VIP holder: n4\n"), "{s}");
        assert!(
            s.contains("providers: 10.0.0.21:389 10.0.0.22:389\n"),
            "{s}"
        );
        let none = format_tiers(&TierStatus::default());
        assert!(none.contains("VIP holder: NONE"), "{none}");
    }

    #[test]
    fn links_section_names_the_peer_of_a_degraded_link() {
        let xml = include_str!("../../cib/testdata/crm_mon-3-nodes-n3-fenced.xml");
        let st = axha_cib::status::parse_crm_mon(xml).unwrap();
        let text = "LINK ID 0 udp\n\taddr\t= 10.0.0.1\n\tstatus:\n\t\tnodeid:   1:\tlocalhost\n\t\tnodeid:   3:\tconnected\nLINK ID 1 udp\n\taddr\t= 10.0.1.1\n\tstatus:\n\t\tnodeid:   1:\tlocalhost\n\t\tnodeid:   3:\tdisconnected\n";
        let l = axha_cib::links::parse_cfgtool_status(text).map_err(|e| e.to_string());
        let t = format_links(&st, &l);
        assert!(t.contains("  link 0 (10.0.0.1): all connected\n"), "{t}");
        assert!(
            t.contains("  link 1 (10.0.1.1): DEGRADED, n3 disconnected\n"),
            "{t}"
        );
        let t = format_links(&st, &Err("corosync-cfgtool: not running".into()));
        assert!(
            t.contains("(unknown: corosync-cfgtool: not running)"),
            "{t}"
        );
    }
}
