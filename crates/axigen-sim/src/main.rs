//! `axigen-sim`: the Axigen stand-in (see the library documentation for what it mirrors).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use axha_exec::Deadline;

use anyhow::{bail, Context};
use axigen_sim::faults::{Fault, Faults};
use axigen_sim::supervisor::{start, StartOptions};
use axigen_sim::workdir::{read_admin_password, Workdir, DEFAULT_ADMIN_PASSWORD};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "axigen-sim",
    version,
    about = "Axigen-compatible stand-in for tests, demos and the lab (not Axigen)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Working directory (configuration in DIR/run/axigen.cfg)
    #[arg(short = 'W', long = "workdir", value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// Stay attached to the terminal instead of daemonizing
    #[arg(long)]
    foreground: bool,
    /// Configuration file (default DIR/run/axigen.cfg)
    #[arg(short = 'C', long, visible_alias = "configfile", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Pid file (default DIR/run/axigen.pid)
    #[arg(short = 'P', long = "pidfile", value_name = "PATH")]
    pid_file: Option<PathBuf>,
    /// Internal: run as the worker process
    #[arg(long, hide = true)]
    worker: bool,
    /// Internal: an inherited listening socket, SERVICE=FD
    #[arg(long = "listener", hide = true)]
    listener: Vec<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a workdir with a default axigen.cfg listening on ADDRESS
    Init {
        #[arg(short = 'W', long = "workdir", value_name = "DIR")]
        workdir: PathBuf,
        /// Address of every listener
        #[arg(long)]
        address: IpAddr,
        /// Ports from N: SMTP N, POP3 N+1, IMAP N+2, CLI N+3, WebMail N+4, WebAdmin N+5
        /// (default: Axigen's ports 25, 110, 143, 7000, 80, 9000)
        #[arg(long, value_name = "N")]
        base_port: Option<u16>,
        /// File whose first line is the CLI admin password (default password: admin)
        #[arg(long, value_name = "FILE")]
        admin_password_file: Option<PathBuf>,
        /// Overwrite an existing axigen.cfg
        #[arg(long)]
        force: bool,
    },
    /// Stop the server of DIR: SIGTERM to its process group, wait for the supervisor to end
    Stop {
        #[arg(short = 'W', long = "workdir", value_name = "DIR")]
        workdir: PathBuf,
        /// Pid file (default DIR/run/axigen.pid)
        #[arg(short = 'P', long = "pidfile", value_name = "PATH")]
        pid_file: Option<PathBuf>,
        /// Seconds to wait
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Exit 0 and print the supervisor's pid when the server of DIR runs, else exit 3
    Status {
        #[arg(short = 'W', long = "workdir", value_name = "DIR")]
        workdir: PathBuf,
        /// Pid file (default DIR/run/axigen.pid)
        #[arg(short = 'P', long = "pidfile", value_name = "PATH")]
        pid_file: Option<PathBuf>,
    },
    /// Switch a fault on or off while the server runs
    Fault {
        #[arg(short = 'W', long = "workdir", value_name = "DIR")]
        workdir: PathBuf,
        #[command(subcommand)]
        action: FaultAction,
    },
}

#[derive(Subcommand)]
enum FaultAction {
    /// Switch NAME on (slow-start SECONDS, hang [persistent], crash-worker [once|always],
    /// crash-supervisor, ignore-sigterm, refuse-logins)
    Set { name: String, value: Option<String> },
    /// Switch NAME off
    Clear { name: String },
    /// Show the faults that are on
    List,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("axigen-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Cmd::Init {
            workdir,
            address,
            base_port,
            admin_password_file,
            force,
        }) => {
            let pw = match &admin_password_file {
                Some(f) => Some(
                    read_admin_password(f)?
                        .with_context(|| format!("{}: no such file", f.display()))?,
                ),
                None => None,
            };
            let w = Workdir::new(&workdir)?;
            if w.init(address, base_port, pw.as_deref(), force)? {
                eprintln!(
                    "axigen-sim: NOTE: no --admin-password-file: the CLI password of 'admin' is \
                     '{DEFAULT_ADMIN_PASSWORD}' ({}). Fit for tests only.",
                    w.admin_pw_path().display()
                );
            }
            println!("{}", w.config_path().display());
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Stop {
            workdir,
            pid_file,
            timeout,
        }) => {
            let w = Workdir::new(&workdir)?.with_pid_file(pid_file.as_deref());
            let deadline = Deadline::after(Duration::from_secs(timeout));
            if !axigen_sim::supervisor::stop(&w, &deadline)? {
                eprintln!("axigen-sim: not running ({})", w.root().display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Cmd::Status { workdir, pid_file }) => {
            let w = Workdir::new(&workdir)?.with_pid_file(pid_file.as_deref());
            match axigen_sim::supervisor::running_pid(&w) {
                Some(pid) => {
                    println!("{pid}");
                    Ok(ExitCode::SUCCESS)
                }
                // LSB init-script status code 3: program is not running.
                None => Ok(ExitCode::from(3)),
            }
        }
        Some(Cmd::Fault { workdir, action }) => {
            let w = Workdir::new(&workdir)?;
            if !w.root().is_dir() {
                bail!("workdir {} does not exist", w.root().display());
            }
            let faults = Faults::new(w.faults_dir());
            match action {
                FaultAction::Set { name, value } => {
                    faults.set(Fault::from_name(&name)?, value.as_deref())?
                }
                FaultAction::Clear { name } => faults.clear(Fault::from_name(&name)?)?,
                FaultAction::List => {
                    for (f, v) in faults.list() {
                        println!("{} {v}", f.name());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let Some(workdir) = cli.workdir else {
                bail!("-W DIR is required (see --help)");
            };
            if cli.worker {
                let listeners = cli
                    .listener
                    .iter()
                    .map(|a| axigen_sim::worker::parse_listener_arg(a))
                    .collect::<Result<Vec<_>, _>>()?;
                axigen_sim::worker::run(&Workdir::new(&workdir)?, &listeners)?;
                return Ok(ExitCode::SUCCESS);
            }
            start(&StartOptions {
                workdir,
                config: cli.config,
                pid_file: cli.pid_file,
                foreground: cli.foreground,
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
