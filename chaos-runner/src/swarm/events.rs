//! The orchestrator's view: container events of the service's tasks (die, create, start,
//! healthy) with their times, recorded while the load runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Swarm, SERVICE_LABEL};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwarmEvent {
    /// Seconds from the start of the load (engine clock).
    pub at_s: f64,
    /// `die`, `kill`, `create`, `start`, `healthy`, `unhealthy`, `destroy`, ...
    pub action: String,
    pub container: String,
    pub task: String,
    pub exit_code: Option<i64>,
}

/// Streams the service's container events into `sink` until the task is aborted.
pub fn watch(
    swarm: Arc<Swarm>,
    start_wall: SystemTime,
    sink: Arc<Mutex<Vec<SwarmEvent>>>,
) -> tokio::task::JoinHandle<()> {
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
        let mut stream = swarm.docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        }));
        let start_ns = start_wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        while let Some(Ok(ev)) = stream.next().await {
            let Some(action) = ev.action else { continue };
            let action = match action.as_str() {
                "health_status: healthy" => "healthy".to_string(),
                "health_status: unhealthy" => "unhealthy".to_string(),
                a if a.starts_with("exec_") => continue,
                a => a.to_string(),
            };
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
            sink.lock().expect("events lock").push(SwarmEvent {
                at_s: (at_ns - start_ns) as f64 / 1e9,
                action,
                container,
                task: attrs
                    .get("com.docker.swarm.task.name")
                    .cloned()
                    .unwrap_or_default(),
                exit_code: attrs.get("exitCode").and_then(|c| c.parse().ok()),
            });
        }
    })
}
