//! Fencing as Pacemaker's daemons record it in `pacemaker.log` (2.1.5): when the controller
//! asked for it, which device each fencing level tried and what it returned, when the fencer
//! declared it done. crm_mon's fencing history keeps only the end (to the second); these
//! lines carry the steps, to the millisecond, on every node.
//!
//! ```text
//! Nov 30 03:24:22.037 n2 pacemaker-controld  [5763] (controld_execute_fence_action)  notice: Requesting fencing (reboot) of node n1 | action=1 timeout=20000
//! Nov 30 03:24:27.173 n2 pacemaker-fenced    [5756] (log_async_result)  error: Operation 'reboot' [6163] targeting n1 using fence-n1 returned 1 | call 5 from pacemaker-controld.5763
//! Nov 30 03:24:28.001 n3 pacemaker-fenced    [5761] (finalize_op)  notice: Operation 'reboot' targeting n1 by n3 for pacemaker-controld.5763@n2: OK (complete) | id=0a50bf2e
//! ```

/// A moment in a log, as seconds from the start of its year (the log has no year; fencing
/// never spans a new year in a lab).
pub type LogTime = f64;

/// One step of a fencing operation.
#[derive(Debug, Clone, PartialEq)]
pub enum FenceStep {
    /// The controller asked the fencer to fence `target`.
    Requested {
        /// When.
        at: LogTime,
        /// The node to fence.
        target: String,
    },
    /// A device's action ended (on the node that ran it).
    Device {
        /// When.
        at: LogTime,
        /// The node fenced.
        target: String,
        /// The stonith device.
        device: String,
        /// The agent's exit code (0 done).
        rc: i32,
    },
    /// The fencer finished the operation (`OK` or an error text).
    Finished {
        /// When.
        at: LogTime,
        /// The node fenced.
        target: String,
        /// `OK` on success.
        result: String,
    },
}

impl FenceStep {
    /// When the step happened.
    pub fn at(&self) -> LogTime {
        match self {
            FenceStep::Requested { at, .. }
            | FenceStep::Device { at, .. }
            | FenceStep::Finished { at, .. } => *at,
        }
    }
    /// The node it is about.
    pub fn target(&self) -> &str {
        match self {
            FenceStep::Requested { target, .. }
            | FenceStep::Device { target, .. }
            | FenceStep::Finished { target, .. } => target,
        }
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Nov 30 03:24:22.037` at the start of a line -> seconds from the start of the year (by a
/// 31-day month: only differences within a lab run are meaningful).
pub fn parse_log_time(line: &str) -> Option<LogTime> {
    let mut w = line.split_whitespace();
    let name = w.next()?;
    let month = MONTHS.iter().position(|m| *m == name)?;
    let day: u32 = w.next()?.parse().ok()?;
    let mut hms = w.next()?.split(':');
    let h: u32 = hms.next()?.parse().ok()?;
    let m: u32 = hms.next()?.parse().ok()?;
    let s: f64 = hms.next()?.parse().ok()?;
    let month = u32::try_from(month).ok()?;
    Some(f64::from(((month * 31 + day) * 24 + h) * 60 + m) * 60.0 + s)
}

fn word_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(key).nth(1)?.split_whitespace().next()
}

/// The fencing steps of one log's lines, in order.
pub fn parse_fence_log(text: &str) -> Vec<FenceStep> {
    let mut out = Vec::new();
    for line in text.lines() {
        if !line.contains("pacemaker-controld") && !line.contains("pacemaker-fenced") {
            continue;
        }
        let Some(at) = parse_log_time(line) else {
            continue;
        };
        if line.contains("(controld_execute_fence_action)") && line.contains("Requesting fencing") {
            if let Some(t) = word_after(line, " of node ") {
                out.push(FenceStep::Requested {
                    at,
                    target: t.to_string(),
                });
            }
        } else if line.contains("(log_async_result)") && line.contains(" using ") {
            let (Some(t), Some(d), Some(rc)) = (
                word_after(line, " targeting "),
                word_after(line, " using "),
                word_after(line, " returned ").and_then(|r| r.parse().ok()),
            ) else {
                continue;
            };
            out.push(FenceStep::Device {
                at,
                target: t.to_string(),
                device: d.to_string(),
                rc,
            });
        } else if line.contains("(finalize_op)") {
            let Some(t) = word_after(line, " targeting ") else {
                continue;
            };
            // "... for pacemaker-controld.5763@n2: OK (complete) | id=..."
            let result = line
                .split('@')
                .nth(1)
                .and_then(|x| x.split_once(": "))
                .and_then(|(_, r)| r.split([' ', '(', '|']).next())
                .unwrap_or_default()
                .to_string();
            out.push(FenceStep::Finished {
                at,
                target: t.to_string(),
                result,
            });
        }
    }
    out
}

/// One fencing operation of a node, put together from every node's log.
#[derive(Debug, Clone, PartialEq)]
pub struct FenceTimeline {
    /// The node fenced.
    pub target: String,
    /// When the controller asked for it.
    pub requested: LogTime,
    /// Every device action, in order: (device, exit code, when it ended).
    pub devices: Vec<(String, i32, LogTime)>,
    /// When the fencer declared it done, and how (`OK`).
    pub finished: Option<(LogTime, String)>,
}

impl FenceTimeline {
    /// Seconds from the request to the end.
    pub fn duration(&self) -> Option<f64> {
        self.finished.as_ref().map(|(t, _)| t - self.requested)
    }
}

/// The last fencing operation of `target` requested at or after `since`, from the steps of
/// every node's log (the request is on the DC, the device results on the nodes that ran
/// them, the end on every node: the first is taken).
pub fn last_timeline(steps: &[FenceStep], target: &str, since: LogTime) -> Option<FenceTimeline> {
    let mine: Vec<&FenceStep> = steps
        .iter()
        .filter(|s| s.target() == target && s.at() >= since)
        .collect();
    let requested = mine
        .iter()
        .filter_map(|s| match s {
            FenceStep::Requested { at, .. } => Some(*at),
            _ => None,
        })
        .fold(None, |acc: Option<f64>, t| {
            Some(acc.map_or(t, |a| a.max(t)))
        })?;
    let mut devices: Vec<(String, i32, LogTime)> = mine
        .iter()
        .filter_map(|s| match s {
            FenceStep::Device { at, device, rc, .. } if *at >= requested => {
                Some((device.clone(), *rc, *at))
            }
            _ => None,
        })
        .collect();
    devices.sort_by(|a, b| a.2.total_cmp(&b.2));
    let finished = mine
        .iter()
        .filter_map(|s| match s {
            FenceStep::Finished { at, result, .. } if *at >= requested => {
                Some((*at, result.clone()))
            }
            _ => None,
        })
        .min_by(|a, b| a.0.total_cmp(&b.0));
    Some(FenceTimeline {
        target: target.to_string(),
        requested,
        devices,
        finished,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pacemaker 2.1.5 (Debian 12), a 3-node lab: n1 and its BMC lost power together; level 1
    // (fence-n1, IPMI) failed, level 2 (fence-pdu-n1, the outlet) confirmed. Lines from the
    // logs of n2 (DC) and n3.
    const LOG: &str = "\
Nov 30 03:24:22.037 n2 pacemaker-controld  [5763] (controld_execute_fence_action) \tnotice: Requesting fencing (reboot) of node n1 | action=1 timeout=20000
Nov 30 03:24:22.129 n2 pacemaker-fenced    [5756] (request_peer_fencing) \tnotice: Requesting that n2 perform 'reboot' action targeting n1 using fence-n1 | for client pacemaker-controld.5763 (24s)
Nov 30 03:24:27.173 n2 pacemaker-fenced    [5756] (log_async_result) \terror: Operation 'reboot' [6163] targeting n1 using fence-n1 returned 1 | call 5 from pacemaker-controld.5763
Nov 30 03:24:28.001 n2 pacemaker-fenced    [5756] (finalize_op) \tnotice: Operation 'reboot' targeting n1 by n3 for pacemaker-controld.5763@n2: OK (complete) | id=0a50bf2e
Nov 30 03:24:28.001 n3 pacemaker-fenced    [5761] (finalize_op) \tnotice: Operation 'reboot' targeting n1 by n3 for pacemaker-controld.5763@n2: OK (complete) | id=0a50bf2e
Nov 30 03:24:28.001 n3 pacemaker-fenced    [5761] (log_async_result) \tnotice: Operation 'reboot' [6360] targeting n1 using fence-pdu-n1 returned 0 | call 5 from pacemaker-controld.5763
Nov 30 03:24:28.005 n2 pacemaker-controld  [5763] (handle_fence_notification) \tnotice: Peer n1 was terminated (reboot) by n3 on behalf of pacemaker-controld.5763@n2: OK | event=0a50bf2e
";

    #[test]
    fn levels_from_a_recorded_log() {
        let steps = parse_fence_log(LOG);
        assert_eq!(steps.len(), 5, "{steps:?}");
        let t = last_timeline(&steps, "n1", 0.0).unwrap();
        assert_eq!(
            t.devices
                .iter()
                .map(|(d, rc, _)| (d.as_str(), *rc))
                .collect::<Vec<_>>(),
            vec![("fence-n1", 1), ("fence-pdu-n1", 0)]
        );
        assert_eq!(t.finished.as_ref().unwrap().1, "OK");
        let d = t.duration().unwrap();
        assert!((d - 5.964).abs() < 1e-6, "{d}");
        assert!(last_timeline(&steps, "n2", 0.0).is_none());
        assert!(last_timeline(&steps, "n1", t.requested + 1.0).is_none());
    }

    #[test]
    fn times_and_garbage() {
        let a = parse_log_time("Nov 30 03:24:22.037 n2 x").unwrap();
        let b = parse_log_time("Nov 30 03:25:00.000 n2 x").unwrap();
        assert!((b - a - 37.963).abs() < 1e-6);
        assert!(parse_log_time("Xyz 30 03:24:22.037").is_none());
        assert!(parse_log_time("").is_none());
        assert!(parse_fence_log("garbage\n\u{1b}[31m pacemaker-fenced (finalize_op)\n").is_empty());
    }
}
