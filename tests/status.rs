//! `axigen-ha status` and `axigen-ha doctor` inside a real two-node Pacemaker 2.1.5 cluster
//! (the lab: namespaces, corosync, pacemakerd, ipmi_sim BMCs, our agents overlaid in every
//! node). No Axigen runs here: the instance resource points at a binary that does not exist,
//! so its start fails for real and the failure shows in the status.

use std::time::Duration;

use axha_e2e::bin;
use axha_e2e::lab::{binaries_dir, spec};
use axha_lab::scenario::values_toml;
use axha_lab::{Fencing, Lab};

const T: Duration = Duration::from_secs(120);

fn json(lab: &Lab, node: &str, args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let b = bin("axigen-ha");
    let mut argv = vec![b.to_str().expect("utf-8 path")];
    argv.extend_from_slice(args);
    let out = lab.run(node, &argv, T).expect("axigen-ha runs in the node");
    let v = serde_json::from_str(&out.stdout_str())
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}{}", out.stdout_str(), out.stderr_str()));
    (out.code(), v, out.stderr_str())
}

fn level<'a>(doctor: &'a serde_json::Value, name: &str) -> (&'a str, &'a str) {
    let c = doctor["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {doctor}"));
    (
        c["level"].as_str().expect("level"),
        c["reason"].as_str().expect("reason"),
    )
}

#[test]
fn status_and_doctor_on_a_real_cluster() {
    axha_e2e::need_root!();
    let mut s = spec("st", 2);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");

    // Doctor on n1: the overlaid agents, both BMCs over the management network, n1's names.
    let (code, doc, stderr) = json(&lab, "n1", &["doctor", "--output", "json"]);
    eprintln!("doctor: {doc}");
    assert_eq!(level(&doc, "agent ocf:axigen:instance").0, "ok", "{doc}");
    assert_eq!(level(&doc, "agent ocf:axigen:drbd").0, "ok", "{doc}");
    assert_eq!(
        level(&doc, "agent stonith:fence_axigen_ipmi").0,
        "ok",
        "{doc}"
    );
    let names = level(&doc, "node names");
    assert_eq!(
        names,
        ("ok", "\"n1\" for corosync, Pacemaker and the host"),
        "{doc}"
    );
    assert_eq!(level(&doc, "version pacemaker").1, "2.1.5");
    assert_eq!(level(&doc, "version corosync").0, "ok");
    if lab.fence_agent() == "fence_axigen_ipmi" {
        assert_eq!(level(&doc, "bmc fence-n1").0, "ok", "{doc}");
        assert_eq!(level(&doc, "bmc fence-n2").0, "ok", "{doc}");
        assert_eq!(code, Some(0), "{stderr}");
        // DRBD's tools are optional on a lab node (the lab has no DRBD): they may only warn.
        let not_ok: Vec<&str> = doc["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| c["level"] != "ok")
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert!(not_ok.iter().all(|n| n.contains("drbd")), "{doc}");
        let expected = if not_ok.is_empty() { "ok" } else { "warn" };
        assert_eq!(doc["result"], expected, "{doc}");
    } else {
        assert_eq!(level(&doc, "bmc").0, "warn", "{doc}");
    }

    // Doctor with a wrong BMC password: the BMC check fails and so does the command.
    let bad = lab.node_dir("n1").join("bad-bmc-password");
    std::fs::write(&bad, "Xq7-not-it\n").expect("write");
    let bmc = lab.bmc_addr("n2").to_string();
    let (code, doc, _) = json(
        &lab,
        "n1",
        &[
            "doctor",
            "--output",
            "json",
            "--bmc",
            &bmc,
            "--bmc-user",
            "admin",
            "--bmc-password-file",
            bad.to_str().unwrap(),
        ],
    );
    let (lvl, reason) = level(&doc, &format!("bmc {bmc}"));
    assert_eq!(lvl, "fail", "{doc}");
    assert!(
        !reason.contains("Xq7-not-it"),
        "the password leaked into the report: {reason}"
    );
    assert_eq!(code, Some(1));
    assert_eq!(doc["result"], "fail");

    // Pre-flight from a values file: every node's BMC with the password file it names.
    let mut values = values_toml(&lab, &[]);
    values += "[[instances]]\nid = \"mail1\"\nworkdir = \"/var/opt/mail1\"\nip = \"10.231.0.100\"\ncidr = 24\ndevice = \"/dev/mail1\"\nmountpoint = \"/var/opt/mail1\"\nfstype = \"ext4\"\npreferred_node = \"n1\"\n";
    let vfile = lab.node_dir("n1").join("values.toml");
    std::fs::write(&vfile, values).expect("values");
    if lab.fence_agent() == "fence_axigen_ipmi" {
        let (code, doc, stderr) = json(
            &lab,
            "n1",
            &[
                "doctor",
                "--output",
                "json",
                "--values",
                vfile.to_str().unwrap(),
            ],
        );
        assert_eq!(level(&doc, "bmc n1").0, "ok", "{doc}");
        assert_eq!(level(&doc, "bmc n2").0, "ok", "{doc}");
        assert_eq!(code, Some(0), "{stderr}");
    }

    // An instance whose binary is missing: its start fails for real.
    let rsc = r#"<primitive id="mail1" class="ocf" provider="axigen" type="instance">
      <instance_attributes id="mail1-ia">
        <nvpair id="mail1-ia-workdir" name="workdir" value="/var/tmp/axha-status-test-mail1"/>
        <nvpair id="mail1-ia-binary" name="binary" value="/nonexistent/axigen"/>
      </instance_attributes>
      <operations><op id="mail1-monitor-10s" name="monitor" interval="10s" timeout="30s"/></operations>
    </primitive>"#;
    lab.run_ok(
        "n1",
        &["cibadmin", "--create", "-o", "resources", "--xml-text", rsc],
        T,
    )
    .expect("instance resource created");
    let mut status = serde_json::Value::Null;
    axha_e2e::wait_for(
        "the failed start in the status",
        Duration::from_secs(90),
        || {
            let (code, st, stderr) = json(&lab, "n1", &["status", "--output", "json"]);
            assert_eq!(code, Some(0), "{stderr}");
            let inst = &st["instances"][0];
            let failed =
                inst["id"] == "mail1" && inst["failures"].as_array().is_some_and(|f| !f.is_empty());
            status = st;
            failed
        },
    );
    eprintln!("status with a failed instance: {status}");
    let f = &status["instances"][0]["failures"][0];
    assert!(f["op_key"].as_str().unwrap().starts_with("mail1_"), "{f}");
    assert_ne!(f["exitcode"], 0, "{f}");

    // Power loss of n2: n1 fences it, and the status says so. The fence action is "off" so
    // that n2 stays down: with a reboot it may be back online before the status is read.
    lab.run_ok(
        "n1",
        &[
            "crm_attribute",
            "--name",
            "stonith-action",
            "--update",
            "off",
        ],
        T,
    )
    .expect("stonith-action set");
    lab.kill("n2").expect("kill n2");
    lab.wait_view("n2 fenced", Duration::from_secs(90), |v| {
        !v.fenced("n2").is_empty()
    })
    .expect("n2 fenced");
    let (_, st, _) = json(&lab, "n1", &["status", "--output", "json"]);
    eprintln!("status after fencing n2: {st}");
    let fenced: Vec<_> = st["fencing"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "n2" && e["status"] == "success")
        .collect();
    assert!(!fenced.is_empty(), "{st}");
    assert_eq!(fenced[0]["delegate"], "n1", "{st}");
    let node = |n: &str| {
        st["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n} missing: {st}"))
    };
    assert_eq!(node("n1")["state"], "online");
    assert_ne!(node("n2")["state"], "online");
    assert_eq!(st["dc"], "n1");

    // The table view of the same.
    let b = bin("axigen-ha");
    let out = lab
        .run_ok("n1", &[b.to_str().unwrap(), "status"], T)
        .expect("status");
    let text = out.stdout_str();
    assert!(text.contains("mail1"), "{text}");
    assert!(text.contains("of n2 by n1"), "{text}");
    assert!(text.contains("failure: mail1_"), "{text}");
    lab.down().expect("lab down");
}
