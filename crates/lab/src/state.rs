//! The lab's record of itself (`<state_dir>/lab.conf`): what was built and who owns it, so a
//! later process (the CLI, or the next `up` after an interrupted run) can attach to it or
//! clean it up.

use std::path::{Path, PathBuf};

use axha_exec::ProcessIdentity;

use crate::spec::{validate_name, Fencing, NodeKind, MAX_NODES};
use crate::LabError;

/// The lab's record, in its state directory.
pub const CONF_FILE: &str = "lab.conf";

/// Whether the lab is (supposed to be) running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Built and not torn down.
    Up,
    /// Torn down (its logs may remain).
    Down,
}

/// Contents of `lab.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConf {
    /// The lab's name.
    pub name: String,
    /// How many nodes it has (n1..nN).
    pub nodes: usize,
    /// corosync's token timeout in ms, when set.
    pub token_ms: Option<u32>,
    /// How nodes are fenced.
    pub fencing: Fencing,
    /// The `axha-lab-node` binary that anchors nodes and applies BMC power changes.
    pub helper: PathBuf,
    /// Directory overlaid onto each node's /usr/sbin (our fence agent), if any.
    pub sbin: Option<PathBuf>,
    /// Directory overlaid onto each node's OCF agents (ours), if any.
    pub ocf: Option<PathBuf>,
    /// Up or torn down.
    pub phase: Phase,
    /// The stonith agent of the lab's fence devices (empty without fencing).
    pub fence_agent: String,
    /// Namespaces or VMs.
    pub kind: NodeKind,
    /// A switched PDU is the second fencing level.
    pub pdu: bool,
    /// Corosync links (1 or 2).
    pub links: u8,
    /// The process that built the lab and tears it down when it ends (a test); `None` when the
    /// lab was left running on purpose (the CLI's `lab up`).
    pub owner: Option<ProcessIdentity>,
}

impl LabConf {
    /// The `key=value` lines of `lab.conf`.
    pub fn render(&self) -> String {
        let opt = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let mut s = String::new();
        let mut kv = |k: &str, v: String| {
            s.push_str(k);
            s.push('=');
            s.push_str(&v);
            s.push('\n');
        };
        kv("name", self.name.clone());
        kv("nodes", self.nodes.to_string());
        kv(
            "token",
            self.token_ms.map(|t| t.to_string()).unwrap_or_default(),
        );
        kv("fencing", self.fencing.to_string());
        kv("helper", self.helper.display().to_string());
        kv("sbin", opt(&self.sbin).unwrap_or_default());
        kv("ocf", opt(&self.ocf).unwrap_or_default());
        kv("fence_agent", self.fence_agent.clone());
        kv("kind", self.kind.as_str().into());
        kv("pdu", if self.pdu { "yes" } else { "no" }.into());
        kv("links", self.links.to_string());
        kv(
            "phase",
            match self.phase {
                Phase::Up => "up",
                Phase::Down => "down",
            }
            .into(),
        );
        kv(
            "owner",
            self.owner
                .as_ref()
                .map(ProcessIdentity::to_line)
                .unwrap_or_default(),
        );
        s
    }

    /// Read `lab.conf` text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, LabError> {
        let bad = |reason: String| LabError::BadState {
            path: path.to_path_buf(),
            reason,
        };
        let get = |k: &str| -> Option<&str> {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
        };
        let need = |k: &str| get(k).ok_or_else(|| bad(format!("missing {k}")));
        let path_opt = |k: &str| get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let name = need("name")?.to_string();
        validate_name(&name).map_err(|e| bad(e.to_string()))?;
        let nodes: usize = need("nodes")?
            .parse()
            .ok()
            .filter(|n| (1..=MAX_NODES).contains(n))
            .ok_or_else(|| bad("nodes is not 1..8".into()))?;
        let token_ms = match need("token")? {
            "" => None,
            t => Some(t.parse().map_err(|_| bad(format!("bad token {t:?}")))?),
        };
        let fencing = need("fencing")?
            .parse()
            .map_err(|e: LabError| bad(e.to_string()))?;
        let phase = match need("phase")? {
            "up" => Phase::Up,
            "down" => Phase::Down,
            p => return Err(bad(format!("bad phase {p:?}"))),
        };
        let owner = match get("owner").unwrap_or_default() {
            "" => None,
            l => Some(
                ProcessIdentity::parse_line(l).ok_or_else(|| bad(format!("bad owner {l:?}")))?,
            ),
        };
        Ok(LabConf {
            name,
            nodes,
            token_ms,
            fencing,
            helper: PathBuf::from(need("helper")?),
            sbin: path_opt("sbin"),
            ocf: path_opt("ocf"),
            phase,
            fence_agent: get("fence_agent").unwrap_or_default().to_string(),
            kind: match get("kind").unwrap_or("namespace") {
                "namespace" => NodeKind::Namespace,
                "vm" => NodeKind::Vm,
                k => return Err(bad(format!("bad kind {k:?}"))),
            },
            // absent in the record of a lab built before these options: their defaults
            pdu: match get("pdu").unwrap_or("no") {
                "yes" => true,
                "no" => false,
                p => return Err(bad(format!("bad pdu {p:?}"))),
            },
            links: match get("links").unwrap_or("1") {
                "1" => 1,
                "2" => 2,
                l => return Err(bad(format!("bad links {l:?}"))),
            },
            owner,
        })
    }

    /// The record in `state_dir`, `None` when there is none.
    pub fn read(state_dir: &Path) -> Result<Option<Self>, LabError> {
        let p = state_dir.join(CONF_FILE);
        match std::fs::read_to_string(&p) {
            Ok(t) => Self::parse(&t, &p).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LabError::io(p, e)),
        }
    }

    /// Write atomically (tmp + rename): a reader never sees half a file.
    pub fn write(&self, state_dir: &Path) -> Result<(), LabError> {
        let p = state_dir.join(CONF_FILE);
        let tmp = state_dir.join(format!("{CONF_FILE}.tmp"));
        std::fs::write(&tmp, self.render()).map_err(|e| LabError::io(&tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| LabError::io(&p, e))
    }

    /// Up, owned by a process that is gone: the leftovers of a crashed or interrupted run.
    pub fn is_stale(&self) -> bool {
        self.phase == Phase::Up && self.owner.as_ref().is_some_and(|o| !o.is_alive())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LabConf {
        LabConf {
            name: "t1".into(),
            nodes: 3,
            token_ms: Some(1000),
            fencing: Fencing::Disabled,
            helper: "/x/axha-lab-node".into(),
            sbin: Some("/s".into()),
            ocf: None,
            phase: Phase::Up,
            fence_agent: "fence_ipmilan".into(),
            kind: NodeKind::Vm,
            pdu: true,
            links: 2,
            owner: axha_exec::read_identity(std::process::id()),
        }
    }

    #[test]
    fn roundtrip() {
        let c = sample();
        let back = LabConf::parse(&c.render(), Path::new("/p")).unwrap();
        assert_eq!(back, c);
        assert!(!c.is_stale(), "we are alive");
        let detached = LabConf {
            owner: None,
            token_ms: None,
            ..c
        };
        assert_eq!(
            LabConf::parse(&detached.render(), Path::new("/p")).unwrap(),
            detached
        );
        assert!(!detached.is_stale());
    }

    #[test]
    fn dead_owner_is_stale() {
        let mut c = sample();
        let o = c.owner.as_mut().unwrap();
        o.start_time += 1;
        assert!(c.is_stale());
        c.phase = Phase::Down;
        assert!(!c.is_stale());
    }

    #[test]
    fn bad_files_name_the_problem() {
        let good = sample().render();
        for (from, to, what) in [
            ("nodes=3", "nodes=99", "nodes"),
            ("name=t1", "name=BAD", "name"),
            ("phase=up", "phase=sideways", "phase"),
            ("token=1000", "token=x", "token"),
            ("fencing=none", "fencing=rope", "fencing"),
            ("links=2", "links=7", "links"),
            ("pdu=yes", "pdu=maybe", "pdu"),
        ] {
            let e = LabConf::parse(&good.replace(from, to), Path::new("/p/lab.conf"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(what) && e.contains("/p/lab.conf"), "{e}");
        }
        assert!(LabConf::parse("", Path::new("/p")).is_err());
    }
}
