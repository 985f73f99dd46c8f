//! Builds a [`Summary`] from what a run recorded: every field computed here, once.

use std::collections::BTreeMap;

use super::*;
use crate::analysis::{availability, downtime, nodes, orchestrator, recovery};
use crate::fault::exec::FaultEvent;
use crate::record::instances::InstanceSeen;
use crate::record::Recorded;
use crate::slo::{Figures, Quantiles, Slo};

/// Everything a summary is built from.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub setup: RunSetup,
    pub access_path: String,
    pub recorded: &'a Recorded,
    pub instances: Vec<InstanceSeen>,
    pub faults: Vec<FaultEvent>,
    pub swarm: Option<SwarmInfo>,
    pub run_end_us: u64,
    pub bucket_threshold: f64,
    pub min_window_us: u64,
    pub interrupted: bool,
    /// Malformed responses by kind (the load path's count; none when replayed from a
    /// journal, which does not keep them).
    pub malformed: BTreeMap<String, u64>,
    /// Objectives to judge the run by (`--slo`).
    pub slo: Option<&'a Slo>,
}

/// Versions from the instances that reported them, in order of first appearance.
fn versions_of(instances: &[Instance]) -> Vec<VersionSeen> {
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

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// Replicas that first answered after the first fault (at `after_s`) and were started after
/// it: a replica whose container the engine saw start before the fault, and that is the first
/// process seen in that container, is one that was slow to answer, not a replacement.
pub fn restarts(
    instances: &[Instance],
    after_s: f64,
    events: &[crate::swarm::events::SwarmEvent],
) -> u64 {
    use crate::swarm::events::ContainerAction;
    let started_before = |host: &str| {
        !host.is_empty()
            && events.iter().any(|e| {
                e.action == ContainerAction::Start
                    && e.at_s < after_s
                    && e.container.starts_with(host)
            })
    };
    let host = |id: &str| id.rsplit_once('-').map_or("", |(h, _)| h).to_string();
    instances
        .iter()
        .enumerate()
        .filter(|(n, x)| {
            let h = host(&x.id);
            let first_in_container = !instances[..*n].iter().any(|y| host(&y.id) == h);
            x.first_seen_s > after_s && !(first_in_container && started_before(&h))
        })
        .count() as u64
}

/// Time in buckets where some requests failed and some succeeded (s).
pub fn degraded_s(timeline: &[crate::record::Bucket], bucket_us: u64) -> f64 {
    timeline
        .iter()
        .filter(|b| b.ok() > 0 && b.failed() > 0)
        .count() as f64
        * bucket_us as f64
        / 1e6
}

pub fn build(i: Inputs<'_>) -> Summary {
    let rec = i.recorded;
    let mut counts = counts(rec);
    counts.malformed = i.malformed;
    let (windows, glitches) = downtime::windows(&rec.timeline, i.run_end_us, i.min_window_us);
    let time = availability::by_time(&rec.timeline, rec.bucket_us, &windows, i.bucket_threshold);
    let mut faults: Vec<FaultEvent> = i.faults;
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let instances = instances(rec, &i.instances);
    let fault_results = fault_results(
        rec,
        &windows,
        &faults,
        i.run_end_us,
        i.swarm.as_ref(),
        &instances,
    );
    // Each outage once, by the fault that caused it, and only if it ended.
    let outages: Vec<f64> = fault_results
        .iter()
        .filter(|f| f.outage && !f.in_earlier_outage)
        .filter_map(|f| f.recovery_s)
        .collect();
    let mttr_s = (!outages.is_empty()).then(|| outages.iter().sum::<f64>() / outages.len() as f64);
    // Kept in order of first sight: their positions are the indexes in timeline.csv.
    let events = i.swarm.as_ref().map_or(&[][..], |sw| &sw.events[..]);
    let restarts_seen = match faults.first() {
        Some(f) => restarts(&instances, f.at_s, events),
        None => 0,
    };
    let total_down: u64 = windows.iter().map(|w| w.duration_us()).sum();
    let achieved_rate = if i.setup.elapsed_s > 0.0 {
        counts.sent as f64 / i.setup.elapsed_s
    } else {
        0.0
    };
    let (sent, scheduled, ok) = (counts.sent, counts.scheduled, counts.ok);
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        tool: concat!("chaos-runner ", env!("CARGO_PKG_VERSION")).to_string(),
        run: RunInfo {
            setup: i.setup,
            achieved_rate,
        },
        access_path: i.access_path,
        counts,
        availability: Availability {
            requests: (sent > 0).then(|| ok as f64 / sent as f64),
            scheduled: (scheduled > 0).then(|| ok as f64 / scheduled as f64),
            time: time.ratio(),
            bucket_threshold: i.bucket_threshold,
            buckets_counted: time.buckets_counted,
            buckets_met: time.buckets_met,
        },
        downtime: Downtime {
            total_s: secs(total_down),
            windows: windows.iter().map(window).collect(),
            glitches,
            min_window_ms: i.min_window_us as f64 / 1e3,
            degraded_s: Some(degraded_s(&rec.timeline, rec.bucket_us)),
        },
        faults: fault_results,
        mttr_s,
        latency_ms: Latency::of(&rec.ok),
        failure_latency_ms: Latency::of(&rec.failed),
        send_lateness_ms: Latency::of(&rec.lateness),
        versions: versions_of(&instances),
        instances,
        restarts_seen,
        swarm: i.swarm,
        slo: None,
        interrupted: i.interrupted,
        incomplete: None,
    };
    summary.slo = i.slo.map(|slo| slo.check(&figures(&summary)));
    summary
}

/// Counts per class over the timeline; they reconcile by construction.
fn counts(rec: &Recorded) -> Counts {
    let by_class: BTreeMap<Class, u64> = Class::ALL
        .iter()
        .map(|&c| (c, rec.timeline.iter().map(|b| b.counts[c.index()]).sum()))
        .collect();
    let sent: u64 = by_class.values().sum();
    let ok = by_class[&Class::Ok];
    let dropped: u64 = rec.timeline.iter().map(|b| b.dropped).sum();
    Counts {
        scheduled: sent + dropped,
        sent,
        dropped,
        late: rec.timeline.iter().map(|b| b.late).sum(),
        ok,
        failed: sent - ok,
        by_class,
        malformed: BTreeMap::new(),
    }
}

fn window(w: &downtime::Window) -> DowntimeWindow {
    DowntimeWindow {
        start_s: secs(w.start_us),
        end_s: secs(w.end_us),
        duration_s: secs(w.duration_us()),
        failed: w.failed,
        dropped: w.dropped,
        open: w.open,
    }
}

/// What each fault cost, from its firing to the next fault's (or the end of the run).
fn fault_results(
    rec: &Recorded,
    windows: &[downtime::Window],
    faults: &[FaultEvent],
    run_end_us: u64,
    swarm: Option<&SwarmInfo>,
    instances: &[Instance],
) -> Vec<FaultResult> {
    let bu = rec.bucket_us;
    let answered: Vec<nodes::Answered<'_>> = instances
        .iter()
        .map(|x| nodes::Answered {
            id: &x.id,
            first_seen_s: x.first_seen_s,
        })
        .collect();
    faults
        .iter()
        .enumerate()
        .map(|(n, f)| {
            let at = (f.at_s * 1e6) as u64;
            let until = faults
                .get(n + 1)
                .map_or(run_end_us, |g| (g.at_s * 1e6) as u64);
            let r = recovery::after_fault(&rec.timeline, bu, windows, at, until, bu);
            let window = r.outage.window().map(|w| &windows[w]);
            let (recovery_s, not_recovered_after_s) = match (window, r.last_failure_us) {
                (Some(w), _) if w.open => (None, Some(secs(run_end_us.saturating_sub(at)))),
                (Some(w), _) => (Some(secs(w.end_us.saturating_sub(at))), None),
                (None, Some(lf)) => (Some(secs(lf.saturating_sub(at))), None),
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
                last_failure_s: r.last_failure_us.map(|lf| secs(lf.saturating_sub(at))),
                swarm: swarm
                    .map(|sw| orchestrator::recovery_after(&sw.events, f.at_s, until as f64 / 1e6)),
                node: swarm.filter(|_| f.kind.is_node()).map(|sw| {
                    nodes::recovery_after(
                        &sw.nodes,
                        &answered,
                        &f.targets,
                        f.at_s,
                        secs(run_end_us),
                    )
                }),
                restored_at_s: f.restored_at_s,
                restore_began_s: f.restore_began_s,
                restore: f.restore.clone(),
            }
        })
        .collect()
}

/// Replicas in order of first sight, with their answers counted in one pass over the
/// timeline (never replicas x buckets).
fn instances(rec: &Recorded, seen: &[InstanceSeen]) -> Vec<Instance> {
    let mut answers = vec![0u64; seen.len()];
    for b in &rec.timeline {
        for &(id, n) in &b.per_instance {
            if let Some(a) = answers.get_mut(id as usize) {
                *a += n;
            }
        }
    }
    seen.iter()
        .zip(answers)
        .map(|(seen, requests)| Instance {
            id: seen.id.clone(),
            version: seen.version.clone(),
            first_seen_s: secs(seen.first_seen_us),
            last_seen_s: secs(seen.last_seen_us().max(seen.first_seen_us)),
            requests,
        })
        .collect()
}

/// What objectives are checked against.
pub fn figures(s: &Summary) -> Figures {
    Figures {
        availability: s.availability.scheduled,
        time_availability: s.availability.time,
        latency_ms: quantiles(&s.latency_ms),
        downtime_s: s.downtime.total_s,
        mttr_s: s.mttr_s,
        unrecovered: s.faults.iter().any(|f| f.not_recovered_after_s.is_some()),
    }
}

/// The quantiles an objective can be about, of a latency's percentiles.
pub fn quantiles(l: &Latency) -> Quantiles {
    Quantiles {
        p50: l.p50,
        p90: l.p90,
        p99: l.p99,
        p999: l.p999,
        max: l.max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::events::{ContainerAction, SwarmEvent};

    fn instance(id: &str, first_seen_s: f64) -> Instance {
        Instance {
            id: id.into(),
            version: "v".into(),
            first_seen_s,
            last_seen_s: first_seen_s + 1.0,
            requests: 1,
        }
    }

    fn start(container: &str, at_s: f64) -> SwarmEvent {
        SwarmEvent {
            at_s,
            node: "n".into(),
            action: ContainerAction::Start,
            container: format!("{container}0123456789abcdef"),
            task: "t".into(),
            exit_code: None,
        }
    }

    #[test]
    fn degraded_is_the_time_in_buckets_with_both_answers_and_failures() {
        use crate::record::{Bucket, Class};
        let bucket = |ok: u64, failed: u64| {
            let mut b = Bucket::default();
            b.counts[Class::Ok.index()] = ok;
            b.counts[Class::Timeout.index()] = failed;
            b
        };
        // Up, degraded, down, degraded, up: two degraded buckets of 100 ms.
        let tl = [
            bucket(5, 0),
            bucket(3, 2),
            bucket(0, 5),
            bucket(1, 4),
            bucket(5, 0),
        ];
        assert!((degraded_s(&tl, 100_000) - 0.2).abs() < 1e-12);
        assert_eq!(degraded_s(&[], 100_000), 0.0);
    }

    #[test]
    fn a_replica_started_before_the_fault_that_answered_late_is_no_restart() {
        // The committed partition run: 9cbedd4f45f2 started 0.9 s before the run, first
        // answered at 34 s; two replacements started 21.5 s after the cut.
        let instances = [
            instance("852c9ac973ff-fb07d3bb", 0.0),
            instance("9cbedd4f45f2-b7f619f1", 34.07),
            instance("80bd9d1649b7-29383435", 22.0),
            instance("316e7b1f451b-94439e11", 22.1),
        ];
        let events = [
            start("9cbedd4f45f2", -0.9),
            start("80bd9d1649b7", 21.5),
            start("316e7b1f451b", 21.5),
        ];
        assert_eq!(restarts(&instances, 10.0, &events), 2);
        // Without the engine's events, every late first answer counts, as before.
        assert_eq!(restarts(&instances, 10.0, &[]), 3);
        // A second process in a container started before the fault is a restart.
        let again = [
            instance("9cbedd4f45f2-b7f619f1", 1.0),
            instance("9cbedd4f45f2-00000001", 12.0),
        ];
        assert_eq!(restarts(&again, 10.0, &events), 1);
    }
}
