//! `ocf:axigen:instance`: one Axigen service instance (its working directory, its listeners)
//! as a Pacemaker primitive.
//!
//! - start: launch the server detached (own session), record its identity (pid, start time,
//!   executable) in `HA_RSCTMP`, return once the CLI answers `GET VERSION`.
//! - stop: SIGTERM the server's process group, escalate to SIGKILL after the graceful share of
//!   the timeout, and return only when nothing of it is left. Parameter problems never make
//!   stop fail.
//! - monitor: depth 0 process identity + CLI `GET VERSION`; depth 10 the SMTP/IMAP/POP3
//!   greetings of every listener; depth 20 a CLI login and a read-only command.
//! - validate-all: depth 0 parameters; depth 10 this node's binary, workdir, config and
//!   password file.
//! - diagnose (by hand): a JSON report of processes, listeners, probes and state; changes nothing.

#![warn(missing_docs)]

mod actions;
mod checks;
mod diagnose;
mod failure;
mod settings;
mod spec;
mod state;

pub use settings::Settings;
pub use spec::{ACTIONS, PARAMS, SPEC};
