//! Recovery as the orchestrator did it: from a fault to the first container death, the
//! replacement created, started and healthy, from swarm's own events.

use serde::{Deserialize, Serialize};

use crate::swarm::events::{ContainerAction, SwarmEvent};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwarmRecovery {
    /// Fault to the first container death, replacement created, started, healthy (s).
    pub died_s: Option<f64>,
    pub created_s: Option<f64>,
    pub started_s: Option<f64>,
    pub healthy_s: Option<f64>,
}

/// What swarm did after a fault at `at_s`, until `until_s`: first death, then the first
/// replacement created, started and healthy after that death.
pub fn recovery_after(events: &[SwarmEvent], at_s: f64, until_s: f64) -> SwarmRecovery {
    let slack = 0.05;
    let in_range = |e: &&SwarmEvent| e.at_s >= at_s - slack && e.at_s < until_s;
    let died = events
        .iter()
        .filter(in_range)
        .find(|e| e.action == ContainerAction::Die)
        .map(|e| e.at_s);
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
        let none = recovery_after(&evs, 30.0, 40.0);
        assert_eq!(none.died_s, None);
    }
}
