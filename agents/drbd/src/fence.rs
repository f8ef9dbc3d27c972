//! The DRBD fence-peer / unfence-peer handler (`/usr/lib/axigen-ha/drbd-fence-peer`):
//! resource-level fencing through the Pacemaker CIB.
//!
//! DRBD runs the `fence-peer` handler when a node with `fencing resource-only` (or
//! `resource-and-stonith`) loses its replication link while it is, or wants to become, Primary.
//! From a quorate partition only, and only when this node's data is UpToDate, the handler
//! places one location constraint on the promotable clone: the Promoted role scores
//! -INFINITY on every node except those known to hold UpToDate data (this node, plus DRBD 9
//! peers still connected and UpToDate). DRBD then treats the peer as outdated. The
//! `after-resync-target` (8.4) / `unfence-peer` (9) handler (`--unfence`) removes exactly that
//! constraint, found by its id, once this node's data is UpToDate again.
//!
//! Exit codes are DRBD's (drbd.conf(5), "fence-peer"): 4 the peer is outdated (here: it is a
//! cluster member and now cannot be promoted), 5 the peer could not be reached (not a member
//! and not cleanly down when the wait ended; the constraint is placed anyway), 7 the peer is
//! fenced (cleanly out of the cluster). Anything else, here 1, tells DRBD nothing was done.
//! Pacemaker's state is read as CIB XML (`cibadmin --query`), never as text meant for people.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axha_drbd::{Drbd, Resource};
use axha_exec::{escape_xml, Cmd, Deadline};
use axha_ocf::cibadmin::{CibAdmin, Target};

/// DRBD fence-peer handler exit codes (drbd.conf(5)): the handler failed.
pub const EXIT_FAILED: i32 = 1;
/// The constraint is placed and every peer is a cluster member (its data counts as outdated).
pub const EXIT_PEER_OUTDATED: i32 = 4;
/// The constraint is placed but a peer was lost without being fenced yet.
pub const EXIT_PEER_UNREACHABLE: i32 = 5;
/// The constraint is placed and every lost peer is cleanly out (shut down or fenced).
pub const EXIT_PEER_FENCED: i32 = 7;

/// Every constraint this handler places has an id starting with this.
pub const ID_PREFIX: &str = "drbd-fence-by-handler";

/// What went wrong; the handler prints it and exits [`EXIT_FAILED`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceError(pub String);

impl fmt::Display for FenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FenceError {}

fn err(msg: impl Into<String>) -> FenceError {
    FenceError(msg.into())
}

/// What the CIB says, reduced to what the handler decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CibView {
    /// Whether this node's partition has quorum.
    pub have_quorum: bool,
    /// The promotable clone whose primitive manages the DRBD resource.
    pub clone_id: Option<String>,
    /// Whether the schema knows role="Promoted" (pacemaker-3.7 and later), else "Master".
    pub promoted_role_name: &'static str,
    /// Other nodes and their membership.
    pub peers: Vec<(String, PeerState)>,
    /// Whether the constraint with the handler's id exists.
    pub has_constraint: bool,
    /// The nodes that constraint still lets be promoted (its `#uname ne NODE` expressions);
    /// empty when there is no such constraint.
    pub constraint_allows: Vec<String>,
    /// The elected DC's node id (`dc-uuid` on the CIB's root), `None` while there is none.
    pub dc_uuid: Option<String>,
}

impl CibView {
    /// True when the handler's constraint exists and bans `node` from the Promoted role: a
    /// fence a peer placed against it, which `node` must never lift or overwrite.
    pub fn constraint_bans(&self, node: &str) -> bool {
        self.has_constraint && !self.constraint_allows.iter().any(|n| n == node)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// What the cluster knows of a peer node.
pub enum PeerState {
    /// A cluster member: reachable.
    Member,
    /// Cleanly out of the cluster (shut down or fenced).
    Down,
    /// Neither: lost without being fenced yet.
    Unclean,
}

/// The id of the constraint for `drbd_resource` on `clone_id`.
pub fn constraint_id(drbd_resource: &str, clone_id: &str) -> String {
    format!("{ID_PREFIX}-{drbd_resource}-{clone_id}")
}

fn schema_has_promoted(validate_with: &str) -> bool {
    // "pacemaker-3.7" and later name the role Promoted.
    let Some(v) = validate_with.strip_prefix("pacemaker-") else {
        return false;
    };
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (major, minor) >= (3, 7)
}

/// Read the parts of the CIB XML the handler needs. `me` is this node's cluster name.
pub fn parse_cib(
    xml: &str,
    drbd_resource: &str,
    me: &str,
    clone_hint: Option<&str>,
) -> Result<CibView, FenceError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| err(format!("CIB is not XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "cib" {
        return Err(err(format!(
            "CIB root is <{}>, not <cib>",
            root.tag_name().name()
        )));
    }
    let have_quorum = matches!(root.attribute("have-quorum"), Some("1") | Some("true"));
    let promoted_role_name = if schema_has_promoted(root.attribute("validate-with").unwrap_or("")) {
        "Promoted"
    } else {
        "Master"
    };
    let clone_id = match clone_hint {
        Some(c) => Some(c.to_string()),
        None => doc
            .descendants()
            .filter(|n| matches!(n.tag_name().name(), "clone" | "master"))
            .find(|c| {
                c.children()
                    .filter(|p| p.tag_name().name() == "primitive")
                    .any(|p| {
                        p.descendants().any(|nv| {
                            nv.tag_name().name() == "nvpair"
                                && nv.attribute("name") == Some("drbd_resource")
                                && nv.attribute("value") == Some(drbd_resource)
                        })
                    })
            })
            .and_then(|c| c.attribute("id"))
            .map(str::to_string),
    };
    let states: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "node_state")
        .collect();
    let mut peers = Vec::new();
    for n in doc.descendants().filter(|n| {
        n.tag_name().name() == "node" && n.parent().is_some_and(|p| p.tag_name().name() == "nodes")
    }) {
        let Some(name) = n.attribute("uname") else {
            continue;
        };
        if name == me {
            continue;
        }
        let st = states.iter().find(|s| s.attribute("uname") == Some(name));
        peers.push((name.to_string(), peer_state(st)));
    }
    let constraint = clone_id.as_ref().and_then(|c| {
        let id = constraint_id(drbd_resource, c);
        doc.descendants().find(|n| {
            n.tag_name().name() == "rsc_location" && n.attribute("id") == Some(id.as_str())
        })
    });
    // Only `#uname ne NODE` expressions exempt a node; a constraint of another shape under
    // this id exempts nobody (read as banning every node, this one included).
    let constraint_allows = constraint
        .map(|c| {
            c.descendants()
                .filter(|e| {
                    e.tag_name().name() == "expression"
                        && e.attribute("attribute") == Some("#uname")
                        && e.attribute("operation") == Some("ne")
                })
                .filter_map(|e| e.attribute("value").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(CibView {
        have_quorum,
        clone_id,
        promoted_role_name,
        peers,
        has_constraint: constraint.is_some(),
        constraint_allows,
        dc_uuid: root
            .attribute("dc-uuid")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
    })
}

/// Membership from a `node_state` element (Pacemaker 2.1: `in_ccm` is "true"/"false", later
/// versions write a timestamp for true; `crmd` is "online"/"offline"; `join` and `expected`
/// are "member"/"down").
fn peer_state(st: Option<&roxmltree::Node>) -> PeerState {
    let Some(st) = st else {
        // Never seen since the cluster started: not running.
        return PeerState::Down;
    };
    let in_ccm = st
        .attribute("in_ccm")
        .is_some_and(|v| v != "false" && v != "0");
    let crmd_online = st.attribute("crmd") == Some("online");
    if in_ccm && crmd_online {
        PeerState::Member
    } else if !in_ccm
        && st.attribute("join") != Some("member")
        && st.attribute("expected") != Some("member")
    {
        // Left cleanly, or fenced (the fencer records expected="down" after success).
        PeerState::Down
    } else {
        PeerState::Unclean
    }
}

/// The constraint XML: the Promoted role banned everywhere except on `allowed` nodes.
pub fn constraint_xml(
    drbd_resource: &str,
    clone_id: &str,
    role: &str,
    allowed: &[String],
) -> String {
    let id = constraint_id(drbd_resource, clone_id);
    let mut x = format!(
        "<rsc_location id=\"{}\" rsc=\"{}\"><rule id=\"{}-rule\" role=\"{}\" score=\"-INFINITY\" boolean-op=\"and\">",
        escape_xml(&id),
        escape_xml(clone_id),
        escape_xml(&id),
        role
    );
    for (i, node) in allowed.iter().enumerate() {
        x.push_str(&format!(
            "<expression id=\"{}-expr-{i}\" attribute=\"#uname\" operation=\"ne\" value=\"{}\"/>",
            escape_xml(&id),
            escape_xml(node)
        ));
    }
    x.push_str("</rule></rsc_location>");
    x
}

/// The nodes known to hold UpToDate data: this node, and DRBD 9 peers still connected with
/// every volume UpToDate (named by `conn-name`, which drbdadm sets to the peer's host name).
pub fn up_to_date_nodes(r: &Resource, me: &str) -> Vec<String> {
    let mut v = vec![me.to_string()];
    for c in r.connected_peers() {
        let good = !c.peer_devices.is_empty()
            && c.peer_devices
                .iter()
                .all(|p| p.peer_disk == axha_drbd::DiskState::UpToDate);
        if let (true, Some(name)) = (good, &c.conn_name) {
            if name != "peer" && !v.contains(name) {
                v.push(name.clone());
            }
        }
    }
    v
}

/// The CIB the handler reads and changes, through [`CibAdmin`], bounded.
pub struct Cib {
    /// `CIB_file` for the children (offline CIB), else the live cluster.
    pub file: Option<String>,
}

impl Cib {
    fn admin(&self) -> CibAdmin {
        match &self.file {
            Some(f) => CibAdmin::file(f),
            None => CibAdmin::live(),
        }
    }

    /// The whole CIB (or the CIB file).
    pub fn query(&self, deadline: &Deadline) -> Result<String, FenceError> {
        self.admin()
            .query(Target::Whole)
            .run(deadline)
            .map_err(|e| err(format!("reading the CIB: {e}")))
    }

    /// Create the constraint, or replace the one with the same id.
    pub fn put_constraint(
        &self,
        id: &str,
        xml: &str,
        exists: bool,
        deadline: &Deadline,
    ) -> Result<(), FenceError> {
        let cib = self.admin();
        let request = if exists {
            cib.replace(Target::XPath(&format!("//rsc_location[@id='{id}']")), xml)
        } else {
            cib.create("constraints", xml)
        };
        request
            .run(deadline)
            .map(|_| ())
            .map_err(|e| err(format!("placing constraint {id}: {e}")))
    }

    /// Remove the constraint with this id (absent is fine).
    pub fn delete_constraint(&self, id: &str, deadline: &Deadline) -> Result<(), FenceError> {
        self.admin()
            .delete(
                Target::Whole,
                Some(&format!("<rsc_location id=\"{}\"/>", escape_xml(id))),
            )
            .run(deadline)
            .map(|_| ())
            .map_err(|e| err(format!("removing constraint {id}: {e}")))
    }
}

/// How the handler confirms that this partition has quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuorumCheck {
    /// `have-quorum` in the CIB only (a CIB file with no cluster behind it to ask).
    CibOnly,
    /// `have-quorum` in the CIB, then `crm_node --quorum` (the membership layer's own
    /// answer, as crm-fence-peer.9.sh double-checks): both must say quorate.
    CibAndCrmNode,
}

/// The lock that serializes the handler's runs on one node (every resource and volume):
/// two runs must never read the CIB, decide and write the constraint interleaved.
pub const DEFAULT_LOCK_FILE: &str = "/run/drbd/axigen-ha-fence-peer.lock";

/// Where the agent's monitor records that it found `resource` in sync and checked the CIB
/// for a stale constraint (`unfence_if_all_uptodate`). The handler removes it whenever it
/// places a constraint, so the next monitor that finds everything in sync checks again,
/// even when the link came back between two monitors.
pub fn unfence_checked_marker(resource: &str) -> PathBuf {
    Path::new(DEFAULT_LOCK_FILE).with_file_name(format!("axigen-ha-unfence-checked.{resource}"))
}

/// How long the handler waits for a DC by default (crm-fence-peer.9.sh's `--dc-timeout`).
pub const DEFAULT_DC_TIMEOUT: Duration = Duration::from_secs(20);

/// The handler's settings.
pub struct Options {
    /// The DRBD resource being fenced.
    pub resource: String,
    /// Remove the constraint instead of placing it (unfence-peer).
    pub unfence: bool,
    /// Whole budget, including the waits for the lock, a DC and an unclean peer's fencing.
    pub timeout: Duration,
    /// How long, within `timeout`, to wait for a DC to be elected before giving up.
    pub dc_timeout: Duration,
    /// The promotable clone's id; found from the CIB when not given.
    pub clone_id: Option<String>,
    /// This node's cluster name; `crm_node -n` when not given.
    pub node_name: Option<String>,
    /// A CIB file to work on instead of the live cluster.
    pub cib_file: Option<String>,
    /// The DRBD configuration file (DRBD passes `DRBD_CONF`).
    pub drbd_conf: Option<String>,
    /// How quorum is confirmed before a constraint is placed.
    pub quorum: QuorumCheck,
    /// The lock file serializing runs on this node; `None` takes no lock.
    pub lock_file: Option<PathBuf>,
    /// When no constraint could be placed and this node is Primary, ask the cluster to fence
    /// this node (crm-fence-peer.9.sh's `--suicide-on-failure-if-primary`).
    pub suicide_on_failure_if_primary: bool,
}

impl Options {
    /// Settings for `resource` with every default: fence, 60 s, live CIB, both quorum
    /// checks, the default lock file, no self-fencing.
    pub fn new(resource: impl Into<String>) -> Options {
        Options {
            resource: resource.into(),
            unfence: false,
            timeout: Duration::from_secs(60),
            dc_timeout: DEFAULT_DC_TIMEOUT,
            clone_id: None,
            node_name: None,
            cib_file: None,
            drbd_conf: None,
            quorum: QuorumCheck::CibAndCrmNode,
            lock_file: Some(PathBuf::from(DEFAULT_LOCK_FILE)),
            suicide_on_failure_if_primary: false,
        }
    }

    fn cib(&self) -> Cib {
        Cib {
            file: self.cib_file.clone(),
        }
    }
}

/// Log lines for the caller (DRBD logs the handler's output in the kernel log).
pub type Log<'a> = &'a mut dyn FnMut(&str);

/// This node's name as the cluster knows it.
fn node_name(opts: &Options, deadline: &Deadline) -> Result<String, FenceError> {
    if let Some(n) = &opts.node_name {
        return Ok(n.clone());
    }
    let out = Cmd::new("crm_node")
        .arg("-n")
        .run_ok(deadline)
        .map_err(|e| err(format!("asking crm_node for this node's name: {e}")))?;
    let n = out.stdout_str().trim().to_string();
    if n.is_empty() {
        return Err(err("crm_node -n printed no name"));
    }
    Ok(n)
}

/// A name that goes into the constraint's id and an XPath, and to drbdsetup: the characters of
/// an XML id only (letters, digits, `_`, `-`, `.`), so that no value can change the CIB query
/// or update.
fn check_id_part(what: &str, value: &str) -> Result<(), String> {
    // `all` and a leading `-` would reach drbdsetup as every resource or as an option.
    let ok = !value.is_empty()
        && value != "all"
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {:?} is not a usable name (letters, digits, _ - . only; not all, no leading -)",
            axha_exec::escape_controls(value)
        ))
    }
}

/// Run the handler; returns the exit code.
pub fn run(opts: &Options, log: Log) -> i32 {
    let names = check_id_part("resource", &opts.resource).and_then(|_| {
        opts.clone_id
            .as_deref()
            .map_or(Ok(()), |c| check_id_part("clone id", c))
    });
    if let Err(e) = names {
        log(&format!("ERROR: {e}"));
        return EXIT_FAILED;
    }
    let deadline = Deadline::after(opts.timeout);
    // Held until this function returns: the lock is released when the file is closed.
    let _lock = match &opts.lock_file {
        None => None,
        Some(path) => match NodeLock::acquire(path, &deadline) {
            Ok(l) => Some(l),
            Err(e) => {
                log(&format!("ERROR: {e}"));
                return EXIT_FAILED;
            }
        },
    };
    let mut drbd = Drbd::new();
    if let Some(c) = &opts.drbd_conf {
        drbd = drbd.config(c);
    }
    let cib = opts.cib();
    let state = drbd.status(&opts.resource, &deadline);
    let result = match &state {
        Err(e) => Err(err(format!("reading DRBD state of {}: {e}", opts.resource))),
        Ok(None) => Err(err(format!("{} is not configured here", opts.resource))),
        Ok(Some(r)) => {
            if opts.unfence {
                unfence(opts, r, &cib, &deadline, log)
            } else {
                fence(opts, r, &cib, &deadline, log)
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            log(&format!("ERROR: {e}"));
            if !opts.unfence && opts.suicide_on_failure_if_primary {
                if let Ok(Some(r)) = &state {
                    self_fence_if_primary(opts, r, &deadline, log);
                }
            }
            EXIT_FAILED
        }
    }
}

/// The node attribute that makes Pacemaker's scheduler fence the node it is set for.
pub const TERMINATE_ATTRIBUTE: &str = "terminate";

/// `--suicide-on-failure-if-primary`: this node is Primary and could not fence its peer, so
/// its writes may be lost to a split brain; it asks the cluster to fence it. The
/// cluster-native way is the `terminate` node attribute (as crm-fence-peer.9.sh sets it):
/// the DC fences the node with the configured devices and records it in the fencing history,
/// and no second fencing races the one the cluster may already be running. Nothing reboots
/// the machine behind Pacemaker's back (no sysrq, no `reboot -f`).
fn self_fence_if_primary(opts: &Options, r: &Resource, deadline: &Deadline, log: Log) {
    if r.role != axha_drbd::Role::Primary {
        log(&format!("{} is {} here: no self-fencing", r.name, r.role));
        return;
    }
    let me = match node_name(opts, deadline) {
        Ok(me) => me,
        Err(e) => {
            log(&format!("ERROR: cannot ask for self-fencing: {e}"));
            return;
        }
    };
    let mut cmd = Cmd::new(axha_ocf::promotion::CRM_ATTRIBUTE)
        .args(["-t", "status", "-N"])
        .arg(&me)
        .args(["-n", TERMINATE_ATTRIBUTE, "-v", "true"]);
    if let Some(f) = &opts.cib_file {
        cmd = cmd.env(axha_ocf::cibadmin::CIB_FILE, f);
    }
    match cmd.run_ok(deadline) {
        Ok(_) => log(&format!(
            "WARNING: {} is Primary without a fencing constraint: asked the cluster to fence {me} ({TERMINATE_ATTRIBUTE}=true)",
            r.name
        )),
        Err(e) => log(&format!("ERROR: asking the cluster to fence {me}: {e}")),
    }
}

/// An exclusive `flock` on the handler's lock file, released when dropped (or when the
/// process ends, whatever ends it).
pub struct NodeLock {
    _file: std::fs::File,
}

impl NodeLock {
    /// Take the lock, waiting for another run to release it until `deadline`.
    pub fn acquire(path: &Path, deadline: &Deadline) -> Result<NodeLock, FenceError> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent() {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| err(format!("opening lock file {}: {e}", path.display())))?;
        let fd = file.as_raw_fd();
        let got = deadline.poll(Duration::from_millis(100), || {
            // SAFETY: flock on a descriptor this function owns; non-blocking.
            let rc = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
            (rc == 0).then_some(())
        });
        match got {
            Some(()) => Ok(NodeLock { _file: file }),
            None => Err(err(format!(
                "another drbd-fence-peer run holds {} past this run's timeout",
                path.display()
            ))),
        }
    }
}

/// Re-read the CIB until it names a DC, for at most `dc_timeout` (within `deadline`): a
/// constraint cannot be placed while the cluster elects one, and an election after the DC
/// was lost takes seconds.
fn query_with_dc(
    opts: &Options,
    cib: &Cib,
    resource: &str,
    me: &str,
    deadline: &Deadline,
    log: Log,
) -> Result<CibView, FenceError> {
    let wait = deadline.within(opts.dc_timeout);
    let mut said = false;
    loop {
        let view = parse_cib(
            &cib.query(deadline)?,
            resource,
            me,
            opts.clone_id.as_deref(),
        )?;
        if view.dc_uuid.is_some() {
            return Ok(view);
        }
        if !said {
            log(&format!(
                "no DC yet: waiting up to {}s for the cluster to elect one",
                opts.dc_timeout.as_secs()
            ));
            said = true;
        }
        if !wait.sleep(Duration::from_secs(1)) {
            return Err(err(format!(
                "no DC was elected within {}s: placing no constraint",
                opts.dc_timeout.as_secs()
            )));
        }
    }
}

/// Pacemaker's exit code for "no quorum" (CRM_EX_QUORUM, crm/common/results.h): what
/// `crm_node --quorum` exits with, after printing 0, in a partition without quorum.
const CRM_EX_QUORUM: i32 = 106;

/// `crm_node --quorum`: the cluster layer's own word on quorum (prints 1 or 0).
fn crm_node_quorum(opts: &Options, deadline: &Deadline) -> Result<bool, FenceError> {
    let mut cmd = Cmd::new("crm_node").arg("--quorum");
    if let Some(f) = &opts.cib_file {
        cmd = cmd.env(axha_ocf::cibadmin::CIB_FILE, f);
    }
    let out = cmd
        .run(deadline)
        .map_err(|e| err(format!("asking crm_node --quorum: {e}")))?;
    parse_crm_node_quorum(out.code(), &out.stdout_str()).ok_or_else(|| {
        err(format!(
            "crm_node --quorum exited {:?} printing {:?}: quorum unknown",
            out.code(),
            axha_exec::escape_controls(out.stdout_str().trim())
        ))
    })
}

/// What `crm_node --quorum` says: `Some(true)` for 1 (exit 0), `Some(false)` for 0 or exit
/// [`CRM_EX_QUORUM`], `None` for anything else (the answer is unknown: not quorate).
fn parse_crm_node_quorum(code: Option<i32>, stdout: &str) -> Option<bool> {
    match (code, stdout.trim()) {
        (Some(0), "1") => Some(true),
        (Some(0), "0") | (Some(CRM_EX_QUORUM), "0" | "") => Some(false),
        _ => None,
    }
}

/// The fence-peer side, given this node's DRBD state.
pub fn fence(
    opts: &Options,
    r: &Resource,
    cib: &Cib,
    deadline: &Deadline,
    log: Log,
) -> Result<i32, FenceError> {
    if !r.all_up_to_date() {
        return Err(err(format!(
            "{}: local data is {}, not UpToDate: placing no constraint",
            r.name,
            r.local_disk()
        )));
    }
    let me = node_name(opts, deadline)?;
    // The CIB is re-read until the peers' fate is known or the budget (less a margin to write
    // the constraint) is spent: an unclean peer is usually fenced within seconds.
    let wait = deadline.less(Duration::from_secs(3));
    let mut view;
    loop {
        view = query_with_dc(opts, cib, &r.name, &me, deadline, log)?;
        if !view.have_quorum {
            return Err(err("this partition has no quorum: placing no constraint"));
        }
        let unclean = view.peers.iter().any(|(_, s)| *s == PeerState::Unclean);
        if !unclean || !wait.sleep(Duration::from_secs(1)) {
            break;
        }
    }
    if opts.quorum == QuorumCheck::CibAndCrmNode && !crm_node_quorum(opts, deadline)? {
        return Err(err(
            "crm_node --quorum says this partition has no quorum (the CIB still says it has): placing no constraint",
        ));
    }
    let clone = view.clone_id.clone().ok_or_else(|| {
        err(format!(
            "no promotable clone manages drbd_resource={} in the CIB",
            r.name
        ))
    })?;
    let id = constraint_id(&r.name, &clone);
    if view.constraint_bans(&me) {
        // A peer fenced this node first: its data is the one to keep. Overwriting the
        // constraint would lift a fence placed against this node.
        return Err(err(format!(
            "constraint {id} already bans {me} from the Promoted role (placed by a peer): not replacing it"
        )));
    }
    let allowed = up_to_date_nodes(r, &me);
    let xml = constraint_xml(&r.name, &clone, view.promoted_role_name, &allowed);
    cib.put_constraint(&id, &xml, view.has_constraint, deadline)?;
    let _ = std::fs::remove_file(unfence_checked_marker(&r.name));
    let code = if view.peers.iter().all(|(_, s)| *s == PeerState::Member) {
        EXIT_PEER_OUTDATED
    } else if view.peers.iter().all(|(_, s)| *s != PeerState::Unclean) {
        EXIT_PEER_FENCED
    } else {
        EXIT_PEER_UNREACHABLE
    };
    log(&format!(
        "placed constraint {id}: {} promoted only on {}; exit {code}",
        clone,
        allowed.join(", ")
    ));
    Ok(code)
}

/// Who may remove the handler's constraint in [`lift_constraint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lift {
    /// Any node whose data is UpToDate: DRBD's after-resync-target / unfence-peer handler,
    /// which runs on the node the constraint banned, once its resync is done.
    AnyUpToDateNode,
    /// Only a node the constraint still lets be promoted (the agent's monitor: a node never
    /// lifts a fence placed against itself on its own reading of the state).
    OnlyIfAllowed,
}

/// The one way the handler's constraint is removed, for `drbd-fence-peer --unfence` and for
/// the agent's monitor alike: only when this node's data is UpToDate, only the constraint
/// with the handler's id, and (with [`Lift::OnlyIfAllowed`]) only when it does not ban `me`.
/// Returns the id of the constraint removed, `None` when nothing was removed (the reason is
/// logged).
pub fn lift_constraint(
    r: &Resource,
    me: &str,
    clone_hint: Option<&str>,
    who: Lift,
    cib: &Cib,
    deadline: &Deadline,
    log: Log,
) -> Result<Option<String>, FenceError> {
    if !r.all_up_to_date() {
        log(&format!(
            "{}: local data is {}, keeping the constraint",
            r.name,
            r.local_disk()
        ));
        return Ok(None);
    }
    let view = parse_cib(&cib.query(deadline)?, &r.name, me, clone_hint)?;
    let Some(clone) = view.clone_id.as_deref() else {
        log(&format!(
            "no promotable clone manages drbd_resource={}: nothing to remove",
            r.name
        ));
        return Ok(None);
    };
    let id = constraint_id(&r.name, clone);
    if !view.has_constraint {
        return Ok(None);
    }
    if who == Lift::OnlyIfAllowed && view.constraint_bans(me) {
        log(&format!(
            "constraint {id} bans {me}: leaving it for a node it allows"
        ));
        return Ok(None);
    }
    cib.delete_constraint(&id, deadline)?;
    log(&format!("removed constraint {id}"));
    Ok(Some(id))
}

/// The unfence side (`--unfence`): remove this handler's constraint once the local data is
/// UpToDate.
pub fn unfence(
    opts: &Options,
    r: &Resource,
    cib: &Cib,
    deadline: &Deadline,
    log: Log,
) -> Result<i32, FenceError> {
    let me = opts.node_name.clone().unwrap_or_default();
    lift_constraint(
        r,
        &me,
        opts.clone_id.as_deref(),
        Lift::AnyUpToDateNode,
        cib,
        deadline,
        log,
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_that_would_change_the_cib_query_are_refused() {
        assert!(super::check_id_part("resource", "r0").is_ok());
        assert!(super::check_id_part("resource", "web-data_1.a").is_ok());
        for bad in ["r0']|//*[@id='x", "r 0", "", "r\n0", "all", "-v", "r\u{85}"] {
            assert!(super::check_id_part("resource", bad).is_err(), "{bad:?}");
        }
    }

    use super::*;

    #[test]
    fn crm_node_quorum_answers() {
        assert_eq!(parse_crm_node_quorum(Some(0), "1\n"), Some(true));
        assert_eq!(parse_crm_node_quorum(Some(0), "0\n"), Some(false));
        assert_eq!(parse_crm_node_quorum(Some(106), "0\n"), Some(false));
        assert_eq!(parse_crm_node_quorum(Some(106), ""), Some(false));
        assert_eq!(parse_crm_node_quorum(Some(102), ""), None);
        assert_eq!(parse_crm_node_quorum(Some(0), "yes"), None);
        assert_eq!(parse_crm_node_quorum(None, "1"), None);
    }

    const CIB: &str = r#"<cib validate-with="pacemaker-3.9" have-quorum="1" epoch="5" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config/>
    <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
    <resources>
      <clone id="drbd-mail-clone">
        <meta_attributes id="m"><nvpair id="m-p" name="promotable" value="true"/></meta_attributes>
        <primitive id="drbd-mail" class="ocf" provider="axigen" type="drbd">
          <instance_attributes id="ia"><nvpair id="ia-r" name="drbd_resource" value="r0"/></instance_attributes>
        </primitive>
      </clone>
    </resources>
    <constraints/>
  </configuration>
  <status>
    <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
    <node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="member"/>
  </status>
</cib>"#;

    #[test]
    fn reads_quorum_clone_and_peers() {
        let v = parse_cib(CIB, "r0", "node1", None).unwrap();
        assert!(v.have_quorum);
        assert_eq!(v.clone_id.as_deref(), Some("drbd-mail-clone"));
        assert_eq!(v.promoted_role_name, "Promoted");
        assert_eq!(v.peers, vec![("node2".to_string(), PeerState::Unclean)]);
        assert!(!v.has_constraint);
        let down = CIB.replace(
            "join=\"down\" expected=\"member\"",
            "join=\"down\" expected=\"down\"",
        );
        assert_eq!(
            parse_cib(&down, "r0", "node1", None).unwrap().peers[0].1,
            PeerState::Down
        );
        let member = CIB.replace(
            "in_ccm=\"false\" crmd=\"offline\"",
            "in_ccm=\"true\" crmd=\"online\"",
        );
        assert_eq!(
            parse_cib(&member, "r0", "node1", None).unwrap().peers[0].1,
            PeerState::Member
        );
        let noq = CIB.replace("have-quorum=\"1\"", "have-quorum=\"0\"");
        assert!(!parse_cib(&noq, "r0", "node1", None).unwrap().have_quorum);
        let old = CIB.replace("pacemaker-3.9", "pacemaker-3.0");
        assert_eq!(
            parse_cib(&old, "r0", "node1", None)
                .unwrap()
                .promoted_role_name,
            "Master"
        );
        assert_eq!(parse_cib(CIB, "r9", "node1", None).unwrap().clone_id, None);
        assert!(parse_cib("<nope", "r0", "n", None).is_err());
        assert!(parse_cib("<html/>", "r0", "n", None).is_err());
    }

    #[test]
    fn constraint_bans_all_but_up_to_date_nodes() {
        let x = constraint_xml("r0", "c", "Promoted", &["node1".into(), "a\"b".into()]);
        assert!(x.starts_with("<rsc_location id=\"drbd-fence-by-handler-r0-c\" rsc=\"c\">"));
        assert!(x.contains("role=\"Promoted\" score=\"-INFINITY\""));
        assert!(x.contains("operation=\"ne\" value=\"node1\""));
        assert!(x.contains("value=\"a&quot;b\""), "{x}");
        roxmltree::Document::parse(&x).expect("well-formed");
    }
}
