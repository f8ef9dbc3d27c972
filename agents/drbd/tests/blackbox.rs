//! The built agent run as Pacemaker runs it, on a host without DRBD (the real-DRBD paths run in
//! the VM suite, tests/drbd_vm.rs): meta-data, parameter errors, and the answers that must hold
//! where the module is not even loaded.

use std::path::Path;
use std::time::Duration;

use axha_exec::{Cmd, Deadline, Output};

fn agent(action: &str, env: &[(&str, &str)]) -> Output {
    let mut c = Cmd::new(env!("CARGO_BIN_EXE_drbd")).arg(action);
    for (k, v) in env {
        c = c.env(k, v);
    }
    c.run(&Deadline::after(Duration::from_secs(30)))
        .expect("agent runs")
}

fn reason(o: &Output) -> String {
    o.stderr_str()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("ocf-exit-reason:"))
        .unwrap_or("")
        .to_string()
}

/// Stock ocf-tester's check (`xmllint --valid` from resource-agents' directory: the 1.0 DTD
/// plus the DOCTYPE's OCF 1.1 additions) and pcs's OCF 1.1 schema.
#[test]
fn meta_data_is_valid_against_the_ocf_dtd() {
    let o = agent("meta-data", &[]);
    assert_eq!(o.code(), Some(0));
    let xml = o.stdout_str();
    assert!(xml.contains("<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\" ["));
    let dir = Path::new("/usr/share/resource-agents");
    assert!(
        dir.join("ra-api-1.dtd").exists(),
        "resource-agents is required"
    );
    let d = Deadline::after(Duration::from_secs(30));
    let v = Cmd::new("xmllint")
        .args(["--noout", "--valid", "--path"])
        .arg(dir)
        .arg("-")
        .stdin(xml.clone())
        .run(&d)
        .expect("xmllint runs");
    assert_eq!(v.code(), Some(0), "{}", v.stderr_str());
    let pcs = Cmd::new("xmllint")
        .args([
            "--noout",
            "--relaxng",
            "/usr/share/pcs/data/ocf-1.1.rng",
            "-",
        ])
        .stdin(xml)
        .run(&d)
        .expect("xmllint runs");
    assert_eq!(pcs.code(), Some(0), "{}", pcs.stderr_str());
}

#[test]
fn meta_data_declares_reload_agent_and_ocf_1_1() {
    let xml = agent("meta-data", &[]).stdout_str();
    // Pacemaker 2.1 uses reload-agent (and reloadable parameters) only for OCF 1.1 agents;
    // reload stays the service's own reload (drbdadm adjust), for operators.
    assert!(xml.contains("<version>1.1</version>"), "{xml}");
    assert!(
        xml.contains("<action name=\"reload\" timeout=\"30s\" />"),
        "{xml}"
    );
    assert!(
        xml.contains("<action name=\"reload-agent\" timeout=\"30s\" />"),
        "{xml}"
    );
    // drbd_resource is the one unique parameter; it and drbdconf restart, the rest reloads.
    let opt = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&xml, opt).expect("meta-data parses");
    let unique: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("parameter") && n.attribute("unique") == Some("1"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(unique, ["drbd_resource"]);
    let restart_only: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("parameter") && n.attribute("reloadable") != Some("1"))
        .filter_map(|n| n.attribute("name"))
        .collect();
    assert_eq!(restart_only, ["drbd_resource", "drbdconf"]);
    for (name, default) in [
        ("unfence_if_all_uptodate", "true"),
        ("stop_outdates_secondary", "false"),
    ] {
        let p = doc
            .descendants()
            .find(|n| n.has_tag_name("parameter") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("{name} declared"));
        let content = p
            .children()
            .find(|n| n.has_tag_name("content"))
            .expect("content");
        assert_eq!(content.attribute("default"), Some(default), "{name}");
    }
}

/// reload-agent checks the new parameters first: a wrong one is 6, before DRBD is read.
#[test]
fn reload_agent_refuses_a_wrong_ladder() {
    let o = agent(
        "reload-agent",
        &[
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_adjust_promotion_score", "nonsense"),
        ],
    );
    assert_eq!(o.code(), Some(6), "{}", o.stderr_str());
    assert!(
        reason(&o).contains("adjust_promotion_score") || reason(&o).contains("nonsense"),
        "{}",
        o.stderr_str()
    );
}

/// reload-agent with good parameters succeeds even where DRBD's state cannot be read (here:
/// no such resource): the score waits for the next monitor, the volume is not restarted.
#[test]
fn reload_agent_never_fails_on_a_state_read() {
    let o = agent(
        "reload-agent",
        &[
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_adjust_promotion_score", "10 100 1000"),
        ],
    );
    assert_eq!(o.code(), Some(0), "{}", o.stderr_str());
}

#[test]
fn parameter_errors_are_not_configured() {
    let o = agent("validate-all", &[]);
    assert_eq!(o.code(), Some(6));
    assert!(reason(&o).contains("drbd_resource"), "{}", o.stderr_str());
    let o = agent(
        "validate-all",
        &[
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_adjust_promotion_score", "100 10 1"),
        ],
    );
    assert_eq!(o.code(), Some(6));
    assert!(reason(&o).contains("\"100 10 1\""), "{}", o.stderr_str());
    let o = agent(
        "validate-all",
        &[
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_require_drbd_version", "9.2-8.4"),
        ],
    );
    assert_eq!(o.code(), Some(6));
    assert!(reason(&o).contains("9.2-8.4"), "{}", o.stderr_str());
    let o = agent(
        "validate-all",
        &[
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_connect_wait", "soon"),
        ],
    );
    assert_eq!(o.code(), Some(6));
}

#[test]
fn unknown_action_and_no_action() {
    assert_eq!(agent("migrate_to", &[]).code(), Some(3));
    let o = Cmd::new(env!("CARGO_BIN_EXE_drbd"))
        .run(&Deadline::after(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(o.code(), Some(2));
}

#[test]
fn stop_never_fails_on_configuration() {
    // No drbd_resource at all: nothing can have been started.
    assert_eq!(agent("stop", &[]).code(), Some(0));
    // A broken ladder does not matter to stop.
    let o = agent(
        "stop",
        &[
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_adjust_promotion_score", "x"),
            ("OCF_RESKEY_CRM_meta_timeout", "5000"),
        ],
    );
    if !Path::new("/proc/drbd").exists() {
        assert_eq!(o.code(), Some(0), "{}", o.stderr_str());
    }
}

#[test]
fn probe_without_the_module_is_not_running() {
    if Path::new("/proc/drbd").exists() {
        eprintln!(
            "this host has the drbd module loaded: the probe answer depends on its resources"
        );
        return;
    }
    let o = agent(
        "monitor",
        &[
            ("OCF_RESKEY_drbd_resource", "r0"),
            ("OCF_RESKEY_CRM_meta_interval", "0"),
        ],
    );
    assert_eq!(o.code(), Some(7), "{}", o.stderr_str());
}
