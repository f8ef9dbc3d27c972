//! `axigen-ha status`: the running cluster as crm_mon sees it (library: axha_cib::status).

use std::time::Duration;

use axha_cib::status::{query_status, ClusterStatus, SCORE_INFINITY};
use clap::Args;

use crate::OutputFormat;

#[derive(Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value = "table")]
    output: OutputFormat,
}

pub fn run(a: StatusArgs) -> anyhow::Result<()> {
    let st = query_status(Duration::from_secs(30))?;
    match a.output {
        OutputFormat::Json => {
            let v = serde_json::json!({
                "dc": st.dc,
                "quorate": st.quorate,
                "nodes": st.nodes,
                "instances": st.instances(),
                "fencing": st.fencing,
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        OutputFormat::Table => print!("{}", format_status(&st)),
    }
    Ok(())
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
}
