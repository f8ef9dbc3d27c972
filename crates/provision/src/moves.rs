//! Moving accounts between back-ends: `account move`, `backend drain`, `backend remove`,
//! `rebalance`.
//!
//! One move, and what each step leaves if it is interrupted (the step is journaled in the
//! account's directory entry, `description: axha-move from=A to=B step=S`, before it starts):
//!
//! 1. `copying`: the account is made on the target with the source's hashed password and
//!    disabled there (nobody routes to it, and it takes no mail), then the mailbox is copied
//!    folder by folder over IMAP (pass 1, by UID). The source stays live.
//! 2. `held`: the source is disabled: its logins are refused and deliveries get a temporary
//!    `450`, so senders retry. The messages that arrived during pass 1 (UIDs above pass 1's
//!    last) are copied, the counts are checked on both sides, then one LDAP modify points the
//!    entry (`mailHost`, back-end) at the target and records the next step.
//! 3. `switched`: the target is enabled, the source account (and its mailbox) removed, the
//!    journal cleared and the counters adjusted.
//!
//! The account is unreachable from the disable of step 2 to the enable of step 3: that window
//! is measured and reported. At every point exactly one copy is live (the source until the
//! switch, the target after it). A resumed move (`account move ADDRESS` again) starts over at
//! its journaled step; a resumed copy compares the messages already on the target (content
//! and size) and appends only the missing ones, so nothing is doubled. A move not yet switched
//! can instead be rolled back (`--abort`): the source enabled again, the target copy removed.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

use axha_directory::{parse_address, parse_backend_name, Account, Backend};
use serde::{Deserialize, Serialize};

use crate::error::{Kind, ProvisionError};
use crate::imap::{ImapClient, ImapError, FETCH_BATCH};
use crate::service::Provisioner;

/// The prefix of a move's journal in the account entry's `description`.
pub const NOTE_PREFIX: &str = "axha-move ";

/// `[axigen.imap]`: how the mover reaches the back-ends' IMAP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    /// IMAP port on the host of each back-end's CLI address (143 by default).
    #[serde(default = "default_imap_port")]
    pub port: u16,
    /// HOST:PORT of a back-end's IMAP listener, by back-end name (overrides `port`).
    #[serde(default)]
    pub addresses: BTreeMap<String, String>,
    /// The login that opens an account's mailbox with the back-end's admin password:
    /// `{address}` and `{admin}` are replaced (`{address}*{admin}` by default, the
    /// master-user form the stand-in understands).
    #[serde(default = "default_admin_login")]
    pub admin_login: String,
}

fn default_imap_port() -> u16 {
    143
}

fn default_admin_login() -> String {
    "{address}*{admin}".into()
}

impl Default for ImapSettings {
    fn default() -> Self {
        ImapSettings {
            port: default_imap_port(),
            addresses: BTreeMap::new(),
            admin_login: default_admin_login(),
        }
    }
}

/// Why a move, drain, removal or rebalance did not happen.
#[derive(Debug)]
pub enum MoveError {
    /// The account already lives on the target.
    SameBackend {
        /// The account.
        address: String,
        /// Its back-end.
        backend: String,
    },
    /// The target is disabled (draining, or taken out of placement).
    TargetDisabled {
        /// The target.
        backend: String,
    },
    /// Another move of the account is in progress (resume it, or abort it first).
    InProgress {
        /// The account.
        address: String,
        /// Its journal.
        journal: String,
    },
    /// The account's entry holds a journal this version cannot read.
    BadJournal {
        /// The account.
        address: String,
        /// The note found.
        note: String,
    },
    /// No move of the account is in progress (nothing to resume or abort).
    NoMove {
        /// The account.
        address: String,
    },
    /// The move has switched the route already: only resuming it is left.
    Switched {
        /// The account.
        address: String,
        /// Where it lives now.
        backend: String,
    },
    /// The source back-end does not have the account (an entry without an account).
    SourceMissing {
        /// The account.
        address: String,
        /// The back-end its entry names.
        backend: String,
    },
    /// The source keeps no password for the account, so the target could not get it.
    NoPassword {
        /// The account.
        address: String,
    },
    /// The IMAP address of a back-end cannot be worked out.
    ImapAddress {
        /// The back-end.
        backend: String,
        /// What was tried.
        address: String,
    },
    /// An IMAP exchange with a back-end failed (the move stays at its step; resume it).
    Imap {
        /// The back-end.
        backend: String,
        /// The client's error.
        error: ImapError,
    },
    /// After the copy the target does not hold what the source holds (the move stays held).
    CountMismatch {
        /// The account.
        address: String,
        /// The folder.
        folder: String,
        /// Messages on the source.
        source: u64,
        /// Messages on the target.
        target: u64,
    },
    /// A back-end still holds accounts (or is the target of a move in progress).
    BackendHolds {
        /// The back-end.
        backend: String,
        /// How many.
        accounts: u64,
    },
    /// No enabled back-end other than the one drained can take its accounts.
    NoRoom {
        /// The back-end drained.
        backend: String,
    },
}

impl MoveError {
    /// The row of the error table this error belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            MoveError::SameBackend { .. } | MoveError::Switched { .. } => Kind::Invalid,
            MoveError::ImapAddress { .. } => Kind::Invalid,
            MoveError::TargetDisabled { .. } | MoveError::NoRoom { .. } => Kind::NoBackend,
            MoveError::InProgress { .. } => Kind::Duplicate,
            MoveError::NoMove { .. } => Kind::NotFound,
            MoveError::BackendHolds { .. } => Kind::NotEmpty,
            MoveError::Imap { .. } => Kind::Backend,
            MoveError::BadJournal { .. }
            | MoveError::SourceMissing { .. }
            | MoveError::NoPassword { .. }
            | MoveError::CountMismatch { .. } => Kind::Internal,
        }
    }
}

impl std::fmt::Display for MoveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoveError::SameBackend { address, backend } => {
                write!(f, "{address} already lives on back-end {backend}")
            }
            MoveError::TargetDisabled { backend } => {
                write!(f, "back-end {backend} is disabled: it takes no accounts")
            }
            MoveError::InProgress { address, journal } => write!(
                f,
                "a move of {address} is in progress ({journal}): resume it with \
                 `account move {address}` or roll it back with --abort"
            ),
            MoveError::BadJournal { address, note } => write!(
                f,
                "the entry of {address} holds an unreadable move journal: {}",
                axha_axigen::cli::printable(note)
            ),
            MoveError::NoMove { address } => write!(f, "no move of {address} is in progress"),
            MoveError::Switched { address, backend } => write!(
                f,
                "the move of {address} has switched it to back-end {backend} already: \
                 resume it to finish"
            ),
            MoveError::SourceMissing { address, backend } => {
                write!(f, "back-end {backend} does not hold {address}")
            }
            MoveError::NoPassword { address } => {
                write!(f, "the source keeps no password for {address}")
            }
            MoveError::ImapAddress { backend, address } => {
                write!(
                    f,
                    "back-end {backend}: cannot resolve IMAP address {address}"
                )
            }
            MoveError::Imap { backend, error } => write!(f, "back-end {backend}: {error}"),
            MoveError::CountMismatch {
                address,
                folder,
                source,
                target,
            } => write!(
                f,
                "{address}, folder {folder}: {source} messages on the source, {target} on \
                 the target after the copy (the move stays held; resume it)"
            ),
            MoveError::BackendHolds { backend, accounts } => write!(
                f,
                "back-end {backend} still holds {accounts} account(s): drain it first"
            ),
            MoveError::NoRoom { backend } => write!(
                f,
                "no enabled back-end other than {backend} can take its accounts"
            ),
        }
    }
}

/// The cause is part of the message (see the crate's error convention).
impl std::error::Error for MoveError {}

/// The step a move is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Copying while the source stays live.
    Copying,
    /// The source is disabled; the rest is copied and the route switched.
    Held,
    /// The route points at the target; the source is being removed.
    Switched,
}

const STEPS: &[(Step, &str)] = &[
    (Step::Copying, "copying"),
    (Step::Held, "held"),
    (Step::Switched, "switched"),
];

impl Step {
    fn as_str(self) -> &'static str {
        STEPS
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
            .expect("every step is in the table")
    }
}

/// A move's journal: where from, where to, and the step it is at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    /// The source back-end.
    pub from: String,
    /// The target back-end.
    pub to: String,
    /// The step started last.
    pub step: Step,
}

impl Journal {
    /// The journal as stored in the entry's note.
    pub fn render(&self) -> String {
        format!(
            "{NOTE_PREFIX}from={} to={} step={}",
            self.from,
            self.to,
            self.step.as_str()
        )
    }

    /// A stored journal; `None` when `note` is not one.
    pub fn parse(note: &str) -> Option<Journal> {
        let rest = note.strip_prefix(NOTE_PREFIX)?;
        let mut from = None;
        let mut to = None;
        let mut step = None;
        for w in rest.split(' ') {
            match w.split_once('=')? {
                ("from", v) => from = parse_backend_name(v).ok(),
                ("to", v) => to = parse_backend_name(v).ok(),
                ("step", v) => step = STEPS.iter().find(|(_, n)| *n == v).map(|(s, _)| *s),
                _ => return None,
            }
        }
        Some(Journal {
            from: from?,
            to: to?,
            step: step?,
        })
    }
}

/// The body of `POST /v1/accounts/ADDRESS/move`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// The target back-end; absent to resume an interrupted move.
    #[serde(default)]
    pub to: Option<String>,
}

/// What one move did.
#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    /// The account.
    pub address: String,
    /// The source back-end.
    pub from: String,
    /// The target back-end.
    pub to: String,
    /// The step a resumed move started from (`None`: a new move).
    pub resumed_from: Option<Step>,
    /// Folders copied.
    pub folders: usize,
    /// Messages copied while the source was live.
    pub copied_live: u64,
    /// Messages copied while the account was held.
    pub copied_held: u64,
    /// Messages on the target when the route switched.
    pub messages: u64,
    /// Milliseconds the account was unreachable (disabled on both sides); `None` when the
    /// hold began in an earlier, interrupted run.
    pub unreachable_ms: Option<f64>,
    /// Milliseconds the whole move took (this run).
    pub total_ms: f64,
}

/// What a drain did.
#[derive(Debug, Clone, Serialize)]
pub struct DrainReport {
    /// The back-end drained.
    pub backend: String,
    /// The moves made.
    pub moved: Vec<MoveReport>,
    /// Accounts that could not be moved, with why.
    pub failed: Vec<(String, String)>,
}

/// What a rebalance did.
#[derive(Debug, Clone, Serialize)]
pub struct RebalanceReport {
    /// Accounts per enabled back-end before.
    pub before: BTreeMap<String, u64>,
    /// Accounts per enabled back-end after.
    pub after: BTreeMap<String, u64>,
    /// The moves made.
    pub moved: Vec<MoveReport>,
}

/// Per folder: the last UID copied.
type Marks = Vec<(String, u32)>;

/// One copy pass.
struct Pass {
    copied: u64,
    marks: Marks,
    /// Per folder: (messages on the source, messages on the target) after the pass.
    counts: Vec<(String, u64, u64)>,
}

fn key(body: &[u8]) -> (usize, u64) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    (body.len(), h.finish())
}

/// UID ranges of at most [`FETCH_BATCH`] covering the UIDs above `after` and below `next`.
fn batches(after: u32, next: u32) -> impl Iterator<Item = (u32, u32)> {
    (after.saturating_add(1)..next)
        .step_by(FETCH_BATCH as usize)
        .map(move |lo| (lo, lo.saturating_add(FETCH_BATCH - 1).min(next - 1)))
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

impl Provisioner {
    fn registered(&mut self, name: &str) -> Result<Backend, ProvisionError> {
        self.dir
            .backend(name)?
            .ok_or_else(|| ProvisionError::NoSuchBackend {
                name: name.to_string(),
            })
    }

    fn imap_addr(&self, be: &Backend) -> Result<SocketAddr, MoveError> {
        let s = self.store.imap();
        let text = match s.addresses.get(&be.name) {
            Some(a) => a.clone(),
            None => {
                let host = be
                    .cli_address
                    .rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(&be.cli_address);
                format!("{host}:{}", s.port)
            }
        };
        text.to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or(MoveError::ImapAddress {
                backend: be.name.clone(),
                address: text,
            })
    }

    /// An IMAP session on `address`'s mailbox on `be`, as the back-end's administrator.
    fn open_mailbox(&self, be: &Backend, address: &str) -> Result<ImapClient, ProvisionError> {
        let addr = self.imap_addr(be)?;
        let pw = self.store.admin_password(be)?;
        let user = self
            .store
            .imap()
            .admin_login
            .replace("{address}", address)
            .replace("{admin}", self.store.admin_user());
        ImapClient::login(addr, &user, pw.expose(), self.store.timeout()).map_err(|error| {
            MoveError::Imap {
                backend: be.name.clone(),
                error,
            }
            .into()
        })
    }

    /// Copy `address`'s mailbox from `src` to `dst`. With `marks` (pass 1's last UIDs), only
    /// what arrived since is copied; without, every message missing on the target (compared
    /// by content and size, as many times as it occurs) is appended.
    fn copy_mailbox(
        &mut self,
        src: &Backend,
        dst: &Backend,
        address: &str,
        marks: Option<&Marks>,
    ) -> Result<Pass, ProvisionError> {
        let on = |be: &Backend| {
            let name = be.name.clone();
            move |error| -> ProvisionError {
                MoveError::Imap {
                    backend: name,
                    error,
                }
                .into()
            }
        };
        let mut s = self.open_mailbox(src, address)?;
        let mut d = self.open_mailbox(dst, address)?;
        let folders = s.list().map_err(on(src))?;
        let existing = d.list().map_err(on(dst))?;
        let mut pass = Pass {
            copied: 0,
            marks: Vec::new(),
            counts: Vec::new(),
        };
        for f in &folders {
            if !existing.contains(f) {
                d.create(f).map_err(on(dst))?;
            }
            let after = marks.and_then(|m| m.iter().find(|(n, _)| n == f).map(|(_, u)| *u));
            let target = d.select(f).map_err(on(dst))?;
            let mut on_target = u64::from(target.exists);
            let mut have: HashMap<(usize, u64), u32> = HashMap::new();
            if after.is_none() && on_target > 0 {
                for (lo, hi) in batches(0, target.uid_next) {
                    for m in d.fetch_range(lo, hi).map_err(on(dst))? {
                        *have.entry(key(&m.body)).or_default() += 1;
                    }
                }
            }
            let source = s.select(f).map_err(on(src))?;
            let mut last = after.unwrap_or(0);
            for (lo, hi) in batches(last, source.uid_next) {
                for m in s.fetch_range(lo, hi).map_err(on(src))? {
                    last = last.max(m.uid);
                    if let Some(n) = have.get_mut(&key(&m.body)).filter(|n| **n > 0) {
                        *n -= 1;
                        continue;
                    }
                    d.append(f, &m.body).map_err(on(dst))?;
                    pass.copied += 1;
                    on_target += 1;
                }
            }
            let on_source = u64::from(source.exists);
            pass.marks.push((f.clone(), last));
            pass.counts.push((f.clone(), on_source, on_target));
        }
        s.logout();
        d.logout();
        Ok(pass)
    }

    /// The journal of `address`'s move in progress, if any.
    pub fn move_journal(&mut self, address: &str) -> Result<Option<Journal>, ProvisionError> {
        let note = self.dir.account_note(address)?;
        match note {
            Some(n) if n.starts_with(NOTE_PREFIX) => match Journal::parse(&n) {
                Some(j) => Ok(Some(j)),
                None => Err(MoveError::BadJournal {
                    address: address.to_string(),
                    note: n,
                }
                .into()),
            },
            _ => Ok(None),
        }
    }

    /// Move `address` to back-end `to`, or (with `to` absent or equal to the journal's
    /// target) resume its interrupted move. See the module documentation for the steps.
    pub fn move_account(
        &mut self,
        address: &str,
        to: Option<&str>,
    ) -> Result<MoveReport, ProvisionError> {
        let start = Instant::now();
        let a: Account = self.account(address)?;
        let address = a.address.clone();
        let (_, local, domain) = parse_address(&address)?;
        let to = to.map(parse_backend_name).transpose()?;
        let (mut j, resumed_from) = match self.move_journal(&address)? {
            Some(j) => {
                if to.as_ref().is_some_and(|t| *t != j.to) {
                    return Err(MoveError::InProgress {
                        address,
                        journal: j.render(),
                    }
                    .into());
                }
                let step = j.step;
                (j, Some(step))
            }
            None => {
                let to = to.ok_or_else(|| MoveError::NoMove {
                    address: address.clone(),
                })?;
                if to == a.backend {
                    return Err(MoveError::SameBackend {
                        address,
                        backend: to,
                    }
                    .into());
                }
                let dst = self.registered(&to)?;
                if !dst.enabled {
                    return Err(MoveError::TargetDisabled { backend: to }.into());
                }
                let j = Journal {
                    from: a.backend.clone(),
                    to,
                    step: Step::Copying,
                };
                self.dir.set_account_note(&address, Some(&j.render()))?;
                (j, None)
            }
        };
        let src = self.registered(&j.from)?;
        let dst = self.registered(&j.to)?;
        let mut report = MoveReport {
            address: address.clone(),
            from: src.name.clone(),
            to: dst.name.clone(),
            resumed_from,
            folders: 0,
            copied_live: 0,
            copied_held: 0,
            messages: 0,
            unreachable_ms: None,
            total_ms: 0.0,
        };
        let mut held_at: Option<Instant> = None;
        let mut marks: Option<Marks> = None;
        if j.step == Step::Copying {
            let info = self
                .store
                .account_info(&src, &domain, &local)?
                .ok_or_else(|| MoveError::SourceMissing {
                    address: address.clone(),
                    backend: src.name.clone(),
                })?;
            let hash = info.hashed_password.ok_or_else(|| MoveError::NoPassword {
                address: address.clone(),
            })?;
            self.store
                .add_account_hashed(&dst, &domain, &local, &hash)?;
            self.store
                .set_account_disabled(&dst, &domain, &local, true)?;
            let pass = self.copy_mailbox(&src, &dst, &address, None)?;
            report.copied_live = pass.copied;
            marks = Some(pass.marks);
            self.store
                .set_account_disabled(&src, &domain, &local, true)?;
            held_at = Some(Instant::now());
            j.step = Step::Held;
            self.dir.set_account_note(&address, Some(&j.render()))?;
        }
        if j.step == Step::Held {
            if held_at.is_none() {
                // Resumed: the hold may not have been made before the interruption.
                self.store
                    .set_account_disabled(&src, &domain, &local, true)?;
            }
            let pass = self.copy_mailbox(&src, &dst, &address, marks.as_ref())?;
            report.copied_held = pass.copied;
            report.folders = pass.counts.len();
            for (folder, source, target) in &pass.counts {
                if source != target {
                    return Err(MoveError::CountMismatch {
                        address,
                        folder: folder.clone(),
                        source: *source,
                        target: *target,
                    }
                    .into());
                }
            }
            report.messages = pass.counts.iter().map(|c| c.2).sum();
            j.step = Step::Switched;
            self.dir
                .repoint_account(&address, &dst.name, &dst.mail_host, &j.render())?;
        }
        self.store
            .set_account_disabled(&dst, &domain, &local, false)?;
        report.unreachable_ms = held_at.map(ms);
        self.store.remove_account(&src, &domain, &local)?;
        self.dir.set_account_note(&address, None)?;
        // The counters only steer least-used placement; `reconcile` recounts them.
        let _ = self.dir.add_to_count(&dst.name, 1);
        let _ = self.dir.add_to_count(&src.name, -1);
        report.total_ms = ms(start);
        Ok(report)
    }

    /// Roll back a move not yet switched: the source enabled again, the target's copy
    /// removed, the journal cleared. Returns the journal rolled back.
    pub fn abort_move(&mut self, address: &str) -> Result<Journal, ProvisionError> {
        let a = self.account(address)?;
        let (_, local, domain) = parse_address(&a.address)?;
        let j = self
            .move_journal(&a.address)?
            .ok_or_else(|| MoveError::NoMove {
                address: a.address.clone(),
            })?;
        if j.step == Step::Switched {
            return Err(MoveError::Switched {
                address: a.address,
                backend: j.to,
            }
            .into());
        }
        let src = self.registered(&j.from)?;
        let dst = self.registered(&j.to)?;
        // Target first: never two live copies, even for a moment.
        self.store.remove_account(&dst, &domain, &local)?;
        self.store
            .set_account_disabled(&src, &domain, &local, false)?;
        self.dir.set_account_note(&a.address, None)?;
        Ok(j)
    }

    /// The enabled back-end other than `not` with the fewest accounts.
    fn least_used_except(&mut self, not: &str) -> Result<Option<Backend>, ProvisionError> {
        Ok(self
            .dir
            .backends()?
            .into_iter()
            .filter(|b| b.enabled && b.name != not)
            .min_by(|a, b| {
                a.account_count
                    .cmp(&b.account_count)
                    .then(a.name.cmp(&b.name))
            }))
    }

    /// Move every account off back-end `name`, after disabling it (no new placements).
    /// Each account goes to the least-used enabled back-end; a move in progress is resumed.
    pub fn drain_backend(&mut self, name: &str) -> Result<DrainReport, ProvisionError> {
        let name = parse_backend_name(name)?;
        let b = self.registered(&name)?;
        if b.enabled {
            self.dir.update_backend(&name, Some(false), None, None)?;
        }
        let mut report = DrainReport {
            backend: name.clone(),
            moved: Vec::new(),
            failed: Vec::new(),
        };
        for a in self.dir.accounts_on(&name)? {
            let r = match self.move_journal(&a.address)? {
                Some(_) => self.move_account(&a.address, None),
                None => {
                    let t = self
                        .least_used_except(&name)?
                        .ok_or_else(|| MoveError::NoRoom {
                            backend: name.clone(),
                        })?;
                    self.move_account(&a.address, Some(&t.name))
                }
            };
            match r {
                Ok(m) => report.moved.push(m),
                Err(e) if e.kind() == Kind::DirectoryUnavailable => return Err(e),
                Err(e) => report.failed.push((a.address.clone(), e.to_string())),
            }
        }
        Ok(report)
    }

    /// Remove back-end `name` from the registry; refused while it holds accounts or takes
    /// part in a move in progress (a resumed move needs both of its back-ends).
    pub fn remove_backend(&mut self, name: &str) -> Result<Backend, ProvisionError> {
        let name = parse_backend_name(name)?;
        let b = self.registered(&name)?;
        let held = self.dir.count_accounts_on(&name)?;
        let incoming = self
            .dir
            .accounts_noted(NOTE_PREFIX)?
            .iter()
            .filter(|(_, n)| Journal::parse(n).is_some_and(|j| j.to == name || j.from == name))
            .count() as u64;
        if held + incoming > 0 {
            return Err(MoveError::BackendHolds {
                backend: name,
                accounts: held + incoming,
            }
            .into());
        }
        self.dir.remove_backend(&name)?;
        Ok(b)
    }

    /// Move accounts from the most used enabled back-end to the least used one until their
    /// account counts (recounted from the entries) differ by at most `spread`.
    pub fn rebalance(&mut self, spread: u64) -> Result<RebalanceReport, ProvisionError> {
        let counts = self.dir.count_all_accounts()?;
        let enabled: Vec<String> = self
            .dir
            .backends()?
            .into_iter()
            .filter(|b| b.enabled)
            .map(|b| b.name)
            .collect();
        let mut now: BTreeMap<String, u64> = enabled
            .iter()
            .map(|n| (n.clone(), counts.get(n).copied().unwrap_or(0)))
            .collect();
        let before = now.clone();
        let mut moved = Vec::new();
        let total: u64 = now.values().sum();
        for _ in 0..=total {
            let Some((max, hi)) = now.iter().max_by_key(|(n, c)| (**c, std::cmp::Reverse(*n)))
            else {
                break;
            };
            let Some((min, lo)) = now.iter().min_by_key(|(n, c)| (**c, *n)) else {
                break;
            };
            if hi - lo <= spread {
                break;
            }
            let (max, min) = (max.clone(), min.clone());
            let mut candidate = None;
            for a in self.dir.accounts_on(&max)? {
                if self.move_journal(&a.address)?.is_none() {
                    candidate = Some(a);
                    break;
                }
            }
            let Some(a) = candidate else { break };
            moved.push(self.move_account(&a.address, Some(&min))?);
            *now.entry(max).or_default() -= 1;
            *now.entry(min).or_default() += 1;
        }
        Ok(RebalanceReport {
            before,
            after: now,
            moved,
        })
    }
}

/// The command-line side of moves: each subcommand prints its report (text or JSON).
pub mod cli {
    use super::{MoveReport, Provisioner};
    use crate::cli::{print, Exit};

    fn line(m: &MoveReport) -> String {
        let window = match m.unreachable_ms {
            Some(w) => format!("unreachable {w:.0} ms"),
            None => "unreachable window began in an earlier run".to_string(),
        };
        let resumed = m
            .resumed_from
            .map(|s| format!(" (resumed at {})", s.as_str()))
            .unwrap_or_default();
        format!(
            "{} moved {} -> {}{resumed}: {} messages in {} folder(s), {} copied live, {} while held; \
             {window}; total {:.0} ms\n",
            m.address, m.from, m.to, m.messages, m.folders, m.copied_live, m.copied_held, m.total_ms
        )
    }

    /// `account move`.
    pub fn account_move(
        p: &mut Provisioner,
        json: bool,
        address: &str,
        to: Option<&str>,
        abort: bool,
    ) -> Result<i32, Exit> {
        if abort {
            let j = p.abort_move(address)?;
            print(
                json,
                serde_json::json!({"address": address, "aborted": j.render()}),
                || {
                    format!(
                        "move of {address} to {} rolled back; it stays on {}\n",
                        j.to, j.from
                    )
                },
            );
            return Ok(0);
        }
        let m = p.move_account(address, to)?;
        print(json, serde_json::json!(m), || line(&m));
        Ok(0)
    }

    /// `backend drain`: 0 when every account moved, 1 when some could not.
    pub fn drain(p: &mut Provisioner, json: bool, name: &str) -> Result<i32, Exit> {
        let r = p.drain_backend(name)?;
        print(json, serde_json::json!(r), || {
            let mut s: String = r.moved.iter().map(line).collect();
            for (a, why) in &r.failed {
                s.push_str(&format!("{a} not moved: {why}\n"));
            }
            s.push_str(&format!(
                "back-end {} drained: {} moved, {} left\n",
                r.backend,
                r.moved.len(),
                r.failed.len()
            ));
            s
        });
        Ok(if r.failed.is_empty() { 0 } else { 1 })
    }

    /// `backend remove`.
    pub fn remove(p: &mut Provisioner, json: bool, name: &str) -> Result<i32, Exit> {
        let b = p.remove_backend(name)?;
        print(json, serde_json::json!({"removed": b.name}), || {
            format!("back-end {} removed\n", b.name)
        });
        Ok(0)
    }

    /// `rebalance`.
    pub fn rebalance(p: &mut Provisioner, json: bool, spread: u64) -> Result<i32, Exit> {
        let r = p.rebalance(spread)?;
        print(json, serde_json::json!(r), || {
            let mut s: String = r.moved.iter().map(line).collect();
            for (b, n) in &r.after {
                let was = r.before.get(b).copied().unwrap_or(0);
                s.push_str(&format!("{b}: {was} -> {n}\n"));
            }
            s
        });
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trip_and_garbage() {
        let j = Journal {
            from: "be1".into(),
            to: "be-2".into(),
            step: Step::Held,
        };
        assert_eq!(j.render(), "axha-move from=be1 to=be-2 step=held");
        assert_eq!(Journal::parse(&j.render()), Some(j));
        for bad in [
            "",
            "axha-move",
            "axha-move from=be1 to=be2",
            "axha-move from=be1 to=be2 step=flying",
            "axha-move from=BE/1 to=be2 step=held",
            "axha-move from=be1 to=be2 step=held extra=1",
            "something else",
        ] {
            assert_eq!(Journal::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn uid_batches_cover_the_range() {
        let b: Vec<_> = batches(0, 1).collect();
        assert!(b.is_empty());
        let b: Vec<_> = batches(0, 2).collect();
        assert_eq!(b, vec![(1, 1)]);
        let b: Vec<_> = batches(5, 5 + FETCH_BATCH * 2 + 2).collect();
        assert_eq!(
            b,
            vec![
                (6, 5 + FETCH_BATCH),
                (6 + FETCH_BATCH, 5 + FETCH_BATCH * 2),
                (6 + FETCH_BATCH * 2, 6 + FETCH_BATCH * 2)
            ]
        );
        assert!(batches(10, 3).next().is_none());
    }

    #[test]
    fn content_keys_tell_messages_apart() {
        assert_eq!(key(b"abc"), key(b"abc"));
        assert_ne!(key(b"abc"), key(b"abd"));
        assert_ne!(key(b""), key(b"\0"));
    }
}
