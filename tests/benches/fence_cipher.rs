//! Cipher suite 17 against suite 3: fence_axigen_ipmi `status` and `reboot` (verified off,
//! then verified on) with each suite, and ipmitool `chassis power status` with each suite
//! (a client nobody here wrote, as the reference for what a suite costs), all against the
//! same BMC: `axha-bmc-lanplus`, the project's RMCP+ responder (ipmi_sim 2.0.33 has no suite
//! 17), on 127.0.0.1. Calls interleaved in one run; medians, and the ratio 17 / 3.
//!
//! Run: `cargo build --release -p fence_axigen_ipmi -p axha-bmc && AXHA_BIN_DIR=$PWD/target/release
//! cargo bench -p axha-e2e --bench fence_cipher` (`AXHA_BENCH_CALLS=N`, default 15).

use std::time::{Duration, Instant};

use axha_e2e::bmc::{start_lanplus_bmc_with, TestBmc, ADMIN};
use axha_e2e::{bin, Cmd, Deadline};

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One fence_axigen_ipmi action, as Pacemaker runs it (stdin), timed; panics on a failure.
fn agent(b: &TestBmc, action: &str, suite: u8) -> Duration {
    let input = format!(
        "action={action}\nip=127.0.0.1\nipport={}\nusername={}\npassword={}\ncipher={suite}\n",
        b.addr().port(),
        ADMIN.0,
        ADMIN.1
    );
    let t = Instant::now();
    let out = Cmd::new(bin("fence_axigen_ipmi"))
        .stdin(input)
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("agent runs");
    let d = t.elapsed();
    assert_eq!(
        out.code(),
        Some(0),
        "{action} with suite {suite}: {}",
        out.stderr_str()
    );
    d
}

/// `ipmitool -I lanplus -C <suite> chassis power status`, timed; the password from a file.
fn ipmitool(b: &TestBmc, suite: u8, pwfile: &std::path::Path) -> Duration {
    let a = b.addr();
    let t = Instant::now();
    let out = Cmd::new("ipmitool")
        .args(["-I", "lanplus", "-C", &suite.to_string()])
        .args(["-H", &a.ip().to_string(), "-p", &a.port().to_string()])
        .args(["-U", ADMIN.0, "-L", "ADMINISTRATOR", "-N", "1", "-R", "2"])
        .arg("-f")
        .arg(pwfile)
        .args(["chassis", "power", "status"])
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("ipmitool runs");
    let d = t.elapsed();
    assert!(
        out.status.success() && out.stdout_str().contains("Chassis Power is on"),
        "ipmitool -C {suite}: {}{}",
        out.stdout_str(),
        out.stderr_str()
    );
    d
}

fn main() {
    let calls: usize = axha_e2e::bench_count("AXHA_BENCH_CALLS", 15);
    let b = start_lanplus_bmc_with(|s| s);
    let pwfile = b.dir().join("bench-pw");
    std::fs::write(&pwfile, format!("{}\n", ADMIN.1)).expect("password file");
    let names = [
        "fence_axigen_ipmi status",
        "fence_axigen_ipmi reboot",
        "ipmitool chassis power status",
    ];
    // [row][suite 3, suite 17]
    let mut t: Vec<[Vec<Duration>; 2]> = (0..names.len()).map(|_| [vec![], vec![]]).collect();
    for _ in 0..calls {
        for (k, suite) in [3u8, 17].into_iter().enumerate() {
            t[0][k].push(agent(&b, "status", suite));
            t[1][k].push(agent(&b, "reboot", suite));
            t[2][k].push(ipmitool(&b, suite, &pwfile));
        }
    }
    println!("| action | suite 3 median | suite 17 median | 17 / 3 |");
    println!("|---|---|---|---|");
    for (name, [s3, s17]) in names.iter().zip(t.iter_mut()) {
        let (m3, m17) = (median(s3), median(s17));
        println!(
            "| {name} | {} | {} | {:.2} |",
            ms(m3),
            ms(m17),
            m17.as_secs_f64() / m3.as_secs_f64()
        );
    }
    println!("({calls} calls per action and suite, interleaved)");
}
