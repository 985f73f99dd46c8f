//! `summary.json`: the run's findings, schema-versioned (see `schema/summary.schema.json`).

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use crate::analysis::orchestrator::SwarmRecovery;
use crate::analysis::{availability, downtime, orchestrator, recovery};
use crate::fault::exec::FaultEvent;
use crate::record::instances::InstanceSeen;
use crate::record::{Class, Recorded};
use crate::swarm::events::SwarmEvent;

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
}

/// Open loop (a constant rate) or closed loop (N workers).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    Open,
    Closed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
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
    pub achieved_rate: f64,
    pub host: String,
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
    pub by_class: BTreeMap<String, u64>,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SwarmInfo {
    pub service: String,
    pub replicas: Option<u64>,
    /// Time to converge after scaling, if chaos-runner scaled.
    pub converge_s: Option<f64>,
    /// What the end of the run did to the service: restored as found (and what differed),
    /// nothing to restore, or changes kept (--keep-changes).
    #[serde(default)]
    pub restore: Option<String>,
    pub events: Vec<SwarmEvent>,
    /// Changes of the service's update status during the run (updates and rollbacks).
    #[serde(default)]
    pub updates: Vec<crate::swarm::update::UpdateStatusEvent>,
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

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloResult {
    pub spec: String,
    pub passed: bool,
    pub checks: Vec<SloCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloCheck {
    pub what: String,
    pub limit: f64,
    pub actual: Option<f64>,
    pub passed: bool,
}

/// Everything a summary is built from.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub run: RunInfo,
    pub access_path: String,
    pub recorded: &'a Recorded,
    pub instances: Vec<InstanceSeen>,
    pub faults: Vec<FaultEvent>,
    pub swarm: Option<SwarmInfo>,
    pub run_end_us: u64,
    pub bucket_threshold: f64,
    pub min_window_us: u64,
    pub interrupted: bool,
}

/// Versions from the instances that reported them, in order of first appearance.
pub fn versions_of(instances: &[Instance]) -> Vec<VersionSeen> {
    let mut out: Vec<VersionSeen> = Vec::new();
    for x in instances {
        match out.iter_mut().find(|v| v.version == x.version) {
            Some(v) => {
                v.first_seen_s = v.first_seen_s.min(x.first_seen_s);
                v.last_seen_s = v.last_seen_s.max(x.last_seen_s);
                v.answers += x.requests;
                v.instances += 1;
            }
            None => out.push(VersionSeen {
                version: x.version.clone(),
                first_seen_s: x.first_seen_s,
                last_seen_s: x.last_seen_s,
                answers: x.requests,
                instances: 1,
            }),
        }
    }
    out.sort_by(|a, b| a.first_seen_s.total_cmp(&b.first_seen_s));
    out
}

pub fn build(i: Inputs<'_>) -> Summary {
    let rec = i.recorded;
    let bu = rec.bucket_us;
    let s = |us: u64| us as f64 / 1e6;
    let mut by_class = BTreeMap::new();
    for c in Class::ALL {
        by_class.insert(
            c.name().to_string(),
            rec.timeline.iter().map(|b| b.counts[c.index()]).sum(),
        );
    }
    let sent: u64 = by_class.values().sum();
    let ok = by_class["ok"];
    let dropped: u64 = rec.timeline.iter().map(|b| b.dropped).sum();
    let late: u64 = rec.timeline.iter().map(|b| b.late).sum();

    let (windows, glitches) = downtime::windows(&rec.timeline, i.run_end_us, i.min_window_us);
    let time = availability::by_time(&rec.timeline, bu, &windows, i.bucket_threshold);

    let mut faults: Vec<FaultEvent> = i.faults;
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let fault_results: Vec<FaultResult> = faults
        .iter()
        .enumerate()
        .map(|(n, f)| {
            let at = (f.at_s * 1e6) as u64;
            let until = faults
                .get(n + 1)
                .map_or(i.run_end_us, |g| (g.at_s * 1e6) as u64);
            let r = recovery::after_fault(&rec.timeline, bu, &windows, at, until, bu);
            let window = r.outage.window().map(|w| &windows[w]);
            let (recovery_s, not_recovered_after_s) = match (window, r.last_failure_us) {
                (Some(w), _) if w.open => (None, Some(s(i.run_end_us.saturating_sub(at)))),
                (Some(w), _) => (Some(s(w.end_us.saturating_sub(at))), None),
                (None, Some(lf)) => (Some(s(lf.saturating_sub(at))), None),
                (None, None) => (Some(0.0), None),
            };
            FaultResult {
                at_s: f.at_s,
                kind: f.kind,
                spec: f.spec.clone(),
                ok: f.ok,
                outcome: f.outcome.clone(),
                targets: f.targets.clone(),
                took_ms: f.took_ms,
                failures: r.failures,
                outage: window.is_some(),
                window: r.outage.window(),
                in_earlier_outage: matches!(r.outage, recovery::Outage::Joined(_)),
                recovery_s,
                not_recovered_after_s,
                last_failure_s: r.last_failure_us.map(|lf| s(lf.saturating_sub(at))),
                swarm: i
                    .swarm
                    .as_ref()
                    .map(|sw| orchestrator::recovery_after(&sw.events, f.at_s, until as f64 / 1e6)),
            }
        })
        .collect();
    // Each outage once, by the fault that caused it, and only if it ended.
    let outages: Vec<f64> = fault_results
        .iter()
        .filter(|f| f.outage && !f.in_earlier_outage)
        .filter_map(|f| f.recovery_s)
        .collect();
    let mttr_s = (!outages.is_empty()).then(|| outages.iter().sum::<f64>() / outages.len() as f64);

    // Answers per replica in one pass over the timeline (never replicas x buckets).
    let mut answers = vec![0u64; i.instances.len()];
    for b in &rec.timeline {
        for &(id, n) in &b.per_instance {
            if let Some(a) = answers.get_mut(id as usize) {
                *a += n;
            }
        }
    }
    let instances: Vec<Instance> = i
        .instances
        .iter()
        .zip(answers)
        .map(|(seen, requests)| Instance {
            id: seen.id.clone(),
            version: seen.version.clone(),
            first_seen_s: s(seen.first_seen_us),
            last_seen_s: s(seen.last_seen_us().max(seen.first_seen_us)),
            requests,
        })
        .collect();
    // Kept in order of first sight: their positions are the indexes in timeline.csv.
    let restarts_seen = match faults.first() {
        Some(f) => instances.iter().filter(|x| x.first_seen_s > f.at_s).count() as u64,
        None => 0,
    };
    let versions = versions_of(&instances);
    let total_down: u64 = windows.iter().map(|w| w.duration_us()).sum();
    let mut run = i.run;
    run.achieved_rate = if run.elapsed_s > 0.0 {
        sent as f64 / run.elapsed_s
    } else {
        0.0
    };
    Summary {
        schema_version: SCHEMA_VERSION,
        tool: concat!("chaos-runner ", env!("CARGO_PKG_VERSION")).to_string(),
        run,
        access_path: i.access_path,
        counts: Counts {
            scheduled: sent + dropped,
            sent,
            dropped,
            late,
            ok,
            failed: sent - ok,
            by_class,
        },
        availability: Availability {
            requests: (sent > 0).then(|| ok as f64 / sent as f64),
            scheduled: (sent + dropped > 0).then(|| ok as f64 / (sent + dropped) as f64),
            time: time.ratio(),
            bucket_threshold: i.bucket_threshold,
            buckets_counted: time.buckets_counted,
            buckets_met: time.buckets_met,
        },
        downtime: Downtime {
            total_s: s(total_down),
            windows: windows
                .iter()
                .map(|w| DowntimeWindow {
                    start_s: s(w.start_us),
                    end_s: s(w.end_us),
                    duration_s: s(w.duration_us()),
                    failed: w.failed,
                    dropped: w.dropped,
                    open: w.open,
                })
                .collect(),
            glitches,
            min_window_ms: i.min_window_us as f64 / 1e3,
        },
        faults: fault_results,
        mttr_s,
        latency_ms: Latency::of(&rec.ok),
        failure_latency_ms: Latency::of(&rec.failed),
        send_lateness_ms: Latency::of(&rec.lateness),
        instances,
        restarts_seen,
        versions,
        swarm: i.swarm,
        slo: None,
        interrupted: i.interrupted,
    }
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
