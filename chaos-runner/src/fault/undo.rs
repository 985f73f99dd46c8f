//! What puts back what a fault did (a node stopped, cut off or drained; a container paused
//! or stopped by a signal), and what it acts through. Each undo is written to the run's
//! journal once done, so `restore` never does it twice.

use super::Kind;
use crate::journal::{Change, Entry, Journal};
use crate::node::NodeDriver;
use crate::swarm::task_faults::Act;
use crate::swarm::Swarm;

/// How a container is let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    Unpause,
    /// SIGCONT, after a stopping signal.
    Cont,
    /// A helper container clears the netem (or tbf) root qdiscs in its network namespace.
    NetemClear,
}

impl Resume {
    pub fn name(self) -> &'static str {
        match self {
            Resume::Unpause => "unpause",
            Resume::Cont => "SIGCONT",
            Resume::NetemClear => "netem-clear",
        }
    }
}

/// What puts one thing back after a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Undo {
    Node {
        kind: Kind,
        node: String,
    },
    Container {
        /// The node whose engine runs it.
        node: String,
        container: String,
        resume: Resume,
    },
    /// A vantage point's load service, removed.
    LoadService {
        name: String,
    },
}

impl Undo {
    /// The change it undoes, as the journal names it.
    pub fn change(&self) -> Change {
        match self {
            Undo::Node { kind, node } => Change::Node {
                kind: *kind,
                node: node.clone(),
            },
            Undo::Container {
                node,
                container,
                resume,
            } => Change::Container {
                undo: resume.name().to_string(),
                node: node.clone(),
                container: container.clone(),
            },
            Undo::LoadService { name } => Change::LoadService { name: name.clone() },
        }
    }

    /// The undo of a change the journal names, if it has one.
    pub fn of(c: &Change) -> Option<Self> {
        match c {
            Change::Node { kind, node } => Some(Undo::Node {
                kind: *kind,
                node: node.clone(),
            }),
            Change::Container {
                undo,
                node,
                container,
            } => Some(Undo::Container {
                node: node.clone(),
                container: container.clone(),
                resume: match undo.as_str() {
                    "unpause" => Resume::Unpause,
                    "SIGCONT" => Resume::Cont,
                    "netem-clear" => Resume::NetemClear,
                    _ => return None,
                },
            }),
            Change::LoadService { name } => Some(Undo::LoadService { name: name.clone() }),
            Change::Scale { .. } | Change::Service { .. } => None,
        }
    }
}

/// What faults act through, and where their changes are written down.
#[derive(Debug, Clone, Copy)]
pub struct Means<'a> {
    pub driver: Option<&'a NodeDriver>,
    pub swarm: Option<&'a Swarm>,
    /// Each change is written here before it is made, and again once undone.
    pub journal: &'a Journal,
}

/// Puts back one thing; what happened, in words.
pub async fn undo(u: &Undo, means: Means<'_>) -> Result<String, String> {
    let r = match u {
        Undo::Node { kind, node } => super::node::act(&means, *kind, node, true).await,
        Undo::Container {
            node,
            container,
            resume,
        } => resume_container(&means, node, container, *resume).await,
        Undo::LoadService { name } => remove_load_service(&means, name).await,
    };
    if r.is_ok() {
        let _ = means.journal.commit_async(Entry::Undone(u.change())).await;
    }
    r
}

/// Removes a vantage point's load service (one already gone counts as removed).
async fn remove_load_service(means: &Means<'_>, name: &str) -> Result<String, String> {
    let sw = means.swarm.ok_or("load services need --swarm-service")?;
    match sw.docker.delete_service(name).await {
        Ok(()) => Ok("removed".into()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok("already gone".into()),
        Err(e) => Err(format!("removing load service {name}: {e}")),
    }
}

async fn resume_container(
    means: &Means<'_>,
    node: &str,
    container: &str,
    resume: Resume,
) -> Result<String, String> {
    let sw = means.swarm.ok_or("container faults need --swarm-service")?;
    let engine = sw
        .engine_named(node)
        .ok_or_else(|| format!("no engine for node {node} (--engine {node}=URL)"))?;
    let act = match resume {
        Resume::Unpause => Act::Unpause,
        Resume::Cont => Act::Signal("SIGCONT"),
        Resume::NetemClear => Act::NetemClear,
    };
    let short: String = container.chars().take(12).collect();
    match sw.act_on(engine, container, act).await {
        Ok(()) => Ok(format!("{short} on {node}: {}", resume.name())),
        // Gone (swarm replaced it) or no longer paused: nothing left to put back.
        Err(crate::swarm::SwarmError::Gone(_)) => Ok(format!("{short} on {node}: already gone")),
        Err(crate::swarm::SwarmError::Api(e)) if gone_or_running(&e) => {
            Ok(format!("{short} on {node}: already gone or running ({e})"))
        }
        Err(e) => Err(format!("{short} on {node}: {e}")),
    }
}

/// Docker's answer for a container that no longer exists (404) or is not paused (409).
fn gone_or_running(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }
    )
}
