//! Fault injection, switched on and off while the server runs by files in `DIR/faults/`
//! (or `axigen-sim fault -W DIR set|clear NAME [VALUE]`, which writes and removes them).
//!
//! | name | value | effect |
//! |---|---|---|
//! | `slow-start` | seconds (0-3600) | the supervisor waits that long before binding its listeners (the launching command returns at once) |
//! | `hang` | empty, or `persistent` | new connections are accepted and never answered, CLI sessions stop answering at their next line; cleared when a supervisor starts, unless `persistent` (a restart cures a hang, as with a real server) |
//! | `crash-worker` | empty or `once`, or `always` | the worker exits at once (checked every 200 ms); `once` is consumed, `always` makes every new worker exit at start until cleared |
//! | `crash-supervisor` | empty | the supervisor kills itself with SIGKILL (no cleanup, the pid file stays); consumed; the worker follows it (parent-death signal) |
//! | `ignore-sigterm` | empty | supervisor and worker ignore SIGTERM; only SIGKILL ends them |
//! | `refuse-logins` | empty | every CLI login is answered `-ERR: Authentication failed` |
//! | `fail-append` | count N | IMAP APPEND stores N more messages, then each fails (`NO`) until cleared |
//! | `fail-imap-login` | count N | N more IMAP logins succeed, then each is refused until cleared |
//! | `fail-command` | a CLI command's first two words, e.g. `ENABLE Account` | that command is answered `-ERR` until cleared |
//!
//! Checks are one `stat` per connection, per CLI line or per watcher tick, never per byte.

use std::path::{Path, PathBuf};

use crate::SimError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// A fault the stand-in can be told to show (see the table above).
pub enum Fault {
    /// `slow-start`: wait before binding the listeners.
    SlowStart,
    /// `hang`: accept connections and never answer.
    Hang,
    /// `crash-worker`: the worker exits.
    CrashWorker,
    /// `crash-supervisor`: the supervisor kills itself.
    CrashSupervisor,
    /// `ignore-sigterm`: only SIGKILL ends the processes.
    IgnoreSigterm,
    /// `refuse-logins`: every login fails.
    RefuseLogins,
    /// `fail-append`: IMAP APPEND fails after a count.
    FailAppend,
    /// `fail-imap-login`: IMAP logins fail after a count.
    FailImapLogin,
    /// `fail-command`: one CLI command fails.
    FailCommand,
}

/// Longest slow start accepted, in seconds.
pub const SLOW_START_MAX: u64 = 3600;

impl Fault {
    /// Every fault, in the order of the table above.
    pub const ALL: [Fault; 9] = [
        Fault::SlowStart,
        Fault::Hang,
        Fault::CrashWorker,
        Fault::CrashSupervisor,
        Fault::IgnoreSigterm,
        Fault::RefuseLogins,
        Fault::FailAppend,
        Fault::FailImapLogin,
        Fault::FailCommand,
    ];

    /// The file name in `DIR/faults/`, also the name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::SlowStart => "slow-start",
            Fault::Hang => "hang",
            Fault::CrashWorker => "crash-worker",
            Fault::CrashSupervisor => "crash-supervisor",
            Fault::IgnoreSigterm => "ignore-sigterm",
            Fault::RefuseLogins => "refuse-logins",
            Fault::FailAppend => "fail-append",
            Fault::FailImapLogin => "fail-imap-login",
            Fault::FailCommand => "fail-command",
        }
    }

    /// The fault named `name` on the command line or in `faults/`.
    pub fn from_name(name: &str) -> Result<Fault, SimError> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| SimError::UnknownFault(name.chars().take(60).collect()))
    }

    /// Check a value given to `set`; returns what is written to the file.
    pub fn check_value(self, value: Option<&str>) -> Result<String, SimError> {
        let v = value.unwrap_or("").trim();
        let bad = |expected| SimError::BadFaultValue {
            name: self.name(),
            value: v.chars().take(60).collect(),
            expected,
        };
        match self {
            Fault::SlowStart => match v.parse::<u64>() {
                Ok(n) if n <= SLOW_START_MAX => Ok(n.to_string()),
                _ => Err(bad("a number of seconds, 0 to 3600")),
            },
            Fault::Hang if v.is_empty() || v == "persistent" => Ok(v.to_string()),
            Fault::Hang => Err(bad("nothing or 'persistent'")),
            Fault::CrashWorker if matches!(v, "" | "once" | "always") => Ok(v.to_string()),
            Fault::CrashWorker => Err(bad("nothing, 'once' or 'always'")),
            Fault::FailAppend | Fault::FailImapLogin => match v.parse::<u64>() {
                Ok(n) => Ok(n.to_string()),
                _ => Err(bad("a count")),
            },
            Fault::FailCommand
                if v.split(' ').count() == 2
                    && v.bytes().all(|b| b.is_ascii_alphabetic() || b == b' ') =>
            {
                Ok(v.to_string())
            }
            Fault::FailCommand => Err(bad("two words, e.g. 'ENABLE Account'")),
            _ if v.is_empty() => Ok(String::new()),
            _ => Err(bad("no value")),
        }
    }
}

/// The fault switches of one workdir.
#[derive(Debug, Clone)]
pub struct Faults {
    dir: PathBuf,
}

impl Faults {
    /// The faults switched by files in `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Faults {
        Faults {
            dir: dir.as_ref().to_path_buf(),
        }
    }

    fn path(&self, f: Fault) -> PathBuf {
        self.dir.join(f.name())
    }

    /// One `stat`.
    pub fn is_set(&self, f: Fault) -> bool {
        self.path(f).exists()
    }

    /// The file's content, trimmed; `None` when the fault is off.
    pub fn value(&self, f: Fault) -> Option<String> {
        std::fs::read_to_string(self.path(f))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Remove the switch; true when it was set (consuming a one-shot fault).
    pub fn take(&self, f: Fault) -> bool {
        std::fs::remove_file(self.path(f)).is_ok()
    }

    /// Switch a fault on, with its value checked.
    pub fn set(&self, f: Fault, value: Option<&str>) -> Result<(), SimError> {
        let v = f.check_value(value)?;
        std::fs::create_dir_all(&self.dir).map_err(|source| SimError::Io {
            what: "creating",
            path: self.dir.clone(),
            source,
        })?;
        crate::workdir::write_atomic(&self.path(f), format!("{v}\n").as_bytes(), 0o644)
    }

    /// Switch a fault off (already off is fine).
    pub fn clear(&self, f: Fault) -> Result<(), SimError> {
        match std::fs::remove_file(self.path(f)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SimError::Io {
                what: "removing",
                path: self.path(f),
                source,
            }),
        }
    }

    /// Seconds of a slow start; a file that does not hold a number counts as off.
    /// A counted fault (`fail-append`, `fail-imap-login`): true when this use fails. While
    /// the count is above zero it is lowered by one and the use goes through.
    pub fn counted_failure(&self, f: Fault) -> bool {
        let Some(n) = self.value(f).and_then(|v| v.parse::<u64>().ok()) else {
            return self.is_set(f);
        };
        if n == 0 {
            return true;
        }
        let _ =
            crate::workdir::write_atomic(&self.path(f), format!("{}\n", n - 1).as_bytes(), 0o644);
        false
    }

    /// Whether the CLI command starting with `cmd` and `obj` is to fail (`fail-command`).
    pub fn command_fails(&self, cmd: &str, obj: &str) -> bool {
        self.value(Fault::FailCommand).is_some_and(|v| {
            let mut w = v.split(' ');
            w.next().is_some_and(|c| c.eq_ignore_ascii_case(cmd))
                && w.next().is_some_and(|o| o.eq_ignore_ascii_case(obj))
        })
    }

    /// Seconds of the `slow-start` fault, when set.
    pub fn slow_start(&self) -> Option<u64> {
        self.value(Fault::SlowStart)?
            .parse()
            .ok()
            .map(|n: u64| n.min(SLOW_START_MAX))
    }

    /// The faults currently on, with their values.
    pub fn list(&self) -> Vec<(Fault, String)> {
        Fault::ALL
            .into_iter()
            .filter_map(|f| self.value(f).map(|v| (f, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_value_take_clear() {
        let d = std::env::temp_dir().join(format!("axsim-faults-{}", std::process::id()));
        let f = Faults::new(&d);
        assert!(!f.is_set(Fault::Hang));
        f.set(Fault::SlowStart, Some("3")).unwrap();
        assert_eq!(f.slow_start(), Some(3));
        f.set(Fault::CrashWorker, Some("always")).unwrap();
        assert_eq!(f.value(Fault::CrashWorker).as_deref(), Some("always"));
        assert_eq!(f.list().len(), 2);
        assert!(f.take(Fault::CrashWorker));
        assert!(!f.take(Fault::CrashWorker));
        f.clear(Fault::SlowStart).unwrap();
        f.clear(Fault::SlowStart).unwrap();
        assert!(f.list().is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn values_are_checked() {
        assert!(Fault::SlowStart.check_value(Some("x")).is_err());
        assert!(Fault::SlowStart.check_value(None).is_err());
        assert!(Fault::SlowStart.check_value(Some("99999")).is_err());
        assert!(Fault::Hang.check_value(Some("persistent")).is_ok());
        assert!(Fault::RefuseLogins.check_value(Some("x")).is_err());
        assert!(Fault::CrashWorker.check_value(Some("twice")).is_err());
        assert!(Fault::from_name("nope").is_err());
        for f in Fault::ALL {
            assert_eq!(Fault::from_name(f.name()).unwrap(), f);
        }
    }
}
