//! The simulated chassis' state files, shared by [`crate::Bmc`] and the `axha-bmc-chassis`
//! helper that ipmi_sim runs.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// `1` (on) or `0` (off).
pub const POWER_FILE: &str = "power";
/// One line per chassis command: `<unix time> <arguments>`.
pub const CHASSIS_LOG: &str = "chassis.log";
/// Optional argv (one argument per line) run after each power change.
pub const POWER_HOOK: &str = "power-hook";

#[derive(Debug)]
pub enum PowerReadError {
    Io(std::io::Error),
    Bad(String),
}

/// Read `DIR/power`; a missing file means on (a chassis with no record was never switched off).
pub fn read_power_file(dir: &Path) -> Result<bool, PowerReadError> {
    match std::fs::read_to_string(dir.join(POWER_FILE)) {
        Ok(s) => parse_power(&s).ok_or(PowerReadError::Bad(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(PowerReadError::Io(e)),
    }
}

/// `"1"`/`"0"`, with or without the quotes ipmi_sim may put around values, and a newline.
pub fn parse_power(s: &str) -> Option<bool> {
    match s.trim().trim_matches('"') {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

/// Replace `DIR/power` atomically (a reader never sees an empty file).
pub fn write_power_file(dir: &Path, on: bool) -> std::io::Result<()> {
    let tmp = dir.join(format!("{POWER_FILE}.tmp.{}", std::process::id()));
    std::fs::write(&tmp, if on { "1\n" } else { "0\n" })?;
    std::fs::rename(&tmp, dir.join(POWER_FILE))
}

/// Append one line to `DIR/chassis.log`, prefixed with the time.
pub fn append_chassis_log(dir: &Path, line: &str) -> std::io::Result<()> {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(CHASSIS_LOG))?;
    writeln!(f, "{}.{:06} {line}", t.as_secs(), t.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_file_roundtrip_and_garbage() {
        let d = tempfile::tempdir().unwrap();
        assert!(read_power_file(d.path()).unwrap(), "missing file = on");
        write_power_file(d.path(), false).unwrap();
        assert!(!read_power_file(d.path()).unwrap());
        write_power_file(d.path(), true).unwrap();
        assert!(read_power_file(d.path()).unwrap());
        std::fs::write(d.path().join(POWER_FILE), "maybe").unwrap();
        assert!(matches!(read_power_file(d.path()), Err(PowerReadError::Bad(s)) if s == "maybe"));
        assert_eq!(parse_power("\"0\""), Some(false));
    }

    #[test]
    fn log_appends_lines() {
        let d = tempfile::tempdir().unwrap();
        append_chassis_log(d.path(), "get power").unwrap();
        append_chassis_log(d.path(), "set power 0").unwrap();
        let s = std::fs::read_to_string(d.path().join(CHASSIS_LOG)).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with(" set power 0"));
    }
}
