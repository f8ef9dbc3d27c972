//! `axigen-ha`: the operator CLI. Thin: each subcommand turns its arguments into a typed
//! request and calls a library (`axha-lab` for the lab, the template engine for `cib`).

use clap::{Parser, Subcommand, ValueEnum};

mod cib;
mod doctor;
mod lab;
mod man;
mod status;

#[derive(Parser)]
#[command(
    name = "axigen-ha",
    version,
    about = "Axigen high availability on Pacemaker/Corosync"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Multi-node Pacemaker/Corosync clusters on one machine (namespaces, ipmi_sim BMCs).
    #[command(subcommand)]
    Lab(lab::LabCmd),
    /// Render, verify and simulate the CIB templates of the reference architectures.
    #[command(subcommand)]
    Cib(cib::CibCmd),
    /// Write the agents' man pages, generated from their meta-data.
    Man(man::ManArgs),
    /// Nodes, Axigen instances and recent fencing of the running cluster (crm_mon).
    Status(status::StatusArgs),
    /// Check this node: agents and their meta-data, BMCs, node names, versions.
    Doctor(doctor::DoctorArgs),
}

/// How a command prints its result.
#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lab(c) => lab::run(c),
        Command::Cib(c) => cib::run(c),
        Command::Man(a) => man::run(a),
        Command::Status(a) => status::run(a),
        Command::Doctor(a) => doctor::run(a),
    };
    if let Err(e) = result {
        eprintln!("axigen-ha: {e:#}");
        std::process::exit(1);
    }
}
