//! IPMI fencing in the lab, end to end on real Corosync, Pacemaker and ipmi_sim: every node
//! has a simulated BMC whose power control ends and boots the node; Pacemaker fences through
//! one stonith device per node (fence_axigen_ipmi when the built agent is a working fence
//! agent, otherwise fence_ipmilan against the same BMCs).

use std::time::{Duration, Instant};

use axha_e2e::history::bmc_power_offs;
use axha_e2e::lab::{binaries_dir, spec, Footprint};
use axha_lab::{Fencing, Lab};

/// 3 nodes: a partitioned node is fenced by the majority through its BMC (and booted again:
/// the default fence action is reboot); a node that loses power is fenced before the
/// cluster goes on without it, and comes back through its BMC.
#[test]
fn three_nodes_partition_and_power_loss_are_fenced_over_ipmi() {
    axha_e2e::need_root!();
    let mut s = spec("f", 3);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let t = Instant::now();
    let lab = Lab::up(s).expect("lab up");
    eprintln!(
        "3 nodes + BMCs + fence devices ({}) up in {:.1}s",
        lab.fence_agent(),
        t.elapsed().as_secs_f64()
    );
    for n in lab.nodes() {
        assert!(lab.bmc_power(&n).unwrap(), "{n} BMC reports power on");
    }

    // Partition: n3 loses the cluster network; n1+n2 have quorum and fence it.
    let t = Instant::now();
    lab.partition("n3").unwrap();
    let v = lab
        .wait_view("n3 fenced", Duration::from_secs(60), |v| {
            !v.fenced("n3").is_empty()
        })
        .expect("partitioned n3 fenced");
    let fenced_after = t.elapsed();
    eprintln!(
        "partition -> n3 fenced in {:.1}s (by {:?})",
        fenced_after.as_secs_f64(),
        v.fenced("n3")[0].delegate
    );
    assert!(
        bmc_power_offs(&lab, "n3") > 0,
        "{}",
        lab.bmc_chassis_log("n3")
    );
    assert!(v.fenced("n1").is_empty() && v.fenced("n2").is_empty());
    assert_ne!(v.dc.as_deref(), Some("n3"));
    lab.heal("n3").unwrap();
    lab.wait_all_online(Duration::from_secs(90))
        .expect("n3 rebooted by its BMC and rejoined");
    assert!(lab.bmc_power("n3").unwrap());

    // Power loss of n1: the survivors fence it over IPMI before going on.
    let t = Instant::now();
    lab.kill("n1").unwrap();
    let v = lab
        .wait_view("n1 fenced", Duration::from_secs(60), |v| {
            !v.fenced("n1").is_empty()
        })
        .expect("dead n1 fenced");
    eprintln!(
        "power loss -> n1 fenced in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    assert!(
        bmc_power_offs(&lab, "n1") > 0,
        "{}",
        lab.bmc_chassis_log("n1")
    );
    assert!(v.fenced("n2").is_empty(), "{:?}", v.fencing);
    lab.wait_all_online(Duration::from_secs(90))
        .expect("n1 booted by its BMC and rejoined");

    let fp = Footprint::of(&lab);
    assert!(
        fp.processes
            .iter()
            .any(|p| p.exe.as_ref().is_some_and(|e| e.ends_with("ipmi_sim"))),
        "the BMCs are part of the footprint"
    );
    lab.down().unwrap();
    fp.assert_gone();
}

/// 2 nodes with fencing of n1 delayed: a partition is a fence race both sides run (the
/// management network stays up), and the delay makes n1 win it every time.
#[test]
fn two_node_partition_race_is_decided_by_the_delay() {
    axha_e2e::need_root!();
    let mut s = spec("g", 2);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    s.fence_delay = Some(("n1".into(), 5));
    let lab = Lab::up(s).expect("lab up");
    // The same winner every time, whichever cable is pulled.
    for (round, cable) in ["n1", "n2", "n1"].into_iter().enumerate() {
        let n1_offs = bmc_power_offs(&lab, "n1");
        let n2_offs = bmc_power_offs(&lab, "n2");
        let t = Instant::now();
        lab.partition(cable).unwrap();
        lab.wait_view("n2 fenced", Duration::from_secs(60), |_| {
            bmc_power_offs(&lab, "n2") > n2_offs
        })
        .expect("someone fenced");
        eprintln!(
            "round {}: {cable}'s cable pulled -> n2 fenced in {:.1}s",
            round + 1,
            t.elapsed().as_secs_f64()
        );
        assert_eq!(
            bmc_power_offs(&lab, "n1"),
            n1_offs,
            "n1 has the delay and must win"
        );
        assert!(lab.is_alive("n1"));
        lab.heal(cable).unwrap();
        lab.wait_all_online(Duration::from_secs(90))
            .expect("n2 rebooted and rejoined");
    }
}
