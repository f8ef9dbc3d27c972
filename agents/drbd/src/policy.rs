//! Pure decisions of `ocf:axigen:drbd`: the promotion-score ladder, whether promotion is
//! allowed, what monitor answers, and the clone meta-attribute checks. No I/O here.

use std::fmt;
use std::str::FromStr;

use axha_drbd::{DiskState, Resource, Role};
use axha_ocf::OcfStatus;

/// Promotion scores by how good this node's data is, lowest rung first (like ocf:linbit:drbd's
/// `adjust_master_score`, minus its "Consistent" rung: this agent never promotes data that is
/// not UpToDate, so such a node gets no score at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ladder {
    /// UpToDate, but no peer is connected: nobody can tell whether a newer copy exists.
    pub alone: i64,
    /// UpToDate, connected, and no connected peer is UpToDate: this is the best copy in sight.
    pub best_in_sight: i64,
    /// UpToDate and a connected peer is UpToDate too.
    pub replicated: i64,
}

/// The declared default of `adjust_promotion_score`.
pub const DEFAULT_LADDER: &str = "10 1000 10000";

/// A ladder parameter that is not three non-negative, non-decreasing integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLadder(pub String);

impl fmt::Display for BadLadder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "promotion score ladder {:?} is not three non-decreasing integers from 0 to 1000000",
            self.0
        )
    }
}

impl FromStr for Ladder {
    type Err = BadLadder;
    fn from_str(s: &str) -> Result<Ladder, BadLadder> {
        let bad = || BadLadder(s.to_string());
        let v: Vec<i64> = s
            .split_whitespace()
            .map(|w| w.parse::<i64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let [alone, best_in_sight, replicated] = v[..] else {
            return Err(bad());
        };
        if alone < 0
            || replicated > 1_000_000
            || alone > best_in_sight
            || best_in_sight > replicated
        {
            return Err(bad());
        }
        Ok(Ladder {
            alone,
            best_in_sight,
            replicated,
        })
    }
}

/// Whether the clone allows one promoted instance only (`promoted-max`, Pacemaker's default
/// 1 when the meta attribute is not passed).
pub fn single_primary(promoted_max: Option<i64>) -> bool {
    promoted_max.unwrap_or(1) <= 1
}

/// The score this node should advertise, `None` when it must not be promoted (no score).
/// A Secondary connected to a Primary peer keeps its score: Pacemaker plans a switchover
/// (`crm resource move`) as demote there, then promote here, in one transition computed
/// from the scores it has; without a score here the move could never happen. Promoting while
/// the peer is still Primary is refused at promote time instead ([`promotion_refusal`]).
pub fn promotion_score(r: &Resource, ladder: &Ladder) -> Option<i64> {
    if !r.all_up_to_date() || r.is_sync_target() || r.quorum() == Some(false) {
        return None;
    }
    // The Primary with UpToDate data holds the top score whatever its peers: a peer that
    // returns can only become UpToDate by resyncing from it, and its monitor then reports
    // the top score at once, maybe before the Primary's next monitor would; with the
    // Primary still at "alone", Pacemaker moved the role back to the returning node (an
    // automatic failback of the whole service).
    if r.role == Role::Primary {
        return Some(ladder.replicated);
    }
    if r.has_up_to_date_peer() {
        Some(ladder.replicated)
    } else if r.connected_peers().next().is_some() {
        Some(ladder.best_in_sight)
    } else {
        Some(ladder.alone)
    }
}

/// Why this node must not be promoted now, or `None` when it may be. With `single_primary`,
/// a peer that is Primary already is a refusal of its own, before DRBD is asked (DRBD would
/// refuse too, with a less telling message, or wait for the peer).
pub fn promotion_refusal(r: &Resource, single_primary: bool) -> Option<String> {
    if single_primary {
        if let Some(peer) = r.connected_primary_peer() {
            let name = match peer.conn_name.as_deref() {
                Some(n) if n != "peer" => format!("peer {n}"),
                _ => "the peer".to_string(),
            };
            return Some(format!(
                "refusing to promote {}: {name} is already Primary and promoted-max is 1",
                r.name
            ));
        }
    }
    if r.is_diskless_client() {
        // A DRBD 9 diskless client reads and writes its peers' UpToDate data.
        if !r.has_up_to_date_peer() {
            return Some(format!(
                "{} is a diskless client without an UpToDate peer",
                r.name
            ));
        }
        return quorum_refusal(r);
    }
    if !r.all_up_to_date() {
        return Some(format!(
            "refusing to promote {}: local data is {} (need UpToDate)",
            r.name,
            r.local_disk()
        ));
    }
    if r.is_sync_target() {
        return Some(format!(
            "refusing to promote {}: a resync to this node is running",
            r.name
        ));
    }
    quorum_refusal(r)
}

fn quorum_refusal(r: &Resource) -> Option<String> {
    (r.quorum() == Some(false))
        .then(|| format!("refusing to promote {}: DRBD quorum is lost", r.name))
}

/// Whether stop may mark this node's data Outdated (`stop_outdates_secondary`): it is a
/// Secondary, connected to a Primary peer whose volumes are all UpToDate (so the newest data
/// is there and keeps changing), and its own data is not already worse than Outdated.
pub fn outdate_on_stop(r: &Resource) -> bool {
    r.role == Role::Secondary
        && !r.devices.is_empty()
        && matches!(
            r.local_disk(),
            DiskState::UpToDate | DiskState::Consistent | DiskState::Outdated
        )
        && r.connected_primary_peer().is_some_and(|p| {
            !p.peer_devices.is_empty()
                && p.peer_devices
                    .iter()
                    .all(|d| d.peer_disk == DiskState::UpToDate)
        })
}

/// What monitor reports for a configured resource: 8 or 0 when healthy, an error for a
/// resource whose local disk failed (9 when it is still Primary: Pacemaker must demote and
/// recover it), with the reason.
pub fn monitor_status(r: &Resource) -> Result<OcfStatus, (OcfStatus, String)> {
    let disk = r.local_disk();
    let lost_disk = matches!(
        disk,
        DiskState::Failed | DiskState::Diskless | DiskState::Detaching
    ) && !r.is_diskless_client();
    match (r.role, lost_disk) {
        (Role::Primary, false) => Ok(OcfStatus::RunningPromoted),
        (Role::Primary, true) => Err((
            OcfStatus::FailedPromoted,
            format!("{} is Primary but its local disk is {disk}", r.name),
        )),
        (_, false) => Ok(OcfStatus::Success),
        (_, true) => Err((
            OcfStatus::ErrGeneric,
            format!("{} lost its local disk ({disk})", r.name),
        )),
    }
}

/// The clone meta attributes this agent needs, as Pacemaker passes them (either name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloneMeta {
    /// `clone-max`: instances in the cluster.
    pub clone_max: Option<i64>,
    /// `clone-node-max`: instances per node.
    pub clone_node_max: Option<i64>,
    /// `promoted-max` (older `master-max`): promoted instances in the cluster.
    pub promoted_max: Option<i64>,
    /// `promoted-node-max` (older `master-node-max`): promoted instances per node.
    pub promoted_node_max: Option<i64>,
    /// `notify`: whether the clone receives notifications.
    pub notify: Option<bool>,
    /// `promotable`: whether the clone is promotable.
    pub promotable: Option<bool>,
}

/// Check the clone configuration; `allow_two_primaries` tells whether the DRBD resource allows
/// it (`net { allow-two-primaries yes; }`). Outside a clone (no clone meta at all: a by-hand
/// run, ocf-tester) nothing is checked.
pub fn check_clone_meta(
    m: &CloneMeta,
    allow_two_primaries: impl FnOnce() -> bool,
) -> Result<(), String> {
    if m.clone_max.is_none() && m.promoted_max.is_none() && m.promotable.is_none() {
        return Ok(());
    }
    if m.promotable == Some(false) {
        return Err("this agent must run as a promotable clone (promotable=true)".into());
    }
    if let Some(n) = m.clone_node_max.filter(|n| *n != 1) {
        return Err(format!(
            "clone-node-max={n}: must be 1 (one DRBD resource per node)"
        ));
    }
    if let Some(n) = m.promoted_node_max.filter(|n| *n != 1) {
        return Err(format!("promoted-node-max={n}: must be 1"));
    }
    match m.promoted_max {
        Some(n) if !(1..=2).contains(&n) => {
            return Err(format!("promoted-max={n}: must be 1 or 2"));
        }
        Some(2) if !allow_two_primaries() => {
            return Err(
                "promoted-max=2 needs allow-two-primaries in the DRBD resource's net section"
                    .into(),
            );
        }
        _ => {}
    }
    if m.notify != Some(true) {
        return Err(
            "notify=true is required (the agent follows peers through notifications)".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axha_drbd::parse_resource;

    fn res(disk: &str, role: &str, conn: &str, peer_disk: &str, repl: &str) -> Resource {
        let text = format!(
            "exists resource name:r0 role:{role} suspended:no\n\
             exists connection name:r0 peer-node-id:0 conn-name:peer connection:{conn} role:Secondary\n\
             exists device name:r0 volume:0 minor:0 disk:{disk}\n\
             exists peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 replication:{repl} peer-disk:{peer_disk}\n\
             exists -\n"
        );
        parse_resource(&text, "r0").unwrap().unwrap()
    }

    fn ladder() -> Ladder {
        DEFAULT_LADDER.parse().unwrap()
    }

    #[test]
    fn ladder_parsing() {
        assert_eq!(
            "1 2 3".parse::<Ladder>().unwrap(),
            Ladder {
                alone: 1,
                best_in_sight: 2,
                replicated: 3
            }
        );
        for bad in [
            "",
            "1 2",
            "1 2 3 4",
            "3 2 1",
            "-1 2 3",
            "a b c",
            "1 2 2000000",
        ] {
            assert_eq!(bad.parse::<Ladder>().unwrap_err().0, bad);
        }
    }

    #[test]
    fn scores_follow_the_data() {
        let l = ladder();
        let both = res(
            "UpToDate",
            "Secondary",
            "Connected",
            "UpToDate",
            "Established",
        );
        assert_eq!(promotion_score(&both, &l), Some(10000));
        let ahead = res(
            "UpToDate",
            "Secondary",
            "Connected",
            "Inconsistent",
            "SyncSource",
        );
        assert_eq!(promotion_score(&ahead, &l), Some(1000));
        let alone = res("UpToDate", "Secondary", "Connecting", "DUnknown", "Off");
        assert_eq!(promotion_score(&alone, &l), Some(10));
        // A Primary alone keeps the top score: a returning peer must not outscore it.
        let primary_alone = res("UpToDate", "Primary", "Connecting", "DUnknown", "Off");
        assert_eq!(promotion_score(&primary_alone, &l), Some(10000));
        for disk in [
            "Inconsistent",
            "Outdated",
            "Consistent",
            "Diskless",
            "Failed",
        ] {
            let r = res(disk, "Secondary", "Connecting", "DUnknown", "Off");
            assert_eq!(promotion_score(&r, &l), None, "{disk}");
        }
        let target = res(
            "UpToDate",
            "Secondary",
            "Connected",
            "UpToDate",
            "PausedSyncT",
        );
        assert_eq!(promotion_score(&target, &l), None);
    }

    #[test]
    fn promotion_needs_up_to_date_data() {
        let ok = res("UpToDate", "Secondary", "Connecting", "DUnknown", "Off");
        assert_eq!(promotion_refusal(&ok, true), None);
        let r = res("Outdated", "Secondary", "StandAlone", "DUnknown", "Off");
        let why = promotion_refusal(&r, true).unwrap();
        assert!(why.contains("Outdated"), "{why}");
        let r = res(
            "Inconsistent",
            "Secondary",
            "Connected",
            "UpToDate",
            "SyncTarget",
        );
        assert!(promotion_refusal(&r, true)
            .unwrap()
            .contains("Inconsistent"));
    }

    #[test]
    fn a_primary_peer_keeps_the_score_and_refuses_promotion() {
        let l = ladder();
        let r = res(
            "UpToDate",
            "Secondary",
            "Connected",
            "UpToDate",
            "Established",
        )
        .with_peer_role(Role::Primary);
        // The score stays: a planned switchover demotes the peer before promoting here.
        assert_eq!(promotion_score(&r, &l), Some(10000));
        let why = promotion_refusal(&r, true).unwrap();
        assert_eq!(
            why,
            "refusing to promote r0: the peer is already Primary and promoted-max is 1"
        );
        // Two primaries allowed: the peer's role does not matter.
        assert_eq!(promotion_refusal(&r, false), None);
        // A peer that is no longer connected is not known to be Primary.
        let gone = res("UpToDate", "Secondary", "Connecting", "DUnknown", "Off")
            .with_peer_role(Role::Primary);
        assert_eq!(promotion_score(&gone, &l), Some(10));
        // The Primary itself keeps its score.
        let me = res(
            "UpToDate",
            "Primary",
            "Connected",
            "UpToDate",
            "Established",
        )
        .with_peer_role(Role::Primary);
        assert_eq!(promotion_score(&me, &l), Some(10000));
        assert!(single_primary(None) && single_primary(Some(1)) && !single_primary(Some(2)));
    }

    #[test]
    fn stop_outdates_only_a_secondary_behind_a_healthy_primary() {
        // (role, connection, peer disk, replication, peer role, outdate?)
        for (role, conn, peer_disk, repl, peer_role, want) in [
            (
                "Secondary",
                "Connected",
                "UpToDate",
                "Established",
                Role::Primary,
                true,
            ),
            (
                "Secondary",
                "Connected",
                "UpToDate",
                "Established",
                Role::Secondary,
                false,
            ),
            (
                "Primary",
                "Connected",
                "UpToDate",
                "Established",
                Role::Primary,
                false,
            ),
            // The Primary's own data is not UpToDate: this copy may be the best one.
            (
                "Secondary",
                "Connected",
                "Inconsistent",
                "SyncSource",
                Role::Primary,
                false,
            ),
            (
                "Secondary",
                "Connecting",
                "DUnknown",
                "Off",
                Role::Primary,
                false,
            ),
        ] {
            let r = res("UpToDate", role, conn, peer_disk, repl).with_peer_role(peer_role);
            assert_eq!(
                outdate_on_stop(&r),
                want,
                "{role} {conn} {peer_disk} {peer_role}"
            );
        }
    }

    trait PeerRole {
        fn with_peer_role(self, role: Role) -> Self;
    }
    impl PeerRole for Resource {
        fn with_peer_role(mut self, role: Role) -> Self {
            for c in &mut self.connections {
                c.peer_role = role;
            }
            self
        }
    }

    #[test]
    fn monitor_is_honest() {
        let p = res(
            "UpToDate",
            "Primary",
            "Connected",
            "UpToDate",
            "Established",
        );
        assert_eq!(monitor_status(&p), Ok(OcfStatus::RunningPromoted));
        let s = res("Outdated", "Secondary", "StandAlone", "DUnknown", "Off");
        assert_eq!(monitor_status(&s), Ok(OcfStatus::Success));
        let failed_primary = res(
            "Diskless",
            "Primary",
            "Connected",
            "UpToDate",
            "Established",
        );
        assert_eq!(
            monitor_status(&failed_primary).unwrap_err().0,
            OcfStatus::FailedPromoted
        );
        let failed = res(
            "Failed",
            "Secondary",
            "Connected",
            "UpToDate",
            "Established",
        );
        assert_eq!(
            monitor_status(&failed).unwrap_err().0,
            OcfStatus::ErrGeneric
        );
    }

    fn nine(name: &str) -> Resource {
        let text = match name {
            "three" => {
                include_str!("../../../crates/drbd/tests/fixtures/9/three-node-primary.events2.txt")
            }
            "quorum" => {
                include_str!("../../../crates/drbd/tests/fixtures/9/lost-quorum.events2.txt")
            }
            "client" => {
                include_str!("../../../crates/drbd/tests/fixtures/9/diskless-client.events2.txt")
            }
            _ => include_str!(
                "../../../crates/drbd/tests/fixtures/9/secondary-outdated-peer-primary.events2.txt"
            ),
        };
        parse_resource(text, "mail").unwrap().unwrap()
    }

    #[test]
    fn drbd9_samples() {
        let l = ladder();
        // Primary with one UpToDate peer and one still syncing: replicated.
        assert_eq!(promotion_score(&nine("three"), &l), Some(10000));
        assert_eq!(
            monitor_status(&nine("three")),
            Ok(OcfStatus::RunningPromoted)
        );
        // Lost quorum: no score, promotion refused, but still honestly Primary.
        let q = nine("quorum");
        assert_eq!(promotion_score(&q, &l), None);
        assert!(promotion_refusal(&q, true).unwrap().contains("quorum"));
        assert_eq!(monitor_status(&q), Ok(OcfStatus::RunningPromoted));
        // A diskless client is healthy, but holds no data of its own: never scored.
        let c = nine("client");
        assert_eq!(promotion_score(&c, &l), None);
        assert_eq!(monitor_status(&c), Ok(OcfStatus::Success));
        // Outdated: no score, refused.
        let o = nine("outdated");
        assert_eq!(promotion_score(&o, &l), None);
        assert!(promotion_refusal(&o, false).unwrap().contains("Outdated"));
    }

    #[test]
    fn clone_meta_rules() {
        let good = CloneMeta {
            clone_max: Some(2),
            clone_node_max: Some(1),
            promoted_max: Some(1),
            promoted_node_max: Some(1),
            notify: Some(true),
            promotable: Some(true),
        };
        assert_eq!(check_clone_meta(&good, || false), Ok(()));
        assert_eq!(check_clone_meta(&CloneMeta::default(), || false), Ok(()));
        let e = |m: CloneMeta, two: bool| check_clone_meta(&m, || two).unwrap_err();
        assert!(e(
            CloneMeta {
                clone_node_max: Some(2),
                ..good.clone()
            },
            true
        )
        .contains("clone-node-max"));
        assert!(e(
            CloneMeta {
                promoted_node_max: Some(2),
                ..good.clone()
            },
            true
        )
        .contains("promoted-node-max"));
        assert!(e(
            CloneMeta {
                promoted_max: Some(3),
                ..good.clone()
            },
            true
        )
        .contains("promoted-max=3"));
        assert!(e(
            CloneMeta {
                promoted_max: Some(2),
                ..good.clone()
            },
            false
        )
        .contains("allow-two-primaries"));
        assert_eq!(
            check_clone_meta(
                &CloneMeta {
                    promoted_max: Some(2),
                    ..good.clone()
                },
                || true
            ),
            Ok(())
        );
        assert!(e(
            CloneMeta {
                notify: None,
                ..good.clone()
            },
            true
        )
        .contains("notify"));
        assert!(e(
            CloneMeta {
                promotable: Some(false),
                ..good
            },
            true
        )
        .contains("promotable"));
    }
}
