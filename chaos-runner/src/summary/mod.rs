//! `summary.json`: the run's findings, schema-versioned (see `schema/summary.schema.json`).

mod build;

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use crate::analysis::orchestrator::SwarmRecovery;
use crate::record::Class;
pub use crate::slo::SloResult;
use crate::swarm::events::SwarmEvent;
pub use build::{build, degraded_s, figures, quantiles, restarts, Inputs};

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub schema_version: u32,
    pub tool: String,
    pub run: RunInfo,
    /// How the target was reached (routing mesh, VIP, DNS round-robin, loopback, ...).
    pub access_path: String,
    pub counts: Counts,
    pub availability: Availability,
    pub downtime: Downtime,
    pub faults: Vec<FaultResult>,
    /// Mean time to recovery over the faults that caused an outage that ended (seconds), as
    /// clients saw it; none when no such outage ended (outages still under way at the end
    /// have no recovery time).
    pub mttr_s: Option<f64>,
    /// Latency of successful attempts, from intended send time (ms).
    pub latency_ms: Latency,
    /// Latency of failed attempts (ms): kept apart so fast errors do not flatter latency.
    pub failure_latency_ms: Latency,
    /// How late attempts left after their intended send time (ms; open loop).
    pub send_lateness_ms: Latency,
    pub instances: Vec<Instance>,
    /// Replica ids first seen after the first fault: restarts and replacements.
    pub restarts_seen: u64,
    /// Versions that answered, in order of first appearance (rolling updates, blue-green cut-overs).
    #[serde(default)]
    pub versions: Vec<VersionSeen>,
    pub swarm: Option<SwarmInfo>,
    pub slo: Option<SloResult>,
    pub interrupted: bool,
    /// Set when the runner died before the end and this summary was rebuilt from the run's
    /// journal (`chaos-runner report DIR`): every figure covers only the start of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<Incomplete>,
}

/// What a rebuilt summary covers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Incomplete {
    /// The last second the journal committed: figures cover 0 to this (s).
    pub stopped_at_s: f64,
    /// How long the run was to last (s), when it had a duration.
    pub planned_s: Option<f64>,
    /// Attempts under way at that moment, whose outcome was never recorded (not counted).
    pub in_flight: u64,
    /// What was left out of the journal's files (lines cut short by the runner's death).
    pub notes: Vec<String>,
}

impl Incomplete {
    /// "the runner stopped at 9.8 s of 20 s; figures cover 0-9.8 s".
    pub fn describe(&self) -> String {
        let of = self
            .planned_s
            .map(|p| format!(" of {p:.1} s"))
            .unwrap_or_default();
        format!(
            "the runner stopped at {:.1} s{of}; figures cover 0-{:.1} s \
             ({} request{} under way then not counted)",
            self.stopped_at_s,
            self.stopped_at_s,
            self.in_flight,
            if self.in_flight == 1 { "" } else { "s" }
        )
    }
}

/// Open loop (a constant rate) or closed loop (N workers).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    Open,
    Closed,
}

/// How the run was set up, and the rate it achieved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    #[serde(flatten)]
    pub setup: RunSetup,
    /// Sent per second of the load.
    pub achieved_rate: f64,
}

/// How the run was set up: everything in `run` but what it measured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSetup {
    pub label: String,
    pub target: String,
    pub started_at: String,
    pub mode: LoadMode,
    /// Asked rate (open loop), requests per second.
    pub rate: Option<f64>,
    /// Connections opened before the clock started (closed loop: its workers).
    pub connections: usize,
    /// Open loop: the most requests that could be in flight: the user's cap when
    /// `in_flight_capped`, else the allowance for rate x timeout (never reached unless the
    /// target stalls). Closed loop: the workers.
    #[serde(default)]
    pub max_in_flight: u64,
    #[serde(default)]
    pub in_flight_capped: bool,
    /// The most workers (each with one request in flight at a time) the run had.
    #[serde(default)]
    pub peak_in_flight: u64,
    pub planned_s: Option<f64>,
    pub elapsed_s: f64,
    pub bucket_ms: f64,
    pub timeout_ms: f64,
    pub keepalive: bool,
    pub recycle_ms: f64,
    pub host: String,
    /// `--share K/N`: this run sent share K of the N of `rate`'s schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
}

impl RunSetup {
    /// The rate this run itself was asked to send: `rate`, or its share of it.
    pub fn own_rate(&self) -> Option<f64> {
        let of = self
            .share
            .as_deref()
            .and_then(|s| s.parse::<crate::load::share::Share>().ok())
            .map_or(1, |s| s.of);
        self.rate.map(|r| r / f64::from(of))
    }

    /// The asked load in words: `R req/s`, with this run's share of it when it had one.
    pub fn rate_words(&self, rate: f64) -> String {
        match (&self.share, self.own_rate()) {
            (Some(share), Some(own)) => {
                let own = (own * 10.0).round() / 10.0;
                format!("{rate} req/s in all (share {share} of it: {own} req/s from here)")
            }
            _ => format!("{rate} req/s"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Attempts that came due: sent + dropped.
    pub scheduled: u64,
    pub sent: u64,
    /// Came due but never sent (open loop: every connection busy and the queue full; or interrupted).
    pub dropped: u64,
    /// Sent more than 1 ms after their intended time.
    pub late: u64,
    pub ok: u64,
    pub failed: u64,
    /// Every class: ok + the failure classes = sent.
    pub by_class: BTreeMap<Class, u64>,
    /// Of the `other` failures, the malformed responses by what was wrong with them
    /// (`bad_chunk_size`, `head_too_large`, ...); kinds never seen left out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub malformed: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Availability {
    /// ok / sent.
    pub requests: Option<f64>,
    /// ok / scheduled: attempts that could not even be sent count as lost.
    #[serde(default)]
    pub scheduled: Option<f64>,
    /// Share of time buckets whose ok / (sent + dropped) met `bucket_threshold`.
    pub time: Option<f64>,
    pub bucket_threshold: f64,
    pub buckets_counted: u64,
    pub buckets_met: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Downtime {
    pub total_s: f64,
    pub windows: Vec<DowntimeWindow>,
    /// Windows shorter than `min_window_ms`, left out of `windows` and `total_s`.
    pub glitches: u64,
    pub min_window_ms: f64,
    /// Time in buckets where some requests failed and some succeeded (s): degraded, not down.
    /// None in summaries written before it was recorded (a re-render computes it from the
    /// timeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DowntimeWindow {
    pub start_s: f64,
    pub end_s: f64,
    pub duration_s: f64,
    /// Failed attempts in the window.
    pub failed: u64,
    /// Ticks in the window that were never sent (only with --max-in-flight, or interrupted).
    #[serde(default)]
    pub dropped: u64,
    /// Still failing when the run ended.
    pub open: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultResult {
    pub at_s: f64,
    pub kind: crate::fault::Kind,
    pub spec: String,
    pub ok: bool,
    pub outcome: String,
    pub targets: Vec<String>,
    pub took_ms: f64,
    /// Failed attempts between this fault and the next one.
    pub failures: u64,
    /// Whether it caused a downtime window (no request succeeded for a while) or landed in one.
    pub outage: bool,
    /// The index in `downtime.windows` of that window.
    #[serde(default)]
    pub window: Option<usize>,
    /// It landed inside an outage already under way: its recovery is that outage's end, and
    /// it does not count again in MTTR.
    #[serde(default)]
    pub in_earlier_outage: bool,
    /// Fault to the first success that ended its outage; without an outage, fault to its last
    /// failure (0 if none). None when the outage had not ended when the run did.
    pub recovery_s: Option<f64>,
    /// When its outage had not ended: from the fault to the end of the run (recovery took at
    /// least this long).
    #[serde(default)]
    pub not_recovered_after_s: Option<f64>,
    /// Fault to the last failure it caused.
    pub last_failure_s: Option<f64>,
    /// The orchestrator's view: what swarm did after this fault.
    pub swarm: Option<SwarmRecovery>,
    /// Node faults: the managers' view (node Down, tasks rescheduled, replacement answering).
    #[serde(default)]
    pub node: Option<crate::analysis::nodes::NodeRecovery>,
    /// Node faults: when the nodes were put back (seconds from the start); none when that
    /// happened after the load ended.
    #[serde(default)]
    pub restored_at_s: Option<f64>,
    /// When putting it back began (s from the start): an undo takes time (a node's engine
    /// starting, a helper container running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_began_s: Option<f64>,
    /// Node faults: how they were put back, or why not.
    #[serde(default)]
    pub restore: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwarmInfo {
    pub service: String,
    pub replicas: Option<u64>,
    /// Time to converge after scaling, if chaos-runner scaled.
    pub converge_s: Option<f64>,
    /// With --replicas: how many replicas answered through the access path before the
    /// clock started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answering: Option<crate::run::answering::Answering>,
    /// What the end of the run did to the service: restored as found (and what differed),
    /// nothing to restore, or changes kept (--keep-changes).
    #[serde(default)]
    pub restore: Option<String>,
    pub events: Vec<SwarmEvent>,
    /// Changes of the service's update status during the run (updates and rollbacks).
    #[serde(default)]
    pub updates: Vec<crate::swarm::update::UpdateStatusEvent>,
    /// The engines whose task containers docker faults could reach (node hostnames).
    #[serde(default)]
    pub engines: Vec<String>,
    /// How node faults reached the nodes (no token).
    #[serde(default)]
    pub node_driver: Option<String>,
    /// Nodes and tasks as the managers reported them, at each change.
    #[serde(default)]
    pub nodes: crate::swarm::nodes::NodesSeen,
}

/// Percentiles of one latency histogram (ms); none without a single value.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let q = |q: f64| Some(h.value_at_quantile(q) as f64 / 1000.0);
        Self {
            count: h.len(),
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: Some(h.max() as f64 / 1000.0),
            mean: Some(h.mean() / 1000.0),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Instance {
    pub id: String,
    /// `X-Version` it reported.
    #[serde(default)]
    pub version: String,
    pub first_seen_s: f64,
    /// Its last answer (by intended send time, as every time in the report).
    pub last_seen_s: f64,
    pub requests: u64,
}

/// One version of the service, over the replicas that reported it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionSeen {
    pub version: String,
    pub first_seen_s: f64,
    pub last_seen_s: f64,
    pub answers: u64,
    pub instances: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Percentiles are ordered, bounded by the max, and within the histogram's 0.1 %
        /// precision of the exact quantiles of the recorded values.
        #[test]
        fn percentiles_match_exact_quantiles(mut values in proptest::collection::vec(1u64..10_000_000, 1..2000)) {
            let mut h = crate::record::new_histogram();
            for v in &values {
                h.record(*v).unwrap();
            }
            let l = Latency::of(&h);
            let v = |p: Option<f64>| p.expect("a percentile of a non-empty histogram");
            prop_assert!(l.p50 <= l.p90 && l.p90 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
            values.sort_unstable();
            for (q, got) in [(0.5, v(l.p50)), (0.9, v(l.p90)), (0.95, v(l.p95)), (0.99, v(l.p99))] {
                let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
                let exact = values[rank - 1] as f64 / 1000.0;
                prop_assert!((got - exact).abs() <= exact * 0.001 + 0.001, "q{q}: {got} vs {exact}");
            }
            prop_assert_eq!(l.count, values.len() as u64);
        }
    }

    #[test]
    fn no_value_gives_no_percentile() {
        let l = Latency::of(&crate::record::new_histogram());
        assert_eq!(
            l,
            Latency {
                count: 0,
                ..Latency::default()
            }
        );
        assert_eq!(l.p50, None);
    }
}
