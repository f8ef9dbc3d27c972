//! Bulk import from CSV: `address,password` per row (a header row `address,...` is skipped).
//!
//! Resumable: the number of the last row dealt with is kept in `<FILE>.progress` after each
//! row; a new run starts after it, and rows already in the directory count as present, so a
//! rerun never creates anything twice. A failed row is never dropped silently: it is written
//! to `<FILE>.rejected.csv` (row number, address, error) and counted in the summary. When the
//! directory becomes unreachable the import stops at that row (nothing of it is left behind)
//! and says how to resume.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use axha_exec::Deadline;
use serde::Serialize;

use crate::error::{Kind, ProvisionError};
use crate::service::Provisioner;

/// A row longer than this is refused whole (no field of a valid row comes near it).
pub const MAX_ROW_BYTES: usize = 4096;
/// Largest progress file read: a row number and at most one pending account.
const MAX_PROGRESS_FILE: usize = 4096;
/// Longest wait for the progress file's end (a FIFO in its place must not hold the import).
const PROGRESS_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How many rows reuse one read of the back-end registry.
const REGISTRY_REFRESH_ROWS: u32 = 200;

/// The closing figures of an import.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ImportSummary {
    /// Rows read.
    pub rows: u64,
    /// Accounts created.
    pub created: u64,
    /// Already in the directory (a rerun, or provisioned before).
    pub present: u64,
    /// Rows that failed (written to the rejected file).
    pub failed: u64,
    /// Skipped because an earlier run dealt with them.
    pub resumed_after: u64,
    /// Accounts created per back-end.
    pub per_backend: BTreeMap<String, u64>,
    /// Wall-clock seconds the import took.
    pub seconds: f64,
    /// Set when the import stopped early (the directory went away).
    pub stopped: Option<String>,
    /// Where the failed rows went, when some failed.
    pub rejected_file: Option<PathBuf>,
}

impl ImportSummary {
    /// Accounts created per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.created as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Progress reporting (a progress bar on a terminal, nothing otherwise).
pub trait Progress {
    /// The import begins: `total_rows` in the file, `already_done` by an earlier run.
    fn start(&mut self, total_rows: u64, already_done: u64);
    /// A row is done: `done` so far, `failed` of them.
    fn row(&mut self, done: u64, failed: u64);
    /// The import is over.
    fn finish(&mut self);
}

/// No progress output.
pub struct Quiet;
impl Progress for Quiet {
    fn start(&mut self, _: u64, _: u64) {}
    fn row(&mut self, _: u64, _: u64) {}
    fn finish(&mut self) {}
}

/// Where an import records how far it got (`<csv>.progress`), to resume.
pub fn progress_file(csv: &Path) -> PathBuf {
    let mut s = csv.as_os_str().to_owned();
    s.push(".progress");
    PathBuf::from(s)
}

/// Where an import writes the rows that failed (`<csv>.rejected.csv`).
pub fn rejected_file(csv: &Path) -> PathBuf {
    let mut s = csv.as_os_str().to_owned();
    s.push(".rejected.csv");
    PathBuf::from(s)
}

/// The error of a failed write or open of one of the import's files.
fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ProvisionError + 'a {
    move |error| ProvisionError::ImportFile {
        what,
        path: path.to_path_buf(),
        error,
    }
}

/// The progress file: the last row dealt with, and possibly a `pending ADDRESS BACKEND` line
/// for the row in flight when the directory went away (its account stays on that back-end and
/// the resumed import completes it there).
type Pending = Option<(String, String)>;

fn read_done(path: &Path) -> Result<(u64, Pending), ProvisionError> {
    let deadline = Deadline::after(PROGRESS_READ_TIMEOUT);
    let bytes = match axha_exec::read_bounded(path, MAX_PROGRESS_FILE, &deadline) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok((0, None)),
        Err(e) => return Err(ProvisionError::ProgressRead(e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim();
    let done = first.parse().map_err(|_| ProvisionError::ProgressContent {
        path: path.to_path_buf(),
        first_line: first.to_string(),
    })?;
    let pending = lines.next().and_then(|l| {
        let mut w = l.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some("pending"), Some(a), Some(b)) => Some((a.to_string(), b.to_string())),
            _ => None,
        }
    });
    Ok((done, pending))
}

fn write_done(path: &Path, row: u64, pending: &Pending) -> Result<(), ProvisionError> {
    // Write then rename: a crash leaves the old or the new state, never a torn one.
    let tmp = path.with_extension("progress.tmp");
    let mut text = format!("{row}\n");
    if let Some((a, b)) = pending {
        text.push_str(&format!("pending {a} {b}\n"));
    }
    std::fs::write(&tmp, text).map_err(io_err("progress file", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("progress file", path))
}

/// One CSV row turned into its two fields, or why not.
fn fields(rec: &csv::ByteRecord) -> Result<(String, String), String> {
    let bytes: usize = rec.iter().map(|f| f.len()).sum();
    if bytes > MAX_ROW_BYTES {
        return Err(format!("row longer than {MAX_ROW_BYTES} bytes"));
    }
    if rec.len() != 2 {
        return Err(format!(
            "expected 2 fields (address,password), found {}",
            rec.len()
        ));
    }
    let addr = std::str::from_utf8(&rec[0]).map_err(|_| "address is not UTF-8".to_string())?;
    let pw = std::str::from_utf8(&rec[1]).map_err(|_| "password is not UTF-8".to_string())?;
    Ok((addr.trim().to_string(), pw.to_string()))
}

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Import `csv_path`. Returns the summary; `summary.stopped` is set when it had to stop.
pub fn import(
    p: &mut Provisioner,
    csv_path: &Path,
    progress: &mut dyn Progress,
) -> Result<ImportSummary, ProvisionError> {
    let start = Instant::now();
    let total = count_rows(csv_path)?;
    let progress_path = progress_file(csv_path);
    let (done_before, pending) = read_done(&progress_path)?;
    if let Some((addr, be)) = &pending {
        p.prefer_backend(addr, be);
    }
    let rejected_path = rejected_file(csv_path);
    let mut rejected: Option<std::fs::File> = None;
    let mut s = ImportSummary {
        resumed_after: done_before,
        ..Default::default()
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv_path)
        .map_err(|error| ProvisionError::Csv {
            path: csv_path.to_path_buf(),
            error,
        })?;
    p.cache_backends(REGISTRY_REFRESH_ROWS);
    progress.start(total, done_before);
    let mut reject =
        |s: &mut ImportSummary, row: u64, addr: &str, why: &str| -> Result<(), ProvisionError> {
            s.failed += 1;
            if rejected.is_none() {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&rejected_path)
                    .map_err(io_err("rejected-rows file", &rejected_path))?;
                rejected = Some(f);
                s.rejected_file = Some(rejected_path.clone());
            }
            let f = rejected.as_mut().expect("opened above");
            writeln!(f, "{row},{},{}", csv_escape(addr), csv_escape(why))
                .map_err(io_err("rejected-rows file", &rejected_path))
        };
    let mut rec = csv::ByteRecord::new();
    let mut row: u64 = 0;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                row += 1;
                if row > done_before {
                    reject(&mut s, row, "", &format!("malformed CSV: {e}"))?;
                    s.rows += 1;
                    write_done(&progress_path, row, &None)?;
                }
                continue;
            }
        }
        row += 1;
        if row <= done_before {
            continue;
        }
        if row == 1
            && rec
                .get(0)
                .is_some_and(|f| f.eq_ignore_ascii_case(b"address"))
        {
            write_done(&progress_path, row, &None)?;
            continue;
        }
        s.rows += 1;
        match fields(&rec) {
            Err(why) => {
                let shown = rec
                    .get(0)
                    .map(|f| String::from_utf8_lossy(&f[..f.len().min(80)]).into_owned())
                    .unwrap_or_default();
                reject(&mut s, row, &shown, &why)?;
            }
            Ok((addr, pw)) => match p.create_account(&addr, &pw) {
                Ok(placed) => {
                    s.created += 1;
                    *s.per_backend.entry(placed.backend).or_default() += 1;
                }
                Err(e) if e.kind() == Kind::Duplicate => s.present += 1,
                Err(e) if e.kind() == Kind::DirectoryUnavailable => {
                    s.rows -= 1;
                    let pending = p.take_pending();
                    write_done(&progress_path, row - 1, &pending)?;
                    s.stopped = Some(format!(
                        "stopped at row {row}: {e}; rows up to {} are done, run the same import again to resume",
                        row - 1
                    ));
                    break;
                }
                Err(e) => {
                    let shown: String = addr.chars().take(80).collect();
                    reject(&mut s, row, &shown, &e.to_string())?;
                }
            },
        }
        write_done(&progress_path, row, &None)?;
        progress.row(row, s.failed);
    }
    progress.finish();
    if let Err(e) = p.flush_counts() {
        let note = format!("account counters not updated ({e}): run reconcile");
        s.stopped = Some(match s.stopped.take() {
            Some(w) => format!("{w}; {note}"),
            None => note,
        });
    }
    s.seconds = start.elapsed().as_secs_f64();
    Ok(s)
}

/// Count rows (lines of records) cheaply for the progress bar.
fn count_rows(path: &Path) -> Result<u64, ProvisionError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|error| ProvisionError::Csv {
            path: path.to_path_buf(),
            error,
        })?;
    let mut rec = csv::ByteRecord::new();
    let mut n = 0;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => return Ok(n),
            Ok(true) | Err(_) => n += 1,
        }
    }
}

/// The plain-text closing summary.
pub fn render_summary(s: &ImportSummary) -> String {
    let mut out = format!(
        "import: {} rows: {} created, {} already present, {} failed",
        s.rows, s.created, s.present, s.failed
    );
    if s.resumed_after > 0 {
        out.push_str(&format!(" (resumed after row {})", s.resumed_after));
    }
    out.push_str(&format!(
        "; {:.1} s, {:.0} accounts/s\n",
        s.seconds,
        s.rate()
    ));
    for (b, n) in &s.per_backend {
        out.push_str(&format!("  {b}: {n}\n"));
    }
    if let Some(f) = &s.rejected_file {
        out.push_str(&format!("failed rows are listed in {}\n", f.display()));
    }
    if let Some(why) = &s.stopped {
        out.push_str(&format!("{why}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_fields() {
        let mut r = csv::ByteRecord::new();
        r.push_field(b"a@example.com");
        r.push_field(b"pw");
        assert_eq!(fields(&r).unwrap().0, "a@example.com");
        r.push_field(b"extra");
        assert!(fields(&r).unwrap_err().contains("expected 2 fields"));
        let mut r = csv::ByteRecord::new();
        r.push_field(b"\xff@example.com");
        r.push_field(b"pw");
        assert!(fields(&r).unwrap_err().contains("UTF-8"));
        let mut r = csv::ByteRecord::new();
        r.push_field(&vec![b'a'; MAX_ROW_BYTES + 1]);
        r.push_field(b"pw");
        assert!(fields(&r).unwrap_err().contains("longer"));
    }

    #[test]
    fn progress_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("axha-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("a.csv");
        let pf = progress_file(&csv);
        assert_eq!(read_done(&pf).unwrap(), (0, None));
        write_done(&pf, 42, &None).unwrap();
        assert_eq!(read_done(&pf).unwrap(), (42, None));
        let pending = Some(("a@b.c".to_string(), "be1".to_string()));
        write_done(&pf, 7, &pending).unwrap();
        assert_eq!(read_done(&pf).unwrap(), (7, pending));
        std::fs::write(&pf, "x").unwrap();
        assert!(read_done(&pf).is_err());
        assert_eq!(csv_escape("a,\"b\""), "\"a,\"\"b\"\"\"");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
