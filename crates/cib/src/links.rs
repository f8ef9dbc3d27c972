//! Corosync's links as this node sees them (`corosync-cfgtool -s`, knet): one entry per link
//! with the state of every peer on it. A cluster with two links loses no node when one is
//! cut, so the only sign of the cut is here: a link on which a peer is `disconnected`.
//!
//! The text of `corosync-cfgtool -s` (corosync 3.1) is the only form the tool offers:
//!
//! ```text
//! Local node ID 2, transport knet
//! LINK ID 0 udp
//!     addr    = 10.231.0.2
//!     status:
//!             nodeid:          1:     connected
//!             nodeid:          2:     localhost
//! ```

use std::time::Duration;

use axha_exec::{Cmd, Deadline};
use serde::Serialize;

use crate::CibError;

/// One peer's state on one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkPeer {
    /// Corosync node id.
    pub nodeid: u32,
    /// `connected`, `disconnected`, `localhost`, or what a newer corosync says.
    pub state: String,
}

impl LinkPeer {
    /// Neither connected nor this node itself.
    pub fn is_down(&self) -> bool {
        !matches!(self.state.as_str(), "connected" | "localhost")
    }
}

/// One corosync link of this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkStatus {
    /// Link number (`ring<N>_addr` in corosync.conf).
    pub link: u32,
    /// This node's address on it.
    pub addr: String,
    /// Every node on the link, this one included.
    pub peers: Vec<LinkPeer>,
}

impl LinkStatus {
    /// The peers this node cannot reach over this link.
    pub fn down_peers(&self) -> Vec<u32> {
        self.peers
            .iter()
            .filter(|p| p.is_down())
            .map(|p| p.nodeid)
            .collect()
    }
}

/// Parse `corosync-cfgtool -s`. Lines it does not know are skipped (corosync adds some);
/// text without a single `LINK ID` is an error (not that tool's output, or corosync down).
pub fn parse_cfgtool_status(text: &str) -> Result<Vec<LinkStatus>, CibError> {
    let bad = |detail: String| CibError::Parse {
        what: "corosync-cfgtool -s".into(),
        detail,
    };
    let mut links: Vec<LinkStatus> = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("LINK ID ") {
            let id = rest.split_whitespace().next().unwrap_or_default();
            let link = id
                .parse()
                .map_err(|_| bad(format!("link id {id:?} is not a number")))?;
            links.push(LinkStatus {
                link,
                addr: String::new(),
                peers: Vec::new(),
            });
        } else if let Some(cur) = links.last_mut() {
            if let Some(a) = l.strip_prefix("addr") {
                cur.addr = a.trim_start().trim_start_matches('=').trim().to_string();
            } else if let Some(rest) = l.strip_prefix("nodeid:") {
                // "nodeid:          1:	connected"
                let (id, state) = rest
                    .split_once(':')
                    .ok_or_else(|| bad(format!("peer line {l:?}")))?;
                let nodeid = id
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("node id {:?} is not a number", id.trim())))?;
                cur.peers.push(LinkPeer {
                    nodeid,
                    state: state.trim().to_string(),
                });
            }
        }
    }
    if links.is_empty() {
        return Err(bad("no LINK ID line".into()));
    }
    Ok(links)
}

/// One line per link for an operator: `link 0 (10.0.0.1): all connected` or
/// `link 1 (10.0.1.1): DEGRADED, node 3 disconnected`.
pub fn describe(links: &[LinkStatus], name_of: impl Fn(u32) -> Option<String>) -> Vec<String> {
    links
        .iter()
        .map(|l| {
            let down: Vec<String> = l
                .peers
                .iter()
                .filter(|p| p.is_down())
                .map(|p| {
                    let who = name_of(p.nodeid).unwrap_or_else(|| format!("node {}", p.nodeid));
                    format!("{who} {}", p.state)
                })
                .collect();
            if down.is_empty() {
                format!("link {} ({}): all connected", l.link, l.addr)
            } else {
                format!(
                    "link {} ({}): DEGRADED, {}",
                    l.link,
                    l.addr,
                    down.join(", ")
                )
            }
        })
        .collect()
}

/// Ask this node's corosync (`corosync-cfgtool -s`).
pub fn query_links(timeout: Duration) -> Result<Vec<LinkStatus>, CibError> {
    // The exit status says whether every link is up (it is not an error): read the text.
    let out = Cmd::new("corosync-cfgtool")
        .arg("-s")
        .run(&Deadline::after(timeout))?;
    let text = out.stdout_str();
    if !text.contains("LINK ID") {
        return Err(CibError::ClusterUnavailable {
            tool: "corosync-cfgtool".into(),
            code: out.code(),
            message: out.stderr_str().trim().to_string(),
        });
    }
    parse_cfgtool_status(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    // corosync 3.1.7 (Debian 12) on n1 of a 3-node lab with n1's second cable cut.
    const ONE_CUT: &str = "Local node ID 1, transport knet
LINK ID 0 udp
\taddr\t= 10.231.0.1
\tstatus:
\t\tnodeid:          1:\tlocalhost
\t\tnodeid:          2:\tconnected
\t\tnodeid:          3:\tconnected
LINK ID 1 udp
\taddr\t= 10.231.3.1
\tstatus:
\t\tnodeid:          1:\tlocalhost
\t\tnodeid:          2:\tdisconnected
\t\tnodeid:          3:\tdisconnected
";

    #[test]
    fn recorded_output_with_a_cut_link() {
        let l = parse_cfgtool_status(ONE_CUT).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].addr, "10.231.0.1");
        assert!(l[0].down_peers().is_empty());
        assert_eq!(l[1].link, 1);
        assert_eq!(l[1].down_peers(), vec![2, 3]);
        let d = describe(&l, |id| (id == 2).then(|| "n2".to_string()));
        assert_eq!(d[0], "link 0 (10.231.0.1): all connected");
        assert_eq!(
            d[1],
            "link 1 (10.231.3.1): DEGRADED, n2 disconnected, node 3 disconnected"
        );
    }

    #[test]
    fn unknown_lines_are_skipped_garbage_is_an_error() {
        let more = ONE_CUT.replace("\tstatus:\n", "\tstatus:\n\tmtu: 1446\n");
        assert_eq!(parse_cfgtool_status(&more).unwrap().len(), 2);
        for bad in [
            "",
            "Could not initialize corosync configuration API error 2",
            "LINK ID x udp",
            "LINK ID 0 udp\n\t\tnodeid: one: connected",
        ] {
            let e = parse_cfgtool_status(bad).unwrap_err().to_string();
            assert!(e.contains("corosync-cfgtool"), "{bad:?}: {e}");
        }
    }
}
