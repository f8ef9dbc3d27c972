//! Reads of files and pipes bounded in size and in time: a secret file that never ends
//! (`/dev/zero`), a FIFO nobody writes, or a stdin that is never closed must not grow an agent
//! to gigabytes or keep it past its deadline.

use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Deadline;

/// Largest secret (password, token) file or program output a caller should accept.
pub const MAX_SECRET_BYTES: usize = 4096;

/// Why a bounded read gave no data. Each variant names what was read.
#[derive(Debug)]
pub enum ReadError {
    /// It could not be opened (missing, a directory we cannot read, permissions).
    Open {
        /// What was opened.
        path: PathBuf,
        /// Why it could not be opened.
        error: std::io::Error,
    },
    /// Reading failed part way.
    Read {
        /// What was read.
        path: PathBuf,
        /// Why reading stopped.
        error: std::io::Error,
    },
    /// More than `max` bytes: not what the caller expects (a device such as `/dev/zero`, or the
    /// wrong file).
    TooLarge {
        /// What was read.
        path: PathBuf,
        /// The cap, in bytes.
        max: usize,
    },
    /// The deadline passed before the end (a FIFO or pipe whose writer never closes it).
    Timeout {
        /// What was read.
        path: PathBuf,
        /// How long the read waited.
        after: Duration,
    },
}

impl ReadError {
    /// What was read.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Open { path, .. }
            | ReadError::Read { path, .. }
            | ReadError::TooLarge { path, .. }
            | ReadError::Timeout { path, .. } => path,
        }
    }

    /// True when the file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Open { error, .. } if error.kind() == ErrorKind::NotFound)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Open { path, error } => write!(f, "cannot open {}: {error}", path.display()),
            ReadError::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            ReadError::TooLarge { path, max } => {
                write!(f, "{} holds more than {max} bytes", path.display())
            }
            ReadError::Timeout { path, after } => write!(
                f,
                "{} gave no end of data within {:.1}s (a pipe nobody closes?)",
                path.display(),
                after.as_secs_f64()
            ),
        }
    }
}

/// Read a whole file of at most `max` bytes before `deadline`. The file is opened
/// non-blocking, so a FIFO with no writer reads as empty instead of blocking the open, and a
/// pipe that stays open ends at the deadline.
pub fn read_bounded(path: &Path, max: usize, deadline: &Deadline) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| ReadError::Open {
            path: path.to_path_buf(),
            error,
        })?;
    read_fd(&file, path, max, deadline, false)
}

/// Read this process's standard input to its end, at most `max` bytes, before `deadline`.
pub fn read_stdin_bounded(max: usize, deadline: &Deadline) -> Result<Vec<u8>, ReadError> {
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    // SAFETY: fd 0 stays open for the life of the process; the File is never dropped (it
    // would close it), see the forget below.
    let file = unsafe {
        use std::os::fd::FromRawFd;
        File::from_raw_fd(fd.as_raw_fd())
    };
    let r = read_fd(&file, Path::new("standard input"), max, deadline, true);
    std::mem::forget(file);
    r
}

/// The loop both read: `poll_first` for a descriptor that may be blocking (stdin), so that
/// `read` is only called when it cannot block.
fn read_fd(
    mut file: &File,
    path: &Path,
    max: usize,
    deadline: &Deadline,
    poll_first: bool,
) -> Result<Vec<u8>, ReadError> {
    let started = std::time::Instant::now();
    let timeout = || ReadError::Timeout {
        path: path.to_path_buf(),
        after: started.elapsed(),
    };
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut must_poll = poll_first;
    loop {
        if must_poll && !wait_readable(file.as_fd(), deadline) {
            return Err(timeout());
        }
        match file.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                if out.len() + n > max {
                    return Err(ReadError::TooLarge {
                        path: path.to_path_buf(),
                        max,
                    });
                }
                out.extend_from_slice(&chunk[..n]);
                must_poll = poll_first;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => must_poll = true,
            Err(error) => {
                return Err(ReadError::Read {
                    path: path.to_path_buf(),
                    error,
                })
            }
        }
        if deadline.expired() {
            return Err(timeout());
        }
    }
}

/// Wait until `fd` is readable (data, end of file or an error to report), at most until the
/// deadline. False when the deadline passed first.
fn wait_readable(fd: BorrowedFd<'_>, deadline: &Deadline) -> bool {
    loop {
        let left = deadline.remaining();
        if left.is_zero() {
            return false;
        }
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, count 1.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc > 0 {
            return true;
        }
        if rc < 0 && std::io::Error::last_os_error().kind() != ErrorKind::Interrupted {
            // Let read report the error.
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Deadline {
        Deadline::after(Duration::from_millis(ms))
    }

    #[test]
    fn reads_a_small_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "secret\n").unwrap();
        assert_eq!(read_bounded(&f, 100, &d(1000)).unwrap(), b"secret\n");
        let e = read_bounded(&f, 3, &d(1000)).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { max: 3, .. }), "{e}");
    }

    #[test]
    fn endless_devices_stop_at_the_cap() {
        for dev in ["/dev/zero", "/dev/urandom"] {
            let e = read_bounded(Path::new(dev), MAX_SECRET_BYTES, &d(5000)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("{dev} holds more than 4096 bytes"),
                "{dev}"
            );
        }
    }

    #[test]
    fn fifo_without_writer_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("fifo");
        let c = std::ffi::CString::new(f.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Nobody ever opens it for writing: reads as empty at once.
        assert_eq!(read_bounded(&f, 100, &d(30_000)).unwrap(), b"");
        // A writer that never closes: ends at the deadline.
        let w = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&f)
            .unwrap();
        let e = read_bounded(&f, 100, &d(300)).unwrap_err();
        assert!(matches!(e, ReadError::Timeout { .. }), "{e}");
        drop(w);
    }

    #[test]
    fn missing_and_directory() {
        let e = read_bounded(Path::new("/nonexistent/pw"), 10, &d(1000)).unwrap_err();
        assert!(e.is_not_found());
        assert!(e.to_string().contains("/nonexistent/pw"));
        let e = read_bounded(Path::new("/"), 10, &d(1000)).unwrap_err();
        assert!(e.to_string().contains("Is a directory"), "{e}");
    }
}
