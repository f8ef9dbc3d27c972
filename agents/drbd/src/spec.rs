//! The declaration of `ocf:axigen:drbd`: parameters and actions, from which meta-data,
//! parameter parsing and dispatch come.

use axha_ocf::{ActionSpec, AgentSpec, Param, ParamSpec};

use crate::policy::DEFAULT_LADDER;

/// `drbd_resource`: the DRBD resource managed.
pub const RESOURCE: Param<String> = Param::string(
    "drbd_resource",
    "DRBD resource name",
    "The name of the DRBD resource, as in the configuration file (drbd.conf(5)). \
     Restart-only; no two resources may share it.",
)
.required()
.unique()
.unique_group("drbd_resource");
/// `drbdconf`: the drbdadm configuration file.
pub const CONF: Param<String> = Param::string(
    "drbdconf",
    "DRBD configuration file",
    "The drbdadm configuration file that defines the resource. Restart-only. After \
     editing the file itself, run the reload action (drbdadm adjust) to apply it.",
)
.default("/etc/drbd.conf");
/// `adjust_promotion_score`: the promotion score ladder.
pub const LADDER: Param<String> = Param::string(
    "adjust_promotion_score",
    "Promotion score ladder",
    "Three promotion scores, lowest first: UpToDate with no peer connected; UpToDate with \
     connected peers none of which is UpToDate; UpToDate with an UpToDate peer. A node whose \
     data is not UpToDate (Consistent, Outdated, Inconsistent, Diskless) gets no score and \
     is never promoted. Reloadable: reload-agent sets the score again from the new ladder.",
)
.default(DEFAULT_LADDER)
.reloadable();
/// `connect_wait`: seconds start waits for the peers.
pub const CONNECT_WAIT: Param<i64> = Param::integer(
    "connect_wait",
    "Seconds start waits for the peer",
    "How long start waits (within its timeout) for the connection to the peers and the disk \
     state handshake, so that the first promotion score is set from the peers' real state. \
     0 does not wait. Reloadable (used by the next start).",
)
.default("10")
.reloadable();
/// `stop_force_demote`: force the demotion on stop (DRBD 9).
pub const FORCE_DEMOTE: Param<bool> = Param::boolean(
    "stop_force_demote",
    "Force demotion on stop (DRBD 9)",
    "When stop finds the resource Primary and a normal demotion fails because the device is \
     still open, use 'drbdadm secondary --force' (DRBD 9 only: pending I/O fails with errors \
     instead of keeping the node Primary). Reloadable (used by the next stop).",
)
.default("false")
.reloadable();
/// `require_drbd_version`: the DRBD module versions accepted.
pub const VERSION: Param<String> = Param::string(
    "require_drbd_version",
    "Accepted DRBD module versions",
    "An inclusive range LOW-HIGH of DRBD kernel module versions this resource may run with \
     (e.g. 8.4-9.2; either side may be empty). Start fails on other versions. Reloadable \
     (checked by the next start; reload-agent warns when the loaded module is outside).",
)
.default("8.4-9.99")
.reloadable();

/// `unfence_if_all_uptodate`: monitor removes a stale fencing constraint.
pub const UNFENCE: Param<bool> = Param::boolean(
    "unfence_if_all_uptodate",
    "Monitor removes a stale fencing constraint",
    "When every volume is UpToDate here and on every peer, all connected and replicating, \
     monitor removes the constraint drbd-fence-by-handler-<resource>-<clone> that \
     drbd-fence-peer placed, through the same code as 'drbd-fence-peer --unfence', so that an \
     after-resync-target handler that did not run cannot keep the clone from being promoted \
     for ever. It is removed only by a node the constraint still allows to be promoted (a \
     node never lifts a fence placed against itself), and checked once each time the \
     resource comes back in sync (and on probes), not on every monitor. ocf:linbit:drbd has \
     the same switch off by default; here it is on. Reloadable.",
)
.default("true")
.reloadable();
/// `stop_outdates_secondary`: stop marks a Secondary's data Outdated.
pub const STOP_OUTDATES: Param<bool> = Param::boolean(
    "stop_outdates_secondary",
    "Stop outdates a Secondary whose peer is Primary",
    "When stop takes down a Secondary that was connected to a Primary peer whose volumes \
     are all UpToDate, mark this node's data Outdated in its meta data ('drbdadm outdate' \
     after 'down'): the Primary keeps writing, so this copy is older from now on and must \
     not be promoted before it has resynced. Nothing is outdated when this node was Primary, \
     when no connected peer was Primary, or when that peer's data was not UpToDate (then this \
     copy may be the best one). Default false, as in ocf:linbit:drbd; fencing in the DRBD \
     configuration (drbd-fence-peer) remains the main protection. Reloadable.",
)
.default("false")
.reloadable();

static PARAMS: &[ParamSpec] = &[
    RESOURCE.spec,
    CONF.spec,
    LADDER.spec,
    CONNECT_WAIT.spec,
    FORCE_DEMOTE.spec,
    VERSION.spec,
    UNFENCE.spec,
    STOP_OUTDATES.spec,
];

static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 240, crate::start),
    ActionSpec::new("stop", 100, crate::stop).lenient(),
    ActionSpec::new("promote", 90, crate::promote),
    ActionSpec::new("demote", 90, crate::demote),
    ActionSpec::new("notify", 90, crate::notify).lenient(),
    ActionSpec::new("reload", 30, crate::reload),
    ActionSpec::new("reload-agent", 30, crate::reload_agent),
    ActionSpec::new("monitor", 20, crate::monitor)
        .interval(20)
        .role("Promoted"),
    ActionSpec::new("monitor", 20, crate::monitor)
        .interval(30)
        .role("Unpromoted"),
    ActionSpec::meta_data(5),
    ActionSpec::new("validate-all", 30, crate::validate_all),
];

/// The agent's declaration, for `axha_ocf::run`.
pub static SPEC: AgentSpec = AgentSpec {
    name: "drbd",
    version: "1.0",
    shortdesc: "DRBD replicated volume (promotable clone)",
    longdesc:
        "Manages one DRBD resource as a promotable clone: start attaches and connects it and \
               stays Secondary, promote makes it Primary only when its data is UpToDate, monitor \
               reports the role DRBD really has and keeps the promotion score in line with the \
               data. Works with DRBD 8.4 and 9 through drbd-utils 9. Pair it with the fence-peer \
               handler /usr/lib/axigen-ha/drbd-fence-peer (resource-level fencing). \
               A Secondary connected to a Primary peer keeps its promotion score (a planned \
               switchover demotes the peer first) but refuses promotion while the peer is \
               still Primary and promoted-max is 1. A change of a reloadable parameter is \
               applied by reload-agent (OCF 1.1) without touching DRBD; drbd_resource and \
               drbdconf restart the volume. reload runs 'drbdadm adjust' and sets the score \
               again: operators call it after editing the DRBD configuration.",
    params: PARAMS,
    actions: ACTIONS,
};
