//! A typed model of the CIB configuration the templates produce. One model, three renderings:
//! CIB XML ([`crate::xml`]), and the pcs and crm command scripts ([`crate::script`]).

use std::fmt;

/// Ordered name/value pairs (instance attributes, meta attributes, utilization, properties).
pub type Pairs = Vec<(String, String)>;

/// A Pacemaker score (Pacemaker Explained, "Scores": INFINITY is 1000000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    Infinity,
    MinusInfinity,
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
    Promoted,
    Unpromoted,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Promoted => "Promoted",
            Role::Unpromoted => "Unpromoted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub name: String,
    /// Seconds; 0 for one-shot operations (start, stop, promote...).
    pub interval: u32,
    pub timeout: u32,
    pub role: Option<Role>,
    /// `OCF_CHECK_LEVEL` of a monitor (OCF RA API 1.1, "Check levels").
    pub depth: Option<u32>,
}

impl Op {
    pub fn new(name: &str, interval: u32, timeout: u32) -> Self {
        Op {
            name: name.to_string(),
            interval,
            timeout,
            role: None,
            depth: None,
        }
    }
    pub fn with_depth(mut self, depth: u32) -> Self {
        self.depth = Some(depth);
        self
    }
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
    pub class: String,
    pub provider: Option<String>,
    pub kind: String,
}

impl Agent {
    pub fn ocf(provider: &str, kind: &str) -> Self {
        Agent {
            class: "ocf".into(),
            provider: Some(provider.into()),
            kind: kind.into(),
        }
    }
    pub fn stonith(kind: &str) -> Self {
        Agent {
            class: "stonith".into(),
            provider: None,
            kind: kind.into(),
        }
    }
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primitive {
    pub id: String,
    pub agent: Agent,
    pub params: Pairs,
    pub meta: Pairs,
    pub utilization: Pairs,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Primitive(Primitive),
    Group {
        id: String,
        members: Vec<Primitive>,
    },
    /// A clone; promotable when its meta attributes say `promotable=true`.
    Clone {
        id: String,
        child: Primitive,
        meta: Pairs,
    },
}

impl Resource {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `rsc` prefers (or avoids) `node` with `score`.
    Location {
        id: String,
        rsc: String,
        node: String,
        score: Score,
    },
    /// `rsc` may run only on `allowed`: a rule scoring -INFINITY every other node.
    OnlyOn {
        id: String,
        rsc: String,
        allowed: Vec<String>,
    },
    /// `rsc` runs where `with_rsc` runs (in `with_role`, when given).
    Colocation {
        id: String,
        rsc: String,
        with_rsc: String,
        with_role: Option<Role>,
        score: Score,
    },
    /// `first` (`first_action`) before `then` (`then_action`), mandatory.
    Order {
        id: String,
        first: String,
        first_action: String,
        then: String,
        then_action: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    /// Corosync node id; Pacemaker uses it as the node's CIB id.
    pub id: u32,
    pub name: String,
    pub address: std::net::Ipv4Addr,
    pub utilization: Pairs,
}

/// The configuration section of a CIB, plus what belongs to corosync.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cib {
    pub cluster_name: String,
    pub properties: Pairs,
    pub rsc_defaults: Pairs,
    pub nodes: Vec<ClusterNode>,
    pub resources: Vec<Resource>,
    pub constraints: Vec<Constraint>,
    /// corosync.conf `quorum { two_node: 1 }` (votequorum(5)): a two-node cluster keeps
    /// quorum when one node is lost.
    pub two_node: bool,
}

impl Cib {
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
