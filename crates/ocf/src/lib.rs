//! The OCF resource agent framework (OCF Resource Agent API 1.1, as Pacemaker 2.1 runs it).
//!
//! An agent is a page of declarations plus a handful of action functions:
//!
//! - [`AgentSpec`]: name, descriptions, [`ParamSpec`]s and [`ActionSpec`]s. From it come the
//!   `meta-data` XML ([`metadata::render`]), the parsing and checking of `OCF_RESKEY_*`
//!   ([`Params`]) and the dispatch of the first command-line argument ([`run`]).
//! - [`ActionSpec`]: each action declared once with its [`Handler`], a function of the
//!   [`Context`] returning an [`OcfStatus`] for the answers that are not failures (0, 7, 8) or
//!   an [`OcfError`] with a code and a short exit reason. [`run`] is the one place that maps
//!   results to exit codes and prints the `ocf-exit-reason:` line.
//! - [`Param`]: a parameter declared once as a typed constant; its [`ParamSpec`] goes in the
//!   declaration and [`Params::get`] / [`Params::value`] read it, default included.
//! - [`Context`]: the action's [`Deadline`] (from `OCF_RESKEY_CRM_meta_timeout`, with a margin
//!   so the agent answers before Pacemaker's SIGKILL), probe detection, `OCF_CHECK_LEVEL`, meta
//!   attributes under both of their names, the [`Logger`], and the per-node state directory.
//! - [`promotion`] (promotion scores through `crm_attribute --promotion`, bounded) and
//!   [`notify`] (the clone notification variables, promoted/unpromoted and master/slave names).
//! - [`trace`]: `trace_ra`, the step trace `crm resource trace` asks for, in the shell
//!   agents' file layout.
//! - [`cibadmin`]: the CIB read and changed through `cibadmin` (query, create, replace,
//!   delete by scope or XPath; XML on stdin; `CIB_file` for an offline CIB), bounded.
//!
//! ```no_run
//! use axha_ocf::*;
//! const STATE: Param<String> = Param::string("state", "State file", "Where to keep state.")
//!     .required()
//!     .unique();
//! static PARAMS: &[ParamSpec] = &[STATE.spec];
//! fn start(ctx: &mut Context) -> OcfResult {
//!     let _state = ctx.params.value(&STATE)?;
//!     Ok(OcfStatus::Success)
//! }
//! static ACTIONS: &[ActionSpec] = &[
//!     ActionSpec::new("start", 20, start),
//!     ActionSpec::new("stop", 20, |_| Ok(OcfStatus::Success)).lenient(),
//!     ActionSpec::new("monitor", 20, |_| Ok(OcfStatus::NotRunning)).interval(10),
//!     ActionSpec::meta_data(5),
//!     ActionSpec::new("validate-all", 20, |_| Ok(OcfStatus::Success)),
//! ];
//! static SPEC: AgentSpec = AgentSpec {
//!     name: "example", version: "1.0", shortdesc: "Example", longdesc: "An example agent.",
//!     params: PARAMS, actions: ACTIONS,
//! };
//! fn main() { axha_ocf::run(&SPEC) }
//! ```

#![warn(missing_docs)]

mod agent;
pub mod cibadmin;
mod context;
pub mod env;
mod log;
pub mod metadata;
pub mod notify;
mod param;
pub mod promotion;
mod status;
pub mod trace;

pub use agent::{run, run_with, ActionSpec, AgentSpec, Handler};
pub use axha_exec::{escape_controls, Deadline};
pub use context::Context;
pub use env::Environment;
pub use log::{Level, Logger};
pub use param::{Param, ParamError, ParamSpec, ParamType, ParamValue, Params};
pub use status::{first_failure, OcfError, OcfResult, OcfStatus};
