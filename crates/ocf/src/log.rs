use std::collections::HashMap;
use std::ffi::CString;
use std::io::Write;
use std::path::PathBuf;

use crate::env;

/// Message levels, mapped to syslog priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only with `HA_debug=1`.
    Debug,
    /// A state change: started, stopped, promoted.
    Info,
    /// Something the operator should look at; the action still succeeded.
    Warn,
    /// The action failed.
    Error,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Error => "ERROR",
        }
    }
    fn priority(self) -> libc::c_int {
        match self {
            Level::Debug => libc::LOG_DEBUG,
            Level::Info => libc::LOG_INFO,
            Level::Warn => libc::LOG_WARNING,
            Level::Error => libc::LOG_ERR,
        }
    }
}

/// Where agent messages go, by the rules of ocf-shellfuncs' `ha_log`: to stderr when run from a
/// terminal (an operator diagnosing by hand); otherwise to syslog when `HA_LOGFACILITY` names a
/// facility, to `HA_LOGFILE` when set, and to stderr (which Pacemaker's executor logs) when
/// neither is. Debug messages only with `HA_debug=1`, also to `HA_DEBUGLOG`.
///
/// Agents log state changes (started, stopped, promoted, a failure found), never a healthy
/// monitor.
#[derive(Debug, Clone)]
pub struct Logger {
    tag: String,
    tty: bool,
    facility: Option<libc::c_int>,
    file: Option<PathBuf>,
    debug: bool,
    debug_file: Option<PathBuf>,
}

fn facility(name: &str) -> Option<libc::c_int> {
    Some(match name {
        "daemon" => libc::LOG_DAEMON,
        "user" => libc::LOG_USER,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        "auth" => libc::LOG_AUTH,
        "authpriv" => libc::LOG_AUTHPRIV,
        "cron" => libc::LOG_CRON,
        "mail" => libc::LOG_MAIL,
        "syslog" => libc::LOG_SYSLOG,
        _ => return None,
    })
}

fn timestamp() -> String {
    strftime("%b %d %H:%M:%S")
}

/// The local time in a strftime(3) format (log lines, trace file names).
pub(crate) fn strftime(format: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let Ok(fmt) = CString::new(format) else {
        return String::new();
    };
    // SAFETY: localtime_r writes into the tm we own; strftime writes at most buf.len() bytes.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Logger {
    /// A logger configured from the environment of the call. `tag` is `agent(instance)`.
    pub fn from_env(tag: String, vars: &HashMap<String, String>, tty: bool) -> Logger {
        let get = |k: &str| vars.get(k).filter(|v| !v.is_empty()).cloned();
        let facility = get(env::HA_LOGFACILITY)
            .filter(|f| f != "none")
            .and_then(|f| facility(&f));
        Logger {
            tag: crate::escape_controls(&tag).into_owned(),
            tty,
            facility,
            file: get(env::HA_LOGFILE).map(PathBuf::from),
            debug: get(env::HA_DEBUG).is_some_and(|v| v != "0"),
            debug_file: get(env::HA_DEBUGLOG).map(PathBuf::from),
        }
    }

    /// A logger that writes nothing (unit tests of agents).
    pub fn silent() -> Logger {
        Logger {
            tag: String::new(),
            tty: false,
            facility: None,
            file: Some(PathBuf::from("/dev/null")),
            debug: false,
            debug_file: None,
        }
    }

    /// True when debug messages are written (`HA_debug=1`).
    pub fn debug_enabled(&self) -> bool {
        self.debug
    }

    /// Write one message at `level`, its control characters escaped.
    pub fn log(&self, level: Level, msg: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let line = format!("{}: {}", level.label(), crate::escape_controls(msg));
        if self.tty {
            eprintln!("{}: {line}", self.tag);
            return;
        }
        if let Some(fac) = self.facility {
            self.syslog(fac, level, &line);
        }
        if let Some(f) = &self.file {
            append(f, &format!("{} {}: {line}\n", timestamp(), self.tag));
        }
        if self.facility.is_none() && self.file.is_none() {
            eprintln!("{} {}: {line}", timestamp(), self.tag);
        }
        if level == Level::Debug {
            if let Some(f) = &self.debug_file {
                append(f, &format!("{} {}: {line}\n", timestamp(), self.tag));
            }
        }
    }

    fn syslog(&self, facility: libc::c_int, level: Level, line: &str) {
        let (Ok(tag), Ok(msg)) = (
            CString::new(self.tag.replace('\0', "")),
            CString::new(line.replace('\0', "")),
        ) else {
            return;
        };
        // SAFETY: openlog keeps the ident pointer; `tag` lives until closelog below.
        unsafe {
            libc::openlog(tag.as_ptr(), libc::LOG_PID, facility);
            libc::syslog(level.priority(), c"%s".as_ptr(), msg.as_ptr());
            libc::closelog();
        }
    }

    /// A debug message (only with `HA_debug=1`).
    pub fn debug(&self, msg: &str) {
        self.log(Level::Debug, msg)
    }
    /// A state change worth a line in the cluster log.
    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg)
    }
    /// A problem that did not fail the action.
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, msg)
    }
    /// A failure (the dispatcher logs failed actions itself).
    pub fn error(&self, msg: &str) {
        self.log(Level::Error, msg)
    }
}

fn append(path: &PathBuf, text: &str) {
    // Logging must never fail an action: a log file we cannot write is skipped.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_logging_and_debug_gate() {
        let dir = std::env::temp_dir().join(format!("axha-ocf-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ha.log");
        let mut vars = HashMap::new();
        vars.insert("HA_LOGFILE".to_string(), f.display().to_string());
        vars.insert("HA_LOGFACILITY".to_string(), "none".to_string());
        let l = Logger::from_env("a(r1)".into(), &vars, false);
        l.info("started");
        l.debug("hidden");
        vars.insert("HA_debug".to_string(), "1".to_string());
        let l = Logger::from_env("a(r1)".into(), &vars, false);
        l.debug("shown");
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains("a(r1): INFO: started\n"), "{text}");
        assert!(!text.contains("hidden"));
        assert!(text.contains("a(r1): DEBUG: shown\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn facility_names() {
        assert_eq!(facility("daemon"), Some(libc::LOG_DAEMON));
        assert_eq!(facility("bogus"), None);
    }
}
