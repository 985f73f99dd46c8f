//! Container faults on the service's tasks, each through the engine its container runs on:
//! pause and unpause, a graceful stop, a signal, a degraded network (through a helper). Only containers labelled with the service's
//! name and id are ever touched, also when an undo comes from a journal.

use std::collections::{HashMap, HashSet};

use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
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

/// The containers a fault walks through: every candidate in its seeded order, of which it
/// acts on the first `want` that are still running when it comes to them. A container that
/// stopped between the listing and the act (swarm was replacing it) is passed over and the
/// next one taken; any other failure counts as one of the `want`, as a hit does.
#[derive(Debug)]
pub struct Picks {
    candidates: std::vec::IntoIter<TaskContainer>,
    want: usize,
    tried: usize,
    /// Running task containers of the service found on the engines that answered.
    pub found: usize,
    /// Candidates that were no longer running when their turn came.
    pub passed_over: Vec<String>,
}

impl Picks {
    pub fn new(candidates: Vec<TaskContainer>, want: u32) -> Self {
        Self {
            found: candidates.len(),
            candidates: candidates.into_iter(),
            want: want as usize,
            tried: 0,
            passed_over: Vec::new(),
        }
    }

    /// The next container to act on, while fewer than `want` have been hit or failed.
    pub fn next(&mut self) -> Option<TaskContainer> {
        if self.tried == self.want {
            return None;
        }
        self.tried += 1;
        self.candidates.next()
    }

    /// `t` (just handed out by `next`) was not running any more: it does not count, and
    /// the next candidate takes its place.
    pub fn pass_over(&mut self, t: &TaskContainer) {
        self.tried -= 1;
        self.passed_over.push(t.label.clone());
    }

    /// Says which containers were passed over, for a fault's outcome (empty if none).
    pub fn passed_over_note(&self) -> String {
        passed_over_note(&self.passed_over)
    }
}

/// `; passed over N no longer running: LABELS`, or nothing when `labels` is empty.
pub fn passed_over_note(labels: &[String]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    format!(
        "; passed over {} no longer running: {}",
        labels.len(),
        labels.join(", ")
    )
}

impl SwarmError {
    /// Whether this is Docker's answer for a container that went away or stopped running
    /// after it was listed: a 404, or a 409 saying it "is not running".
    pub fn vanished(&self) -> bool {
        match self {
            SwarmError::Gone(_) => true,
            SwarmError::Api(bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            }) => {
                *status_code == 404 || (*status_code == 409 && message.contains("is not running"))
            }
            _ => false,
        }
    }
}

/// The containers among `containers` whose task swarm still wants running: after a
/// partition heals, or while a task is replaced, a container still runs whose task the
/// managers are shutting down, and it is not one to hit. Without the managers' list
/// (`None`), every container stays.
fn wanted(
    containers: Vec<(usize, ContainerSummary)>,
    desired_running: Option<&HashSet<String>>,
) -> Vec<(usize, ContainerSummary)> {
    let Some(keep) = desired_running else {
        return containers;
    };
    containers
        .into_iter()
        .filter(|(_, c)| c.id.as_ref().is_some_and(|id| keep.contains(id)))
        .collect()
}

impl Swarm {
    /// Every running task container of the service whose task is still wanted running, on
    /// every engine, in a random (seeded) order, for a fault to walk through for `count`
    /// of them; and the engines (or the managers' task list) that did not answer.
    pub async fn pick_tasks(&self, count: u32, rng: &mut StdRng) -> (Picks, Vec<String>) {
        let (tasks, mut errors) = self.task_containers().await;
        let desired = match self.desired_running_containers().await {
            Ok(set) => Some(set),
            Err(e) => {
                errors.push(format!("the managers' task list: {e}"));
                None
            }
        };
        let mut tasks = wanted(tasks, desired.as_ref());
        tasks.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        tasks.shuffle(rng);
        let candidates = tasks
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
        (Picks::new(candidates, count), errors)
    }

    /// The containers of the service's tasks the managers want running.
    async fn desired_running_containers(&self) -> Result<HashSet<String>, SwarmError> {
        Ok(self
            .desired_running_tasks()
            .await?
            .into_iter()
            .filter_map(|t| t.status?.container_status?.container_id)
            .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str) -> TaskContainer {
        TaskContainer {
            engine: 0,
            id: id.into(),
            label: id.into(),
        }
    }

    fn api(status_code: u16, message: &str) -> SwarmError {
        SwarmError::Api(bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.into(),
        })
    }

    /// Walks `ids` for `want` of them; `outcome(id)` is what acting on it gives.
    fn walk(
        ids: &[&str],
        want: u32,
        outcome: impl Fn(&str) -> Result<(), SwarmError>,
    ) -> (Vec<String>, Picks) {
        let mut picks = Picks::new(ids.iter().map(|i| container(i)).collect(), want);
        let mut hit = Vec::new();
        while let Some(t) = picks.next() {
            match outcome(&t.id) {
                Ok(()) => hit.push(t.id.clone()),
                Err(e) if e.vanished() => picks.pass_over(&t),
                Err(_) => {}
            }
        }
        (hit, picks)
    }

    #[test]
    fn a_container_that_stopped_is_passed_over_for_the_next() {
        let (hit, picks) = walk(&["a", "b", "c", "d"], 2, |id| match id {
            "b" => Err(api(
                409,
                "Cannot kill container: b: Container b is not running",
            )),
            _ => Ok(()),
        });
        assert_eq!(hit, ["a", "c"]);
        assert_eq!(picks.found, 4);
        assert_eq!(picks.passed_over, ["b"]);
        assert_eq!(
            picks.passed_over_note(),
            "; passed over 1 no longer running: b"
        );
    }

    #[test]
    fn other_failures_count_and_nothing_beyond_the_asked_is_hit() {
        // A refused act is one of the asked: the walk does not go on to hit a third.
        let (hit, picks) = walk(&["a", "b", "c"], 2, |id| match id {
            "a" => Err(api(500, "engine trouble")),
            _ => Ok(()),
        });
        assert_eq!(hit, ["b"]);
        assert!(picks.passed_over.is_empty());
        assert_eq!(picks.passed_over_note(), "");
        let (hit, _) = walk(&["a", "b", "c"], 2, |_| Ok(()));
        assert_eq!(hit, ["a", "b"]);
    }

    #[test]
    fn a_walk_ends_when_the_candidates_do() {
        let (hit, picks) = walk(&["a", "b"], 2, |_| Err(SwarmError::Gone("x".into())));
        assert!(hit.is_empty());
        assert_eq!(picks.passed_over, ["a", "b"]);
        let (hit, _) = walk(&[], 3, |_| Ok(()));
        assert!(hit.is_empty());
    }

    #[test]
    fn only_gone_or_not_running_counts_as_vanished() {
        assert!(api(404, "No such container: x").vanished());
        assert!(api(409, "Container x is not running").vanished());
        assert!(SwarmError::Gone("x".into()).vanished());
        assert!(!api(409, "Container x is already paused").vanished());
        assert!(!api(500, "is not running").vanished());
        assert!(!SwarmError::NotOurs("x".into()).vanished());
    }

    #[test]
    fn containers_whose_task_is_shutting_down_are_not_candidates() {
        let summary = |id: &str| ContainerSummary {
            id: Some(id.into()),
            ..Default::default()
        };
        let all = vec![
            (0, summary("a")),
            (1, summary("b")),
            (1, ContainerSummary::default()),
        ];
        let keep = HashSet::from(["b".to_string()]);
        let ids = |v: Vec<(usize, ContainerSummary)>| -> Vec<Option<String>> {
            v.into_iter().map(|(_, c)| c.id).collect()
        };
        assert_eq!(
            ids(wanted(all.clone(), Some(&keep))),
            [Some("b".to_string())]
        );
        // Without the managers' list nothing is dropped.
        assert_eq!(ids(wanted(all, None)).len(), 3);
    }
}
