//! The simulated chassis' power switch: what `axha-bmc-chassis` does for ipmi_sim and what
//! the project's RMCP+ responder does for its Chassis Control commands, in one place, so both
//! BMCs keep power state, log and power hook the same way.
//!
//! ```text
//! get power [boot]   -> "power:0|1" (and "boot:default")
//! set power 0|1      switches power (the hook runs with off / on)
//! set reset 1        hard reset pulse (the hook runs with reset)
//! set diag 1         diagnostic interrupt (NMI) pulse: logged, power unchanged
//! ```
//!
//! Every command is logged to DIR/chassis.log. When DIR/power-hook exists (an argv, one
//! argument per line), it runs after the state is recorded, bounded in time, with `off`,
//! `on` or `reset` appended. If the hook fails, the previous state is put back and the
//! command fails, so a BMC never reports a power-off that did not happen.

use std::path::Path;
use std::time::Duration;

use axha_exec::{Cmd, Deadline};

use crate::state::{append_chassis_log, read_power_file, write_power_file, POWER_HOOK};

/// The BMC waits for the hook; a hook must not stall it for long.
const HOOK_TIMEOUT: Duration = Duration::from_secs(20);

/// Run one chassis command (`args` as ipmi_sim passes them, values possibly quoted) and
/// return the lines it answers. The command, and any error, go to DIR/chassis.log.
pub fn execute<S: AsRef<str>>(dir: &Path, args: &[S]) -> Result<Vec<String>, String> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let _ = append_chassis_log(dir, &args.join(" "));
    run(dir, &args).inspect_err(|msg| {
        let _ = append_chassis_log(dir, &format!("error: {msg}"));
    })
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"')
}

fn run(dir: &Path, args: &[&str]) -> Result<Vec<String>, String> {
    let (op, params) = args.split_first().ok_or("missing operation")?;
    let mut out = Vec::new();
    match *op {
        "get" => {
            for p in params {
                match unquote(p) {
                    "power" => {
                        let on = read_power_file(dir).map_err(|e| format!("power state: {e:?}"))?;
                        out.push(format!("power:{}", u8::from(on)));
                    }
                    "boot" => out.push("boot:default".into()),
                    other => return Err(format!("Invalid parameter: {other}")),
                }
            }
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
                    "diag" => {
                        if unquote(value) == "1" {
                            let _ = append_chassis_log(dir, "diagnostic interrupt (NMI) pulsed");
                        }
                    }
                    "boot" | "identify" | "shutdown" => {}
                    other => return Err(format!("Invalid parameter: {other}")),
                }
            }
        }
        // "check" asks whether a parameter is supported before setting it; none is checked.
        "check" => return Err("check not supported".into()),
        other => return Err(format!("Unknown operation: {other}")),
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::CHASSIS_LOG;

    #[test]
    fn commands_switch_log_and_refuse_garbage() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(execute(d.path(), &["get", "power"]).unwrap(), ["power:1"]);
        execute(d.path(), &["set", "power", "\"0\""]).unwrap();
        assert_eq!(execute(d.path(), &["get", "power"]).unwrap(), ["power:0"]);
        execute(d.path(), &["set", "diag", "1"]).unwrap();
        assert_eq!(execute(d.path(), &["get", "power"]).unwrap(), ["power:0"]);
        assert!(execute(d.path(), &["set", "power", "2"]).is_err());
        assert!(execute(d.path(), &["fly"]).is_err());
        let log = std::fs::read_to_string(d.path().join(CHASSIS_LOG)).unwrap();
        assert!(log.contains(" set diag 1\n"), "{log}");
        assert!(log.contains("diagnostic interrupt (NMI) pulsed"), "{log}");
        assert!(log.contains("error: Invalid power value: 2"), "{log}");
    }

    #[test]
    fn failing_hook_puts_power_back() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(POWER_HOOK), "false\n").unwrap();
        let e = execute(d.path(), &["set", "power", "0"]).unwrap_err();
        assert!(e.contains("power hook"), "{e}");
        assert!(read_power_file(d.path()).unwrap(), "still on");
    }
}
