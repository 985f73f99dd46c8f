//! Node faults: stop a node's machine, cut its network, drain it, stop managers; and what
//! puts each back. Machines and networks go through the node driver; drains through the
//! managers' API.

use super::spec::{NodeFault, NodeTarget};
use super::undo::{Means, Undo};
use super::{Fired, Kind};
use crate::node::NodeVerb;
use crate::swarm::Swarm;

/// Stops, cuts off or drains `node` (`undo`: starts, heals or activates it): through the
/// node driver, or the managers' API for a drain.
pub(super) async fn act(
    means: &Means<'_>,
    kind: Kind,
    node: &str,
    undo: bool,
) -> Result<String, String> {
    if kind == Kind::Drain {
        let sw = means
            .swarm
            .ok_or("drain needs --swarm-service (the managers' API)")?;
        sw.set_availability(node, !undo)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(format!(
            "{node} {}",
            if undo { "active" } else { "drained" }
        ));
    }
    let verb = match (kind, undo) {
        (Kind::Partition, false) => NodeVerb::Cut,
        (Kind::Partition, true) => NodeVerb::Heal,
        (_, false) => NodeVerb::Stop,
        (_, true) => NodeVerb::Start,
    };
    let driver = means
        .driver
        .ok_or("node faults need --node-driver (how to stop, start, cut and heal a node)")?;
    driver
        .act(verb, node)
        .await
        .map(|out| format!("{node} {}: {out}", verb.name()))
        .map_err(|e| e.to_string())
}

/// Fires a node fault: what happened, and what will put the nodes back.
pub async fn fire(f: &NodeFault, means: Means<'_>) -> (Fired, Vec<Undo>) {
    let nodes = match &f.nodes {
        NodeTarget::Named(n) => n.clone(),
        NodeTarget::Managers(n) => match means.swarm.map(Swarm::managers) {
            Some(list) => match list.await {
                Ok(m) if m.len() >= *n as usize => m.into_iter().take(*n as usize).collect(),
                Ok(m) => {
                    return (
                        Fired::new(
                            false,
                            format!("{n} manager(s) asked, the swarm has {}", m.len()),
                            m,
                        ),
                        vec![],
                    )
                }
                Err(e) => return (Fired::new(false, e.to_string(), vec![]), vec![]),
            },
            None => {
                return (
                    Fired::new(false, "manager-stop needs --swarm-service".into(), vec![]),
                    vec![],
                )
            }
        },
    };
    let mut done = Vec::new();
    let mut said = Vec::new();
    let mut ok = true;
    for node in &nodes {
        let change = crate::journal::Change::Node {
            kind: f.kind,
            node: node.clone(),
        };
        if let Err(e) = means.journal.change(&change).await {
            ok = false;
            said.push(format!("{node}: {e}"));
            continue;
        }
        match act(&means, f.kind, node, false).await {
            Ok(out) => {
                said.push(out);
                done.push(Undo::Node {
                    kind: f.kind,
                    node: node.clone(),
                });
            }
            Err(e) => {
                ok = false;
                said.push(format!("{node}: {e}"));
            }
        }
    }
    (Fired::new(ok, said.join("; "), nodes), done)
}
