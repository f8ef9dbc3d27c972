//! Monitor cost of `ocf:axigen:instance` (depth 0: process identity + CLI `GET VERSION`)
//! against `ocf:heartbeat:anything` (pid file + `kill -0`) watching the same `axigen-sim`
//! (the Axigen stand-in), in one run, calls interleaved. Wall and CPU time per call (CPU of
//! the agent and its children, from getrusage), medians, and the ratios.
//!
//! Run: `make bench` (or `cargo build --release --workspace --bins &&
//! cargo bench -p axha-e2e --bench instance_monitor`). `AXHA_BENCH_CALLS` sets the count.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axha_e2e::instance::{run_agent_bin, SimInstance};

fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let calls: usize = axha_e2e::bench_count("AXHA_BENCH_CALLS", 200);
    let bins = axha_e2e::bench_bins();
    let ours = bins.join("instance");
    assert!(
        ours.exists(),
        "{} missing: cargo build --release --workspace --bins",
        ours.display()
    );
    std::env::set_var("AXHA_BIN_DIR", &bins);
    let inst = SimInstance::new("bench", "127.0.0.1");
    let env = inst.env();
    let start = run_agent_bin(&ours, "start", &env, &[]);
    assert_eq!(start.code, 0, "{start:?}");
    let pid = inst.recorded_pid().expect("recorded");
    // ocf:heartbeat:anything watches the same server through a pid file.
    let pidfile = inst.dir.path().join("anything.pid");
    std::fs::write(&pidfile, format!("{pid}\n")).unwrap();
    let anything = PathBuf::from("/usr/lib/ocf/resource.d/heartbeat/anything");
    let mut aenv = BTreeMap::new();
    aenv.insert("OCF_ROOT".to_string(), "/usr/lib/ocf".to_string());
    aenv.insert("OCF_RESOURCE_INSTANCE".to_string(), "ax1".to_string());
    aenv.insert(
        "HA_RSCTMP".to_string(),
        inst.state_dir.display().to_string(),
    );
    aenv.insert(
        "OCF_RESKEY_binfile".to_string(),
        bins.join("axigen-sim").display().to_string(),
    );
    aenv.insert(
        "OCF_RESKEY_pidfile".to_string(),
        pidfile.display().to_string(),
    );
    let probe = run_agent_bin(&anything, "monitor", &aenv, &[]);
    assert_eq!(probe.code, 0, "anything sees the server: {probe:?}");
    let interval = [("OCF_RESKEY_CRM_meta_interval", "10000")];
    let (mut ow, mut oc, mut aw, mut ac) = (vec![], vec![], vec![], vec![]);
    for _ in 0..calls {
        for (agent, e, wall, cpu) in [
            (&ours, &env, &mut ow, &mut oc),
            (&anything, &aenv, &mut aw, &mut ac),
        ] {
            let c0 = children_cpu();
            let t = Instant::now();
            let r = run_agent_bin(agent, "monitor", e, &interval);
            wall.push(t.elapsed());
            cpu.push(children_cpu() - c0);
            assert_eq!(r.code, 0, "{}: {r:?}", agent.display());
        }
    }
    let (owm, ocm, awm, acm) = (
        median(&mut ow),
        median(&mut oc),
        median(&mut aw),
        median(&mut ac),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("monitor, {calls} calls each, interleaved, medians:");
    println!("| agent | wall ms/call | CPU ms/call |");
    println!("|---|---|---|");
    println!(
        "| ocf:axigen:instance (depth 0: identity + CLI GET VERSION) | {:.2} | {:.2} |",
        ms(owm),
        ms(ocm)
    );
    println!(
        "| ocf:heartbeat:anything (pid file + kill -0) | {:.2} | {:.2} |",
        ms(awm),
        ms(acm)
    );
    println!(
        "ratio instance/anything: wall {:.2}, CPU {:.2}",
        owm.as_secs_f64() / awm.as_secs_f64(),
        ocm.as_secs_f64() / acm.as_secs_f64().max(1e-9)
    );
    let stop = run_agent_bin(&ours, "stop", &env, &[]);
    assert_eq!(stop.code, 0, "{stop:?}");
}
