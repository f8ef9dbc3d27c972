//! What Pacemaker itself recorded, for suites that check a transient state (a resource that
//! was stopped for a while, never started on a node, restarted in place): the operation
//! history of the CIB status section (`lrm_rsc_op`, one record per resource, node and kind of
//! operation) and the BMCs' chassis logs (every power switch a fence action made). A poll of
//! the current state can miss a window; these records cannot.
//!
//! The CIB status section is not crm_mon output: the one crm_mon parser (`axha_cib::status`,
//! through `axha_lab::ClusterView`) keeps serving fencing history and placement.

use std::time::Duration;

use axha_lab::Lab;

/// OCF "not running": what a probe answers where the resource is cleanly stopped.
pub const OCF_NOT_RUNNING: i32 = 7;

/// One operation record (`<lrm_rsc_op>`) of the CIB status section. Pacemaker keeps the last
/// non-recurring operation of each resource on each node (`<rsc>_last_0`), its last failure
/// (`<rsc>_last_failure_0`) and the last result of each recurring monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// The node whose executor ran the operation.
    pub node: String,
    /// The resource (a clone instance keeps its `:N` suffix).
    pub resource: String,
    /// The record's id: `<rsc>_last_0`, `<rsc>_last_failure_0`, `<rsc>_monitor_<ms>`.
    pub id: String,
    /// start, stop, monitor, promote, demote, notify...
    pub task: String,
    /// Interval in milliseconds; 0 for a probe and every non-recurring operation.
    pub interval_ms: u64,
    /// The agent's exit code.
    pub rc: i32,
    /// The executor's call number on that node: later calls have larger numbers (it restarts
    /// from 1 when the node's Pacemaker restarts, and -1 marks a pending operation).
    pub call_id: i64,
    /// 0 done, -1 pending, other values: the executor could not run it (timeout, error...).
    pub op_status: i32,
}

impl OpRecord {
    /// A probe (a one-off monitor) that found the resource cleanly stopped here.
    pub fn is_probe_not_running(&self) -> bool {
        self.task == "monitor" && self.interval_ms == 0 && self.rc == OCF_NOT_RUNNING
    }

    /// Whether this record is a failure record (`<rsc>_last_failure_0`).
    pub fn is_failure(&self) -> bool {
        self.id.ends_with("_last_failure_0")
    }
}

/// Why the CIB status section could not be read.
#[derive(Debug)]
pub enum HistoryError {
    /// The text is not XML.
    NotXml(roxmltree::Error),
    /// An attribute that holds a number does not.
    NotANumber {
        record: String,
        attribute: String,
        value: String,
    },
}

impl std::fmt::Display for HistoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistoryError::NotXml(e) => write!(f, "CIB status is not XML: {e}"),
            HistoryError::NotANumber {
                record,
                attribute,
                value,
            } => write!(
                f,
                "CIB status: {attribute}={value:?} of operation record {record:?} is not a number"
            ),
        }
    }
}

fn attr<'a>(n: roxmltree::Node<'a, '_>, k: &str) -> &'a str {
    n.attribute(k).unwrap_or_default()
}

fn num<T: std::str::FromStr>(n: roxmltree::Node, k: &str) -> Result<T, HistoryError> {
    let v = attr(n, k);
    v.parse().map_err(|_| HistoryError::NotANumber {
        record: attr(n, "id").to_string(),
        attribute: k.to_string(),
        value: v.to_string(),
    })
}

/// Parse `cibadmin --query --scope status` (or a whole CIB): every operation record of every
/// node. A node without history (never joined, or fenced and not back) has none.
pub fn parse_operations(xml: &str) -> Result<Vec<OpRecord>, HistoryError> {
    let doc = roxmltree::Document::parse(xml).map_err(HistoryError::NotXml)?;
    let mut out = Vec::new();
    for state in doc.descendants().filter(|n| n.has_tag_name("node_state")) {
        let node = attr(state, "uname");
        for rsc in state
            .descendants()
            .filter(|n| n.has_tag_name("lrm_resource"))
        {
            for op in rsc.children().filter(|n| n.has_tag_name("lrm_rsc_op")) {
                out.push(OpRecord {
                    node: node.to_string(),
                    resource: attr(rsc, "id").to_string(),
                    id: attr(op, "id").to_string(),
                    task: attr(op, "operation").to_string(),
                    interval_ms: num(op, "interval")?,
                    rc: num(op, "rc-code")?,
                    call_id: num(op, "call-id")?,
                    op_status: num(op, "op-status")?,
                });
            }
        }
    }
    Ok(out)
}

/// The operation history of the whole cluster, read on `node` from the CIB status section.
pub fn operations(lab: &Lab, node: &str) -> Vec<OpRecord> {
    let out = lab
        .run_ok(
            node,
            &["cibadmin", "--query", "--scope", "status"],
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("CIB status on {node}: {e}"));
    parse_operations(&out.stdout_str()).unwrap_or_else(|e| panic!("{e}"))
}

/// The records of `resource` on `node`, oldest call first.
pub fn of<'a>(ops: &'a [OpRecord], resource: &str, node: &str) -> Vec<&'a OpRecord> {
    let mut v: Vec<&OpRecord> = ops
        .iter()
        .filter(|o| o.node == node && o.resource == resource)
        .collect();
    v.sort_by_key(|o| o.call_id);
    v
}

/// Whether the history shows `resource` ever active (or being started) on `node` since the
/// node's history began: any record but a probe that found it stopped.
pub fn was_active_on(ops: &[OpRecord], resource: &str, node: &str) -> bool {
    of(ops, resource, node)
        .iter()
        .any(|o| !o.is_probe_not_running())
}

/// The last start of `resource` on `node` that succeeded, if the history still holds it
/// (a later stop replaces it).
pub fn last_start<'a>(ops: &'a [OpRecord], resource: &str, node: &str) -> Option<&'a OpRecord> {
    of(ops, resource, node)
        .into_iter()
        .rfind(|o| o.task == "start" && o.rc == 0 && o.op_status == 0 && !o.is_failure())
}

/// The last failure of `resource` on `node`, if one is recorded.
pub fn last_failure<'a>(ops: &'a [OpRecord], resource: &str, node: &str) -> Option<&'a OpRecord> {
    of(ops, resource, node)
        .into_iter()
        .rfind(|o| o.is_failure())
}

/// Wait until the cluster has settled (`crm_resource --wait`: the scheduler has nothing left
/// to do), as seen from `node`: the synchronisation point after a change, instead of a sleep.
pub fn settle(lab: &Lab, node: &str, timeout: Duration) {
    let secs = timeout.as_secs().max(1).to_string();
    let out = lab
        .run(
            node,
            &["crm_resource", "--wait", "--timeout", &format!("{secs}s")],
            timeout + Duration::from_secs(15),
        )
        .unwrap_or_else(|e| panic!("crm_resource --wait on {node}: {e}"));
    assert_eq!(
        out.code(),
        Some(0),
        "the cluster did not settle within {timeout:?}: {}{}",
        out.stdout_str(),
        out.stderr_str()
    );
}

/// How often `node`'s BMC switched its power off: the BMC's own log of fence actions.
pub fn bmc_power_offs(lab: &Lab, node: &str) -> usize {
    lab.bmc_chassis_log(node)
        .lines()
        .filter(|l| l.ends_with("set power 0"))
        .count()
}

/// [`bmc_power_offs`] summed over every node of the lab.
pub fn bmc_power_offs_all(lab: &Lab) -> usize {
    lab.nodes().iter().map(|n| bmc_power_offs(lab, n)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shape of Pacemaker 2.1.5's CIB status section (one node, a stopped probe on the other).
    const STATUS: &str = r#"<status>
  <node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member">
    <lrm id="1"><lrm_resources>
      <lrm_resource id="ax1" type="instance" class="ocf" provider="axigen">
        <lrm_rsc_op id="ax1_last_0" operation_key="ax1_start_0" operation="start" call-id="12" rc-code="0" op-status="0" interval="0" last-rc-change="1764460000" on_node="n1"/>
        <lrm_rsc_op id="ax1_monitor_2000" operation_key="ax1_monitor_2000" operation="monitor" call-id="13" rc-code="0" op-status="0" interval="2000" last-rc-change="1764460001" on_node="n1"/>
        <lrm_rsc_op id="ax1_last_failure_0" operation_key="ax1_monitor_2000" operation="monitor" call-id="9" rc-code="7" op-status="0" interval="2000" last-rc-change="1764459990" on_node="n1"/>
      </lrm_resource>
    </lrm_resources></lrm>
  </node_state>
  <node_state id="2" uname="n2" in_ccm="true" crmd="online">
    <lrm id="2"><lrm_resources>
      <lrm_resource id="ax1" type="instance" class="ocf" provider="axigen">
        <lrm_rsc_op id="ax1_last_0" operation_key="ax1_monitor_0" operation="monitor" call-id="5" rc-code="7" op-status="0" interval="0" last-rc-change="1764459900" on_node="n2"/>
      </lrm_resource>
    </lrm_resources></lrm>
  </node_state>
  <node_state id="3" uname="n3" in_ccm="false" crmd="offline"/>
</status>"#;

    #[test]
    fn reads_every_record_of_every_node() {
        let ops = parse_operations(STATUS).unwrap();
        assert_eq!(ops.len(), 4);
        assert!(was_active_on(&ops, "ax1", "n1"));
        assert!(!was_active_on(&ops, "ax1", "n2"), "a stopped probe only");
        assert!(!was_active_on(&ops, "ax1", "n3"), "no history at all");
        assert_eq!(last_start(&ops, "ax1", "n1").unwrap().call_id, 12);
        let f = last_failure(&ops, "ax1", "n1").unwrap();
        assert_eq!((f.rc, f.interval_ms), (7, 2000));
        assert!(last_start(&ops, "ax1", "n2").is_none());
    }

    #[test]
    fn bad_input_is_an_error_naming_it() {
        assert!(parse_operations("<status").is_err());
        let bad = STATUS.replace(r#"call-id="12""#, r#"call-id="x""#);
        let e = parse_operations(&bad).unwrap_err().to_string();
        assert!(e.contains("call-id") && e.contains("ax1_last_0"), "{e}");
    }
}
