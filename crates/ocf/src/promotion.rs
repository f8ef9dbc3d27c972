//! Promotion scores: the transient node attribute Pacemaker reads to choose where a
//! promotable clone instance is promoted (`crm_attribute --promotion`, lifetime `reboot`, so
//! a rebooted node starts without a stale score). Every call is bounded by a deadline.

use axha_exec::{Cmd, Deadline, ExecError};

/// The program that sets node attributes. Found on `PATH`.
pub const CRM_ATTRIBUTE: &str = "crm_attribute";

/// Set this node's promotion score for `resource` (the `OCF_RESOURCE_INSTANCE`; Pacemaker
/// strips a clone suffix itself).
pub fn set_score(resource: &str, score: i64, deadline: &Deadline) -> Result<(), ExecError> {
    Cmd::new(CRM_ATTRIBUTE)
        .arg(format!("--promotion={resource}"))
        .args(["-l", "reboot", "-v"])
        .arg(score.to_string())
        .run_ok(deadline)
        .map(|_| ())
}

/// Remove this node's promotion score (a node that must not be promoted).
pub fn delete_score(resource: &str, deadline: &Deadline) -> Result<(), ExecError> {
    Cmd::new(CRM_ATTRIBUTE)
        .arg(format!("--promotion={resource}"))
        .args(["-l", "reboot", "-D"])
        .run_ok(deadline)
        .map(|_| ())
}

/// This node's promotion score, `None` when none is set.
pub fn get_score(resource: &str, deadline: &Deadline) -> Result<Option<i64>, ExecError> {
    let out = Cmd::new(CRM_ATTRIBUTE)
        .arg(format!("--promotion={resource}"))
        .args(["-l", "reboot", "-G", "-q"])
        .run(deadline)?;
    Ok(parse_score(out.code(), &out.stdout_str()))
}

/// crm_attribute -G -q prints the bare value; it exits non-zero (6, "no such attribute")
/// when there is none.
fn parse_score(code: Option<i32>, stdout: &str) -> Option<i64> {
    if code != Some(0) {
        return None;
    }
    let v = stdout.trim();
    match v {
        "INFINITY" | "+INFINITY" => Some(1_000_000),
        "-INFINITY" => Some(-1_000_000),
        _ => v.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores() {
        assert_eq!(parse_score(Some(0), "10000\n"), Some(10000));
        assert_eq!(parse_score(Some(0), "INFINITY"), Some(1_000_000));
        assert_eq!(parse_score(Some(6), ""), None);
        assert_eq!(parse_score(Some(0), "junk"), None);
    }
}
