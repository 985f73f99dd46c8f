//! The orchestrator's view: container events of the service's tasks (die, create, start,
//! healthy) with their times, recorded while the load runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Swarm, SERVICE_LABEL};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwarmEvent {
    /// Seconds from the start of the load (engine clock).
    pub at_s: f64,
    /// The node whose engine reported it.
    #[serde(default)]
    pub node: String,
    pub action: ContainerAction,
    pub container: String,
    pub task: String,
    pub exit_code: Option<i64>,
}

/// What happened to a task's container, as the engine reports it. Only what tells the
/// story of a failure and its repair is kept (not attach, exec, resize, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerAction {
    Create,
    Start,
    Healthy,
    Unhealthy,
    Kill,
    Oom,
    Die,
    Stop,
    Pause,
    Unpause,
    Destroy,
}

impl ContainerAction {
    /// The engine's action text (`die`, `health_status: healthy`, ...); None for the rest.
    pub fn from_engine(action: &str) -> Option<Self> {
        Some(match action {
            "create" => Self::Create,
            "start" => Self::Start,
            "health_status: healthy" => Self::Healthy,
            "health_status: unhealthy" => Self::Unhealthy,
            "kill" => Self::Kill,
            "oom" => Self::Oom,
            "die" => Self::Die,
            "stop" => Self::Stop,
            "pause" => Self::Pause,
            "unpause" => Self::Unpause,
            "destroy" => Self::Destroy,
            _ => return None,
        })
    }
}

/// After the stop, events still arriving within this long are kept (the engine's last ones).
const GRACE: Duration = Duration::from_millis(300);

/// Streams the service's container events until `stop` turns true (and a short grace
/// after it), then hands them back.
pub fn watch(
    swarm: Arc<Swarm>,
    engine: usize,
    start_wall: SystemTime,
    live: Arc<crate::record::Live>,
    journal: crate::journal::Journal,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<SwarmEvent>> {
    tokio::spawn(async move {
        let since = start_wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(1))
            .unwrap_or(0);
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "label".to_string(),
                vec![format!("{SERVICE_LABEL}={}", swarm.service)],
            ),
        ]);
        let engine = &swarm.engines[engine];
        let mut stream = engine.docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        }));
        let start_ns = start_wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        let mut seen = Vec::new();
        let mut deadline: Option<Instant> = None;
        loop {
            let far = Instant::now() + Duration::from_secs(86_400);
            let ev = tokio::select! {
                ev = stream.next() => ev,
                _ = stop.wait_for(|s| *s), if deadline.is_none() => {
                    deadline = Some(Instant::now() + GRACE);
                    continue;
                }
                () = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => break,
            };
            let Some(Ok(ev)) = ev else { break };
            if let Some(mut e) = to_event(ev, start_ns) {
                e.node.clone_from(&engine.name);
                live.event(
                    e.at_s,
                    crate::record::live::EventKind::Container,
                    format!("{:?} {} on {}", e.action, e.task, e.node).to_lowercase(),
                );
                journal.note(&crate::journal::Entry::Container(e.clone()));
                seen.push(e);
            }
        }
        seen
    })
}

/// One engine event as recorded; None for actions that are not kept.
fn to_event(ev: bollard::models::EventMessage, start_ns: i64) -> Option<SwarmEvent> {
    let action = ev
        .action
        .as_deref()
        .and_then(ContainerAction::from_engine)?;
    let attrs = ev
        .actor
        .as_ref()
        .and_then(|a| a.attributes.clone())
        .unwrap_or_default();
    let container: String = ev
        .actor
        .and_then(|a| a.id)
        .unwrap_or_default()
        .chars()
        .take(12)
        .collect();
    let at_ns = ev
        .time_nano
        .unwrap_or_else(|| ev.time.unwrap_or(0) * 1_000_000_000);
    Some(SwarmEvent {
        at_s: (at_ns - start_ns) as f64 / 1e9,
        node: String::new(),
        action,
        container,
        task: attrs
            .get("com.docker.swarm.task.name")
            .cloned()
            .unwrap_or_default(),
        exit_code: attrs.get("exitCode").and_then(|c| c.parse().ok()),
    })
}
