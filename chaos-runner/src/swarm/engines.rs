//! The engines of a swarm's nodes: where task containers run, and so where a docker fault
//! signals them. The manager's own engine always; others as given with `--engine NODE=URL`
//! (the lab: each node's socket; a real cluster: each node's socket forwarded over SSH).
//! Only containers labelled as tasks of the target service are ever listed or signalled.

use std::collections::HashMap;

use bollard::models::{ContainerSummary, Task};
use bollard::query_parameters::{ListContainersOptions, ListNodesOptions, ListTasksOptions};
use bollard::Docker;
use rand::rngs::StdRng;

use super::task_faults::Act;
use super::{belongs_to, Killed, Swarm, SwarmError, SERVICE_LABEL};

/// One node's engine, named by the node's hostname.
#[derive(Debug, Clone)]
pub struct Engine {
    pub name: String,
    pub docker: Docker,
    /// The same engine, for the calls made without bollard (`api`).
    pub at: super::api::EngineAt,
}

/// Seconds an engine call may take before that engine counts as unreachable.
const ENGINE_TIMEOUT_S: u64 = 5;

impl Engine {
    /// `unix:///PATH` or `tcp://HOST:PORT` (plain HTTP: only through a tunnel).
    pub fn connect(node: &str, url: &str) -> Result<Self, SwarmError> {
        let err = |detail: String| SwarmError::Engine {
            node: node.into(),
            url: url.into(),
            detail,
        };
        let docker = if let Some(path) = url.strip_prefix("unix://") {
            Docker::connect_with_unix(path, ENGINE_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
        } else if url.starts_with("tcp://") || url.starts_with("http://") {
            let http = url.replacen("tcp://", "http://", 1);
            Docker::connect_with_http(&http, ENGINE_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
        } else {
            return Err(err("not unix:///PATH or tcp://HOST:PORT".into()));
        }
        .map_err(|e| err(e.to_string()))?;
        let at = super::api::EngineAt::parse(url)
            .ok_or_else(|| err("not unix:///PATH or tcp://HOST:PORT".into()))?;
        Ok(Self {
            name: node.into(),
            docker,
            at,
        })
    }
}

impl Swarm {
    /// Running task containers of this service on one engine, optionally only those whose
    /// health (the engine's health filter: `starting`, `healthy`, `unhealthy`, `none`) is
    /// one of `health`.
    async fn containers_on(
        &self,
        engine: &Engine,
        health: Option<&[&str]>,
    ) -> Result<Vec<ContainerSummary>, SwarmError> {
        let mut filters = HashMap::from([
            (
                "label".to_string(),
                vec![format!("{SERVICE_LABEL}={}", self.service)],
            ),
            ("status".to_string(), vec!["running".to_string()]),
        ]);
        if let Some(h) = health {
            filters.insert("health".into(), h.iter().map(|s| s.to_string()).collect());
        }
        let list = engine
            .docker
            .list_containers(Some(ListContainersOptions {
                all: false,
                filters: Some(filters),
                ..Default::default()
            }))
            .await?;
        // Belt and braces: never trust the filter alone with a kill.
        Ok(list
            .into_iter()
            .filter(|c| belongs_to(c, &self.service, &self.service_id))
            .collect())
    }

    /// Running task containers of this service on every engine that answers, with the
    /// engine each is on; and the engines that did not answer.
    pub async fn task_containers(&self) -> (Vec<(usize, ContainerSummary)>, Vec<String>) {
        let mut found = Vec::new();
        let mut unreachable = Vec::new();
        for (i, e) in self.engines.iter().enumerate() {
            match self.containers_on(e, None).await {
                Ok(list) => found.extend(list.into_iter().map(|c| (i, c))),
                Err(err) => unreachable.push(format!("{}: {err}", e.name)),
            }
        }
        (found, unreachable)
    }

    /// Sends `signal` to `count` running task containers chosen at random (seeded) among
    /// those on every engine, through the engine each runs on.
    pub async fn kill_tasks(
        &self,
        signal: &str,
        count: u32,
        rng: &mut StdRng,
    ) -> Result<Killed, SwarmError> {
        // Picked as every container fault picks (the same seeded order as before).
        let (mut picks, mut errors) = self.pick_tasks(count, rng).await;
        let mut signalled = Vec::new();
        while let Some(t) = picks.next() {
            match self.act_on(t.engine, &t.id, Act::Signal(signal)).await {
                Ok(()) => signalled.push(t.label.clone()),
                Err(e) if e.vanished() => picks.pass_over(&t),
                Err(e) => errors.push(format!("{}: {e}", t.label)),
            }
        }
        Ok(Killed {
            service: self.service.clone(),
            found: picks.found,
            signalled,
            passed_over: picks.passed_over,
            errors,
        })
    }

    /// The service's tasks the managers want running (whatever state each is in).
    pub(super) async fn desired_running_tasks(&self) -> Result<Vec<Task>, SwarmError> {
        let filters = HashMap::from([
            ("service".to_string(), vec![self.service.clone()]),
            ("desired-state".to_string(), vec!["running".to_string()]),
        ]);
        Ok(self
            .docker
            .list_tasks(Some(ListTasksOptions {
                filters: Some(filters),
            }))
            .await?)
    }

    /// Running tasks, and how many of them are ready: healthy or without a health check,
    /// from the engine's health filter where chaos-runner reaches the task's node's engine;
    /// a running task on a node it does not reach counts as ready.
    pub(super) async fn running(&self) -> Result<(usize, usize), SwarmError> {
        let tasks = self.desired_running_tasks().await?;
        let hostnames: HashMap<String, String> = self
            .docker
            .list_nodes(None::<ListNodesOptions>)
            .await?
            .into_iter()
            .filter_map(|n| Some((n.id?, n.description?.hostname?)))
            .collect();
        let mut running_on: HashMap<String, usize> = HashMap::new();
        for t in &tasks {
            let up = t
                .status
                .as_ref()
                .and_then(|s| s.state)
                .is_some_and(|s| s == bollard::models::TaskState::RUNNING);
            if up {
                let host = t
                    .node_id
                    .as_ref()
                    .and_then(|id| hostnames.get(id))
                    .cloned()
                    .unwrap_or_default();
                *running_on.entry(host).or_default() += 1;
            }
        }
        let running = running_on.values().sum();
        let mut ready = 0;
        for (host, n) in &running_on {
            match self.engines.iter().find(|e| &e.name == host) {
                Some(e) => {
                    ready += self
                        .containers_on(e, Some(&["healthy", "none"]))
                        .await
                        .map_or(*n, |c| c.len().min(*n));
                }
                None => ready += n,
            }
        }
        Ok((running, ready))
    }
}
