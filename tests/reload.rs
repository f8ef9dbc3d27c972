//! OCF 1.1 `reload-agent` of `ocf:axigen:instance` under a real Pacemaker 2.1 + Corosync 3
//! (Debian packages), on a single-node lab cluster in its own namespaces, managing
//! `axigen-sim`, the Axigen stand-in (Axigen itself cannot be installed here).
//!
//! Read from Pacemaker's own operation history (never from a poll that can miss a restart):
//! - a reloadable parameter changed with `crm_resource --set-parameter` and with
//!   `pcs resource update` is applied by `reload-agent`: the last non-recurring operation is
//!   the reload, the supervisor pid is the same, no stop or start was run;
//! - the next monitor uses the new value: a CLI port nothing listens on makes the recurring
//!   monitor fail (its `on-fail=block` keeps Pacemaker from recovering), and
//!   `pcs resource debug-monitor` / `crm_resource --force-check` by hand print the reason;
//! - a restart-only parameter (`config`) restarts the instance: a new start, a new pid;
//! - `crm resource trace` of the monitor writes the agent's step trace (environment with
//!   secrets masked, the CLI probe and its answer, the result) where shell agents write theirs;
//! - `unique-group`: pcs refuses two instances sharing a workdir or an address and CLI port
//!   pair, crmsh's verify warns about a shared workdir.

use std::time::{Duration, Instant};

use axha_e2e::history::{self, OpRecord};
use axha_e2e::instance::{SimInstance, TempDir, ADMIN_PASSWORD};
use axha_e2e::lab::spec;
use axha_e2e::{bin, target_dir, wait_for, Cmd, Deadline};
use axha_lab::Lab;

const NODE: &str = "n1";
const RSC: &str = "rl1";

struct Cluster {
    lab: Lab,
    inst: SimInstance,
}

impl Cluster {
    fn run(&self, argv: &[&str]) -> axha_exec::Output {
        self.lab
            .run(NODE, argv, Duration::from_secs(90))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    fn run_ok(&self, argv: &[&str]) -> String {
        let out = self
            .lab
            .run_ok(NODE, argv, Duration::from_secs(90))
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        format!("{}{}", out.stdout_str(), out.stderr_str())
    }

    /// The supervisor the agent recorded: pid and start time (a restart cannot give the
    /// same pair).
    fn supervisor(&self) -> Option<String> {
        axha_e2e::lab::instance_state(&self.lab, NODE)
    }

    /// How many `op` operations of the resource the controller initiated, from its own log
    /// (`Initiating <op> operation <rsc>_<op>_0`; the node's private /var/log/pacemaker).
    /// The CIB keeps a reload in the start's record (`<rsc>_last_0`, operation `start`), so
    /// only the controller's log tells a reload from a restart.
    fn initiated(&self, op: &str) -> usize {
        let out = self.run_ok(&[
            "sh",
            "-c",
            "grep -c \"$1\" /var/log/pacemaker/pacemaker.log || true",
            "sh",
            &format!("Initiating {op} operation {RSC}_{op}_0 "),
        ]);
        out.trim().parse().expect("a count")
    }

    fn settle(&self) {
        history::settle(&self.lab, NODE, Duration::from_secs(90));
    }

    fn history(&self) -> Vec<OpRecord> {
        history::of(&history::operations(&self.lab, NODE), RSC, NODE)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The last non-recurring operation Pacemaker recorded (`<rsc>_last_0`).
    fn last_op(&self) -> OpRecord {
        let h = self.history();
        h.iter()
            .find(|o| o.id == format!("{RSC}_last_0"))
            .cloned()
            .unwrap_or_else(|| panic!("no {RSC}_last_0 in {h:?}"))
    }
}

fn resource_xml(inst: &SimInstance) -> String {
    format!(
        r#"<primitive id="{RSC}" class="ocf" provider="axigen" type="instance">
  <instance_attributes id="{RSC}-ia">
    <nvpair id="{RSC}-workdir" name="workdir" value="{}"/>
    <nvpair id="{RSC}-binary" name="binary" value="{}"/>
    <nvpair id="{RSC}-address" name="address" value="{}"/>
    <nvpair id="{RSC}-pw" name="cli_password_file" value="{}"/>
    <nvpair id="{RSC}-ct" name="check_timeout" value="2"/>
  </instance_attributes>
  <operations>
    <op id="{RSC}-start" name="start" interval="0" timeout="30s"/>
    <op id="{RSC}-stop" name="stop" interval="0" timeout="20s"/>
    <op id="{RSC}-mon" name="monitor" interval="2s" timeout="10s" on-fail="block"/>
  </operations>
</primitive>"#,
        inst.workdir.display(),
        bin("axigen-sim").display(),
        inst.address,
        inst.password_file.display()
    )
}

/// What Pacemaker ran so far for the resource: (reloads, stops, starts) initiated.
type Counts = (usize, usize, usize);

fn counts(c: &Cluster) -> Counts {
    (
        c.initiated("reload-agent"),
        c.initiated("stop"),
        c.initiated("start"),
    )
}

/// Since `before`, Pacemaker ran one more reload-agent and no stop or start; its record
/// (kept as the start's, `<rsc>_last_0`) succeeded; the supervisor is the one started first.
fn assert_reloaded(c: &Cluster, what: &str, before: Counts, sup: &str) -> Counts {
    let now = counts(c);
    let last = c.last_op();
    eprintln!("{what}: (reloads, stops, starts) {before:?} -> {now:?}; record {last:?}");
    assert_eq!(now, (before.0 + 1, before.1, before.2), "{what}");
    assert_eq!((last.rc, last.op_status), (0, 0), "{what}: {last:?}");
    assert_eq!(
        c.supervisor().as_deref(),
        Some(sup),
        "{what}: the server was restarted"
    );
    now
}

#[test]
fn reloadable_parameters_apply_without_a_restart() {
    axha_e2e::need_root!();
    let mut s = spec("reload", 1);
    s.binaries = Some(target_dir().join("debug"));
    let lab = Lab::up(s).expect("single-node cluster up");
    let addr = lab.node_addr(NODE).to_string();
    let inst = SimInstance::new("reload", &addr);
    let c = Cluster { lab, inst };

    c.run_ok(&[
        "cibadmin",
        "--create",
        "-o",
        "resources",
        "--xml-text",
        &resource_xml(&c.inst),
    ]);
    c.settle();
    assert!(history::last_start(&c.history(), RSC, NODE).is_some());
    let sup = c.supervisor().expect("state recorded in the node's /run");
    let mut seen = counts(&c);
    assert_eq!(seen, (0, 0, 1), "one start so far");

    // crm_resource --set-parameter of a reloadable parameter.
    c.run_ok(&[
        "crm_resource",
        "-r",
        RSC,
        "--set-parameter",
        "check_timeout",
        "--parameter-value",
        "3",
    ]);
    c.settle();
    seen = assert_reloaded(&c, "crm_resource --set-parameter", seen, &sup);

    // pcs resource update of two more (pcs checks them against the OCF 1.1 meta-data).
    let pcs = c.run_ok(&[
        "pcs",
        "resource",
        "update",
        RSC,
        "stop_graceful_share=50",
        "cli_user=admin",
    ]);
    eprintln!("pcs resource update: {pcs}");
    c.settle();
    seen = assert_reloaded(&c, "pcs resource update", seen, &sup);

    // The next monitor uses the new value: a CLI port nothing listens on fails it.
    let wrong = (c.inst.cli_port() + 7).to_string();
    let t = Instant::now();
    c.run_ok(&[
        "crm_resource",
        "-r",
        RSC,
        "--set-parameter",
        "cli_port",
        "--parameter-value",
        &wrong,
    ]);
    wait_for(
        "the monitor fails on the new port",
        Duration::from_secs(60),
        || history::last_failure(&c.history(), RSC, NODE).is_some(),
    );
    eprintln!(
        "monitor failed on the new port {:.1}s after the change",
        t.elapsed().as_secs_f64()
    );
    let failure = history::last_failure(&c.history(), RSC, NODE)
        .cloned()
        .unwrap();
    assert_eq!(
        (failure.task.as_str(), failure.interval_ms),
        ("monitor", 2000),
        "{failure:?}"
    );
    assert_ne!(failure.rc, 0);
    c.settle();
    seen = assert_reloaded(&c, "cli_port", seen, &sup);

    // What an operator sees by hand: the reason names the port the check used.
    let port_in = |text: &str| text.contains(&format!(":{wrong}"));
    let check = c.run(&["crm_resource", "--force-check", "-r", RSC]);
    let text = format!("{}{}", check.stdout_str(), check.stderr_str());
    eprintln!("crm_resource --force-check:\n{text}");
    assert_ne!(check.code(), Some(0), "{text}");
    assert!(port_in(&text), "{text}");
    let debug = c.run(&["pcs", "resource", "debug-monitor", RSC]);
    let text = format!("{}{}", debug.stdout_str(), debug.stderr_str());
    eprintln!("pcs resource debug-monitor:\n{text}");
    assert!(port_in(&text), "{text}");
    assert!(text.contains("ocf-exit-reason:"), "{text}");

    // Back to the configured port; the cleanup re-probes with it and finds the same server.
    c.run_ok(&["crm_resource", "-r", RSC, "--delete-parameter", "cli_port"]);
    c.run_ok(&["crm_resource", "--cleanup", "-r", RSC]);
    c.settle();
    // (A probe that finds the resource running is kept as `<rsc>_last_failure_0` with rc 0.)
    let h = c.history();
    assert!(!h.iter().any(|o| o.is_failure() && o.rc != 0), "{h:?}");
    assert_eq!(counts(&c).1, seen.1, "no stop");
    assert_eq!(counts(&c).2, seen.2, "no start");
    assert_eq!(
        c.supervisor().as_deref(),
        Some(sup.as_str()),
        "the first server"
    );
    let debug = c.run(&["pcs", "resource", "debug-monitor", RSC]);
    let text = format!("{}{}", debug.stdout_str(), debug.stderr_str());
    eprintln!("pcs resource debug-monitor (healthy):\n{text}");
    assert_eq!(debug.code(), Some(0), "{text}");

    // A restart-only parameter: the configuration file the server is started with.
    let before = counts(&c);
    let config = c.inst.workdir.join("run/axigen.cfg");
    c.run_ok(&[
        "crm_resource",
        "-r",
        RSC,
        "--set-parameter",
        "config",
        "--parameter-value",
        &config.display().to_string(),
    ]);
    c.settle();
    let after = counts(&c);
    eprintln!("config: (reloads, stops, starts) {before:?} -> {after:?}");
    assert_eq!(after, (before.0, before.1 + 1, before.2 + 1), "a restart");
    let new = c.supervisor().expect("running again");
    assert_ne!(new, sup, "a new server");

    // crm resource trace: the recurring monitor writes a step trace in the shell agents'
    // layout, <dir>/<type>/<instance>.<action>.<timestamp>.
    let traces = TempDir::new("trace");
    let dir = traces.path().display().to_string();
    let out = c.run_ok(&["crm", "resource", "trace", RSC, "monitor", &dir]);
    eprintln!("crm resource trace: {out}");
    let type_dir = traces.path().join("instance");
    let trace_file = || -> Option<String> {
        let mut files: Vec<_> = std::fs::read_dir(&type_dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        let f = files.first()?;
        let name = f.file_name()?.to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("{RSC}.monitor.")), "{name}");
        let text = std::fs::read_to_string(f).ok()?;
        text.contains("result:").then_some(text)
    };
    wait_for("a monitor trace", Duration::from_secs(60), || {
        trace_file().is_some()
    });
    let text = trace_file().expect("a trace");
    eprintln!("trace:\n{text}");
    for want in [
        "instance monitor: pid ",
        "env OCF_RESKEY_trace_ra=1",
        "env OCF_RESKEY_cli_password_file=********",
        &format!(
            "probe CLI {}:{} GET VERSION -> ",
            c.inst.address,
            c.inst.cli_port()
        ),
        "result: monitor exit 0",
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing from the trace:\n{text}"
        );
    }
    assert!(!text.contains(ADMIN_PASSWORD), "{text}");
    c.run_ok(&["crm", "resource", "untrace", RSC]);
    c.settle();

    c.run_ok(&[
        "crm_resource",
        "-r",
        RSC,
        "--meta",
        "-p",
        "target-role",
        "-v",
        "Stopped",
    ]);
    c.settle();
    assert_eq!(c.supervisor(), None);
}

/// `unique-group` (OCF 1.1) as the configuration tools read it from the meta-data, on an
/// offline CIB: pcs refuses a second instance with the same workdir or the same address and
/// CLI port pair (and accepts the same address with another port); crmsh's verify warns about
/// a shared workdir (it reads `unique="1"`). Pacemaker's own crm_verify 2.1.5 checks no
/// uniqueness at all. The agent is made visible under /usr/lib/ocf/resource.d only inside a
/// private mount namespace (the host's directory is not touched).
#[test]
fn unique_groups_are_refused_by_the_configuration_tools() {
    axha_e2e::need_root!();
    let dir = TempDir::new("unique");
    let prov = dir.path().join("ocf").join("axigen");
    std::fs::create_dir_all(&prov).unwrap();
    std::fs::copy(bin("instance"), prov.join("instance")).unwrap();
    let cib = dir.path().join("cib.xml");
    let empty = Cmd::new("cibadmin")
        .arg("--empty")
        .run_ok(&Deadline::after(Duration::from_secs(20)))
        .unwrap();
    std::fs::write(&cib, empty.stdout).unwrap();
    let run = |argv: &[&str]| -> (i32, String) {
        let out = Cmd::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount -n -t overlay axha-ocf -o lowerdir=\"$1\":/usr/lib/ocf/resource.d \
                 /usr/lib/ocf/resource.d || exit 99; shift; exec \"$@\"",
            )
            .arg("sh")
            .arg(dir.path().join("ocf"))
            .args(argv)
            .env("CIB_file", &cib)
            .run(&Deadline::after(Duration::from_secs(120)))
            .unwrap();
        let code = out.code().unwrap_or(-1);
        assert_ne!(code, 99, "overlay mount failed: {}", out.stderr_str());
        (code, format!("{}{}", out.stdout_str(), out.stderr_str()))
    };
    let cib_arg = cib.display().to_string();
    let create = |id: &str, workdir: &str, address: &str, port: &str| {
        run(&[
            "pcs",
            "-f",
            &cib_arg,
            "resource",
            "create",
            id,
            "ocf:axigen:instance",
            &format!("workdir={workdir}"),
            &format!("address={address}"),
            &format!("cli_port={port}"),
        ])
    };
    let (code, text) = create("ax1", "/srv/ax1", "10.0.0.1", "7000");
    assert_eq!(code, 0, "{text}");
    let (code, text) = create("ax2", "/srv/ax1", "10.0.0.2", "7000");
    eprintln!("same workdir: {text}");
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("'workdir' is not unique") && text.contains("'ax1'"),
        "{text}"
    );
    let (code, text) = create("ax3", "/srv/ax3", "10.0.0.1", "7000");
    eprintln!("same address and CLI port: {text}");
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("(group 'cli') is not unique"), "{text}");
    let (code, text) = create("ax4", "/srv/ax4", "10.0.0.1", "7001");
    assert_eq!(code, 0, "same address, another port: {text}");

    // A shared workdir written into the CIB directly: crmsh's verify names both resources.
    let (code, text) = run(&[
        "cibadmin",
        "--create",
        "-o",
        "resources",
        "--xml-text",
        "<primitive id=\"ax5\" class=\"ocf\" provider=\"axigen\" type=\"instance\">\
         <instance_attributes id=\"ax5-ia\">\
         <nvpair id=\"ax5-w\" name=\"workdir\" value=\"/srv/ax1\"/>\
         </instance_attributes></primitive>",
    ]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(&["crm", "configure", "verify"]);
    eprintln!("crm configure verify: {text}");
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("Resources ax1,ax5 violate uniqueness for parameter \"workdir\""),
        "{text}"
    );
}
