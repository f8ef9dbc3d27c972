//! The command line: turns arguments into a configuration and calls the service.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use axha_directory::placement::SplitMix64;
use axha_directory::{Directory, Policy, Secret};
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::Config;
use crate::error::ProvisionError;
use crate::import::{self, Progress};
use crate::service::Provisioner;
use crate::store::AxigenStore;

#[derive(Parser)]
#[command(
    name = "axigen-provision",
    version,
    about = "Place Axigen accounts on back-ends and record them in the LDAP location directory"
)]
/// Place Axigen accounts on back-ends and record them in the LDAP location directory.
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(short, long, default_value = "/etc/axigen-provision/provision.toml")]
    pub config: PathBuf,
    /// Seed of the random placement policies (overrides service.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print results as JSON.
    #[arg(long)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Create the directory's containers under the base DN.
    Init,
    /// The back-end registry.
    #[command(subcommand)]
    Backend(BackendCmd),
    /// Domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Accounts.
    #[command(subcommand)]
    Account(AccountCmd),
    /// Create the accounts of a CSV file (address,password per row); resumable.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Workers per back-end (each with its own directory connection and back-end session).
        #[arg(long, default_value_t = import::DEFAULT_JOBS,
              value_parser = clap::value_parser!(u64).range(1..=import::MAX_JOBS as u64))]
        jobs: u64,
    },
    /// Recount accounts per back-end and fix the counters; optionally compare with the
    /// back-ends themselves.
    Reconcile {
        /// Also list each back-end's accounts and compare them with the directory.
        #[arg(long)]
        check_backends: bool,
    },
    /// Move accounts until the enabled back-ends' account counts differ by at most the
    /// spread (after adding a back-end).
    Rebalance {
        /// Largest difference left between the most and the least used back-end.
        #[arg(long, default_value_t = 1)]
        spread: u64,
    },
    /// Run the HTTP JSON API, with Prometheus metrics at /metrics (HTTPS with --tls-cert and
    /// --tls-key).
    Serve {
        /// Address and port to listen on (overrides service.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Connections served at once (overrides service.workers).
        #[arg(long)]
        workers: Option<usize>,
        /// TLS certificate chain, PEM, leaf first (overrides service.tls_cert_file); with
        /// --tls-key the API is served over HTTPS only.
        #[arg(long, value_name = "FILE")]
        tls_cert: Option<PathBuf>,
        /// TLS private key, PEM (overrides service.tls_key_file); refused when other users
        /// can read or write it.
        #[arg(long, value_name = "FILE")]
        tls_key: Option<PathBuf>,
    },
}

/// Subcommands of `backend`.
#[derive(Subcommand)]
pub enum BackendCmd {
    /// Record a back-end (an Axigen service instance).
    Add {
        /// Its name (lower case letters, digits, - _ .).
        name: String,
        /// HOST:PORT of its Axigen CLI.
        #[arg(long)]
        cli: String,
        /// The mailHost value front-ends route to.
        #[arg(long)]
        mail_host: String,
        /// Share of new accounts under weighted-random placement.
        #[arg(long, default_value_t = 1)]
        weight: u32,
        /// Take no new accounts until enabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List the back-ends with their account counts.
    List,
    /// Enable, disable or reweigh a back-end.
    Set {
        /// The back-end's name.
        name: String,
        /// Let it take new accounts.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Stop placing new accounts on it.
        #[arg(long)]
        disable: bool,
        /// New weight.
        #[arg(long)]
        weight: Option<u32>,
    },
    /// Disable a back-end and move every account off it.
    Drain {
        /// The back-end's name.
        name: String,
    },
    /// Remove a back-end from the registry (refused while it holds accounts).
    Remove {
        /// The back-end's name.
        name: String,
    },
}

/// Subcommands of `domain`.
#[derive(Subcommand)]
pub enum DomainCmd {
    /// Provision a domain.
    Create {
        /// The domain name.
        name: String,
        /// How its accounts are placed (service.default_policy when absent).
        #[arg(long)]
        policy: Option<Policy>,
        /// Its home back-end (required by domain-based placement).
        #[arg(long)]
        home: Option<String>,
    },
    /// Remove an empty domain from the directory and the back-ends.
    Delete {
        /// The domain name.
        name: String,
    },
    /// Show a domain's policy and home back-end.
    Show {
        /// The domain name.
        name: String,
    },
    /// List the domains.
    List,
}

/// Subcommands of `account`.
#[derive(Subcommand)]
pub enum AccountCmd {
    /// Create an account; the password is read from --password-file or the first line of
    /// standard input (never from the command line).
    Create {
        /// The account's mail address.
        address: String,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Delete an account from its back-end and the directory.
    Delete {
        /// The account's mail address.
        address: String,
    },
    /// Show where an account lives.
    Show {
        /// The account's mail address.
        address: String,
    },
    /// Move an account (mailbox, then route) to another back-end; without --to, resume
    /// its interrupted move.
    Move {
        /// The account's mail address.
        address: String,
        /// The target back-end.
        #[arg(long, conflicts_with = "abort")]
        to: Option<String>,
        /// Roll back an interrupted move that has not switched the route yet.
        #[arg(long)]
        abort: bool,
    },
}

/// An error with the exit code it should end the process with.
pub struct Exit {
    /// The process exit code.
    pub code: i32,
    /// The error, printed once with its context.
    pub error: anyhow::Error,
}

impl From<ProvisionError> for Exit {
    fn from(e: ProvisionError) -> Self {
        Exit {
            code: e.exit_code(),
            error: anyhow::Error::new(e),
        }
    }
}

impl From<anyhow::Error> for Exit {
    fn from(error: anyhow::Error) -> Self {
        Exit { code: 1, error }
    }
}

/// Build a provisioner from the configuration (one per worker).
pub fn provisioner(cfg: &Config, seed: Option<u64>) -> Result<Provisioner, ProvisionError> {
    let settings = cfg.ldap_settings()?;
    let dir = Directory::connect(&settings)?;
    let postmaster = cfg
        .axigen
        .postmaster_password_file
        .as_deref()
        .map(Secret::from_file)
        .transpose()
        .map_err(ProvisionError::from)?;
    let mut store = AxigenStore::new(
        cfg.axigen.admin_user.clone(),
        cfg.axigen.password_dir.clone(),
        postmaster,
        Duration::from_secs(cfg.axigen.timeout_secs.max(1)),
    );
    store.set_imap(cfg.axigen.imap.clone());
    let rng = match seed.or(cfg.service.seed) {
        Some(s) => SplitMix64::new(s),
        None => SplitMix64::from_entropy(),
    };
    Ok(Provisioner::new(
        dir,
        store,
        rng,
        cfg.service.default_policy,
    ))
}

struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn start(&mut self, total: u64, done: u64) {
        if std::io::stderr().is_terminal() {
            let b = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}  {msg}",
            ) {
                b.set_style(style);
            }
            b.set_position(done);
            self.0 = Some(b);
        }
    }
    fn row(&mut self, done: u64, failed: u64) {
        if let Some(b) = &self.0 {
            b.set_position(done);
            if failed > 0 {
                b.set_message(format!("{failed} failed"));
            }
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

pub(crate) fn print(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        print!("{}", text());
    }
}

fn read_password(file: Option<&PathBuf>) -> Result<String, Exit> {
    match file {
        Some(p) => Ok(Secret::from_file(p)
            .map_err(ProvisionError::from)?
            .expose()
            .to_string()),
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            let pw = line.trim_end_matches(['\r', '\n']).to_string();
            if pw.is_empty() {
                return Err(
                    anyhow!("no password on standard input (or use --password-file)").into(),
                );
            }
            Ok(pw)
        }
    }
}

/// The command line's definition, for the man pages (`axigen-ha man`).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Run the command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32, Exit> {
    let cfg = Config::read(&cli.config)?;
    let json = cli.json;
    let connect = || provisioner(&cfg, cli.seed);
    match cli.command {
        Command::Serve {
            listen,
            workers,
            tls_cert,
            tls_key,
        } => serve(&cfg, cli.seed, listen, workers, tls_cert, tls_key),
        Command::Init => init(&mut connect()?, json),
        Command::Backend(cmd) => {
            let p = &mut connect()?;
            match cmd {
                BackendCmd::Add {
                    name,
                    cli: addr,
                    mail_host,
                    weight,
                    disabled,
                } => backend_add(p, json, &name, &addr, &mail_host, weight, !disabled),
                BackendCmd::List => backend_list(p, json),
                BackendCmd::Set {
                    name,
                    enable,
                    disable,
                    weight,
                } => backend_set(p, json, &name, enable, disable, weight),
                BackendCmd::Drain { name } => crate::moves::cli::drain(p, json, &name),
                BackendCmd::Remove { name } => crate::moves::cli::remove(p, json, &name),
            }
        }
        Command::Domain(cmd) => {
            let p = &mut connect()?;
            match cmd {
                DomainCmd::Create { name, policy, home } => {
                    domain_create(p, json, &name, policy, home.as_deref())
                }
                DomainCmd::Delete { name } => domain_delete(p, json, &name),
                DomainCmd::Show { name } => domain_show(p, json, &name),
                DomainCmd::List => domain_list(p, json),
            }
        }
        Command::Account(cmd) => {
            let p = &mut connect()?;
            match cmd {
                AccountCmd::Create {
                    address,
                    password_file,
                } => account_create(p, json, &address, password_file.as_ref()),
                AccountCmd::Delete { address } => account_delete(p, json, &address),
                AccountCmd::Show { address } => account_show(p, json, &address),
                AccountCmd::Move { address, to, abort } => {
                    crate::moves::cli::account_move(p, json, &address, to.as_deref(), abort)
                }
            }
        }
        Command::Import { file, jobs } => import_csv(&connect, json, &file, jobs as usize),
        Command::Reconcile { check_backends } => reconcile(&mut connect()?, json, check_backends),
        Command::Rebalance { spread } => {
            crate::moves::cli::rebalance(&mut connect()?, json, spread)
        }
    }
}

/// `serve`: the HTTP API, one provisioner per worker (each with its own seed).
fn serve(
    cfg: &Config,
    seed: Option<u64>,
    listen: Option<String>,
    workers: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
) -> Result<i32, Exit> {
    let token = cfg.token()?.ok_or_else(|| {
        anyhow!("serve needs service.token_file: the API never runs without a token")
    })?;
    let listen = listen.unwrap_or(cfg.service.listen.clone());
    let workers = workers.unwrap_or(cfg.service.workers).clamp(1, 256);
    let tls = crate::tls::optional_server_config(
        tls_cert.as_deref().or(cfg.service.tls_cert_file.as_deref()),
        tls_key.as_deref().or(cfg.service.tls_key_file.as_deref()),
    )
    .map_err(ProvisionError::Tls)?;
    let base_seed = seed.or(cfg.service.seed);
    let cfg2 = cfg.clone();
    let connect =
        Arc::new(move |i: usize| provisioner(&cfg2, base_seed.map(|s| s.wrapping_add(i as u64))));
    let api = Arc::new(crate::http::Api {
        token,
        metrics: crate::metrics::Metrics::new(),
    });
    let opts = crate::server::ServeOptions {
        listen,
        workers,
        tls,
    };
    crate::server::serve(&opts, api, connect)?;
    Ok(0)
}

fn init(p: &mut Provisioner, json: bool) -> Result<i32, Exit> {
    p.dir.init_tree().map_err(ProvisionError::from)?;
    print(
        json,
        serde_json::json!({"initialized": p.dir.base_dn()}),
        || format!("directory initialised under {}\n", p.dir.base_dn()),
    );
    Ok(0)
}

fn backend_add(
    p: &mut Provisioner,
    json: bool,
    name: &str,
    addr: &str,
    mail_host: &str,
    weight: u32,
    enabled: bool,
) -> Result<i32, Exit> {
    let b = p.add_backend(name, addr, mail_host, weight, enabled)?;
    print(json, serde_json::json!(b), || {
        format!("back-end {} added\n", b.name)
    });
    Ok(0)
}

fn backend_list(p: &mut Provisioner, json: bool) -> Result<i32, Exit> {
    let bs = p.backends()?;
    print(json, serde_json::json!(bs), || {
        let mut s = format!(
            "{:<16} {:<22} {:<28} {:>7} {:>8} {:>10}\n",
            "NAME", "CLI", "MAILHOST", "WEIGHT", "ENABLED", "ACCOUNTS"
        );
        for b in &bs {
            s.push_str(&format!(
                "{:<16} {:<22} {:<28} {:>7} {:>8} {:>10}\n",
                b.name, b.cli_address, b.mail_host, b.weight, b.enabled, b.account_count
            ));
        }
        s
    });
    Ok(0)
}

fn backend_set(
    p: &mut Provisioner,
    json: bool,
    name: &str,
    enable: bool,
    disable: bool,
    weight: Option<u32>,
) -> Result<i32, Exit> {
    let enabled = if enable {
        Some(true)
    } else if disable {
        Some(false)
    } else {
        None
    };
    let b = p.update_backend(name, enabled, weight)?;
    print(json, serde_json::json!(b), || {
        format!("back-end {} updated\n", b.name)
    });
    Ok(0)
}

fn domain_create(
    p: &mut Provisioner,
    json: bool,
    name: &str,
    policy: Option<Policy>,
    home: Option<&str>,
) -> Result<i32, Exit> {
    let d = p.create_domain(name, policy, home)?;
    print(json, serde_json::json!(d), || {
        format!("domain {} created ({})\n", d.name, d.policy)
    });
    Ok(0)
}

fn domain_delete(p: &mut Provisioner, json: bool, name: &str) -> Result<i32, Exit> {
    let r = p.delete_domain(name)?;
    print(json, serde_json::json!(r), || {
        let mut s = format!("domain {} deleted from the directory\n", r.domain);
        for (b, why) in &r.left_on {
            s.push_str(&format!("  still on back-end {b}: {why}\n"));
        }
        s
    });
    Ok(0)
}

fn domain_show(p: &mut Provisioner, json: bool, name: &str) -> Result<i32, Exit> {
    let d = p.domain(name)?;
    print(json, serde_json::json!(d), || {
        format!(
            "{} policy={} home={}\n",
            d.name,
            d.policy,
            d.home.as_deref().unwrap_or("-")
        )
    });
    Ok(0)
}

fn domain_list(p: &mut Provisioner, json: bool) -> Result<i32, Exit> {
    let ds = p.domains()?;
    print(json, serde_json::json!(ds), || {
        ds.iter()
            .map(|d| {
                format!(
                    "{} {} {}\n",
                    d.name,
                    d.policy,
                    d.home.as_deref().unwrap_or("-")
                )
            })
            .collect()
    });
    Ok(0)
}

fn account_create(
    p: &mut Provisioner,
    json: bool,
    address: &str,
    password_file: Option<&PathBuf>,
) -> Result<i32, Exit> {
    let pw = read_password(password_file)?;
    let a = p.create_account(address, &pw)?;
    print(json, serde_json::json!(a), || {
        format!("{} placed on {} ({})\n", a.address, a.backend, a.mail_host)
    });
    Ok(0)
}

fn account_delete(p: &mut Provisioner, json: bool, address: &str) -> Result<i32, Exit> {
    let a = p.delete_account(address)?;
    print(json, serde_json::json!(a), || {
        format!("{} deleted from {}\n", a.address, a.backend)
    });
    Ok(0)
}

fn account_show(p: &mut Provisioner, json: bool, address: &str) -> Result<i32, Exit> {
    let a = p.account(address)?;
    print(json, serde_json::json!(a), || {
        format!("{} on {} mailHost={}\n", a.address, a.backend, a.mail_host)
    });
    Ok(0)
}

/// `import`: 0 when every row went in, 1 when some failed, the directory's exit code when
/// it stopped answering.
fn import_csv(
    connect: import::Connect<'_>,
    json: bool,
    file: &Path,
    jobs: usize,
) -> Result<i32, Exit> {
    let mut bar = Bar(None);
    let s = import::import(connect, file, jobs, &mut bar)?;
    print(json, serde_json::json!(s), || import::render_summary(&s));
    if s.stopped.is_some() {
        return Ok(crate::error::Kind::DirectoryUnavailable.exit_code());
    }
    Ok(if s.failed > 0 { 1 } else { 0 })
}

/// `reconcile`: 0 when directory and back-ends agree (after fixing counters), else 1.
fn reconcile(p: &mut Provisioner, json: bool, check_backends: bool) -> Result<i32, Exit> {
    let r = p.reconcile(check_backends)?;
    let clean = r.entries_without_account.is_empty()
        && r.accounts_without_entry.is_empty()
        && r.unreachable.is_empty();
    print(json, serde_json::json!(r), || {
        let mut s = String::new();
        for (b, was, now) in &r.counters_fixed {
            s.push_str(&format!("counter of {b}: {was} -> {now}\n"));
        }
        for (a, b) in &r.entries_without_account {
            s.push_str(&format!("entry without account: {a} (back-end {b})\n"));
        }
        for (a, b) in &r.accounts_without_entry {
            s.push_str(&format!("account without entry: {a} on back-end {b}\n"));
        }
        for (b, e) in &r.unreachable {
            s.push_str(&format!("could not check back-end {b}: {e}\n"));
        }
        if s.is_empty() {
            s.push_str("directory and back-ends agree\n");
        }
        s
    });
    Ok(if clean { 0 } else { 1 })
}
