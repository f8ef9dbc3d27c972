//! The provisioning operations: every write keeps the directory and the back-ends in step.
//!
//! Creating an account: choose the back-end -> create the account on its Axigen -> write the
//! LDAP entry -> count it. When a later step fails the earlier ones are undone, so there is
//! never an account without an entry nor an entry without an account. A retried create is
//! safe: an entry already there is reported as a duplicate, and an account already on the
//! chosen back-end (left by an interrupted earlier try) is adopted, not created twice.

use std::collections::HashMap;

use axha_directory::placement::{choose, SplitMix64};
use axha_directory::{
    check_password, parse_address, parse_backend_name, parse_cli_address, parse_domain,
    parse_mail_host, Account, Backend, Directory, DirectoryError, Domain, Policy, MAX_WEIGHT,
};
use serde::Serialize;

use crate::error::ProvisionError;
use crate::store::{Added, AxigenStore, StoreError};

/// An account create that passed the checks before any write.
struct AccountRequest {
    /// The normalised address.
    address: String,
    /// Its local part.
    local: String,
    /// Its domain, as provisioned.
    domain: Domain,
}

/// What a successful account creation did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Placed {
    /// The account's address.
    pub address: String,
    /// The back-end it was placed on.
    pub backend: String,
    /// The back-end's mailHost, which front-ends route to.
    pub mail_host: String,
    /// False when the account was already on the back-end and only the entry was written.
    pub created_on_backend: bool,
}

/// What deleting a domain did on the back-ends.
#[derive(Debug, Clone, Serialize)]
pub struct DomainDeleted {
    /// The domain deleted.
    pub domain: String,
    /// Back-ends the domain was removed from.
    pub removed_from: Vec<String>,
    /// Back-ends that still hold the (empty) domain, with their answer.
    pub left_on: Vec<(String, String)>,
}

/// One finding of `reconcile`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ReconcileReport {
    /// Back-ends whose counter was off: (name, counter, actual).
    pub counters_fixed: Vec<(String, i64, u64)>,
    /// Entries whose account is missing on their back-end: (address, back-end).
    pub entries_without_account: Vec<(String, String)>,
    /// Accounts on a back-end without an entry pointing there: (address, back-end).
    pub accounts_without_entry: Vec<(String, String)>,
    /// Back-ends that could not be listed: (name, error).
    pub unreachable: Vec<(String, String)>,
}

/// The directory, the back-ends and the random source of one worker.
pub struct Provisioner {
    /// The location directory.
    pub dir: Directory,
    /// The back-ends.
    pub store: AxigenStore,
    rng: SplitMix64,
    default_policy: Policy,
    /// Back-end registry cached between refreshes (an import refreshes every few hundred
    /// rows and counts its own placements in between).
    cache: Option<(Vec<Backend>, u32)>,
    refresh_every: u32,
    /// Counter increments not yet written (batched while the registry is cached).
    pending_counts: HashMap<String, i64>,
    /// An account left on a back-end because the directory went away while its entry was
    /// being written: (address, back-end).
    pending: Option<(String, String)>,
    /// Where a retried create of an address must go (the back-end of its pending account).
    preferred: Option<(String, String)>,
}

fn invalid(e: DirectoryError) -> ProvisionError {
    e.into()
}

impl Provisioner {
    /// A provisioner over `dir` and `store`, with its random source and default policy.
    pub fn new(
        dir: Directory,
        store: AxigenStore,
        rng: SplitMix64,
        default_policy: Policy,
    ) -> Self {
        Provisioner {
            dir,
            store,
            rng,
            default_policy,
            cache: None,
            refresh_every: 0,
            pending_counts: HashMap::new(),
            pending: None,
            preferred: None,
        }
    }

    /// Reuse the back-end registry for `rows` placements before reading it again (0 = read
    /// it for every placement). Placements made here are counted into the cached copy, and
    /// their counter increments are written in one modify per back-end at each refresh and
    /// at [`Provisioner::flush_counts`] (one LDAP write per account instead of two).
    pub fn cache_backends(&mut self, rows: u32) {
        self.refresh_every = rows;
        self.cache = None;
    }

    /// Write the batched counter increments (RFC 4525 increment, one per back-end).
    pub fn flush_counts(&mut self) -> Result<(), ProvisionError> {
        let pending: Vec<(String, i64)> = self
            .pending_counts
            .drain()
            .filter(|(_, d)| *d != 0)
            .collect();
        for (i, (name, delta)) in pending.iter().enumerate() {
            if let Err(e) = self.dir.add_to_count(name, *delta) {
                // Keep what was not written for the next try.
                for (n, d) in &pending[i..] {
                    *self.pending_counts.entry(n.clone()).or_default() += d;
                }
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// The account left on a back-end by the last failed create, if any: (address, back-end).
    pub fn take_pending(&mut self) -> Option<(String, String)> {
        self.pending.take()
    }

    /// Place the next create of `address` on `backend` (where an interrupted earlier try
    /// left it), whatever the policy would choose.
    pub fn prefer_backend(&mut self, address: &str, backend: &str) {
        self.preferred = Some((address.to_string(), backend.to_string()));
    }

    fn count(&mut self, backend: &str, delta: i64) {
        if self.refresh_every > 0 {
            *self.pending_counts.entry(backend.to_string()).or_default() += delta;
        } else {
            // The counter only steers least-used placement; if this fails, reconcile recounts.
            let _ = self.dir.add_to_count(backend, delta);
        }
        self.note_placed(backend, delta);
    }

    /// Policy of domains created without one.
    pub fn default_policy(&self) -> Policy {
        self.default_policy
    }

    fn backends_for_placement(&mut self) -> Result<Vec<Backend>, ProvisionError> {
        if self.refresh_every > 0 {
            if let Some((b, used)) = &mut self.cache {
                if *used < self.refresh_every {
                    *used += 1;
                    return Ok(b.clone());
                }
            }
            self.flush_counts()?;
            let b = self.dir.backends()?;
            self.cache = Some((b.clone(), 1));
            return Ok(b);
        }
        Ok(self.dir.backends()?)
    }

    fn note_placed(&mut self, backend: &str, delta: i64) {
        if let Some((bs, _)) = &mut self.cache {
            if let Some(b) = bs.iter_mut().find(|b| b.name == backend) {
                b.account_count += delta;
            }
        }
    }

    // ---- back-ends ----

    /// Record a back-end in the directory, its name and addresses checked first.
    pub fn add_backend(
        &mut self,
        name: &str,
        cli_address: &str,
        mail_host: &str,
        weight: u32,
        enabled: bool,
    ) -> Result<Backend, ProvisionError> {
        if weight > MAX_WEIGHT {
            return Err(ProvisionError::Weight {
                weight,
                max: MAX_WEIGHT,
            });
        }
        let b = Backend {
            name: parse_backend_name(name).map_err(invalid)?,
            cli_address: parse_cli_address(cli_address).map_err(invalid)?,
            mail_host: parse_mail_host(mail_host).map_err(invalid)?,
            weight,
            enabled,
            account_count: 0,
        };
        self.dir.add_backend(&b)?;
        Ok(b)
    }

    /// Enable, disable or reweigh a back-end.
    pub fn update_backend(
        &mut self,
        name: &str,
        enabled: Option<bool>,
        weight: Option<u32>,
    ) -> Result<Backend, ProvisionError> {
        let name = parse_backend_name(name).map_err(invalid)?;
        if let Some(weight) = weight.filter(|w| *w > MAX_WEIGHT) {
            return Err(ProvisionError::Weight {
                weight,
                max: MAX_WEIGHT,
            });
        }
        self.dir.update_backend(&name, enabled, weight, None)?;
        self.dir
            .backend(&name)?
            .ok_or(ProvisionError::NoSuchBackend { name })
    }

    /// Every back-end, with its account count.
    pub fn backends(&mut self) -> Result<Vec<Backend>, ProvisionError> {
        Ok(self.dir.backends()?)
    }

    fn backend_named(&mut self, name: &str) -> Result<Backend, ProvisionError> {
        self.dir
            .backend(name)?
            .ok_or_else(|| ProvisionError::Unregistered {
                backend: name.to_string(),
            })
    }

    // ---- domains ----

    /// Create a domain: on its home back-end (domain-based) or on every enabled back-end
    /// (the other policies), then its directory entry. Undone on the back-ends on failure.
    pub fn create_domain(
        &mut self,
        name: &str,
        policy: Option<Policy>,
        home: Option<&str>,
    ) -> Result<Domain, ProvisionError> {
        let name = parse_domain(name).map_err(invalid)?;
        let policy = policy.unwrap_or(self.default_policy);
        let home = home.map(parse_backend_name).transpose().map_err(invalid)?;
        if policy == Policy::DomainBased && home.is_none() {
            return Err(ProvisionError::NoHome { domain: name });
        }
        if self.dir.domain(&name)?.is_some() {
            return Err(ProvisionError::DomainExists { domain: name });
        }
        let backends = self.dir.backends()?;
        let targets: Vec<Backend> = match &home {
            Some(h) if policy == Policy::DomainBased => {
                let b = backends
                    .iter()
                    .find(|b| &b.name == h)
                    .ok_or_else(|| ProvisionError::HomeNotRegistered { home: h.clone() })?;
                if !b.enabled {
                    return Err(ProvisionError::HomeDisabled { home: h.clone() });
                }
                vec![b.clone()]
            }
            _ => backends.into_iter().filter(|b| b.enabled).collect(),
        };
        if targets.is_empty() {
            return Err(ProvisionError::NoEnabledBackend);
        }
        let mut created: Vec<Backend> = Vec::new();
        for b in &targets {
            match self.store.create_domain(b, &name) {
                Ok(Added::Created) => created.push(b.clone()),
                Ok(Added::Existed) => {}
                Err(e) => return Err(self.undo_domain(&created, &name, e.into())),
            }
        }
        let d = Domain {
            name: name.clone(),
            policy,
            home: if policy == Policy::DomainBased {
                home
            } else {
                None
            },
        };
        let route = (policy == Policy::DomainBased).then(|| targets[0].mail_host.clone());
        if let Err(e) = self.dir.add_domain(&d, route.as_deref()) {
            return Err(self.undo_domain(&created, &name, e.into()));
        }
        Ok(d)
    }

    /// Remove the domain from the back-ends where this creation made it; `error`, with the
    /// back-ends that still hold it when some removal failed.
    fn undo_domain(
        &mut self,
        created: &[Backend],
        name: &str,
        error: ProvisionError,
    ) -> ProvisionError {
        let left: Vec<StoreError> = created
            .iter()
            .filter_map(|b| self.store.remove_domain(b, name).err())
            .collect();
        if left.is_empty() {
            error
        } else {
            ProvisionError::DomainLeftBehind {
                error: Box::new(error),
                left,
            }
        }
    }

    /// Domain `name`.
    pub fn domain(&mut self, name: &str) -> Result<Domain, ProvisionError> {
        let name = parse_domain(name).map_err(invalid)?;
        self.dir
            .domain(&name)?
            .ok_or(ProvisionError::NoSuchDomain { name })
    }

    /// Every provisioned domain.
    pub fn domains(&mut self) -> Result<Vec<Domain>, ProvisionError> {
        Ok(self.dir.domains()?)
    }

    /// Delete a domain that has no accounts left: its entry first (so no new account can be
    /// placed in it and nothing routes to it), then `DELETE Domain` on the back-ends that
    /// held it. A back-end that cannot remove it is listed, not hidden: the directory no
    /// longer knows the domain either way.
    pub fn delete_domain(&mut self, name: &str) -> Result<DomainDeleted, ProvisionError> {
        let d = self.domain(name)?;
        match self.dir.delete_domain(&d.name) {
            Ok(()) => {}
            Err(DirectoryError::NotEmpty { .. }) => {
                return Err(ProvisionError::DomainNotEmpty { domain: d.name })
            }
            Err(e) => return Err(e.into()),
        }
        let backends = self.dir.backends()?;
        let mut out = DomainDeleted {
            domain: d.name.clone(),
            removed_from: Vec::new(),
            left_on: Vec::new(),
        };
        for b in backends.iter().filter(|b| match &d.home {
            Some(h) if d.policy == Policy::DomainBased => &b.name == h,
            _ => true,
        }) {
            match self.store.remove_domain(b, &d.name) {
                Ok(()) => out.removed_from.push(b.name.clone()),
                Err(e) => out.left_on.push((b.name.clone(), e.reason())),
            }
        }
        Ok(out)
    }

    // ---- accounts ----

    /// Create an account (see the module documentation for the steps and their undo).
    pub fn create_account(
        &mut self,
        address: &str,
        password: &str,
    ) -> Result<Placed, ProvisionError> {
        let req = self.account_request(address, password)?;
        let backends = self.backends_for_placement()?;
        let mut exclude: Vec<String> = Vec::new();
        let mut failures: Vec<StoreError> = Vec::new();
        let (be, added) = loop {
            let preferred = match &self.preferred {
                Some((a, b)) if *a == req.address && !exclude.contains(b) => {
                    backends.iter().find(|x| &x.name == b)
                }
                _ => None,
            };
            let chosen = match preferred {
                Some(b) => Ok(b.clone()),
                None => self.place(&req.domain, &backends, &exclude),
            };
            let be = match chosen {
                Ok(b) => b,
                Err(e) if failures.is_empty() => return Err(e),
                Err(_) => return Err(ProvisionError::AllBackendsFailed { failures }),
            };
            match self.add_on_backend(&req, &be, password) {
                Ok(added) => break (be, added),
                // Nothing happened there: another back-end may take it (not for
                // domain-based placement, where choose() refuses anything but the home).
                Err(ProvisionError::Backend(e)) if e.before_change() => {
                    exclude.push(be.name.clone());
                    failures.push(e);
                }
                Err(e) => return Err(e),
            }
        };
        self.write_entry(req, be, added)
    }

    /// Create an account of `domain` (as read by the caller) on a back-end chosen beforehand
    /// (a bulk import reads each domain once, places rows itself and hands each to a
    /// worker): the same checks, back-end step and entry as [`Provisioner::create_account`].
    /// A back-end that fails before anything changed on it gives `ProvisionError::Backend`
    /// with [`StoreError::before_change`] true: the caller may place the account elsewhere.
    pub fn create_account_on(
        &mut self,
        address: &str,
        password: &str,
        domain: &Domain,
        be: &Backend,
    ) -> Result<Placed, ProvisionError> {
        let req = self.account_request_in(address, password, Some(domain))?;
        let added = self.add_on_backend(&req, be, password)?;
        self.write_entry(req, be.clone(), added)
    }

    /// Choose a back-end for an account of `domain` by the domain's policy, among
    /// `backends` less `exclude`.
    pub fn place(
        &mut self,
        domain: &Domain,
        backends: &[Backend],
        exclude: &[String],
    ) -> Result<Backend, ProvisionError> {
        choose(
            domain.policy,
            backends,
            domain.home.as_deref(),
            exclude,
            &mut self.rng,
        )
        .cloned()
        .map_err(ProvisionError::from)
    }

    /// The checks before any write: a valid address and password, a provisioned domain, no
    /// entry yet.
    fn account_request(
        &mut self,
        address: &str,
        password: &str,
    ) -> Result<AccountRequest, ProvisionError> {
        self.account_request_in(address, password, None)
    }

    /// [`Provisioner::account_request`], with the domain already read when `known` is the
    /// address's domain.
    fn account_request_in(
        &mut self,
        address: &str,
        password: &str,
        known: Option<&Domain>,
    ) -> Result<AccountRequest, ProvisionError> {
        let (address, local, domain_name) = parse_address(address).map_err(invalid)?;
        check_password(password).map_err(invalid)?;
        let domain = match known.filter(|d| d.name == domain_name) {
            Some(d) => d.clone(),
            None => self.dir.domain(&domain_name)?.ok_or_else(|| {
                ProvisionError::DomainNotProvisioned {
                    domain: domain_name.clone(),
                }
            })?,
        };
        if let Some(a) = self.dir.account(&address)? {
            return Err(ProvisionError::AccountExists {
                address,
                backend: a.backend,
            });
        }
        Ok(AccountRequest {
            address,
            local,
            domain,
        })
    }

    /// The back-end step: the account on `be`'s Axigen. A failure after the account may have
    /// been made removes it there before returning.
    fn add_on_backend(
        &mut self,
        req: &AccountRequest,
        be: &Backend,
        password: &str,
    ) -> Result<Added, ProvisionError> {
        let domain_name = &req.domain.name;
        match self.store.add_account(
            be,
            domain_name,
            &req.local,
            password,
            req.domain.policy.spreads_domain(),
        ) {
            Ok(added) => Ok(added),
            Err(e) if e.is_rejected() => Err(ProvisionError::Rejected(e)),
            Err(e) if e.before_change() => Err(ProvisionError::Backend(e)),
            Err(e) => {
                // The account may or may not have been made: remove it to be sure.
                Err(
                    match self.store.remove_account(be, domain_name, &req.local) {
                        Ok(()) => ProvisionError::Backend(e),
                        Err(undo) => ProvisionError::AccountUndoFailed {
                            error: e,
                            undo: Box::new(undo),
                        },
                    },
                )
            }
        }
    }

    /// The directory step: the entry routing the account to `be`, then its count. When the
    /// entry cannot be written the account is undone on `be`, unless whether it was written
    /// cannot be known (then it is kept there, see `AccountPending`).
    fn write_entry(
        &mut self,
        req: AccountRequest,
        be: Backend,
        added: Added,
    ) -> Result<Placed, ProvisionError> {
        let AccountRequest {
            address,
            local,
            domain,
        } = req;
        let domain_name = domain.name;
        let account = Account {
            address: address.clone(),
            backend: be.name.clone(),
            mail_host: be.mail_host.clone(),
        };
        if let Err(e) = self.dir.add_account(&account) {
            if e.is_unavailable() {
                // The connection went away: the entry may or may not have been written.
                // Look (this reconnects); only a definite "absent" allows the undo, else an
                // entry could be left routing to an account that was removed.
                match self.dir.account(&address) {
                    Ok(Some(a)) if a.backend == be.name => {
                        self.count(&be.name, 1);
                        return Ok(Placed {
                            address,
                            backend: be.name,
                            mail_host: be.mail_host,
                            created_on_backend: added == Added::Created,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => {
                        // Undecidable now: keep the account where it is; a retry of this
                        // create adopts it there (see `prefer_backend`), and
                        // `reconcile --check-backends` lists it meanwhile.
                        self.pending = Some((address.clone(), be.name.clone()));
                        return Err(ProvisionError::AccountPending {
                            error: e,
                            backend: be.name,
                        });
                    }
                }
            }
            if added == Added::Created {
                if let Err(undo) = self.store.remove_account(&be, &domain_name, &local) {
                    return Err(ProvisionError::AccountWithoutEntry {
                        error: e,
                        backend: be.name,
                        undo: Box::new(undo),
                    });
                }
            }
            return Err(e.into());
        }
        self.count(&be.name, 1);
        Ok(Placed {
            address,
            backend: be.name,
            mail_host: be.mail_host,
            created_on_backend: added == Added::Created,
        })
    }

    /// Where account `address` lives.
    pub fn account(&mut self, address: &str) -> Result<Account, ProvisionError> {
        let (address, _, _) = parse_address(address).map_err(invalid)?;
        self.dir
            .account(&address)?
            .ok_or(ProvisionError::NoSuchAccount { address })
    }

    /// Delete an account: from its back-end first (an entry without an account would route
    /// mail to nowhere), then its entry, then the count.
    pub fn delete_account(&mut self, address: &str) -> Result<Account, ProvisionError> {
        let a = self.account(address)?;
        let (_, local, domain) = parse_address(&a.address).map_err(invalid)?;
        let be = self.backend_named(&a.backend)?;
        self.store.remove_account(&be, &domain, &local)?;
        self.dir.delete_account(&a.address)?;
        self.count(&be.name, -1);
        Ok(a)
    }

    /// Recount accounts per back-end and fix the counters; with `check_backends`, also list
    /// every domain's accounts on the back-ends and report both kinds of mismatch.
    pub fn reconcile(&mut self, check_backends: bool) -> Result<ReconcileReport, ProvisionError> {
        let mut report = ReconcileReport::default();
        let counts = self.dir.count_all_accounts()?;
        let backends = self.dir.backends()?;
        for b in &backends {
            let actual = counts.get(&b.name).copied().unwrap_or(0);
            if b.account_count != actual as i64 {
                self.dir.set_count(&b.name, actual as i64)?;
                report
                    .counters_fixed
                    .push((b.name.clone(), b.account_count, actual));
            }
        }
        if !check_backends {
            return Ok(report);
        }
        for d in self.dir.domains()? {
            let entries = self.dir.accounts_of_domain(&d.name)?;
            let mut by_backend: HashMap<&str, Vec<&Account>> = HashMap::new();
            for a in &entries {
                by_backend.entry(a.backend.as_str()).or_default().push(a);
            }
            for b in &backends {
                if d.policy == Policy::DomainBased
                    && d.home.as_deref() != Some(b.name.as_str())
                    && !by_backend.contains_key(b.name.as_str())
                {
                    continue;
                }
                let listed = match self.store.list_accounts(b, &d.name) {
                    Ok(l) => l,
                    Err(e) => {
                        report.unreachable.push((b.name.clone(), e.to_string()));
                        continue;
                    }
                };
                // Every Axigen domain has its postmaster: not a provisioned account.
                let on_backend: std::collections::HashSet<String> = listed
                    .iter()
                    .filter(|l| {
                        !l.split('@')
                            .next()
                            .unwrap_or(l)
                            .eq_ignore_ascii_case("postmaster")
                    })
                    .map(|l| format!("{}@{}", l.split('@').next().unwrap_or(l), d.name))
                    .collect();
                let expected = by_backend.get(b.name.as_str()).cloned().unwrap_or_default();
                for a in &expected {
                    if !on_backend.contains(&a.address) {
                        report
                            .entries_without_account
                            .push((a.address.clone(), b.name.clone()));
                    }
                }
                for addr in &on_backend {
                    if !expected.iter().any(|a| &a.address == addr) {
                        report
                            .accounts_without_entry
                            .push((addr.clone(), b.name.clone()));
                    }
                }
            }
        }
        report.accounts_without_entry.sort();
        report.entries_without_account.sort();
        Ok(report)
    }
}
