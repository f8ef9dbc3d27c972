//! The states DRBD reports, spelled exactly as `drbdsetup events2` prints them (drbd-utils
//! `drbd_strings.c`; DRBD 9 user guide, "Connection states", "Replication states", "Disk
//! states"). Each enum is declared by one table that drives `Display`, `FromStr` and the
//! variant list, so a spelling exists once.

use std::fmt;
use std::str::FromStr;

/// A state word that is not in the enum's table: keeps the offending text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    /// Which table it was looked up in (`role`, `disk state`...).
    pub kind: &'static str,
    /// The word DRBD printed.
    pub value: String,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown DRBD {} {:?}", self.kind, self.value)
    }
}

impl std::error::Error for UnknownState {}

macro_rules! drbd_enum {
    ($(#[$m:meta])* $name:ident, $kind:literal { $($(#[$vm:meta])* $var:ident = $text:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var,)+ }

        impl $name {
            /// Every variant with its spelling, in DRBD's order.
            pub const ALL: &'static [($name, &'static str)] = &[$(($name::$var, $text),)+];

            /// The word DRBD prints for it.
            pub fn as_str(self) -> &'static str {
                Self::ALL
                    .iter()
                    .find(|(v, _)| *v == self)
                    .map(|(_, s)| *s)
                    .expect("every variant is in ALL")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                Self::ALL
                    .iter()
                    .find(|(_, t)| *t == s)
                    .map(|(v, _)| *v)
                    .ok_or_else(|| UnknownState { kind: $kind, value: s.to_string() })
            }
        }
    };
}

drbd_enum! {
    /// A resource's (or a peer's) role.
    Role, "role" {
        /// Writable here; at most one node holds it unless two primaries are allowed.
        Primary = "Primary",
        /// Receives the primary's writes; not writable here.
        Secondary = "Secondary",
        /// A peer that is not connected.
        Unknown = "Unknown",
    }
}

drbd_enum! {
    /// The state of a local backing disk or of a peer's disk, from worst to best data.
    DiskState, "disk state" {
        /// No backing disk attached (or a diskless client).
        Diskless = "Diskless",
        /// The backing disk is being attached.
        Attaching = "Attaching",
        /// The backing disk is being detached.
        Detaching = "Detaching",
        /// The backing disk reported an I/O error and was dropped.
        Failed = "Failed",
        /// Attached; the disk states are being exchanged with a peer.
        Negotiating = "Negotiating",
        /// Incomplete data (a resync target, or never synced).
        Inconsistent = "Inconsistent",
        /// Consistent but known to be older than a peer's.
        Outdated = "Outdated",
        /// A peer's disk while not connected.
        DUnknown = "DUnknown",
        /// Consistent, but whether it is the newest copy is not known (no peer seen).
        Consistent = "Consistent",
        /// The newest data.
        UpToDate = "UpToDate",
    }
}

drbd_enum! {
    /// The state of the connection to one peer.
    ConnectionState, "connection state" {
        /// No connection and none tried (after `disconnect`, or a split brain).
        StandAlone = "StandAlone",
        /// The connection is being closed.
        Disconnecting = "Disconnecting",
        /// Between a lost connection and the next attempt.
        Unconnected = "Unconnected",
        /// The peer did not answer in time; reconnecting.
        Timeout = "Timeout",
        /// The connection broke; reconnecting.
        BrokenPipe = "BrokenPipe",
        /// The network failed; reconnecting.
        NetworkFailure = "NetworkFailure",
        /// The peer sent something DRBD could not accept; reconnecting.
        ProtocolError = "ProtocolError",
        /// The peer is closing the connection.
        TearDown = "TearDown",
        /// Waiting for the peer (DRBD 8.4's `WFConnection` is reported as this by events2).
        Connecting = "Connecting",
        /// Connected to the peer.
        Connected = "Connected",
    }
}

drbd_enum! {
    /// The replication state of one volume towards one peer.
    ReplicationState, "replication state" {
        /// No replication (not connected).
        Off = "Off",
        /// Replicating every write.
        Established = "Established",
        /// A resync from this node is starting.
        StartingSyncS = "StartingSyncS",
        /// A resync to this node is starting.
        StartingSyncT = "StartingSyncT",
        /// Resync source, waiting for the peer's bitmap.
        WFBitMapS = "WFBitMapS",
        /// Resync target, waiting for the peer's bitmap.
        WFBitMapT = "WFBitMapT",
        /// Resync target, waiting for the sync UUID.
        WFSyncUUID = "WFSyncUUID",
        /// Sending a resync to the peer.
        SyncSource = "SyncSource",
        /// Receiving a resync from the peer.
        SyncTarget = "SyncTarget",
        /// Online verify, this node as source.
        VerifyS = "VerifyS",
        /// Online verify, this node as target.
        VerifyT = "VerifyT",
        /// Resync source, paused.
        PausedSyncS = "PausedSyncS",
        /// Resync target, paused.
        PausedSyncT = "PausedSyncT",
        /// Congested: this node runs ahead of the peer (writes not replicated now).
        Ahead = "Ahead",
        /// Congested: the peer is ahead; this node will need a resync.
        Behind = "Behind",
    }
}

impl ReplicationState {
    /// True while this node receives a resync (its data is not complete yet).
    pub fn is_sync_target(self) -> bool {
        matches!(
            self,
            Self::StartingSyncT
                | Self::WFBitMapT
                | Self::WFSyncUUID
                | Self::SyncTarget
                | Self::PausedSyncT
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_round_trips() {
        for (v, s) in DiskState::ALL {
            assert_eq!(v.to_string(), *s);
            assert_eq!(s.parse::<DiskState>().unwrap(), *v);
        }
        for (v, s) in ConnectionState::ALL {
            assert_eq!(s.parse::<ConnectionState>().unwrap(), *v);
        }
        for (v, s) in ReplicationState::ALL {
            assert_eq!(s.parse::<ReplicationState>().unwrap(), *v);
        }
        for (v, s) in Role::ALL {
            assert_eq!(s.parse::<Role>().unwrap(), *v);
        }
    }

    #[test]
    fn unknown_word_keeps_value() {
        let e = "UpToDat".parse::<DiskState>().unwrap_err();
        assert_eq!(e.value, "UpToDat");
        assert_eq!(e.to_string(), "unknown DRBD disk state \"UpToDat\"");
        assert!(
            "primary".parse::<Role>().is_err(),
            "spelling is case-sensitive"
        );
    }
}
