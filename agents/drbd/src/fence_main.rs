//! `/usr/lib/axigen-ha/drbd-fence-peer`: DRBD's fence-peer and unfence-peer handler (see the
//! library's `fence` module). DRBD passes the resource in `DRBD_RESOURCE` and the
//! configuration file in `DRBD_CONF`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use axha_agent_drbd::fence::{self, Options, QuorumCheck, DEFAULT_LOCK_FILE, EXIT_FAILED};

/// Resource-level fencing for DRBD through the Pacemaker CIB.
#[derive(Parser, Debug)]
#[command(name = "drbd-fence-peer", version)]
struct Args {
    /// Remove the constraint this handler placed (after-resync-target / unfence-peer).
    #[arg(long)]
    unfence: bool,
    /// The DRBD resource (default: $DRBD_RESOURCE, set by DRBD).
    #[arg(long)]
    resource: Option<String>,
    /// Seconds for the whole handler, including waiting for an unclean peer to be fenced.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Seconds (within --timeout) to wait for the cluster to elect a DC before giving up.
    #[arg(long, default_value_t = 20)]
    dc_timeout: u64,
    /// The lock file that serializes runs on this node ("none": no lock).
    #[arg(long, default_value = DEFAULT_LOCK_FILE)]
    lock_file: String,
    /// When no constraint could be placed and this node is Primary, ask the cluster to fence
    /// this node (the terminate node attribute).
    #[arg(long)]
    suicide_on_failure_if_primary: bool,
    /// The promotable clone's id (default: the clone whose primitive has this drbd_resource).
    #[arg(long)]
    clone_id: Option<String>,
    /// This node's cluster name (default: crm_node -n).
    #[arg(long)]
    node_name: Option<String>,
    /// Work on a CIB file instead of the live cluster (as CIB_file does for Pacemaker tools).
    #[arg(long)]
    cib_file: Option<String>,
}

fn main() {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { EXIT_FAILED } else { 0 });
        }
    };
    let from_env = |name: &str| match std::env::var(name) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            eprintln!("drbd-fence-peer: {name} is not valid UTF-8");
            std::process::exit(EXIT_FAILED);
        }
    };
    let Some(resource) = args
        .resource
        .or_else(|| from_env("DRBD_RESOURCE"))
        .filter(|r| !r.trim().is_empty())
    else {
        eprintln!(
            "drbd-fence-peer: no resource (DRBD_RESOURCE is not set and --resource not given)"
        );
        std::process::exit(EXIT_FAILED);
    };
    if args.timeout == 0 {
        eprintln!("drbd-fence-peer: --timeout must be at least 1 second");
        std::process::exit(EXIT_FAILED);
    }
    if !args.lock_file.starts_with('/') && args.lock_file != "none" {
        eprintln!("drbd-fence-peer: --lock-file must be an absolute path or none");
        std::process::exit(EXIT_FAILED);
    }
    let opts = Options {
        unfence: args.unfence,
        timeout: Duration::from_secs(args.timeout),
        dc_timeout: Duration::from_secs(args.dc_timeout.min(args.timeout)),
        clone_id: args.clone_id,
        node_name: args.node_name,
        cib_file: args
            .cib_file
            .or_else(|| from_env(axha_ocf::cibadmin::CIB_FILE)),
        drbd_conf: from_env("DRBD_CONF").filter(|c| !c.is_empty()),
        quorum: QuorumCheck::CibAndCrmNode,
        lock_file: (args.lock_file != "none").then(|| PathBuf::from(&args.lock_file)),
        suicide_on_failure_if_primary: args.suicide_on_failure_if_primary,
        ..Options::new(resource)
    };
    let mut log = |m: &str| eprintln!("drbd-fence-peer: {}", axha_exec::escape_controls(m));
    std::process::exit(fence::run(&opts, &mut log));
}
