//! `axigen-ha lab`: thin wrapper over `axha-lab`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use axha_lab::{Fencing, Lab, LabError, LabSpec};
use clap::{Args, Subcommand};

/// Which lab a command is about.
#[derive(Args, Debug)]
pub struct Which {
    /// Lab name ([a-z0-9-], up to 12 characters).
    #[arg(long, default_value = "lab")]
    name: String,
    /// State directory (default /var/tmp/axigen-ha-lab/NAME).
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum LabCmd {
    /// Build a lab and start every node; it keeps running until `lab down`.
    Up {
        #[command(flatten)]
        which: Which,
        /// Number of nodes (1-8).
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// corosync token timeout in ms (default: corosync's own, 3000).
        #[arg(long)]
        token: Option<u32>,
        /// Fencing: none or ipmi.
        #[arg(long, default_value = "none")]
        fencing: String,
        /// With --fencing ipmi: delay fencing of NODE by SECS seconds (NODE wins two-node
        /// fence races), as NODE:SECS.
        #[arg(long, value_name = "NODE:SECS")]
        fence_delay: Option<String>,
        /// Directory with built `instance`, `drbd`, `fence_axigen_ipmi` to install into every
        /// node (default: next to this program, when they are there).
        #[arg(long)]
        binaries: Option<PathBuf>,
    },
    /// Stop every node and remove the lab.
    Down {
        #[command(flatten)]
        which: Which,
    },
    /// Nodes (alive, processes) and the cluster as Pacemaker sees it.
    Status {
        #[command(flatten)]
        which: Which,
    },
    /// Run a command inside a node: `lab exec n1 -- crm_mon -1`.
    Exec {
        #[command(flatten)]
        which: Which,
        node: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Power loss of a node: all of its processes stop at once and are killed.
    Kill {
        #[command(flatten)]
        which: Which,
        node: String,
    },
    /// Boot a powered-off node.
    Start {
        #[command(flatten)]
        which: Which,
        node: String,
        /// Also wait until it has joined the cluster.
        #[arg(long)]
        wait: bool,
    },
    /// Pull a node's network cable.
    Partition {
        #[command(flatten)]
        which: Which,
        node: String,
    },
    /// Plug a node's network cable back in.
    Heal {
        #[command(flatten)]
        which: Which,
        node: String,
    },
}

fn require_root() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::NotRoot.into());
    }
    Ok(())
}

fn open(w: &Which) -> anyhow::Result<Lab> {
    Ok(Lab::open(&w.name, w.state_dir.as_deref())?)
}

/// The agents built next to this program, if any (`cargo build` puts them together).
fn default_binaries() -> Option<PathBuf> {
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    ["instance", "drbd", "fence_axigen_ipmi"]
        .iter()
        .any(|b| dir.join(b).is_file())
        .then_some(dir)
}

pub fn run(cmd: LabCmd) -> anyhow::Result<()> {
    require_root()?;
    match cmd {
        LabCmd::Up {
            which,
            nodes,
            token,
            fencing,
            fence_delay,
            binaries,
        } => {
            let fence_delay = fence_delay.map(|d| parse_delay(&d)).transpose()?;
            let spec = LabSpec {
                name: which.name.clone(),
                nodes,
                token_ms: token,
                fencing: fencing.parse::<Fencing>()?,
                binaries: binaries.or_else(default_binaries),
                state_dir: which.state_dir.clone(),
                helper_bin: None,
                fence_delay,
            };
            let t = Instant::now();
            let lab = Lab::up(spec).with_context(|| format!("lab {} up", which.name))?;
            println!(
                "lab {}: {} nodes online in {:.1}s (state in {})",
                lab.name(),
                lab.nodes().len(),
                t.elapsed().as_secs_f64(),
                lab.state_dir().display()
            );
            lab.detach()?;
        }
        LabCmd::Down { which } => {
            let lab = open(&which)?;
            let name = lab.name().to_string();
            lab.down()?;
            println!("lab {name}: down");
        }
        LabCmd::Status { which } => status(&open(&which)?)?,
        LabCmd::Exec {
            which,
            node,
            timeout,
            command,
        } => {
            let lab = open(&which)?;
            let argv: Vec<&str> = command.iter().map(String::as_str).collect();
            let out = lab.run(&node, &argv, Duration::from_secs(timeout))?;
            std::io::stdout().write_all(&out.stdout)?;
            std::io::stderr().write_all(&out.stderr)?;
            std::io::stdout().flush()?;
            // the command's own exit code (128+N for a signal, as a shell reports it)
            let code = out.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                128 + out.status.signal().unwrap_or(0)
            });
            std::process::exit(code);
        }
        LabCmd::Kill { which, node } => {
            open(&which)?.kill(&node)?;
            println!("{node}: powered off");
        }
        LabCmd::Start { which, node, wait } => {
            let lab = open(&which)?;
            let t = Instant::now();
            lab.start(&node)?;
            if wait {
                lab.wait_online(Duration::from_secs(120))?;
                println!(
                    "{node}: booted and joined in {:.1}s",
                    t.elapsed().as_secs_f64()
                );
            } else {
                println!("{node}: booted");
            }
        }
        LabCmd::Partition { which, node } => {
            open(&which)?.partition(&node)?;
            println!("{node}: partitioned");
        }
        LabCmd::Heal { which, node } => {
            open(&which)?.heal(&node)?;
            println!("{node}: healed");
        }
    }
    Ok(())
}

fn parse_delay(s: &str) -> anyhow::Result<(String, u32)> {
    let bad = || anyhow::anyhow!("invalid --fence-delay {s:?}: expected NODE:SECS, e.g. n1:5");
    let (node, secs) = s.split_once(':').ok_or_else(bad)?;
    Ok((node.to_string(), secs.parse().map_err(|_| bad())?))
}

fn status(lab: &Lab) -> anyhow::Result<()> {
    // One write at the end: a closed pipe (`| head`) is an error, not a panic.
    let mut o = String::new();
    status_text(lab, &mut o);
    std::io::stdout().write_all(o.as_bytes())?;
    Ok(())
}

fn status_text(lab: &Lab, o: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        o,
        "lab {} ({} nodes, token {}, fencing {}, state in {})",
        lab.name(),
        lab.nodes().len(),
        lab.token_ms()
            .map_or("default".to_string(), |t| format!("{t} ms")),
        lab.fencing(),
        lab.state_dir().display()
    );
    for n in lab.status() {
        let state = if n.alive { "on" } else { "off" };
        let net = if n.partitioned { " partitioned" } else { "" };
        let bmc = match lab.fencing() {
            Fencing::Ipmi => format!(
                " BMC {} power {}",
                lab.bmc_addr(&n.name),
                match lab.bmc_power(&n.name) {
                    Ok(true) => "on",
                    Ok(false) => "off",
                    Err(_) => "?",
                }
            ),
            Fencing::Disabled => String::new(),
        };
        let _ = writeln!(
            o,
            "  {:<4} {:<12} {state:<4} {:>3} processes{bmc}{net}",
            n.name, n.addr, n.processes
        );
    }
    match lab.view_any() {
        Ok(v) => {
            let _ = writeln!(
                o,
                "cluster: DC {}, quorum {}, online: {}",
                v.dc.as_deref().unwrap_or("none"),
                if v.with_quorum { "yes" } else { "no" },
                v.online().join(" ")
            );
            for r in &v.resources {
                let _ = writeln!(
                    o,
                    "  {:<24} {:<28} {:<10} {}{}",
                    r.id,
                    r.agent,
                    r.role,
                    r.nodes.join(" "),
                    if r.failed { " FAILED" } else { "" }
                );
            }
            for f in &v.fencing {
                let _ = writeln!(
                    o,
                    "  fencing: {} {} {} {}",
                    f.action,
                    f.target,
                    f.status,
                    f.completed.as_deref().unwrap_or("")
                );
            }
        }
        Err(e) => {
            let _ = writeln!(o, "cluster: not reachable ({e})");
        }
    }
}
