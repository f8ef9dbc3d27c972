//! `axigen-ha lab`: thin wrapper over `axha-lab`.

use std::io::Write;
use std::path::{Path, PathBuf};
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
        /// Keep the lab when it fails to come up, to look at it (`lab down` removes it).
        #[arg(long)]
        keep: bool,
        /// With --fencing ipmi: a switched PDU (SNMP, one outlet per node, driven by
        /// fence_apc_snmp) as the second fencing level after each node's BMC.
        #[arg(long)]
        pdu: bool,
        /// Corosync links: 1, or 2 for a second cluster network (10.231.3.0/24).
        #[arg(long, default_value_t = 1)]
        links: u8,
        /// Build a reference architecture whole instead: `two-node-active-passive` is two QEMU
        /// VMs with DRBD, IPMI fencing and the shipped template loaded; `multi-tier-n-plus-1`
        /// is the three tiers (two back-ends and a stand-by, --front-ends front-end nodes with
        /// Dovecot, Postfix and HAProxy behind a VIP, two LDAP providers, a client machine,
        /// accounts provisioned). --nodes, --token, --fencing and --fence-delay come from the
        /// template.
        #[arg(long, value_name = "TEMPLATE")]
        template: Option<String>,
        /// With --template multi-tier-n-plus-1: the number of front-end nodes (2 or more).
        #[arg(long, value_name = "N")]
        front_ends: Option<usize>,
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
        /// Total power loss: the node's BMC dies with it (only a PDU level can then fence).
        #[arg(long)]
        with_bmc: bool,
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
        /// Which cable: cluster (corosync's first link), cluster2 (its second, labs up with
        /// --links 2), all (every cluster link), or replication (VM labs: DRBD's own network).
        #[arg(long, default_value = "cluster")]
        link: String,
    },
    /// Plug a node's network cable back in.
    Heal {
        #[command(flatten)]
        which: Which,
        node: String,
        /// Which cable: cluster, cluster2, all or replication.
        #[arg(long, default_value = "cluster")]
        link: String,
    },
    /// A 3-node cluster with two instances and a stand-by: power off a node, print the
    /// failover as a timeline, tear down. The server is axigen-sim, the Axigen stand-in.
    Demo {
        #[arg(long, default_value = "demo")]
        name: String,
        /// corosync token timeout in ms.
        #[arg(long, default_value_t = 1000)]
        token: u32,
        /// Directory with the built agents and axigen-sim (default: next to this program).
        #[arg(long)]
        binaries: Option<PathBuf>,
        /// Leave the lab running afterwards, also when the demo fails (`lab down --name NAME`
        /// removes it).
        #[arg(long)]
        keep: bool,
        /// Run the demo on a reference architecture whole: `two-node-active-passive` is two
        /// QEMU VMs with DRBD, IPMI fencing and the shipped template; its Primary loses power.
        /// `multi-tier-n-plus-1` is the three tiers: routing through the VIP (IMAP, POP3,
        /// SMTP), then the loss of one LDAP provider, a front-end, a back-end and the node
        /// holding the VIP, with clients logging in through the VIP throughout.
        #[arg(long, value_name = "TEMPLATE")]
        template: Option<String>,
        /// With --template multi-tier-n-plus-1: the number of front-end nodes (2 or more).
        #[arg(long, value_name = "N")]
        front_ends: Option<usize>,
        /// text (a timeline) or json (one object; two-node-active-passive: failover_s,
        /// detection_floor_s, new_primary, data_intact, victim, detected_s, fenced_s,
        /// running_s, timeline; multi-tier-n-plus-1: routing, directory_loss, frontend_loss,
        /// backend_loss, vip_loss, each with its figures).
        #[arg(long, default_value = "text")]
        output: String,
    },
    /// Failover time (power loss -> the instance answering IMAP on its service IP) for each
    /// corosync token, medians of several runs, beside the floor token + consensus.
    Bench {
        #[arg(long, default_value = "bench")]
        name: String,
        /// Runs per token.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// corosync token timeouts in ms, comma-separated.
        #[arg(long, default_value = "1000,3000", value_delimiter = ',')]
        tokens: Vec<u32>,
        #[arg(long)]
        binaries: Option<PathBuf>,
        /// `two-node-active-passive`: the VM lab instead (power loss of the Primary to IMAP,
        /// beside corosync's floor in the guests; ocf:axigen:drbd vs ocf:linbit:drbd monitor
        /// CPU per call under Pacemaker); --tokens does not apply.
        #[arg(long, value_name = "TEMPLATE")]
        template: Option<String>,
    },
}

/// The template that runs as a VM lab.
const VM_TEMPLATE: &str = "two-node-active-passive";
use axha_lab::tiers::TIER_TEMPLATE;

/// `--front-ends`: only with the multi-tier template, 2 or more (default 2).
fn front_ends_for(template: Option<&str>, n: Option<usize>) -> anyhow::Result<usize> {
    match (template, n) {
        (Some(TIER_TEMPLATE), None) => Ok(2),
        (Some(TIER_TEMPLATE), Some(n)) if (2..=5).contains(&n) => Ok(n),
        (Some(TIER_TEMPLATE), Some(n)) => {
            anyhow::bail!("--front-ends {n}: from 2 to 5 (the VIP needs a second holder; a lab has at most 8 nodes)")
        }
        (_, Some(_)) => anyhow::bail!("--front-ends needs --template {TIER_TEMPLATE}"),
        (_, None) => Ok(0),
    }
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
            keep,
            pdu,
            links,
            template,
            front_ends,
        } => {
            let fence_delay = fence_delay.map(|d| parse_delay(&d)).transpose()?;
            let front_ends = front_ends_for(template.as_deref(), front_ends)?;
            let tier_binaries = match template.as_deref() {
                Some(TIER_TEMPLATE) => Some(demo_binaries(binaries.clone())?.0),
                _ => None,
            };
            let spec = match template.as_deref() {
                None => None,
                Some(TIER_TEMPLATE) => {
                    let dir = tier_binaries.clone().expect("set for this template");
                    let mut s = axha_lab::tiers::tier_spec(&which.name, front_ends, &dir);
                    s.state_dir = which.state_dir.clone();
                    s.keep_on_failure = keep;
                    Some(s)
                }
                Some(VM_TEMPLATE) => {
                    let dir = binaries.clone().or_else(default_binaries).ok_or_else(|| {
                        anyhow::anyhow!(
                            "no built binaries next to this program; pass --binaries DIR"
                        )
                    })?;
                    let mut s = LabSpec::two_node_vm(&which.name, dir);
                    s.state_dir = which.state_dir.clone();
                    s.keep_on_failure = keep;
                    Some(s)
                }
                Some(t) => anyhow::bail!(
                    "--template {t:?}: {VM_TEMPLATE} (in VMs) or {TIER_TEMPLATE} (the three tiers)"
                ),
            };
            let spec = spec.unwrap_or(LabSpec {
                name: which.name.clone(),
                nodes,
                token_ms: token,
                fencing: fencing.parse::<Fencing>()?,
                binaries: binaries.or_else(default_binaries),
                state_dir: which.state_dir.clone(),
                helper_bin: None,
                fence_delay,
                keep_on_failure: keep,
                kind: axha_lab::NodeKind::Namespace,
                pdu,
                links,
            });
            let t = Instant::now();
            let lab = Lab::up(spec)
                .inspect_err(|e| {
                    if keep && !matches!(e, LabError::AlreadyUp { .. }) {
                        print_kept(&which.name, which.state_dir.as_deref());
                    }
                })
                .with_context(|| format!("lab {} up", which.name))?;
            println!(
                "lab {}: {} nodes online in {:.1}s (state in {})",
                lab.name(),
                lab.nodes().len(),
                t.elapsed().as_secs_f64(),
                lab.state_dir().display()
            );
            if let Some(dir) = &tier_binaries {
                match axha_lab::tiers::Tiers::build(&lab, dir) {
                    Ok(tiers) => print!("{}", tiers_summary(&tiers, t.elapsed())),
                    Err(e) => {
                        if keep {
                            lab.detach()?;
                            print_kept(&which.name, which.state_dir.as_deref());
                        }
                        return Err(e).context("building the tiers");
                    }
                }
            }
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
        LabCmd::Kill {
            which,
            node,
            with_bmc,
        } => {
            let lab = open(&which)?;
            if with_bmc {
                lab.lose_power(&node)?;
                println!("{node}: powered off, its BMC too");
            } else {
                lab.kill(&node)?;
                println!("{node}: powered off");
            }
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
        LabCmd::Partition { which, node, link } => {
            let lab = open(&which)?;
            for l in links_named(&lab, &link)? {
                lab.cut_link(&node, l)?;
            }
            println!("{node}: {link} link cut");
        }
        LabCmd::Heal { which, node, link } => {
            let lab = open(&which)?;
            for l in links_named(&lab, &link)? {
                lab.restore_link(&node, l)?;
            }
            println!("{node}: {link} link restored");
        }
        LabCmd::Demo {
            name,
            token,
            binaries,
            keep,
            template,
            front_ends,
            output,
        } => {
            let front_ends = front_ends_for(template.as_deref(), front_ends)?;
            let json = match output.as_str() {
                "text" => false,
                "json" => true,
                o => anyhow::bail!("--output {o:?}: expected text or json"),
            };
            match template.as_deref() {
                None if json => anyhow::bail!(
                    "--output json needs --template {VM_TEMPLATE} or {TIER_TEMPLATE}"
                ),
                None => demo(&name, token, binaries, keep)?,
                Some(VM_TEMPLATE) => vm_demo(&name, binaries, keep, json)?,
                Some(TIER_TEMPLATE) => tier_demo(&name, binaries, keep, json, front_ends)?,
                Some(t) => anyhow::bail!("--template {t:?}: the demo runs {VM_TEMPLATE}, {TIER_TEMPLATE} or, without --template, the multi-tier N+1 back-end lab"),
            }
        }
        LabCmd::Bench {
            name,
            runs,
            tokens,
            binaries,
            template,
        } => match template.as_deref() {
            None => bench(&name, runs, &tokens, binaries)?,
            Some(VM_TEMPLATE) => vm_bench(&name, runs, binaries)?,
            Some(t) => anyhow::bail!("--template {t:?}: the benchmark runs {VM_TEMPLATE} or, without --template, the namespace lab"),
        },
    }
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The binaries directory and the axigen-sim in it (the demo and the benchmark need both).
fn demo_binaries(binaries: Option<PathBuf>) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = binaries.or_else(default_binaries).ok_or_else(|| {
        anyhow::anyhow!("no built agents next to this program; pass --binaries DIR (cargo build --workspace --bins)")
    })?;
    // absolute: the paths go into the cluster's configuration
    let dir = dir
        .canonicalize()
        .with_context(|| format!("--binaries {}", dir.display()))?;
    let sim = dir.join("axigen-sim");
    for need in [&sim, &dir.join("instance")] {
        anyhow::ensure!(
            need.is_file(),
            "{} is missing (cargo build --workspace --bins)",
            need.display()
        );
    }
    Ok((dir, sim))
}

fn lab_spec(name: &str, token: u32, binaries: &Path) -> LabSpec {
    let mut s = LabSpec::new(name, 3);
    s.token_ms = Some(token);
    s.fencing = Fencing::Ipmi;
    s.binaries = Some(binaries.to_path_buf());
    s
}

/// Wait until every instance runs on its home node and answers IMAP.
fn wait_placed(lab: &Lab, inst: &[axha_lab::Instance]) -> anyhow::Result<()> {
    let observer = lab.nodes().last().cloned().unwrap_or_default();
    let servers: Vec<String> = inst.iter().map(|i| i.server_id()).collect();
    let wait = Duration::from_secs(120);
    lab.wait_view_of("the instances to start", &servers, wait, |v| {
        inst.iter().all(|i| {
            v.resource(&i.server_id()).is_some_and(|r| {
                r.role == "Started"
                    && Some(&r.nodes) == i.home.as_ref().map(|h| vec![h.clone()]).as_ref()
            }) && lab
                .greeting(&observer, i.ip, axha_lab::service::IMAP_PORT)
                .is_some()
        })
    })?;
    Ok(())
}

fn demo(name: &str, token: u32, binaries: Option<PathBuf>, keep: bool) -> anyhow::Result<()> {
    let (dir, sim) = demo_binaries(binaries)?;
    println!("axigen-ha lab demo: multi-tier N+1 on a 3-node Pacemaker/Corosync cluster");
    println!("  (axigen-sim stands in for Axigen; every node has an ipmi_sim BMC)");
    let t = Instant::now();
    let mut spec = lab_spec(name, token, &dir);
    spec.keep_on_failure = keep;
    let lab = Lab::up(spec).inspect_err(|e| {
        if keep && !matches!(e, LabError::AlreadyUp { .. }) {
            print_kept(name, None);
        }
    })?;
    println!(
        "cluster up: n1 n2 n3 online, corosync token {token} ms, fence agent {} ({})",
        lab.fence_agent(),
        secs(t.elapsed())
    );
    if let Err(e) = demo_failover(&lab, token, &sim) {
        if keep {
            lab.detach()?;
            print_kept(name, None);
        }
        return Err(e);
    }
    if keep {
        println!("lab {name} left running: axigen-ha lab status --name {name}");
        lab.detach()?;
    } else {
        let t = Instant::now();
        lab.down()?;
        println!("torn down in {}", secs(t.elapsed()));
    }
    Ok(())
}

/// The two-node architecture in two VMs: up, power loss of the Primary, timeline or JSON.
fn vm_demo(name: &str, binaries: Option<PathBuf>, keep: bool, json: bool) -> anyhow::Result<()> {
    let (dir, _) = demo_binaries(binaries)?;
    let say = |s: String| {
        if !json {
            println!("{s}");
        }
    };
    say(format!(
        "axigen-ha lab demo: {VM_TEMPLATE} in two QEMU VMs (DRBD 8.4, Pacemaker, IPMI BMCs)"
    ));
    say(
        "  (axigen-sim stands in for Axigen; the first run builds the guest image, a few minutes)"
            .into(),
    );
    let t = Instant::now();
    let mut spec = LabSpec::two_node_vm(name, dir);
    spec.keep_on_failure = keep;
    let lab = Lab::up(spec).inspect_err(|e| {
        if keep && !matches!(e, LabError::AlreadyUp { .. }) {
            print_kept(name, None);
        }
    })?;
    say(format!(
        "cluster up: n1 n2 online, DRBD synced, template loaded, {} answering IMAP on {} ({})",
        axha_lab::VM_INSTANCE,
        axha_lab::VM_SERVICE_IP,
        secs(t.elapsed())
    ));
    let result = axha_lab::scenario::vm_power_loss(&lab, Duration::from_secs(300));
    let (lab, f) = kept_on_failure(lab, name, keep, result)?;
    if json {
        println!("{}", f.to_json());
    } else {
        println!();
        println!("power loss of the Primary, {}:", f.failover.victim);
        for m in &f.failover.moments {
            println!("  [{:>6.2} s] {}", m.at.as_secs_f64(), m.what);
        }
        println!();
        println!(
            "failover: {} answers on {} after {} (detection floor, token + consensus as corosync runs it: {}); data written and fsync'd before the loss {}",
            axha_lab::VM_INSTANCE,
            f.failover.new_node,
            secs(f.failover.answering),
            secs(f.detection_floor),
            if f.data_intact { "reads back intact" } else { "DOES NOT read back" }
        );
    }
    if keep {
        say(format!(
            "lab {name} left running: axigen-ha lab status --name {name}"
        ));
        lab.detach()?;
    } else {
        lab.down()?;
    }
    anyhow::ensure!(
        f.data_intact,
        "the data written before the power loss did not survive it"
    );
    Ok(())
}

/// CPU seconds (user + system) that `calls` monitors of `agent` took in the guest, from the
/// shell's `times` for its children, with the environment Pacemaker gives a recurring monitor
/// of a promotable clone instance (a separate instance name: the real scores are untouched).
fn monitor_cpu(lab: &Lab, node: &str, agent: &str, calls: u32) -> anyhow::Result<f64> {
    let script = format!(
        "export OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=bench-drbd OCF_RESKEY_drbd_resource=r0 \
         OCF_RESKEY_CRM_meta_interval=20000 OCF_RESKEY_CRM_meta_clone_max=2 \
         OCF_RESKEY_CRM_meta_clone_node_max=1 OCF_RESKEY_CRM_meta_promoted_max=1 \
         OCF_RESKEY_CRM_meta_master_max=1 OCF_RESKEY_CRM_meta_promoted_node_max=1 \
         OCF_RESKEY_CRM_meta_master_node_max=1 OCF_RESKEY_CRM_meta_notify=true; \
         for i in $(seq {calls}); do {agent} monitor >/dev/null 2>&1; done; times"
    );
    let out = lab.run_ok(node, &["bash", "-c", &script], Duration::from_secs(1800))?;
    let text = out.stdout_str();
    // `times`: the shell's own user/system line, then its children's.
    let children = text.lines().nth(1).unwrap_or_default();
    let secs: Vec<f64> = children
        .split_whitespace()
        .filter_map(|t| {
            let (m, s) = t.strip_suffix('s')?.split_once('m')?;
            Some(m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
        })
        .collect();
    anyhow::ensure!(secs.len() == 2, "unexpected `times` output: {text:?}");
    Ok(secs[0] + secs[1])
}

/// The two-node VM lab's benchmark: DRBD monitor CPU per call, then `runs` power losses of the
/// Primary (the fenced node reboots and rejoins between runs).
fn vm_bench(name: &str, runs: usize, binaries: Option<PathBuf>) -> anyhow::Result<()> {
    use axha_lab::scenario::{median, vm_power_loss};
    anyhow::ensure!(runs >= 1, "--runs must be at least 1");
    let (dir, _) = demo_binaries(binaries)?;
    let t = Instant::now();
    let lab = Lab::up(LabSpec::two_node_vm(name, dir))?;
    eprintln!("lab up in {}", secs(t.elapsed()));
    let wait = Duration::from_secs(300);
    // DRBD monitor CPU on the Secondary, interleaved rounds.
    let secondary = {
        let v = lab.view_any()?;
        let primary = v
            .locate(axha_lab::VM_INSTANCE)
            .first()
            .cloned()
            .unwrap_or_default();
        lab.nodes()
            .into_iter()
            .find(|n| *n != primary)
            .unwrap_or_default()
    };
    let (rounds, calls) = (3, 10);
    let (mut ours, mut linbit) = (0.0, 0.0);
    for _ in 0..rounds {
        ours += monitor_cpu(
            &lab,
            &secondary,
            "/usr/lib/ocf/resource.d/axigen/drbd",
            calls,
        )?;
        linbit += monitor_cpu(
            &lab,
            &secondary,
            "/usr/lib/ocf/resource.d/linbit/drbd",
            calls,
        )?;
    }
    let n = f64::from(rounds * calls);
    let (ours, linbit) = (ours / n * 1000.0, linbit / n * 1000.0);
    let mut answering = Vec::new();
    let mut floor = Duration::ZERO;
    let mut intact = 0;
    for run in 1..=runs {
        lab.restore_health(wait)?;
        let f = vm_power_loss(&lab, wait)?;
        eprintln!(
            "run {run}: {} lost power; seen offline {:?}, fenced {:?}, answering on {} after {}, data {}",
            f.failover.victim,
            f.failover.detected.map(secs),
            f.failover.fenced.map(secs),
            f.failover.new_node,
            secs(f.failover.answering),
            if f.data_intact { "intact" } else { "LOST" }
        );
        answering.push(f.failover.answering);
        floor = f.detection_floor;
        intact += usize::from(f.data_intact);
    }
    let med = median(&answering).unwrap_or_default();
    let (lo, hi) = (
        answering.iter().min().copied().unwrap_or_default(),
        answering.iter().max().copied().unwrap_or_default(),
    );
    println!("| power loss of the Primary -> IMAP (median) | detection floor in the guests (token + consensus) | range | data intact | runs |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {} | {}-{} | {intact}/{runs} | {runs} |",
        secs(med),
        secs(floor),
        secs(lo),
        secs(hi)
    );
    println!();
    println!("| recurring monitor, CPU per call in the guest | ocf:axigen:drbd | ocf:linbit:drbd | ratio (linbit / axigen) |");
    println!("|---|---|---|---|");
    println!(
        "| interval 20 s, Secondary, connected, UpToDate | {ours:.1} ms | {linbit:.1} ms | {:.1}x |",
        linbit / ours.max(0.001)
    );
    lab.down()?;
    Ok(())
}

/// A demo's result; on failure with --keep, the lab is left running and where it is told.
fn kept_on_failure<T>(
    lab: Lab,
    name: &str,
    keep: bool,
    result: Result<T, LabError>,
) -> anyhow::Result<(Lab, T)> {
    match result {
        Ok(r) => Ok((lab, r)),
        Err(e) => {
            if keep {
                lab.detach()?;
                print_kept(name, None);
            }
            Err(e.into())
        }
    }
}

/// Tell where a lab kept after a failure is and how to look at it, when it is there.
fn print_kept(name: &str, state_dir: Option<&Path>) {
    let Ok(lab) = Lab::open(name, state_dir) else {
        return;
    };
    let first = lab.nodes().first().cloned().unwrap_or_default();
    eprintln!(
        "lab {name} kept after the failure (state and logs in {}):\n  \
         axigen-ha lab status --name {name}\n  \
         axigen-ha lab exec --name {name} {first} -- crm_mon -1 --show-detail\n  \
         less {}\n  \
         axigen-ha lab down --name {name}",
        lab.state_dir().display(),
        lab.log_paths()
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
}

/// The demo's instances, their placement and a timed power loss of the first one's node.
fn demo_failover(lab: &Lab, token: u32, sim: &Path) -> anyhow::Result<()> {
    let inst = axha_lab::scenario::n_plus_1(lab, &["n1", "n2"], sim)?;
    wait_placed(lab, &inst)?;
    for i in &inst {
        println!(
            "  {} on {} (loop device {}, service IP {})",
            i.id,
            i.home.as_deref().unwrap_or("?"),
            i.device.display(),
            i.ip
        );
    }
    println!("  n3: hot stand-by (takes at most two instances)");
    println!();
    println!("power loss of n1:");
    let f = axha_lab::scenario::power_loss(lab, &inst[0], Duration::from_secs(120))?;
    for m in &f.moments {
        println!("  [{:>6.2} s] {}", m.at.as_secs_f64(), m.what);
    }
    println!();
    let effective = axha_lab::scenario::corosync_runtime(lab, &f.new_node)
        .map(|(t, c)| {
            format!(
                ", as corosync runs it on 3 nodes: {}",
                secs(Duration::from_millis(u64::from(t) + u64::from(c)))
            )
        })
        .unwrap_or_default();
    println!(
        "failover: {} answers again on {} after {} (floor token + consensus: {}{effective})",
        inst[0].id,
        f.new_node,
        secs(f.answering),
        secs(axha_lab::scenario::detection_floor(Some(token)))
    );
    Ok(())
}

fn bench(name: &str, runs: usize, tokens: &[u32], binaries: Option<PathBuf>) -> anyhow::Result<()> {
    use axha_lab::scenario::{detection_floor, median, power_loss};
    anyhow::ensure!(runs >= 1, "--runs must be at least 1");
    let (dir, sim) = demo_binaries(binaries)?;
    let mut rows = Vec::new();
    for &token in tokens {
        let lab = Lab::up(lab_spec(name, token, &dir))?;
        let (rt_token, rt_consensus) = axha_lab::scenario::corosync_runtime(&lab, "n1")?;
        let effective = Duration::from_millis(u64::from(rt_token) + u64::from(rt_consensus));
        let inst = axha_lab::scenario::n_plus_1(&lab, &["n1"], &sim)?;
        wait_placed(&lab, &inst)?;
        let (mut answering, mut fenced, mut detected) = (Vec::new(), Vec::new(), Vec::new());
        for run in 1..=runs {
            let f = power_loss(&lab, &inst[0], Duration::from_secs(180))?;
            eprintln!(
                "token {token} run {run}: {} lost power; detected {:?}, fenced {:?}, running {}, answering {} on {}",
                f.victim,
                f.detected.map(secs),
                f.fenced.map(secs),
                secs(f.running),
                secs(f.answering),
                f.new_node
            );
            answering.push(f.answering);
            fenced.extend(f.fenced);
            detected.extend(f.detected);
            // the fence action was a reboot: wait for the node to rejoin, then let it settle
            lab.wait_all_online(Duration::from_secs(180))?;
            std::thread::sleep(Duration::from_secs(3));
        }
        lab.down()?;
        let floor = detection_floor(Some(token));
        let med = median(&answering).expect("runs >= 1");
        let range = format!(
            "{}-{}",
            secs(*answering.iter().min().expect("runs >= 1")),
            secs(*answering.iter().max().expect("runs >= 1"))
        );
        rows.push(format!(
            "| {token} ms | {} | {} ({rt_token} + {rt_consensus} ms) | {} | {} | {} | {} | {} | {} | {runs} |",
            secs(floor),
            secs(effective),
            median(&detected).map_or("-".into(), secs),
            median(&fenced).map_or("-".into(), secs),
            secs(med),
            secs(med.saturating_sub(floor)),
            secs(med.saturating_sub(effective)),
            range,
        ));
    }
    println!("| corosync token | floor: token + consensus | effective floor (runtime token + consensus, 3 nodes) | seen offline | fenced | answering IMAP (median) | above floor | above effective floor | range | runs |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}

/// `--link`: one link by name, or `all` for every cluster link of the lab.
fn links_named(lab: &Lab, name: &str) -> anyhow::Result<Vec<axha_lab::Link>> {
    use axha_lab::Link;
    Ok(match name {
        "all" if lab.links() >= 2 => vec![Link::Cluster, Link::Cluster2],
        "all" => vec![Link::Cluster],
        other => vec![other.parse()?],
    })
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
        let net2 = if lab.links() >= 2 && lab.cluster2_cut(&n.name) {
            " cluster2-cut"
        } else {
            ""
        };
        let outlet = match lab.has_pdu().then(|| lab.outlet_on(&n.name)) {
            Some(Ok(true)) => " outlet on",
            Some(Ok(false)) => " outlet off",
            Some(Err(_)) => " outlet ?",
            None => "",
        };
        let _ = writeln!(
            o,
            "  {:<4} {:<12} {state:<4} {:>3} processes{bmc}{outlet}{net}{net2}",
            n.name, n.addr, n.processes
        );
    }
    match lab.view_any() {
        Ok(v) => {
            let _ = writeln!(
                o,
                "cluster: DC {}, quorum {}, online: {}",
                v.dc.as_deref().unwrap_or("none"),
                if v.quorate == Some(true) { "yes" } else { "no" },
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
    tier_lines(lab, o);
}

/// The tiers of a multi-tier lab (`lab up --template multi-tier-n-plus-1`): the VIP holder,
/// the front-ends HAProxy runs on, the directory providers answering or not.
fn tier_lines(lab: &Lab, o: &mut String) {
    use std::fmt::Write as _;
    let Ok(v) = lab.view_any() else { return };
    if v.resource("lb-vip").is_none() {
        return;
    }
    let vip = v.locate("lb-vip");
    let mut fes: Vec<String> = v
        .resources
        .iter()
        .filter(|r| r.id.starts_with("lb-haproxy"))
        .flat_map(|r| r.nodes.clone())
        .collect();
    fes.sort();
    fes.dedup();
    let _ = writeln!(
        o,
        "tiers: VIP {} on {}; HAProxy on {}",
        axha_lab::LB_VIP,
        vip.first().map_or("NONE", String::as_str),
        if fes.is_empty() {
            "none".to_string()
        } else {
            fes.join(" ")
        }
    );
    for d in axha_lab::DIRECTORY_SERVERS {
        let state = match lab.provider_state(d) {
            Ok(s) => format!("answering, {} entries", s.entries),
            Err(_) => "NOT answering".to_string(),
        };
        let _ = writeln!(
            o,
            "  directory {d} ({}): {state}",
            axha_lab::side_addr(d)
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
    }
}

/// What `lab up --template multi-tier-n-plus-1` built, one tier a line.
fn tiers_summary(t: &axha_lab::tiers::Tiers, took: Duration) -> String {
    let fes: Vec<String> = t
        .front_ends
        .iter()
        .map(|(n, a)| format!("{n} ({a})"))
        .collect();
    format!(
        "tiers up in {}:\n  load balancer: HAProxy on {}, VIP {}\n  front-ends: {} (Dovecot IMAP/POP3 proxy, Postfix)\n  back-ends: {} (hot stand-by {})\n  directory: {} (multi-provider)\n  clients: {} ({} accounts provisioned, axigen-provision config {})\n",
        secs(took),
        t.front_ends.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" "),
        axha_lab::LB_VIP,
        fes.join(", "),
        t.instances
            .iter()
            .map(|i| format!("{} on {} ({})", i.id, i.home.as_deref().unwrap_or("?"), i.ip))
            .collect::<Vec<_>>()
            .join(", "),
        axha_lab::tiers::STANDBY,
        t.directory.uris.join(" "),
        axha_lab::CLIENT,
        t.homes.len(),
        t.provision_config.display()
    )
}

/// The three tiers: up, every scenario with clients logging in through the VIP, a timeline
/// or one JSON object.
fn tier_demo(
    name: &str,
    binaries: Option<PathBuf>,
    keep: bool,
    json: bool,
    front_ends: usize,
) -> anyhow::Result<()> {
    let (dir, _) = demo_binaries(binaries)?;
    let t0 = Instant::now();
    let mut say = |s: &str| {
        let line = format!("[{:>6.1} s] {s}", t0.elapsed().as_secs_f64());
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    say(&format!(
        "axigen-ha lab demo: {TIER_TEMPLATE}, {front_ends} front-ends (axigen-sim stands in for Axigen)"
    ));
    let mut spec = axha_lab::tiers::tier_spec(name, front_ends, &dir);
    spec.keep_on_failure = keep;
    let lab = Lab::up(spec).inspect_err(|e| {
        if keep && !matches!(e, LabError::AlreadyUp { .. }) {
            print_kept(name, None);
        }
    })?;
    say(&format!("cluster up: {} online", lab.nodes().join(" ")));
    let result = axha_lab::tiers::Tiers::build(&lab, &dir).and_then(|tiers| {
        for l in tiers_summary(&tiers, t0.elapsed()).lines() {
            say(l.trim_start());
        }
        tiers.run_all(&lab, &mut say)
    });
    let (lab, report) = kept_on_failure(lab, name, keep, result)?;
    if json {
        println!("{}", report.to_json());
    }
    if keep {
        say(&format!(
            "lab {name} left running: axigen-ha lab status --name {name}"
        ));
        lab.detach()?;
    } else {
        lab.down()?;
        say("torn down");
    }
    Ok(())
}
