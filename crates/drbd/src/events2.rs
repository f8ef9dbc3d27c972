//! The resource model, built from `drbdsetup events2 --now [--statistics]` output.
//!
//! Format (drbdsetup(8), "events2"): one object per line, `[TIMESTAMP] EVENT TYPE key:value...`
//! where EVENT is `exists` for the initial dump (`--now`), TYPE one of `resource`,
//! `connection`, `device`, `peer-device`, `path`; `exists -` ends the dump. drbd-utils 9 prints
//! the same format for a DRBD 8.4 kernel (one peer, `peer-node-id:0`, `conn-name:peer`).
//! Keys this model does not use are ignored (DRBD adds keys over time); a known key with a value
//! outside its table is an error, because a state the agent does not understand must never be
//! read as a good one.

use std::collections::BTreeMap;
use std::fmt;

use crate::state::{ConnectionState, DiskState, ReplicationState, Role, UnknownState};

/// Why a line of events2 output could not be used. Keeps the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line does not have the `EVENT TYPE key:value...` shape.
    Malformed {
        /// The line.
        line: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A required key is missing.
    MissingKey {
        /// The line.
        line: String,
        /// The key it lacks.
        key: &'static str,
    },
    /// A key's value is not valid for it.
    BadValue {
        /// The line.
        line: String,
        /// The key.
        key: String,
        /// Its value.
        value: String,
    },
    /// A state word outside DRBD's table.
    UnknownState {
        /// The line.
        line: String,
        /// The word and its table.
        state: UnknownState,
    },
    /// An object refers to a resource or connection never introduced.
    Orphan {
        /// The line.
        line: String,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Malformed { line, why } => write!(f, "events2: {why}: {line:?}"),
            ParseError::MissingKey { line, key } => write!(f, "events2: no {key} in {line:?}"),
            ParseError::BadValue { line, key, value } => {
                write!(f, "events2: bad {key} value {value:?} in {line:?}")
            }
            ParseError::UnknownState { line, state } => write!(f, "events2: {state} in {line:?}"),
            ParseError::Orphan { line } => {
                write!(
                    f,
                    "events2: object of an unknown resource/connection: {line:?}"
                )
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// One DRBD resource as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The resource name.
    pub name: String,
    /// This node's role.
    pub role: Role,
    /// Why I/O is suspended (`user`, `no-data`, `fencing`, `quorum`); empty when it is not.
    pub suspended: Vec<String>,
    /// DRBD 9 only: whether the kernel would allow promotion now.
    pub may_promote: Option<bool>,
    /// DRBD 9 only: the kernel's own promotion score.
    pub promotion_score: Option<i64>,
    /// The local volumes.
    pub devices: Vec<Device>,
    /// The connections to peers.
    pub connections: Vec<Connection>,
}

/// A local volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The volume number within the resource.
    pub volume: u32,
    /// The minor number: the device is `/dev/drbd<minor>`.
    pub minor: u32,
    /// The local backing disk's state.
    pub disk: DiskState,
    /// DRBD 9: an intentionally diskless client.
    pub client: Option<bool>,
    /// DRBD 9: whether this volume has quorum.
    pub quorum: Option<bool>,
    /// With `--statistics`: usable size in KiB.
    pub size_kib: Option<u64>,
}

/// The connection to one peer and that peer's volumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The peer's node id.
    pub peer_node_id: u32,
    /// The connection's name (DRBD 9: the peer's host name).
    pub conn_name: Option<String>,
    /// The connection state.
    pub state: ConnectionState,
    /// The peer's role.
    pub peer_role: Role,
    /// The peer's volumes.
    pub peer_devices: Vec<PeerDevice>,
}

/// One volume as replicated to one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerDevice {
    /// The volume number within the resource.
    pub volume: u32,
    /// The replication state towards the peer.
    pub replication: ReplicationState,
    /// The peer's disk state.
    pub peer_disk: DiskState,
    /// DRBD 9: the peer is a diskless client.
    pub peer_client: Option<bool>,
    /// With `--statistics`: KiB still to sync.
    pub out_of_sync_kib: Option<u64>,
}

impl Resource {
    /// The worst local disk state over all volumes (`Diskless` when there is no volume).
    pub fn local_disk(&self) -> DiskState {
        self.devices
            .iter()
            .map(|d| d.disk)
            .min_by_key(|d| disk_rank(*d))
            .unwrap_or(DiskState::Diskless)
    }

    /// True when every local volume holds up-to-date data.
    pub fn all_up_to_date(&self) -> bool {
        !self.devices.is_empty() && self.devices.iter().all(|d| d.disk == DiskState::UpToDate)
    }

    /// True when this node is a DRBD 9 diskless client (on purpose, not after a failure).
    pub fn is_diskless_client(&self) -> bool {
        !self.devices.is_empty() && self.devices.iter().all(|d| d.client == Some(true))
    }

    /// `Some(false)` when any volume reports lost quorum; `None` on DRBD 8.4 (no quorum).
    pub fn quorum(&self) -> Option<bool> {
        let q: Vec<bool> = self.devices.iter().filter_map(|d| d.quorum).collect();
        if q.is_empty() {
            None
        } else {
            Some(q.iter().all(|x| *x))
        }
    }

    /// The connections in state Connected.
    pub fn connected_peers(&self) -> impl Iterator<Item = &Connection> {
        self.connections
            .iter()
            .filter(|c| c.state == ConnectionState::Connected)
    }

    /// True when some connected peer has every volume UpToDate (a copy as good as ours).
    pub fn has_up_to_date_peer(&self) -> bool {
        self.connected_peers().any(|c| {
            !c.peer_devices.is_empty()
                && c.peer_devices
                    .iter()
                    .all(|p| p.peer_disk == DiskState::UpToDate)
        })
    }

    /// True when this node is receiving a resync on some volume.
    pub fn is_sync_target(&self) -> bool {
        self.connections
            .iter()
            .flat_map(|c| c.peer_devices.iter())
            .any(|p| p.replication.is_sync_target())
    }

    /// Peers that are Primary right now.
    pub fn primary_peers(&self) -> impl Iterator<Item = &Connection> {
        self.connections
            .iter()
            .filter(|c| c.peer_role == Role::Primary)
    }

    /// A peer this node is connected to that is Primary right now (a disconnected peer's
    /// role is Unknown, never Primary).
    pub fn connected_primary_peer(&self) -> Option<&Connection> {
        self.connected_peers()
            .find(|c| c.peer_role == Role::Primary)
    }

    /// True when every local volume is UpToDate and every peer is connected with every
    /// volume UpToDate and replicating normally (no resync in either direction): nothing any
    /// node could be fenced for.
    pub fn in_sync_with_all_peers(&self) -> bool {
        self.all_up_to_date()
            && !self.connections.is_empty()
            && self.connections.iter().all(|c| {
                c.state == ConnectionState::Connected
                    && !c.peer_devices.is_empty()
                    && c.peer_devices.iter().all(|p| {
                        p.peer_disk == DiskState::UpToDate
                            && p.replication == ReplicationState::Established
                    })
            })
    }
}

/// Order of disk states by how good their data is (for "worst of" decisions).
pub fn disk_rank(d: DiskState) -> u8 {
    match d {
        DiskState::Failed => 0,
        DiskState::Diskless => 1,
        DiskState::Detaching => 2,
        DiskState::Attaching => 3,
        DiskState::Negotiating => 4,
        DiskState::DUnknown => 5,
        DiskState::Inconsistent => 6,
        DiskState::Outdated => 7,
        DiskState::Consistent => 8,
        DiskState::UpToDate => 9,
    }
}

struct Line<'a> {
    text: &'a str,
    kind: &'a str,
    kv: BTreeMap<&'a str, &'a str>,
}

impl<'a> Line<'a> {
    fn get(&self, key: &'static str) -> Result<&'a str, ParseError> {
        self.kv
            .get(key)
            .copied()
            .ok_or_else(|| ParseError::MissingKey {
                line: self.text.to_string(),
                key,
            })
    }
    fn state<T: std::str::FromStr<Err = UnknownState>>(
        &self,
        key: &'static str,
    ) -> Result<T, ParseError> {
        self.get(key)?
            .parse()
            .map_err(|state| ParseError::UnknownState {
                line: self.text.to_string(),
                state,
            })
    }
    fn num<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, ParseError> {
        let v = self.get(key)?;
        v.parse().map_err(|_| self.bad(key, v))
    }
    fn opt_num<T: std::str::FromStr>(&self, key: &'static str) -> Result<Option<T>, ParseError> {
        match self.kv.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| self.bad(key, v)),
        }
    }
    fn opt_bool(&self, key: &'static str) -> Result<Option<bool>, ParseError> {
        match self.kv.get(key) {
            None => Ok(None),
            Some(&"yes") => Ok(Some(true)),
            Some(&"no") => Ok(Some(false)),
            Some(v) => Err(self.bad(key, v)),
        }
    }
    fn bad(&self, key: &str, value: &str) -> ParseError {
        ParseError::BadValue {
            line: self.text.to_string(),
            key: key.to_string(),
            value: value.to_string(),
        }
    }
}

/// Split one line; `Ok(None)` for blank lines and the `exists -` end marker, and for events
/// other than `exists`/`create`/`change` (e.g. `call helper`), which carry no state.
fn split_line(text: &str) -> Result<Option<Line<'_>>, ParseError> {
    let mut words = text.split_whitespace().peekable();
    // `--timestamps` prefixes an ISO 8601 time.
    if words
        .peek()
        .is_some_and(|w| w.len() > 10 && w.as_bytes()[4] == b'-' && w.contains('T'))
    {
        words.next();
    }
    let Some(event) = words.next() else {
        return Ok(None);
    };
    let Some(kind) = words.next() else {
        return Err(ParseError::Malformed {
            line: text.to_string(),
            why: "no object type",
        });
    };
    if kind == "-" {
        return Ok(None);
    }
    if !matches!(event, "exists" | "create" | "change") {
        if matches!(event, "destroy" | "call" | "response") {
            return Ok(None);
        }
        return Err(ParseError::Malformed {
            line: text.to_string(),
            why: "unknown event",
        });
    }
    let mut kv = BTreeMap::new();
    for w in words {
        let Some((k, v)) = w.split_once(':') else {
            return Err(ParseError::Malformed {
                line: text.to_string(),
                why: "word without key:value",
            });
        };
        kv.insert(k, v);
    }
    Ok(Some(Line { text, kind, kv }))
}

/// Parse a complete `drbdsetup events2 --now` dump into resources, in order of appearance.
/// An empty dump (`exists -` only: nothing configured) gives an empty list.
pub fn parse_events2(text: &str) -> Result<Vec<Resource>, ParseError> {
    let mut out: Vec<Resource> = Vec::new();
    for raw in text.lines() {
        let Some(l) = split_line(raw)? else { continue };
        let name = l.get("name")?;
        let orphan = || ParseError::Orphan {
            line: raw.to_string(),
        };
        match l.kind {
            "resource" => {
                if let Some(x) = out.iter_mut().find(|x| x.name == name) {
                    // A later `change` line: update what it carries, keep the children.
                    if l.kv.contains_key("role") {
                        x.role = l.state("role")?;
                    }
                    if l.kv.contains_key("suspended") {
                        x.suspended = suspended(l.get("suspended")?);
                    }
                    if l.kv.contains_key("may_promote") {
                        x.may_promote = l.opt_bool("may_promote")?;
                    }
                    if l.kv.contains_key("promotion_score") {
                        x.promotion_score = l.opt_num("promotion_score")?;
                    }
                    continue;
                }
                out.push(Resource {
                    name: name.to_string(),
                    role: l.state("role")?,
                    suspended: suspended(l.get("suspended")?),
                    may_promote: l.opt_bool("may_promote")?,
                    promotion_score: l.opt_num("promotion_score")?,
                    devices: Vec::new(),
                    connections: Vec::new(),
                });
            }
            "device" => {
                let r = out.iter_mut().find(|x| x.name == name).ok_or_else(orphan)?;
                let d = Device {
                    volume: l.num("volume")?,
                    minor: l.num("minor")?,
                    disk: l.state("disk")?,
                    client: l.opt_bool("client")?,
                    quorum: l.opt_bool("quorum")?,
                    size_kib: l.opt_num("size")?,
                };
                r.devices.retain(|x| x.volume != d.volume);
                r.devices.push(d);
            }
            "connection" => {
                let r = out.iter_mut().find(|x| x.name == name).ok_or_else(orphan)?;
                let c = Connection {
                    peer_node_id: l.num("peer-node-id")?,
                    conn_name: l.kv.get("conn-name").map(|s| s.to_string()),
                    state: l.state("connection")?,
                    peer_role: l.state("role")?,
                    peer_devices: Vec::new(),
                };
                r.connections.retain(|x| x.peer_node_id != c.peer_node_id);
                r.connections.push(c);
            }
            "peer-device" => {
                let r = out.iter_mut().find(|x| x.name == name).ok_or_else(orphan)?;
                let id: u32 = l.num("peer-node-id")?;
                let c = r
                    .connections
                    .iter_mut()
                    .find(|c| c.peer_node_id == id)
                    .ok_or_else(orphan)?;
                let p = PeerDevice {
                    volume: l.num("volume")?,
                    replication: l.state("replication")?,
                    peer_disk: l.state("peer-disk")?,
                    peer_client: l.opt_bool("peer-client")?,
                    out_of_sync_kib: l.opt_num("out-of-sync")?,
                };
                c.peer_devices.retain(|x| x.volume != p.volume);
                c.peer_devices.push(p);
            }
            // `path` and any object type added later carry nothing this model uses.
            _ => {}
        }
    }
    Ok(out)
}

fn suspended(v: &str) -> Vec<String> {
    match v {
        "no" => Vec::new(),
        v => v.split(',').map(str::to_string).collect(),
    }
}

/// Parse a dump expected to hold at most the one resource `name`.
pub fn parse_resource(text: &str, name: &str) -> Result<Option<Resource>, ParseError> {
    Ok(parse_events2(text)?.into_iter().find(|r| r.name == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONNECTED: &str = "exists resource name:r0 role:Primary suspended:no
exists connection name:r0 peer-node-id:0 conn-name:peer connection:Connected role:Secondary
exists device name:r0 volume:0 minor:0 disk:UpToDate
exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 replication:Established peer-disk:UpToDate resync-suspended:no
exists -
";

    #[test]
    fn parses_a_connected_pair() {
        let r = parse_resource(CONNECTED, "r0").unwrap().unwrap();
        assert_eq!(r.role, Role::Primary);
        assert!(r.all_up_to_date());
        assert!(r.has_up_to_date_peer());
        assert_eq!(r.quorum(), None);
        assert_eq!(r.connections[0].peer_role, Role::Secondary);
    }

    #[test]
    fn unknown_keys_and_objects_are_ignored() {
        let text = CONNECTED
            .replace("disk:UpToDate\n", "disk:UpToDate shiny-new-key:42\n")
            .replace("exists -", "exists gadget name:r0 x:y\nexists -");
        let a = parse_resource(CONNECTED, "r0").unwrap();
        let b = parse_resource(&text, "r0").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unknown_state_is_an_error_with_the_value() {
        let text = CONNECTED.replace("disk:UpToDate\n", "disk:Shiny\n");
        match parse_events2(&text).unwrap_err() {
            ParseError::UnknownState { state, line } => {
                assert_eq!(state.value, "Shiny");
                assert!(line.contains("disk:Shiny"));
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn garbage_is_rejected() {
        for g in [
            "hello world",
            "exists resource",
            "exists device name:r0 volume:x minor:0 disk:UpToDate",
            "exists device name:zz volume:0 minor:0 disk:UpToDate",
            "exists resource name:r0 role:Primary",
            "exists resource name:r0 role:Primary suspended:no may_promote:maybe",
        ] {
            assert!(parse_events2(g).is_err(), "accepted {g:?}");
        }
        assert_eq!(parse_events2("").unwrap(), vec![]);
        assert_eq!(parse_events2("exists -\n").unwrap(), vec![]);
    }

    #[test]
    fn change_events_update_state() {
        let text = format!(
            "{CONNECTED}change device name:r0 volume:0 minor:0 disk:Outdated\nchange resource name:r0 role:Secondary suspended:no\n"
        );
        let r = parse_resource(&text, "r0").unwrap().unwrap();
        assert_eq!(r.local_disk(), DiskState::Outdated);
        assert_eq!(r.role, Role::Secondary);
        assert_eq!(
            r.devices.len(),
            1,
            "a change of the resource keeps its volumes"
        );
    }
}
