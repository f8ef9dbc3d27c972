//! The rendered multi-tier template loaded into a real three-node Pacemaker cluster (the lab,
//! with ipmi_sim BMCs and our agents installed in every node): crmsh accepts the crm script
//! against the real agents' meta-data (no force), the template's own fence devices start and
//! monitor the BMCs with the password read from its file, and a node that loses power is
//! fenced through them. The instance groups are loaded stopped: no Axigen runs here (the
//! failover suites run the instances on axigen-sim).

use std::time::Duration;

use axha_e2e::bin;
use axha_e2e::lab::{binaries_dir, spec};
use axha_lab::scenario::values_toml;
use axha_lab::{Fencing, Lab};

const T: Duration = Duration::from_secs(120);

fn values(lab: &Lab) -> String {
    let mut s = String::from("standby_nodes = [\"n3\"]\n");
    s += &values_toml(lab, &[]);
    for (i, n) in lab.nodes().iter().enumerate() {
        if i < 2 {
            let id = format!("mail{}", i + 1);
            s += &format!(
                "[[instances]]\nid = \"{id}\"\nworkdir = \"/var/tmp/axha-cib-lab-{id}\"\nip = \"10.231.0.{}\"\ncidr = 24\ndevice = \"/dev/axha-cib-lab-{id}\"\nmountpoint = \"/var/tmp/axha-cib-lab-{id}\"\nfstype = \"ext4\"\npreferred_node = \"{n}\"\n",
                100 + i
            );
        }
    }
    s
}

#[test]
fn rendered_template_runs_and_fences_in_a_real_cluster() {
    axha_e2e::need_root!();
    let mut s = spec("ct", 3);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    if lab.fence_agent() != "fence_axigen_ipmi" {
        eprintln!("SKIP: the built fence_axigen_ipmi is not a working fence agent here");
        return;
    }
    let dir = lab.state_dir().join("cib-test");
    std::fs::create_dir_all(&dir).expect("dir");
    let vfile = dir.join("values.toml");
    std::fs::write(&vfile, values(&lab)).expect("values");
    let crm = axha_e2e::Cmd::new(bin("axigen-ha"))
        .args([
            "cib",
            "render",
            "multi-tier-n-plus-1",
            "--format",
            "crm",
            "--values",
        ])
        .arg(&vfile)
        .run_ok(&axha_e2e::Deadline::after(T))
        .expect("render")
        .stdout_str();
    // Instance groups stopped: only the fencing of the template runs here. The lab's fence
    // devices have the same ids (fence-nX): `load update` replaces them with the template's
    // (password_file, bound_node).
    axha_e2e::lab::load_crm_groups_stopped(&lab, &dir, &crm);
    let cib = lab
        .run_ok("n1", &["cibadmin", "--query", "--scope", "resources"], T)
        .expect("cibadmin")
        .stdout_str();
    assert!(cib.contains("name=\"password_file\""), "{cib}");
    assert!(
        !cib.contains("name=\"password\""),
        "the lab's inline password is gone: {cib}"
    );

    let v = lab
        .wait_view(
            "the template's fence devices started",
            Duration::from_secs(90),
            |v| {
                (1..=3).all(|i| {
                    v.resource(&format!("fence-n{i}"))
                        .is_some_and(|r| r.is_started())
                })
            },
        )
        .expect("fence devices started");
    for i in 1..=3 {
        let at = v.locate(&format!("fence-n{i}"));
        assert!(
            !at.contains(&format!("n{i}")),
            "fence-n{i} runs on its own target: {at:?}"
        );
    }
    assert!(v.locate("mail1").is_empty() && v.locate("mail2").is_empty());

    // Power loss of n2: fenced through the template's fence-n2 over IPMI.
    lab.kill("n2").expect("kill n2");
    let v = lab
        .wait_view("n2 fenced", Duration::from_secs(90), |v| {
            !v.fenced("n2").is_empty()
        })
        .expect("n2 fenced");
    let e = &v.fenced("n2")[0];
    assert_eq!(e.status, "success", "{e:?}");
    assert!(
        lab.bmc_chassis_log("n2")
            .lines()
            .any(|l| l.ends_with("set power 0")),
        "{}",
        lab.bmc_chassis_log("n2")
    );
    lab.down().expect("lab down");
}
