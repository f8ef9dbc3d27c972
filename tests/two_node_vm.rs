//! The two-node architecture whole (`two-node-active-passive` with DRBD storage): two QEMU
//! guests running real Pacemaker, Corosync and DRBD 8.4 from Debian's packages, an ipmi_sim
//! BMC per guest on the host whose power off ends that guest's QEMU, and exactly the CIB
//! `axigen-ha cib render two-node-active-passive` produces. The service is `axigen-sim`, the
//! Axigen stand-in (Axigen itself cannot be installed here); its IMAP greeting names the node
//! it runs on and is read from outside the guests.
//!
//! One lab serves every scenario (a boot costs minutes under TCG); each scenario starts from
//! a healthy cluster (both nodes on, links up, DRBD connected and UpToDate, the instance
//! answering) and reports its measured times. Transient states are read from Pacemaker's own
//! records (operation history, fencing history) and DRBD's kernel log, never from a poll.
//!
//! The binary has its own main (harness = false): scenarios run in order, each reported as
//! `scenario NAME ... ok` or `FAILED`; arguments that are not options filter them by name.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axha_e2e::history::{self, OpRecord};
use axha_e2e::lab::{binaries_dir, lab_name};
use axha_e2e::{bin, Deadline};
use axha_lab::scenario::{reads_back, vm_power_loss, write_checked};
use axha_lab::service::IMAP_PORT;
use axha_lab::{Lab, LabSpec, Link, DRBD_RESOURCE, VM_INSTANCE, VM_MOUNTPOINT, VM_SERVICE_IP};

const T: Duration = Duration::from_secs(300);
const GROUP: &str = "grp-mail";
const DRBD_RSC: &str = "drbd-r0";
const CLONE: &str = "drbd-r0-clone";

type Times = Vec<(String, Duration)>;
/// A scenario: runs on a healthy lab, returns its measured times.
type Scenario = fn(&Lab, &mut Shared) -> Times;

/// What one scenario leaves for the next (the node a power loss fenced).
#[derive(Default)]
struct Shared {
    fenced: Option<String>,
    /// Written on the new Primary while the fenced node was down: it must resync.
    written_while_down: Option<axha_lab::scenario::Written>,
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The node where DRBD is Promoted, as Pacemaker sees it.
fn promoted(lab: &Lab) -> Vec<String> {
    lab.view_any()
        .map(|v| {
            v.resources
                .iter()
                .filter(|r| r.id == DRBD_RSC && r.role == "Promoted")
                .flat_map(|r| r.nodes.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn other(lab: &Lab, node: &str) -> String {
    lab.nodes()
        .into_iter()
        .find(|n| n != node)
        .expect("two nodes")
}

/// DRBD's own role of the resource on `node` (`Primary`, `Secondary`), `None` when the node
/// is off or does not answer.
fn drbd_role(lab: &Lab, node: &str) -> Option<String> {
    if !lab.is_alive(node) {
        return None;
    }
    let out = lab
        .run(
            node,
            &["drbdadm", "role", DRBD_RESOURCE],
            Duration::from_secs(20),
        )
        .ok()?;
    out.status.success().then(|| {
        out.stdout_str()
            .trim()
            .split('/')
            .next()
            .unwrap_or("")
            .to_string()
    })
}

fn imap(lab: &Lab) -> Option<String> {
    lab.greeting_outside(VM_SERVICE_IP, IMAP_PORT)
        .filter(|g| g.starts_with("* OK"))
}

fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    let done = Deadline::after(timeout).poll(Duration::from_millis(500), || ok().then_some(()));
    assert!(
        done.is_some(),
        "timed out after {timeout:?} waiting for {what}"
    );
    t.elapsed()
}

/// The instance answers IMAP from outside, on `node` (its greeting names the host).
fn wait_answering_on(lab: &Lab, node: &str, timeout: Duration) -> Duration {
    let tag = format!("] {node} ");
    wait(
        &format!("{VM_INSTANCE} answering on {node}"),
        timeout,
        || imap(lab).is_some_and(|g| g.contains(&tag)),
    )
}

fn crm(lab: &Lab, node: &str, argv: &[&str]) -> String {
    lab.run_ok(node, argv, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{argv:?} on {node}: {e}"))
        .stdout_str()
}

fn constraints(lab: &Lab, node: &str) -> String {
    crm(
        lab,
        node,
        &["cibadmin", "--query", "--scope", "constraints"],
    )
}

fn fence_events(lab: &Lab) -> usize {
    lab.view_any().map(|v| v.fencing.len()).unwrap_or(0)
}

/// The last call id of `task` of a clone instance or primitive on `node` (clone instances
/// keep their `:N` suffix in the history).
fn last_call(ops: &[OpRecord], rsc: &str, node: &str, task: &str) -> Option<i64> {
    ops.iter()
        .filter(|o| {
            o.node == node
                && (o.resource == rsc || o.resource.starts_with(&format!("{rsc}:")))
                && o.task == task
        })
        .map(|o| o.call_id)
        .max()
}

fn main() {
    if !axha_e2e::is_root() {
        eprintln!("{}", axha_e2e::NEED_ROOT);
        return;
    }
    // Names (substrings) from the command line, or from AXHA_VM_SCENARIOS (comma-separated:
    // make fresh-check runs only the first scenario on its clean root).
    let mut filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let Ok(v) = std::env::var("AXHA_VM_SCENARIOS") {
        filters.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string));
    }
    let scenarios: Vec<(&str, Scenario)> = vec![
        ("start_from_nothing", start_from_nothing),
        ("instance_crash_restarts_in_place", instance_crash),
        ("controlled_switchover", controlled_switchover),
        ("replication_link_cut", replication_link_cut),
        ("power_loss_of_primary", power_loss_of_primary),
        ("fenced_node_rejoins_as_secondary", fenced_node_rejoins),
        ("cluster_link_cut_fence_race", cluster_link_cut),
    ];
    let chosen: Vec<_> = scenarios
        .into_iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    if chosen.is_empty() {
        println!("no scenario matches {filters:?}");
        return;
    }
    let t0 = Instant::now();
    let mut spec = LabSpec::two_node_vm(&lab_name("vm"), binaries_dir());
    spec.helper_bin = Some(bin(axha_lab::HELPER_NAME));
    let lab = Lab::up(spec).unwrap_or_else(|e| panic!("two-node VM lab up: {e}"));
    println!(
        "lab up (assets, 2 VMs, DRBD first sync, template loaded, IMAP answering) in {}",
        secs(t0.elapsed())
    );
    let mut shared = Shared::default();
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, f) in chosen {
        let t = Instant::now();
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            lab.restore_health(T)
                .expect("a healthy cluster to start from");
            f(&lab, &mut shared)
        }));
        match r {
            Ok(times) => {
                passed += 1;
                let figures: Vec<String> = times
                    .iter()
                    .map(|(k, d)| format!("{k} {}", secs(*d)))
                    .collect();
                println!(
                    "scenario {name} ... ok ({}; {})",
                    secs(t.elapsed()),
                    figures.join(", ")
                );
            }
            Err(_) => {
                println!("scenario {name} ... FAILED ({})", secs(t.elapsed()));
                failed.push(name);
            }
        }
    }
    println!(
        "two_node_vm: {passed} passed; {} failed {failed:?}; {} in all",
        failed.len(),
        secs(t0.elapsed())
    );
    if failed.is_empty() {
        let footprint = axha_e2e::lab::Footprint::of(&lab);
        lab.down().expect("lab down");
        footprint.assert_gone();
        println!("lab down: no namespace, process (QEMU, BMC) or state directory left");
    } else {
        drop(lab); // torn down too; the console logs are in its state directory until then
        std::process::exit(101);
    }
}

/// Start from nothing: DRBD's first sync, one Primary, the file system mounted and the
/// service IP up there only, the instance answering IMAP from outside the guests.
fn start_from_nothing(lab: &Lab, _: &mut Shared) -> Times {
    let p = promoted(lab);
    assert_eq!(p.len(), 1, "exactly one Promoted DRBD instance: {p:?}");
    let p = p[0].clone();
    let s = other(lab, &p);
    assert_eq!(drbd_role(lab, &p).as_deref(), Some("Primary"));
    assert_eq!(drbd_role(lab, &s).as_deref(), Some("Secondary"));
    let mounts = |n: &str| crm(lab, n, &["cat", "/proc/mounts"]);
    assert!(
        mounts(&p).contains(&format!("/dev/drbd0 {VM_MOUNTPOINT} ext4")),
        "{}",
        mounts(&p)
    );
    assert!(!mounts(&s).contains("/dev/drbd0"), "{}", mounts(&s));
    let addrs = |n: &str| crm(lab, n, &["ip", "-o", "-4", "addr", "show"]);
    assert!(
        addrs(&p).contains(&format!("{VM_SERVICE_IP}/24")),
        "{}",
        addrs(&p)
    );
    assert!(!addrs(&s).contains(&VM_SERVICE_IP.to_string()));
    let g = imap(lab).expect("IMAP greeting from outside");
    assert!(
        g.contains(&format!("] {p} ")),
        "the greeting names the Primary {p}: {g}"
    );
    let up = std::fs::read_to_string(lab.state_dir().join("up-seconds")).unwrap_or_default();
    let up: f64 = up.trim().parse().unwrap_or(0.0);
    vec![("lab up".into(), Duration::from_secs_f64(up))]
}

/// The instance's server dies: Pacemaker restarts it in place; DRBD is neither demoted nor
/// promoted anywhere.
fn instance_crash(lab: &Lab, _: &mut Shared) -> Times {
    let p = promoted(lab)[0].clone();
    let before = history::operations(lab, &p);
    let promote_before = last_call(&before, DRBD_RSC, &p, "promote");
    let start_before = last_call(&before, VM_INSTANCE, &p, "start");
    let t = Instant::now();
    crm(lab, &p, &["sh", "-c", "kill -9 $(pidof axigen)"]);
    let answering = wait_answering_on(lab, &p, T);
    history::settle(lab, &p, T);
    let after = history::operations(lab, &p);
    let failure = history::last_failure(&after, VM_INSTANCE, &p);
    assert!(failure.is_some(), "the monitor recorded the crash");
    assert!(
        last_call(&after, VM_INSTANCE, &p, "start") > start_before,
        "restarted on {p}"
    );
    assert_eq!(
        last_call(&after, DRBD_RSC, &p, "promote"),
        promote_before,
        "no new promotion"
    );
    assert_eq!(
        last_call(&after, DRBD_RSC, &p, "demote"),
        last_call(&before, DRBD_RSC, &p, "demote")
    );
    assert_eq!(promoted(lab), vec![p.clone()]);
    let s = other(lab, &p);
    let ops_s = history::operations(lab, &s);
    assert_eq!(
        last_call(&ops_s, DRBD_RSC, &s, "promote"),
        last_call(&before, DRBD_RSC, &s, "promote")
    );
    crm(
        lab,
        &p,
        &["crm_resource", "--cleanup", "--resource", VM_INSTANCE],
    );
    let _ = t;
    vec![("crash to answering".into(), answering)]
}

/// `crm resource move`: the group and the DRBD Primary move to the other node, nobody is
/// fenced, data written before reads back there.
fn controlled_switchover(lab: &Lab, _: &mut Shared) -> Times {
    let p = promoted(lab)[0].clone();
    let s = other(lab, &p);
    let w = write_checked(lab, &p, &format!("{VM_MOUNTPOINT}/axha-move.bin"), 4).expect("write");
    let fenced_before = fence_events(lab);
    let offs_before = history::bmc_power_offs_all(lab);
    let t = Instant::now();
    crm(lab, &p, &["crm", "resource", "move", GROUP, &s]);
    let answering = wait_answering_on(lab, &s, T);
    history::settle(lab, &s, T);
    assert_eq!(
        promoted(lab),
        vec![s.clone()],
        "DRBD Primary moved with the group"
    );
    assert!(
        reads_back(lab, &s, &w).expect("read"),
        "data written before the move reads back"
    );
    assert_eq!(fence_events(lab), fenced_before, "nobody was fenced");
    assert_eq!(
        history::bmc_power_offs_all(lab),
        offs_before,
        "no BMC switched power off"
    );
    crm(lab, &s, &["crm", "resource", "clear", GROUP]);
    history::settle(lab, &s, T);
    assert_eq!(
        promoted(lab),
        vec![s.clone()],
        "no move back after the clear (stickiness)"
    );
    let _ = t;
    vec![("move to answering".into(), answering)]
}

/// The replication link is cut with both nodes up: the Primary's fence-peer handler places its
/// constraint, which keeps the Outdated peer from being promoted even when the Primary goes
/// into standby; the link back, DRBD resyncs and the peer's after-resync handler removes that
/// constraint and nothing else.
fn replication_link_cut(lab: &Lab, _: &mut Shared) -> Times {
    let p = promoted(lab)[0].clone();
    let s = other(lab, &p);
    let own = format!("drbd-fence-by-handler-{DRBD_RESOURCE}-{CLONE}");
    // An operator's constraint whose id looks like another resource's handler constraint:
    // --unfence must leave it alone. It bans fence-n1 from n1, where it never runs anyway.
    let decoy = "drbd-fence-by-handler-r9-drbd-r9-clone";
    crm(
        lab,
        &p,
        &[
            "cibadmin",
            "--create",
            "--scope",
            "constraints",
            "--xml-text",
            &format!(r#"<rsc_location id="{decoy}" rsc="fence-n1" node="n1" score="-INFINITY"/>"#),
        ],
    );
    let ops_s = history::operations(lab, &s);
    let promote_s = last_call(&ops_s, DRBD_RSC, &s, "promote");
    let t = Instant::now();
    lab.cut_link(&s, Link::Replication).expect("cut");
    let placed = wait("the handler's constraint", T, || {
        constraints(lab, &p).contains(&own)
    });
    let cons = constraints(lab, &p);
    assert!(
        cons.contains(r#"role="Promoted""#) || cons.contains(r#"role="Master""#),
        "{cons}"
    );
    // The Primary leaves: nothing may promote the Outdated peer.
    crm(
        lab,
        &p,
        &[
            "crm_attribute",
            "--node",
            &p,
            "--name",
            "standby",
            "--update",
            "on",
            "--lifetime",
            "forever",
        ],
    );
    history::settle(lab, &s, T);
    let ops = history::operations(lab, &s);
    assert_eq!(
        last_call(&ops, DRBD_RSC, &s, "promote"),
        promote_s,
        "the Outdated peer was not promoted"
    );
    assert_ne!(drbd_role(lab, &s).as_deref(), Some("Primary"));
    assert!(
        promoted(lab).is_empty(),
        "nothing is Promoted while the only UpToDate node stands by"
    );
    crm(
        lab,
        &p,
        &[
            "crm_attribute",
            "--node",
            &p,
            "--name",
            "standby",
            "--delete",
        ],
    );
    wait_answering_on(lab, &p, T);
    let t_back = Instant::now();
    lab.restore_link(&s, Link::Replication).expect("restore");
    let unfenced = wait("the handler's constraint removed", T, || {
        !constraints(lab, &p).contains(&own)
    });
    wait("resynced", T, || lab.drbd_dstate(&s) == "UpToDate/UpToDate");
    let cons = constraints(lab, &p);
    assert!(
        cons.contains(decoy),
        "--unfence removed only its own constraint: {cons}"
    );
    crm(
        lab,
        &p,
        &[
            "cibadmin",
            "--delete",
            "--xml-text",
            &format!(r#"<rsc_location id="{decoy}"/>"#),
        ],
    );
    let _ = (t, t_back);
    vec![
        ("cut to constraint placed".into(), placed),
        ("link back to constraint removed".into(), unfenced),
    ]
}

/// Power loss of the Primary: fenced through its BMC, the survivor promoted, the instance
/// answering on the service IP, a file written and fsync'd before the loss intact.
fn power_loss_of_primary(lab: &Lab, shared: &mut Shared) -> Times {
    let f = vm_power_loss(lab, T).expect("failover");
    println!("  power loss timeline:");
    for m in &f.failover.moments {
        println!("    [{:>6.2} s] {}", m.at.as_secs_f64(), m.what);
    }
    println!("  demo JSON: {}", f.to_json());
    assert!(
        f.data_intact,
        "the fsync'd file reads back with the same checksum"
    );
    assert_ne!(f.failover.new_node, f.failover.victim);
    assert!(f.failover.fenced.is_some(), "the victim was fenced");
    let v = lab.view_any().expect("view");
    assert!(
        v.fenced(&f.failover.victim)
            .iter()
            .any(|e| e.status == "success"),
        "the fencing history records the victim fenced: {:?}",
        v.fencing
    );
    // Written while the victim is down: it must come to the victim by resync.
    let w = write_checked(
        lab,
        &f.failover.new_node,
        &format!("{VM_MOUNTPOINT}/axha-while-down.bin"),
        4,
    )
    .expect("write while down");
    shared.fenced = Some(f.failover.victim.clone());
    shared.written_while_down = Some(w);
    let mut times = vec![
        ("answering".into(), f.failover.answering),
        ("detection floor".into(), f.detection_floor),
    ];
    if let Some(d) = f.failover.fenced {
        times.push(("fenced".into(), d));
    }
    times
}

/// The node fenced by the power loss boots (the fence action rebooted it through its BMC): it
/// rejoins as Secondary, resyncs what was written meanwhile, and the instance stays where it
/// is (no automatic failback).
fn fenced_node_rejoins(lab: &Lab, shared: &mut Shared) -> Times {
    let Some(victim) = shared.fenced.clone() else {
        panic!("needs power_loss_of_primary first (run the scenarios in order)");
    };
    let p = promoted(lab)[0].clone();
    assert_ne!(p, victim);
    let ops = history::operations(lab, &p);
    let start_before = last_call(&ops, VM_INSTANCE, &p, "start");
    // restore_health() already waited for the victim to be back, connected and UpToDate.
    assert_eq!(drbd_role(lab, &victim).as_deref(), Some("Secondary"));
    let log = crm(lab, &victim, &["dmesg"]);
    assert!(
        log.contains("Resync done") || log.contains("resync done"),
        "the rejoined node resynced (DRBD's kernel log): {}",
        log.lines()
            .filter(|l| l.contains("drbd"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Both promotion scores at the top before judging: the rejoined node reports its own on
    // its next monitor after the resync, and a failback would follow that.
    let top = |n: &str| {
        lab.run(
            &p,
            &[
                "crm_attribute",
                "--node",
                n,
                "--name",
                "master-drbd-r0",
                "--lifetime",
                "reboot",
                "--query",
                "--quiet",
            ],
            Duration::from_secs(20),
        )
        .map(|o| o.stdout_str().trim() == "10000")
        .unwrap_or(false)
    };
    let scored = wait("both promotion scores at the top", T, || {
        top(&victim) && top(&p)
    });
    history::settle(lab, &p, T);
    assert_eq!(promoted(lab), vec![p.clone()], "no failback");
    let ops = history::operations(lab, &p);
    assert_eq!(
        last_call(&ops, VM_INSTANCE, &p, "start"),
        start_before,
        "the instance was not restarted"
    );
    let up = lab
        .run_ok(
            &victim,
            &["cut", "-d.", "-f1", "/proc/uptime"],
            Duration::from_secs(10),
        )
        .map(|o| o.stdout_str().trim().parse::<u64>().unwrap_or(0))
        .unwrap_or(0);
    let _ = shared.written_while_down.take();
    vec![
        ("rejoined node uptime".into(), Duration::from_secs(up)),
        ("until both scores at the top".into(), scored),
    ]
}

/// The cluster link of n2 is cut, both nodes up: the fence race with the template's delay on
/// fencing n1 ends with n2 powered off by n1 and only n1 running; DRBD roles sampled on both
/// nodes throughout never show two Primaries.
fn cluster_link_cut(lab: &Lab, _: &mut Shared) -> Times {
    let fenced_before: Vec<usize> = lab
        .nodes()
        .iter()
        .map(|n| lab.view_any().map(|v| v.fenced(n).len()).unwrap_or(0))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<(Duration, Vec<Option<String>>)>::new()));
    let t = Instant::now();
    let sampler = {
        let (stop, samples) = (stop.clone(), samples.clone());
        let lab = Lab::open(lab.name(), Some(lab.state_dir())).expect("attach");
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let roles: Vec<Option<String>> =
                    lab.nodes().iter().map(|n| drbd_role(&lab, n)).collect();
                samples.lock().unwrap().push((t.elapsed(), roles));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    lab.cut_link("n2", Link::Cluster).expect("cut");
    let fenced = wait("n2 powered off by n1", T, || {
        !lab.is_alive("n2") || {
            lab.view("n1")
                .map(|v| v.fenced("n2").len() > fenced_before[1])
                .unwrap_or(false)
        }
    });
    let answering = wait_answering_on(lab, "n1", T);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    sampler.join().expect("sampler");
    let v = lab.view("n1").expect("view from n1");
    assert!(
        v.fenced("n2").len() > fenced_before[1],
        "n2 fenced: {:?}",
        v.fencing
    );
    assert_eq!(
        v.fenced("n1").len(),
        fenced_before[0],
        "n1 was not fenced: {:?}",
        v.fencing
    );
    assert!(lab.is_alive("n1"));
    let samples = samples.lock().unwrap();
    let both: Vec<_> = samples
        .iter()
        .filter(|(_, r)| r.iter().filter(|x| x.as_deref() == Some("Primary")).count() > 1)
        .collect();
    assert!(both.is_empty(), "two Primaries at once: {both:?}");
    assert!(
        samples.len() > 5,
        "roles were sampled throughout ({} samples)",
        samples.len()
    );
    println!(
        "  {} role samples over {}, never two Primaries",
        samples.len(),
        secs(t.elapsed())
    );
    vec![
        ("cut to n2 fenced".into(), fenced),
        ("cut to answering on n1".into(), answering),
    ]
}
