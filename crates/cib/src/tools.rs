//! Pacemaker's own checks of a rendered CIB, without a cluster: `crm_verify -x FILE -V` and
//! `crm_simulate` (LAB-RECIPES.md §6). The simulation starts from every node online with all
//! resources placed, then fails each node (or each set of up to N nodes) and reports where
//! every Axigen instance ends up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axha_exec::{escape_xml, Cmd, Deadline};
use serde::Serialize;

use crate::model::Cib;
use crate::status::{parse_simulation, ClusterStatus};
use crate::xml::render_for_simulation;
use crate::CibError;

/// Extra transitions run after an event until the placement stops changing: a node that
/// joins aborts the first transition after its probes, and the cluster plans again.
const MAX_SETTLE_PASSES: usize = 3;

/// crm_simulate runs at once.
const PARALLEL_RUNS: usize = 4;

/// Largest CIB file read: a cluster's CIB is kilobytes, seldom a few megabytes.
const MAX_CIB_FILE: usize = 64 << 20;

/// What crm_verify said about a CIB that it accepted (warnings, if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// crm_verify's warnings (empty when it had none).
    pub output: String,
}

/// `crm_verify -x FILE -V`: Ok with its (warning) output, or [`CibError::Rejected`] with its
/// error output when the configuration has errors. A CIB without node states (as rendered)
/// is checked as a running cluster would hold it: every node of its `<nodes>` online, with
/// quorum (see [`verify`]).
pub fn verify_file(path: &Path, timeout: Duration) -> Result<Verified, CibError> {
    let text = crate::read_text(path, MAX_CIB_FILE, &Deadline::after(timeout))?;
    match with_cluster_view(&text) {
        Some(live) => {
            let dir = tempdir()?;
            let p = dir.path().join("cib.xml");
            write(&p, &live)?;
            run_crm_verify(&p, timeout)
        }
        None => run_crm_verify(path, timeout),
    }
}

/// The CIB with every configured node online and quorum, when its status is empty.
fn with_cluster_view(xml: &str) -> Option<String> {
    if xml.contains("<node_state") || !xml.contains("<status/>") {
        return None;
    }
    let doc = roxmltree::Document::parse(xml).ok()?;
    let states: String = doc
        .descendants()
        .filter(|n| n.has_tag_name("node") && n.parent().is_some_and(|p| p.has_tag_name("nodes")))
        .filter_map(|n| Some((n.attribute("id")?, n.attribute("uname")?)))
        .map(|(id, uname)| {
            format!(
                r#"<node_state id="{}" uname="{}" in_ccm="true" crmd="online" join="member" expected="member"/>"#,
                escape_xml(id),
                escape_xml(uname)
            )
        })
        .collect();
    if states.is_empty() {
        return None;
    }
    let mut out = xml.replacen("<status/>", &format!("<status>{states}</status>"), 1);
    if doc.root_element().attribute("have-quorum").is_none() {
        out = out.replacen("<cib ", "<cib have-quorum=\"1\" ", 1);
    }
    Some(out)
}

fn run_crm_verify(path: &Path, timeout: Duration) -> Result<Verified, CibError> {
    let out = Cmd::new("crm_verify")
        .arg("-x")
        .arg(path)
        .arg("-V")
        .run(&Deadline::after(timeout))?;
    let text = format!("{}{}", out.stdout_str(), out.stderr_str());
    if out.status.success() {
        Ok(Verified { output: text })
    } else {
        Err(CibError::Rejected {
            tool: "crm_verify".into(),
            output: text,
        })
    }
}

/// `crm_verify` on the XML of `cib` as a running cluster would hold it: every node online
/// and quorate. (With an empty status section crm_verify sees every node as unclean and
/// without quorum, and warns about that instead of the configuration.)
pub fn verify(cib: &Cib, timeout: Duration) -> Result<Verified, CibError> {
    let dir = tempdir()?;
    let path = dir.path().join("cib.xml");
    let online: Vec<&str> = cib.nodes.iter().map(|n| n.name.as_str()).collect();
    write(&path, &render_for_simulation(cib, &online, true))?;
    run_crm_verify(&path, timeout)
}

/// How [`simulate`] explores failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateOptions {
    /// Fail every set of 1..=max_failures nodes.
    pub max_failures: usize,
    /// Keep quorum whatever fails (capacity planning: as with corosync `last_man_standing`
    /// after failures one at a time). Otherwise quorum is a strict majority of votes, or one
    /// node of two under `two_node`.
    pub assume_quorum: bool,
    /// Budget for each crm_simulate run.
    pub timeout: Duration,
    /// Only these failure sets (instead of every set up to `max_failures`).
    pub only: Vec<Vec<String>>,
    /// After each failure, bring the failed nodes back and report that placement too
    /// (stickiness: a returning node should pull nothing back).
    pub and_back: bool,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            max_failures: 1,
            assume_quorum: false,
            timeout: Duration::from_secs(60),
            only: Vec::new(),
            and_back: false,
        }
    }
}

/// One failure scenario and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scenario {
    /// Nodes that failed (empty: the starting placement).
    pub failed: Vec<String>,
    /// The failed nodes are back (the placement after they rejoined).
    pub back: bool,
    /// The surviving nodes have quorum.
    pub quorate: bool,
    /// Instance id -> surviving nodes where it is active (empty: not running anywhere).
    pub placement: BTreeMap<String, Vec<String>>,
    /// Instance id -> failed nodes still holding it: not fenced (no quorum, no device), so
    /// the cluster cannot recover it elsewhere.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unclean: BTreeMap<String, Vec<String>>,
    /// In a sequence ([`simulate_steps`]): the steps so far, e.g. "fail n1, back n1".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<String>,
}

/// One step of a failure sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Step {
    /// The node fails (power loss): fenced, its instances recovered elsewhere.
    Fail(String),
    /// The node is back and rejoins.
    Back(String),
}

impl Step {
    /// `fail:NODE` or `back:NODE`.
    pub fn parse(s: &str) -> Result<Step, CibError> {
        match s.trim().split_once(':') {
            Some(("fail", n)) if !n.is_empty() => Ok(Step::Fail(n.to_string())),
            Some(("back", n)) if !n.is_empty() => Ok(Step::Back(n.to_string())),
            _ => Err(CibError::InvalidStep(format!(
                "step {s:?}: expected fail:NODE or back:NODE"
            ))),
        }
    }
    fn label(&self) -> String {
        match self {
            Step::Fail(n) => format!("fail {n}"),
            Step::Back(n) => format!("back {n}"),
        }
    }
}

impl Scenario {
    /// Number of instances active on `node`.
    pub fn load(&self, node: &str) -> usize {
        self.placement
            .values()
            .filter(|nodes| nodes.iter().any(|n| n == node))
            .count()
    }
    /// Instances running nowhere.
    pub fn stopped(&self) -> Vec<&str> {
        self.placement
            .iter()
            .filter(|(_, n)| n.is_empty())
            .map(|(i, _)| i.as_str())
            .collect()
    }
}

/// Every failure scenario of a configuration and where the instances end up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Simulation {
    /// The cluster's nodes.
    pub nodes: Vec<String>,
    /// The instances (resource ids of `ocf:axigen:instance`).
    pub instances: Vec<String>,
    /// The scenarios.
    pub scenarios: Vec<Scenario>,
}

impl Simulation {
    /// The scenario in which exactly `failed` failed (and, with `back`, came back).
    pub fn scenario(&self, failed: &[&str], back: bool) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| {
            s.back == back
                && s.failed.len() == failed.len()
                && failed.iter().all(|f| s.failed.iter().any(|x| x == f))
        })
    }
}

fn tempdir() -> Result<tempfile::TempDir, CibError> {
    tempfile::Builder::new()
        .prefix("axha-cib-")
        .tempdir()
        .map_err(|source| CibError::Write {
            path: std::env::temp_dir(),
            source,
        })
}

fn write(path: &Path, text: &str) -> Result<(), CibError> {
    std::fs::write(path, text).map_err(|source| CibError::Write {
        path: path.to_owned(),
        source,
    })
}

/// All subsets of `items` with `k` elements, in lexicographic order.
fn combinations(items: &[String], k: usize) -> Vec<Vec<String>> {
    fn rec(
        items: &[String],
        k: usize,
        start: usize,
        cur: &mut Vec<String>,
        out: &mut Vec<Vec<String>>,
    ) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in start..items.len() {
            cur.push(items[i].clone());
            rec(items, k, i + 1, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    rec(items, k, 0, &mut Vec::new(), &mut out);
    out
}

/// A node event of a simulation: `-f NODE` (fails) or `-u NODE` (comes back).
#[derive(Clone, Copy)]
enum Event {
    Fail,
    Up,
}

fn run_simulate(
    input: &Path,
    save: Option<&Path>,
    quorate: bool,
    nodes: &[String],
    event: Event,
    timeout: Duration,
) -> Result<ClusterStatus, CibError> {
    let mut cmd = Cmd::new("crm_simulate").arg("-x").arg(input).args([
        "-S",
        "--output-as=xml",
        "-q",
        if quorate { "1" } else { "0" },
    ]);
    if let Some(s) = save {
        cmd = cmd.arg("-O").arg(s);
    }
    let flag = match event {
        Event::Fail => "-f",
        Event::Up => "-u",
    };
    for n in nodes {
        cmd = cmd.args([flag, n]);
    }
    // Without quorum the transition is blocked and crm_simulate exits 1, yet still reports
    // the resulting state: that state is the answer.
    let out = cmd.run(&Deadline::after(timeout))?;
    match parse_simulation(&out.stdout_str()) {
        Ok(st) => Ok(st),
        Err(e) if out.status.success() => Err(e),
        Err(_) => Err(CibError::Rejected {
            tool: "crm_simulate".into(),
            output: format!("{}{}", out.stdout_str(), out.stderr_str()),
        }),
    }
}

/// Run the event, then further transitions until the state no longer changes. Returns the
/// final state and the file holding it.
#[allow(clippy::too_many_arguments)]
fn simulate_settled(
    input: &Path,
    dir: &Path,
    tag: &str,
    quorate: bool,
    nodes: &[String],
    event: Event,
    timeout: Duration,
) -> Result<(ClusterStatus, std::path::PathBuf), CibError> {
    let mut path = dir.join(format!("{tag}-0.xml"));
    let mut st = run_simulate(input, Some(&path), quorate, nodes, event, timeout)?;
    for pass in 1..=MAX_SETTLE_PASSES {
        if !path.exists() {
            break;
        }
        let next = dir.join(format!("{tag}-{pass}.xml"));
        let again = run_simulate(&path, Some(&next), quorate, &[], event, timeout)?;
        let settled = again.resources == st.resources && again.nodes == st.nodes;
        st = again;
        path = next;
        if settled {
            break;
        }
    }
    Ok((st, path))
}

fn scenario(
    status: &ClusterStatus,
    instances: &[String],
    failed: Vec<String>,
    quorate: bool,
) -> Scenario {
    let mut placement = BTreeMap::new();
    let mut unclean = BTreeMap::new();
    for i in instances {
        let (dead, alive): (Vec<String>, Vec<String>) = status
            .placement(i)
            .into_iter()
            .partition(|n| failed.contains(n));
        if !dead.is_empty() {
            unclean.insert(i.clone(), dead);
        }
        placement.insert(i.clone(), alive);
    }
    Scenario {
        failed,
        back: false,
        quorate,
        placement,
        unclean,
        steps: None,
    }
}

/// Simulate the cluster of `cib` with every node online, then each failure set.
pub fn simulate(cib: &Cib, opts: &SimulateOptions) -> Result<Simulation, CibError> {
    let nodes: Vec<String> = cib.nodes.iter().map(|n| n.name.clone()).collect();
    let instances = cib.instance_ids();
    let dir = tempdir()?;
    let base = dir.path().join("all-online.xml");
    let online: Vec<&str> = nodes.iter().map(String::as_str).collect();
    write(&base, &render_for_simulation(cib, &online, true))?;
    let (first, started) = simulate_settled(
        &base,
        dir.path(),
        "start",
        true,
        &[],
        Event::Fail,
        opts.timeout,
    )?;
    let mut scenarios = vec![scenario(&first, &instances, vec![], true)];
    let total = nodes.len();
    let sets: Vec<Vec<String>> = if opts.only.is_empty() {
        // At least one node must survive to place anything.
        (1..=opts.max_failures.min(total - 1))
            .flat_map(|k| combinations(&nodes, k))
            .collect()
    } else {
        for set in &opts.only {
            if let Some(bad) = set.iter().find(|n| !nodes.contains(n)) {
                return Err(CibError::InvalidStep(format!(
                    "--fail: {bad:?} is not one of the nodes"
                )));
            }
        }
        opts.only.clone()
    };
    // crm_simulate spends most of its time idle (simulated transition timers): a few runs
    // at once cost little CPU and save most of the wall time.
    for chunk in sets.chunks(PARALLEL_RUNS) {
        let results: Vec<Result<Vec<Scenario>, CibError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|failed| {
                    let started = &started;
                    let instances = &instances;
                    let dir = dir.path();
                    let tag = failed.join("+");
                    scope.spawn(move || {
                        let alive = total - failed.len();
                        let quorate =
                            opts.assume_quorum || alive * 2 > total || (cib.two_node && alive >= 1);
                        let (st, after) = simulate_settled(
                            started,
                            dir,
                            &format!("fail-{tag}"),
                            quorate,
                            failed,
                            Event::Fail,
                            opts.timeout,
                        )?;
                        let mut out = vec![scenario(&st, instances, failed.clone(), quorate)];
                        if opts.and_back {
                            // Every node is back: quorum again.
                            let (st, _) = simulate_settled(
                                &after,
                                dir,
                                &format!("back-{tag}"),
                                true,
                                failed,
                                Event::Up,
                                opts.timeout,
                            )?;
                            // Nobody is failed any more: every placement counts.
                            let mut back = scenario(&st, instances, vec![], true);
                            back.back = true;
                            back.failed = failed.clone();
                            out.push(back);
                        }
                        Ok(out)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a simulation thread does not panic"))
                .collect()
        });
        for r in results {
            scenarios.extend(r?);
        }
    }
    Ok(Simulation {
        nodes,
        instances,
        scenarios,
    })
}

/// Simulate a sequence of failures and returns, one after the other, from every node online:
/// one scenario per step, with the nodes down at that point and quorum by strict majority
/// (or `two_node`) unless `assume_quorum`.
pub fn simulate_steps(
    cib: &Cib,
    steps: &[Step],
    opts: &SimulateOptions,
) -> Result<Simulation, CibError> {
    let nodes: Vec<String> = cib.nodes.iter().map(|n| n.name.clone()).collect();
    let instances = cib.instance_ids();
    let dir = tempdir()?;
    let base = dir.path().join("all-online.xml");
    let online: Vec<&str> = nodes.iter().map(String::as_str).collect();
    write(&base, &render_for_simulation(cib, &online, true))?;
    let (first, mut current) = simulate_settled(
        &base,
        dir.path(),
        "start",
        true,
        &[],
        Event::Fail,
        opts.timeout,
    )?;
    let mut scenarios = vec![scenario(&first, &instances, vec![], true)];
    let mut down: Vec<String> = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (node, event) = match step {
            Step::Fail(n) | Step::Back(n) if !nodes.contains(n) => {
                return Err(CibError::InvalidStep(format!(
                    "step {:?}: {n:?} is not one of the nodes",
                    step.label()
                )))
            }
            Step::Fail(n) if down.contains(n) => {
                return Err(CibError::InvalidStep(format!(
                    "step {:?}: {n:?} is already down",
                    step.label()
                )))
            }
            Step::Back(n) if !down.contains(n) => {
                return Err(CibError::InvalidStep(format!(
                    "step {:?}: {n:?} is not down",
                    step.label()
                )))
            }
            Step::Fail(n) => {
                down.push(n.clone());
                (n, Event::Fail)
            }
            Step::Back(n) => {
                down.retain(|d| d != n);
                (n, Event::Up)
            }
        };
        let alive = nodes.len() - down.len();
        let quorate = opts.assume_quorum || alive * 2 > nodes.len() || (cib.two_node && alive >= 1);
        let (st, next) = simulate_settled(
            &current,
            dir.path(),
            &format!("step-{i}"),
            quorate,
            std::slice::from_ref(node),
            event,
            opts.timeout,
        )?;
        current = next;
        done.push(step.label());
        let mut sc = scenario(&st, &instances, down.clone(), quorate);
        sc.steps = Some(done.join(", "));
        scenarios.push(sc);
    }
    Ok(Simulation {
        nodes,
        instances,
        scenarios,
    })
}

/// The simulation as a table: one row per scenario, one column per instance.
pub fn format_table(sim: &Simulation) -> String {
    let mut rows: Vec<Vec<String>> = vec![{
        let first = if sim.scenarios.iter().any(|s| s.steps.is_some()) {
            "steps"
        } else {
            "failed"
        };
        let mut h = vec![first.to_string(), "quorum".to_string()];
        h.extend(sim.instances.iter().cloned());
        h
    }];
    for s in &sim.scenarios {
        let mut r = vec![
            match (&s.steps, s.failed.is_empty(), s.back) {
                (Some(steps), _, _) => steps.clone(),
                (None, true, _) => "(none)".to_string(),
                (None, false, false) => s.failed.join("+"),
                (None, false, true) => format!("{} back", s.failed.join("+")),
            },
            if s.quorate { "yes" } else { "no" }.to_string(),
        ];
        r.extend(sim.instances.iter().map(|i| {
            let mut at: Vec<String> = s.placement.get(i).cloned().unwrap_or_default();
            if let Some(u) = s.unclean.get(i) {
                at.extend(u.iter().map(|n| format!("{n}(unclean)")));
            }
            if at.is_empty() {
                "stopped".to_string()
            } else {
                at.join(",")
            }
        }));
        rows.push(r);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_view_added_only_to_an_empty_status() {
        let x = r#"<cib epoch="1"><configuration><nodes><node id="1" uname="a&amp;b"/></nodes></configuration><status/></cib>"#;
        let v = with_cluster_view(x).unwrap();
        assert!(v.starts_with(r#"<cib have-quorum="1" epoch="1">"#), "{v}");
        assert!(
            v.contains(r#"<node_state id="1" uname="a&amp;b" in_ccm="true""#),
            "{v}"
        );
        assert!(with_cluster_view(&v).is_none());
        assert!(
            with_cluster_view("<cib><configuration><nodes/></configuration><status/></cib>")
                .is_none()
        );
    }

    #[test]
    fn steps_parse() {
        assert_eq!(Step::parse("fail:n1").unwrap(), Step::Fail("n1".into()));
        assert_eq!(Step::parse(" back:n2").unwrap(), Step::Back("n2".into()));
        assert!(Step::parse("reboot:n1").is_err());
        assert!(Step::parse("fail:").is_err());
        assert!(Step::parse("n1").is_err());
    }

    #[test]
    fn combinations_are_complete() {
        let n: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(combinations(&n, 1).len(), 3);
        assert_eq!(
            combinations(&n, 2),
            vec![vec!["a", "b"], vec!["a", "c"], vec!["b", "c"]]
        );
        assert_eq!(combinations(&n, 3).len(), 1);
    }

    #[test]
    fn table_layout() {
        let sim = Simulation {
            nodes: vec!["n1".into(), "n2".into()],
            instances: vec!["mail1".into()],
            scenarios: vec![
                Scenario {
                    failed: vec![],
                    back: false,
                    quorate: true,
                    placement: [("mail1".to_string(), vec!["n1".to_string()])].into(),
                    unclean: BTreeMap::new(),
                    steps: None,
                },
                Scenario {
                    failed: vec!["n1".into(), "n2".into()],
                    back: false,
                    quorate: false,
                    placement: [("mail1".to_string(), vec![])].into(),
                    unclean: [("mail1".to_string(), vec!["n2".to_string()])].into(),
                    steps: None,
                },
            ],
        };
        assert_eq!(
            format_table(&sim),
            "failed  quorum  mail1\n(none)  yes     n1\nn1+n2   no      n2(unclean)\n"
        );
        assert_eq!(sim.scenarios[1].stopped(), vec!["mail1"]);
        assert_eq!(sim.scenarios[1].load("n2"), 0);
        assert_eq!(sim.scenarios[0].load("n1"), 1);
        assert!(sim.scenario(&["n2", "n1"], false).is_some());
        assert!(sim.scenario(&["n2", "n1"], true).is_none());
    }
}
