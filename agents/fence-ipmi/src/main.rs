//! `fence_axigen_ipmi` (`stonith:fence_axigen_ipmi`): see the library for what each action does.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use axha_exec::{read_stdin_bounded, Deadline};
use axha_fencing::FenceError;

/// Largest request read from stdin: a few dozen `key=value` lines, with room to spare.
const MAX_STDIN: usize = 64 * 1024;
/// How long stdin may take to reach its end: Pacemaker writes the request at once and closes
/// it; a stdin left open (a terminal, a stuck caller) must not hold the agent for ever.
const STDIN_WAIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let read_stdin = || {
        read_stdin_bounded(MAX_STDIN, &Deadline::after(STDIN_WAIT))
            .map_err(|e| FenceError::Usage(e.to_string()))
    };
    let reply = axha_fencing::dispatch(
        &axha_agent_fence_ipmi::IpmiFenceAgent,
        &args,
        read_stdin,
        &mut |line| eprintln!("{line}"),
    );
    let _ = std::io::stdout().write_all(reply.stdout.as_bytes());
    let _ = std::io::stderr().write_all(reply.stderr.as_bytes());
    ExitCode::from(reply.code)
}
