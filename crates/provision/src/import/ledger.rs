//! The progress file of an import (`<csv>.progress`): which rows are dealt with, which are in
//! flight and on which back-end, and how much of the rejected-rows file belongs to them.
//!
//! Rows finish out of order when several workers run, so one "last row" number cannot say
//! what is done. The file holds a low-water mark (every row up to it is dealt with), the rows
//! above it already dealt with, and every row in flight with the back-end it was placed on,
//! written before that back-end is touched. Its size is bounded because the import never
//! runs more than [`WINDOW`] rows ahead of the low-water mark.
//!
//! ```text
//! 812                          every row up to 812 is dealt with
//! done 815                     row 815 too
//! pending a@example.com be2 813   row 813 placed on be2, not finished
//! rejected-bytes 120           the rejected-rows file's first 120 bytes are for finished rows
//! ```
//!
//! A resumed import skips the rows dealt with, sends each pending row to its recorded back-end
//! (where an account left by the interrupted try is adopted, never made twice elsewhere), and
//! cuts the rejected-rows file back to the recorded length, so a row rejected again after a
//! crash is listed once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use axha_exec::Deadline;

use crate::error::ProvisionError;

/// How far past the low-water mark rows may be dispatched: bounds the `done` lines.
pub const WINDOW: u64 = 1024;
/// Largest progress file read: [`WINDOW`] `done` lines, in-flight rows (a few per worker,
/// each one address of at most 254 bytes) and the header lines fit well inside it.
const MAX_PROGRESS_FILE: usize = 256 * 1024;
/// Longest wait for the progress file's end (a FIFO in its place must not hold the import).
const PROGRESS_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the rows of one import stand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Every row up to this one is dealt with.
    pub low: u64,
    /// Rows above `low` dealt with.
    done: BTreeSet<u64>,
    /// Rows placed and not finished: row -> (address, back-end).
    pending: BTreeMap<u64, (String, String)>,
    /// Bytes of the rejected-rows file written for rows dealt with; `None` before the first
    /// write of this ledger by an import that knows of it.
    pub rejected_bytes: Option<u64>,
}

impl Ledger {
    /// True when `row` was dealt with by this or an earlier run.
    pub fn is_done(&self, row: u64) -> bool {
        row <= self.low || self.done.contains(&row)
    }

    /// How many rows are dealt with.
    pub fn count_done(&self) -> u64 {
        self.low + self.done.len() as u64
    }

    /// `row` is dealt with (created, present, or rejected).
    pub fn finish(&mut self, row: u64) {
        self.pending.remove(&row);
        if row <= self.low {
            return;
        }
        self.done.insert(row);
        while self.done.remove(&(self.low + 1)) {
            self.low += 1;
        }
    }

    /// `row` (account `address`) is placed on `backend` and about to be created there.
    pub fn place(&mut self, row: u64, address: &str, backend: &str) {
        self.pending
            .insert(row, (address.to_string(), backend.to_string()));
    }

    /// The back-end an earlier run placed `row` on, when it was for `address`.
    pub fn placed(&self, row: u64, address: &str) -> Option<&str> {
        self.pending
            .get(&row)
            .filter(|(a, _)| a.eq_ignore_ascii_case(address))
            .map(|(_, b)| b.as_str())
    }

    /// The first row placed and not finished.
    pub fn first_pending(&self) -> Option<u64> {
        self.pending.keys().next().copied()
    }

    /// The pending rows: (row, address, back-end).
    pub fn pending(&self) -> impl Iterator<Item = (u64, &str, &str)> {
        self.pending
            .iter()
            .map(|(r, (a, b))| (*r, a.as_str(), b.as_str()))
    }

    /// Parse the file's text (see the module documentation). The first form of the file, a
    /// row number and an optional `pending ADDRESS BACKEND` line for the row after it, is
    /// read too.
    pub fn parse(text: &str, path: &Path) -> Result<Ledger, ProvisionError> {
        let bad = |line: &str| ProvisionError::ProgressContent {
            path: path.to_path_buf(),
            line: line.chars().take(120).collect(),
        };
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("").trim();
        let mut l = Ledger {
            low: first.parse().map_err(|_| bad(first))?,
            ..Ledger::default()
        };
        for line in lines {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                [] => {}
                ["done", r] => {
                    let r: u64 = r.parse().map_err(|_| bad(line))?;
                    if r > l.low + WINDOW {
                        return Err(bad(line));
                    }
                    if r > l.low {
                        l.done.insert(r);
                    }
                }
                ["pending", a, b] => l.place(l.low + 1, a, b),
                ["pending", a, b, r] => {
                    let r: u64 = r.parse().map_err(|_| bad(line))?;
                    l.place(r, a, b);
                }
                ["rejected-bytes", n] => l.rejected_bytes = Some(n.parse().map_err(|_| bad(line))?),
                _ => return Err(bad(line)),
            }
        }
        // A row finished cannot be pending; the low-water mark moves over finished rows.
        let finished: Vec<u64> = l.done.iter().copied().collect();
        for r in finished {
            l.finish(r);
        }
        Ok(l)
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut s = format!("{}\n", self.low);
        for r in &self.done {
            s.push_str(&format!("done {r}\n"));
        }
        for (r, (a, b)) in &self.pending {
            s.push_str(&format!("pending {a} {b} {r}\n"));
        }
        if let Some(n) = self.rejected_bytes {
            s.push_str(&format!("rejected-bytes {n}\n"));
        }
        s
    }

    /// Read the progress file at `path`, bounded in size and time; empty when there is none.
    pub fn read(path: &Path) -> Result<Ledger, ProvisionError> {
        let deadline = Deadline::after(PROGRESS_READ_TIMEOUT);
        let bytes = match axha_exec::read_bounded(path, MAX_PROGRESS_FILE, &deadline) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(Ledger::default()),
            Err(e) => return Err(ProvisionError::ProgressRead(e)),
        };
        Ledger::parse(&String::from_utf8_lossy(&bytes), path)
    }

    /// Write it to `path`: to a temporary file, then renamed over, so that a crash leaves
    /// the old or the new state, never a torn one.
    pub fn write(&self, path: &Path) -> Result<(), ProvisionError> {
        let tmp = path.with_extension("progress.tmp");
        std::fs::write(&tmp, self.render()).map_err(super::io_err("progress file", &tmp))?;
        std::fs::rename(&tmp, path).map_err(super::io_err("progress file", path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x.progress")
    }

    #[test]
    fn low_water_mark_moves_over_rows_finished_out_of_order() {
        let mut l = Ledger::default();
        l.place(1, "a@x.org", "be1");
        l.place(2, "b@x.org", "be2");
        l.place(3, "c@x.org", "be3");
        l.finish(3);
        l.finish(2);
        assert_eq!(l.low, 0);
        assert!(l.is_done(2) && l.is_done(3) && !l.is_done(1));
        assert_eq!(l.count_done(), 2);
        assert_eq!(l.placed(1, "A@x.org"), Some("be1"));
        assert_eq!(l.placed(1, "z@x.org"), None);
        l.finish(1);
        assert_eq!(l.low, 3);
        assert_eq!(l.render(), "3\n");
        assert_eq!(l.first_pending(), None);
    }

    #[test]
    fn round_trip_and_old_form() {
        let mut l = Ledger::default();
        l.finish(1);
        l.place(2, "a@x.org", "be1");
        l.finish(4);
        l.rejected_bytes = Some(17);
        let text = l.render();
        assert_eq!(
            text,
            "1\ndone 4\npending a@x.org be1 2\nrejected-bytes 17\n"
        );
        assert_eq!(Ledger::parse(&text, p()).unwrap(), l);
        let old = Ledger::parse("7\npending a@b.c be1\n", p()).unwrap();
        assert_eq!(old.low, 7);
        assert_eq!(old.placed(8, "a@b.c"), Some("be1"));
        assert_eq!(Ledger::parse("42\n", p()).unwrap().low, 42);
    }

    #[test]
    fn reads_are_bounded_in_size_and_time() {
        let dir = std::env::temp_dir().join(format!("axha-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.csv.progress");
        assert_eq!(Ledger::read(&path).unwrap(), Ledger::default());
        // A FIFO in its place (no writer) reads as empty at once: an error, not a hang.
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(Ledger::read(&path).is_err());
        std::fs::remove_file(&path).unwrap();
        // Larger than any ledger the import writes: refused.
        std::fs::write(
            &path,
            format!("1\n{}", "done 2\n".repeat(MAX_PROGRESS_FILE)),
        )
        .unwrap();
        assert!(Ledger::read(&path).is_err());
        let mut l = Ledger::default();
        l.place(1, "a@x.org", "be1");
        l.write(&path).unwrap();
        assert_eq!(Ledger::read(&path).unwrap(), l);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        for bad in [
            "x",
            "",
            "3\ndone x\n",
            "3\nwhat 4\n",
            "3\ndone 99999\n",
            "3\npending a b c d e\n",
        ] {
            let e = Ledger::parse(bad, p()).unwrap_err().to_string();
            assert!(e.contains("x.progress"), "{bad:?}: {e}");
        }
        // Finished rows listed in order collapse into the low-water mark.
        let l = Ledger::parse("3\ndone 4\ndone 5\ndone 7\n", p()).unwrap();
        assert_eq!((l.low, l.count_done()), (5, 6));
    }
}
