//! One vantage point of a merge: its run read from its directory (or rebuilt from its
//! journal when its runner died), whether and when it was lost, which part of the run it saw
//! fail, and its own view as merged.json lists it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::exit::UsageError;
use crate::load::share::Share;
use crate::record::Bucket;
use crate::report::{self, read_summary, read_timeline};
use crate::summary::Summary;

/// One run, as read from its directory.
pub(super) struct Input {
    pub(super) dir: PathBuf,
    pub(super) summary: Summary,
    pub(super) timeline: Vec<Bucket>,
    pub(super) ok: Histogram<u64>,
    pub(super) failed: Histogram<u64>,
    pub(super) started: SystemTime,
    pub(super) share: Option<Share>,
    /// Read from its journal: the run did not finish.
    pub(super) rebuilt: bool,
    /// Whether and how it stopped short of its run.
    pub(super) loss: Option<Loss>,
    /// What the pages call it: its directory's name unless given.
    pub(super) name: String,
    /// Its clock against its gatherer's, when it sent its run to one (`clock.json`).
    pub(super) clock: Option<SentClock>,
}

/// A sender's clock against its gatherer's, at its start and its end (`clock.json`).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub(super) struct SentClock {
    pub(super) start: Option<ClockSample>,
    pub(super) end: Option<ClockSample>,
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub(super) struct ClockSample {
    /// The gatherer's clock less the sender's (ms).
    pub(super) offset_ms: f64,
    pub(super) rtt_ms: f64,
}

impl Input {
    /// Its clock's start on the gatherer's clock: corrected by the offset measured at its
    /// start, when it has one.
    pub(super) fn started_on_reference(&self) -> SystemTime {
        let Some(off) = self.clock.and_then(|c| c.start).map(|s| s.offset_ms) else {
            return self.started;
        };
        let d = std::time::Duration::from_secs_f64(off.abs().min(3.6e6) / 1e3);
        if off >= 0.0 {
            self.started + d
        } else {
            self.started.checked_sub(d).unwrap_or(self.started)
        }
    }
}

impl Input {
    /// A finished run from its summary, timeline and histograms; one whose runner died (its
    /// node stopped, say) rebuilt here from its journal, as `chaos-runner report` would,
    /// without writing into its directory.
    pub(super) fn read(dir: &Path) -> anyhow::Result<Self> {
        let (summary, timeline, ok, failed, rebuilt) = if crate::journal::unfinished(dir) {
            let (s, rec) = crate::journal::rebuild(dir)
                .with_context(|| format!("{}: rebuilding it from its journal", dir.display()))?;
            (s, rec.timeline, rec.ok, rec.failed, true)
        } else {
            let mut summary = read_summary(dir)?;
            let timeline = read_timeline(dir)?;
            report::brought_up_to_date(&mut summary, &timeline);
            let hlog = dir.join("latency.hlog");
            let (ok, failed) = crate::record::hlog::read_totals(&hlog)
                .map_err(|e| UsageError(format!("{}: {e:#}", hlog.display())))?;
            (summary, timeline, ok, failed, false)
        };
        let started =
            humantime::parse_rfc3339_weak(&summary.run.setup.started_at).map_err(|e| {
                UsageError(format!(
                    "{}: started_at {:?}: {e}",
                    dir.display(),
                    summary.run.setup.started_at
                ))
            })?;
        let share = match summary.run.setup.share.as_deref() {
            Some(s) => Some(
                s.parse::<Share>()
                    .map_err(|e| UsageError(format!("{}: {e}", dir.display())))?,
            ),
            None => None,
        };
        // A clock file that cannot be read is ignored: the run's own start is used.
        let clock = std::fs::read(dir.join(crate::stream::CLOCK))
            .ok()
            .and_then(|b| serde_json::from_slice::<SentClock>(&b).ok())
            .filter(|c| {
                [c.start, c.end]
                    .iter()
                    .flatten()
                    .all(|s| s.offset_ms.is_finite() && s.rtt_ms.is_finite() && s.rtt_ms >= 0.0)
            });
        Ok(Self {
            clock,
            name: dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            dir: dir.to_path_buf(),
            loss: Loss::of(&summary),
            summary,
            timeline,
            ok,
            failed,
            started,
            share,
            rebuilt,
        })
    }
}

/// One vantage point's own view, as merged.json lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VantageView {
    /// The run directory's own name: what the pages call this vantage point.
    pub name: String,
    pub dir: String,
    pub label: String,
    pub host: String,
    pub share: Option<String>,
    pub started_at: String,
    /// Its clock's start after the earliest run's (ms).
    pub offset_ms: f64,
    /// Buckets its timeline was moved by to line up with the earliest run's.
    pub shift_buckets: u64,
    pub scheduled: u64,
    pub sent: u64,
    pub dropped: u64,
    pub ok: u64,
    pub failed: u64,
    pub availability_scheduled: Option<f64>,
    pub availability_time: Option<f64>,
    pub downtime_s: f64,
    pub downtime_windows: usize,
    pub mttr_s: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub faults: usize,
    /// Each fault it injected: its spec and when it fired (s from its start).
    pub fault_specs: Vec<String>,
    pub incomplete: bool,
    /// When a run that did not finish stopped measuring (s from its start): its journal's
    /// last committed second, or when a signal stopped it. The vantage was lost then.
    pub lost_at_s: Option<f64>,
    /// Its requests under way at that moment, never answered to it and not counted (a run
    /// stopped by a signal waited for them: none).
    pub in_flight_at_loss: Option<u64>,
    /// Whether this merge rebuilt it from its journal (it had no summary.json).
    pub rebuilt: bool,
    /// Its first and last failed (or dropped) request, by intended send time, on the merged
    /// time line (s after the earliest run's start): which part of the run it saw fail.
    pub failures_from_s: Option<f64>,
    pub failures_to_s: Option<f64>,
    /// Of its requests due from the first failure to the last, the share that failed.
    pub failed_between: Option<f64>,
    /// Its clock against its gatherer's (the gatherer's less its own, ms), measured at its
    /// start (the exchange with the shortest round trip of the first five) and at its end,
    /// each within half its round trip; its start is placed on the merged time line with the
    /// first. None for a run that sent to no gatherer (or the gatherer's own).
    pub clock_offset_start_ms: Option<f64>,
    pub clock_offset_end_ms: Option<f64>,
    pub clock_rtt_start_ms: Option<f64>,
}

/// A vantage's failures on the merged time line: (first, last, the failed share of what came
/// due in between), from its timeline's buckets (first and last miss of each).
fn failure_span(timeline: &[Bucket], offset_us: u64) -> (Option<f64>, Option<f64>, Option<f64>) {
    let first = timeline.iter().position(|b| b.first_fail().is_some());
    let last = timeline.iter().rposition(|b| b.first_fail().is_some());
    let (Some(first), Some(last)) = (first, last) else {
        return (None, None, None);
    };
    let at = |us: u64| (us + offset_us) as f64 / 1e6;
    let span = &timeline[first..=last];
    let due: u64 = span.iter().map(Bucket::scheduled).sum();
    let missed: u64 = span.iter().map(|b| b.failed() + b.dropped).sum();
    (
        timeline[first].first_fail().map(at),
        timeline[last].last_fail().map(at),
        (due > 0).then(|| missed as f64 / due as f64),
    )
}

/// How a vantage stopped short of its run: its runner died (the journal kept what it
/// measured up to its last commit) or was stopped by a signal (its report is whole up to then;
/// an engine that stops sends that to the containers on its node).
pub(super) enum Loss {
    Died { at_s: f64, in_flight: u64 },
    Interrupted { at_s: f64 },
}

impl Loss {
    fn of(s: &Summary) -> Option<Self> {
        match &s.incomplete {
            Some(i) => Some(Self::Died {
                at_s: i.stopped_at_s,
                in_flight: i.in_flight,
            }),
            None if s.interrupted => Some(Self::Interrupted {
                at_s: s.run.setup.elapsed_s,
            }),
            None => None,
        }
    }

    pub(super) fn at_s(&self) -> f64 {
        match self {
            Self::Died { at_s, .. } | Self::Interrupted { at_s } => *at_s,
        }
    }
}

/// What was kept of a vantage that did not finish, and what the merged figures lack for it;
/// `None` for one that ran whole.
pub(super) fn lost_note(i: &Input, offset_us: u64) -> Option<String> {
    let loss = i.loss.as_ref()?;
    let setup = &i.summary.run.setup;
    let of = setup
        .planned_s
        .map_or_else(String::new, |p| format!(" of {p:.1} s"));
    let share = setup
        .share
        .as_deref()
        .map_or_else(String::new, |s| format!(" (share {s})"));
    let what = match loss {
        Loss::Died { in_flight, .. } => format!(
            "its runner stopped then{}. What it measured up to its journal's last committed second is kept{}; the {in_flight} request(s) it had under way then were never answered to it and are not counted",
            if i.rebuilt { " and left no summary" } else { "" },
            if i.rebuilt { ", rebuilt here from that journal" } else { "" },
        ),
        Loss::Interrupted { .. } => "its runner was stopped by a signal then (Ctrl-C, or SIGTERM, as an engine that stops sends to its containers) and wrote its report up to then, which is kept".into(),
    };
    Some(format!(
        "{}{share} was lost at {:.1} s{of} of its run ({:.1} s on the merged time line): {what}. From then on the merged figures lack its part of the load.",
        i.dir.display(),
        loss.at_s(),
        loss.at_s() + offset_us as f64 / 1e6,
    ))
}

pub(super) fn vantage(i: &Input, offset_us: u64, shift: u64) -> VantageView {
    let s = &i.summary;
    let (from, to, between) = failure_span(&i.timeline, offset_us);
    VantageView {
        name: i.name.clone(),
        dir: i.dir.display().to_string(),
        label: s.run.setup.label.clone(),
        host: s.run.setup.host.clone(),
        share: s.run.setup.share.clone(),
        started_at: s.run.setup.started_at.clone(),
        offset_ms: offset_us as f64 / 1e3,
        shift_buckets: shift,
        scheduled: s.counts.scheduled,
        sent: s.counts.sent,
        dropped: s.counts.dropped,
        ok: s.counts.ok,
        failed: s.counts.failed,
        availability_scheduled: s.availability.scheduled,
        availability_time: s.availability.time,
        downtime_s: s.downtime.total_s,
        downtime_windows: s.downtime.windows.len(),
        mttr_s: s.mttr_s,
        p50_ms: s.latency_ms.p50,
        p99_ms: s.latency_ms.p99,
        faults: s.faults.len(),
        fault_specs: s
            .faults
            .iter()
            .map(|f| format!("{} at {:.3} s", f.spec, f.at_s))
            .collect(),
        incomplete: s.incomplete.is_some(),
        lost_at_s: i.loss.as_ref().map(Loss::at_s),
        in_flight_at_loss: match i.loss {
            Some(Loss::Died { in_flight, .. }) => Some(in_flight),
            _ => None,
        },
        rebuilt: i.rebuilt,
        failures_from_s: from,
        failures_to_s: to,
        failed_between: between,
        clock_offset_start_ms: i.clock.and_then(|c| c.start).map(|s| s.offset_ms),
        clock_offset_end_ms: i.clock.and_then(|c| c.end).map(|s| s.offset_ms),
        clock_rtt_start_ms: i.clock.and_then(|c| c.start).map(|s| s.rtt_ms),
    }
}
