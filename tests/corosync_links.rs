//! Redundant corosync links on real Corosync (knet) and Pacemaker: every lab node has two
//! cluster networks. One cut link loses no node and moves nothing (read from the operation
//! history: no start, stop or migration after the cut, and an empty fencing history), and
//! `axigen-ha status` run on the node shows the link degraded; both links cut is a lost node,
//! fenced as with one link. The service instance's server is `axigen-sim`, the Axigen
//! stand-in (Axigen itself cannot be installed here).

use std::time::Duration;

use axha_e2e::history::{self, OpRecord};
use axha_e2e::lab::{binaries_dir, spec};
use axha_lab::scenario::n_plus_1;
use axha_lab::{Fencing, Lab, Link};

const T: Duration = Duration::from_secs(120);

/// How long a cut is held before the records are read: several corosync token timeouts
/// (1 s here) and knet's link timeouts, so a lost node would have been declared lost and
/// acted upon by then.
const HOLD: Duration = Duration::from_secs(8);

/// Operation records that move or restart a resource: start, stop, migrate_to/from,
/// promote, demote (monitors and probes move nothing).
fn movements(ops: &[OpRecord]) -> Vec<(String, String, String, i64)> {
    ops.iter()
        .filter(|o| {
            matches!(
                o.task.as_str(),
                "start" | "stop" | "migrate_to" | "migrate_from" | "promote" | "demote"
            )
        })
        .map(|o| {
            (
                o.node.clone(),
                o.resource.clone(),
                o.task.clone(),
                o.call_id,
            )
        })
        .collect()
}

/// Every node's operation history, as the node itself recorded it.
fn all_movements(lab: &Lab) -> Vec<(String, String, String, i64)> {
    let mut v = Vec::new();
    for n in lab.alive_nodes() {
        v.extend(
            movements(&history::operations(lab, &n))
                .into_iter()
                .filter(|m| m.0 == n),
        );
    }
    v.sort();
    v
}

/// `corosync-cfgtool -s` on `node`: link `link` has a disconnected peer.
fn link_degraded(lab: &Lab, node: &str, link: u32) -> bool {
    let out = lab
        .run(node, &["corosync-cfgtool", "-s"], Duration::from_secs(10))
        .map(|o| o.stdout_str())
        .unwrap_or_default();
    axha_cib::links::parse_cfgtool_status(&out)
        .ok()
        .and_then(|l| l.into_iter().find(|l| l.link == link))
        .is_some_and(|l| !l.down_peers().is_empty())
}

fn axigen_ha_status(lab: &Lab, node: &str) -> String {
    let bin = axha_e2e::bin("axigen-ha");
    let out = lab
        .run_ok(
            node,
            &[bin.to_str().expect("UTF-8 path"), "status"],
            Duration::from_secs(60),
        )
        .expect("axigen-ha status");
    out.stdout_str()
}

/// Cut one link (each in turn), then both: nothing moves while one link is left; with both
/// gone the node is fenced and its instance recovers on a stand-by.
#[test]
fn one_link_cut_moves_nothing_both_cut_fence() {
    axha_e2e::need_root!();
    let mut s = spec("k", 3);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    s.links = 2;
    let lab = Lab::up(s).expect("lab up with two corosync links");
    let conf = std::fs::read_to_string(
        lab.node_dir("n1")
            .join("etc-corosync")
            .join("corosync.conf"),
    )
    .unwrap();
    assert!(conf.contains("ring1_addr: 10.231.3.1"), "{conf}");
    assert!(!link_degraded(&lab, "n1", 0) && !link_degraded(&lab, "n1", 1));

    let inst = n_plus_1(&lab, &["n1"], &axha_e2e::bin("axigen-sim")).expect("instance");
    let server = inst[0].server_id();
    axha_e2e::lab::wait_started_on(&lab, &server, "n1");
    // Let the recurring monitors of the new resources get their first results.
    history::settle(&lab, "n2", T);

    for (link, number) in [(Link::Cluster2, 1), (Link::Cluster, 0)] {
        let before = all_movements(&lab);
        lab.cut_link("n1", link).unwrap();
        axha_e2e::wait_for("the cut link to show as down on n1", T, || {
            link_degraded(&lab, "n1", number)
        });
        let status = axigen_ha_status(&lab, "n1");
        assert!(
            status.contains(&format!("link {number} (")) && status.contains("DEGRADED"),
            "{status}"
        );
        std::thread::sleep(HOLD);
        let v = lab.view("n2").unwrap();
        assert!(v.fencing.is_empty(), "nobody fenced: {:?}", v.fencing);
        assert_eq!(v.online(), vec!["n1", "n2", "n3"], "no node lost");
        assert_eq!(
            all_movements(&lab),
            before,
            "no start, stop or migration after cutting link {number}"
        );
        assert_eq!(v.locate(&server), vec!["n1".to_string()]);
        eprintln!("link {number} of n1 cut for {HOLD:?}: no node lost, nothing moved");
        lab.restore_link("n1", link).unwrap();
        axha_e2e::wait_for("the link to come back", T, || {
            !link_degraded(&lab, "n1", number)
        });
    }

    // Both links: n1 is a lost node, fenced (over IPMI) as with a single link.
    lab.cut_link("n1", Link::Cluster).unwrap();
    lab.cut_link("n1", Link::Cluster2).unwrap();
    let v = lab
        .wait_view("n1 fenced, inst1 elsewhere", T, |v| {
            let on = v.locate(&server);
            assert!(on.len() <= 1, "inst1 active on {on:?} at once");
            !v.fenced("n1").is_empty() && on.len() == 1 && on[0] != "n1"
        })
        .expect("n1 fenced once both links were cut");
    eprintln!(
        "both links of n1 cut: fenced by {:?}",
        v.fenced("n1")[0].delegate
    );
    lab.restore_link("n1", Link::Cluster).unwrap();
    lab.restore_link("n1", Link::Cluster2).unwrap();
    lab.wait_all_online(T).expect("n1 rebooted and rejoined");
    lab.down().unwrap();
}
