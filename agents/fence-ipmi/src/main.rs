//! `fence_axigen_ipmi` (`stonith:fence_axigen_ipmi`): see the library for what each action does.

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let read_stdin = || {
        let mut b = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
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
