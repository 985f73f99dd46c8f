//! The swarm's nodes and the service's tasks as the managers see them: polled while the
//! load runs and recorded at each change (a node Ready, Down, drained; a task assigned to a
//! node, running, failed; the managers' API lost when they lose quorum). Also the managers'
//! side of node faults: drain and activate a node, list the managers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::models::{NodeSpecAvailabilityEnum, NodeState, Reachability, TaskState};
use bollard::query_parameters::{ListNodesOptions, ListTasksOptions, UpdateNodeOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Swarm, SwarmError};

/// How often the managers are asked.
pub const POLL: Duration = Duration::from_millis(250);

/// A poll the managers do not answer within this long counts as the managers' API lost
/// (without a quorum, calls hang rather than fail).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// The most events of each kind kept (a long run with a flapping node stays bounded).
const MAX_EVENTS: usize = 50_000;

/// A node's state as the managers report it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeEvent {
    pub at_s: f64,
    pub node: String,
    /// `ready`, `down`, `unknown` or `disconnected`.
    pub state: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// For managers: `leader`, `reachable` or `unreachable`.
    pub manager: Option<String>,
}

/// A task of the service as the managers report it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskEvent {
    pub at_s: f64,
    /// `service.slot`.
    pub task: String,
    /// The task's id (12 characters).
    pub id: String,
    pub node: String,
    /// Swarm's task state: `assigned`, `running`, `failed`, `shutdown`, ...
    pub state: String,
    /// Its container (12 characters), once it has one.
    pub container: Option<String>,
}

/// Whether the managers' API answered (it does not while the managers lack a quorum).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControlPlaneEvent {
    pub at_s: f64,
    pub available: bool,
    pub detail: String,
}

/// What the watcher saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NodesSeen {
    pub nodes: Vec<NodeEvent>,
    pub tasks: Vec<TaskEvent>,
    pub control_plane: Vec<ControlPlaneEvent>,
}

fn lower<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("unknown".into(), |v| v.to_string().to_lowercase())
}

fn short(s: Option<&String>) -> String {
    s.map(|s| s.chars().take(12).collect()).unwrap_or_default()
}

impl Swarm {
    /// Every node: (id, hostname, event-shaped state).
    async fn node_states(&self) -> Result<Vec<(String, NodeEvent)>, SwarmError> {
        let nodes = self.docker.list_nodes(None::<ListNodesOptions>).await?;
        Ok(nodes
            .into_iter()
            .map(|n| {
                let manager = n.manager_status.as_ref().map(|m| {
                    if m.leader == Some(true) {
                        "leader".to_string()
                    } else {
                        match m.reachability {
                            Some(Reachability::REACHABLE) => "reachable".into(),
                            Some(Reachability::UNREACHABLE) => "unreachable".into(),
                            _ => "unknown".into(),
                        }
                    }
                });
                let state = n.status.as_ref().and_then(|s| s.state).map(|s| match s {
                    NodeState::READY => "ready",
                    NodeState::DOWN => "down",
                    NodeState::DISCONNECTED => "disconnected",
                    _ => "unknown",
                });
                let ev = NodeEvent {
                    at_s: 0.0,
                    node: n
                        .description
                        .as_ref()
                        .and_then(|d| d.hostname.clone())
                        .unwrap_or_default(),
                    state: state.unwrap_or("unknown").into(),
                    availability: lower(n.spec.as_ref().and_then(|s| s.availability)),
                    manager,
                };
                (n.id.unwrap_or_default(), ev)
            })
            .collect())
    }

    /// The service's tasks, with their node's hostname.
    async fn task_states(
        &self,
        hosts: &HashMap<String, String>,
    ) -> Result<Vec<TaskEvent>, SwarmError> {
        let filters = HashMap::from([("service".to_string(), vec![self.service.clone()])]);
        let tasks = self
            .docker
            .list_tasks(Some(ListTasksOptions {
                filters: Some(filters),
            }))
            .await?;
        Ok(tasks
            .into_iter()
            .map(|t| {
                let st = t.status.as_ref();
                TaskEvent {
                    at_s: 0.0,
                    task: format!("{}.{}", self.service, t.slot.unwrap_or(0)),
                    id: short(t.id.as_ref()),
                    node: t
                        .node_id
                        .as_ref()
                        .and_then(|id| hosts.get(id))
                        .cloned()
                        .unwrap_or_default(),
                    state: lower(st.and_then(|s| s.state).map(|s: TaskState| s)),
                    container: st
                        .and_then(|s| s.container_status.as_ref())
                        .and_then(|c| c.container_id.as_ref())
                        .map(|c| c.chars().take(12).collect()),
                }
            })
            .collect())
    }

    /// Sets a node's availability (`drain`, `active`) through the managers.
    pub async fn set_availability(&self, node: &str, drain: bool) -> Result<(), SwarmError> {
        let n = self
            .docker
            .inspect_node(node)
            .await
            .map_err(|_| SwarmError::NoNode(node.into()))?;
        let mut spec = n.spec.unwrap_or_default();
        spec.availability = Some(if drain {
            NodeSpecAvailabilityEnum::DRAIN
        } else {
            NodeSpecAvailabilityEnum::ACTIVE
        });
        let version = n.version.and_then(|v| v.index).unwrap_or(0);
        self.docker
            .update_node(
                n.id.as_deref().unwrap_or(node),
                spec,
                UpdateNodeOptions {
                    version: version as i64,
                },
            )
            .await?;
        Ok(())
    }

    /// Manager hostnames, followers first, the leader last.
    pub async fn managers(&self) -> Result<Vec<String>, SwarmError> {
        let mut m: Vec<(bool, String)> = self
            .node_states()
            .await?
            .into_iter()
            .filter_map(|(_, n)| n.manager.map(|r| (r == "leader", n.node)))
            .collect();
        m.sort();
        Ok(m.into_iter().map(|(_, n)| n).collect())
    }
}

/// Polls the managers until `stop` turns true; hands back every change it saw.
pub fn watch(
    swarm: Arc<Swarm>,
    start: Instant,
    live: Arc<crate::record::Live>,
    journal: crate::journal::Journal,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<NodesSeen> {
    use crate::journal::Entry;
    tokio::spawn(async move {
        let mut seen = NodesSeen::default();
        let mut nodes: HashMap<String, NodeEvent> = HashMap::new();
        let mut tasks: HashMap<String, (String, Option<String>)> = HashMap::new();
        let mut api_up: Option<bool> = None;
        loop {
            let at_s = start.elapsed().as_secs_f64();
            let answer = tokio::time::timeout(ANSWER_WITHIN, swarm.node_states())
                .await
                .unwrap_or_else(|_| {
                    Err(SwarmError::Unanswered(format!(
                        "no answer within {ANSWER_WITHIN:?} (no quorum?)"
                    )))
                });
            match answer {
                Ok(list) => {
                    if api_up != Some(true) {
                        api_up = Some(true);
                        let ev = ControlPlaneEvent {
                            at_s,
                            available: true,
                            detail: "the managers answer".into(),
                        };
                        journal.note(&Entry::ControlPlane(ev.clone()));
                        seen.control_plane.push(ev);
                    }
                    let hosts: HashMap<String, String> = list
                        .iter()
                        .map(|(id, n)| (id.clone(), n.node.clone()))
                        .collect();
                    for (id, mut n) in list {
                        let changed = nodes.get(&id).map_or(true, |o| {
                            (&o.state, &o.availability, &o.manager)
                                != (&n.state, &n.availability, &n.manager)
                        });
                        if changed && seen.nodes.len() < MAX_EVENTS {
                            n.at_s = at_s;
                            if at_s > 0.5 {
                                live.event(
                                    at_s,
                                    crate::record::live::EventKind::Node,
                                    format!("{} {} ({})", n.node, n.state, n.availability),
                                );
                            }
                            journal.note(&Entry::Node(n.clone()));
                            seen.nodes.push(n.clone());
                        }
                        nodes.insert(id, n);
                    }
                    if let Ok(Ok(list)) =
                        tokio::time::timeout(ANSWER_WITHIN, swarm.task_states(&hosts)).await
                    {
                        for mut t in list {
                            let now = (t.state.clone(), t.container.clone());
                            if tasks.get(&t.id) != Some(&now) && seen.tasks.len() < MAX_EVENTS {
                                t.at_s = at_s;
                                tasks.insert(t.id.clone(), now);
                                journal.note(&Entry::Task(t.clone()));
                                seen.tasks.push(t);
                            }
                        }
                    }
                }
                Err(e) => {
                    if api_up != Some(false) {
                        api_up = Some(false);
                        live.event(
                            at_s,
                            crate::record::live::EventKind::Node,
                            format!("the managers' API does not answer: {e}"),
                        );
                        let ev = ControlPlaneEvent {
                            at_s,
                            available: false,
                            detail: e.to_string(),
                        };
                        journal.note(&Entry::ControlPlane(ev.clone()));
                        seen.control_plane.push(ev);
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                _ = stop.wait_for(|s| *s) => return seen,
            }
        }
    })
}
