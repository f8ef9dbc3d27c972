//! Two fencing levels on real Corosync, Pacemaker, ipmi_sim and net-snmp: level 1 each
//! node's BMC (fence_axigen_ipmi), level 2 its outlet on a switched PDU (net-snmp's snmpd
//! with the lab's outlet table, driven by the stock fence_apc_snmp). The service instance's
//! server is `axigen-sim`, the Axigen stand-in (Axigen itself cannot be installed here).
//!
//! What happened is read from the daemons' own records: the fencer's lines in every node's
//! pacemaker.log (which device each level used and what it returned), crm_mon's fencing
//! history, the BMC's chassis log and the PDU's outlet events.

use std::time::{Duration, Instant};

use axha_e2e::history::bmc_power_offs;
use axha_e2e::lab::{binaries_dir, spec, Footprint};
use axha_lab::scenario::n_plus_1;
use axha_lab::service::IMAP_PORT;
use axha_lab::{Fencing, Lab};

const T: Duration = Duration::from_secs(120);

fn pdu_lab(tag: &str) -> Lab {
    let mut s = spec(tag, 3);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    s.pdu = true;
    Lab::up(s).expect("lab up with BMCs and a PDU")
}

/// Outlet events of one outlet, as (on/off) in order.
fn outlet_events(lab: &Lab, outlet: usize) -> Vec<String> {
    lab.pdu_events()
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() == 3 && w[1] == outlet.to_string()).then(|| w[2].to_string())
        })
        .collect()
}

/// A node and its BMC lose power together (the outlet still on): level 1 (IPMI) fails
/// within its login timeout, level 2 (the PDU outlet) confirms, and the instance that ran
/// there recovers on a stand-by. A plain power loss (BMC alive) before it is fenced at
/// level 1 alone: the two fencing operations' durations, from Pacemaker's own log lines,
/// are the cost of the second level.
#[test]
fn total_power_loss_is_fenced_by_the_pdu_level() {
    axha_e2e::need_root!();
    let lab = pdu_lab("p");
    assert_eq!(lab.fence_agent(), "fence_axigen_ipmi");

    // Both levels of every node, as Pacemaker holds them.
    let topo = lab
        .run_ok(
            "n1",
            &["cibadmin", "-Q", "-o", "fencing-topology"],
            Duration::from_secs(30),
        )
        .unwrap()
        .stdout_str();
    for n in lab.nodes() {
        assert!(
            topo.contains(&format!(r#"target="{n}" index="1" devices="fence-{n}""#))
                && topo.contains(&format!(
                    r#"target="{n}" index="2" devices="fence-pdu-{n}""#
                )),
            "{topo}"
        );
        assert!(lab.outlet_on(&n).unwrap());
    }

    let inst = n_plus_1(&lab, &["n1"], &axha_e2e::bin("axigen-sim")).expect("instance");
    let server = inst[0].server_id();
    axha_e2e::lab::wait_started_on(&lab, &server, "n1");

    // Baseline: n3 (a stand-by, nothing on it) loses power, its BMC alive: level 1 fences.
    let before_ipmi = bmc_power_offs(&lab, "n3");
    lab.kill("n3").unwrap();
    lab.wait_view("n3 fenced", T, |v| !v.fenced("n3").is_empty())
        .expect("n3 fenced");
    let ipmi = lab
        .fence_timeline("n3", 0.0)
        .expect("n3's fencing in the logs");
    assert_eq!(
        ipmi.devices
            .iter()
            .map(|(d, rc, _)| (d.as_str(), *rc))
            .collect::<Vec<_>>(),
        vec![("fence-n3", 0)],
        "{ipmi:?}"
    );
    assert!(bmc_power_offs(&lab, "n3") > before_ipmi);
    assert!(outlet_events(&lab, 3).iter().all(|e| e == "on"));
    lab.wait_all_online(T).expect("n3 rebooted by its BMC");

    // Total power loss of n1, where inst1 runs.
    let before = bmc_power_offs(&lab, "n1");
    let t = Instant::now();
    lab.lose_power("n1").unwrap();
    let v = lab
        .wait_view("n1 fenced and inst1 running elsewhere", T, |v| {
            let on = v.locate(&server);
            assert!(on.len() <= 1, "inst1 active on {on:?} at once");
            !v.fenced("n1").is_empty() && on.len() == 1 && on[0] != "n1"
        })
        .expect("n1 fenced through the PDU, inst1 recovered");
    let new_node = v.locate(&server)[0].clone();
    let observer = if new_node == "n2" { "n3" } else { "n2" };
    axha_e2e::wait_for("inst1 to answer IMAP", T, || {
        lab.greeting(observer, inst[0].ip, IMAP_PORT)
            .is_some_and(|g| g.starts_with("* OK"))
    });
    eprintln!(
        "total power loss of n1: inst1 answers IMAP on {new_node} after {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let pdu = lab
        .fence_timeline("n1", 0.0)
        .expect("n1's fencing in the logs");
    let levels: Vec<(&str, i32)> = pdu
        .devices
        .iter()
        .map(|(d, rc, _)| (d.as_str(), *rc))
        .collect();
    assert_eq!(
        levels,
        vec![("fence-n1", 1), ("fence-pdu-n1", 0)],
        "level 1 fails, level 2 confirms: {pdu:?}"
    );
    assert_eq!(pdu.finished.as_ref().map(|f| f.1.as_str()), Some("OK"));
    // Level 1 never reached the BMC; the outlet was switched off (then on: a reboot).
    assert_eq!(
        bmc_power_offs(&lab, "n1"),
        before,
        "{}",
        lab.bmc_chassis_log("n1")
    );
    assert_eq!(outlet_events(&lab, 1), vec!["on", "off", "on"]);
    let (d_ipmi, d_pdu) = (ipmi.duration().unwrap(), pdu.duration().unwrap());
    eprintln!(
        "fencing, request to done (pacemaker.log): IPMI level alone {d_ipmi:.2}s; IPMI failed \
         then PDU {d_pdu:.2}s (level 1 failed after {:.2}s, level 2 took {:.2}s); extra {:.2}s",
        pdu.devices[0].2 - pdu.requested,
        pdu.devices[1].2 - pdu.devices[0].2,
        d_pdu - d_ipmi
    );

    // The outlet's on brought node and BMC back.
    lab.wait_all_online(T)
        .expect("n1 back after the outlet cycle");
    assert!(lab.outlet_on("n1").unwrap());
    let fp = Footprint::of(&lab);
    assert!(
        fp.processes
            .iter()
            .any(|p| p.exe.as_ref().is_some_and(|e| e.ends_with("snmpd"))),
        "snmpd is part of the lab's footprint"
    );
    lab.down().unwrap();
    fp.assert_gone();
}

/// The multi-tier template rendered with a PDU outlet per node (`[nodes.pdu]`, from the
/// lab's values) and loaded with crmsh into the running cluster: its fencing topology and
/// fence_apc_snmp devices replace the lab's, and a total power loss is fenced through them
/// (level 1 the template's fence_axigen_ipmi device fails, level 2 its PDU device confirms).
/// The instance groups are loaded stopped: only the fencing of the template runs here.
#[test]
fn rendered_template_pdu_level_fences_a_total_power_loss() {
    axha_e2e::need_root!();
    let lab = pdu_lab("pt");
    let dir = lab.state_dir().join("cib-test");
    std::fs::create_dir_all(&dir).unwrap();
    let mut values = String::from("standby_nodes = [\"n3\"]\n");
    values += &axha_lab::scenario::values_toml(&lab, &[]);
    assert!(values.contains("pdu = { ip = \"10.231.1.250\""), "{values}");
    for (i, n) in ["n1", "n2"].iter().enumerate() {
        values += &format!(
            "[[instances]]\nid = \"mail{k}\"\nworkdir = \"/var/tmp/axha-pdu-mail{k}\"\nip = \"10.231.0.{ip}\"\ncidr = 24\ndevice = \"/dev/axha-pdu-mail{k}\"\nmountpoint = \"/var/tmp/axha-pdu-mail{k}\"\nfstype = \"ext4\"\npreferred_node = \"{n}\"\n",
            k = i + 1,
            ip = 100 + i
        );
    }
    let vfile = dir.join("values.toml");
    std::fs::write(&vfile, &values).unwrap();
    let crm = axha_e2e::Cmd::new(axha_e2e::bin("axigen-ha"))
        .args(["cib", "render", "multi-tier-n-plus-1", "--format", "crm"])
        .arg("--values")
        .arg(&vfile)
        .run_ok(&axha_e2e::Deadline::after(T))
        .expect("render")
        .stdout_str();
    assert!(crm.contains("fencing_topology"), "{crm}");
    axha_e2e::lab::load_crm_groups_stopped(&lab, &dir, &crm);
    let cib = lab
        .run_ok("n1", &["cibadmin", "--query"], T)
        .unwrap()
        .stdout_str();
    // the template's devices (password_file, retries) and topology are what runs now
    assert!(
        cib.contains(r#"name="pcmk_reboot_retries" value="1""#),
        "{cib}"
    );
    assert!(cib.contains(r#"index="2" devices="fence-pdu-n2""#), "{cib}");
    lab.wait_view("the template's fence devices started", T, |v| {
        lab.nodes().iter().all(|n| {
            [format!("fence-{n}"), format!("fence-pdu-{n}")]
                .iter()
                .all(|d| v.resource(d).is_some_and(|r| r.is_started()))
        })
    })
    .expect("fence devices started");

    // doctor --values on a node: every level of every node reachable (the BMC accepts the
    // login, the PDU answers for the outlet).
    let doctor = lab
        .run(
            "n1",
            &[
                axha_e2e::bin("axigen-ha").to_str().unwrap(),
                "doctor",
                "--values",
                vfile.to_str().unwrap(),
            ],
            T,
        )
        .expect("doctor runs")
        .stdout_str();
    for (i, n) in lab.nodes().iter().enumerate() {
        let line = |prefix: &str| {
            doctor
                .lines()
                .find(|l| {
                    l.split_whitespace().nth(1) == Some(prefix) && l.contains(&format!(" {n} "))
                })
                .unwrap_or_else(|| panic!("no {prefix} line for {n}: {doctor}"))
                .to_string()
        };
        let bmc = line("bmc");
        assert!(
            bmc.starts_with("ok") && bmc.contains("login accepted"),
            "{bmc}"
        );
        let pdu = line("pdu");
        assert!(
            pdu.starts_with("ok")
                && pdu.contains(&format!("outlet {}: reachable, outlet on", i + 1)),
            "{pdu}"
        );
    }

    lab.lose_power("n2").unwrap();
    lab.wait_view("n2 fenced", T, |v| !v.fenced("n2").is_empty())
        .expect("n2 fenced through the template's PDU level");
    let t = lab
        .fence_timeline("n2", 0.0)
        .expect("n2's fencing in the logs");
    let levels: Vec<(&str, i32)> = t
        .devices
        .iter()
        .map(|(d, rc, _)| (d.as_str(), *rc))
        .collect();
    assert_eq!(levels, vec![("fence-n2", 1), ("fence-pdu-n2", 0)], "{t:?}");
    assert_eq!(outlet_events(&lab, 2), vec!["on", "off", "on"]);
    lab.wait_all_online(T)
        .expect("n2 back after the outlet cycle");
    lab.down().unwrap();
}
