//! fence_axigen_ipmi's `verbose_level` and `debug_file`, as fence-agents define them, against
//! a real ipmi_sim BMC: the debug file holds the RMCP+ session steps and each command with its
//! time, whatever the verbosity, and never the password; `verbose_level` sets what stderr shows.

use std::time::Duration;

use axha_e2e::bmc::{self, ADMIN};
use axha_e2e::instance::TempDir;
use axha_e2e::{bin, Cmd, Deadline};

fn stdin(text: &str) -> axha_exec::Output {
    Cmd::new(bin("fence_axigen_ipmi"))
        .stdin(text.as_bytes().to_vec())
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("agent runs")
}

#[test]
fn debug_file_records_the_exchange_and_no_secret() {
    let b = bmc::start_bmc();
    let dir = TempDir::new("fence-debug");
    let file = dir.path().join("debug.log");
    let (user, pw) = ADMIN;
    let base = format!(
        "ip=127.0.0.1\nipport={}\nusername={user}\npassword={pw}\ncipher=3\n",
        b.addr().port()
    );

    // Level 0 (the default): stderr shows no step, the debug file holds them all.
    let out = stdin(&format!(
        "action=reboot\n{base}debug_file={}\n",
        file.display()
    ));
    assert_eq!(out.code(), Some(0), "{}", out.stderr_str());
    assert!(!out.stderr_str().contains("RMCP+"), "{}", out.stderr_str());
    let text = std::fs::read_to_string(&file).expect("debug file written");
    eprintln!("debug file:\n{text}");
    for want in [
        "DEBUG: fence_axigen_ipmi reboot",
        "RMCP+ session to 127.0.0.1:",
        "Open Session, RAKP 1-4, Set Session Privilege",
        "RMCP+ session established in ",
        "Chassis Control PowerDown -> accepted in ",
        "Get Chassis Status -> power off in ",
        "Chassis Control PowerUp -> accepted in ",
        "RMCP+ session closed, ",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    assert!(
        !text.contains(pw),
        "the password is in the debug file:\n{text}"
    );
    // Every line starts with its time, as fence-agents' logging prints it.
    for line in text.lines() {
        let stamp = line.get(..23).unwrap_or("");
        assert!(
            stamp.len() == 23 && stamp.as_bytes()[4] == b'-' && stamp.as_bytes()[19] == b',',
            "{line}"
        );
    }

    // verbose_level=1 shows the steps on stderr, 2 also each status answer.
    let one = stdin(&format!("action=status\n{base}verbose_level=1\n"));
    assert_eq!(one.code(), Some(0), "{}", one.stderr_str());
    assert!(one.stderr_str().contains("RMCP+ session established"));
    assert!(!one.stderr_str().contains("Get Chassis Status"));
    let two = stdin(&format!("action=status\n{base}verbose_level=2\n"));
    assert!(two.stderr_str().contains("Get Chassis Status -> power on"));
    assert!(!two.stderr_str().contains(pw));
    // -vv on the command line is level 2, as fence-agents count it.
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, pw).unwrap();
    let port = b.addr().port().to_string();
    let vv = Cmd::new(bin("fence_axigen_ipmi"))
        .args([
            "-o",
            "status",
            "-a",
            "127.0.0.1",
            "-u",
            &port,
            "-l",
            user,
            "-C",
            "3",
            "-vv",
        ])
        .arg(format!("--password-file={}", pw_file.display()))
        .run(&Deadline::after(Duration::from_secs(60)))
        .expect("agent runs");
    assert_eq!(vv.code(), Some(0), "{}", vv.stderr_str());
    assert!(
        vv.stderr_str().contains("Get Chassis Status -> power on"),
        "{}",
        vv.stderr_str()
    );
    // verbose=1 alone is level 1.
    let v = stdin(&format!("action=status\n{base}verbose=1\n"));
    assert!(v.stderr_str().contains("RMCP+ session established"));

    // A debug file that cannot be written and a level that is not a number: exit 1, reason.
    let bad = stdin(&format!(
        "action=status\n{base}debug_file=/nonexistent/dir/f\n"
    ));
    assert_eq!(bad.code(), Some(1));
    assert!(
        bad.stderr_str().contains("debug_file"),
        "{}",
        bad.stderr_str()
    );
    let bad = stdin(&format!("action=status\n{base}verbose_level=loud\n"));
    assert_eq!(bad.code(), Some(1));
    assert!(
        bad.stderr_str().contains("verbose_level"),
        "{}",
        bad.stderr_str()
    );

    // The metadata declares both, as fence-agents do.
    let md = stdin("action=metadata\n").stdout_str();
    assert!(md.contains("<parameter name=\"verbose_level\""), "{md}");
    assert!(md.contains("<parameter name=\"debug_file\""), "{md}");
}
