//! Helpers for suites that run a lab (`axha-lab`): unique names, the helper binary, and
//! checks that a torn-down lab left nothing behind.

use std::path::PathBuf;

use axha_lab::{Fencing, LabSpec};

/// A lab name unique to this test process and `tag` (parallel runs never share one).
pub fn lab_name(tag: &str) -> String {
    let name = format!("t{}{tag}", std::process::id() % 100_000);
    assert!(name.len() <= 12, "lab tag {tag:?} too long");
    name
}

/// What `ocf:axigen:instance` recorded in `node`'s private /run (the supervisor's pid and
/// start time, `<pid> <start time>`), when one instance runs there.
pub fn instance_state(lab: &axha_lab::Lab, node: &str) -> Option<String> {
    let out = lab
        .run(
            node,
            &[
                "sh",
                "-c",
                "cat /run/resource-agents/axigen-instance-*.state",
            ],
            std::time::Duration::from_secs(5),
        )
        .ok()?;
    let line = out.stdout_str().trim().to_string();
    (!line.is_empty()).then_some(line)
}

/// A spec for an `n`-node lab named after `tag`, using the built helper binary.
pub fn spec(tag: &str, n: usize) -> LabSpec {
    let mut s = LabSpec::new(&lab_name(tag), n);
    s.helper_bin = Some(crate::bin(axha_lab::HELPER_NAME));
    s.fencing = Fencing::Disabled;
    s
}

/// The directory with the workspace's built binaries (agents, fence agent), for
/// [`LabSpec::binaries`].
pub fn binaries_dir() -> PathBuf {
    crate::target_dir().join("debug")
}

/// What a lab leaves on the host while it runs: its namespace names, its processes (pid +
/// start time: namespace ids are reused by the kernel, processes identities are not), its
/// state directory.
#[derive(Debug, Clone)]
pub struct Footprint {
    pub name: String,
    pub netns_names: Vec<String>,
    pub processes: Vec<axha_exec::ProcessIdentity>,
    pub state_dir: PathBuf,
}

/// Processes of the lab's hub namespace (the BMCs).
fn hub_pids(lab: &axha_lab::Lab) -> Vec<u32> {
    let handle = std::path::Path::new("/run/netns").join(lab.hub_netns());
    match axha_lab::procs::netns_id_of_path(&handle) {
        Ok(id) => axha_lab::procs::pids_in_netns(&id),
        Err(_) => Vec::new(),
    }
}

impl Footprint {
    pub fn of(lab: &axha_lab::Lab) -> Self {
        let mut netns_names: Vec<String> = lab.nodes().iter().map(|n| lab.netns_name(n)).collect();
        netns_names.push(lab.hub_netns());
        Footprint {
            name: lab.name().to_string(),
            netns_names,
            processes: lab
                .nodes()
                .iter()
                .flat_map(|n| lab.node_pids(n))
                .chain(hub_pids(lab))
                .filter_map(axha_exec::read_identity)
                .collect(),
            state_dir: lab.state_dir().to_path_buf(),
        }
    }

    /// Panic with details when any namespace, process or mount of the lab is left.
    pub fn assert_gone(&self) {
        let list = crate::Cmd::new("ip")
            .args(["netns", "list"])
            .run_ok(&crate::Deadline::after(std::time::Duration::from_secs(10)))
            .expect("ip netns list")
            .stdout_str();
        for ns in &self.netns_names {
            assert!(
                !list
                    .lines()
                    .any(|l| l.split_whitespace().next() == Some(ns)),
                "namespace {ns} left behind:\n{list}"
            );
        }
        for p in &self.processes {
            assert!(!p.is_alive(), "process left behind: {p} {:?}", p.exe);
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let dir = self.state_dir.display().to_string();
        let prefix = format!("axl-{}-", self.name);
        for l in mounts.lines() {
            assert!(
                !l.contains(&dir) && !l.contains(&prefix),
                "mount left behind: {l}"
            );
        }
    }
}

/// Load a rendered crm script into the running lab (`crm configure load update` on n1),
/// its instance groups stopped (`target-role=Stopped`: only the template's fencing runs);
/// panics when crmsh refuses it or complains. `dir` keeps the script for a post-mortem.
pub fn load_crm_groups_stopped(lab: &axha_lab::Lab, dir: &std::path::Path, crm: &str) {
    let crm: Vec<String> = crm
        .lines()
        .map(|l| {
            if l.starts_with("group ") {
                format!("{l} \\\n\tmeta target-role=Stopped")
            } else {
                l.to_string()
            }
        })
        .collect();
    let script = dir.join("config.crm");
    std::fs::write(&script, format!("{}\n", crm.join("\n"))).expect("script");
    let path = script.to_str().expect("UTF-8 path");
    let out = lab
        .run(
            "n1",
            &["crm", "configure", "load", "update", path],
            std::time::Duration::from_secs(120),
        )
        .expect("crm runs");
    assert_eq!(
        out.code(),
        Some(0),
        "crm refused the script: {}{}",
        out.stdout_str(),
        out.stderr_str()
    );
    assert!(
        !out.stderr_str().contains("ERROR"),
        "crmsh complained: {}",
        out.stderr_str()
    );
}

/// Wait until resource `rsc` is started on `node` alone.
pub fn wait_started_on(lab: &axha_lab::Lab, rsc: &str, node: &str) {
    lab.wait_view(
        &format!("{rsc} running on {node}"),
        std::time::Duration::from_secs(120),
        |v| {
            v.resource(rsc)
                .is_some_and(|r| r.is_started() && r.nodes == [node])
        },
    )
    .unwrap_or_else(|e| panic!("{rsc} on {node}: {e}"));
}
