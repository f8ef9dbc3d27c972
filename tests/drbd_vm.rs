use axha_e2e::drbdvm::{Assets, Overlay, VmPair};
use std::time::{Duration, Instant};

fn rec(pair: &mut VmPair, node: u8, name: &str) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/drbd/tests/fixtures/84");
    std::fs::create_dir_all(&dir).unwrap();
    let vm = pair.vm(node);
    for (suffix, cmd) in [
        ("events2", "drbdsetup events2 --now r0"),
        ("events2-stats", "drbdsetup events2 --now --statistics r0"),
        ("status", "drbdadm status r0"),
    ] {
        let r = vm.sh(cmd, Duration::from_secs(30));
        std::fs::write(
            dir.join(format!("{name}.{suffix}.txt")),
            format!("{}\n", r.out),
        )
        .unwrap();
        eprintln!("== {name} {cmd} rc={}\n{}", r.rc, r.out);
    }
}

#[test]
#[ignore = "re-records crates/drbd/tests/fixtures/84 from the VMs; run by hand with --ignored"]
fn record_fixtures() {
    let assets = Assets::ensure();
    let t = Instant::now();
    let mut pair = VmPair::boot(&assets, &Overlay::new());
    rec(&mut pair, 1, "down");
    for n in [1, 2] {
        pair.vm(n)
            .ok("yes yes | drbdadm create-md r0 >/dev/null 2>&1; drbdadm up r0");
    }
    pair.vm(1).wait_until(
        "connected",
        "drbdadm cstate r0",
        Duration::from_secs(60),
        |s| s.trim() == "Connected",
    );
    rec(&mut pair, 1, "connected-inconsistent");
    pair.vm(1).ok("drbdadm primary --force r0");
    std::thread::sleep(Duration::from_millis(300));
    rec(&mut pair, 1, "syncsource-primary");
    rec(&mut pair, 2, "synctarget-secondary");
    pair.vm(1).wait_until(
        "uptodate",
        "drbdadm dstate r0",
        Duration::from_secs(120),
        |s| s.trim() == "UpToDate/UpToDate",
    );
    rec(&mut pair, 1, "connected-primary-uptodate");
    rec(&mut pair, 2, "connected-secondary-uptodate");
    pair.vm(2).ok("drbdadm down r0");
    pair.vm(1).wait_until(
        "peer gone",
        "drbdadm cstate r0",
        Duration::from_secs(60),
        |s| s.trim() == "WFConnection",
    );
    rec(&mut pair, 1, "primary-peer-lost");
    pair.vm(1)
        .ok("drbdadm secondary r0; drbdadm down r0; drbdadm up r0");
    std::thread::sleep(Duration::from_millis(500));
    rec(&mut pair, 1, "secondary-alone-after-restart");
    pair.vm(2)
        .ok("drbdadm up r0; drbdadm disconnect r0; drbdadm outdate r0");
    rec(&mut pair, 2, "standalone-outdated");
    eprintln!("{}", pair.vm(1).ok("drbdadm role r0; drbdadm dstate r0; drbdadm cstate r0; cat /proc/drbd; drbdadm --version"));
    eprintln!("total {:?}", t.elapsed());
}
