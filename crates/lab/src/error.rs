use std::fmt;
use std::path::PathBuf;

use axha_cib::doctor::{describe_missing, MissingProgram};
use axha_exec::ExecError;

use crate::diagnosis::ClusterReport;

/// Everything that can go wrong in the lab. Each variant carries the value it is about; its
/// `Display` is one line that already includes the cause's message, so it has no `source()`
/// (nothing prints a cause twice).
#[derive(Debug)]
pub enum LabError {
    /// A field of [`crate::LabSpec`] (or a CLI argument) is not acceptable.
    InvalidSpec {
        /// The field (or option) at fault.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        reason: &'static str,
    },
    /// Namespaces and mounts need root.
    NotRoot,
    /// No lab of that name is up (no state, or it was torn down).
    NotUp {
        /// The lab asked for.
        name: String,
        /// Where its state was looked for.
        state_dir: PathBuf,
    },
    /// A lab of that name is already up and owned by a live process (or left running).
    AlreadyUp {
        /// The lab asked for.
        name: String,
        /// Where its state is.
        state_dir: PathBuf,
    },
    /// The node name is not one of the lab's nodes.
    UnknownNode {
        /// The name given.
        node: String,
        /// The lab's nodes.
        nodes: Vec<String>,
    },
    /// The node is powered off (its anchor process is gone).
    NodeDown {
        /// The node asked for.
        node: String,
    },
    /// The node is already running (`start` on a live node).
    NodeUp {
        /// The node asked for.
        node: String,
    },
    /// The `axha-lab-node` helper binary could not be found.
    HelperMissing {
        /// Every path tried.
        tried: Vec<PathBuf>,
    },
    /// A command failed.
    Exec {
        /// The step the command was for.
        what: String,
        /// How it failed (argv, status, stderr).
        source: ExecError,
    },
    /// A file operation failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// Something did not happen in time.
    Timeout {
        /// What was waited for.
        what: String,
        /// The last state seen.
        last: String,
    },
    /// Pacemaker's XML could not be read.
    Xml {
        /// Which document.
        what: String,
        /// Why it could not be read.
        reason: String,
    },
    /// The lab's state files are inconsistent (hand-edited, or from another version).
    BadState {
        /// The file or directory at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A node's BMC could not be started.
    Bmc {
        /// The node whose BMC it is.
        node: String,
        /// Why it did not start.
        reason: String,
    },
    /// Processes of a node survived SIGKILL.
    Unkillable {
        /// The node (or namespace).
        node: String,
        /// The processes left.
        pids: Vec<u32>,
    },
    /// Programs the lab or its agents need are not installed (checked before anything starts).
    MissingPrograms {
        /// Each missing program with its Debian package.
        missing: Vec<MissingProgram>,
    },
    /// A wait on the cluster failed: it timed out, or (`gave_up`) Pacemaker will not retry a
    /// failed start the wait depends on. Carries what Pacemaker knew at that moment.
    ClusterWait {
        /// What was waited for.
        what: String,
        /// The last state seen.
        last: String,
        /// The failed starts Pacemaker will not retry, when the wait ended early.
        gave_up: Option<String>,
        /// Failed actions, resources not running, fencing history, log paths.
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

impl std::error::Error for LabError {}
