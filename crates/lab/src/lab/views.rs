//! Pacemaker's view of the cluster (`crm_mon --output-as=xml`, parsed by [`crate::crm`]) and
//! the waits on it. Every failed wait carries what Pacemaker knows ([`crate::diagnosis`]);
//! [`Lab::wait_view_of`] also ends early when Pacemaker has given up on a start it needs.
//! [`Lab::fence_timeline`] reads a fencing operation's steps from the daemons' logs. A new
//! node kind that is a cluster member is seen here without change.

use std::time::Duration;

use axha_exec::Deadline;

use crate::crm::{parse_crm_mon, ClusterView};
use crate::{Lab, LabError};

impl Lab {
    /// `crm_mon --output-as=xml` as seen from `node` (fencing history included).
    pub fn crm_mon_xml(&self, node: &str) -> Result<String, LabError> {
        let out = self.run_ok(
            node,
            &[
                "crm_mon",
                "--one-shot",
                "--output-as=xml",
                "--fence-history=3",
            ],
            Duration::from_secs(15),
        )?;
        Ok(out.stdout_str())
    }

    /// The cluster as `node` sees it.
    pub fn view(&self, node: &str) -> Result<ClusterView, LabError> {
        parse_crm_mon(&self.crm_mon_xml(node)?)
    }

    /// The cluster as the first live node sees it.
    pub fn view_any(&self) -> Result<ClusterView, LabError> {
        let mut last = None;
        for n in self.alive_nodes() {
            match self.view(&n) {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| LabError::NodeDown {
            node: "(every node)".into(),
        }))
    }

    /// Nodes where `rsc` is active, as `node` sees it.
    pub fn locate(&self, node: &str, rsc: &str) -> Result<Vec<String>, LabError> {
        Ok(self.view(node)?.locate(rsc))
    }

    /// Poll the cluster view (from any live node) until `check` holds; returns that view.
    /// A timeout carries what Pacemaker knows at that moment.
    pub fn wait_view(
        &self,
        what: &str,
        timeout: Duration,
        check: impl FnMut(&ClusterView) -> bool,
    ) -> Result<ClusterView, LabError> {
        self.wait_view_of(what, &[], timeout, check)
    }

    /// [`Lab::wait_view`] for a state that needs `resources` (primitives or groups) running:
    /// it also ends early, without waiting for the timeout, when one of them (or a member of
    /// the same group) has a failed start that Pacemaker will not retry (see
    /// [`crate::diagnosis::failed_starts`]) and the DC is idle, on two polls in a row.
    pub fn wait_view_of(
        &self,
        what: &str,
        resources: &[String],
        timeout: Duration,
        mut check: impl FnMut(&ClusterView) -> bool,
    ) -> Result<ClusterView, LabError> {
        let mut last = String::new();
        let mut hopeless = 0;
        let d = Deadline::after(timeout);
        let found = d.poll(Duration::from_millis(250), || match self.view_any() {
            Ok(v) if check(&v) => Some(Ok(v)),
            Ok(v) => {
                last = format!("online {:?}, DC {:?}", v.online(), v.dc);
                let failed = crate::diagnosis::failed_starts(&v, resources);
                if failed.is_empty() || !self.dc_idle(&v) {
                    hopeless = 0;
                    return None;
                }
                hopeless += 1;
                (hopeless >= 2).then(|| Err(crate::diagnosis::describe_failed_starts(&failed)))
            }
            Err(e) => {
                last = e.to_string();
                None
            }
        });
        match found {
            Some(Ok(v)) => Ok(v),
            Some(Err(failed)) => Err(self.wait_failed(what, last, Some(failed))),
            None => Err(self.wait_failed(what, last, None)),
        }
    }

    /// Wait until every live node sees exactly the live nodes online and the same DC.
    pub fn wait_online(&self, timeout: Duration) -> Result<(), LabError> {
        let mut last = String::new();
        let d = Deadline::after(timeout);
        let ok = d.poll(Duration::from_millis(250), || {
            let alive = self.alive_nodes();
            if alive.is_empty() {
                last = "no node is powered on".into();
                return None;
            }
            let mut dc = None;
            for n in &alive {
                let v = match self.view(n) {
                    Ok(v) => v,
                    Err(e) => {
                        last = format!("{n}: {e}");
                        return None;
                    }
                };
                let mut online = v.online();
                online.sort();
                if online != alive || v.dc.is_none() || (dc.is_some() && dc != v.dc) {
                    last = format!("{n} sees online {online:?}, DC {:?}", v.dc);
                    return None;
                }
                dc = v.dc;
            }
            Some(())
        });
        ok.ok_or_else(|| {
            self.wait_failed("every live node online and agreeing on a DC", last, None)
        })
    }

    /// Wait until every node of the lab is powered on, online, and agrees on the DC (after a
    /// fence-reboot the node boots in the background: [`Lab::wait_online`] alone could
    /// succeed in the instant the node is still off).
    pub fn wait_all_online(&self, timeout: Duration) -> Result<(), LabError> {
        let d = Deadline::after(timeout);
        let all = self.nodes();
        d.poll(Duration::from_millis(100), || {
            (self.alive_nodes() == all).then_some(())
        })
        .ok_or_else(|| {
            let last = format!("on: {:?}", self.alive_nodes());
            self.wait_failed("every node powered on", last, None)
        })?;
        self.wait_online(d.remaining())?;
        if self.alive_nodes() != all {
            return self.wait_all_online(d.remaining());
        }
        Ok(())
    }
}

impl Lab {
    /// The last fencing of `target` requested at or after `since` (a [`crate::fencelog`]
    /// time), put together from every node's `pacemaker.log`: the request, each level's
    /// device and result, the end.
    pub fn fence_timeline(
        &self,
        target: &str,
        since: crate::fencelog::LogTime,
    ) -> Option<crate::fencelog::FenceTimeline> {
        let mut steps = Vec::new();
        for n in self.nodes() {
            let p = self.node_dir(&n).join("log-pacemaker/pacemaker.log");
            // bounded: a lab's log is a few MB; a missing one has no steps
            let d = Deadline::after(Duration::from_secs(10));
            if let Ok(bytes) = axha_exec::read_bounded(&p, 256 << 20, &d) {
                steps.extend(crate::fencelog::parse_fence_log(&String::from_utf8_lossy(
                    &bytes,
                )));
            }
        }
        crate::fencelog::last_timeline(&steps, target, since)
    }
}
