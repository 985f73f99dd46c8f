//! `run --vantage global|nodes:A;B`: load from every node (or the nodes named) of the swarm
//! behind the target, as one measurement. The runner started by the user coordinates: it
//! runs its own share and the faults as any run, starts one load task on every node as one
//! swarm service in global-job mode (the target service's image, which has chaos-runner;
//! each task its node's exact share of one schedule, all on one clock), gathers what they
//! send as it is written (`stream`), removes the service at the end (also on failure or
//! Ctrl-C; `restore` after a killed coordinator), and merges every vantage into
//! `OUT/merged`.

mod deploy;

use std::str::FromStr;
use std::time::Duration;

use crate::load::share::Share;

pub use deploy::Deployed;

/// Where the load comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// This runner alone (every run before `--vantage`).
    Local,
    /// One load task on every ready, active node, beside this runner.
    Global,
    /// One load task on each node named (hostnames), beside this runner.
    Nodes(Vec<String>),
}

impl FromStr for Which {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(Self::Local),
            "global" => Ok(Self::Global),
            _ => {
                let list = s.strip_prefix("nodes:").ok_or_else(|| {
                    format!("'{s}': local, global or nodes:NODE;NODE (hostnames)")
                })?;
                let nodes: Vec<String> = list
                    .split([';', ','])
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(String::from)
                    .collect();
                if nodes.is_empty() || nodes.len() > MAX_NODES {
                    return Err(format!("'{s}': 1 to {MAX_NODES} nodes"));
                }
                if let Some(bad) = nodes.iter().find(|n| !valid_hostname(n)) {
                    return Err(format!("'{bad}' is not a node's hostname"));
                }
                let mut seen = std::collections::BTreeSet::new();
                if let Some(twice) = nodes.iter().find(|n| !seen.insert(*n)) {
                    return Err(format!("node '{twice}' is named twice"));
                }
                Ok(Self::Nodes(nodes))
            }
        }
    }
}

/// The most load tasks one run starts.
pub const MAX_NODES: usize = 999;

/// The environment variable a load task finds its node's hostname in (swarm fills it in
/// from the template `{{.Node.Hostname}}`).
pub const NODE_ENV: &str = "CRASHLAB_NODE";

/// Each node's share of a coordinated run (`node-0=2/4;node-1=3/4`): one task spec for every
/// node, each task taking the share of the node it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeShares(Vec<(String, Share)>);

impl NodeShares {
    /// Shares 2/N.. of `nodes` (the coordinator is 1/N).
    pub fn after_the_coordinator(nodes: &[String]) -> Self {
        let of = u32::try_from(nodes.len() + 1).expect("at most MAX_NODES");
        Self(
            nodes
                .iter()
                .zip(2..)
                .map(|(n, index)| (n.clone(), Share { index, of }))
                .collect(),
        )
    }

    /// The share of the task on `node`, if it has one.
    pub fn of(&self, node: &str) -> Option<Share> {
        self.0.iter().find(|(n, _)| n == node).map(|(_, s)| *s)
    }
}

impl std::fmt::Display for NodeShares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (n, s)) in self.0.iter().enumerate() {
            write!(f, "{}{n}={s}", if i == 0 { "" } else { ";" })?;
        }
        Ok(())
    }
}

impl FromStr for NodeShares {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut shares = Vec::new();
        for pair in s.split(';').filter(|p| !p.trim().is_empty()) {
            let (node, share) = pair
                .split_once('=')
                .ok_or_else(|| format!("'{pair}': NODE=K/N"))?;
            let node = node.trim();
            if !valid_hostname(node) {
                return Err(format!("'{node}' is not a node's hostname"));
            }
            let share: Share = share.trim().parse().map_err(|e| format!("{e}"))?;
            if shares.iter().any(|(n, _): &(String, Share)| n == node) {
                return Err(format!("node '{node}' is named twice"));
            }
            shares.push((node.to_string(), share));
        }
        if shares.is_empty() || shares.len() > MAX_NODES {
            return Err(format!("'{s}': 1 to {MAX_NODES} NODE=K/N, split by ;"));
        }
        Ok(Self(shares))
    }
}

fn valid_hostname(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// How a coordinated run starts its load tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct VantageConfig {
    pub which: Which,
    /// The load tasks' image (default: the target service's own).
    pub image: Option<String>,
    /// The port this runner gathers on (all interfaces; the tasks reach it over the
    /// target's network).
    pub port: u16,
    /// How long before the clock starts the tasks are started.
    pub lead: Duration,
    /// A task that cannot reach this runner this long stops; a task silent this long is lost.
    pub lost_after: Duration,
}

#[cfg(test)]
mod tests {
    use super::{NodeShares, Which};
    use crate::load::share::Share;

    #[test]
    fn node_shares_round_trip_and_refuse() {
        let nodes = ["node-0".to_string(), "node-2".to_string()];
        let t = NodeShares::after_the_coordinator(&nodes);
        assert_eq!(t.to_string(), "node-0=2/3;node-2=3/3");
        assert_eq!(t.to_string().parse(), Ok(t.clone()));
        assert_eq!(t.of("node-2"), Some(Share { index: 3, of: 3 }));
        assert_eq!(t.of("node-1"), None);
        for bad in [
            "",
            ";",
            "node-0",
            "node-0=",
            "node-0=0/3",
            "a b=1/2",
            "a=1/2;a=2/2",
        ] {
            assert!(bad.parse::<NodeShares>().is_err(), "{bad}");
        }
    }

    #[test]
    fn vantages_parse_and_refuse() {
        assert_eq!("local".parse(), Ok(Which::Local));
        assert_eq!("global".parse(), Ok(Which::Global));
        assert_eq!(
            "nodes:node-0;node-2".parse(),
            Ok(Which::Nodes(vec!["node-0".into(), "node-2".into()]))
        );
        for bad in [
            "",
            "all",
            "nodes:",
            "nodes:;",
            "nodes:a;a",
            "nodes:a b",
            "nodes:a/b",
        ] {
            assert!(bad.parse::<Which>().is_err(), "{bad}");
        }
    }
}
