//! Axigen as seen from outside: its configuration file, its CLI, its protocol greetings and
//! its processes.
//!
//! - [`config`]: `axigen.cfg` ([`config::Config`]): parse, query listeners
//!   ([`config::Listener`], [`config::Service`]), write, and the default file of a new instance.
//! - [`cli`]: a blocking client of the CLI on port 7000 ([`cli::CliClient`]): `GET VERSION`,
//!   login, commands, provisioning helpers; every read and write bounded by a deadline.
//! - [`probe`]: one-connect, one-read greeting checks for SMTP, IMAP and POP3.
//! - [`process`]: finding, starting and stopping the server's process tree.
//!
//! ```no_run
//! use axha_axigen::{cli::CliClient, config::Config};
//! use axha_exec::Deadline;
//! use std::time::Duration;
//! let cfg = Config::read("/var/opt/axigen/run/axigen.cfg")?;
//! let deadline = Deadline::after(Duration::from_secs(5));
//! let addr = cfg.cli_listener().expect("a CLI listener");
//! let mut cli = CliClient::connect(addr, &deadline)?;
//! println!("{}", cli.get_version()?.raw);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod probe;
pub mod process;
