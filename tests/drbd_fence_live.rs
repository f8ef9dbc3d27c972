//! `drbd-fence-peer` against a live Pacemaker cluster: the lab's three nodes (real Corosync,
//! Pacemaker, ipmi_sim BMCs and fence devices), with a promotable clone of
//! `ocf:axigen:drbd` defined for `drbd_resource=r0` and kept stopped (there is no DRBD in the
//! lab; the clone is what the handler's constraint applies to, and its probes let the
//! controller record how it treats the agent's parameters).
//!
//! The handler runs inside a node as DRBD runs it (`DRBD_RESOURCE` in its environment); the
//! one thing it reads from DRBD, `drbdsetup events2 --now`, comes from a stand-in that prints
//! output recorded on real DRBD 8.4 (crates/drbd/tests/fixtures/84): everything on the CIB
//! side is the cluster's own (cibadmin, crm_node, crm_attribute, the DC, the fencer).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_e2e::lab::{binaries_dir, spec};
use axha_exec::{Cmd, Deadline, Output};
use axha_lab::{Fencing, Lab, NODE_PATH};

const T: Duration = Duration::from_secs(60);
const CLONE: &str = "mail-drbd";
const FENCE_ID: &str = "drbd-fence-by-handler-r0-mail-drbd";

/// The clone the handler fences: stopped, so only probes run.
const RESOURCES: &str = r#"<clone id="mail-drbd">
  <meta_attributes id="mail-drbd-meta">
    <nvpair id="mail-drbd-meta-promotable" name="promotable" value="true"/>
    <nvpair id="mail-drbd-meta-notify" name="notify" value="true"/>
    <nvpair id="mail-drbd-meta-clone-node-max" name="clone-node-max" value="1"/>
    <nvpair id="mail-drbd-meta-promoted-max" name="promoted-max" value="1"/>
    <nvpair id="mail-drbd-meta-target-role" name="target-role" value="Stopped"/>
  </meta_attributes>
  <primitive id="drbd_r0" class="ocf" provider="axigen" type="drbd">
    <instance_attributes id="drbd_r0-ia">
      <nvpair id="drbd_r0-ia-res" name="drbd_resource" value="r0"/>
    </instance_attributes>
  </primitive>
</clone>"#;

/// A `drbdsetup` stand-in per recorded state, in the lab's state directory (visible in every
/// node): prints the recording for `events2`, fails for anything else.
fn standin(lab: &Lab, fixture: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/drbd/tests/fixtures/84")
        .join(format!("{fixture}.events2.txt"));
    let dir = lab.state_dir().join("drbd-standin").join(fixture);
    if dir.join("drbdsetup").exists() {
        // Written once: rewriting a script another run is executing fails with ETXTBSY.
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("stand-in dir");
    std::fs::copy(&src, dir.join("events2.txt")).expect("copy fixture");
    let script = format!(
        "#!/bin/sh\n# Recorded DRBD 8.4 state for drbd-fence-peer tests.\n\
         [ \"$1\" = events2 ] || {{ echo \"drbdsetup stand-in: $*\" >&2; exit 20; }}\n\
         cat {}\n",
        dir.join("events2.txt").display()
    );
    let path = dir.join("drbdsetup");
    std::fs::write(&path, script).expect("write stand-in");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// The handler on `node`, DRBD's environment, DRBD state `fixture`.
fn handler(lab: &Lab, node: &str, fixture: &str, args: &[&str]) -> Output {
    handler_cmd(lab, node, fixture, args)
        .run(&Deadline::after(T))
        .expect("handler runs")
}

fn handler_cmd(lab: &Lab, node: &str, fixture: &str, args: &[&str]) -> Cmd {
    let path = format!("{}:{NODE_PATH}", standin(lab, fixture).display());
    let bin = axha_e2e::bin("drbd-fence-peer");
    let mut argv = vec![bin.to_str().expect("utf-8 path")];
    if !args.iter().any(|a| a.starts_with("--timeout")) {
        argv.push("--timeout=20");
    }
    argv.extend_from_slice(args);
    lab.cmd_env(node, &[("PATH", &path), ("DRBD_RESOURCE", "r0")], &argv)
        .expect("node is up")
}

fn query(lab: &Lab, node: &str, scope: &str) -> String {
    lab.run_ok(node, &["cibadmin", "--query", "--scope", scope], T)
        .expect("cibadmin")
        .stdout_str()
}

/// The handler's constraint as the cluster holds it, `None` when absent.
fn constraint(lab: &Lab, node: &str) -> Option<String> {
    let xml = query(lab, node, "constraints");
    let doc = roxmltree::Document::parse(&xml).expect("constraints XML");
    doc.descendants()
        .find(|n| n.has_tag_name("rsc_location") && n.attribute("id") == Some(FENCE_ID))
        .map(|n| xml[n.range()].to_string())
}

fn says(o: &Output, what: &str) {
    assert!(
        o.stderr_str().contains(what),
        "expected {what:?} in: {}",
        o.stderr_str()
    );
}

/// A constraint of the handler's id that only lets `allowed` be promoted (as a peer's
/// handler would have placed it).
fn constraint_allowing(allowed: &str) -> String {
    format!(
        r##"<rsc_location id="{FENCE_ID}" rsc="{CLONE}"><rule id="{FENCE_ID}-rule" role="Promoted" score="-INFINITY" boolean-op="and"><expression id="{FENCE_ID}-expr-0" attribute="#uname" operation="ne" value="{allowed}"/></rule></rsc_location>"##
    )
}

/// Pause or resume fencing cluster-wide (`stonith-enabled`).
fn set_stonith(lab: &Lab, enabled: bool) {
    let value = if enabled { "true" } else { "false" };
    lab.run_ok(
        "n1",
        &[
            "crm_attribute",
            "-t",
            "crm_config",
            "-n",
            "stonith-enabled",
            "-v",
            value,
        ],
        T,
    )
    .expect("stonith-enabled set");
}

fn terminate_requested(lab: &Lab, node: &str) -> bool {
    let o = lab
        .run(
            node,
            &[
                "crm_attribute",
                "-t",
                "status",
                "-N",
                node,
                "-n",
                "terminate",
                "-G",
                "-q",
            ],
            T,
        )
        .expect("crm_attribute runs");
    o.code() == Some(0) && o.stdout_str().trim() == "true"
}

#[test]
fn fence_peer_handler_on_a_live_cluster() {
    axha_e2e::need_root!();
    let mut s = spec("dfl", 3);
    s.token_ms = Some(1000);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries_dir());
    let lab = Lab::up(s).expect("lab up");
    lab.cib_create("resources", RESOURCES)
        .expect("define the clone");

    // reload-agent (OCF 1.1): the controller reads the agent's meta-data and records which
    // parameters force a restart (those not reloadable); every other parameter change is a
    // reload-agent. Read from the probe's history.
    let mut force_restart = None;
    let _ = Deadline::after(T).poll(Duration::from_millis(500), || {
        let xml = query(&lab, "n1", "status");
        let doc = roxmltree::Document::parse(&xml).ok()?;
        let op = doc.descendants().find(|n| {
            n.has_tag_name("lrm_rsc_op")
                && n.attribute("operation") == Some("monitor")
                && n.parent()
                    .and_then(|p| p.attribute("id"))
                    .is_some_and(|id| id.starts_with("drbd_r0"))
        })?;
        force_restart = Some(op.attribute("op-force-restart").map(str::to_string));
        Some(())
    });
    let force_restart = force_restart.expect("a probe of drbd_r0 in the status section");
    assert_eq!(
        force_restart.as_deref().map(str::trim),
        Some("drbdconf drbd_resource"),
        "Pacemaker must restart only for drbd_resource and drbdconf and reload the rest"
    );

    let dc = lab.view("n1").expect("view").dc.expect("a DC");
    // The node the tests run the handler on: not the DC (it is fenced at the end).
    let me = lab
        .nodes()
        .into_iter()
        .find(|n| *n != dc && n != "n3")
        .expect("a node that is neither DC nor n3");
    let other = if me == "n1" { "n2" } else { "n1" };

    // The plain path on a live cluster: peers are members, exit 4, the constraint bans every
    // node but this one; the peer's unfence after its resync removes it.
    let o = handler(&lab, &me, "primary-peer-lost", &[]);
    assert_eq!(o.code(), Some(4), "{}", o.stderr_str());
    let c = constraint(&lab, other).expect("constraint placed");
    assert!(c.contains(&format!("value=\"{me}\"")), "{c}");
    let o = handler(&lab, other, "connected-secondary-uptodate", &["--unfence"]);
    assert_eq!(o.code(), Some(0), "{}", o.stderr_str());
    assert_eq!(constraint(&lab, &me), None);

    // Serialized: six runs at once on one node all succeed and leave one constraint.
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let cmd = handler_cmd(&lab, &me, "primary-peer-lost", &[]);
            std::thread::spawn(move || cmd.run(&Deadline::after(T)).expect("handler runs"))
        })
        .collect();
    for r in runs {
        let o = r.join().expect("thread");
        assert_eq!(o.code(), Some(4), "{}", o.stderr_str());
    }
    let all = query(&lab, &me, "constraints");
    assert_eq!(
        all.matches(&format!("id=\"{FENCE_ID}\"")).count(),
        1,
        "{all}"
    );
    // A run that cannot get the lock within its timeout changes nothing.
    let lock = lab.state_dir().join("held-fence.lock");
    let held = std::fs::File::create(&lock).expect("lock file");
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this test owns.
        assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    }
    let before = constraint(&lab, &me);
    let lock_arg = format!("--lock-file={}", lock.display());
    let o = handler_cmd(&lab, &me, "primary-peer-lost", &[&lock_arg, "--timeout=3"])
        .run(&Deadline::after(T))
        .expect("handler runs");
    assert_eq!(o.code(), Some(1), "{}", o.stderr_str());
    says(&o, "holds");
    assert_eq!(constraint(&lab, &me), before);
    drop(held);
    lab.run_ok(
        &me,
        &[
            "cibadmin",
            "--delete",
            "--xml-text",
            &format!("<rsc_location id=\"{FENCE_ID}\"/>"),
        ],
        T,
    )
    .expect("remove constraint");

    // Quorum, the second way: n3 cut off (fencing paused so it stays up) is told by
    // crm_node --quorum that it has no quorum, even when handed a CIB that says it has.
    let quorate_cib = lab.state_dir().join("quorate-cib.xml");
    let full = lab
        .run_ok("n1", &["cibadmin", "--query"], T)
        .expect("cibadmin")
        .stdout_str();
    assert!(
        full.contains("have-quorum=\"1\""),
        "{}",
        &full[..200.min(full.len())]
    );
    std::fs::write(&quorate_cib, &full).expect("write CIB copy");
    set_stonith(&lab, false);
    lab.partition("n3").expect("partition n3");
    Deadline::after(T)
        .poll(Duration::from_millis(500), || {
            let o = lab.run("n3", &["crm_node", "--quorum"], T).ok()?;
            (o.stdout_str().trim() == "0").then_some(())
        })
        .expect("n3 loses quorum");
    let cib_arg = format!("--cib-file={}", quorate_cib.display());
    let o = handler(&lab, "n3", "primary-peer-lost", &[&cib_arg]);
    assert_eq!(o.code(), Some(1), "{}", o.stderr_str());
    says(&o, "crm_node --quorum says this partition has no quorum");
    assert!(!std::fs::read_to_string(&quorate_cib)
        .expect("CIB copy")
        .contains(FENCE_ID));
    lab.heal("n3").expect("heal n3");
    lab.wait_all_online(Duration::from_secs(90))
        .expect("n3 rejoined");
    set_stonith(&lab, true);

    // A peer fenced this node first: the handler never replaces that constraint.
    lab.cib_create("constraints", &constraint_allowing(other))
        .expect("peer's constraint");
    let peer_fence = constraint(&lab, &me).expect("present");
    let o = handler(&lab, &me, "primary-peer-lost", &[]);
    assert_eq!(o.code(), Some(1), "{}", o.stderr_str());
    says(&o, &format!("already bans {me} from the Promoted role"));
    assert_eq!(constraint(&lab, &me).as_deref(), Some(peer_fence.as_str()));
    assert!(
        !terminate_requested(&lab, &me),
        "no self-fencing without the option"
    );

    // Self-fencing, opt-in: a Secondary never asks; a Primary asks the cluster, which fences
    // it (read from Pacemaker's fencing history).
    let o = handler(
        &lab,
        &me,
        "secondary-alone-after-restart",
        &["--suicide-on-failure-if-primary"],
    );
    assert_eq!(o.code(), Some(1), "{}", o.stderr_str());
    says(&o, "no self-fencing");
    assert!(!terminate_requested(&lab, &me));
    let o = handler(
        &lab,
        &me,
        "primary-peer-lost",
        &["--suicide-on-failure-if-primary"],
    );
    assert_eq!(o.code(), Some(1), "{}", o.stderr_str());
    says(&o, "asked the cluster to fence");
    let v = lab
        .wait_view(
            &format!("{me} fenced on its own request"),
            Duration::from_secs(90),
            |v| !v.fenced(&me).is_empty(),
        )
        .expect("fenced");
    eprintln!("fencing history: {:?}", v.fenced(&me));
    assert!(v.fenced(other).is_empty() && v.fenced("n3").is_empty());
    lab.down().expect("lab down");
}
