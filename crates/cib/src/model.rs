//! A typed model of the CIB configuration the templates produce. One model, three renderings:
//! CIB XML ([`crate::xml`]), and the pcs and crm command scripts ([`crate::script`]).

use std::fmt;

/// Ordered name/value pairs (instance attributes, meta attributes, utilization, properties).
pub type Pairs = Vec<(String, String)>;

/// A Pacemaker score (Pacemaker Explained, "Scores": INFINITY is 1000000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// Must (or, in a location, may only): `INFINITY`.
    Infinity,
    /// Must not: `-INFINITY`.
    MinusInfinity,
    /// A finite preference.
    Value(i32),
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Score::Infinity => f.write_str("INFINITY"),
            Score::MinusInfinity => f.write_str("-INFINITY"),
            Score::Value(v) => write!(f, "{v}"),
        }
    }
}

/// Roles of a promotable clone instance, spelled as Pacemaker 2.1 writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The promoted (primary) role.
    Promoted,
    /// The unpromoted (secondary) role.
    Unpromoted,
}

impl Role {
    /// The role as the CIB spells it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Promoted => "Promoted",
            Role::Unpromoted => "Unpromoted",
        }
    }
}

/// One operation of a primitive (`<op>`): start, stop, monitor, promote...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The action name.
    pub name: String,
    /// Seconds; 0 for one-shot operations (start, stop, promote...).
    pub interval: u32,
    /// Seconds Pacemaker waits for it before counting it failed.
    pub timeout: u32,
    /// For a promotable clone's monitor: the role it checks.
    pub role: Option<Role>,
    /// `OCF_CHECK_LEVEL` of a monitor (OCF RA API 1.1, "Check levels").
    pub depth: Option<u32>,
}

impl Op {
    /// An operation without role or depth.
    pub fn new(name: &str, interval: u32, timeout: u32) -> Self {
        Op {
            name: name.to_string(),
            interval,
            timeout,
            role: None,
            depth: None,
        }
    }
    /// The same with `OCF_CHECK_LEVEL` set.
    pub fn with_depth(mut self, depth: u32) -> Self {
        self.depth = Some(depth);
        self
    }
    /// The same for one role only.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }
    /// The op id Pacemaker tools generate: `<rsc>-<name>-interval-<N>s`.
    pub fn id(&self, rsc: &str) -> String {
        format!("{rsc}-{}-interval-{}s", self.name, self.interval)
    }
}

/// Resource class and agent: `ocf:axigen:instance`, `stonith:fence_axigen_ipmi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// `ocf` or `stonith`.
    pub class: String,
    /// The OCF provider (`axigen`, `heartbeat`); none for stonith.
    pub provider: Option<String>,
    /// The agent's name (`instance`, `fence_axigen_ipmi`).
    pub kind: String,
}

impl Agent {
    /// An OCF agent, `ocf:provider:kind`.
    pub fn ocf(provider: &str, kind: &str) -> Self {
        Agent {
            class: "ocf".into(),
            provider: Some(provider.into()),
            kind: kind.into(),
        }
    }
    /// A fence agent, `stonith:kind`.
    pub fn stonith(kind: &str) -> Self {
        Agent {
            class: "stonith".into(),
            provider: None,
            kind: kind.into(),
        }
    }
    /// True for a fence device.
    pub fn is_stonith(&self) -> bool {
        self.class == "stonith"
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.provider {
            Some(p) => write!(f, "{}:{}:{}", self.class, p, self.kind),
            None => write!(f, "{}:{}", self.class, self.kind),
        }
    }
}

/// One resource agent instance (`<primitive>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primitive {
    /// Resource id.
    pub id: String,
    /// The agent that manages it.
    pub agent: Agent,
    /// Instance attributes: the agent's parameters.
    pub params: Pairs,
    /// Meta attributes (stickiness, target-role...).
    pub meta: Pairs,
    /// What it uses of a node's capacity.
    pub utilization: Pairs,
    /// Its operations.
    pub ops: Vec<Op>,
}

/// A top-level resource of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A lone primitive (a fence device, for instance).
    Primitive(Primitive),
    /// Primitives started in order, stopped in reverse, kept on one node.
    Group {
        /// Group id.
        id: String,
        /// The members, in start order.
        members: Vec<Primitive>,
    },
    /// A clone; promotable when its meta attributes say `promotable=true`.
    Clone {
        /// Clone id.
        id: String,
        /// The primitive cloned.
        child: Primitive,
        /// The clone's meta attributes.
        meta: Pairs,
    },
}

impl Resource {
    /// The resource's id.
    pub fn id(&self) -> &str {
        match self {
            Resource::Primitive(p) => &p.id,
            Resource::Group { id, .. } | Resource::Clone { id, .. } => id,
        }
    }
    /// Every primitive in it (in order).
    pub fn primitives(&self) -> Vec<&Primitive> {
        match self {
            Resource::Primitive(p) => vec![p],
            Resource::Group { members, .. } => members.iter().collect(),
            Resource::Clone { child, .. } => vec![child],
        }
    }
}

/// A constraint: where resources run, together, and in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `rsc` prefers (or avoids) `node` with `score`.
    Location {
        /// Constraint id.
        id: String,
        /// The resource.
        rsc: String,
        /// The node.
        node: String,
        /// How much it prefers (or avoids) the node.
        score: Score,
    },
    /// `rsc` may run only on `allowed`: a rule scoring -INFINITY every other node.
    OnlyOn {
        /// Constraint id.
        id: String,
        /// The resource.
        rsc: String,
        /// The nodes it may run on.
        allowed: Vec<String>,
    },
    /// `rsc` runs where `with_rsc` runs (in `with_role`, when given).
    Colocation {
        /// Constraint id.
        id: String,
        /// The resource placed.
        rsc: String,
        /// The resource it follows.
        with_rsc: String,
        /// The role `with_rsc` must have there (the promoted DRBD side).
        with_role: Option<Role>,
        /// How strongly.
        score: Score,
    },
    /// `first` (`first_action`) before `then` (`then_action`), mandatory.
    Order {
        /// Constraint id.
        id: String,
        /// The resource acted on first.
        first: String,
        /// Its action (start, promote...).
        first_action: String,
        /// The resource acted on after it.
        then: String,
        /// Its action.
        then_action: String,
    },
}

/// A cluster node: corosync's nodelist entry and Pacemaker's `<node>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// Corosync node id; Pacemaker uses it as the node's CIB id.
    pub id: u32,
    /// Node name.
    pub name: String,
    /// Its cluster (ring0) address.
    pub address: std::net::Ipv4Addr,
    /// Its address on corosync's second link (ring1), when the cluster has one.
    pub address2: Option<std::net::Ipv4Addr>,
    /// Its capacity (how many instances it may run).
    pub utilization: Pairs,
}

/// One fencing level of a node (`<fencing-level>`): Pacemaker tries the levels in `index`
/// order and goes on to the next when a level's devices fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencingLevel {
    /// The node fenced.
    pub target: String,
    /// 1 first, 2 when 1 fails, ...
    pub index: u32,
    /// The devices that must all succeed at this level.
    pub devices: Vec<String>,
}

impl FencingLevel {
    /// The id Pacemaker tools generate: `fl-<target>-<index>`.
    pub fn id(&self) -> String {
        format!("fl-{}-{}", self.target, self.index)
    }
}

/// The configuration section of a CIB, plus what belongs to corosync.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cib {
    /// Pacemaker `cluster-name` and corosync `totem.cluster_name`.
    pub cluster_name: String,
    /// Cluster options (`crm_config`): stonith-enabled, no-quorum-policy...
    pub properties: Pairs,
    /// Resource defaults (`rsc_defaults`).
    pub rsc_defaults: Pairs,
    /// The nodes.
    pub nodes: Vec<ClusterNode>,
    /// The resources.
    pub resources: Vec<Resource>,
    /// The constraints.
    pub constraints: Vec<Constraint>,
    /// `<fencing-topology>`: empty when every node has one fencing device.
    pub fencing_levels: Vec<FencingLevel>,
    /// corosync.conf `quorum { two_node: 1 }` (votequorum(5)): a two-node cluster keeps
    /// quorum when one node is lost.
    pub two_node: bool,
}

impl Cib {
    /// Every primitive, groups' and clones' members included, in order.
    pub fn primitives(&self) -> impl Iterator<Item = &Primitive> {
        self.resources.iter().flat_map(|r| r.primitives())
    }
    /// Ids of the primitives that run an Axigen instance (`ocf:axigen:instance`).
    pub fn instance_ids(&self) -> Vec<String> {
        self.primitives()
            .filter(|p| p.agent == Agent::ocf("axigen", "instance"))
            .map(|p| p.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays() {
        assert_eq!(Score::MinusInfinity.to_string(), "-INFINITY");
        assert_eq!(Score::Value(-5).to_string(), "-5");
        assert_eq!(
            Agent::ocf("axigen", "instance").to_string(),
            "ocf:axigen:instance"
        );
        assert_eq!(Agent::stonith("fence_x").to_string(), "stonith:fence_x");
        assert_eq!(Op::new("monitor", 10, 30).id("r"), "r-monitor-interval-10s");
    }
}
