//! Service updates under load: start an update (environment, image, or forced), pause a
//! canary after its first task, resume or roll back, and record the update's status changes.

use std::sync::Arc;
use std::time::Duration;

use bollard::models::{
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum as FailureAction,
    ServiceSpecUpdateConfigOrderEnum as Order,
};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::plan::{FailureAction as OnFailure, UpdateOrder, UpdatePlan};
use super::{Swarm, SwarmError};

/// A canary holds this long after its first task before swarm would update the next one;
/// chaos-runner resumes or rolls back well before.
const CANARY_PAUSE: Duration = Duration::from_secs(3600);

/// A change of the service's update status, as swarm reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpdateStatusEvent {
    pub at_s: f64,
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`, `rollback_completed`.
    pub state: String,
    pub message: String,
}

/// A duration as the Engine API takes it (nanoseconds).
pub(crate) fn ns(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

/// The service's update config for these settings (no failure tolerated).
pub(crate) fn update_config(
    order: UpdateOrder,
    parallelism: u64,
    delay: Duration,
    on_failure: OnFailure,
    monitor: Duration,
) -> ServiceSpecUpdateConfig {
    ServiceSpecUpdateConfig {
        parallelism: Some(parallelism as i64),
        delay: Some(ns(delay)),
        failure_action: Some(match on_failure {
            OnFailure::Continue => FailureAction::CONTINUE,
            OnFailure::Rollback => FailureAction::ROLLBACK,
            OnFailure::Pause => FailureAction::PAUSE,
        }),
        monitor: Some(ns(monitor)),
        max_failure_ratio: Some(0.0),
        order: Some(match order {
            UpdateOrder::StartFirst => Order::START_FIRST,
            UpdateOrder::StopFirst => Order::STOP_FIRST,
        }),
    }
}

impl Swarm {
    /// Starts an update of the service; returns once swarm accepted it.
    pub async fn update(&self, plan: &UpdatePlan, canary: bool) -> Result<(), SwarmError> {
        self.respec(None, |spec| {
            let task = spec.task_template.get_or_insert_with(Default::default);
            let cs = task.container_spec.get_or_insert_with(Default::default);
            let mut changed = false;
            let env = cs.env.get_or_insert_with(Vec::new);
            for (k, v) in &plan.env {
                let entry = format!("{k}={v}");
                match env
                    .iter_mut()
                    .find(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str()))
                {
                    Some(e) if *e == entry => {}
                    Some(e) => {
                        *e = entry;
                        changed = true;
                    }
                    None => {
                        env.push(entry);
                        changed = true;
                    }
                }
            }
            if let Some(image) = &plan.image {
                if cs.image.as_deref() != Some(image.as_str()) {
                    cs.image = Some(image.clone());
                    changed = true;
                }
            }
            if !changed {
                task.force_update = Some(task.force_update.unwrap_or(0) + 1);
            }
            spec.update_config = Some(update_config(
                plan.order,
                if canary { 1 } else { plan.parallelism },
                if canary { CANARY_PAUSE } else { plan.delay },
                plan.failure_action,
                plan.monitor,
            ));
            Ok(true)
        })
        .await
    }

    /// Lets a paused canary roll out to the rest: no more pause between tasks.
    pub async fn resume(&self) -> Result<(), SwarmError> {
        self.respec(None, |spec| {
            if let Some(uc) = spec.update_config.as_mut() {
                uc.delay = Some(0);
            }
            Ok(true)
        })
        .await
    }

    /// `docker service rollback`: back to the previous spec.
    pub async fn rollback(&self) -> Result<(), SwarmError> {
        self.respec(Some("previous"), |_| Ok(true)).await
    }

    /// The service's update state now, if an update ever ran.
    pub async fn update_state(&self) -> Result<Option<(String, String)>, SwarmError> {
        // Read as JSON: the engine spells the states as reported (`updating`, `completed`,
        // `rollback_started`, ...), and bollard's model of a whole service is large.
        let svc = super::raw::service_json(&self.service).await?;
        Ok(svc.get("UpdateStatus").filter(|u| !u.is_null()).map(|u| {
            let text = |k: &str| {
                u.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            (text("State"), text("Message"))
        }))
    }
}

/// Polls the update status every 200 ms and records each change, until `stop` turns
/// true; then hands the changes back.
pub fn watch(
    swarm: Arc<Swarm>,
    start: Instant,
    journal: crate::journal::Journal,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<UpdateStatusEvent>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut last: Option<(String, String)> = swarm.update_state().await.ok().flatten();
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.wait_for(|s| *s) => return seen,
            }
            let Ok(now) = swarm.update_state().await else {
                continue;
            };
            if now != last {
                if let Some((state, message)) = now.clone() {
                    let ev = UpdateStatusEvent {
                        at_s: start.elapsed().as_secs_f64(),
                        state,
                        message,
                    };
                    journal.note(&crate::journal::Entry::Update(ev.clone()));
                    seen.push(ev);
                }
                last = now;
            }
        }
    })
}
