//! `run --vantage global|nodes:A;B`: load from every node (or the nodes named) of the swarm
//! behind the target, as one measurement. The runner started by the user coordinates: it
//! runs its own share and the faults as any run, starts one load task per node as a swarm
//! job (the target service's image, which has chaos-runner; each its exact share of one
//! schedule, all on one clock), gathers what they send as it is written (`stream`), removes
//! them at the end (also on failure or Ctrl-C; `restore` after a killed coordinator), and
//! merges every vantage into `OUT/merged`.

mod deploy;

use std::str::FromStr;
use std::time::Duration;

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
                if let Some(bad) = nodes.iter().find(|n| {
                    n.len() > 253
                        || !n
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
                }) {
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
    use super::Which;

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
