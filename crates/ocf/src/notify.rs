//! Clone notifications (`notify=true`): the operation, its phase and the node/instance lists
//! Pacemaker passes as `OCF_RESKEY_CRM_meta_notify_*`. Pacemaker 2.1 passes both the
//! promoted/unpromoted and the older master/slave names; older versions only the latter. Lists
//! are space-separated; an empty list arrives as a single space.

use std::collections::HashMap;

use crate::env;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Whether the notification comes before or after the operation.
pub enum Phase {
    /// Before the operation (`pre`).
    Pre,
    /// After the operation (`post`).
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// The clone operation a notification is about.
pub enum Operation {
    /// Instances are being started.
    Start,
    /// Instances are being stopped.
    Stop,
    /// An instance is being promoted.
    Promote,
    /// An instance is being demoted.
    Demote,
}

/// Node names (`*_uname`) and clone instances (`*_resource`) of one notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists {
    /// Nodes where instances start in this transition.
    pub start: Vec<String>,
    /// Nodes where instances stop in this transition.
    pub stop: Vec<String>,
    /// Nodes where an instance is promoted in this transition.
    pub promote: Vec<String>,
    /// Nodes where an instance is demoted in this transition.
    pub demote: Vec<String>,
    /// Nodes with an active instance.
    pub active: Vec<String>,
    /// Nodes without an active instance.
    pub inactive: Vec<String>,
    /// Nodes with the promoted instance (older name: master).
    pub promoted: Vec<String>,
    /// Nodes with an unpromoted instance (older name: slave).
    pub unpromoted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// One clone notification, from the `OCF_RESKEY_CRM_meta_notify_*` variables.
pub struct Notification {
    /// Before or after the operation.
    pub phase: Phase,
    /// The operation notified about.
    pub operation: Operation,
    /// Node names per list.
    pub unames: Lists,
    /// Clone instance ids per list.
    pub resources: Lists,
}

/// Why the notification variables could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyError {
    /// `notify_type` is not set.
    MissingType,
    /// `notify_type` is neither `pre` nor `post`; the value given.
    BadType(String),
    /// `notify_operation` is not set.
    MissingOperation,
    /// `notify_operation` is not start, stop, promote or demote; the value given.
    BadOperation(String),
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyError::MissingType => write!(f, "notify_type is not set"),
            NotifyError::BadType(v) => write!(f, "unknown notify_type {v:?}"),
            NotifyError::MissingOperation => write!(f, "notify_operation is not set"),
            NotifyError::BadOperation(v) => write!(f, "unknown notify_operation {v:?}"),
        }
    }
}

impl std::error::Error for NotifyError {}

fn split(v: Option<&String>) -> Vec<String> {
    v.map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn lists(vars: &HashMap<String, String>, suffix: &str) -> Lists {
    let get = |names: &[&str]| {
        names
            .iter()
            .map(|n| vars.get(&env::meta_key(&format!("notify_{n}_{suffix}"))))
            .find(|v| v.is_some())
            .flatten()
    };
    Lists {
        start: split(get(&["start"])),
        stop: split(get(&["stop"])),
        promote: split(get(&["promote"])),
        demote: split(get(&["demote"])),
        active: split(get(&["active"])),
        inactive: split(get(&["inactive"])),
        promoted: split(get(&["promoted", "master"])),
        unpromoted: split(get(&["unpromoted", "slave"])),
    }
}

impl Notification {
    /// Read a notification from the call's environment.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Notification, NotifyError> {
        let phase = match vars.get(&env::meta_key("notify_type")).map(String::as_str) {
            None | Some("") => return Err(NotifyError::MissingType),
            Some("pre") => Phase::Pre,
            Some("post") => Phase::Post,
            Some(v) => return Err(NotifyError::BadType(v.to_string())),
        };
        let operation = match vars
            .get(&env::meta_key("notify_operation"))
            .map(String::as_str)
        {
            None | Some("") => return Err(NotifyError::MissingOperation),
            Some("start") => Operation::Start,
            Some("stop") => Operation::Stop,
            Some("promote") => Operation::Promote,
            Some("demote") => Operation::Demote,
            Some(v) => return Err(NotifyError::BadOperation(v.to_string())),
        };
        Ok(Notification {
            phase,
            operation,
            unames: lists(vars, "uname"),
            resources: lists(vars, "resource"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (format!("OCF_RESKEY_CRM_meta_notify_{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn new_names() {
        let n = Notification::from_vars(&vars(&[
            ("type", "pre"),
            ("operation", "promote"),
            ("promote_uname", "n2 "),
            ("promoted_uname", " "),
            ("unpromoted_uname", "n1 n2"),
            ("start_resource", " "),
        ]))
        .unwrap();
        assert_eq!(n.phase, Phase::Pre);
        assert_eq!(n.operation, Operation::Promote);
        assert_eq!(n.unames.promote, ["n2"]);
        assert!(n.unames.promoted.is_empty());
        assert_eq!(n.unames.unpromoted, ["n1", "n2"]);
        assert!(n.resources.start.is_empty());
    }

    #[test]
    fn old_names() {
        let n = Notification::from_vars(&vars(&[
            ("type", "post"),
            ("operation", "demote"),
            ("master_uname", "n1"),
            ("slave_resource", "d:1"),
        ]))
        .unwrap();
        assert_eq!(n.unames.promoted, ["n1"]);
        assert_eq!(n.resources.unpromoted, ["d:1"]);
    }

    #[test]
    fn new_name_wins_over_old() {
        let n = Notification::from_vars(&vars(&[
            ("type", "post"),
            ("operation", "start"),
            ("promoted_uname", "a"),
            ("master_uname", "b"),
        ]))
        .unwrap();
        assert_eq!(n.unames.promoted, ["a"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            Notification::from_vars(&vars(&[])),
            Err(NotifyError::MissingType)
        );
        assert_eq!(
            Notification::from_vars(&vars(&[("type", "mid"), ("operation", "start")])),
            Err(NotifyError::BadType("mid".into()))
        );
        assert_eq!(
            Notification::from_vars(&vars(&[("type", "pre"), ("operation", "reload")])),
            Err(NotifyError::BadOperation("reload".into()))
        );
    }
}
