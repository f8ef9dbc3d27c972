//! `ocf:axigen:instance` run by a real Pacemaker 2.1 + Corosync 3 (Debian packages), on a
//! single-node lab cluster in its own network, mount and UTS namespaces (the host's
//! /etc/corosync and /var/lib/pacemaker are not touched), managing `axigen-sim`, the Axigen
//! stand-in (Axigen itself cannot be installed here).
//!
//! One cluster serves every scenario, in sequence: start and recurring monitors, force-checks
//! at depths 0/10/20, kill -9 of the worker and of the supervisor, a SIGSTOP hang and the
//! `hang` fault, a server that ignores SIGTERM, and a stale state file whose pid belongs to
//! another process. Recovery times are printed.

use std::time::{Duration, Instant};

use axha_e2e::instance::{SimInstance, ADMIN_PASSWORD};
use axha_e2e::lab::spec;
use axha_e2e::{bin, history, target_dir, wait_for};
use axha_lab::Lab;

const NODE: &str = "n1";
const RSC: &str = "ax1";

struct Cluster {
    lab: Lab,
    inst: SimInstance,
    addr: String,
}

impl Cluster {
    fn run(&self, argv: &[&str]) -> axha_exec::Output {
        self.lab
            .run(NODE, argv, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    fn run_ok(&self, argv: &[&str]) -> String {
        let out = self.run(argv);
        assert_eq!(
            out.code(),
            Some(0),
            "{argv:?}: {}{}",
            out.stdout_str(),
            out.stderr_str()
        );
        out.stdout_str()
    }

    /// The CLI banner, read from inside the node (independent of the agent).
    fn cli_answers(&self) -> bool {
        let ip = self.addr.parse().expect("the node's address is IPv4");
        self.lab
            .greeting(NODE, ip, self.inst.cli_port())
            .is_some_and(|l| l.contains("Command Line Interface"))
    }

    /// The supervisor pid the agent recorded in the node's private /run.
    fn supervisor(&self) -> Option<u32> {
        axha_e2e::lab::instance_state(&self.lab, NODE)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    fn running_here(&self) -> bool {
        self.lab
            .view(NODE)
            .map(|v| {
                v.resources
                    .iter()
                    .any(|r| r.id == RSC && r.is_started() && r.nodes == [NODE])
            })
            .unwrap_or(false)
    }

    /// Wait until Pacemaker reports the resource running and its CLI answers with a supervisor
    /// other than `old`; returns how long that took from `since`.
    fn wait_recovered(&self, what: &str, since: Instant, old: Option<u32>) -> Duration {
        wait_for(what, Duration::from_secs(60), || {
            self.running_here()
                && self.cli_answers()
                && (old.is_none() || self.supervisor().is_some_and(|p| Some(p) != old))
        });
        let took = since.elapsed();
        eprintln!("{what}: recovered in {:.1}s", took.as_secs_f64());
        took
    }

    fn cleanup(&self) {
        self.run_ok(&["crm_resource", "--cleanup", "-r", RSC]);
    }

    /// Wait until Pacemaker has nothing left to do (the synchronisation point after a change).
    fn settle(&self) {
        history::settle(&self.lab, NODE, Duration::from_secs(60));
    }

    /// The resource's operation records on the node.
    fn history(&self) -> Vec<history::OpRecord> {
        history::of(&history::operations(&self.lab, NODE), RSC, NODE)
            .into_iter()
            .cloned()
            .collect()
    }

    fn fail_count(&self) -> u32 {
        let out = self.run(&["crm_failcount", "-G", "-q", "-r", RSC, "-N", NODE]);
        out.stdout_str().trim().parse().unwrap_or(0)
    }

    fn set_meta(&self, name: &str, value: &str) {
        self.run_ok(&["crm_resource", "-r", RSC, "--meta", "-p", name, "-v", value]);
    }

    fn set_param(&self, name: &str, value: &str) {
        self.run_ok(&["crm_resource", "-r", RSC, "-p", name, "-v", value]);
    }
}

fn resource_xml(inst: &SimInstance, addr: &str) -> String {
    format!(
        r#"<primitive id="{RSC}" class="ocf" provider="axigen" type="instance">
  <instance_attributes id="{RSC}-ia">
    <nvpair id="{RSC}-workdir" name="workdir" value="{}"/>
    <nvpair id="{RSC}-binary" name="binary" value="{}"/>
    <nvpair id="{RSC}-address" name="address" value="{addr}"/>
    <nvpair id="{RSC}-pw" name="cli_password_file" value="{}"/>
    <nvpair id="{RSC}-ct" name="check_timeout" value="2"/>
  </instance_attributes>
  <operations>
    <op id="{RSC}-start" name="start" interval="0" timeout="30s"/>
    <op id="{RSC}-stop" name="stop" interval="0" timeout="20s"/>
    <op id="{RSC}-mon" name="monitor" interval="2s" timeout="10s"/>
    <op id="{RSC}-mon10" name="monitor" interval="7s" timeout="10s">
      <instance_attributes id="{RSC}-mon10-ia">
        <nvpair id="{RSC}-mon10-depth" name="OCF_CHECK_LEVEL" value="10"/>
      </instance_attributes>
    </op>
  </operations>
</primitive>"#,
        inst.workdir.display(),
        bin("axigen-sim").display(),
        inst.password_file.display()
    )
}

#[test]
fn pacemaker_runs_and_recovers_the_instance() {
    axha_e2e::need_root!();
    let mut s = spec("inst", 1);
    s.binaries = Some(target_dir().join("debug"));
    let lab = Lab::up(s).expect("single-node cluster up");
    let addr = lab.node_addr(NODE).to_string();
    let inst = SimInstance::new("pcmk", &addr);
    let c = Cluster { lab, inst, addr };

    // Start and recurring monitors.
    let t = Instant::now();
    c.run_ok(&[
        "cibadmin",
        "--create",
        "-o",
        "resources",
        "--xml-text",
        &resource_xml(&c.inst, &c.addr),
    ]);
    c.wait_recovered("initial start", t, None);
    let first = c.supervisor().expect("state recorded in the node's /run");

    // Force-checks at each depth, through Pacemaker's own tool.
    for depth in ["0", "10", "20"] {
        let out = c.run(&["crm_resource", "--force-check", depth, "-r", RSC]);
        assert_eq!(
            out.code(),
            Some(0),
            "force-check {depth}: {}{}",
            out.stdout_str(),
            out.stderr_str()
        );
        assert!(!out.stdout_str().contains(ADMIN_PASSWORD));
    }
    assert_eq!(c.fail_count(), 0);

    // kill -9 of the worker: the supervisor restarts it; the instance answers again.
    let worker = axha_exec::all_pids()
        .into_iter()
        .find(|p| axha_exec::read_stat(*p).is_some_and(|s| s.ppid == first))
        .expect("worker process");
    let t = Instant::now();
    unsafe { libc::kill(worker as i32, libc::SIGKILL) };
    wait_for("worker restarted", Duration::from_secs(30), || {
        axha_exec::all_pids()
            .into_iter()
            .any(|p| p != worker && axha_exec::read_stat(p).is_some_and(|s| s.ppid == first))
            && c.running_here()
            && c.cli_answers()
    });
    eprintln!(
        "kill -9 worker: answering again in {:.1}s (fail count {})",
        t.elapsed().as_secs_f64(),
        c.fail_count()
    );

    // kill -9 of the supervisor: the monitor fails, Pacemaker stops what is left and starts
    // a new server.
    let sup = c.supervisor().unwrap();
    let t = Instant::now();
    unsafe { libc::kill(sup as i32, libc::SIGKILL) };
    c.wait_recovered("kill -9 supervisor", t, Some(sup));
    let h = c.history();
    assert!(
        h.iter()
            .any(|o| o.is_failure() && o.task == "monitor" && o.rc != 0),
        "the failed monitor was recorded: {h:?}"
    );
    c.cleanup();

    // A hang: every process of the server stopped (SIGSTOP).
    let sup = c.supervisor().unwrap();
    let t = Instant::now();
    unsafe { libc::kill(-(sup as i32), libc::SIGSTOP) };
    c.wait_recovered("SIGSTOP hang", t, Some(sup));
    c.cleanup();

    // A hang the server itself produces: sockets open, nothing answered.
    let sup = c.supervisor().unwrap();
    let t = Instant::now();
    c.inst.fault("hang", Some(""));
    wait_for("hang detected", Duration::from_secs(30), || {
        c.supervisor().is_some_and(|p| p != sup)
    });
    c.inst.fault("hang", None);
    c.wait_recovered("hang fault", t, None);
    c.cleanup();

    // A server that ignores SIGTERM: stop still succeeds within its timeout.
    c.set_param("stop_graceful_share", "20");
    c.settle();
    c.wait_recovered("parameter change", Instant::now(), None);
    c.inst.fault("ignore-sigterm", Some(""));
    let sup = c.supervisor().unwrap();
    let t = Instant::now();
    c.set_meta("target-role", "Stopped");
    wait_for("stopped", Duration::from_secs(30), || {
        c.lab.view(NODE).is_ok_and(|v| {
            v.resources
                .iter()
                .any(|r| r.id == RSC && !r.active && !r.failed)
        })
    });
    eprintln!(
        "stop of a server ignoring SIGTERM: {:.1}s",
        t.elapsed().as_secs_f64()
    );
    assert!(axha_exec::read_identity(sup).is_none(), "server gone");
    assert_eq!(c.fail_count(), 0, "the stop did not fail");
    c.inst.fault("ignore-sigterm", None);

    // A stale state file whose pid now belongs to another process (corosync of the node,
    // recorded with another start time): a re-probe must not take it for the server.
    let other = c
        .lab
        .node_pids(NODE)
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|n| n.trim() == "corosync")
        })
        .expect("corosync of the node");
    let id = axha_exec::read_identity(other).unwrap();
    let key = c
        .inst
        .workdir
        .to_string_lossy()
        .trim_start_matches('/')
        .replace('/', "%2F");
    c.run_ok(&[
        "sh",
        "-c",
        &format!(
            "echo '{} {}' > /run/resource-agents/axigen-instance-{key}.state",
            id.pid,
            id.start_time + 13
        ),
    ]);
    // A refresh forgets the resource's whole history and re-probes it (a cleanup only acts
    // on recorded failures, and there may be none). The re-probe's answer is read from the
    // operation history once the cluster has settled.
    c.run_ok(&["crm_resource", "--refresh", "-r", RSC]);
    c.settle();
    let h = c.history();
    assert!(
        h.iter().any(|o| o.is_probe_not_running()) && !h.iter().any(|o| o.task == "stop"),
        "stale state taken for running: {h:?}"
    );
    let v = c.lab.view(NODE).unwrap();
    let r = v.resources.iter().find(|r| r.id == RSC).unwrap();
    assert!(!r.active, "stale state taken for running: {r:?}");
    assert!(
        axha_exec::read_identity(other).is_some(),
        "corosync untouched"
    );
    let t = Instant::now();
    c.set_meta("target-role", "Started");
    c.wait_recovered("start after stale state", t, None);
    assert_ne!(c.supervisor(), Some(id.pid));

    c.set_meta("target-role", "Stopped");
    wait_for("final stop", Duration::from_secs(30), || {
        c.supervisor().is_none()
    });
}
