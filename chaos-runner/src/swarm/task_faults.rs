//! Container faults on the service's tasks, each through the engine its container runs on:
//! pause and unpause, a graceful stop, a signal, a degraded network (through a helper). Only containers labelled with the service's
//! name and id are ever touched, also when an undo comes from a journal.

use std::collections::HashMap;

use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{
    KillContainerOptions, ListContainersOptions, StopContainerOptions,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{belongs_to, Swarm, SwarmError};

/// A task container picked for a fault.
#[derive(Debug, Clone)]
pub struct TaskContainer {
    /// Index in the swarm's engines.
    pub engine: usize,
    pub id: String,
    /// `short-id (task name on node)`, for people.
    pub label: String,
}

/// What a container fault does to one container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act<'a> {
    Pause,
    Unpause,
    /// SIGTERM, then SIGKILL after the container's own stop grace period.
    Stop,
    Signal(&'a str),
    /// Set this netem on its interfaces, through a helper container.
    Netem(&'a crate::netem::NetemSpec),
    /// Clear the netem (or tbf) a helper set.
    NetemClear,
}

impl Swarm {
    /// `count` running task containers chosen at random (seeded) among those on every
    /// engine; how many there were; the engines that did not answer.
    pub async fn pick_tasks(
        &self,
        count: u32,
        rng: &mut StdRng,
    ) -> (Vec<TaskContainer>, usize, Vec<String>) {
        let (mut tasks, errors) = self.task_containers().await;
        let found = tasks.len();
        tasks.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        tasks.shuffle(rng);
        tasks.truncate(count as usize);
        let picked = tasks
            .into_iter()
            .map(|(engine, c)| {
                let id = c.id.clone().unwrap_or_default();
                let task = c
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("com.docker.swarm.task.name"))
                    .cloned()
                    .unwrap_or_default();
                let short: String = id.chars().take(12).collect();
                TaskContainer {
                    engine,
                    label: format!("{short} ({task} on {})", self.engines[engine].name),
                    id,
                }
            })
            .collect();
        (picked, found, errors)
    }

    /// The index of the engine of node `name`.
    pub fn engine_named(&self, name: &str) -> Option<usize> {
        self.engines.iter().position(|e| e.name == name)
    }

    /// Does `act` to container `id` through engine `engine`, after checking (again) that it
    /// is one of this service's task containers.
    pub async fn act_on(&self, engine: usize, id: &str, act: Act<'_>) -> Result<(), SwarmError> {
        let e = &self.engines[engine];
        // Listed (not inspected) by id: the same summary the faults were picked from.
        let listed = e
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([("id".to_string(), vec![id.to_string()])])),
                ..Default::default()
            }))
            .await?;
        let short: String = id.chars().take(12).collect();
        if listed.is_empty() {
            return Err(SwarmError::Gone(short));
        }
        if !listed
            .iter()
            .any(|c| belongs_to(c, &self.service, &self.service_id))
        {
            return Err(SwarmError::NotOurs(short));
        }
        match act {
            Act::Pause => e.docker.pause_container(id).await?,
            Act::Unpause => e.docker.unpause_container(id).await?,
            Act::Stop => {
                e.docker
                    .stop_container(id, None::<StopContainerOptions>)
                    .await?
            }
            Act::Netem(spec) => {
                let image = listed[0].image_id.clone().unwrap_or_default();
                let args = ["set".to_string(), spec.to_string()];
                super::netem_helper::run(&e.at, id, &image, &args).await?;
            }
            // Its network namespace ended with its process: nothing left to clear.
            Act::NetemClear
                if !matches!(
                    listed[0].state,
                    Some(ContainerSummaryStateEnum::RUNNING | ContainerSummaryStateEnum::PAUSED)
                ) => {}
            Act::NetemClear => {
                let image = listed[0].image_id.clone().unwrap_or_default();
                super::netem_helper::run(&e.at, id, &image, &["clear".to_string()]).await?;
            }
            Act::Signal(signal) => {
                e.docker
                    .kill_container(
                        id,
                        Some(KillContainerOptions {
                            signal: signal.to_string(),
                        }),
                    )
                    .await?
            }
        }
        Ok(())
    }
}
