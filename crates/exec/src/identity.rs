use std::fmt;
use std::path::PathBuf;

/// Who a process is, beyond its pid: the pid, its start time in clock ticks since boot
/// (`/proc/PID/stat` field 22, proc(5)) and its executable. Two processes can share a pid over
/// time, never a pid and a start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22): with the pid, unique for the life of the system.
    pub start_time: u64,
    /// The executable it runs, when `/proc/PID/exe` could be read.
    pub exe: Option<PathBuf>,
}

/// Read the identity of a live process; `None` when there is no such process or it is a
/// zombie (a zombie serves nothing).
pub fn read_identity(pid: u32) -> Option<ProcessIdentity> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (state, start_time) = parse_stat(&stat)?;
    if state == 'Z' || state == 'X' {
        return None;
    }
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    Some(ProcessIdentity {
        pid,
        start_time,
        exe,
    })
}

/// State letter and start time from the text of `/proc/PID/stat`.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    parse_proc_stat(stat).map(|s| (s.state, s.start_time))
}

/// The fields of `/proc/PID/stat` that process-tree decisions need (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// One-letter state (R running, S sleeping, Z zombie, T stopped...).
    pub state: char,
    /// Parent process id.
    pub ppid: u32,
    /// Process group id.
    pub pgrp: u32,
    /// Session id.
    pub session: u32,
    /// Start time in clock ticks since boot.
    pub start_time: u64,
}

/// Parse the text of `/proc/PID/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after the last `)`.
pub fn parse_proc_stat(stat: &str) -> Option<ProcStat> {
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    let session = f.next()?.parse().ok()?;
    // then: tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice num_threads itrealvalue starttime
    let start_time = f.nth(15)?.parse().ok()?;
    Some(ProcStat {
        state,
        ppid,
        pgrp,
        session,
        start_time,
    })
}

/// `/proc/PID/stat` of a process, `None` when it does not exist.
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_proc_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every pid in `/proc` (a snapshot: processes come and go while it is read).
pub fn all_pids() -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The network namespace of a process (the target of `/proc/PID/ns/net`, e.g.
/// `net:[4026531840]`). Processes of one host, or one lab node, share it.
pub fn netns_of(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

impl ProcessIdentity {
    /// True while the very same process (same pid and start time) is alive.
    pub fn is_alive(&self) -> bool {
        read_identity(self.pid).is_some_and(|now| now.start_time == self.start_time)
    }

    /// End this process: SIGTERM, up to `grace` for it to go, then SIGKILL and up to `grace`
    /// again. Signals go only to the very process (pid and start time checked before each).
    /// Returns true when it is gone.
    pub fn terminate(&self, grace: std::time::Duration) -> bool {
        let step = std::time::Duration::from_millis(20);
        for sig in [libc::SIGTERM, libc::SIGKILL] {
            if !self.is_alive() {
                return true;
            }
            // SAFETY: plain syscall on a pid whose identity was checked just now.
            unsafe { libc::kill(self.pid as libc::pid_t, sig) };
            if crate::Deadline::after(grace)
                .poll(step, || (!self.is_alive()).then_some(()))
                .is_some()
            {
                return true;
            }
        }
        !self.is_alive()
    }

    /// The one-line form stored in state files: `pid start_time exe`.
    pub fn to_line(&self) -> String {
        match &self.exe {
            Some(e) => format!("{} {} {}", self.pid, self.start_time, e.display()),
            None => format!("{} {}", self.pid, self.start_time),
        }
    }

    /// Parse [`ProcessIdentity::to_line`]'s form; `None` for anything else.
    pub fn parse_line(line: &str) -> Option<Self> {
        let mut it = line.trim().splitn(3, ' ');
        let pid = it.next()?.parse().ok().filter(|p| *p > 0)?;
        let start_time = it.next()?.parse().ok()?;
        let exe = it.next().filter(|s| !s.is_empty()).map(PathBuf::from);
        Some(ProcessIdentity {
            pid,
            start_time,
            exe,
        })
    }
}

impl fmt::Display for ProcessIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {} (started at tick {})", self.pid, self.start_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let s =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat(s), Some(('S', 987654)));
        let st = parse_proc_stat(s).unwrap();
        assert_eq!((st.ppid, st.pgrp, st.session), (1, 1234, 1234));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn own_identity_is_alive_and_roundtrips() {
        let me = read_identity(std::process::id()).expect("self exists");
        assert!(me.is_alive());
        let back = ProcessIdentity::parse_line(&me.to_line()).unwrap();
        assert_eq!(back, me);
        let other = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert!(
            !other.is_alive(),
            "a different start time is another process"
        );
    }

    #[test]
    fn terminate_escalates_to_sigkill() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30"])
            .spawn()
            .unwrap();
        let id = read_identity(child.id()).unwrap();
        // Give the shell time to set its trap.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let reaper = std::thread::spawn(move || child.wait());
        assert!(id.terminate(std::time::Duration::from_millis(200)));
        assert!(!reaper.join().unwrap().unwrap().success());
    }

    #[test]
    fn parse_line_rejects_garbage() {
        assert!(ProcessIdentity::parse_line("").is_none());
        assert!(ProcessIdentity::parse_line("abc 1").is_none());
        assert!(ProcessIdentity::parse_line("0 5").is_none());
        assert!(ProcessIdentity::parse_line("12").is_none());
    }
}
