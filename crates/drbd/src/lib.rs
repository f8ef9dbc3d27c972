//! DRBD for axigen-ha: a typed state model, `drbdsetup events2` parsing and a bounded driver
//! for `drbdadm`/`drbdsetup`. It knows nothing of Pacemaker or OCF.
//!
//! - [`state`]: [`Role`], [`DiskState`], [`ConnectionState`], [`ReplicationState`], spelled
//!   as DRBD prints them, one table per enum.
//! - [`events2`]: [`Resource`] (role, suspension, DRBD 9 quorum and promotion score) with its
//!   [`Device`]s, [`Connection`]s and [`PeerDevice`]s, from [`parse_events2`] (pure).
//! - [`driver`]: [`Drbd`], every command through a replaceable [`Runner`] with a deadline.
//! - [`version`]: the kernel module's [`ModuleVersion`] and [`VersionRange`]s.
//! - [`holders`]: who holds a device open ([`read_holders`]).
//!
//! ```
//! use axha_drbd::{parse_resource, DiskState, Role};
//! let dump = "exists resource name:r0 role:Secondary suspended:no\n\
//!             exists device name:r0 volume:0 minor:0 disk:UpToDate\n\
//!             exists -\n";
//! let r = parse_resource(dump, "r0").unwrap().expect("r0 is configured");
//! assert_eq!((r.role, r.local_disk()), (Role::Secondary, DiskState::UpToDate));
//! ```

#![warn(missing_docs)]

pub mod driver;
pub mod events2;
pub mod holders;
pub mod state;
pub mod version;

pub use driver::{read_module_version, Drbd, Error, Runner, SystemRunner};
pub use events2::{
    disk_rank, parse_events2, parse_resource, Connection, Device, ParseError, PeerDevice, Resource,
};
pub use holders::{read_holders, Holder};
pub use state::{ConnectionState, DiskState, ReplicationState, Role, UnknownState};
pub use version::{parse_module_version, BadVersion, ModuleVersion, VersionRange};
