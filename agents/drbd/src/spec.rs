//! The declaration of `ocf:axigen:drbd`: parameters and actions, from which meta-data,
//! parameter parsing and dispatch come.

use axha_ocf::{ActionSpec, AgentSpec, Param, ParamSpec};

use crate::policy::DEFAULT_LADDER;

/// `drbd_resource`: the DRBD resource managed.
pub const RESOURCE: Param<String> = Param::string(
    "drbd_resource",
    "DRBD resource name",
    "The name of the DRBD resource, as in the configuration file (drbd.conf(5)).",
)
.required()
.unique();
/// `drbdconf`: the drbdadm configuration file.
pub const CONF: Param<String> = Param::string(
    "drbdconf",
    "DRBD configuration file",
    "The drbdadm configuration file that defines the resource.",
)
.default("/etc/drbd.conf");
/// `adjust_promotion_score`: the promotion score ladder.
pub const LADDER: Param<String> = Param::string(
    "adjust_promotion_score",
    "Promotion score ladder",
    "Three promotion scores, lowest first: UpToDate with no peer connected; UpToDate with \
     connected peers none of which is UpToDate; UpToDate with an UpToDate peer. A node whose \
     data is not UpToDate (Consistent, Outdated, Inconsistent, Diskless) gets no score and \
     is never promoted.",
)
.default(DEFAULT_LADDER);
/// `connect_wait`: seconds start waits for the peers.
pub const CONNECT_WAIT: Param<i64> = Param::integer(
    "connect_wait",
    "Seconds start waits for the peer",
    "How long start waits (within its timeout) for the connection to the peers and the disk \
     state handshake, so that the first promotion score is set from the peers' real state. \
     0 does not wait.",
)
.default("10");
/// `stop_force_demote`: force the demotion on stop (DRBD 9).
pub const FORCE_DEMOTE: Param<bool> = Param::boolean(
    "stop_force_demote",
    "Force demotion on stop (DRBD 9)",
    "When stop finds the resource Primary and a normal demotion fails because the device is \
     still open, use 'drbdadm secondary --force' (DRBD 9 only: pending I/O fails with errors \
     instead of keeping the node Primary).",
)
.default("false");
/// `require_drbd_version`: the DRBD module versions accepted.
pub const VERSION: Param<String> = Param::string(
    "require_drbd_version",
    "Accepted DRBD module versions",
    "An inclusive range LOW-HIGH of DRBD kernel module versions this resource may run with \
     (e.g. 8.4-9.2; either side may be empty). Start fails on other versions.",
)
.default("8.4-9.99");

static PARAMS: &[ParamSpec] = &[
    RESOURCE.spec,
    CONF.spec,
    LADDER.spec,
    CONNECT_WAIT.spec,
    FORCE_DEMOTE.spec,
    VERSION.spec,
];

static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 240, crate::start),
    ActionSpec::new("stop", 100, crate::stop).lenient(),
    ActionSpec::new("promote", 90, crate::promote),
    ActionSpec::new("demote", 90, crate::demote),
    ActionSpec::new("notify", 90, crate::notify).lenient(),
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
               handler /usr/lib/axigen-ha/drbd-fence-peer (resource-level fencing).",
    params: PARAMS,
    actions: ACTIONS,
};
