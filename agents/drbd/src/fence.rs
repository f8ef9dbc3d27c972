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
    let has_constraint = clone_id.as_ref().is_some_and(|c| {
        let id = constraint_id(drbd_resource, c);
        doc.descendants().any(|n| {
            n.tag_name().name() == "rsc_location" && n.attribute("id") == Some(id.as_str())
        })
    });
    Ok(CibView {
        have_quorum,
        clone_id,
        promoted_role_name,
        peers,
        has_constraint,
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

/// The handler's settings.
pub struct Options {
    /// The DRBD resource being fenced.
    pub resource: String,
    /// Remove the constraint instead of placing it (unfence-peer).
    pub unfence: bool,
    /// Whole budget, including the wait for an unclean peer to be fenced.
    pub timeout: Duration,
    /// The promotable clone's id; found from the CIB when not given.
    pub clone_id: Option<String>,
    /// This node's cluster name; `crm_node -n` when not given.
    pub node_name: Option<String>,
    /// A CIB file to work on instead of the live cluster.
    pub cib_file: Option<String>,
    /// The DRBD configuration file (DRBD passes `DRBD_CONF`).
    pub drbd_conf: Option<String>,
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
    let mut drbd = Drbd::new();
    if let Some(c) = &opts.drbd_conf {
        drbd = drbd.config(c);
    }
    let cib = Cib {
        file: opts.cib_file.clone(),
    };
    let result = match drbd.status(&opts.resource, &deadline) {
        Err(e) => Err(err(format!("reading DRBD state of {}: {e}", opts.resource))),
        Ok(None) => Err(err(format!("{} is not configured here", opts.resource))),
        Ok(Some(r)) => {
            if opts.unfence {
                unfence(opts, &r, &cib, &deadline, log)
            } else {
                fence(opts, &r, &cib, &deadline, log)
            }
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            log(&format!("ERROR: {e}"));
            EXIT_FAILED
        }
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
        view = parse_cib(
            &cib.query(deadline)?,
            &r.name,
            &me,
            opts.clone_id.as_deref(),
        )?;
        if !view.have_quorum {
            return Err(err("this partition has no quorum: placing no constraint"));
        }
        let unclean = view.peers.iter().any(|(_, s)| *s == PeerState::Unclean);
        if !unclean || !wait.sleep(Duration::from_secs(1)) {
            break;
        }
    }
    let clone = view.clone_id.clone().ok_or_else(|| {
        err(format!(
            "no promotable clone manages drbd_resource={} in the CIB",
            r.name
        ))
    })?;
    let allowed = up_to_date_nodes(r, &me);
    let id = constraint_id(&r.name, &clone);
    let xml = constraint_xml(&r.name, &clone, view.promoted_role_name, &allowed);
    cib.put_constraint(&id, &xml, view.has_constraint, deadline)?;
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

/// The unfence side: remove this handler's constraint once the local data is UpToDate.
pub fn unfence(
    opts: &Options,
    r: &Resource,
    cib: &Cib,
    deadline: &Deadline,
    log: Log,
) -> Result<i32, FenceError> {
    if !r.all_up_to_date() {
        log(&format!(
            "{}: local data is {}, keeping the constraint",
            r.name,
            r.local_disk()
        ));
        return Ok(0);
    }
    let me = opts.node_name.clone().unwrap_or_default();
    let view = parse_cib(
        &cib.query(deadline)?,
        &r.name,
        &me,
        opts.clone_id.as_deref(),
    )?;
    let Some(clone) = view.clone_id else {
        log(&format!(
            "no promotable clone manages drbd_resource={}: nothing to remove",
            r.name
        ));
        return Ok(0);
    };
    let id = constraint_id(&r.name, &clone);
    if view.has_constraint {
        cib.delete_constraint(&id, deadline)?;
        log(&format!("removed constraint {id}"));
    }
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
