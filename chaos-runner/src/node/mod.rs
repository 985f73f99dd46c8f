//! Nodes of a swarm and what can befall them. A node is stopped, started, cut off and
//! healed through a [`NodeDriver`]: the same interface whether the node is an engine in a
//! network namespace of the local lab (`scripts/lab.sh node`) or a droplet of the lecture's
//! cluster (`scripts/cluster.sh node`, the cloud's API). [`agent`] runs a driver on behalf
//! of a chaos-runner that cannot reach it (one inside the lab's overlay network).

pub mod agent;
mod driver;

use serde::{Deserialize, Serialize};

pub use driver::{DriverError, NodeDriver};

/// What a driver does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeVerb {
    /// The machine dies: its engine and containers with it, its address stops answering.
    Stop,
    /// The machine comes back (its engine rejoins the swarm).
    Start,
    /// Its network is cut: its tasks run on, unreachable.
    Cut,
    /// Its network is back.
    Heal,
}

impl NodeVerb {
    pub const ALL: [NodeVerb; 4] = [Self::Stop, Self::Start, Self::Cut, Self::Heal];

    pub fn name(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Cut => "cut",
            Self::Heal => "heal",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// A node name as drivers take it: letters, digits, `.`, `_`, `-`; 1 to 64 of them.
pub fn valid_node_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_names() {
        for v in NodeVerb::ALL {
            assert_eq!(NodeVerb::from_name(v.name()), Some(v));
        }
        assert!(valid_node_name("node-1"));
        assert!(!valid_node_name("node 1; rm -rf /"));
        assert!(!valid_node_name(""));
    }
}
