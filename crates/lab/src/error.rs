use std::fmt;
use std::path::PathBuf;

use axha_cib::doctor::{describe_missing, MissingProgram};
use axha_exec::ExecError;

use crate::diagnosis::ClusterReport;

/// Everything that can go wrong in the lab. Each variant carries the value it is about.
#[derive(Debug)]
pub enum LabError {
    /// A field of [`crate::LabSpec`] (or a CLI argument) is not acceptable.
    InvalidSpec {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// Namespaces and mounts need root.
    NotRoot,
    /// No lab of that name is up (no state, or it was torn down).
    NotUp { name: String, state_dir: PathBuf },
    /// A lab of that name is already up and owned by a live process (or left running).
    AlreadyUp { name: String, state_dir: PathBuf },
    /// The node name is not one of the lab's nodes.
    UnknownNode { node: String, nodes: Vec<String> },
    /// The node is powered off (its anchor process is gone).
    NodeDown { node: String },
    /// The node is already running (`start` on a live node).
    NodeUp { node: String },
    /// The `axha-lab-node` helper binary could not be found.
    HelperMissing { tried: Vec<PathBuf> },
    /// A command failed.
    Exec { what: String, source: ExecError },
    /// A file operation failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Something did not happen in time.
    Timeout { what: String, last: String },
    /// Pacemaker's XML could not be read.
    Xml { what: String, reason: String },
    /// The lab's state files are inconsistent (hand-edited, or from another version).
    BadState { path: PathBuf, reason: String },
    /// A node's BMC could not be started.
    Bmc { node: String, reason: String },
    /// Processes of a node survived SIGKILL.
    Unkillable { node: String, pids: Vec<u32> },
    /// Programs the lab or its agents need are not installed (checked before anything starts).
    MissingPrograms { missing: Vec<MissingProgram> },
    /// A wait on the cluster failed: it timed out, or (`gave_up`) Pacemaker will not retry a
    /// failed start the wait depends on. Carries what Pacemaker knew at that moment.
    ClusterWait {
        what: String,
        last: String,
        gave_up: Option<String>,
        report: Box<ClusterReport>,
    },
}

impl LabError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LabError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn exec(what: impl Into<String>, source: ExecError) -> Self {
        LabError::Exec {
            what: what.into(),
            source,
        }
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabError::InvalidSpec {
                field,
                value,
                reason,
            } => write!(f, "invalid {field} {value:?}: {reason}"),
            LabError::NotRoot => write!(
                f,
                "the lab needs root (network, mount and UTS namespaces, mounts)"
            ),
            LabError::NotUp { name, state_dir } => write!(
                f,
                "lab {name:?} is not up (no state in {})",
                state_dir.display()
            ),
            LabError::AlreadyUp { name, state_dir } => write!(
                f,
                "lab {name:?} is already up (state in {}); take it down first",
                state_dir.display()
            ),
            LabError::UnknownNode { node, nodes } => {
                write!(f, "unknown node {node:?} (nodes: {})", nodes.join(" "))
            }
            LabError::NodeDown { node } => write!(f, "node {node} is down"),
            LabError::NodeUp { node } => write!(f, "node {node} is already running"),
            LabError::HelperMissing { tried } => {
                write!(f, "axha-lab-node not found (tried")?;
                for t in tried {
                    write!(f, " {}", t.display())?;
                }
                write!(f, "); build it with `cargo build --workspace --bins`")
            }
            LabError::Exec { what, source } => write!(f, "{what}: {source}"),
            LabError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            LabError::Timeout { what, last } => {
                write!(f, "timed out waiting for {what}")?;
                if !last.is_empty() {
                    write!(f, " (last seen: {last})")?;
                }
                Ok(())
            }
            LabError::Xml { what, reason } => write!(f, "cannot read {what}: {reason}"),
            LabError::BadState { path, reason } => {
                write!(f, "bad lab state {}: {reason}", path.display())
            }
            LabError::Bmc { node, reason } => write!(f, "BMC of node {node}: {reason}"),
            LabError::Unkillable { node, pids } => {
                write!(f, "processes of node {node} survived SIGKILL: {pids:?}")
            }
            LabError::MissingPrograms { missing } => {
                write!(f, "missing programs: {}", describe_missing(missing))
            }
            LabError::ClusterWait {
                what,
                last,
                gave_up,
                report,
            } => {
                match gave_up {
                    Some(failed) => write!(
                        f,
                        "gave up waiting for {what}: Pacemaker will not retry {failed}"
                    )?,
                    None => write!(f, "timed out waiting for {what}")?,
                }
                if !last.is_empty() {
                    write!(f, " (last seen: {last})")?;
                }
                write!(f, "; {report}")
            }
        }
    }
}

impl std::error::Error for LabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LabError::Exec { source, .. } => Some(source),
            LabError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
