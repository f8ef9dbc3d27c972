//! The same configuration as command scripts for the two cluster shells, and the matching
//! corosync.conf: `pcs` (pcs 0.11 syntax) and `crm configure` (crmsh 4.x syntax, loadable with
//! `crm configure load update FILE`). Ids are the ones the XML uses wherever the tool lets
//! the caller choose them.

use std::fmt::Write as _;

use crate::model::{Cib, Constraint, Op, Pairs, Primitive, Resource, Score};

/// Quote for a POSIX shell: bare when only safe characters, single quotes otherwise.
pub fn sh_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | '.' | '_' | '-' | ':' | '=' | ',' | '@' | '+')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A `name=value` argument for pcs, shell-quoted as one word.
fn kv_sh(k: &str, v: &str) -> String {
    sh_quote(&format!("{k}={v}"))
}

/// A crmsh value: crmsh splits lines like a POSIX shell (shlex), so double quotes with `\`
/// before `"` and `\` keep any value one token.
fn crm_quote(v: &str) -> String {
    let safe = !v.is_empty()
        && v.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | ':' | ',' | '@' | '+')
        });
    if safe {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', r"\\").replace('"', "\\\""))
    }
}

fn crm_pairs(pairs: &Pairs) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", crm_quote(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn op_words(op: &Op) -> Vec<String> {
    let mut w = vec![
        op.name.clone(),
        format!("interval={}s", op.interval),
        format!("timeout={}s", op.timeout),
    ];
    if let Some(r) = op.role {
        w.push(format!("role={}", r.as_str()));
    }
    if let Some(d) = op.depth {
        w.push(format!("OCF_CHECK_LEVEL={d}"));
    }
    w
}

fn crm_score(s: Score) -> String {
    match s {
        Score::Infinity => "inf".into(),
        Score::MinusInfinity => "-inf".into(),
        Score::Value(v) => v.to_string(),
    }
}

/// pcs 0.11 commands. `CIB_FILE=cib.xml sh pcs.sh` works on a file (`pcs -f`), otherwise on
/// the live cluster.
pub fn render_pcs(cib: &Cib, template: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(s, "# axigen-ha template {template}, cluster {}: pcs commands equivalent to the rendered CIB XML.", cib.cluster_name);
    let _ = writeln!(s, "# Offline: CIB_FILE=cib.xml sh this-script (pcs -f); otherwise on a node of the running cluster.");
    let _ = writeln!(s, "# --force: pcs checks agent metadata; the axigen agents may not be installed where this runs.");
    let _ = writeln!(s, "set -eu");
    let _ = writeln!(
        s,
        "pcs() {{ if [ -n \"${{CIB_FILE:-}}\" ]; then command pcs -f \"$CIB_FILE\" \"$@\"; else command pcs \"$@\"; fi; }}"
    );
    if !cib.properties.is_empty() {
        let args: Vec<_> = cib.properties.iter().map(|(k, v)| kv_sh(k, v)).collect();
        let _ = writeln!(s, "pcs property set {}", args.join(" "));
    }
    if !cib.rsc_defaults.is_empty() {
        let args: Vec<_> = cib.rsc_defaults.iter().map(|(k, v)| kv_sh(k, v)).collect();
        let _ = writeln!(s, "pcs resource defaults update {}", args.join(" "));
    }
    for n in &cib.nodes {
        if !n.utilization.is_empty() {
            let args: Vec<_> = n.utilization.iter().map(|(k, v)| kv_sh(k, v)).collect();
            let _ = writeln!(
                s,
                "pcs node utilization {} {}",
                sh_quote(&n.name),
                args.join(" ")
            );
        }
    }
    let create = |s: &mut String, p: &Primitive, tail: &str| {
        let cmd = if p.agent.is_stonith() {
            "stonith"
        } else {
            "resource"
        };
        let agent = if p.agent.is_stonith() {
            p.agent.kind.clone()
        } else {
            p.agent.to_string()
        };
        let mut line = format!("pcs {cmd} create {} {}", sh_quote(&p.id), sh_quote(&agent));
        for (k, v) in &p.params {
            line += &format!(" {}", kv_sh(k, v));
        }
        for op in &p.ops {
            line += " op";
            for w in op_words(op) {
                line += &format!(" {}", sh_quote(&w));
            }
        }
        if !p.meta.is_empty() {
            line += " meta";
            for (k, v) in &p.meta {
                line += &format!(" {}", kv_sh(k, v));
            }
        }
        line += tail;
        // --no-default-ops: pcs would otherwise add the operations the agent's metadata
        // suggests, and the result would differ from the XML.
        let flags = if p.agent.is_stonith() {
            " --force"
        } else {
            " --no-default-ops --force"
        };
        let _ = writeln!(s, "{line}{flags}");
        if !p.utilization.is_empty() {
            let args: Vec<_> = p.utilization.iter().map(|(k, v)| kv_sh(k, v)).collect();
            let _ = writeln!(
                s,
                "pcs resource utilization {} {}",
                sh_quote(&p.id),
                args.join(" ")
            );
        }
    };
    for r in &cib.resources {
        match r {
            Resource::Primitive(p) => create(&mut s, p, ""),
            Resource::Group { id, members } => {
                for p in members {
                    create(&mut s, p, &format!(" --group {}", sh_quote(id)));
                }
            }
            Resource::Clone { id, child, meta } => {
                let promotable = meta.iter().any(|(k, v)| k == "promotable" && v == "true");
                let opts: Vec<_> = meta
                    .iter()
                    .filter(|(k, _)| k != "promotable")
                    .map(|(k, v)| kv_sh(k, v))
                    .collect();
                let kw = if promotable { "promotable" } else { "clone" };
                create(
                    &mut s,
                    child,
                    &format!(" {kw} {} {}", sh_quote(id), opts.join(" ")),
                );
            }
        }
    }
    for c in &cib.constraints {
        let line = match c {
            // `--` ends pcs's options, so a negative score is not taken for one.
            Constraint::Location {
                id,
                rsc,
                node,
                score,
            } => format!(
                "pcs constraint location add {} {} {} -- {}",
                sh_quote(id),
                sh_quote(rsc),
                sh_quote(node),
                score
            ),
            Constraint::OnlyOn { id, rsc, allowed } => {
                let expr: Vec<_> = allowed
                    .iter()
                    .map(|n| format!("'#uname' ne {}", sh_quote(n)))
                    .collect();
                format!(
                    "pcs constraint location {} rule constraint-id={} score=-INFINITY {}",
                    sh_quote(rsc),
                    sh_quote(id),
                    expr.join(" and ")
                )
            }
            Constraint::Colocation {
                id,
                rsc,
                with_rsc,
                with_role,
                score,
            } => format!(
                "pcs constraint colocation add {} with {}{} {} id={}",
                sh_quote(rsc),
                with_role
                    .map(|r| format!("{} ", r.as_str()))
                    .unwrap_or_default(),
                sh_quote(with_rsc),
                score,
                sh_quote(id)
            ),
            Constraint::Order {
                id,
                first,
                first_action,
                then,
                then_action,
            } => format!(
                "pcs constraint order {first_action} {} then {then_action} {} kind=Mandatory id={}",
                sh_quote(first),
                sh_quote(then),
                sh_quote(id)
            ),
        };
        let _ = writeln!(s, "{line}");
    }
    s += &pcs_fencing_levels(cib);
    s
}

/// `pcs stonith level add INDEX NODE DEVICE...`, one line per level.
fn pcs_fencing_levels(cib: &Cib) -> String {
    let mut s = String::new();
    for l in &cib.fencing_levels {
        let devices: Vec<_> = l.devices.iter().map(|d| sh_quote(d)).collect();
        let _ = writeln!(
            s,
            "pcs stonith level add {} {} {}",
            l.index,
            sh_quote(&l.target),
            devices.join(" ")
        );
    }
    s
}

/// crmsh's `fencing_topology NODE: LEVEL1 LEVEL2 ...` (a level's devices joined by commas),
/// levels in index order.
fn crm_fencing_topology(cib: &Cib) -> String {
    if cib.fencing_levels.is_empty() {
        return String::new();
    }
    let mut targets: Vec<&str> = Vec::new();
    for l in &cib.fencing_levels {
        if !targets.contains(&l.target.as_str()) {
            targets.push(&l.target);
        }
    }
    let mut parts = Vec::new();
    for t in targets {
        let mut levels: Vec<_> = cib
            .fencing_levels
            .iter()
            .filter(|l| l.target == t)
            .collect();
        levels.sort_by_key(|l| l.index);
        let words: Vec<String> = levels.iter().map(|l| l.devices.join(",")).collect();
        parts.push(format!("{t}: {}", words.join(" ")));
    }
    format!("fencing_topology \\\n\t{}\n", parts.join(" \\\n\t"))
}

fn crm_primitive(p: &Primitive) -> String {
    let mut s = format!("primitive {} {}", p.id, p.agent);
    if !p.params.is_empty() {
        s += &format!(" \\\n\tparams {}", crm_pairs(&p.params));
    }
    if !p.meta.is_empty() {
        s += &format!(" \\\n\tmeta {}", crm_pairs(&p.meta));
    }
    if !p.utilization.is_empty() {
        s += &format!(" \\\n\tutilization {}", crm_pairs(&p.utilization));
    }
    for op in &p.ops {
        s += &format!(" \\\n\top {}", op_words(op).join(" "));
    }
    s
}

/// crmsh configuration syntax, for `crm configure load update FILE`.
pub fn render_crm(cib: &Cib, template: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# axigen-ha template {template}, cluster {}: crm configuration equivalent to the rendered CIB XML.", cib.cluster_name);
    let _ = writeln!(s, "# Load with: crm configure load update THIS-FILE");
    for n in &cib.nodes {
        let mut line = format!("node {}: {}", n.id, n.name);
        if !n.utilization.is_empty() {
            line += &format!(" \\\n\tutilization {}", crm_pairs(&n.utilization));
        }
        let _ = writeln!(s, "{line}");
    }
    for r in &cib.resources {
        for p in r.primitives() {
            let _ = writeln!(s, "{}", crm_primitive(p));
        }
        match r {
            Resource::Primitive(_) => {}
            Resource::Group { id, members } => {
                let ids: Vec<_> = members.iter().map(|m| m.id.as_str()).collect();
                let _ = writeln!(s, "group {id} {}", ids.join(" "));
            }
            Resource::Clone { id, child, meta } => {
                let _ = writeln!(s, "clone {id} {} \\\n\tmeta {}", child.id, crm_pairs(meta));
            }
        }
    }
    for c in &cib.constraints {
        let line = match c {
            Constraint::Location {
                id,
                rsc,
                node,
                score,
            } => format!("location {id} {rsc} {}: {node}", crm_score(*score)),
            Constraint::OnlyOn { id, rsc, allowed } => {
                let expr: Vec<_> = allowed.iter().map(|n| format!("#uname ne {n}")).collect();
                format!(
                    "location {id} {rsc} \\\n\trule -inf: {}",
                    expr.join(" and ")
                )
            }
            Constraint::Colocation {
                id,
                rsc,
                with_rsc,
                with_role,
                score,
            } => format!(
                "colocation {id} {}: {rsc} {with_rsc}{}",
                crm_score(*score),
                with_role
                    .map(|r| format!(":{}", r.as_str()))
                    .unwrap_or_default()
            ),
            Constraint::Order {
                id,
                first,
                first_action,
                then,
                then_action,
            } => format!("order {id} Mandatory: {first}:{first_action} {then}:{then_action}"),
        };
        let _ = writeln!(s, "{line}");
    }
    s += &crm_fencing_topology(cib);
    if !cib.properties.is_empty() {
        let _ = writeln!(
            s,
            "property cib-bootstrap-options: \\\n\t{}",
            crm_pairs(&cib.properties)
        );
    }
    if !cib.rsc_defaults.is_empty() {
        let _ = writeln!(
            s,
            "rsc_defaults rsc-options: \\\n\t{}",
            crm_pairs(&cib.rsc_defaults)
        );
    }
    s
}

/// corosync.conf for the same nodes (corosync.conf(5), votequorum(5)). Encryption is on:
/// create /etc/corosync/authkey with corosync-keygen and copy it to every node.
pub fn render_corosync(cib: &Cib) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# axigen-ha: corosync.conf for cluster {}",
        cib.cluster_name
    );
    let _ = writeln!(
        s,
        "totem {{\n\tversion: 2\n\tcluster_name: {}\n\ttransport: knet",
        cib.cluster_name
    );
    let _ = writeln!(s, "\tcrypto_cipher: aes256\n\tcrypto_hash: sha256\n}}");
    let _ = writeln!(s, "nodelist {{");
    for n in &cib.nodes {
        let _ = writeln!(
            s,
            "\tnode {{\n\t\tring0_addr: {}\n{}\t\tname: {}\n\t\tnodeid: {}\n\t}}",
            n.address,
            // knet's second link: the cluster stays whole while either link works
            n.address2
                .map(|a| format!("\t\tring1_addr: {a}\n"))
                .unwrap_or_default(),
            n.name,
            n.id
        );
    }
    let _ = writeln!(s, "}}");
    let _ = writeln!(s, "quorum {{\n\tprovider: corosync_votequorum");
    if cib.two_node {
        // two_node keeps quorum with one of two nodes; it implies wait_for_all at start.
        let _ = writeln!(s, "\ttwo_node: 1");
    }
    let _ = writeln!(s, "}}");
    let _ = writeln!(
        s,
        "logging {{\n\tto_logfile: yes\n\tlogfile: /var/log/corosync/corosync.log\n\tto_syslog: yes\n\ttimestamp: on\n}}"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("abc=1"), "abc=1");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$(reboot)"), "'$(reboot)'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn crm_quoting() {
        assert_eq!(crm_quote("/var/opt/axigen"), "/var/opt/axigen");
        assert_eq!(crm_quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(crm_quote("x y"), "\"x y\"");
    }
}
