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
            versions: s.versions.iter().map(|v| v.version.clone()).collect(),
        }
    }
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
        // No events: the lane number alone.
        let mut bare = s.clone();
        bare.swarm = None;
        assert_eq!(lane_labels(&bare)[0], "#1");
    }
}
