//! Bulk import from CSV: `address,password` per row (a header row `address,...` is skipped).
//!
//! The back-ends are independent, so rows run concurrently: this thread reads the file,
//! places each row on a back-end (exactly as one create would: the domain's policy over the
//! registry, counting its own placements), records the placement in the progress file, and
//! hands the row to one of that back-end's workers. Each worker has its own directory
//! connection and back-end session and creates the account with the same steps and undo as a
//! single create ([`Provisioner::create_account_on`]), so the consistency rules hold per
//! account. A back-end that fails before anything changed on it sends the row back, to be
//! placed on another one.
//!
//! Resumable: the progress file ([`ledger`]) says which rows are dealt with and where the rows
//! in flight were placed; a new run skips the former and completes the latter on their
//! recorded back-end, and rows already in the directory count as present, so a rerun never
//! creates anything twice. A failed row is never dropped silently: it is written to
//! `<FILE>.rejected.csv` (row number, address, error) and counted in the summary; the progress
//! file records how much of that file is written, so a row redone after a crash is listed
//! once. When the directory becomes unreachable the import stops dispatching, lets the rows in
//! flight end, and says how to resume.

pub mod ledger;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axha_directory::{parse_address, Backend, Domain};
use serde::Serialize;

use crate::error::{Kind, ProvisionError};
use crate::service::{Placed, Provisioner};
use crate::store::StoreError;
use ledger::{Ledger, WINDOW};

/// A row longer than this is refused whole (no field of a valid row comes near it).
pub const MAX_ROW_BYTES: usize = 4096;
/// How many placements reuse one read of the back-end registry.
const REGISTRY_REFRESH_ROWS: u32 = 200;
/// Workers per back-end when not told otherwise.
pub const DEFAULT_JOBS: u64 = 4;
/// Most workers per back-end (each holds a directory connection and a back-end session).
pub const MAX_JOBS: usize = 16;
/// Rows queued per worker beyond the one it works on.
const QUEUE_PER_WORKER: usize = 4;
/// Rows placed between two writes of the progress file (each write is a write and a rename,
/// which costs about as much as a directory commit on a busy disk: once per row, it would be
/// the import's bottleneck).
const DISPATCH_BATCH: usize = 32;
/// Accounts a worker creates between two writes of its counter increments.
const COUNT_FLUSH_ROWS: u32 = 200;

/// The closing figures of an import.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ImportSummary {
    /// Rows dealt with by this run (created, present or failed; the header row excepted).
    pub rows: u64,
    /// Accounts created.
    pub created: u64,
    /// Already in the directory (a rerun, or provisioned before).
    pub present: u64,
    /// Rows that failed (written to the rejected file).
    pub failed: u64,
    /// Every row up to this one was dealt with by an earlier run (the progress file's
    /// low-water mark when this run began).
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
pub(crate) fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ProvisionError + 'a {
    move |error| ProvisionError::ImportFile {
        what,
        path: path.to_path_buf(),
        error,
    }
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

/// Makes a provisioner: one for the reading thread and one per worker.
pub type Connect<'a> = &'a (dyn Fn() -> Result<Provisioner, ProvisionError> + Sync);

/// One row handed to a worker.
struct Job {
    row: u64,
    address: String,
    password: String,
    /// The address's domain, read once per import by the reading thread.
    domain: Arc<Domain>,
    backend: Backend,
}

/// What a worker did with a row (the row comes back, to be placed again if need be).
struct Outcome {
    job: Job,
    result: Result<Placed, ProvisionError>,
}

/// A row in flight: the back-ends that failed it before changing anything.
struct InFlight {
    tried: Vec<String>,
    failures: Vec<StoreError>,
}

/// A back-end's worker: creates the rows it is handed, one at a time, on its own directory
/// connection and back-end session. Returns the last failure to write its counter
/// increments, if any.
fn worker(
    connect: Connect<'_>,
    queue: &Mutex<Receiver<Job>>,
    results: Sender<Outcome>,
) -> Option<ProvisionError> {
    let mut p: Option<Provisioner> = None;
    let mut unflushed = 0u32;
    let mut flush_error = None;
    loop {
        // A worker that panicked while holding the lock left the queue itself intact.
        let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(job) = job else { break };
        if p.is_none() {
            match connect() {
                Ok(mut np) => {
                    // Counter increments are batched (they only steer placement, and this
                    // import's placement counts its own rows).
                    np.cache_backends(REGISTRY_REFRESH_ROWS);
                    p = Some(np);
                }
                Err(e) => {
                    if results
                        .send(Outcome {
                            job,
                            result: Err(e),
                        })
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
            }
        }
        let pv = p.as_mut().expect("connected above");
        let result = pv.create_account_on(&job.address, &job.password, &job.domain, &job.backend);
        if result.is_ok() {
            unflushed += 1;
            if unflushed >= COUNT_FLUSH_ROWS {
                unflushed = 0;
                flush_error = pv.flush_counts().err();
            }
        }
        if results.send(Outcome { job, result }).is_err() {
            break;
        }
    }
    p.and_then(|mut p| p.flush_counts().err()).or(flush_error)
}

/// The rejected-rows file, opened on the first failed row; its length is recorded in the
/// progress file with the rows it covers.
struct RejectedFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    bytes: u64,
}

impl RejectedFile {
    /// Cut the file back to what the progress file says belongs to finished rows (lines
    /// written for rows a crash left unfinished go: those rows are done again).
    fn open(path: PathBuf, ledger: &mut Ledger) -> Result<RejectedFile, ProvisionError> {
        let len = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_err("rejected-rows file", &path)(e)),
        };
        let bytes = match ledger.rejected_bytes {
            Some(n) if n < len => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err("rejected-rows file", &path))?;
                f.set_len(n).map_err(io_err("rejected-rows file", &path))?;
                n
            }
            _ => len,
        };
        ledger.rejected_bytes = Some(bytes);
        Ok(RejectedFile {
            path,
            file: None,
            bytes,
        })
    }

    fn write(&mut self, row: u64, addr: &str, why: &str) -> Result<u64, ProvisionError> {
        if self.file.is_none() {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io_err("rejected-rows file", &self.path))?;
            self.file = Some(f);
        }
        let line = format!("{row},{},{}\n", csv_escape(addr), csv_escape(why));
        let f = self.file.as_mut().expect("opened above");
        f.write_all(line.as_bytes())
            .map_err(io_err("rejected-rows file", &self.path))?;
        self.bytes += line.len() as u64;
        Ok(self.bytes)
    }
}

/// The reading, placing and recording side of an import.
struct Run<'s, 'e: 's> {
    scope: &'s std::thread::Scope<'s, 'e>,
    connect: Connect<'e>,
    jobs: usize,
    p: Provisioner,
    ledger: Ledger,
    progress_path: PathBuf,
    rejected: RejectedFile,
    s: ImportSummary,
    /// The back-end registry, its counters carried forward by this import's placements.
    registry: Vec<Backend>,
    since_refresh: u32,
    domains: HashMap<String, Arc<Domain>>,
    queues: HashMap<String, SyncSender<Job>>,
    workers: Vec<std::thread::ScopedJoinHandle<'s, Option<ProvisionError>>>,
    results_tx: Sender<Outcome>,
    results: Receiver<Outcome>,
    in_flight: HashMap<u64, InFlight>,
    /// Addresses in flight: a second row for one of them waits, so that two workers never
    /// race on one account (one would adopt the other's account, then undo it).
    addresses: HashSet<String>,
    /// Rows placed (and recorded in the ledger) but not yet handed over: they go once the
    /// ledger naming them is written.
    outbox: Vec<Job>,
}

impl<'s, 'e: 's> Run<'s, 'e> {
    fn save(&self) -> Result<(), ProvisionError> {
        self.ledger.write(&self.progress_path)
    }

    fn stop(&mut self, row: u64, e: &ProvisionError) {
        if self.s.stopped.is_none() {
            self.s.stopped = Some(format!("stopped at row {row}: {e}"));
        }
    }

    fn reject(&mut self, row: u64, addr: &str, why: &str) -> Result<(), ProvisionError> {
        let shown: String = addr.chars().take(80).collect();
        let bytes = self.rejected.write(row, &shown, why)?;
        self.ledger.rejected_bytes = Some(bytes);
        self.s.rejected_file = Some(self.rejected.path.clone());
        self.s.failed += 1;
        self.finish(row)
    }

    /// `row` is dealt with: counted, and recorded at the next write of the ledger (a crash
    /// before it only means the row is done again: found present, or rejected again after
    /// the rejected-rows file is cut back).
    fn finish(&mut self, row: u64) -> Result<(), ProvisionError> {
        self.s.rows += 1;
        self.ledger.finish(row);
        Ok(())
    }

    /// Write the ledger, then hand over the rows it names as placed.
    fn flush(&mut self) -> Result<(), ProvisionError> {
        self.save()?;
        for job in std::mem::take(&mut self.outbox) {
            let q = self.queue(&job.backend.name);
            if let Err(mpsc::SendError(job)) = q.send(job) {
                // Workers only end when their queue closes: not reachable while it is open.
                self.s.stopped = Some(format!(
                    "stopped at row {}: the workers of back-end {} ended",
                    job.row, job.backend.name
                ));
                self.in_flight.remove(&job.row);
            }
        }
        Ok(())
    }

    fn count(&mut self, backend: &str, delta: i64) {
        if let Some(b) = self.registry.iter_mut().find(|b| b.name == backend) {
            b.account_count += delta;
        }
    }

    /// The registry, read again every few hundred placements (for back-ends added, disabled
    /// or reweighed meanwhile); the counters of back-ends already known are kept, since they
    /// carry this import's placements that workers have not written yet.
    fn backends(&mut self) -> Result<(), ProvisionError> {
        if !self.registry.is_empty() && self.since_refresh < REGISTRY_REFRESH_ROWS {
            self.since_refresh += 1;
            return Ok(());
        }
        let mut fresh = self.p.backends()?;
        for b in &mut fresh {
            if let Some(old) = self.registry.iter().find(|o| o.name == b.name) {
                b.account_count = old.account_count;
            }
        }
        self.registry = fresh;
        self.since_refresh = 1;
        Ok(())
    }

    fn domain(&mut self, name: &str) -> Result<Arc<Domain>, ProvisionError> {
        if let Some(d) = self.domains.get(name) {
            return Ok(d.clone());
        }
        let d = Arc::new(self.p.dir.domain(name)?.ok_or_else(|| {
            ProvisionError::DomainNotProvisioned {
                domain: name.to_string(),
            }
        })?);
        self.domains.insert(name.to_string(), d.clone());
        Ok(d)
    }

    /// The queue of `backend`'s workers, started on first use.
    fn queue(&mut self, backend: &str) -> SyncSender<Job> {
        if let Some(q) = self.queues.get(backend) {
            return q.clone();
        }
        let (tx, rx) = mpsc::sync_channel::<Job>(self.jobs * QUEUE_PER_WORKER);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..self.jobs {
            let (rx, results, connect) = (rx.clone(), self.results_tx.clone(), self.connect);
            self.workers
                .push(self.scope.spawn(move || worker(connect, &rx, results)));
        }
        self.queues.insert(backend.to_string(), tx.clone());
        tx
    }

    /// Record the placement of `job`; it is handed over at the next [`Run::flush`], after
    /// the ledger naming it is written (so before its back-end is touched).
    fn dispatch(&mut self, job: Job) -> Result<(), ProvisionError> {
        self.ledger.place(job.row, &job.address, &job.backend.name);
        self.count(&job.backend.name, 1);
        self.outbox.push(job);
        Ok(())
    }

    /// Place one row and hand it to a worker, or reject it.
    fn submit(&mut self, row: u64, addr: String, password: String) -> Result<(), ProvisionError> {
        let (address, _, domain_name) = match parse_address(&addr) {
            Ok(a) => a,
            Err(e) => return self.reject(row, &addr, &ProvisionError::from(e).to_string()),
        };
        while self.addresses.contains(&address) && self.s.stopped.is_none() {
            self.wait_one()?;
        }
        let placed = self.domain(&domain_name).and_then(|domain| {
            self.backends()?;
            let recorded = self
                .ledger
                .placed(row, &address)
                .and_then(|b| self.registry.iter().find(|x| x.name == b))
                .cloned();
            let be = match recorded {
                Some(b) => b,
                None => self.p.place(&domain, &self.registry, &[])?,
            };
            Ok((domain, be))
        });
        let (domain, backend) = match placed {
            Ok(x) => x,
            Err(e) if e.kind() == Kind::DirectoryUnavailable => {
                self.stop(row, &e);
                return Ok(());
            }
            Err(e) => return self.reject(row, &address, &e.to_string()),
        };
        if self.s.stopped.is_some() {
            return Ok(());
        }
        self.addresses.insert(address.clone());
        self.in_flight.insert(
            row,
            InFlight {
                tried: Vec::new(),
                failures: Vec::new(),
            },
        );
        self.dispatch(Job {
            row,
            address,
            password,
            domain,
            backend,
        })
    }

    /// Take every outcome already in.
    fn drain(&mut self) -> Result<(), ProvisionError> {
        while let Ok(o) = self.results.try_recv() {
            self.outcome(o)?;
        }
        Ok(())
    }

    /// Wait for one outcome (some row is in flight).
    fn wait_one(&mut self) -> Result<(), ProvisionError> {
        if self.in_flight.is_empty() {
            return Ok(());
        }
        if !self.outbox.is_empty() {
            self.flush()?;
        }
        match self.results.recv() {
            Ok(o) => self.outcome(o),
            // Unreachable: this thread holds a sender.
            Err(_) => Ok(()),
        }
    }

    fn outcome(&mut self, o: Outcome) -> Result<(), ProvisionError> {
        let Outcome { job, result } = o;
        let row = job.row;
        let Some(mut f) = self.in_flight.remove(&row) else {
            return Ok(());
        };
        let done = match result {
            Ok(placed) => {
                self.s.created += 1;
                *self.s.per_backend.entry(placed.backend).or_default() += 1;
                self.finish(row)?;
                true
            }
            Err(e) => {
                self.count(&job.backend.name, -1);
                match e {
                    e if e.kind() == Kind::Duplicate => {
                        self.s.present += 1;
                        self.finish(row)?;
                        true
                    }
                    // Nothing happened on that back-end: place the row on another one.
                    ProvisionError::Backend(e) if e.before_change() => {
                        f.tried.push(job.backend.name.clone());
                        f.failures.push(e);
                        match self.p.place(&job.domain, &self.registry, &f.tried) {
                            Ok(backend) => {
                                self.in_flight.insert(row, f);
                                self.dispatch(Job { backend, ..job })?;
                                return Ok(());
                            }
                            Err(_) => {
                                let e = ProvisionError::AllBackendsFailed {
                                    failures: f.failures,
                                };
                                self.reject(row, &job.address, &e.to_string())?;
                                true
                            }
                        }
                    }
                    // Left pending in the progress file, with its back-end: a rerun
                    // completes it there.
                    e if e.kind() == Kind::DirectoryUnavailable => {
                        self.stop(row, &e);
                        false
                    }
                    e => {
                        self.reject(row, &job.address, &e.to_string())?;
                        true
                    }
                }
            }
        };
        self.addresses.remove(&job.address);
        let _ = done;
        Ok(())
    }
}

/// Import `csv_path` with `jobs` workers per back-end. Returns the summary;
/// `summary.stopped` is set when it had to stop.
pub fn import(
    connect: Connect<'_>,
    csv_path: &Path,
    jobs: usize,
    progress: &mut dyn Progress,
) -> Result<ImportSummary, ProvisionError> {
    let start = Instant::now();
    let total = count_rows(csv_path)?;
    let progress_path = progress_file(csv_path);
    let mut ledger = Ledger::read(&progress_path)?;
    let rejected = RejectedFile::open(rejected_file(csv_path), &mut ledger)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv_path)
        .map_err(|error| ProvisionError::Csv {
            path: csv_path.to_path_buf(),
            error,
        })?;
    let p = connect()?;
    let s = ImportSummary {
        resumed_after: ledger.low,
        ..Default::default()
    };
    progress.start(total, ledger.count_done());
    let (results_tx, results) = mpsc::channel();
    let mut s = std::thread::scope(|scope| -> Result<ImportSummary, ProvisionError> {
        let mut run = Run {
            scope,
            connect,
            jobs: jobs.clamp(1, MAX_JOBS),
            p,
            ledger,
            progress_path,
            rejected,
            s,
            registry: Vec::new(),
            since_refresh: 0,
            domains: HashMap::new(),
            queues: HashMap::new(),
            workers: Vec::new(),
            results_tx,
            results,
            in_flight: HashMap::new(),
            addresses: HashSet::new(),
            outbox: Vec::new(),
        };
        let read = read_rows(&mut run, &mut rdr, progress);
        // Whatever happened, let the rows in flight end and record them.
        let mut closing = Ok(());
        while !run.in_flight.is_empty() && closing.is_ok() {
            closing = run
                .wait_one()
                .and_then(|()| run.drain())
                .and_then(|()| run.save());
            progress.row(run.ledger.count_done(), run.s.failed);
        }
        run.queues.clear();
        let flush: Vec<ProvisionError> = std::mem::take(&mut run.workers)
            .into_iter()
            .filter_map(|w| w.join().ok().flatten())
            .collect();
        read?;
        closing?;
        run.save()?;
        if let Some(e) = flush.first() {
            let note = format!("account counters not updated ({e}): run reconcile");
            run.s.stopped = Some(match run.s.stopped.take() {
                Some(w) => format!("{w}; {note}"),
                None => note,
            });
        }
        if let Some(why) = run.s.stopped.take() {
            run.s.stopped = Some(format!(
                "{why}; rows up to {} are done, run the same import again to resume",
                run.ledger.low
            ));
        }
        Ok(run.s)
    })?;
    progress.finish();
    s.seconds = start.elapsed().as_secs_f64();
    Ok(s)
}

/// Read the file's rows, placing and dispatching each not dealt with yet, until the end or
/// a stop.
fn read_rows(
    run: &mut Run<'_, '_>,
    rdr: &mut csv::Reader<std::fs::File>,
    progress: &mut dyn Progress,
) -> Result<(), ProvisionError> {
    let mut rec = csv::ByteRecord::new();
    let mut row: u64 = 0;
    while run.s.stopped.is_none() {
        let read = rdr.read_byte_record(&mut rec);
        if matches!(read, Ok(false)) {
            break;
        }
        row += 1;
        if run.ledger.is_done(row) {
            continue;
        }
        while row > run.ledger.low + WINDOW && !run.in_flight.is_empty() {
            run.wait_one()?;
        }
        match read {
            Err(e) => run.reject(row, "", &format!("malformed CSV: {e}"))?,
            Ok(_)
                if row == 1
                    && rec
                        .get(0)
                        .is_some_and(|f| f.eq_ignore_ascii_case(b"address")) =>
            {
                run.ledger.finish(row);
            }
            Ok(_) => match fields(&rec) {
                Err(why) => {
                    let shown = rec
                        .get(0)
                        .map(|f| String::from_utf8_lossy(&f[..f.len().min(80)]).into_owned())
                        .unwrap_or_default();
                    run.reject(row, &shown, &why)?;
                }
                Ok((addr, pw)) => run.submit(row, addr, pw)?,
            },
        }
        if run.outbox.len() >= DISPATCH_BATCH {
            run.drain()?;
            run.flush()?;
            progress.row(run.ledger.count_done(), run.s.failed);
        }
    }
    run.drain()?;
    run.flush()?;
    progress.row(run.ledger.count_done(), run.s.failed);
    Ok(())
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
    fn rejected_file_is_cut_back_to_what_the_progress_file_covers() {
        let dir = std::env::temp_dir().join(format!("axha-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.csv.rejected.csv");
        // A crash after row 9's line was written, before the progress file recorded it.
        std::fs::write(&path, "4,a,why\n9,b,why\n").unwrap();
        let mut ledger = Ledger::default();
        ledger.rejected_bytes = Some(8);
        let mut r = RejectedFile::open(path.clone(), &mut ledger).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4,a,why\n");
        assert_eq!(r.write(9, "b", "why").unwrap(), 16);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "4,a,why\n9,b,why\n"
        );
        // No record yet (a first run): the file is kept whole and its length recorded.
        let mut fresh = Ledger::default();
        RejectedFile::open(path.clone(), &mut fresh).unwrap();
        assert_eq!(fresh.rejected_bytes, Some(16));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn csv_escaping() {
        assert_eq!(csv_escape("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(csv_escape("plain"), "plain");
    }
}
