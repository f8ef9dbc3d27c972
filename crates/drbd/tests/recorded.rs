//! The parser against output recorded from real DRBD 8.4 (two QEMU guests, see
//! tests/drbd_vm.rs at the workspace root) and DRBD 9 samples written after drbdsetup(8)'s
//! events2 format (several peers, lost quorum, a diskless client, `--timestamps`).

use axha_drbd::{
    parse_events2, parse_resource, ConnectionState, DiskState, ReplicationState, Resource, Role,
};

fn fixture(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn r0(rel: &str) -> Resource {
    parse_resource(&fixture(rel), "r0")
        .unwrap()
        .expect("r0 present")
}

#[test]
fn drbd84_states() {
    for (name, role, disk, conn, peer_disk, repl) in [
        (
            "connected-inconsistent",
            Role::Secondary,
            DiskState::Inconsistent,
            ConnectionState::Connected,
            DiskState::Inconsistent,
            ReplicationState::Established,
        ),
        (
            "syncsource-primary",
            Role::Primary,
            DiskState::UpToDate,
            ConnectionState::Connected,
            DiskState::Inconsistent,
            ReplicationState::SyncSource,
        ),
        (
            "synctarget-secondary",
            Role::Secondary,
            DiskState::Inconsistent,
            ConnectionState::Connected,
            DiskState::UpToDate,
            ReplicationState::SyncTarget,
        ),
        (
            "connected-primary-uptodate",
            Role::Primary,
            DiskState::UpToDate,
            ConnectionState::Connected,
            DiskState::UpToDate,
            ReplicationState::Established,
        ),
        (
            "connected-secondary-uptodate",
            Role::Secondary,
            DiskState::UpToDate,
            ConnectionState::Connected,
            DiskState::UpToDate,
            ReplicationState::Established,
        ),
        (
            "primary-peer-lost",
            Role::Primary,
            DiskState::UpToDate,
            ConnectionState::Connecting,
            DiskState::DUnknown,
            ReplicationState::Off,
        ),
        (
            "secondary-alone-after-restart",
            Role::Secondary,
            DiskState::UpToDate,
            ConnectionState::Connecting,
            DiskState::DUnknown,
            ReplicationState::Off,
        ),
        (
            "standalone-outdated",
            Role::Secondary,
            DiskState::Outdated,
            ConnectionState::StandAlone,
            DiskState::DUnknown,
            ReplicationState::Off,
        ),
    ] {
        for suffix in ["events2", "events2-stats"] {
            let r = r0(&format!("84/{name}.{suffix}.txt"));
            assert_eq!(r.role, role, "{name}");
            assert_eq!(r.local_disk(), disk, "{name}");
            assert_eq!(r.connections.len(), 1, "{name}");
            let c = &r.connections[0];
            assert_eq!((c.peer_node_id, c.state), (0, conn), "{name}");
            assert_eq!(c.peer_devices[0].peer_disk, peer_disk, "{name}");
            assert_eq!(c.peer_devices[0].replication, repl, "{name}");
            assert_eq!(r.quorum(), None, "8.4 has no quorum: {name}");
            assert!(r.suspended.is_empty());
            if suffix == "events2-stats" {
                assert_eq!(r.devices[0].size_kib, Some(65496), "{name}");
            }
        }
    }
    let s = r0("84/synctarget-secondary.events2-stats.txt");
    assert!(s.is_sync_target());
    assert_eq!(
        s.connections[0].peer_devices[0].out_of_sync_kib,
        Some(48088)
    );
    assert!(r0("84/connected-secondary-uptodate.events2.txt").has_up_to_date_peer());
    assert!(!r0("84/primary-peer-lost.events2.txt").has_up_to_date_peer());
}

#[test]
fn drbd84_down_is_empty() {
    assert!(parse_events2(&fixture("84/down.events2.txt"))
        .unwrap()
        .is_empty());
    assert!(parse_resource(&fixture("84/down.events2-stats.txt"), "r0")
        .unwrap()
        .is_none());
}

#[test]
fn recorded_output_with_unknown_keys_parses_the_same() {
    let text = fixture("84/connected-primary-uptodate.events2-stats.txt");
    let widened: String = text
        .lines()
        .map(|l| {
            if l.ends_with('-') {
                format!("{l}\n")
            } else {
                format!("{l} future-key:whatever\n")
            }
        })
        .collect();
    assert_eq!(
        parse_events2(&text).unwrap(),
        parse_events2(&widened).unwrap()
    );
}

#[test]
fn recorded_output_with_garbage_fails() {
    let text = fixture("84/connected-primary-uptodate.events2.txt");
    let broken = text.replace("disk:UpToDate\n", "disk:UpToDate garbage\n");
    assert!(parse_events2(&broken).is_err());
    let truncated = text.replace("role:Primary", "role:");
    assert!(parse_events2(&truncated).is_err());
    assert!(parse_events2("\u{0}\u{1}binary").is_err());
}

#[test]
fn drbd9_several_peers() {
    let r = parse_resource(&fixture("9/three-node-primary.events2.txt"), "mail")
        .unwrap()
        .unwrap();
    assert_eq!(r.role, Role::Primary);
    assert_eq!(r.promotion_score, Some(10102));
    assert_eq!(r.may_promote, Some(false));
    assert_eq!(r.devices.len(), 2);
    assert_eq!(r.devices[1].minor, 1001);
    assert_eq!(r.connections.len(), 2);
    assert_eq!(r.quorum(), Some(true));
    let gamma = r.connections.iter().find(|c| c.peer_node_id == 2).unwrap();
    assert_eq!(gamma.conn_name.as_deref(), Some("gamma"));
    assert_eq!(gamma.peer_devices.len(), 2);
    assert_eq!(
        gamma.peer_devices[0].replication,
        ReplicationState::SyncSource
    );
    // beta is fully UpToDate, gamma is still syncing volume 0
    assert!(r.has_up_to_date_peer());
    assert!(r.all_up_to_date());
}

#[test]
fn drbd9_lost_quorum() {
    let r = parse_resource(&fixture("9/lost-quorum.events2.txt"), "mail")
        .unwrap()
        .unwrap();
    assert_eq!(r.quorum(), Some(false));
    assert_eq!(r.suspended, vec!["quorum".to_string()]);
    assert!(r.connected_peers().next().is_none());
    assert_eq!(r.local_disk(), DiskState::UpToDate);
}

#[test]
fn drbd9_diskless_client() {
    let r = parse_resource(&fixture("9/diskless-client.events2.txt"), "mail")
        .unwrap()
        .unwrap();
    assert!(r.is_diskless_client());
    assert_eq!(r.local_disk(), DiskState::Diskless);
    assert!(!r.all_up_to_date());
    assert!(r.has_up_to_date_peer());
    let s = parse_resource(
        &fixture("9/storage-with-diskless-peer.events2-stats.txt"),
        "mail",
    )
    .unwrap()
    .unwrap();
    assert!(!s.is_diskless_client());
    let client = s.connections.iter().find(|c| c.peer_node_id == 2).unwrap();
    assert_eq!(client.peer_role, Role::Primary);
    assert_eq!(client.peer_devices[0].peer_client, Some(true));
    assert_eq!(client.peer_devices[0].peer_disk, DiskState::Diskless);
    assert_eq!(s.primary_peers().count(), 1);
}

#[test]
fn drbd9_timestamps_and_outdated() {
    let r = parse_resource(
        &fixture("9/secondary-outdated-peer-primary.events2.txt"),
        "mail",
    )
    .unwrap()
    .unwrap();
    assert_eq!(r.local_disk(), DiskState::Outdated);
    assert_eq!(r.connections[0].state, ConnectionState::StandAlone);
}

#[test]
fn drbd84_primary_peer_and_sync() {
    // node2 connected to node1 Primary, both UpToDate.
    let behind = r0("84/connected-secondary-uptodate.events2.txt");
    assert!(behind.connected_primary_peer().is_some());
    assert!(behind.in_sync_with_all_peers());
    // The Primary itself sees a Secondary peer.
    let primary = r0("84/connected-primary-uptodate.events2.txt");
    assert!(primary.connected_primary_peer().is_none());
    assert!(primary.in_sync_with_all_peers());
    // A resync in either direction, a lost peer, an Inconsistent start: not in sync.
    for name in [
        "84/syncsource-primary.events2.txt",
        "84/synctarget-secondary.events2.txt",
        "84/primary-peer-lost.events2.txt",
        "84/connected-inconsistent.events2.txt",
        "84/standalone-outdated.events2.txt",
    ] {
        assert!(!r0(name).in_sync_with_all_peers(), "{name}");
    }
}
