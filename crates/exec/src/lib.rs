//! Bounded subprocesses, deadlines and process identity, shared by every axigen-ha component
//! that runs a command: the agents, the DRBD driver, the lab and the tests.
//!
//! - [`Deadline`]: a point in time every wait is measured against (an OCF action's timeout,
//!   a fence agent's `power_timeout`).
//! - [`Cmd`]: an argv list run with `LC_ALL=C`, a scrubbed environment, in its own process
//!   group, killed (the whole group) when the deadline passes. Errors carry argv, exit status
//!   and the tail of stderr.
//! - [`Cmd::spawn_detached`]: start a daemon in its own session, outside the caller's process
//!   group (Pacemaker kills an agent's whole group on timeout; a daemon must survive that).
//! - [`read_bounded`]: a file or pipe read to its end within a size cap and a deadline (secret
//!   files, a fence agent's stdin).
//! - [`escape_controls`]: outside text made safe for one log line or exit reason;
//!   [`escape_xml`] / [`escape_xml_text`]: text made safe for an XML attribute value or for
//!   element content.
//! - [`ProcessIdentity`]: pid + start time + executable, so a recycled pid is never taken for
//!   the process that was started.
//!
//! ```no_run
//! use axha_exec::{Cmd, Deadline};
//! use std::time::Duration;
//! let deadline = Deadline::after(Duration::from_secs(5));
//! let out = Cmd::new("crm_mon").args(["-1", "--output-as=xml"]).run_ok(&deadline)?;
//! println!("{}", out.stdout_str());
//! # Ok::<(), axha_exec::ExecError>(())
//! ```

#![warn(missing_docs)]

mod cmd;
mod deadline;
mod identity;
mod read;
mod text;

pub use cmd::{observe_runs, Cmd, ExecError, Output, RunObserver, DEFAULT_MAX_OUTPUT};
pub use deadline::Deadline;
pub use identity::{
    all_pids, netns_of, parse_proc_stat, read_identity, read_stat, ProcStat, ProcessIdentity,
};
pub use read::{read_bounded, read_stdin_bounded, ReadError, MAX_SECRET_BYTES};
pub use text::{escape_controls, escape_xml, escape_xml_text};
