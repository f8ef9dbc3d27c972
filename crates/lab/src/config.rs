//! The files a lab node starts from: `corosync.conf` and the seeded CIB.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use axha_exec::{Cmd, Deadline};
use axha_ocf::cibadmin::{CibAdmin, CIB_FILE};

use crate::spec::{node_addr, node_addr2, Fencing};
use crate::LabError;

/// `corosync.conf` for an N-node lab (corosync.conf(5), votequorum(5)).
///
/// knet without crypto (the lab network is private to the lab), node names n1..nN from the
/// nodelist (Pacemaker takes node names from `nodelist.node.name`, not from uname), `two_node`
/// for two nodes so the survivor of a two-node cluster keeps quorum, logging to the node's
/// private /var/log/corosync. With `links` 2 every node also gets `ring1_addr` on the second
/// cluster network: knet keeps the cluster on either link (link_mode passive, the default).
pub fn render_corosync_conf(
    cluster: &str,
    nodes: usize,
    token_ms: Option<u32>,
    links: u8,
) -> String {
    let mut s = String::new();
    // writing into a String cannot fail
    let _ = writeln!(s, "totem {{");
    let _ = writeln!(s, "  version: 2");
    let _ = writeln!(s, "  cluster_name: {cluster}");
    let _ = writeln!(s, "  transport: knet");
    let _ = writeln!(s, "  crypto_cipher: none");
    let _ = writeln!(s, "  crypto_hash: none");
    if let Some(t) = token_ms {
        let _ = writeln!(s, "  token: {t}");
    }
    let _ = writeln!(s, "}}");
    let _ = writeln!(s, "nodelist {{");
    for i in 1..=nodes {
        let _ = writeln!(s, "  node {{");
        let _ = writeln!(s, "    ring0_addr: {}", node_addr(i));
        if links >= 2 {
            let _ = writeln!(s, "    ring1_addr: {}", node_addr2(i));
        }
        let _ = writeln!(s, "    name: n{i}");
        let _ = writeln!(s, "    nodeid: {i}");
        let _ = writeln!(s, "  }}");
    }
    let _ = writeln!(s, "}}");
    let _ = writeln!(s, "quorum {{");
    let _ = writeln!(s, "  provider: corosync_votequorum");
    if nodes == 2 {
        let _ = writeln!(s, "  two_node: 1");
    }
    let _ = writeln!(s, "}}");
    let _ = writeln!(s, "logging {{");
    let _ = writeln!(s, "  to_logfile: yes");
    let _ = writeln!(s, "  logfile: /var/log/corosync/corosync.log");
    let _ = writeln!(s, "  to_stderr: no");
    let _ = writeln!(s, "  to_syslog: no");
    let _ = writeln!(s, "  timestamp: hires");
    let _ = writeln!(s, "}}");
    s
}

/// Cluster options of the seeded CIB, as (name, value).
///
/// `dc-deadtime` 2s: a fresh CIB waits 20 s before electing a DC (LAB-RECIPES §1); the lab
/// starts all nodes together, so a short wait is safe and saves 15 s per start.
pub fn seed_options(fencing: Fencing) -> Vec<(&'static str, &'static str)> {
    vec![
        ("dc-deadtime", "2s"),
        (
            "stonith-enabled",
            match fencing {
                Fencing::Disabled => "false",
                Fencing::Ipmi => "true",
            },
        ),
        ("stonith-timeout", "20s"),
        ("cluster-recheck-interval", "1min"),
    ]
}

/// Write the seed CIB offline (`CIB_file`, no cluster needed): cluster options and a resource
/// stickiness of 1 so a returning node causes no needless move.
pub fn write_seed_cib(path: &Path, fencing: Fencing) -> Result<(), LabError> {
    let d = Deadline::after(Duration::from_secs(30));
    for p in [path.to_path_buf(), path.with_extension("xml.sig")] {
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(LabError::io(p, e)),
            _ => {}
        }
    }
    let empty = CibAdmin::empty()
        .run(&d)
        .map_err(|e| LabError::exec("creating an empty CIB", e))?;
    std::fs::write(path, empty).map_err(|e| LabError::io(path, e))?;
    let cib = CibAdmin::file(path);
    for (name, value) in seed_options(fencing) {
        Cmd::new("crm_attribute")
            .env(CIB_FILE, path)
            .args(["-t", "crm_config", "-n", name, "-v", value])
            .run_ok(&d)
            .map_err(|e| LabError::exec(format!("seeding {name} in the CIB"), e))?;
    }
    let defaults = r#"<rsc_defaults><meta_attributes id="rsc-options"><nvpair id="rsc-options-resource-stickiness" name="resource-stickiness" value="1"/></meta_attributes></rsc_defaults>"#;
    cib.create("configuration", defaults)
        .run(&d)
        .map_err(|e| LabError::exec("seeding rsc_defaults in the CIB", e))?;
    Ok(())
}

/// uid of a user from the text of /etc/passwd.
pub fn parse_passwd_uid(passwd: &str, user: &str) -> Option<u32> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == user)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// gid of a group from the text of /etc/group.
pub fn parse_group_gid(group: &str, name: &str) -> Option<u32> {
    passwd_like_field(group, name, 2)
}

fn passwd_like_field(text: &str, name: &str, idx: usize) -> Option<u32> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > idx && f[0] == name)
            .then(|| f[idx].parse().ok())
            .flatten()
    })
}

/// uid of `hacluster` and gid of `haclient` (Pacemaker's daemons run as them and must own
/// their state and log directories).
pub fn pacemaker_ids() -> Result<(u32, u32), LabError> {
    let read = |p: &str| std::fs::read_to_string(p).map_err(|e| LabError::io(p, e));
    let passwd = read("/etc/passwd")?;
    let group = read("/etc/group")?;
    let uid = parse_passwd_uid(&passwd, "hacluster").ok_or_else(|| LabError::BadState {
        path: "/etc/passwd".into(),
        reason: "no user hacluster (is pacemaker installed?)".into(),
    })?;
    let gid = parse_group_gid(&group, "haclient").ok_or_else(|| LabError::BadState {
        path: "/etc/group".into(),
        reason: "no group haclient (is pacemaker installed?)".into(),
    })?;
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corosync_conf_three_nodes() {
        let c = render_corosync_conf("lab", 3, Some(1000), 1);
        assert!(c.contains("  token: 1000\n"));
        assert!(c.contains("ring0_addr: 10.231.0.3\n    name: n3\n    nodeid: 3"));
        assert!(!c.contains("two_node"));
        assert_eq!(c.matches("node {").count(), 3);
        assert_eq!(c.matches('{').count(), c.matches('}').count());
    }

    #[test]
    fn corosync_conf_two_nodes_default_token() {
        let c = render_corosync_conf("x", 2, None, 1);
        assert!(c.contains("two_node: 1"));
        assert!(!c.contains("token:"));
        assert!(!c.contains("ring1_addr"));
    }

    #[test]
    fn corosync_conf_two_links() {
        let c = render_corosync_conf("x", 2, None, 2);
        assert!(c.contains("ring0_addr: 10.231.0.2\n    ring1_addr: 10.231.3.2\n    name: n2"));
        assert_eq!(c.matches("ring1_addr").count(), 2);
    }

    #[test]
    fn seed_follows_fencing() {
        let on = seed_options(Fencing::Ipmi);
        assert!(on.contains(&("stonith-enabled", "true")));
        let off = seed_options(Fencing::Disabled);
        assert!(off.contains(&("stonith-enabled", "false")));
        assert!(off.contains(&("dc-deadtime", "2s")));
    }

    #[test]
    fn passwd_and_group() {
        let p = "root:x:0:0:root:/root:/bin/bash\nhacluster:x:107:113::/var/lib/pacemaker:/usr/sbin/nologin\nbad\n";
        assert_eq!(parse_passwd_uid(p, "hacluster"), Some(107));
        assert_eq!(parse_passwd_uid(p, "root"), Some(0));
        assert_eq!(parse_passwd_uid(p, "nobody"), None);
        assert_eq!(parse_passwd_uid("x:y:notanumber:1", "x"), None);
        let g = "root:x:0:\nhaclient:x:113:\n";
        assert_eq!(parse_group_gid(g, "haclient"), Some(113));
        assert_eq!(parse_group_gid(g, "hacluster"), None);
    }
}
