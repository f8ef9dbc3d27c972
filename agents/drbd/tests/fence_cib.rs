//! The fence-peer handler's CIB side against Pacemaker's own tools: `cibadmin` on a CIB file
//! (`CIB_file`), validated against Pacemaker's schema on every write. The DRBD state comes
//! from output recorded on real DRBD 8.4 (crates/drbd/tests/fixtures/84); the whole path with
//! DRBD calling the handler runs in the VM suite.

use std::path::PathBuf;
use std::time::Duration;

use axha_agent_drbd::fence::{
    self, Cib, Options, EXIT_PEER_FENCED, EXIT_PEER_OUTDATED, EXIT_PEER_UNREACHABLE,
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
        r#"<cib crm_feature_set="3.0.14" validate-with="pacemaker-3.9" epoch="3" num_updates="0" admin_epoch="0" have-quorum="{have_quorum}">
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

fn opts(cib: &TempCib, unfence: bool) -> Options {
    Options {
        resource: "r0".into(),
        unfence,
        timeout: Duration::from_secs(8),
        clone_id: None,
        node_name: Some("node1".into()),
        cib_file: Some(cib.0.display().to_string()),
        drbd_conf: None,
    }
}

fn run(o: &Options, r: &Resource, unfence: bool) -> Result<i32, fence::FenceError> {
    let cib = Cib {
        file: o.cib_file.clone(),
    };
    let d = Deadline::after(o.timeout);
    let mut lines = Vec::new();
    let mut log = |m: &str| lines.push(m.to_string());
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
