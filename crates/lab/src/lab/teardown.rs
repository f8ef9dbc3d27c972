//! Teardown: every process of every node and of the hub (by network namespace membership,
//! never by name), the namespaces, then the disks; the state is kept as "down" so logs stay
//! for a post-mortem. Also the reaping of labs whose owner died. A new node kind is torn down
//! here for free when it lives in a lab namespace; anything outside one (a VM's disk, a
//! device) adds its own step to `Lab::teardown`.

use std::path::Path;

use axha_exec::Deadline;

use super::network::{existing_netns, ip};
use super::KILL_TIMEOUT;
use crate::procs::{kill_netns, netns_id_of_path};
use crate::spec::DEFAULT_STATE_ROOT;
use crate::state::{LabConf, Phase};
use crate::{Lab, LabError};

/// Tear down every lab under the default state root whose owning process is gone (a test
/// run that was interrupted or crashed before its `Drop` ran). Returns the names cleaned.
pub fn reap_stale_labs() -> Vec<String> {
    let mut done = Vec::new();
    let Ok(dir) = std::fs::read_dir(DEFAULT_STATE_ROOT) else {
        return done;
    };
    for e in dir.flatten() {
        let path = e.path();
        if let Ok(Some(conf)) = LabConf::read(&path) {
            if conf.is_stale() {
                let name = conf.name.clone();
                let lab = Lab {
                    conf,
                    state_dir: path,
                    teardown_on_drop: false,
                };
                if lab.teardown().is_ok() {
                    done.push(name);
                }
            }
        }
    }
    done
}

impl Lab {
    /// Kill every node's processes, delete the namespaces, and record the lab as down.
    /// Idempotent; every step is attempted even when an earlier one failed.
    pub(super) fn teardown(&self) -> Result<(), LabError> {
        let mut first_err: Option<LabError> = None;
        let mut keep = |r: Result<(), LabError>| {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        };
        // The hub first: its BMCs could otherwise boot a node again while it is torn down.
        let mut names = vec![self.hub_netns()];
        names.extend(self.nodes().iter().map(|n| self.netns_name(n)));
        names.extend(self.side_netns());
        if let Ok(id) = netns_id_of_path(&Path::new("/run/netns").join(self.hub_netns())) {
            kill_netns(&id, &Deadline::after(KILL_TIMEOUT));
        }
        for n in self.nodes() {
            keep(self.kill(&n));
        }
        let existing = existing_netns();
        for ns in names.iter().filter(|ns| existing.contains(ns)) {
            // processes of a node that never recorded its netid (failed early in `up`)
            if let Ok(id) = netns_id_of_path(&Path::new("/run/netns").join(ns)) {
                let left = kill_netns(&id, &Deadline::after(KILL_TIMEOUT));
                if !left.is_empty() {
                    keep(Err(LabError::Unkillable {
                        node: ns.clone(),
                        pids: left,
                    }));
                }
            }
            keep(ip(&["netns", "del", ns]).map(|_| ()));
        }
        // Disks last: their filesystems were mounted only inside the nodes' mount
        // namespaces, which ended with the nodes' processes.
        for disk in self.disks() {
            keep(self.detach_disk(&disk));
        }
        let mut conf = self.conf.clone();
        conf.phase = Phase::Down;
        if self.state_dir.is_dir() {
            keep(conf.write(&self.state_dir));
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.teardown_on_drop {
            return;
        }
        let ok = self.teardown().is_ok();
        // Keep the logs of a failing test (its state directory) for the post-mortem.
        if ok && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}
