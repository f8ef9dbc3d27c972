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

mod actions;
mod checks;
mod diagnose;
mod settings;
mod spec;
mod state;

pub use settings::Settings;
pub use spec::{ACTIONS, PARAMS, SPEC};

use axha_ocf::{Agent, AgentSpec, Context, OcfResult};

/// The agent, for [`axha_ocf::run`].
pub struct InstanceAgent;

impl Agent for InstanceAgent {
    fn spec(&self) -> &AgentSpec {
        &SPEC
    }

    fn action(&self, action: &str, ctx: &mut Context) -> OcfResult {
        match action {
            "start" => actions::start(ctx),
            "stop" => actions::stop(ctx),
            "monitor" => actions::monitor(ctx),
            "validate-all" => actions::validate(ctx),
            "diagnose" => diagnose::diagnose(ctx),
            other => Err(axha_ocf::OcfError::new(
                axha_ocf::OcfStatus::ErrUnimplemented,
                format!("unsupported action {other}"),
            )),
        }
    }
}
