//! Preflight: every program the lab and the resource agents it drives need, checked before
//! anything is started, so that a missing one is one clear error naming the program and its
//! Debian package, not a cluster that never starts its resources (a heartbeat agent that
//! lacks a program answers "not installed" to Pacemaker and to nobody else).
//!
//! The program -> package table and the lists of what each agent calls live in
//! `axha_cib::doctor`, which `axigen-ha doctor` checks on real cluster nodes too. A new node
//! kind adds the programs it runs to [`needed_programs`].

use std::ffi::{OsStr, OsString};

use axha_cib::doctor::{
    missing_programs, MissingProgram, CLUSTER_PROGRAMS, FILESYSTEM_PROGRAMS, IPADDR2_PROGRAMS,
};

use crate::lab::NODE_PATH;
use crate::spec::{Fencing, LabSpec};
use crate::LabError;

/// What the lab runs itself, on the host: namespaces, network, nodes, disks.
const HOST_PROGRAMS: &[&str] = &["ip", "nsenter", "unshare", "env", "losetup", "mkfs.ext4"];

/// What a VM lab runs on the host to build its guests (the cluster runs inside them, from the
/// guest image's own packages).
const VM_HOST_PROGRAMS: &[&str] = &[
    "ip",
    "mmdebstrap",
    "apt-get",
    "dpkg-deb",
    "strip",
    "xz",
    "depmod",
    "mke2fs",
    "ipmi_sim",
];

/// Every program `spec` needs: the lab's own tools, Corosync and Pacemaker, the heartbeat
/// agents of the service instances (Filesystem, IPaddr2) and what they call, and with IPMI
/// fencing the BMC simulator and the stock fence agent when ours is not installed. A VM lab
/// needs only the tools that build and start its guests.
pub fn needed_programs(spec: &LabSpec) -> Vec<&'static str> {
    if spec.kind == crate::spec::NodeKind::Vm {
        return VM_HOST_PROGRAMS.to_vec();
    }
    let mut v: Vec<&'static str> = HOST_PROGRAMS.to_vec();
    v.extend_from_slice(CLUSTER_PROGRAMS);
    v.extend_from_slice(FILESYSTEM_PROGRAMS);
    v.extend_from_slice(IPADDR2_PROGRAMS);
    if spec.fencing == Fencing::Ipmi {
        v.push("ipmi_sim");
        let ours = spec
            .binaries
            .as_ref()
            .is_some_and(|b| b.join("fence_axigen_ipmi").is_file());
        if !ours {
            v.push("fence_ipmilan");
        }
    }
    if spec.pdu {
        v.extend_from_slice(&["snmpd", "snmpget", "snmpset", "fence_apc_snmp"]);
    }
    v
}

/// The programs of `needed` missing from the caller's `search_path` (where the lab's own
/// commands are found) or from the nodes' PATH (where Pacemaker and its agents look).
pub fn missing(needed: &[&str], search_path: &OsStr) -> Vec<MissingProgram> {
    let mut out = missing_programs(needed, search_path);
    for m in missing_programs(needed, OsStr::new(NODE_PATH)) {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// Check every program `spec` needs against this process's `PATH` and the nodes' PATH.
pub fn check(spec: &LabSpec) -> Result<(), LabError> {
    let path: OsString = std::env::var_os("PATH").unwrap_or_default();
    let missing = missing(&needed_programs(spec), &path);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LabError::MissingPrograms { missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_labs_need_the_image_tools_only() {
        let spec = LabSpec::two_node_vm("x", "/nonexistent".into());
        let v = needed_programs(&spec);
        assert!(
            v.contains(&"mmdebstrap") && v.contains(&"ipmi_sim"),
            "{v:?}"
        );
        assert!(
            !v.contains(&"pacemakerd"),
            "the cluster runs in the guests: {v:?}"
        );
        for p in v {
            assert!(
                axha_cib::doctor::package_of(p).is_some(),
                "{p} has no package"
            );
        }
    }

    #[test]
    fn ipmi_needs_the_bmc_simulator_and_a_fence_agent() {
        let mut spec = LabSpec::new("x", 2);
        assert!(!needed_programs(&spec).contains(&"ipmi_sim"));
        spec.fencing = Fencing::Ipmi;
        let v = needed_programs(&spec);
        assert!(
            v.contains(&"ipmi_sim") && v.contains(&"fence_ipmilan"),
            "{v:?}"
        );
        assert!(!v.contains(&"snmpd"), "{v:?}");
        spec.pdu = true;
        let v = needed_programs(&spec);
        for p in ["snmpd", "snmpget", "snmpset", "fence_apc_snmp"] {
            assert!(v.contains(&p), "{p}: {v:?}");
        }
        assert!(v.contains(&"modprobe") && v.contains(&"crm_mon"), "{v:?}");
    }

    #[test]
    fn a_path_without_modprobe_fails_naming_kmod() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("axha-preflight-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = LabSpec::new("x", 2);
        let needed = needed_programs(&spec);
        for p in needed
            .iter()
            .filter(|p| !p.contains('/') && **p != "modprobe")
        {
            let f = dir.join(p);
            std::fs::write(&f, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let m = missing_programs(&needed, dir.as_os_str());
        let names: Vec<&str> = m.iter().map(|m| m.program.as_str()).collect();
        assert!(names.contains(&"modprobe"), "{m:?}");
        let e = LabError::MissingPrograms { missing: m }.to_string();
        assert!(
            e.starts_with("missing programs: ") && e.contains("modprobe (Debian package kmod)"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
