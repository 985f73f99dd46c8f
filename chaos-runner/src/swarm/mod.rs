//! Docker Swarm, through the Docker Engine API (bollard): kill task containers of the
//! target service (and only those), scale it and wait for convergence, and record the
//! orchestrator's own events as ground truth.
//!
//! The Docker socket is opened only when the user asks for Docker faults, events or scaling.

mod api;
mod engines;
pub mod events;
mod netem_helper;
pub mod nodes;
pub mod plan;
pub mod raw;
pub mod restore;
pub mod task_faults;
pub mod update;

use std::time::Duration;

use bollard::models::{ContainerSummary, ServiceSpec};
use bollard::query_parameters::UpdateServiceOptions;
use bollard::Docker;
pub use engines::Engine;
use thiserror::Error;
use tokio::time::Instant;

/// The labels swarm puts on every task container: only containers carrying both, with this
/// service's name and id, may ever be touched.
pub const SERVICE_LABEL: &str = "com.docker.swarm.service.name";
pub const SERVICE_ID_LABEL: &str = "com.docker.swarm.service.id";

#[derive(Debug, Error)]
pub enum SwarmError {
    #[error("cannot reach the Docker Engine (is the socket at {socket} mounted and readable?): {source}")]
    Connect {
        socket: String,
        source: bollard::errors::Error,
    },
    #[error("no swarm service named '{service}': {source}")]
    NoService {
        service: String,
        source: raw::RawError,
    },
    #[error("Docker API call failed: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("service '{service}' did not converge to {want} running replicas within {waited:?} ({running} running)")]
    NotConverged {
        service: String,
        want: u64,
        running: usize,
        waited: Duration,
    },
    #[error("service '{service}' was still rolling out an update after {waited:?}")]
    StillRolling { service: String, waited: Duration },
    #[error("service '{0}' is not in replicated mode and cannot be scaled")]
    NotReplicated(String),
    #[error("cannot read the service's spec: {0}")]
    Raw(#[from] raw::RawError),
    #[error("container {0} is not a task of this service: left alone")]
    NotOurs(String),
    #[error("container {0} is gone")]
    Gone(String),
    #[error("{0}")]
    Refused(String),
    #[error("the netem helper in {target}'s network namespace {detail}")]
    Helper { target: String, detail: String },
    #[error("--engine {node}={url}: {detail}")]
    Engine {
        node: String,
        url: String,
        detail: String,
    },
    #[error("no node '{0}' in the swarm")]
    NoNode(String),
    #[error("the managers did not answer: {0}")]
    Unanswered(String),
}

/// What a kill of task containers did.
#[derive(Debug, Clone, PartialEq)]
pub struct Killed {
    pub service: String,
    /// Running task containers of the service found.
    pub found: usize,
    /// The containers signalled: `short-id (task name)`.
    pub signalled: Vec<String>,
    /// Picked containers that had stopped running by their turn (others taken instead).
    pub passed_over: Vec<String>,
    /// The containers the signal did not reach, with why.
    pub errors: Vec<String>,
}

#[derive(Debug)]
pub struct Swarm {
    /// A manager's engine: the swarm's API (services, tasks, nodes).
    pub docker: Docker,
    pub service: String,
    pub service_id: String,
    /// The engines whose task containers may be signalled, the manager's first; each named
    /// by its node's hostname.
    pub engines: Vec<Engine>,
}

/// The default Engine socket.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// `DOCKER_HOST`, read here only (bollard reads it itself to connect).
fn docker_host() -> Option<String> {
    std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty())
}

/// `DOCKER_HOST` as the user set it, else the default socket: for messages.
pub fn socket_description() -> String {
    docker_host().unwrap_or_else(|| DEFAULT_SOCKET.into())
}

/// The Engine's Unix socket: `DOCKER_HOST` when it names one (`unix://PATH`), else the default.
pub fn socket_path() -> String {
    docker_host()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| DEFAULT_SOCKET.to_string())
}

impl Swarm {
    /// Connects to the manager (`DOCKER_HOST` or the local socket) and to `engines` (named
    /// `NODE=unix:///PATH` or `NODE=tcp://HOST:PORT`), and checks that the service exists.
    pub async fn connect(service: &str, engines: &[(String, String)]) -> Result<Self, SwarmError> {
        let docker =
            Docker::connect_with_local_defaults().map_err(|source| SwarmError::Connect {
                socket: socket_description(),
                source,
            })?;
        docker.ping().await.map_err(|source| SwarmError::Connect {
            socket: socket_description(),
            source,
        })?;
        // Read as JSON: bollard's model of a whole service is large, for two fields.
        let svc = raw::service_json(service)
            .await
            .map_err(|source| SwarmError::NoService {
                service: service.into(),
                source,
            })?;
        // Name the service as swarm does (the user may have given its id).
        let name = svc
            .pointer("/Spec/Name")
            .and_then(|n| n.as_str())
            .map(str::to_string);
        let service_id = svc
            .get("ID")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        // The engine's name from /info, read as JSON: bollard's model of that answer is
        // among its largest, for one field.
        let at = api::EngineAt::local();
        let own = match api::call(&at, hyper::Method::GET, "/info", None).await {
            Ok((200, body)) => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("Name")?.as_str().map(str::to_string)),
            Ok(_) => None,
            Err(e) => return Err(raw::RawError::from(e).into()),
        }
        .unwrap_or_else(|| "local".into());
        let mut all = vec![Engine {
            name: own,
            docker: docker.clone(),
            at,
        }];
        for (node, url) in engines {
            if all.iter().any(|e| &e.name == node) {
                continue;
            }
            all.push(Engine::connect(node, url)?);
        }
        Ok(Self {
            docker,
            service: name.unwrap_or_else(|| service.into()),
            service_id,
            engines: all,
        })
    }

    /// Reads the service's spec, lets `edit` change it and sends it back at that version
    /// (`rollback: Some("previous")` asks swarm for the previous spec instead). `edit`
    /// returns false when there is nothing to send.
    pub(crate) async fn respec(
        &self,
        rollback: Option<&str>,
        edit: impl FnOnce(&mut ServiceSpec) -> Result<bool, SwarmError>,
    ) -> Result<(), SwarmError> {
        // Not bollard's inspect: its model drops the health check (see `raw`).
        let (mut spec, version) = raw::inspect(&self.service).await?;
        if !edit(&mut spec)? {
            return Ok(());
        }
        let options = UpdateServiceOptions {
            version: version as i32,
            rollback: rollback.map(str::to_string),
            ..Default::default()
        };
        self.docker
            .update_service(&self.service, spec, options, None)
            .await?;
        Ok(())
    }

    /// Sets the replica count and waits until that many tasks run and are healthy.
    pub async fn scale(&self, replicas: u64, timeout: Duration) -> Result<Duration, SwarmError> {
        let started = Instant::now();
        self.respec(None, |spec| {
            let mode = spec.mode.get_or_insert_with(Default::default);
            let rep = mode
                .replicated
                .as_mut()
                .ok_or_else(|| SwarmError::NotReplicated(self.service.clone()))?;
            let changed = rep.replicas != Some(replicas as i64);
            rep.replicas = Some(replicas as i64);
            Ok(changed)
        })
        .await?;
        self.wait_converged(replicas, timeout, started).await
    }

    /// Waits until `want` tasks run with healthy containers, stable for half a second.
    pub async fn wait_converged(
        &self,
        want: u64,
        timeout: Duration,
        started: Instant,
    ) -> Result<Duration, SwarmError> {
        let mut stable_since: Option<Instant> = None;
        loop {
            let (running, ready) = self.running().await?;
            if running == want as usize && ready == want as usize {
                let since = *stable_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(500) {
                    return Ok(since.duration_since(started));
                }
            } else {
                stable_since = None;
            }
            if started.elapsed() > timeout {
                return Err(SwarmError::NotConverged {
                    service: self.service.clone(),
                    want,
                    running,
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// True only for a container labelled as a task of exactly this service (name and id).
pub fn belongs_to(c: &ContainerSummary, service: &str, service_id: &str) -> bool {
    let Some(labels) = c.labels.as_ref() else {
        return false;
    };
    !service_id.is_empty()
        && labels.get(SERVICE_LABEL).is_some_and(|s| s == service)
        && labels
            .get(SERVICE_ID_LABEL)
            .is_some_and(|s| s == service_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn labelled(name: &str, id: Option<&str>) -> ContainerSummary {
        let mut m = HashMap::from([(SERVICE_LABEL.to_string(), name.to_string())]);
        if let Some(id) = id {
            m.insert(SERVICE_ID_LABEL.to_string(), id.to_string());
        }
        ContainerSummary {
            labels: Some(m),
            ..Default::default()
        }
    }

    #[test]
    fn only_containers_labelled_with_the_service_name_and_id_belong() {
        assert!(!belongs_to(&ContainerSummary::default(), "app", "id1"));
        assert!(!belongs_to(
            &labelled("app-lookalike", Some("id1")),
            "app",
            "id1"
        ));
        assert!(
            !belongs_to(&labelled("app", None), "app", "id1"),
            "a copied name label is not enough"
        );
        assert!(!belongs_to(&labelled("app", Some("id2")), "app", "id1"));
        assert!(!belongs_to(&labelled("app", Some("")), "app", ""));
        assert!(belongs_to(&labelled("app", Some("id1")), "app", "id1"));
    }
}
