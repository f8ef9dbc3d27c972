//! Chassis power switch of a simulated BMC, run by ipmi_sim's `chassis_control` (ipmi_lan(5)):
//! `axha-bmc-chassis DIR get|set ARGS...`. What each command does is in the library
//! (`axha_bmc::chassis`), shared with the project's RMCP+ responder.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some((dir, rest)) = args.split_first() else {
        eprintln!("usage: axha-bmc-chassis DIR get|set|check ARGS...");
        return ExitCode::from(2);
    };
    match axha_bmc::chassis::execute(&PathBuf::from(dir), rest) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            // ipmi_sim reads stdout for get; an error goes there too, as the reference does.
            println!("{msg}");
            ExitCode::FAILURE
        }
    }
}
