//! The fence-peer handler's CIB side against Pacemaker's own tools: `cibadmin` on a CIB file
//! (`CIB_file`), validated against Pacemaker's schema on every write. The DRBD state comes
//! from output recorded on real DRBD 8.4 (crates/drbd/tests/fixtures/84); the whole path with
//! DRBD calling the handler runs in the VM suite.

use std::path::PathBuf;
use std::time::Duration;

use axha_agent_drbd::fence::{
    self, Cib, Lift, NodeLock, Options, QuorumCheck, EXIT_PEER_FENCED, EXIT_PEER_OUTDATED,
    EXIT_PEER_UNREACHABLE,
};
use axha_drbd::{parse_resource, Resource};
use axha_exec::{Cmd, Deadline};

fn recorded(name: &str) -> Resource {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/drbd/tests/fixtures/84")
        .join(name);
    parse_resource(&std::fs::read_to_string(p).expect("fixture"), "r0")
        .unwrap()
        .unwrap()
}

fn cib_xml(have_quorum: &str, peer_state: &str) -> String {
    format!(
        r#"<cib crm_feature_set="3.0.14" validate-with="pacemaker-3.9" epoch="3" num_updates="0" admin_epoch="0" have-quorum="{have_quorum}" dc-uuid="1">
  <configuration>
    <crm_config/>
    <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
    <resources>
      <clone id="mail-drbd">
        <meta_attributes id="mail-drbd-meta"><nvpair id="mail-drbd-meta-p" name="promotable" value="true"/></meta_attributes>
        <primitive id="drbd" class="ocf" provider="axigen" type="drbd">
          <instance_attributes id="drbd-ia"><nvpair id="drbd-ia-r" name="drbd_resource" value="r0"/></instance_attributes>
        </primitive>
      </clone>
    </resources>
    <constraints>
      <rsc_location id="admin-prefers-node1" rsc="mail-drbd" node="node1" score="50"/>
    </constraints>
  </configuration>
  <status>
    <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
    {peer_state}
  </status>
</cib>"#
    )
}

struct TempCib(PathBuf);
impl TempCib {
    fn new(tag: &str, xml: &str) -> TempCib {
        let p = std::env::temp_dir().join(format!("axha-fence-{}-{tag}.xml", std::process::id()));
        std::fs::write(&p, xml).expect("write cib");
        TempCib(p)
    }
    fn text(&self) -> String {
        std::fs::read_to_string(&self.0).expect("read cib")
    }
}
impl Drop for TempCib {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Settings for a CIB file: no cluster behind it, so `crm_node --quorum` has nothing to ask
/// (the live suite, tests/drbd_fence_live.rs, runs both checks).
fn opts(cib: &TempCib, unfence: bool) -> Options {
    Options {
        unfence,
        timeout: Duration::from_secs(8),
        node_name: Some("node1".into()),
        cib_file: Some(cib.0.display().to_string()),
        quorum: QuorumCheck::CibOnly,
        lock_file: None,
        ..Options::new("r0")
    }
}

fn run(o: &Options, r: &Resource, unfence: bool) -> Result<i32, fence::FenceError> {
    run_with(o, r, unfence, |_| {})
}

/// [`run`], with `on_log` called on every line the handler logs as it logs it.
fn run_with(
    o: &Options,
    r: &Resource,
    unfence: bool,
    mut on_log: impl FnMut(&str),
) -> Result<i32, fence::FenceError> {
    let cib = Cib {
        file: o.cib_file.clone(),
    };
    let d = Deadline::after(o.timeout);
    let mut lines = Vec::new();
    let mut log = |m: &str| {
        on_log(m);
        lines.push(m.to_string());
    };
    let res = if unfence {
        fence::unfence(o, r, &cib, &d, &mut log)
    } else {
        fence::fence(o, r, &cib, &d, &mut log)
    };
    eprintln!("{lines:?}");
    res
}

fn have_cibadmin() -> bool {
    Cmd::new("cibadmin")
        .arg("--version")
        .run(&Deadline::after(Duration::from_secs(10)))
        .is_ok()
}

#[test]
fn fence_then_unfence_on_a_real_cib() {
    assert!(
        have_cibadmin(),
        "cibadmin (pacemaker-cli-utils) is required"
    );
    let peer_member = r#"<node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>"#;
    let cib = TempCib::new("member", &cib_xml("1", peer_member));
    let primary = recorded("primary-peer-lost.events2.txt");
    let o = opts(&cib, false);
    assert_eq!(run(&o, &primary, false).unwrap(), EXIT_PEER_OUTDATED);
    let text = cib.text();
    assert!(
        text.contains(r#"<rsc_location id="drbd-fence-by-handler-r0-mail-drbd" rsc="mail-drbd">"#),
        "{text}"
    );
    assert!(
        text.contains(r#"role="Promoted" score="-INFINITY""#),
        "{text}"
    );
    assert!(
        text.contains(r##"attribute="#uname" operation="ne" value="node1""##),
        "{text}"
    );
    // Pacemaker's own checker accepts the result.
    let v = Cmd::new("crm_verify")
        .arg("-x")
        .arg(&cib.0)
        .run(&Deadline::after(Duration::from_secs(30)))
        .unwrap();
    assert!(!v.stderr_str().contains("error"), "{}", v.stderr_str());
    // A second call replaces, never duplicates.
    assert_eq!(run(&o, &primary, false).unwrap(), EXIT_PEER_OUTDATED);
    assert_eq!(
        cib.text()
            .matches("drbd-fence-by-handler-r0-mail-drbd\"")
            .count(),
        1
    );

    // Unfence while still not UpToDate keeps it; once UpToDate removes only ours.
    let outdated = recorded("standalone-outdated.events2.txt");
    assert_eq!(run(&opts(&cib, true), &outdated, true).unwrap(), 0);
    assert!(cib.text().contains("drbd-fence-by-handler-r0-mail-drbd"));
    let synced = recorded("connected-secondary-uptodate.events2.txt");
    assert_eq!(run(&opts(&cib, true), &synced, true).unwrap(), 0);
    let text = cib.text();
    assert!(!text.contains("drbd-fence-by-handler"), "{text}");
    assert!(
        text.contains("admin-prefers-node1"),
        "the administrator's constraint stays"
    );
}

#[test]
fn no_quorum_no_constraint_and_data_must_be_up_to_date() {
    let cib = TempCib::new("noquorum", &cib_xml("0", ""));
    let primary = recorded("primary-peer-lost.events2.txt");
    let e = run(&opts(&cib, false), &primary, false).unwrap_err();
    assert!(e.0.contains("no quorum"), "{e}");
    assert!(!cib.text().contains("drbd-fence-by-handler"));

    let cib = TempCib::new("outdated", &cib_xml("1", ""));
    let e = run(
        &opts(&cib, false),
        &recorded("standalone-outdated.events2.txt"),
        false,
    )
    .unwrap_err();
    assert!(e.0.contains("Outdated"), "{e}");
    assert!(!cib.text().contains("drbd-fence-by-handler"));
}

#[test]
fn exit_code_follows_the_peer() {
    let primary = recorded("primary-peer-lost.events2.txt");
    // Never seen / cleanly down: fenced.
    let cib = TempCib::new(
        "down",
        &cib_xml(
            "1",
            r#"<node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="down"/>"#,
        ),
    );
    assert_eq!(
        run(&opts(&cib, false), &primary, false).unwrap(),
        EXIT_PEER_FENCED
    );
    // Lost and not fenced within the budget: bounded wait, then the constraint anyway.
    let cib = TempCib::new(
        "unclean",
        &cib_xml(
            "1",
            r#"<node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="member"/>"#,
        ),
    );
    let t = std::time::Instant::now();
    assert_eq!(
        run(&opts(&cib, false), &primary, false).unwrap(),
        EXIT_PEER_UNREACHABLE
    );
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "bounded by the handler's timeout: {:?}",
        t.elapsed()
    );
    assert!(cib.text().contains("drbd-fence-by-handler-r0-mail-drbd"));
}

const PEER_MEMBER: &str = r#"<node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>"#;

#[test]
fn waits_for_a_dc_within_its_dc_timeout() {
    let primary = recorded("primary-peer-lost.events2.txt");
    let no_dc = cib_xml("1", PEER_MEMBER).replace(" dc-uuid=\"1\"", "");
    // No DC ever: the handler gives up after --dc-timeout and changes nothing.
    let cib = TempCib::new("nodc", &no_dc);
    let o = Options {
        dc_timeout: Duration::from_secs(2),
        ..opts(&cib, false)
    };
    let e = run(&o, &primary, false).unwrap_err();
    assert!(e.0.contains("no DC was elected within 2s"), "{e}");
    assert!(!cib.text().contains("drbd-fence-by-handler"));
    // A DC is elected while the handler waits (the CIB gets its dc-uuid when the handler
    // says it is waiting): it goes on and places the constraint.
    let cib = TempCib::new("latedc", &no_dc);
    let path = cib.0.clone();
    let mut elected = false;
    let code = run_with(&opts(&cib, false), &primary, false, |line| {
        if line.contains("no DC yet") && !elected {
            let text = std::fs::read_to_string(&path).expect("read cib");
            let with_dc = text.replacen("<cib ", "<cib dc-uuid=\"2\" ", 1);
            std::fs::write(&path, with_dc).expect("elect a DC");
            elected = true;
        }
    })
    .unwrap();
    assert!(elected, "the handler never said it was waiting for a DC");
    assert_eq!(code, EXIT_PEER_OUTDATED);
    assert!(cib.text().contains("drbd-fence-by-handler-r0-mail-drbd"));
}

/// The constraint a peer (node2) placed against this node (node1).
const BANS_NODE1: &str = r##"<rsc_location id="drbd-fence-by-handler-r0-mail-drbd" rsc="mail-drbd"><rule id="drbd-fence-by-handler-r0-mail-drbd-rule" role="Promoted" score="-INFINITY" boolean-op="and"><expression id="drbd-fence-by-handler-r0-mail-drbd-expr-0" attribute="#uname" operation="ne" value="node2"/></rule></rsc_location>"##;

fn with_constraint(xml: &str, constraint: &str) -> String {
    xml.replace(
        "<constraints>",
        &format!("<constraints>\n      {constraint}"),
    )
}

#[test]
fn never_overwrites_or_lifts_a_fence_placed_against_this_node() {
    let primary = recorded("primary-peer-lost.events2.txt");
    let cib = TempCib::new(
        "bansme",
        &with_constraint(&cib_xml("1", PEER_MEMBER), BANS_NODE1),
    );
    let before = cib.text();
    let e = run(&opts(&cib, false), &primary, false).unwrap_err();
    assert!(
        e.0.contains("already bans node1 from the Promoted role"),
        "{e}"
    );
    assert_eq!(cib.text(), before, "the peer's constraint is untouched");

    // The monitor's way (only a node the constraint allows) leaves it for node2 ...
    let synced = recorded("connected-secondary-uptodate.events2.txt");
    let c = Cib {
        file: Some(cib.0.display().to_string()),
    };
    let d = Deadline::after(Duration::from_secs(10));
    let mut log = |m: &str| eprintln!("{m}");
    let removed = fence::lift_constraint(
        &synced,
        "node1",
        None,
        Lift::OnlyIfAllowed,
        &c,
        &d,
        &mut log,
    )
    .unwrap();
    assert_eq!(removed, None);
    assert_eq!(cib.text(), before);
    // ... which removes it, through the same helper.
    let removed = fence::lift_constraint(
        &synced,
        "node2",
        None,
        Lift::OnlyIfAllowed,
        &c,
        &d,
        &mut log,
    )
    .unwrap();
    assert_eq!(
        removed.as_deref(),
        Some("drbd-fence-by-handler-r0-mail-drbd")
    );
    assert!(!cib.text().contains("drbd-fence-by-handler"));
    assert!(cib.text().contains("admin-prefers-node1"));

    // A constraint that allows this node is replaced, never duplicated.
    let ours = BANS_NODE1.replace("value=\"node2\"", "value=\"node1\"");
    let cib = TempCib::new(
        "allowsme",
        &with_constraint(&cib_xml("1", PEER_MEMBER), &ours),
    );
    assert_eq!(
        run(&opts(&cib, false), &primary, false).unwrap(),
        EXIT_PEER_OUTDATED
    );
    assert_eq!(
        cib.text()
            .matches("<rsc_location id=\"drbd-fence-by-handler")
            .count(),
        1
    );
}

#[test]
fn the_node_lock_is_exclusive_and_bounded() {
    let dir = std::env::temp_dir().join(format!("axha-fence-lock-{}", std::process::id()));
    let path = dir.join("sub").join("fence.lock");
    let first = NodeLock::acquire(&path, &Deadline::after(Duration::from_secs(5))).unwrap();
    let e = NodeLock::acquire(&path, &Deadline::after(Duration::from_millis(300)))
        .err()
        .expect("a second holder must wait, then give up at its deadline");
    assert!(e.0.contains("holds"), "{e}");
    drop(first);
    NodeLock::acquire(&path, &Deadline::after(Duration::from_secs(5))).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
