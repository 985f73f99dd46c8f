//! Leaving the service as the run found it: its spec is read before anything changes it
//! (scaling, updates, canaries) and sent back at the end of the run, normal, failed or
//! interrupted, unless the user asked to keep the changes. What differed is said in words.

use std::time::Duration;

use bollard::models::ServiceSpec;
use bollard::query_parameters::UpdateServiceOptions;
use tokio::time::Instant;

use super::{raw, Swarm, SwarmError};

/// The service's spec when the run began, and the engine's JSON it was read from.
#[derive(Debug, Clone)]
pub struct Baseline {
    spec: ServiceSpec,
    json: serde_json::Value,
}

impl Baseline {
    /// The service as the engine described it, for the run's journal.
    pub fn to_json(&self) -> serde_json::Value {
        self.json.clone()
    }

    /// The spec as found.
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }

    /// The baseline a journal holds.
    pub fn from_json(json: serde_json::Value) -> Result<Self, raw::RawError> {
        Ok(Self {
            spec: raw::spec_of(&json)?,
            json,
        })
    }
}

impl Swarm {
    /// Reads the spec to restore at the end.
    pub async fn baseline(&self) -> Result<Baseline, SwarmError> {
        let (spec, _, json) = raw::inspect_json(&self.service).await?;
        Ok(Baseline { spec, json })
    }

    /// Sends the baseline back if the service differs from it now (or an update the run
    /// started is still paused or rolling), then waits (at most `timeout`) until swarm has
    /// rolled it out and the replicas run, so the next experiment starts from the state this
    /// one found. Returns what was undone, empty when nothing was.
    pub async fn restore(
        &self,
        base: &Baseline,
        timeout: Duration,
    ) -> Result<Vec<String>, SwarmError> {
        let (now, version) = raw::inspect(&self.service).await?;
        let mut changes = differences(&base.spec, &now);
        let same_spec = changes.is_empty();
        let unfinished = matches!(
            self.update_state().await?.as_ref().map(|(s, _)| s.as_str()),
            Some("paused" | "updating" | "rollback_paused" | "rollback_started")
        );
        if changes.is_empty() && !unfinished {
            return Ok(changes);
        }
        if unfinished {
            changes.push("an update the run started was still under way".into());
        }
        let mut spec = base.spec.clone();
        // Never behind the service's force counter; one ahead when only an unfinished
        // update differs, so that swarm replaces the tasks it changed.
        if let Some(t) = spec.task_template.as_mut() {
            let now_force = now
                .task_template
                .as_ref()
                .and_then(|t| t.force_update)
                .unwrap_or(0);
            let base_force = t.force_update.unwrap_or(0);
            t.force_update = Some(now_force.max(base_force) + u64::from(same_spec));
        }
        let options = UpdateServiceOptions {
            version: version as i32,
            ..Default::default()
        };
        self.docker
            .update_service(&self.service, spec, options, None)
            .await?;
        let started = Instant::now();
        self.wait_rolled_out(timeout).await?;
        if let Some(n) = replicas(&base.spec) {
            self.wait_converged(n.max(0) as u64, timeout, started)
                .await?;
        }
        Ok(changes)
    }

    /// Waits until no update or rollback is rolling: first (for up to 2 s) for the one just
    /// sent to show, then for it to end.
    pub(crate) async fn wait_rolled_out(&self, timeout: Duration) -> Result<(), SwarmError> {
        let rolling = |s: Option<(String, String)>| {
            matches!(
                s.as_ref().map(|(s, _)| s.as_str()),
                Some("updating" | "rollback_started")
            )
        };
        let started = Instant::now();
        while !rolling(self.update_state().await?) && started.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        while rolling(self.update_state().await?) {
            if started.elapsed() > timeout {
                return Err(SwarmError::StillRolling {
                    service: self.service.clone(),
                    waited: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }
}

fn replicas(s: &ServiceSpec) -> Option<i64> {
    s.mode.as_ref()?.replicated.as_ref()?.replicas
}

fn image(s: &ServiceSpec) -> Option<&str> {
    s.task_template
        .as_ref()?
        .container_spec
        .as_ref()?
        .image
        .as_deref()
}

fn env(s: &ServiceSpec) -> Vec<String> {
    s.task_template
        .as_ref()
        .and_then(|t| t.container_spec.as_ref())
        .and_then(|c| c.env.clone())
        .unwrap_or_default()
}

/// What differs between the spec the run found and the one it leaves, in words.
pub fn differences(base: &ServiceSpec, now: &ServiceSpec) -> Vec<String> {
    let mut out = Vec::new();
    if replicas(base) != replicas(now) {
        let n = |r: Option<i64>| r.map_or("?".into(), |r| r.to_string());
        out.push(format!(
            "replicas {} -> {}",
            n(replicas(now)),
            n(replicas(base))
        ));
    }
    if image(base) != image(now) {
        out.push(format!(
            "image {} -> {}",
            image(now).unwrap_or("?"),
            image(base).unwrap_or("?")
        ));
    }
    let (b, n) = (env(base), env(now));
    for e in n.iter().filter(|e| !b.contains(e)) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        match b
            .iter()
            .find(|x| x.split_once('=').map(|(k, _)| k) == Some(key))
        {
            Some(was) => out.push(format!("{e} -> {was}")),
            None => out.push(format!("{e} removed")),
        }
    }
    for e in b.iter().filter(|e| !n.contains(e)) {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        if !n
            .iter()
            .any(|x| x.split_once('=').map(|(k, _)| k) == Some(key))
        {
            out.push(format!("{e} put back"));
        }
    }
    if base.update_config != now.update_config {
        out.push("update settings put back".into());
    }
    let task = |s: &ServiceSpec| s.task_template.clone().unwrap_or_default();
    let (bt, nt) = (task(base), task(now));
    let health = |t: &bollard::models::TaskSpec| {
        t.container_spec
            .as_ref()
            .and_then(|c| c.health_check.clone())
    };
    if health(&bt) != health(&nt) {
        out.push("health check put back".into());
    }
    if bt.restart_policy != nt.restart_policy {
        out.push("restart policy put back".into());
    }
    let memory = |t: &bollard::models::TaskSpec| {
        t.resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.memory_bytes)
            .filter(|b| *b > 0)
    };
    if memory(&bt) != memory(&nt) {
        out.push("memory limit put back".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(replicas: i64, env: &[&str]) -> ServiceSpec {
        serde_json::from_value(serde_json::json!({
            "Mode": {"Replicated": {"Replicas": replicas}},
            "TaskTemplate": {"ContainerSpec": {"Image": "crashlab/crashserver:v1", "Env": env}},
        }))
        .unwrap()
    }

    #[test]
    fn says_what_changed_back() {
        let base = spec(1, &["VERSION=v1", "A=1"]);
        assert!(differences(&base, &base).is_empty());
        let now = spec(5, &["VERSION=v3-bad", "A=1", "ERROR_RATE=50%"]);
        assert_eq!(
            differences(&base, &now),
            vec![
                "replicas 5 -> 1".to_string(),
                "VERSION=v3-bad -> VERSION=v1".into(),
                "ERROR_RATE=50% removed".into(),
            ]
        );
    }
}
