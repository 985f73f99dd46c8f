//! What a node fault cost, from the managers' own view: when the node was declared Down,
//! when its tasks were rescheduled elsewhere, when a replacement ran and when clients first
//! got an answer from one.

use serde::{Deserialize, Serialize};

use crate::swarm::nodes::NodesSeen;

/// Times from a node fault (seconds); none for what did not happen before the next fault
/// or the end of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodeRecovery {
    pub nodes: Vec<String>,
    /// The managers reported a faulted node `down`.
    pub down_s: Option<f64>,
    /// The first new task of the service was assigned to another node.
    pub rescheduled_s: Option<f64>,
    /// That new task (or another) was running.
    pub replacement_running_s: Option<f64>,
    /// Clients got their first answer from a replacement.
    pub replacement_answered_s: Option<f64>,
    /// A faulted node was reported `ready` again after being down.
    pub ready_again_s: Option<f64>,
    /// The managers' API stopped answering (lost quorum), and answered again.
    pub control_plane_lost_s: Option<f64>,
    pub control_plane_back_s: Option<f64>,
}

/// An instance as the analysis needs it: its id (which starts with its container id, the
/// container's hostname) and when clients first got an answer from it.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    pub id: &'a str,
    pub first_seen_s: f64,
}

/// The recovery after a node fault at `at_s` on `nodes`, looking until `until_s`.
pub fn recovery_after(
    seen: &NodesSeen,
    answered: &[Answered<'_>],
    nodes: &[String],
    at_s: f64,
    until_s: f64,
) -> NodeRecovery {
    let window = |t: f64| t >= at_s && t < until_s;
    let rel = |t: f64| ((t - at_s) * 1e3).round() / 1e3;
    let on_faulted = |n: &str| nodes.iter().any(|x| x == n);
    let down_at = seen
        .nodes
        .iter()
        .find(|e| window(e.at_s) && on_faulted(&e.node) && e.state == "down")
        .map(|e| e.at_s);
    let ready_again = down_at.and_then(|d| {
        seen.nodes
            .iter()
            .find(|e| e.at_s > d && e.at_s < until_s && on_faulted(&e.node) && e.state == "ready")
            .map(|e| e.at_s)
    });
    // Tasks that existed before the fault are not replacements.
    let old: std::collections::HashSet<&str> = seen
        .tasks
        .iter()
        .filter(|t| t.at_s < at_s)
        .map(|t| t.id.as_str())
        .collect();
    let new: Vec<_> = seen
        .tasks
        .iter()
        .filter(|t| window(t.at_s) && !old.contains(t.id.as_str()) && !on_faulted(&t.node))
        .collect();
    let rescheduled = new.first().map(|t| t.at_s);
    let running = new.iter().find(|t| t.state == "running").map(|t| t.at_s);
    let containers: Vec<&str> = new.iter().filter_map(|t| t.container.as_deref()).collect();
    let answered_at = answered
        .iter()
        .filter(|a| window(a.first_seen_s))
        .filter(|a| {
            containers
                .iter()
                .any(|c| !c.is_empty() && a.id.starts_with(c))
        })
        .map(|a| a.first_seen_s)
        .min_by(f64::total_cmp);
    let lost = seen
        .control_plane
        .iter()
        .find(|c| window(c.at_s) && !c.available)
        .map(|c| c.at_s);
    let back = lost.and_then(|l| {
        seen.control_plane
            .iter()
            .find(|c| c.at_s > l && c.at_s < until_s && c.available)
            .map(|c| c.at_s)
    });
    NodeRecovery {
        nodes: nodes.to_vec(),
        down_s: down_at.map(rel),
        rescheduled_s: rescheduled.map(rel),
        replacement_running_s: running.map(rel),
        replacement_answered_s: answered_at.map(rel),
        ready_again_s: ready_again.map(rel),
        control_plane_lost_s: lost.map(rel),
        control_plane_back_s: back.map(rel),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::nodes::{ControlPlaneEvent, NodeEvent, TaskEvent};

    fn node(at_s: f64, node: &str, state: &str) -> NodeEvent {
        NodeEvent {
            at_s,
            node: node.into(),
            state: state.into(),
            availability: "active".into(),
            manager: None,
        }
    }

    fn task(at_s: f64, id: &str, node: &str, state: &str, c: Option<&str>) -> TaskEvent {
        TaskEvent {
            at_s,
            task: "app.1".into(),
            id: id.into(),
            node: node.into(),
            state: state.into(),
            container: c.map(str::to_string),
        }
    }

    #[test]
    fn a_stopped_node_is_declared_down_and_its_task_replaced_elsewhere() {
        let seen = NodesSeen {
            nodes: vec![
                node(0.0, "node-1", "ready"),
                node(21.5, "node-1", "down"),
                node(40.2, "node-1", "ready"),
            ],
            tasks: vec![
                task(0.0, "old1", "node-1", "running", Some("aaaaaaaaaaaa")),
                task(21.8, "new1", "node-2", "assigned", None),
                task(22.3, "new1", "node-2", "running", Some("bbbbbbbbbbbb")),
            ],
            control_plane: vec![ControlPlaneEvent {
                at_s: 0.0,
                available: true,
                detail: String::new(),
            }],
        };
        let answered = [
            Answered {
                id: "aaaaaaaaaaaa-1234abcd",
                first_seen_s: 0.1,
            },
            Answered {
                id: "bbbbbbbbbbbb-5678abcd",
                first_seen_s: 22.6,
            },
        ];
        let r = recovery_after(&seen, &answered, &["node-1".into()], 10.0, 60.0);
        assert_eq!(r.down_s, Some(11.5));
        assert_eq!(r.rescheduled_s, Some(11.8));
        assert_eq!(r.replacement_running_s, Some(12.3));
        assert_eq!(r.replacement_answered_s, Some(12.6));
        assert_eq!(r.ready_again_s, Some(30.2));
        assert_eq!(r.control_plane_lost_s, None);
        // Nothing of it happened before a fault at 50 s.
        let none = recovery_after(&seen, &answered, &["node-1".into()], 50.0, 60.0);
        assert_eq!((none.down_s, none.rescheduled_s), (None, None));
    }
}
