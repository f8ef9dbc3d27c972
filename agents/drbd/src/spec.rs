//! The declaration of `ocf:axigen:drbd`: parameters and actions, from which meta-data,
//! parameter parsing and dispatch come.

use axha_ocf::{ActionSpec, AgentSpec, ParamSpec};

use crate::policy::DEFAULT_LADDER;

pub const P_RESOURCE: &str = "drbd_resource";
pub const P_CONF: &str = "drbdconf";
pub const P_LADDER: &str = "adjust_promotion_score";
pub const P_CONNECT_WAIT: &str = "connect_wait";
pub const P_FORCE_DEMOTE: &str = "stop_force_demote";
pub const P_VERSION: &str = "require_drbd_version";

pub const DEFAULT_CONF: &str = "/etc/drbd.conf";
pub const DEFAULT_VERSION_RANGE: &str = "8.4-9.99";

static PARAMS: &[ParamSpec] = &[
    ParamSpec::string(
        P_RESOURCE,
        "DRBD resource name",
        "The name of the DRBD resource, as in the configuration file (drbd.conf(5)).",
    )
    .required()
    .unique(),
    ParamSpec::string(
        P_CONF,
        "DRBD configuration file",
        "The drbdadm configuration file that defines the resource.",
    )
    .default(DEFAULT_CONF),
    ParamSpec::string(
        P_LADDER,
        "Promotion score ladder",
        "Three promotion scores, lowest first: UpToDate with no peer connected; UpToDate with \
         connected peers none of which is UpToDate; UpToDate with an UpToDate peer. A node whose \
         data is not UpToDate (Consistent, Outdated, Inconsistent, Diskless) gets no score and \
         is never promoted.",
    )
    .default(DEFAULT_LADDER),
    ParamSpec::integer(
        P_CONNECT_WAIT,
        "Seconds start waits for the peer",
        "How long start waits (within its timeout) for the connection to the peers and the disk \
         state handshake, so that the first promotion score is set from the peers' real state. \
         0 does not wait.",
    )
    .default("10"),
    ParamSpec::boolean(
        P_FORCE_DEMOTE,
        "Force demotion on stop (DRBD 9)",
        "When stop finds the resource Primary and a normal demotion fails because the device is \
         still open, use 'drbdadm secondary --force' (DRBD 9 only: pending I/O fails with errors \
         instead of keeping the node Primary).",
    )
    .default("false"),
    ParamSpec::string(
        P_VERSION,
        "Accepted DRBD module versions",
        "An inclusive range LOW-HIGH of DRBD kernel module versions this resource may run with \
         (e.g. 8.4-9.2; either side may be empty). Start fails on other versions.",
    )
    .default(DEFAULT_VERSION_RANGE),
];

static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 240),
    ActionSpec::new("stop", 100),
    ActionSpec::new("promote", 90),
    ActionSpec::new("demote", 90),
    ActionSpec::new("notify", 90),
    ActionSpec::new("monitor", 20).interval(20).role("Promoted"),
    ActionSpec::new("monitor", 20)
        .interval(30)
        .role("Unpromoted"),
    ActionSpec::new("meta-data", 5),
    ActionSpec::new("validate-all", 30),
];

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
    lenient_actions: &["stop", "notify"],
};
