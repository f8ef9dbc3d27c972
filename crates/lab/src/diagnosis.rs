//! Failures that explain themselves: what Pacemaker knows when a lab wait fails (failed
//! actions with exit code and the agent's exit reason, resources not running, fencing
//! history, where each node's logs are), read from `crm_mon --output-as=xml`, and the rule
//! that ends a wait early when Pacemaker has given up on a resource (a failed start and an
//! idle DC: nothing is left to try). A new node kind whose logs matter adds them to
//! [`Lab::log_paths`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use axha_cib::status::Failure;

use crate::crm::ClusterView;
use crate::{Lab, LabError};

/// Longest piece of Pacemaker-reported text (an exit reason) shown in a report.
const TEXT_MAX: usize = 200;

/// What Pacemaker knows at one moment, in one line for an error message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterReport {
    /// Failed actions: `inst1-server start on n1: not installed (rc 5): binary ... not found`.
    pub failed_actions: Vec<String>,
    /// Resources not running, with the failure that explains it when there is one.
    pub not_running: Vec<String>,
    /// Fencing history: `reboot of n2 by n1: success`.
    pub fencing: Vec<String>,
    /// Why Pacemaker could not be asked, when it could not.
    pub unreachable: Option<String>,
    /// Each node's Pacemaker log.
    pub logs: Vec<PathBuf>,
}

/// `s` on one line, without control characters (exit reasons are agent-controlled text),
/// at most `TEXT_MAX` characters.
pub fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(TEXT_MAX)
        .collect();
    if s.chars().count() > TEXT_MAX {
        out.push_str("...");
    }
    out.trim().to_string()
}

/// The task of an operation key `<rsc>_<task>_<interval>` (`start`, `monitor`...).
fn op_task(op_key: &str) -> &str {
    let mut parts = op_key.rsplitn(3, '_');
    parts.next();
    parts.next().unwrap_or(op_key)
}

/// `inst1-server start on n1: not installed (rc 5): binary /x not found`.
fn describe_failure(f: &Failure) -> String {
    let mut s = format!(
        "{} {} on {}: {}",
        printable(&f.resource),
        printable(op_task(&f.op_key)),
        printable(&f.node),
        printable(&f.exitstatus),
    );
    if let Some(rc) = f.exitcode {
        s.push_str(&format!(" (rc {rc})"));
    }
    let reason = printable(&f.exitreason);
    if !reason.is_empty() {
        s.push_str(&format!(": {reason}"));
    }
    s
}

/// Failed starts, among `of` (primitive or group ids, and the members of those groups or of
/// a group one of them is in), of resources that are not running (stopped, or still marked
/// failed): Pacemaker does not retry a failed start on that node (start-failure-is-fatal
/// sets the fail count to INFINITY; rc 5 and 6 ban the node or the cluster), so once the DC
/// is idle nothing more will happen to them.
pub fn failed_starts<'a>(v: &'a ClusterView, of: &[String]) -> Vec<&'a Failure> {
    let group_of = |id: &str| v.resource(id).and_then(|r| r.parents.first().cloned());
    let wanted = |rsc: &str| {
        let group = group_of(rsc);
        of.iter().any(|w| {
            w == rsc || group.as_ref() == Some(w) || (group.is_some() && group_of(w) == group)
        })
    };
    v.failures
        .iter()
        .filter(|f| op_task(&f.op_key) == "start")
        .filter(|f| {
            v.resource(&f.resource)
                .is_none_or(|r| !r.active || r.failed)
        })
        .filter(|f| wanted(&f.resource))
        .collect()
}

/// The resources of [`failed_starts`], each once: `the failed start of inst1-server, inst2-fs`
/// (the report beside it gives each failure's node, exit code and reason).
pub fn describe_failed_starts(failures: &[&Failure]) -> String {
    let mut ids: Vec<String> = Vec::new();
    for f in failures {
        let id = printable(&f.resource);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    format!("the failed start of {}", ids.join(", "))
}

impl ClusterReport {
    /// The report of one crm_mon view (pure: no I/O).
    pub fn from_view(v: &ClusterView) -> ClusterReport {
        let failed_actions = v.failures.iter().map(describe_failure).collect();
        let not_running = v
            .resources
            .iter()
            .filter(|r| !r.active || r.failed)
            .map(|r| {
                let why = v
                    .failures
                    .iter()
                    .find(|f| f.resource == r.id)
                    .map(|f| {
                        format!(
                            ", {} failed on {} ({})",
                            printable(op_task(&f.op_key)),
                            printable(&f.node),
                            printable(&f.exitstatus)
                        )
                    })
                    .unwrap_or_default();
                format!("{} ({}{why})", printable(&r.id), printable(&r.role))
            })
            .collect();
        let fencing = v
            .fencing
            .iter()
            .map(|f| {
                let mut s = format!(
                    "{} of {} by {}: {}",
                    printable(&f.action),
                    printable(&f.target),
                    printable(f.delegate.as_deref().unwrap_or("?")),
                    printable(&f.status)
                );
                if let Some(r) = f.exit_reason.as_deref().filter(|r| !r.is_empty()) {
                    s.push_str(&format!(" ({})", printable(r)));
                }
                s
            })
            .collect();
        ClusterReport {
            failed_actions,
            not_running,
            fencing,
            unreachable: None,
            logs: Vec::new(),
        }
    }
}

impl fmt::Display for ClusterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join("; ")
            }
        };
        match &self.unreachable {
            Some(e) => write!(f, "Pacemaker not reachable ({})", printable(e))?,
            None => write!(
                f,
                "Pacemaker: failed actions: {}; not running: {}; fencing: {}",
                list(&self.failed_actions),
                list(&self.not_running),
                list(&self.fencing)
            )?,
        }
        if !self.logs.is_empty() {
            let logs: Vec<String> = self.logs.iter().map(|p| p.display().to_string()).collect();
            write!(f, "; logs: {}", logs.join(" "))?;
        }
        Ok(())
    }
}

impl Lab {
    /// Each node's Pacemaker log (corosync's is beside it, in `log-corosync/`).
    pub fn log_paths(&self) -> Vec<PathBuf> {
        self.nodes()
            .iter()
            .map(|n| self.node_dir(n).join("log-pacemaker/pacemaker.log"))
            .collect()
    }

    /// What Pacemaker knows now, as the first live node sees it.
    pub fn cluster_report(&self) -> ClusterReport {
        let mut r = match self.view_any() {
            Ok(v) => ClusterReport::from_view(&v),
            Err(e) => ClusterReport {
                unreachable: Some(e.to_string()),
                ..ClusterReport::default()
            },
        };
        r.logs = self.log_paths();
        r
    }

    /// True when the DC's controller is idle (`S_IDLE`): no transition is running or about
    /// to run, so a resource that is stopped now stays stopped.
    pub fn dc_idle(&self, v: &ClusterView) -> bool {
        let (Some(dc), Some(node)) = (v.dc.as_deref(), self.alive_nodes().into_iter().next())
        else {
            return false;
        };
        self.run(&node, &["crmadmin", "-S", dc], Duration::from_secs(10))
            .is_ok_and(|o| {
                o.status.success()
                    && (o.stdout_str().contains("S_IDLE") || o.stderr_str().contains("S_IDLE"))
            })
    }

    /// The error of a wait on the cluster that failed: timed out (`gave_up` None) or ended
    /// early because Pacemaker will not retry (`gave_up` says what failed), with what
    /// Pacemaker knows now.
    pub(crate) fn wait_failed(
        &self,
        what: &str,
        last: String,
        gave_up: Option<String>,
    ) -> LabError {
        LabError::ClusterWait {
            what: what.to_string(),
            last: printable(&last),
            gave_up,
            report: Box::new(self.cluster_report()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_crm_mon;

    const N3_FENCED: &str = include_str!("../../cib/testdata/crm_mon-3-nodes-n3-fenced.xml");

    #[test]
    fn report_names_failures_stopped_resources_and_fencing() {
        let v = parse_crm_mon(N3_FENCED).unwrap();
        let r = ClusterReport::from_view(&v);
        let text = r.to_string();
        assert!(
            text.contains(
                "mail1 start on n1: not installed (rc 5): binary /nonexistent/axigen not found"
            ),
            "{text}"
        );
        assert!(text.contains("fencing: "), "{text}");
        assert!(!r.fencing.is_empty(), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn failed_starts_of_stopped_resources() {
        let mut v = parse_crm_mon(N3_FENCED).unwrap();
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // by its own id, by its group's, by another member of its group
        for of in [
            &["mail1"][..],
            &["grp-mail1"],
            &["ip-mail1"],
            &["x", "mail1"],
        ] {
            let f = failed_starts(&v, &ids(of));
            assert_eq!(
                f.len(),
                2,
                "{of:?}: mail1 is stopped after two failed starts"
            );
            assert_eq!(describe_failed_starts(&f), "the failed start of mail1");
        }
        // a wait that does not need mail1 is not ended by its failure
        assert!(failed_starts(&v, &ids(&["fence-n1"])).is_empty());
        assert!(failed_starts(&v, &[]).is_empty());
        // the same failures of a resource that runs elsewhere now leave nothing hopeless
        v.resources
            .iter_mut()
            .filter(|r| r.id == "mail1")
            .for_each(|r| r.active = true);
        assert!(failed_starts(&v, &ids(&["mail1"])).is_empty());
    }

    #[test]
    fn control_characters_never_reach_a_report() {
        assert_eq!(printable("bad\x1b[31m\nreason\r"), "bad [31m reason");
        let long = "x".repeat(500);
        assert_eq!(printable(&long).len(), TEXT_MAX + 3);
        assert_eq!(op_task("inst1-server_start_0"), "start");
        assert_eq!(op_task("fs_monitor_20000"), "monitor");
    }
}
