//! Benchmark (not a test): fence_axigen_ipmi against fence_ipmilan (`lanplus=1 cipher=3`) on
//! the same ipmi_sim BMC, in one run, interleaved: status, monitor, off, on, reboot.
//! Prints a markdown table of medians and ratios (fence_ipmilan / fence_axigen_ipmi).
//!
//! ```text
//! cargo build --release -p axha-bmc -p fence_axigen_ipmi
//! cargo run --release -p fence_axigen_ipmi --example bench_vs_ipmilan -- [RUNS]
//! ```
//! Both agents run with their default timings (fence_ipmilan: power_wait=2); fence_ipmilan
//! is also measured with power_wait=0, its fastest setting.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axha_bmc::{Bmc, BmcSpec, BmcUser, Privilege};
use axha_exec::{Cmd, Deadline};

const USER: &str = "admin";
const PASSWORD: &str = "secret";

fn ours() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .context("example sits in target/<profile>/examples")?;
    let p = dir.join("fence_axigen_ipmi");
    if !p.is_file() {
        bail!(
            "{} missing: cargo build --release -p fence_axigen_ipmi",
            p.display()
        );
    }
    Ok(p)
}

fn time_agent(program: &PathBuf, stdin: &str, expect: i32) -> Result<Duration> {
    let t = Instant::now();
    let out = Cmd::new(program)
        .stdin(stdin.as_bytes().to_vec())
        .run(&Deadline::after(Duration::from_secs(120)))?;
    let took = t.elapsed();
    if out.code() != Some(expect) {
        bail!(
            "{} gave {:?} (expected {expect}): {}",
            program.display(),
            out.code(),
            out.stderr_str()
        );
    }
    Ok(took)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()
        .context("RUNS must be a number")?
        .unwrap_or(5);
    let tmp = tempfile::tempdir()?;
    let port = 47000 + (std::process::id() % 2000) as u16;
    let localhost: IpAddr = "127.0.0.1".parse()?;
    let bmc = Bmc::start(
        BmcSpec::new(tmp.path().join("bmc"), localhost, port).user(BmcUser::new(
            USER,
            PASSWORD,
            Privilege::Admin,
        )),
    )?;
    let ours = ours()?;
    let ipmilan = PathBuf::from("/usr/sbin/fence_ipmilan");
    let common =
        format!("ip=127.0.0.1\nipport={port}\nusername={USER}\npassword={PASSWORD}\ncipher=3\n");
    let theirs_extra = "lanplus=1\n";

    // (action, power before, expected exit code)
    let ops: [(&str, bool, i32); 5] = [
        ("status", true, 0),
        ("monitor", true, 0),
        ("off", true, 0),
        ("on", false, 0),
        ("reboot", true, 0),
    ];
    println!("| action | fence_axigen_ipmi median | fence_ipmilan median | ratio | fence_ipmilan power_wait=0 median | ratio |");
    println!("|---|---|---|---|---|---|");
    for (action, power_before, expect) in ops {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            bmc.set_power(power_before)?;
            a.push(time_agent(
                &ours,
                &format!("action={action}\n{common}"),
                expect,
            )?);
            if action == "off" && bmc.power()? {
                bail!("fence_axigen_ipmi reported off but the BMC is on");
            }
            bmc.set_power(power_before)?;
            b.push(time_agent(
                &ipmilan,
                &format!("action={action}\n{common}{theirs_extra}"),
                expect,
            )?);
            // fence_ipmilan without its default 2 s power_wait: its fastest configuration.
            bmc.set_power(power_before)?;
            c.push(time_agent(
                &ipmilan,
                &format!("action={action}\n{common}{theirs_extra}power_wait=0\n"),
                expect,
            )?);
        }
        let (ma, mb, mc) = (median(&mut a), median(&mut b), median(&mut c));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {action} | {:.1} ms | {:.1} ms | {:.1}x | {:.1} ms | {:.1}x |",
            ms(ma),
            ms(mb),
            mb.as_secs_f64() / ma.as_secs_f64(),
            ms(mc),
            mc.as_secs_f64() / ma.as_secs_f64()
        );
    }
    println!("\n{runs} runs per action and agent, interleaved, one ipmi_sim BMC on 127.0.0.1.");
    bmc.stop()?;
    Ok(())
}
