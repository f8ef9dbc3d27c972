//! Pacemaker's own fencer drives fence_axigen_ipmi: a real single-node cluster (axha-lab)
//! with a fence_axigen_ipmi device whose pcmk_host_list names a second, simulated node n2,
//! whose BMC is a real ipmi_sim serving inside n1's network namespace.

use std::time::Duration;

use axha_e2e::bmc::{self, ADMIN};
use axha_e2e::lab::{binaries_dir, spec};
use axha_lab::Lab;

#[test]
fn stonith_admin_reboot_and_fence_power_the_bmc() {
    axha_e2e::need_root!();
    let mut s = spec("fp", 1);
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    let node_ip = lab.node_addr("n1");
    let ns = lab.netns_name("n1");
    // n2's BMC, reachable from n1's fencer (127.0.0.1 there is n1's own loopback).
    let b = bmc::start_bmc_with(|spec| {
        let mut spec = spec.netns(ns.clone());
        spec.addr = std::net::IpAddr::V4(node_ip);
        spec
    });
    let pwdir = tempfile::tempdir().unwrap();
    let pw = pwdir.path().join("bmc-n2.pw");
    std::fs::write(&pw, format!("{}\n", ADMIN.1)).unwrap();

    let d = Duration::from_secs(30);
    let device = format!(
        r#"<primitive id="fence-n2" class="stonith" type="fence_axigen_ipmi">
  <instance_attributes id="fence-n2-ia">
    <nvpair id="fence-n2-ip" name="ip" value="{node_ip}"/>
    <nvpair id="fence-n2-port" name="ipport" value="{port}"/>
    <nvpair id="fence-n2-user" name="username" value="{user}"/>
    <nvpair id="fence-n2-pwf" name="password_file" value="{pwf}"/>
    <nvpair id="fence-n2-bind" name="bound_node" value="n2"/>
    <nvpair id="fence-n2-hosts" name="pcmk_host_list" value="n2"/>
  </instance_attributes>
  <operations><op id="fence-n2-mon" name="monitor" interval="60s"/></operations>
</primitive>"#,
        port = b.addr().port(),
        user = ADMIN.0,
        pwf = pw.display(),
    );
    lab.run_ok(
        "n1",
        &["cibadmin", "--create", "-o", "resources", "-X", &device],
        d,
    )
    .expect("device added to the CIB");
    // The fencer registers the device from the CIB; wait until it lists it for n2.
    axha_e2e::wait_for("the fencer to register fence-n2", d, || {
        lab.run("n1", &["stonith_admin", "--list", "n2"], d)
            .map(|o| o.stdout_str().contains("fence-n2"))
            .unwrap_or(false)
    });

    let before = b.chassis_log().unwrap().len();
    let out = lab
        .run(
            "n1",
            &["stonith_admin", "--reboot", "n2", "--timeout", "60"],
            Duration::from_secs(90),
        )
        .unwrap();
    assert_eq!(
        out.code(),
        Some(0),
        "{}{}",
        out.stdout_str(),
        out.stderr_str()
    );
    let log = b.chassis_log().unwrap()[before..].to_string();
    let off = log.find("set power 0").expect("reboot switched n2 off");
    let on = log.find("set power 1").expect("reboot switched n2 on");
    assert!(off < on, "{log}");
    assert!(b.power().unwrap(), "n2 is on again after a reboot");

    let out = lab
        .run(
            "n1",
            &["stonith_admin", "--fence", "n2", "--timeout", "60"],
            Duration::from_secs(90),
        )
        .unwrap();
    assert_eq!(
        out.code(),
        Some(0),
        "{}{}",
        out.stdout_str(),
        out.stderr_str()
    );
    assert!(!b.power().unwrap(), "n2 is off after --fence");

    // The fencer's history (read as XML, through crm_mon) records both operations as done.
    let v = lab.view("n1").expect("crm_mon");
    let done: Vec<&str> = v.fenced("n2").iter().map(|e| e.action.as_str()).collect();
    assert!(
        done.contains(&"reboot") && done.contains(&"off"),
        "{:?}",
        v.fencing
    );
    b.bmc.stop().ok();
    lab.down().expect("lab down");
}
