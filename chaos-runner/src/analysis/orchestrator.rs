//! Recovery as the orchestrator did it, from swarm's own events: from a fault to the first
//! sign the engine saw trouble (unhealthy, out of memory, a death, with its exit code), the
//! replacement created, started and healthy; or that nothing was noticed while the run
//! watched.

use serde::{Deserialize, Serialize};

use crate::swarm::events::{ContainerAction, SwarmEvent};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwarmRecovery {
    /// Fault to the first container death, replacement created, started, healthy (s).
    pub died_s: Option<f64>,
    pub created_s: Option<f64>,
    pub started_s: Option<f64>,
    pub healthy_s: Option<f64>,
    /// Fault to the first sign of trouble the engine reported: unhealthy, out of memory or
    /// a death (s); none when nothing came while the run watched.
    #[serde(default)]
    pub noticed_s: Option<f64>,
    /// Fault to the first failed health check that made a task unhealthy (s).
    #[serde(default)]
    pub unhealthy_s: Option<f64>,
    /// The first dead container's exit code (137 after SIGKILL, 143 after SIGTERM).
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// The engine reported a container out of memory.
    #[serde(default)]
    pub oom: bool,
    /// How long after the fault the run kept watching (s).
    #[serde(default)]
    pub watched_s: Option<f64>,
}

/// What swarm did after a fault at `at_s`, until `until_s`: first death, then the first
/// replacement created, started and healthy after that death.
pub fn recovery_after(events: &[SwarmEvent], at_s: f64, until_s: f64) -> SwarmRecovery {
    let slack = 0.05;
    let in_range = |e: &&SwarmEvent| e.at_s >= at_s - slack && e.at_s < until_s;
    let first =
        |action: ContainerAction| events.iter().filter(in_range).find(|e| e.action == action);
    let death = first(ContainerAction::Die);
    let died = death.map(|e| e.at_s);
    let unhealthy = first(ContainerAction::Unhealthy).map(|e| e.at_s);
    let oom = first(ContainerAction::Oom).map(|e| e.at_s);
    let noticed = [unhealthy, oom, died]
        .into_iter()
        .flatten()
        .reduce(f64::min);
    let after = |action: ContainerAction, from: Option<f64>| {
        from.and_then(|t| {
            events
                .iter()
                .filter(in_range)
                .find(|e| e.action == action && e.at_s >= t)
                .map(|e| e.at_s)
        })
    };
    let created = after(ContainerAction::Create, died);
    let started = after(ContainerAction::Start, created.or(died));
    let healthy = after(ContainerAction::Healthy, started);
    let rel = |t: Option<f64>| t.map(|t| ((t - at_s) * 1e4).round() / 1e4);
    SwarmRecovery {
        died_s: rel(died),
        created_s: rel(created),
        started_s: rel(started),
        healthy_s: rel(healthy),
        noticed_s: rel(noticed),
        unhealthy_s: rel(unhealthy),
        exit_code: death.and_then(|e| e.exit_code),
        oom: oom.is_some(),
        watched_s: rel(Some(until_s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at_s: f64, action: &str) -> SwarmEvent {
        SwarmEvent {
            at_s,
            node: "node-0".into(),
            action: serde_json::from_value(serde_json::json!(action)).unwrap(),
            container: "c".into(),
            task: "t".into(),
            exit_code: None,
        }
    }

    #[test]
    fn recovery_follows_die_create_start_healthy() {
        let evs = vec![
            ev(9.0, "start"),
            ev(10.04, "die"),
            ev(10.5, "create"),
            ev(10.7, "start"),
            ev(12.0, "healthy"),
            ev(20.1, "die"),
        ];
        let r = recovery_after(&evs, 10.0, 20.0);
        assert_eq!(r.died_s, Some(0.04));
        assert_eq!(r.created_s, Some(0.5));
        assert_eq!(r.started_s, Some(0.7));
        assert_eq!(r.healthy_s, Some(2.0));
        assert_eq!(r.noticed_s, Some(0.04), "the death was the first sign");
        let none = recovery_after(&evs, 30.0, 40.0);
        assert_eq!(none.died_s, None);
        assert_eq!((none.noticed_s, none.watched_s), (None, Some(10.0)));
    }

    #[test]
    fn an_unhealthy_task_is_noticed_before_it_dies_and_an_oom_is_named() {
        let mut evs = vec![
            ev(10.0, "pause"),
            ev(14.2, "unhealthy"),
            ev(14.3, "kill"),
            ev(24.3, "die"),
            ev(24.9, "start"),
        ];
        evs[3].exit_code = Some(137);
        let r = recovery_after(&evs, 10.0, 30.0);
        assert_eq!(r.noticed_s, Some(4.2));
        assert_eq!(r.unhealthy_s, Some(4.2));
        assert_eq!(
            (r.died_s, r.exit_code, r.oom),
            (Some(14.3), Some(137), false)
        );
        let evs = vec![ev(5.0, "oom"), ev(5.01, "die")];
        let r = recovery_after(&evs, 1.0, 10.0);
        assert!(r.oom);
        assert_eq!(r.noticed_s, Some(4.0));
    }
}
