//! Chassis power switch of a simulated BMC, run by ipmi_sim's `chassis_control` (ipmi_lan(5)):
//!
//! ```text
//! axha-bmc-chassis DIR get power [boot]   prints power:0|1 (and boot:default)
//! axha-bmc-chassis DIR set power "0|1"    switches power
//! axha-bmc-chassis DIR set reset "1"      hard reset pulse
//! ```
//!
//! Every call is logged to DIR/chassis.log. When DIR/power-hook exists (an argv, one argument
//! per line), it runs after the state is recorded, bounded in time, with `off`, `on` or `reset`
//! appended. If the hook fails, the previous state is put back and the command fails, so a
//! BMC never reports a power-off that did not happen.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use axha_bmc::{append_chassis_log, read_power_file, write_power_file, POWER_HOOK};
use axha_exec::{Cmd, Deadline};

/// ipmi_sim waits for this program; a hook must not stall the BMC for long.
const HOOK_TIMEOUT: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((dir, rest)) = args.split_first() else {
        eprintln!("usage: axha-bmc-chassis DIR get|set|check ARGS...");
        return ExitCode::from(2);
    };
    let dir = PathBuf::from(dir);
    let _ = append_chassis_log(&dir, &rest.join(" "));
    match run(&dir, rest) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            let _ = append_chassis_log(&dir, &format!("error: {msg}"));
            // ipmi_sim reads stdout for get; an error goes there too, as the reference does.
            println!("{msg}");
            ExitCode::FAILURE
        }
    }
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"')
}

fn run(dir: &Path, args: &[String]) -> Result<(), String> {
    let (op, params) = args.split_first().ok_or("missing operation")?;
    match op.as_str() {
        "get" => {
            for p in params {
                match unquote(p) {
                    "power" => {
                        let on = read_power_file(dir).map_err(|e| format!("power state: {e:?}"))?;
                        println!("power:{}", u8::from(on));
                    }
                    "boot" => println!("boot:default"),
                    other => return Err(format!("Invalid parameter: {other}")),
                }
            }
            Ok(())
        }
        "set" => {
            for pair in params.chunks(2) {
                let [name, value] = pair else {
                    return Err(format!("missing value for {}", pair[0]));
                };
                match unquote(name) {
                    "power" => {
                        let on = match unquote(value) {
                            "1" => true,
                            "0" => false,
                            v => return Err(format!("Invalid power value: {v}")),
                        };
                        let before = read_power_file(dir).unwrap_or(true);
                        write_power_file(dir, on).map_err(|e| format!("power state: {e}"))?;
                        if let Err(e) = hook(dir, if on { "on" } else { "off" }) {
                            let _ = write_power_file(dir, before);
                            return Err(e);
                        }
                    }
                    "reset" => {
                        if unquote(value) == "1" {
                            hook(dir, "reset")?;
                        }
                    }
                    "boot" | "identify" | "shutdown" => {}
                    other => return Err(format!("Invalid parameter: {other}")),
                }
            }
            Ok(())
        }
        // "check" asks whether a parameter is supported before setting it; none is checked.
        "check" => Err("check not supported".into()),
        other => Err(format!("Unknown operation: {other}")),
    }
}

fn hook(dir: &Path, what: &str) -> Result<(), String> {
    let text = match std::fs::read_to_string(dir.join(POWER_HOOK)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("power hook: {e}")),
    };
    let argv: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    if argv.is_empty() {
        return Err("power hook file is empty".into());
    }
    let out = Cmd::from_argv(&argv)
        .arg(what)
        .run_ok(&Deadline::after(HOOK_TIMEOUT))
        .map_err(|e| format!("power hook: {e}"))?;
    let _ = append_chassis_log(
        dir,
        &format!("hook {what} ok ({} bytes of output)", out.stdout.len()),
    );
    Ok(())
}
