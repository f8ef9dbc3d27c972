//! Failover of Axigen service instances on real multi-node Pacemaker/Corosync clusters in the
//! lab, fenced over IPMI through ipmi_sim BMCs. The server is `axigen-sim`, the Axigen
//! stand-in (Axigen itself cannot be installed here), run by `ocf:axigen:instance`; each
//! instance has its own loop-device filesystem (`ocf:heartbeat:Filesystem`, mounted on the
//! active node only) and its own service IP (`ocf:heartbeat:IPaddr2`).
//!
//! Every wait also checks that no instance is ever active on two nodes at once. The fence
//! action is "off" and each fenced node is powered on again through its BMC once its
//! instances moved (a lab node reboots in seconds, before they could).

use std::time::{Duration, Instant};

use axha_e2e::lab::{binaries_dir, spec, Footprint};
use axha_e2e::{bin, fence, history};
use axha_lab::scenario::n_plus_1;
use axha_lab::service::IMAP_PORT;
use axha_lab::{ClusterView, Fencing, Instance, Lab};

const T: Duration = Duration::from_secs(90);

fn ms(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Poll the cluster until `check` holds; panics if any instance in `watch` is ever active on
/// more than one node meanwhile (no data written twice).
fn wait_single(
    lab: &Lab,
    what: &str,
    watch: &[&Instance],
    mut check: impl FnMut(&ClusterView) -> bool,
) -> ClusterView {
    lab.wait_view(what, T, |v| {
        for i in watch {
            let on = v.locate(&i.server_id());
            assert!(on.len() <= 1, "{} active on {on:?} at once", i.id);
            let fs = v.locate(&format!("{}-fs", i.id));
            assert!(
                fs.len() <= 1,
                "{} filesystem mounted on {fs:?} at once",
                i.id
            );
        }
        check(v)
    })
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn runs_on(v: &ClusterView, i: &Instance, node: &str) -> bool {
    v.resource(&i.server_id())
        .is_some_and(|r| r.role == "Started" && !r.failed && r.nodes == [node])
}

/// The instance answers IMAP on its service IP, asked from `from` (another node).
fn answers_imap(lab: &Lab, from: &str, i: &Instance) -> bool {
    lab.greeting(from, i.ip, IMAP_PORT)
        .is_some_and(|g| g.starts_with("* OK"))
}

fn where_is(lab: &Lab, i: &Instance) -> Option<String> {
    lab.view_any()
        .ok()?
        .locate(&i.server_id())
        .into_iter()
        .next()
}

fn setup_instances(lab: &Lab, homes: &[&str]) -> Vec<Instance> {
    let sim = bin("axigen-sim");
    let mut v = Vec::new();
    for (k, home) in homes.iter().enumerate() {
        let i = lab
            .add_instance(&format!("inst{}", k + 1), k + 1, Some(home), &sim)
            .expect("instance storage and workdir");
        lab.cib_create("resources", &i.group_xml()).unwrap();
        lab.cib_create("constraints", &i.location_xml().unwrap())
            .unwrap();
        // A returning node causes no needless move: stickiness above the home preference.
        run_ok(
            lab,
            "n1",
            &[
                "crm_resource",
                "-r",
                &i.id,
                "--meta",
                "-p",
                "resource-stickiness",
                "-v",
                "200",
            ],
        );
        v.push(i);
    }
    v
}

fn run_ok(lab: &Lab, node: &str, argv: &[&str]) -> String {
    lab.run_ok(node, argv, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{argv:?} on {node}: {e}"))
        .stdout_str()
}

/// Multi-tier N+1 on 3 nodes: inst1 on n1, inst2 on n2, n3 the hot stand-by.
#[test]
fn multi_tier_n_plus_1() {
    axha_e2e::need_root!();
    let mut s = spec("mt", 3);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    // The N+1 layout: an instance runs on its home back-end or on the stand-by, never on
    // another back-end; the stand-by takes at most two instances, back-ends one.
    let inst = n_plus_1(&lab, &["n1", "n2"], &bin("axigen-sim")).expect("N+1 layout");
    fence::fence_action_off(&lab, "n1");
    let (i1, i2) = (&inst[0], &inst[1]);
    let all = [i1, i2];
    let t = Instant::now();
    wait_single(&lab, "instances on their home nodes", &all, |v| {
        runs_on(v, i1, "n1") && runs_on(v, i2, "n2")
    });
    lab.wait_view("both answering", T, |_| {
        answers_imap(&lab, "n3", i1) && answers_imap(&lab, "n3", i2)
    })
    .unwrap();
    eprintln!("instances started and answering in {}", ms(t.elapsed()));

    // 1. Power loss of n1: fenced over IPMI, inst1 answers on n3.
    let t = Instant::now();
    lab.kill("n1").unwrap();
    let v = wait_single(&lab, "n1 fenced, inst1 on n3", &all, |v| {
        !v.fenced("n1").is_empty() && runs_on(v, i1, "n3")
    });
    let running = t.elapsed();
    lab.wait_view("inst1 answering", T, |_| answers_imap(&lab, "n2", i1))
        .unwrap();
    eprintln!(
        "power loss n1 -> fenced by {:?}, inst1 running on n3 {}, answering IMAP {}",
        v.fenced("n1")[0].delegate,
        ms(running),
        ms(t.elapsed())
    );
    assert!(lab
        .bmc_chassis_log("n1")
        .lines()
        .any(|l| l.ends_with("set power 0")));
    assert!(runs_on(&v, i2, "n2"), "inst2 did not move");
    let ops = history::operations(&lab, "n2");
    let start_on_n3 = history::last_start(&ops, &i1.server_id(), "n3")
        .unwrap_or_else(|| panic!("inst1's start on n3 recorded: {ops:?}"))
        .call_id;

    // n1 comes back (powered on through its BMC) and takes nothing back: once the cluster
    // has settled, the history shows inst1 never stopped on n3 nor ran on n1.
    fence::power_on(&lab, "n2", "n1");
    lab.wait_all_online(T).expect("n1 back");
    history::settle(&lab, "n2", T);
    let ops = history::operations(&lab, "n2");
    assert_eq!(
        history::last_start(&ops, &i1.server_id(), "n3").map(|o| o.call_id),
        Some(start_on_n3),
        "no needless move back: {:?}",
        history::of(&ops, &i1.server_id(), "n3")
    );
    assert!(
        !history::was_active_on(&ops, &i1.server_id(), "n1"),
        "{:?}",
        history::of(&ops, &i1.server_id(), "n1")
    );

    // 2. Power loss of n2: the stand-by now holds both instances.
    let t = Instant::now();
    lab.kill("n2").unwrap();
    wait_single(&lab, "n2 fenced, inst2 on n3", &all, |v| {
        !v.fenced("n2").is_empty() && runs_on(v, i2, "n3") && runs_on(v, i1, "n3")
    });
    lab.wait_view("both answering", T, |_| {
        answers_imap(&lab, "n1", i1) && answers_imap(&lab, "n1", i2)
    })
    .unwrap();
    eprintln!(
        "power loss n2 -> stand-by n3 holds both, answering in {}",
        ms(t.elapsed())
    );
    fence::power_on(&lab, "n1", "n2");
    lab.wait_all_online(T).expect("n2 back");

    // 3. Partition of the node holding both: it is fenced, its instances recover on the
    //    back-ends (one each: their capacity).
    let t = Instant::now();
    lab.partition("n3").unwrap();
    wait_single(&lab, "n3 fenced, instances on n1 and n2", &all, |v| {
        !v.fenced("n3").is_empty()
            && v.locate(&i1.server_id()).len() == 1
            && v.locate(&i2.server_id()).len() == 1
            && !v.locate(&i1.server_id()).contains(&"n3".to_string())
            && !v.locate(&i2.server_id()).contains(&"n3".to_string())
    });
    lab.wait_view("both answering", T, |_| {
        answers_imap(&lab, "n1", i1) && answers_imap(&lab, "n2", i2)
    })
    .unwrap();
    eprintln!(
        "partition n3 -> fenced, instances on {:?}/{:?}, answering in {}",
        where_is(&lab, i1),
        where_is(&lab, i2),
        ms(t.elapsed())
    );
    lab.heal("n3").unwrap();
    fence::power_on(&lab, "n1", "n3");
    lab.wait_all_online(T).expect("n3 back");

    // 4. A crash: restarted in place. A second crash reaches migration-threshold=2: moved.
    let node = where_is(&lab, i1).unwrap();
    let fences = history::bmc_power_offs_all(&lab);
    let t = Instant::now();
    let sim = bin("axigen-sim");
    let wd = i1.workdir.display().to_string();
    let crash = |node: &str| {
        run_ok(
            &lab,
            node,
            &[
                &sim.display().to_string(),
                "fault",
                "-W",
                &wd,
                "set",
                "crash-supervisor",
            ],
        )
    };
    let fail_count = || {
        lab.run(
            &node,
            &[
                "crm_failcount",
                "-G",
                "-q",
                "-r",
                &i1.server_id(),
                "-N",
                &node,
            ],
            Duration::from_secs(10),
        )
        .map(|o| o.stdout_str().trim().parse::<u32>().unwrap_or(0))
        .unwrap_or(0)
    };
    crash(&node);
    // the monitor notices the crash first (a fail count), then Pacemaker restarts it
    lab.wait_view("the crash seen by the monitor", T, |_| fail_count() > 0)
        .unwrap();
    // In place: the history of that node has the failed monitor, then a later start.
    let restarted_after_failure = || {
        let ops = history::operations(&lab, &node);
        let failed = history::last_failure(&ops, &i1.server_id(), &node).map(|o| o.call_id);
        let started = history::last_start(&ops, &i1.server_id(), &node).map(|o| o.call_id);
        matches!((failed, started), (Some(f), Some(s)) if s > f)
    };
    wait_single(&lab, "inst1 restarted in place", &all, |v| {
        runs_on(v, i1, &node)
            && v.resource(&i1.server_id()).is_some_and(|r| !r.failed)
            && restarted_after_failure()
            && answers_imap(&lab, "n3", i1)
    });
    let fail = run_ok(
        &lab,
        &node,
        &[
            "crm_failcount",
            "-G",
            "-q",
            "-r",
            &i1.server_id(),
            "-N",
            &node,
        ],
    );
    eprintln!(
        "crash of inst1 -> restarted on {node} in {} (fail count {})",
        ms(t.elapsed()),
        fail.trim()
    );
    assert_ne!(fail.trim(), "0", "the crash was seen");
    let t = Instant::now();
    crash(&node);
    let v = wait_single(&lab, "inst1 moved after the second crash", &all, |v| {
        v.locate(&i1.server_id())
            .first()
            .is_some_and(|n| *n != node)
            && v.resource(&i1.server_id())
                .is_some_and(|r| r.role == "Started")
    });
    eprintln!(
        "second crash -> inst1 moved to {:?} in {}",
        v.locate(&i1.server_id()),
        ms(t.elapsed())
    );
    assert_eq!(
        history::bmc_power_offs_all(&lab),
        fences,
        "crashes fence nobody"
    );
    run_ok(&lab, "n1", &["crm_resource", "--cleanup", "-r", &i1.id]);

    // 5. A clean switchover: no fencing, no double start.
    let from = where_is(&lab, i2).unwrap();
    let to = if from == "n3" { "n1" } else { "n3" };
    let fences = history::bmc_power_offs_all(&lab);
    let t = Instant::now();
    run_ok(
        &lab,
        "n1",
        &["crm_resource", "--move", "-r", &i2.id, "-N", to],
    );
    wait_single(&lab, "inst2 switched over", &all, |v| runs_on(v, i2, to));
    lab.wait_view("inst2 answering", T, |_| answers_imap(&lab, &from, i2))
        .unwrap();
    eprintln!(
        "switchover inst2 {from} -> {to}: answering in {}",
        ms(t.elapsed())
    );
    assert_eq!(
        history::bmc_power_offs_all(&lab),
        fences,
        "a switchover fences nobody"
    );
    run_ok(&lab, "n1", &["crm_resource", "--clear", "-r", &i2.id]);

    let fp = Footprint::of(&lab);
    let disks = lab.disks();
    assert_eq!(disks.len(), 2);
    lab.down().unwrap();
    fp.assert_gone();
    for d in disks {
        let dev = d.device.file_name().unwrap().to_str().unwrap().to_string();
        let backing = std::fs::read_to_string(format!("/sys/block/{dev}/loop/backing_file"))
            .unwrap_or_default();
        assert_ne!(
            backing.trim(),
            d.image.display().to_string(),
            "{dev} still attached"
        );
    }
}

/// Two-node active/passive: power loss of the active node -> the passive fences it and takes
/// over; a partition -> the node with the fence delay wins the race, every time.
#[test]
fn two_node_active_passive() {
    axha_e2e::need_root!();
    let mut s = spec("ap", 2);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    s.fence_delay = Some(("n1".into(), 5));
    let lab = Lab::up(s).expect("lab up");
    let inst = setup_instances(&lab, &["n1"]);
    fence::fence_action_off(&lab, "n1");
    let i1 = &inst[0];
    let all = [i1];
    wait_single(&lab, "inst1 on n1", &all, |v| runs_on(v, i1, "n1"));
    lab.wait_view("inst1 answering", T, |_| answers_imap(&lab, "n2", i1))
        .unwrap();

    // Power loss of the active node.
    let t = Instant::now();
    lab.kill("n1").unwrap();
    wait_single(&lab, "n1 fenced, inst1 on n2", &all, |v| {
        !v.fenced("n1").is_empty() && runs_on(v, i1, "n2")
    });
    lab.wait_view("inst1 answering", T, |_| {
        lab.greeting("n2", i1.ip, IMAP_PORT).is_some()
    })
    .unwrap();
    eprintln!(
        "2 nodes: power loss of active n1 -> fenced, inst1 answering on n2 in {}",
        ms(t.elapsed())
    );
    fence::power_on(&lab, "n2", "n1");
    lab.wait_all_online(T).expect("n1 back");

    // Partition: n1 (delay) wins; n2, now active, is fenced; inst1 comes to n1.
    let n1_offs = history::bmc_power_offs(&lab, "n1");
    let t = Instant::now();
    lab.partition("n2").unwrap();
    let v = wait_single(&lab, "n2 fenced, inst1 on n1", &all, |v| {
        !v.fenced("n2").is_empty() && runs_on(v, i1, "n1")
    });
    assert!(v
        .fenced("n2")
        .iter()
        .all(|f| f.delegate.as_deref() != Some("n2")));
    assert_eq!(
        history::bmc_power_offs(&lab, "n1"),
        n1_offs,
        "n1's BMC was not switched off again: n1 won the race"
    );
    eprintln!(
        "2 nodes: partition -> n2 fenced (n1 has the delay), inst1 on n1 in {}",
        ms(t.elapsed())
    );
    lab.heal("n2").unwrap();
    fence::power_on(&lab, "n1", "n2");
    lab.wait_all_online(T).expect("n2 back");
}
