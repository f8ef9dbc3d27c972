//! CIB templates of the two reference architectures, and the read side of a running cluster.
//!
//! - [`values`]: the operator's values file (TOML), typed and validated field by field.
//! - [`templates`]: [`Template`] (`two-node-active-passive`, `multi-tier-n-plus-1`) and
//!   [`build`], which turns [`Values`] into a [`model::Cib`].
//! - [`xml`], [`script`]: one model rendered as CIB XML, pcs and crm scripts, corosync.conf.
//! - [`tools`]: `crm_verify` and `crm_simulate` (every node failure, the resulting placement).
//! - [`status`]: `crm_mon --output-as=xml` parsed into nodes, instances and fencing history.
//! - [`doctor`]: checks of one node (agents and their metadata, BMC, node names, versions).
//!
//! ```no_run
//! use axha_cib::{build, read_values, xml, Template};
//! let values = read_values("values.toml".as_ref())?;
//! let cib = build(Template::MultiTierNPlus1, &values)?;
//! print!("{}", xml::render(&cib));
//! # Ok::<(), axha_cib::CibError>(())
//! ```

#![warn(missing_docs)]

use std::fmt;
use std::path::PathBuf;

pub mod doctor;
pub mod links;
pub mod model;
pub mod script;
pub mod status;
pub mod templates;
pub mod tiers;
pub mod tools;
pub mod values;
pub mod xml;

pub use templates::{build, Template};
pub use values::{parse_values, read_values, Values};

/// Everything that can go wrong in this crate; each variant carries the offending value.
#[derive(Debug)]
pub enum CibError {
    /// A file could not be read (missing, unreadable, too large, a pipe that never ends).
    Read(axha_exec::ReadError),
    /// A file that should hold text holds bytes that are not UTF-8.
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// A file could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The values file is wrong: one line per problem, each naming its field.
    Values {
        /// Each problem, `field: what is wrong`.
        problems: Vec<String>,
        /// Byte range of a syntax error in the file, when known.
        span: Option<std::ops::Range<usize>>,
    },
    /// A template name that is not one of [`Template::all`].
    UnknownTemplate(String),
    /// A step of a simulated sequence is malformed or impossible (the message says which).
    InvalidStep(String),
    /// A Pacemaker tool could not be run or failed.
    Tool(axha_exec::ExecError),
    /// A Pacemaker tool failed a check (crm_verify errors): its own words.
    Rejected {
        /// The tool's name.
        tool: String,
        /// What it printed.
        output: String,
    },
    /// The cluster could not be asked (Pacemaker not running on this node, no permission).
    ClusterUnavailable {
        /// The tool's name.
        tool: String,
        /// Its exit code (`None` when a signal ended it).
        code: Option<i32>,
        /// What it printed.
        message: String,
    },
    /// A tool's XML output could not be understood.
    Parse {
        /// Which output (tool and command).
        what: String,
        /// What could not be understood.
        detail: String,
    },
}

impl fmt::Display for CibError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CibError::Read(e) => write!(f, "{e}"),
            CibError::NotText { path } => write!(f, "{} is not UTF-8 text", path.display()),
            CibError::Write { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
            CibError::Values { problems, .. } => {
                write!(f, "invalid values: {}", problems.join("; "))
            }
            CibError::UnknownTemplate(t) => {
                let names: Vec<_> = Template::all().map(|t| t.name()).collect();
                write!(f, "unknown template {t:?} (known: {})", names.join(", "))
            }
            CibError::InvalidStep(m) => f.write_str(m),
            CibError::Tool(e) => write!(f, "{e}"),
            CibError::Rejected { tool, output } => {
                write!(f, "{tool} rejected the CIB:\n{}", output.trim_end())
            }
            CibError::ClusterUnavailable {
                tool,
                code,
                message,
            } => {
                let code = code
                    .map(|c| format!("exit code {c}"))
                    .unwrap_or_else(|| "killed".into());
                write!(f, "{tool} cannot read the cluster state ({code}): {message}; is Pacemaker running on this node?")
            }
            CibError::Parse { what, detail } => write!(f, "cannot parse {what}: {detail}"),
        }
    }
}

/// The message already includes the underlying error, so `source` stays empty (an error
/// chain printer would repeat it otherwise).
impl std::error::Error for CibError {}

/// Read a text file of at most `max` bytes before `deadline` (a FIFO or a device named as the
/// file must not hold the caller or fill its memory).
fn read_text(
    path: &std::path::Path,
    max: usize,
    deadline: &axha_exec::Deadline,
) -> Result<String, CibError> {
    let bytes = axha_exec::read_bounded(path, max, deadline).map_err(CibError::Read)?;
    String::from_utf8(bytes).map_err(|_| CibError::NotText {
        path: path.to_path_buf(),
    })
}

impl From<axha_exec::ExecError> for CibError {
    fn from(e: axha_exec::ExecError) -> Self {
        CibError::Tool(e)
    }
}
