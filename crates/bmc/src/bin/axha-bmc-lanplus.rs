//! `axha-bmc-lanplus DIR`: the project's RMCP+ responder (cipher suites 2, 3 and 17, a BMC
//! key), serving the simulated BMC in DIR as `DIR/lanplus.conf` describes. Runs until it is
//! signalled; see `axha_bmc::lanplus`.

use std::path::PathBuf;
use std::process::ExitCode;

use axha_bmc::lanplus::{LanplusConfig, Responder};
use axha_exec::escape_controls;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let [dir] = args.as_slice() else {
        eprintln!("usage: axha-bmc-lanplus DIR");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let served = LanplusConfig::read(&dir)
        .and_then(|cfg| Responder::bind(&cfg, &dir))
        .and_then(|mut r| r.serve(&|| false));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("axha-bmc-lanplus: {}", escape_controls(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}
