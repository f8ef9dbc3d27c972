//! The CIB templates of both reference architectures, rendered by `axigen-ha cib render` from
//! a values file that describes a lab, loaded into a real multi-node Pacemaker cluster, and
//! failed over: power loss of a node -> fenced over IPMI by the template's fence_axigen_ipmi
//! devices -> its instance answers IMAP on the stand-by / passive node. The server is
//! `axigen-sim`, the Axigen stand-in (Axigen itself cannot be installed here).

use std::time::{Duration, Instant};

use axha_e2e::lab::{binaries_dir, spec};
use axha_e2e::{bin, fence, history, Cmd, Deadline};
use axha_lab::scenario::{power_loss_of, values_toml};
use axha_lab::service::IMAP_PORT;
use axha_lab::{Fencing, Instance, Lab};

const T: Duration = Duration::from_secs(120);

/// Render `template` with `values` (TOML text) and load it as the cluster's configuration.
fn render_and_load(lab: &Lab, template: &str, values: &str) {
    let file = lab.state_dir().join(format!("{template}.values.toml"));
    std::fs::write(&file, values).unwrap();
    let out = Cmd::new(bin("axigen-ha"))
        .args(["cib", "render", template, "--values"])
        .arg(&file)
        .run_ok(&Deadline::after(Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("render {template}: {e}\n{values}"));
    lab.load_configuration(&out.stdout_str())
        .expect("rendered CIB accepted by Pacemaker");
}

fn instances(lab: &Lab, homes: &[&str]) -> Vec<Instance> {
    homes
        .iter()
        .enumerate()
        .map(|(k, h)| {
            lab.add_instance(
                &format!("mail{}", k + 1),
                k + 1,
                Some(h),
                &bin("axigen-sim"),
            )
            .expect("instance storage")
        })
        .collect()
}

fn wait_home(lab: &Lab, inst: &[Instance], from: &str) {
    let t = Instant::now();
    lab.wait_view("instances on their preferred nodes", T, |v| {
        inst.iter().all(|i| {
            let home = i.home.clone().unwrap();
            v.resources.iter().any(|r| {
                r.agent == "ocf:axigen:instance"
                    && r.role == "Started"
                    && r.nodes == [home.clone()]
                    && (r.id == i.id || r.parents.iter().any(|p| p.contains(&i.id)))
            }) && lab
                .greeting(from, i.ip, IMAP_PORT)
                .is_some_and(|g| g.starts_with("* OK"))
        })
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{}",
            lab.run("n1", &["crm_mon", "-1", "-r"], Duration::from_secs(10))
                .map(|o| o.stdout_str())
                .unwrap_or_default()
        )
    });
    eprintln!(
        "template loaded, instances answering in {:.1}s",
        t.elapsed().as_secs_f64()
    );
}

/// The id of the instance's server primitive in a rendered template: the group member whose
/// agent is ocf:axigen:instance.
/// Every member of the group `rsc` belongs to (`rsc` itself included).
fn group_members(lab: &Lab, rsc: &str) -> Vec<String> {
    let v = lab.view_any().unwrap();
    let parents = &v
        .resources
        .iter()
        .find(|r| r.id == rsc)
        .unwrap_or_else(|| panic!("no resource {rsc}: {:?}", v.resources))
        .parents;
    let members: Vec<String> = v
        .resources
        .iter()
        .filter(|r| !parents.is_empty() && r.parents == *parents)
        .map(|r| r.id.clone())
        .collect();
    assert!(members.len() >= 3, "{rsc}'s group: {members:?}");
    members
}

fn server_of(lab: &Lab, i: &Instance) -> String {
    let v = lab.view_any().unwrap();
    v.resources
        .iter()
        .find(|r| {
            r.agent == "ocf:axigen:instance"
                && (r.id == i.id || r.parents.iter().any(|p| p.contains(&i.id)))
        })
        .unwrap_or_else(|| panic!("no ocf:axigen:instance for {}: {:?}", i.id, v.resources))
        .id
        .clone()
}

#[test]
fn multi_tier_template_power_loss() {
    axha_e2e::need_root!();
    let mut s = spec("tm", 3);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    let inst = instances(&lab, &["n1", "n2"]);
    let values = format!(
        "standby_nodes = [\"n3\"]\nstandby_capacity = 2\n\n[cluster]\nname = \"lab\"\n\n{}",
        values_toml(&lab, &inst)
    );
    render_and_load(&lab, "multi-tier-n-plus-1", &values);
    fence::fence_action_off(&lab, "n3");
    wait_home(&lab, &inst, "n3");
    let v = lab.view_any().unwrap();
    assert!(
        v.resources
            .iter()
            .any(|r| r.agent == "stonith:fence_axigen_ipmi" && r.role == "Started"),
        "the template's fence devices run: {:?}",
        v.resources
    );

    let server = server_of(&lab, &inst[0]);
    match power_loss_of(&lab, &server, inst[0].ip, T) {
        Ok(f) => {
            for m in &f.moments {
                eprintln!("  [{:>6.2}s] {}", m.at.as_secs_f64(), m.what);
            }
            assert_eq!(f.victim, "n1");
            assert_eq!(f.new_node, "n3", "the stand-by takes the instance");
            assert!(f.fenced.is_some(), "n1 fenced");
        }
        Err(e) => panic!("failover: {e}"),
    }
    assert!(lab
        .bmc_chassis_log("n1")
        .lines()
        .any(|l| l.ends_with("set power 0")));
    lab.down().unwrap();
}

#[test]
fn two_node_template_shared_storage_power_loss() {
    axha_e2e::need_root!();
    let mut s = spec("tp", 2);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    let inst = instances(&lab, &["n1"]);
    let values = format!(
        "storage = \"shared\"\n\n[fencing]\ndelay_node = \"n1\"\ndelay_seconds = 5\n\n[cluster]\nname = \"lab\"\n\n{}",
        values_toml(&lab, &inst)
    );
    render_and_load(&lab, "two-node-active-passive", &values);
    fence::fence_action_off(&lab, "n2");
    wait_home(&lab, &inst, "n2");
    let server = server_of(&lab, &inst[0]);
    let f = power_loss_of(&lab, &server, inst[0].ip, T).expect("failover");
    for m in &f.moments {
        eprintln!("  [{:>6.2}s] {}", m.at.as_secs_f64(), m.what);
    }
    assert_eq!((f.victim.as_str(), f.new_node.as_str()), ("n1", "n2"));
    assert!(f.fenced.is_some());
    lab.down().unwrap();
}

/// Multi-tier with three back-ends and one stand-by of capacity two: the stand-by fills up
/// with two failed instances and takes no third.
#[test]
fn multi_tier_template_standby_takes_no_third() {
    axha_e2e::need_root!();
    let mut s = spec("t3", 4);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    let inst = instances(&lab, &["n1", "n2", "n3"]);
    let values = format!(
        "standby_nodes = [\"n4\"]\nstandby_capacity = 2\n\n[cluster]\nname = \"lab\"\n\n{}",
        values_toml(&lab, &inst)
    );
    render_and_load(&lab, "multi-tier-n-plus-1", &values);
    fence::fence_action_off(&lab, "n4");
    wait_home(&lab, &inst, "n4");
    let servers: Vec<String> = inst.iter().map(|i| server_of(&lab, i)).collect();
    let on = |v: &axha_lab::ClusterView, k: usize| v.locate(&servers[k]);

    // n1 and then n2 lose power: their instances fill the stand-by.
    for (k, node) in ["n1", "n2"].into_iter().enumerate() {
        let f = power_loss_of(&lab, &servers[k], inst[k].ip, T).expect("failover");
        assert_eq!((f.victim.as_str(), f.new_node.as_str()), (node, "n4"));
        eprintln!(
            "{node} lost -> {} answering on n4 in {:.1}s",
            servers[k],
            f.answering.as_secs_f64()
        );
        fence::power_on(&lab, "n4", node);
        lab.wait_all_online(T)
            .expect("the fenced node powered on and rejoined");
        history::settle(&lab, "n4", T);
    }
    let v = lab.view_any().unwrap();
    assert_eq!(on(&v, 0), ["n4"], "no needless move back");
    assert_eq!(on(&v, 1), ["n4"]);

    // n3 loses power: the full stand-by takes no third instance; mail3 waits for n3.
    // Checked on Pacemaker's own records (fencing history, the BMC's log, the operation
    // history), not on a poll that could miss a short start on the stand-by or the window
    // in which mail3 ran nowhere.
    let before = history::operations(&lab, "n4");
    let starts_on_n4: Vec<_> = servers[..2]
        .iter()
        .map(|s| {
            history::last_start(&before, s, "n4")
                .unwrap_or_else(|| panic!("{s} started on n4: {before:?}"))
                .call_id
        })
        .collect();
    let fences = history::bmc_power_offs(&lab, "n3");
    lab.kill("n3").unwrap();
    // n3 fenced (its BMC switched it off; the fence action is "off": it stays down), and
    // the cluster settled without it: mail3 runs nowhere, the full stand-by did not take it.
    axha_e2e::wait_for("n3 fenced by its BMC", T, || {
        history::bmc_power_offs(&lab, "n3") > fences
    });
    lab.wait_view("n3's fencing in the fencing history", T, |v| {
        !v.fenced("n3").is_empty()
    })
    .expect("n3 fenced");
    history::settle(&lab, "n4", T);
    let v = lab.view_any().unwrap();
    assert!(
        on(&v, 2).is_empty(),
        "mail3 runs nowhere while n3 is down: {:?}",
        v.resources
    );
    fence::power_on(&lab, "n4", "n3");
    lab.wait_view("n3 back, mail3 on n3 again", T, |v| on(v, 2) == ["n3"])
        .expect("mail3 back on n3");
    history::settle(&lab, "n4", T);
    let after = history::operations(&lab, "n4");
    // No member of mail3's group (filesystem, IP, server) ran anywhere but on n3: the
    // stand-by neither mounted mail3's storage nor took its IP.
    for member in group_members(&lab, &servers[2]) {
        for n in ["n1", "n2", "n4"] {
            assert!(
                !history::was_active_on(&after, &member, n),
                "{member} ran on {n} (mail3 was to wait for n3): {:?}",
                history::of(&after, &member, n)
            );
        }
    }
    for (s, call) in servers[..2].iter().zip(&starts_on_n4) {
        assert_eq!(
            history::last_start(&after, s, "n4").map(|o| o.call_id),
            Some(*call),
            "{s} stayed on n4, not stopped or restarted: {:?}",
            history::of(&after, s, "n4")
        );
    }
    let v = lab.view_any().unwrap();
    assert_eq!(on(&v, 0), ["n4"]);
    assert_eq!(on(&v, 1), ["n4"]);
    assert_eq!(on(&v, 2), ["n3"]);
    assert!(!v.fenced("n3").is_empty(), "the fencing history has n3");
    eprintln!("n3 lost -> stand-by full, mail3 waited for n3 and runs there again");
    lab.down().unwrap();
}
