//! A cell's service settings (replicas, environment, health check, restart delay, update
//! config, memory limit), made through the swarm API from the spec as found, so that one cell's changes
//! never leak into the next; then the wait until swarm has rolled them out and the
//! replicas run.

use std::time::Duration;

use bollard::models::{HealthConfig, ServiceSpec, TaskSpecRestartPolicy};
use tokio::time::Instant;

use super::file::Axis;
use super::plan::Cell;
use super::settings::{Health, Setting};
use crate::swarm::restore::Baseline;
use crate::swarm::update::{ns, update_config};
use crate::swarm::{Swarm, SwarmError};

/// The spec as found with the cell's service settings made.
pub fn desired(base: &ServiceSpec, cell: &Cell) -> ServiceSpec {
    let mut spec = base.clone();
    for (axis, s) in &cell.settings {
        let task = spec.task_template.get_or_insert_with(Default::default);
        match (axis, s) {
            (Axis::Replicas, Setting::Replicas(n)) => {
                if let Some(r) = spec
                    .mode
                    .get_or_insert_with(Default::default)
                    .replicated
                    .as_mut()
                {
                    r.replicas = Some(*n as i64);
                }
            }
            (Axis::Env, Setting::Env(vars)) => {
                let cs = task.container_spec.get_or_insert_with(Default::default);
                let env = cs.env.get_or_insert_with(Vec::new);
                for (k, v) in vars {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                    env.push(format!("{k}={v}"));
                }
            }
            (Axis::Health, Setting::Health(h)) => {
                let cs = task.container_spec.get_or_insert_with(Default::default);
                cs.health_check = Some(match h {
                    Health::Off => HealthConfig {
                        test: Some(vec!["NONE".into()]),
                        ..Default::default()
                    },
                    Health::Check {
                        interval,
                        retries,
                        timeout,
                        start_period,
                    } => HealthConfig {
                        // The service's own test where it has one; else the image's
                        // (an empty test inherits it).
                        test: cs
                            .health_check
                            .as_ref()
                            .and_then(|h| h.test.clone())
                            .filter(|t| t.first().map(String::as_str) != Some("NONE")),
                        interval: Some(ns(*interval)),
                        timeout: Some(ns(*timeout)),
                        retries: Some(*retries as i64),
                        start_period: Some(ns(*start_period)),
                        ..Default::default()
                    },
                });
            }
            (Axis::RestartDelay, Setting::RestartDelay(d)) => {
                let rp = task
                    .restart_policy
                    .get_or_insert_with(TaskSpecRestartPolicy::default);
                rp.delay = Some(ns(*d));
            }
            (Axis::Memory, Setting::Memory(bytes)) => {
                let limits = task
                    .resources
                    .get_or_insert_with(Default::default)
                    .limits
                    .get_or_insert_with(Default::default);
                limits.memory_bytes = bytes.map(|b| b as i64);
            }
            (Axis::Update, Setting::Update(u)) => {
                spec.update_config = Some(update_config(
                    u.order,
                    u.parallelism,
                    u.delay,
                    u.failure_action,
                    u.monitor,
                ));
            }
            _ => {}
        }
    }
    spec
}

/// Whether the cell changes the service at all.
pub fn changes_service(cell: &Cell) -> bool {
    cell.settings.iter().any(|(a, _)| a.on_service())
}

/// Sends the cell's spec when the service differs from it, then waits (at most `timeout`)
/// for the rollout and for the replicas to run; what changed in words and how long it took.
pub async fn apply(
    sw: &Swarm,
    base: &Baseline,
    cell: &Cell,
    timeout: Duration,
    rebalance: bool,
) -> Result<(Vec<String>, Duration), SwarmError> {
    let want = desired(base.spec(), cell);
    let started = Instant::now();
    let mut said = Vec::new();
    sw.respec(None, |now| {
        said = crate::swarm::restore::differences(now, &want);
        if said.is_empty() && !rebalance {
            return Ok(false);
        }
        let force = now.task_template.as_ref().and_then(|t| t.force_update);
        *now = want.clone();
        if let Some(t) = now.task_template.as_mut() {
            // A forced update replaces every task, each on the node with the fewest.
            t.force_update = if rebalance {
                Some(force.unwrap_or(0) + 1)
            } else {
                force
            };
        }
        if rebalance {
            said.push("tasks spread afresh (a forced update)".into());
        }
        Ok(true)
    })
    .await?;
    if !said.is_empty() {
        sw.wait_rolled_out(timeout).await?;
    }
    let replicas = want
        .mode
        .as_ref()
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .unwrap_or(1)
        .max(0) as u64;
    sw.wait_converged(replicas, timeout, started).await?;
    Ok((said, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::settings::UpdateSettings;

    fn base() -> ServiceSpec {
        serde_json::from_value(serde_json::json!({
            "Mode": {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": {"Image": "x", "Env": ["A=1", "B=2"]}},
        }))
        .unwrap()
    }

    #[test]
    fn a_cell_sets_its_values_on_the_spec_as_found() {
        let cell = Cell {
            fixed: vec![],
            index: 0,
            settings: vec![
                (Axis::Replicas, Setting::Replicas(5)),
                (
                    Axis::Env,
                    Setting::Env([("B".to_string(), "3".to_string())].into()),
                ),
                (
                    Axis::Health,
                    Setting::Health("interval=1s;retries=2;timeout=1s".parse().unwrap()),
                ),
                (
                    Axis::RestartDelay,
                    Setting::RestartDelay(Duration::from_secs(5)),
                ),
                (
                    Axis::Update,
                    Setting::Update("order=start-first".parse::<UpdateSettings>().unwrap()),
                ),
                (Axis::Memory, Setting::Memory(Some(64 << 20))),
            ],
        };
        let d = desired(&base(), &cell);
        let said = crate::swarm::restore::differences(&base(), &d);
        assert_eq!(
            said,
            [
                "replicas 5 -> 2",
                "B=3 -> B=2",
                "update settings put back",
                "health check put back",
                "restart policy put back",
                "memory limit put back"
            ]
        );
        let t = d.task_template.unwrap();
        let h = t.container_spec.unwrap().health_check.unwrap();
        assert_eq!(h.test, None, "inherits the image's test");
        assert_eq!((h.interval, h.retries), (Some(1_000_000_000), Some(2)));
        assert_eq!(t.restart_policy.unwrap().delay, Some(5_000_000_000));
        let limits = t.resources.unwrap().limits.unwrap();
        assert_eq!(limits.memory_bytes, Some(64 << 20));
        // "none" takes a limit the service had away.
        let mut limited = base();
        limited.task_template.as_mut().unwrap().resources =
            Some(bollard::models::TaskSpecResources {
                limits: Some(bollard::models::Limit {
                    memory_bytes: Some(64 << 20),
                    ..Default::default()
                }),
                ..Default::default()
            });
        let unlimited = Cell {
            fixed: vec![],
            index: 3,
            settings: vec![(Axis::Memory, Setting::Memory(None))],
        };
        let d = desired(&limited, &unlimited);
        assert_eq!(
            crate::swarm::restore::differences(&limited, &d),
            ["memory limit put back"]
        );
        let off = Cell {
            fixed: vec![],
            index: 1,
            settings: vec![(Axis::Health, Setting::Health(Health::Off))],
        };
        let h = desired(&base(), &off)
            .task_template
            .unwrap()
            .container_spec
            .unwrap()
            .health_check;
        assert_eq!(h.unwrap().test, Some(vec!["NONE".to_string()]));
        let none = Cell {
            fixed: vec![],
            index: 2,
            settings: vec![],
        };
        assert!(crate::swarm::restore::differences(&base(), &desired(&base(), &none)).is_empty());
    }
}
