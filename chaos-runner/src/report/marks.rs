//! What the time charts mark besides the timeline.

use crate::summary::Summary;

/// What the time charts mark besides the timeline: the run's length, faults, downtime
/// windows, and each lane's version. From a finished run's summary, or from a live run.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    /// The x axis starts here (s); the timeline's first bucket starts here too.
    pub from_s: f64,
    /// The x axis ends at least here (s).
    pub until_s: f64,
    pub faults: Vec<f64>,
    pub windows: Vec<(f64, f64)>,
    /// Faults with a duration: from firing to being put back (s).
    pub held: Vec<(f64, f64)>,
    /// The swarm's own states over time: a node down, the managers' API lost, an update or
    /// a rollback under way (from, until, what).
    pub states: Vec<(f64, f64, SwarmState)>,
    /// Each replica's version, by lane (index in order of first answer).
    pub lane_versions: Vec<String>,
    /// Each lane's name (`#3 node-1, slot 2`), where the engine's events name its task; the
    /// lane number alone otherwise.
    pub lane_labels: Vec<String>,
    /// Versions in order of first appearance (the lanes' colours).
    pub versions: Vec<String>,
}

impl Marks {
    pub fn of(s: &Summary) -> Self {
        Self {
            from_s: 0.0,
            until_s: s.run.setup.elapsed_s,
            faults: s.faults.iter().map(|f| f.at_s).collect(),
            windows: s
                .downtime
                .windows
                .iter()
                .map(|w| (w.start_s, w.end_s))
                .collect(),
            held: s
                .faults
                .iter()
                .filter_map(|f| f.restored_at_s.map(|r| (f.at_s, r)))
                .collect(),
            lane_versions: s.instances.iter().map(|i| i.version.clone()).collect(),
            lane_labels: lane_labels(s),
            states: swarm_states(s),
            versions: s.versions.iter().map(|v| v.version.clone()).collect(),
        }
    }
}

/// A state of the swarm worth a band on the time charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwarmState {
    NodeDown,
    ControlPlaneLost,
    Updating,
    RollingBack,
    /// A task's health check failing (unhealthy until healthy again or its container died).
    Unhealthy,
}

impl SwarmState {
    pub const ALL: [SwarmState; 5] = [
        SwarmState::Unhealthy,
        SwarmState::NodeDown,
        SwarmState::ControlPlaneLost,
        SwarmState::Updating,
        SwarmState::RollingBack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SwarmState::NodeDown => "a node down",
            SwarmState::ControlPlaneLost => "managers' API lost",
            SwarmState::Updating => "update under way",
            SwarmState::RollingBack => "rollback under way",
            SwarmState::Unhealthy => "a task unhealthy",
        }
    }
}

/// When each state held, from the managers' reports; one still holding at the end runs to
/// the end of the run.
fn swarm_states(s: &Summary) -> Vec<(f64, f64, SwarmState)> {
    let Some(sw) = s.swarm.as_ref() else {
        return Vec::new();
    };
    let end = s.run.setup.elapsed_s;
    let mut out = Vec::new();
    // Each node's down stretches: from a report of `down` to its next report otherwise.
    let mut names: Vec<&str> = sw.nodes.nodes.iter().map(|e| e.node.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let mut since = None;
        for e in sw.nodes.nodes.iter().filter(|e| e.node == name) {
            match (e.state == "down", since) {
                (true, None) => since = Some(e.at_s),
                (false, Some(from)) => {
                    out.push((from, e.at_s, SwarmState::NodeDown));
                    since = None;
                }
                _ => {}
            }
        }
        if let Some(from) = since {
            out.push((from, end.max(from), SwarmState::NodeDown));
        }
    }
    // Each container's unhealthy stretches, from the engines' health events.
    {
        use crate::swarm::events::ContainerAction as A;
        let mut since: Vec<(&str, f64)> = Vec::new();
        for e in &sw.events {
            match e.action {
                A::Unhealthy if !since.iter().any(|(c, _)| *c == e.container) => {
                    since.push((&e.container, e.at_s));
                }
                A::Healthy | A::Die => {
                    if let Some(i) = since.iter().position(|(c, _)| *c == e.container) {
                        let (_, from) = since.remove(i);
                        out.push((from, e.at_s, SwarmState::Unhealthy));
                    }
                }
                _ => {}
            }
        }
        out.extend(
            since
                .into_iter()
                .map(|(_, from)| (from, end.max(from), SwarmState::Unhealthy)),
        );
    }
    let mut lost = None;
    for c in &sw.nodes.control_plane {
        match (c.available, lost) {
            (false, None) => lost = Some(c.at_s),
            (true, Some(from)) => {
                out.push((from, c.at_s, SwarmState::ControlPlaneLost));
                lost = None;
            }
            _ => {}
        }
    }
    if let Some(from) = lost {
        out.push((from, end.max(from), SwarmState::ControlPlaneLost));
    }
    let mut current: Option<(f64, SwarmState)> = None;
    for u in &sw.updates {
        let next = match u.state.as_str() {
            "updating" => Some(SwarmState::Updating),
            "rollback_started" => Some(SwarmState::RollingBack),
            _ => None,
        };
        if let Some((from, st)) = current.take() {
            out.push((from, u.at_s, st));
        }
        current = next.map(|st| (u.at_s, st));
    }
    if let Some((from, st)) = current {
        out.push((from, end.max(from), st));
    }
    out
}

/// `#N node, slot S` for each replica whose container (the `X-Instance` id's host part) the
/// engines' events name, else `#N`.
fn lane_labels(s: &Summary) -> Vec<String> {
    let events = s.swarm.as_ref().map_or(&[][..], |sw| &sw.events[..]);
    s.instances
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let host = x.id.rsplit_once('-').map_or("", |(h, _)| h);
            let task = events
                .iter()
                .find(|e| !host.is_empty() && e.container.starts_with(host));
            match task {
                Some(e) => {
                    let slot = e.task.split('.').nth(1).unwrap_or("?");
                    let on = if e.node.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", e.node)
                    };
                    format!("#{}{on}, slot {slot}", i + 1)
                }
                None => format!("#{}", i + 1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_named_by_node_and_slot_where_the_engine_named_the_task() {
        let s: Summary = serde_json::from_str(include_str!(
            "../../../results/multi-node/partition/summary.json"
        ))
        .unwrap();
        let labels = lane_labels(&s);
        assert_eq!(labels.len(), s.instances.len());
        // 556ca47c02d4 is task lab_appserver.3 on node-0 in that run's events.
        let i = s
            .instances
            .iter()
            .position(|x| x.id.starts_with("556ca47c02d4"))
            .unwrap();
        assert_eq!(labels[i], format!("#{} node-0, slot 3", i + 1));
        // The cut node was reported down, and stayed down in the managers' view until the
        // run ended (they report it ready again only after the run).
        let states = swarm_states(&s);
        assert!(
            states
                .iter()
                .any(|(a, _, st)| *st == SwarmState::NodeDown && *a > 10.0),
            "{states:?}"
        );
        // No events: the lane number alone.
        let mut bare = s.clone();
        bare.swarm = None;
        assert_eq!(lane_labels(&bare)[0], "#1");
    }

    #[test]
    fn an_unhealthy_task_is_a_band_until_its_container_died() {
        let s: Summary = serde_json::from_str(include_str!(
            "../../../results/failure-spectrum/sigstop/health-on/1-replica/summary.json"
        ))
        .unwrap();
        let f = &s.faults[0];
        let w = f.swarm.as_ref().unwrap();
        let bands: Vec<_> = swarm_states(&s)
            .into_iter()
            .filter(|b| b.2 == SwarmState::Unhealthy)
            .collect();
        assert_eq!(bands.len(), 1, "{bands:?}");
        assert!(
            (bands[0].0 - (f.at_s + w.unhealthy_s.unwrap())).abs() < 0.01,
            "{bands:?}"
        );
        assert!(
            (bands[0].1 - (f.at_s + w.died_s.unwrap())).abs() < 0.01,
            "{bands:?}"
        );
    }

    #[test]
    fn updates_and_a_lost_control_plane_are_bands() {
        let u: Summary = serde_json::from_str(include_str!(
            "../../../results/upgrades/stop-first-1/summary.json"
        ))
        .unwrap();
        let states = swarm_states(&u);
        let updating: Vec<_> = states
            .iter()
            .filter(|s| s.2 == SwarmState::Updating)
            .collect();
        assert_eq!(updating.len(), 1, "{states:?}");
        let sw = u.swarm.as_ref().unwrap();
        assert_eq!(updating[0].0, sw.updates[0].at_s);
        assert_eq!(updating[0].1, sw.updates[1].at_s);
        let m: Summary = serde_json::from_str(include_str!(
            "../../../results/multi-node/manager-stop-2/summary.json"
        ))
        .unwrap();
        let lost: Vec<_> = swarm_states(&m)
            .into_iter()
            .filter(|s| s.2 == SwarmState::ControlPlaneLost)
            .collect();
        let cp = &m.swarm.as_ref().unwrap().nodes.control_plane;
        assert_eq!(
            lost,
            vec![(cp[1].at_s, cp[2].at_s, SwarmState::ControlPlaneLost)]
        );
    }
}
