use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use axha_axigen::process::{self, ServerCommand, StopOutcome};
use axha_exec::Deadline;
use axha_ocf::{Context, OcfError, OcfResult, OcfStatus};

use crate::checks::{self, Found};
use crate::failure::Failure;
use crate::settings::{Endpoints, Settings};
use crate::state::StateFile;

/// Time kept back from start's deadline to report a failure.
const START_RESERVE: Duration = Duration::from_millis(300);

fn state_of(ctx: &Context, s: &Settings) -> StateFile {
    StateFile::new(&ctx.state_dir(), &s.workdir)
}

/// The check endpoints; without a readable config only the parameters can give them.
fn endpoints(s: &Settings) -> Result<Endpoints, OcfError> {
    match s.read_config() {
        Ok(cfg) => s.endpoints(Some(&cfg)),
        Err(e) => s.endpoints(None).map_err(|_| e),
    }
}

/// Checks that this node can run the instance at all (validate-all depth 10, start). A
/// configuration error (6, wrong on every node) is reported before a problem of this node
/// (5 or 2), so that Pacemaker bans the resource everywhere instead of trying node after node.
pub fn check_environment(s: &Settings) -> Result<(), OcfError> {
    axha_ocf::first_failure([
        check_binary(&s.binary),
        check_workdir(&s.workdir),
        s.read_config().map(|_| ()),
        endpoints(s).map(|_| ()),
        s.password_file
            .as_deref()
            .map_or(Ok(()), checks::check_password_file),
    ])
}

fn check_binary(binary: &Path) -> Result<(), OcfError> {
    match std::fs::metadata(binary) {
        Err(_) => Err(OcfError::installed(format!(
            "binary {} not found",
            binary.display()
        ))),
        Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => Err(OcfError::installed(
            format!("binary {} is not an executable file", binary.display()),
        )),
        Ok(_) => Ok(()),
    }
}

fn check_workdir(workdir: &Path) -> Result<(), OcfError> {
    match std::fs::metadata(workdir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(OcfError::installed(format!(
            "workdir {} is not a directory",
            workdir.display()
        ))),
        Err(_) => Err(OcfError::installed(format!(
            "workdir {} does not exist here (storage not mounted?)",
            workdir.display()
        ))),
    }
}

pub fn validate(ctx: &mut Context) -> OcfResult {
    let s = Settings::from_params(&ctx.params)?;
    if ctx.check_level >= 10 {
        check_environment(&s)?;
    }
    Ok(OcfStatus::Success)
}

/// reload-agent (OCF 1.1): Pacemaker calls it when only reloadable parameters changed. Every
/// action reads its parameters afresh and the state file holds only the supervisor's
/// identity, so there is nothing to re-read: the new values are checked (a wrong one fails
/// here, not at the next monitor) and noted in the log; the server is not touched.
pub fn reload_agent(ctx: &mut Context) -> OcfResult {
    let s = Settings::from_params(&ctx.params)?;
    // Where the checks now go is only reported: a configuration file that cannot be read is
    // the next monitor's finding, not a reason to restart the instance.
    let cli = endpoints(&s).map_or_else(|e| e.reason, |ep| ep.cli.to_string());
    ctx.log.info(&format!(
        "parameters reloaded: checks on CLI {cli} within {}s, graceful stop {}% of its timeout",
        s.check_timeout.as_secs(),
        s.graceful_share
    ));
    Ok(OcfStatus::Success)
}

pub fn start(ctx: &mut Context) -> OcfResult {
    let s = Settings::from_params(&ctx.params)?;
    let state = state_of(ctx, &s);
    match checks::locate(&state, &s.binary, &s.workdir) {
        Found::Running { leader, adopted } => {
            if adopted {
                state
                    .write(&leader)
                    .map_err(|e| OcfError::generic(format!("state file: {e}")))?;
                ctx.log.info(&format!(
                    "found the server already running ({leader}); adopted"
                ));
            }
            return Ok(OcfStatus::Success);
        }
        Found::Gone { leftovers, .. } if !leftovers.is_empty() => {
            return Err(OcfError::generic(format!(
                "leftover processes of a dead server: {leftovers:?}; stop it first"
            )));
        }
        Found::Gone { .. } | Found::Absent => state.remove(),
    }
    check_environment(&s)?;
    let ep = endpoints(&s)?;
    // Someone else on our CLI port would answer our checks: refuse rather than be fooled.
    if std::net::TcpStream::connect_timeout(&ep.cli, Duration::from_millis(300)).is_ok() {
        return Err(OcfError::generic(format!(
            "CLI address {} is already in use by another process",
            ep.cli
        )));
    }
    let cmd = ServerCommand {
        binary: s.binary.clone(),
        workdir: s.workdir.clone(),
        config: s.config_explicit.then(|| s.config.clone()),
    };
    state
        .reset_log()
        .map_err(|e| OcfError::generic(format!("state directory: {e}")))?;
    let t = Instant::now();
    let leader = cmd.launch(&state.log).map_err(Failure::Process)?;
    state
        .write(&leader)
        .map_err(|e| OcfError::generic(format!("state file: {e}")))?;
    let deadline = ctx.deadline.less(START_RESERVE);
    let mut last = String::new();
    let answered = deadline.poll(Duration::from_millis(250), || {
        if !leader.is_alive() {
            return Some(false);
        }
        match checks::cli_version(ep.cli, &deadline, s.check_timeout) {
            Ok(_) => Some(true),
            Err(e) => {
                last = e.to_string();
                None
            }
        }
    });
    match answered {
        Some(true) => {
            ctx.log.info(&format!(
                "started ({leader}), CLI {} answering after {:.1}s",
                ep.cli,
                t.elapsed().as_secs_f64()
            ));
            Ok(OcfStatus::Success)
        }
        Some(false) => {
            let out = process::last_line(&state.log);
            if process::members(&leader).is_empty() {
                state.remove();
            }
            Err(OcfError::generic(if out.is_empty() {
                "server exited during start".to_string()
            } else {
                format!("server exited during start: {out}")
            }))
        }
        None => Err(OcfError::generic(format!(
            "not answering after {:.0}s: {last}",
            t.elapsed().as_secs_f64()
        ))),
    }
}

pub fn stop(ctx: &mut Context) -> OcfResult {
    let Some((workdir, binary, share)) = Settings::for_stop(&ctx.params) else {
        // Without a workdir nothing can have been started by this resource.
        ctx.log.warn("stop without workdir: nothing to stop");
        return Ok(OcfStatus::Success);
    };
    let state = StateFile::new(&ctx.state_dir(), &workdir);
    let leader = match checks::locate(&state, &binary, &workdir) {
        Found::Running { leader, .. } => leader,
        Found::Gone {
            recorded,
            leftovers,
        } if !leftovers.is_empty() => recorded,
        Found::Gone { .. } | Found::Absent => {
            state.remove();
            return Ok(OcfStatus::Success);
        }
    };
    let budget = ctx.deadline.remaining();
    let graceful = Deadline::after(budget * share / 100);
    match process::terminate(&leader, &graceful, &ctx.deadline) {
        Ok(outcome) => {
            state.remove();
            match outcome {
                StopOutcome::NotRunning => {}
                StopOutcome::Graceful { after } => ctx.log.info(&format!(
                    "stopped ({leader}) in {:.1}s",
                    after.as_secs_f64()
                )),
                StopOutcome::Killed { after, killed } => ctx.log.warn(&format!(
                    "server ignored SIGTERM: killed {killed} processes after {:.1}s",
                    after.as_secs_f64()
                )),
            }
            Ok(OcfStatus::Success)
        }
        Err(e) => Err(Failure::Process(e).into()),
    }
}

pub fn monitor(ctx: &mut Context) -> OcfResult {
    let s = Settings::from_params(&ctx.params)?;
    let state = state_of(ctx, &s);
    match checks::locate(&state, &s.binary, &s.workdir) {
        Found::Absent => return Ok(OcfStatus::NotRunning),
        Found::Gone {
            recorded,
            leftovers,
        } => {
            if ctx.is_probe() && leftovers.is_empty() {
                state.remove();
                return Ok(OcfStatus::NotRunning);
            }
            if leftovers.is_empty() {
                return Err(OcfError::generic(format!(
                    "server {recorded} is gone (crashed or killed)"
                )));
            }
            return Err(OcfError::generic(format!(
                "server {recorded} is gone, processes {leftovers:?} left over"
            )));
        }
        Found::Running { leader, adopted } => {
            if adopted {
                state
                    .write(&leader)
                    .map_err(|e| OcfError::generic(format!("state file: {e}")))?;
                ctx.log.info(&format!(
                    "found the server running without a record ({leader}); adopted"
                ));
            }
        }
    }
    let ep = endpoints(&s)?;
    checks::cli_version(ep.cli, &ctx.deadline, s.check_timeout)?;
    if ctx.check_level >= 10 {
        checks::greetings(&ep.greeters, &ctx.deadline, s.check_timeout)?;
    }
    if ctx.check_level >= 20 {
        checks::cli_login(
            ep.cli,
            &s.cli_user,
            s.password_file.as_ref(),
            &ctx.deadline,
            s.check_timeout,
        )?;
    }
    Ok(OcfStatus::Success)
}
