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
            versions: s.versions.iter().map(|v| v.version.clone()).collect(),
        }
    }
}
