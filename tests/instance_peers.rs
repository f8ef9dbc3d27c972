//! `ocf:axigen:instance` checked by Pacemaker's and resource-agents' own tools: stock
//! `ocf-tester` and `crm_resource --validate`, against `axigen-sim` (the Axigen stand-in:
//! Axigen itself cannot be installed here).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_e2e::instance::{SimInstance, TempDir};
use axha_e2e::{bin, Cmd, Deadline};

/// The agent laid out as installed: `<root>/axigen/instance` (an OCF provider directory).
fn installed_layout(dir: &Path) -> PathBuf {
    let prov = dir.join("ocf").join("axigen");
    std::fs::create_dir_all(&prov).unwrap();
    let agent = prov.join("instance");
    std::fs::copy(bin("instance"), &agent).unwrap();
    agent
}

#[test]
fn stock_ocf_tester_passes() {
    let inst = SimInstance::new("ocft", "127.0.0.1");
    let dir = TempDir::new("ocft-inst");
    let agent = installed_layout(dir.path());
    let out = Cmd::new("ocf-tester")
        .args(["-n", "ax1", "-o"])
        .arg(format!("workdir={}", inst.workdir.display()))
        .arg("-o")
        .arg(format!("binary={}", bin("axigen-sim").display()))
        .arg(&agent)
        .env("HA_RSCTMP", &inst.state_dir)
        .run(&Deadline::after(Duration::from_secs(240)))
        .expect("ocf-tester runs");
    let text = out.stdout_str();
    println!("{text}");
    assert_eq!(out.code(), Some(0), "{text}\n{}", out.stderr_str());
    assert!(text.contains("passed all tests"), "{text}");
    assert!(!text.contains("* rc="), "{text}");
    assert_eq!(
        inst.recorded_pid(),
        None,
        "ocf-tester's final stop left nothing"
    );
}

/// Run `crm_resource --validate` with the agent visible under /usr/lib/ocf/resource.d only
/// inside a private mount namespace (the host's directory is not touched).
fn crm_validate(ocf: &Path, options: &[String]) -> (i32, String) {
    let mut script = String::from(
        "mount -n -t overlay axha-ocf -o lowerdir=\"$1\":/usr/lib/ocf/resource.d \
         /usr/lib/ocf/resource.d || exit 99; shift; \
         exec crm_resource --validate --class ocf --provider axigen --agent instance \"$@\"",
    );
    script.push('\n');
    let mut c = Cmd::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(ocf);
    for o in options {
        c = c.arg("--option").arg(o);
    }
    let out = c.run(&Deadline::after(Duration::from_secs(30))).unwrap();
    let code = out.code().unwrap_or(-1);
    assert_ne!(code, 99, "overlay mount failed: {}", out.stderr_str());
    (code, format!("{}{}", out.stdout_str(), out.stderr_str()))
}

#[test]
fn crm_resource_validate_good_and_bad() {
    axha_e2e::need_root!();
    let inst = SimInstance::new("crmval", "127.0.0.1");
    let dir = TempDir::new("crmval-ocf");
    installed_layout(dir.path());
    let ocf = dir.path().join("ocf");
    let workdir = format!("workdir={}", inst.workdir.display());
    let binary = format!("binary={}", bin("axigen-sim").display());
    let deep = "OCF_CHECK_LEVEL=10".to_string();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec![workdir.clone(), binary.clone()], 0, ""),
        (vec![workdir.clone(), binary.clone(), deep.clone()], 0, ""),
        (vec![], 6, "workdir is not set"),
        (vec!["workdir=relative/dir".into()], 6, "absolute path"),
        (vec![workdir.clone(), "cli_port=0".into()], 6, "cli_port 0"),
        (
            vec![workdir.clone(), "stop_graceful_share=150".into()],
            6,
            "percentage",
        ),
        (
            vec![
                workdir.clone(),
                "binary=/no/such/axigen".into(),
                deep.clone(),
            ],
            5,
            "not found",
        ),
        (
            vec!["workdir=/no/such/dir".into(), binary.clone(), deep.clone()],
            5,
            "does not exist",
        ),
    ];
    for (opts, want, needle) in cases {
        let (code, text) = crm_validate(&ocf, &opts);
        assert_eq!(code, want, "{opts:?}: {text}");
        assert!(text.contains(needle), "{opts:?}: {text}");
    }
}
