//! `chaos-runner merge DIR DIR... --out OUT`: one measurement from runs that loaded the same
//! target together from several places (vantage points), typically each with its `--share`
//! of one schedule on one clock (`--start-at`). What adds exactly is merged: the counts, each
//! bucket's counts (so availability by time), and the latency histograms (HdrHistogram's own
//! merge). Downtime windows and MTTR stay per vantage: a window's edges lie between one
//! run's misses and another's successes inside a bucket, which no run's settled bucket
//! records (docs/chaos-runner.md, "Load from several vantage points").

mod page;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::exit::UsageError;
use crate::load::share::Share;
use crate::record::{new_histogram, Bucket, Class};
use crate::report::{self, read_summary, read_timeline};
use crate::summary::{Latency, Summary};

/// The version of merged.json's shape (schema/merged.schema.json).
pub const SCHEMA_VERSION: u32 = 1;

/// The most runs one merge takes.
pub const MAX_RUNS: usize = 1_000;

/// One run, as read from its directory.
struct Input {
    dir: PathBuf,
    summary: Summary,
    timeline: Vec<Bucket>,
    ok: Histogram<u64>,
    failed: Histogram<u64>,
    started: SystemTime,
    share: Option<Share>,
    /// Read from its journal: the run did not finish.
    rebuilt: bool,
}

impl Input {
    /// A finished run from its summary, timeline and histograms; one whose runner died (its
    /// node stopped, say) rebuilt here from its journal, as `chaos-runner report` would,
    /// without writing into its directory.
    fn read(dir: &Path) -> anyhow::Result<Self> {
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
        Ok(Self {
            dir: dir.to_path_buf(),
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
#[derive(Debug, Clone, Serialize)]
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

/// The merged measurement.
#[derive(Debug, Clone, Serialize)]
pub struct MergedView {
    pub scheduled: u64,
    pub sent: u64,
    pub dropped: u64,
    pub ok: u64,
    pub failed: u64,
    pub by_class: BTreeMap<Class, u64>,
    /// ok / sent and ok / scheduled.
    pub availability_requests: Option<f64>,
    pub availability_scheduled: Option<f64>,
    /// Buckets of the merged timeline whose ok / (sent + dropped) met the threshold.
    pub availability_time: Option<f64>,
    pub bucket_threshold: f64,
    pub buckets_counted: u64,
    pub buckets_met: u64,
    /// Merged buckets no run sent anything in: left out of availability by time.
    pub buckets_empty: u64,
    pub latency_ms: Latency,
    pub failure_latency_ms: Latency,
}

/// How the runs' schedules fit together.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleFit {
    /// The rate every share's schedule was cut from (requests/s), when the runs had shares.
    pub rate: Option<f64>,
    /// `K/N` of each run, in the order given; empty without shares.
    pub shares: Vec<String>,
    /// Shares of the N that no run had: the merged load is that much short of `rate`.
    pub missing: Vec<String>,
    /// The latest clock start after the earliest (ms): 0 on one clock.
    pub spread_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Merged {
    pub schema_version: u32,
    pub tool: String,
    pub target: String,
    pub access_path: String,
    pub bucket_ms: f64,
    pub schedule: ScheduleFit,
    pub merged: MergedView,
    pub vantages: Vec<VantageView>,
    /// What the merge could not do, or how the runs did not fit.
    pub notes: Vec<String>,
}

/// `chaos-runner merge`: reads `dirs`, merges them and writes merged.json, merged.md and
/// merged.html into `out` (refused when `out` holds an earlier merge, unless `force`).
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> anyhow::Result<Merged> {
    if dirs.len() > MAX_RUNS {
        return Err(UsageError(format!("{} runs: at most {MAX_RUNS}", dirs.len())).into());
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    if dirs.iter().any(|d| abs(d) == abs(out)) {
        return Err(UsageError(format!("--out {} is one of the runs", out.display())).into());
    }
    if out.join("merged.json").exists() && !force {
        return Err(UsageError(format!(
            "{} holds an earlier merge: choose another --out, or --force to replace it",
            out.display()
        ))
        .into());
    }
    let inputs = dirs
        .iter()
        .map(|d| Input::read(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let merged = combine(&inputs)?;
    std::fs::create_dir_all(out)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", out.display())))?;
    report::write_page(
        out,
        "merged",
        "chaos-runner: runs merged",
        &page::sections(&merged, out),
    )?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("merged.json"))?);
    serde_json::to_writer_pretty(&mut f, &merged)?;
    writeln!(f)?;
    f.flush()?;
    Ok(merged)
}

/// Checks that the runs measured the same thing the same way, and merges them.
fn combine(inputs: &[Input]) -> Result<Merged, UsageError> {
    let first = &inputs[0].summary;
    let setup = &first.run.setup;
    for i in &inputs[1..] {
        let s = &i.summary.run.setup;
        let differ = |what: &str, a: &str, b: &str| {
            UsageError(format!(
                "{} and {}: {what} differ ({a} against {b}); only runs of one measurement merge",
                inputs[0].dir.display(),
                i.dir.display()
            ))
        };
        if s.target != setup.target {
            return Err(differ("targets", &setup.target, &s.target));
        }
        if s.bucket_ms != setup.bucket_ms {
            return Err(differ(
                "buckets",
                &setup.bucket_ms.to_string(),
                &s.bucket_ms.to_string(),
            ));
        }
        let (a, b) = (
            first.availability.bucket_threshold,
            i.summary.availability.bucket_threshold,
        );
        if a != b {
            return Err(differ("bucket thresholds", &a.to_string(), &b.to_string()));
        }
    }
    let mut notes = Vec::new();
    let offsets = offsets_us(inputs);
    let schedule = fit(inputs, &offsets, &mut notes)?;
    let bucket_us = (setup.bucket_ms * 1000.0).round().max(1.0) as u64;
    let shifts: Vec<u64> = offsets
        .iter()
        .map(|o| (o + bucket_us / 2) / bucket_us)
        .collect();
    if offsets
        .iter()
        .zip(&shifts)
        .any(|(o, &k)| o.abs_diff(k * bucket_us) > bucket_us / 10)
    {
        notes.push(format!(
            "The runs' clocks did not start on one bucket boundary (started {:.1} ms apart at most): each run's buckets were moved to the nearest of the earliest run's, so a bucket of the merged timeline mixes up to one bucket's worth of different times. Start them with one --start-at.",
            schedule.spread_ms
        ));
    }
    for (i, &o) in inputs.iter().zip(&offsets) {
        if let Some(loss) = Loss::of(&i.summary) {
            notes.push(lost_note(i, &loss, o));
        }
    }
    notes.push(
        "Downtime windows and MTTR are each vantage's own: windows of the merged load would need each run's miss times inside the buckets where one run's successes and another's misses meet, which settled buckets do not keep.".into(),
    );
    let merged = merged_view(inputs, &shifts, first.availability.bucket_threshold);
    let vantages = inputs
        .iter()
        .zip(offsets.iter().zip(&shifts))
        .map(|(i, (&o, &k))| vantage(i, o, k))
        .collect();
    Ok(Merged {
        schema_version: SCHEMA_VERSION,
        tool: format!("chaos-runner {}", env!("CARGO_PKG_VERSION")),
        target: setup.target.clone(),
        access_path: if inputs
            .iter()
            .all(|i| i.summary.access_path == first.access_path)
        {
            first.access_path.clone()
        } else {
            format!(
                "each vantage's own, as its report says (the first's: {})",
                first.access_path
            )
        },
        bucket_ms: setup.bucket_ms,
        schedule,
        merged,
        vantages,
        notes,
    })
}

/// How a vantage stopped short of its run: its runner died (the journal kept what it
/// measured up to its last commit) or was stopped by a signal (its report is whole up to then;
/// an engine that stops sends that to the containers on its node).
enum Loss {
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

    fn at_s(&self) -> f64 {
        match self {
            Self::Died { at_s, .. } | Self::Interrupted { at_s } => *at_s,
        }
    }
}

/// What was kept of a vantage that did not finish, and what the merged figures lack for it.
fn lost_note(i: &Input, loss: &Loss, offset_us: u64) -> String {
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
    format!(
        "{}{share} was lost at {:.1} s{of} of its run ({:.1} s on the merged time line): {what}. From then on the merged figures lack its part of the load.",
        i.dir.display(),
        loss.at_s(),
        loss.at_s() + offset_us as f64 / 1e6,
    )
}

/// Each run's clock start after the earliest run's (µs).
fn offsets_us(inputs: &[Input]) -> Vec<u64> {
    let t0 = inputs
        .iter()
        .map(|i| i.started)
        .min()
        .expect("two runs at least");
    inputs
        .iter()
        .map(|i| i.started.duration_since(t0).unwrap_or_default().as_micros() as u64)
        .collect()
}

/// How the runs' shares and clocks fit together; refuses shares that cannot be of one
/// schedule (some runs with a share and some without, different N or rates, a share twice).
fn fit(
    inputs: &[Input],
    offsets_us: &[u64],
    notes: &mut Vec<String>,
) -> Result<ScheduleFit, UsageError> {
    let spread_ms = offsets_us.iter().max().copied().unwrap_or(0) as f64 / 1e3;
    // Every run must overlap the earliest: else they measured different times.
    let earliest = &inputs[offsets_us.iter().position(|&o| o == 0).unwrap_or(0)];
    if let Some((late, _)) = inputs
        .iter()
        .zip(offsets_us)
        .find(|(_, &o)| o as f64 / 1e6 >= earliest.summary.run.setup.elapsed_s)
    {
        return Err(UsageError(format!(
            "{} started after the earliest run had ended: the runs did not load the target together",
            late.dir.display()
        )));
    }
    let shares: Vec<Share> = inputs.iter().filter_map(|i| i.share).collect();
    if shares.is_empty() {
        notes.push("No run had a --share: the merged load is the runs' loads added, not one schedule cut in parts.".into());
        return Ok(ScheduleFit {
            rate: None,
            shares: vec![],
            missing: vec![],
            spread_ms,
        });
    }
    if shares.len() != inputs.len() {
        return Err(UsageError(
            "some runs had a --share and some none: they were not one schedule".into(),
        ));
    }
    let of = shares[0].of;
    let rate = inputs[0].summary.run.setup.rate;
    if shares.iter().any(|s| s.of != of) || inputs.iter().any(|i| i.summary.run.setup.rate != rate)
    {
        return Err(UsageError(
            "the runs' shares are of different schedules (another N or --rate)".into(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in &shares {
        if !seen.insert(s.index) {
            return Err(UsageError(format!("share {s} is in two runs")));
        }
    }
    let missing: Vec<String> = (1..=of)
        .filter(|k| !seen.contains(k))
        .map(|index| Share { index, of }.to_string())
        .collect();
    if !missing.is_empty() {
        notes.push(format!(
            "Share(s) {} of the schedule were not given: the merged load is {} of {} parts of the rate asked.",
            missing.join(", "),
            shares.len(),
            of
        ));
    }
    Ok(ScheduleFit {
        rate,
        shares: shares.iter().map(Share::to_string).collect(),
        missing,
        spread_ms,
    })
}

fn merged_view(inputs: &[Input], shifts: &[u64], threshold: f64) -> MergedView {
    let len = inputs
        .iter()
        .zip(shifts)
        .map(|(i, &k)| i.timeline.len() + k as usize)
        .max()
        .unwrap_or(0);
    // Per merged bucket: successes and attempts (sent + dropped).
    let mut buckets = vec![(0u64, 0u64); len];
    for (i, &k) in inputs.iter().zip(shifts) {
        for (j, b) in i.timeline.iter().enumerate() {
            let slot = &mut buckets[j + k as usize];
            slot.0 += b.ok();
            slot.1 += b.sent() + b.dropped;
        }
    }
    let counted = buckets.iter().filter(|b| b.1 > 0).count() as u64;
    let met = buckets
        .iter()
        .filter(|b| b.1 > 0 && b.0 as f64 >= threshold * b.1 as f64)
        .count() as u64;
    let (mut ok_h, mut failed_h) = (new_histogram(), new_histogram());
    let mut by_class = BTreeMap::new();
    let (mut scheduled, mut sent, mut dropped, mut ok, mut failed) = (0, 0, 0, 0, 0);
    for i in inputs {
        let c = &i.summary.counts;
        scheduled += c.scheduled;
        sent += c.sent;
        dropped += c.dropped;
        ok += c.ok;
        failed += c.failed;
        for (class, n) in &c.by_class {
            *by_class.entry(*class).or_insert(0) += n;
        }
        // Both auto-resizing with the same precision: adding cannot fail.
        let _ = ok_h.add(&i.ok);
        let _ = failed_h.add(&i.failed);
    }
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    MergedView {
        scheduled,
        sent,
        dropped,
        ok,
        failed,
        by_class,
        availability_requests: ratio(ok, sent),
        availability_scheduled: ratio(ok, scheduled),
        availability_time: ratio(met, counted),
        bucket_threshold: threshold,
        buckets_counted: counted,
        buckets_met: met,
        buckets_empty: len as u64 - counted,
        latency_ms: Latency::of(&ok_h),
        failure_latency_ms: Latency::of(&failed_h),
    }
}

fn vantage(i: &Input, offset_us: u64, shift: u64) -> VantageView {
    let s = &i.summary;
    let (from, to, between) = failure_span(&i.timeline, offset_us);
    VantageView {
        name: i.dir.file_name().map_or_else(
            || i.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
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
        lost_at_s: Loss::of(s).map(|l| l.at_s()),
        in_flight_at_loss: match Loss::of(s) {
            Some(Loss::Died { in_flight, .. }) => Some(in_flight),
            _ => None,
        },
        rebuilt: i.rebuilt,
        failures_from_s: from,
        failures_to_s: to,
        failed_between: between,
    }
}
