//! `chaos-runner merge DIR DIR... --out OUT`: one measurement from runs that loaded the same
//! target together from several places (vantage points), typically each with its `--share`
//! of one schedule on one clock (`--start-at`). What adds exactly is merged: the counts, each
//! bucket's counts (so availability by time), and the latency histograms (HdrHistogram's own
//! merge). Downtime windows of the merged load are where no vantage got an answer: the
//! intersection of the vantages' own windows (`windows`); each vantage keeps its own too
//! (docs/chaos-runner.md, "Load from several vantage points").

mod page;
mod vantage;
mod windows;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::exit::UsageError;
use crate::load::share::Share;
use crate::record::{new_histogram, Class};
use crate::report;
use crate::summary::Latency;

pub use vantage::VantageView;
use vantage::{lost_note, vantage, Input};
pub use windows::MergedDowntime;

/// The version of merged.json's shape (schema/merged.schema.json).
pub const SCHEMA_VERSION: u32 = 1;

/// The most runs one merge takes.
pub const MAX_RUNS: usize = 1_000;

/// The merged measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Where no vantage that was measuring got an answer.
    pub downtime: MergedDowntime,
}

/// How the runs' schedules fit together.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// `chaos-runner merge`: reads `dirs`, merges them and writes merged.json, merged.md,
/// merged.html, latency.hlog and latency.hgrm into `out` (refused when `out` holds an
/// earlier merge, unless `force`).
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> anyhow::Result<Merged> {
    merge_named(dirs, None, out, force)
}

/// [`merge`], the first run called `first_name` on the pages instead of by its directory's
/// name (a coordinator's own run, whose directory is named for where it ran).
pub fn merge_named(
    dirs: &[PathBuf],
    first_name: Option<&str>,
    out: &Path,
    force: bool,
) -> anyhow::Result<Merged> {
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
    let mut inputs = dirs
        .iter()
        .map(|d| Input::read(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let (Some(name), Some(first)) = (first_name, inputs.first_mut()) {
        first.name = name.to_string();
    }
    let (merged, totals) = combine(&inputs)?;
    std::fs::create_dir_all(out)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", out.display())))?;
    totals.write(out)?;
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

/// A merge written earlier: `DIR/merged.json`.
pub fn read(dir: &Path) -> anyhow::Result<Merged> {
    let path = dir.join("merged.json");
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{}: not a merge", path.display()))
}

/// Prints a merge's outcome; 4 when a vantage was lost.
pub fn print_outcome(m: &Merged, out: &Path) -> u8 {
    let lost: Vec<String> = m
        .vantages
        .iter()
        .filter_map(|v| Some(format!("{} lost at {:.1} s", v.name, v.lost_at_s?)))
        .collect();
    println!(
        "merged {} runs: availability {} of all clients' scheduled requests{}; wrote {}/merged.md, merged.html, merged.json, latency.hlog",
        m.vantages.len(),
        crate::report::tables::pct(m.merged.availability_scheduled),
        if lost.is_empty() {
            String::new()
        } else {
            format!(" ({}: counted up to then)", lost.join(", "))
        },
        out.display()
    );
    if lost.is_empty() {
        crate::exit::OK
    } else {
        crate::exit::INCOMPLETE
    }
}

/// The merged latency histograms, over the merged timeline.
struct Totals {
    ok: hdrhistogram::Histogram<u64>,
    failed: hdrhistogram::Histogram<u64>,
    /// The earliest run's start and the merged timeline's length.
    start: std::time::SystemTime,
    length: std::time::Duration,
}

impl Totals {
    /// latency.hlog (the merged ok and failed histograms, one interval each, for
    /// HdrHistogram's own tools) and latency.hgrm (the successes' percentiles), as a run has.
    fn write(&self, out: &Path) -> anyhow::Result<()> {
        let hlog = out.join("latency.hlog");
        crate::record::hlog::write_totals(&hlog, self.start, self.length, &self.ok, &self.failed)
            .with_context(|| format!("writing {}", hlog.display()))?;
        let hgrm = out.join("latency.hgrm");
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&hgrm).with_context(|| format!("writing {}", hgrm.display()))?,
        );
        report::hgrm::write(&mut f, &self.ok)?;
        f.flush()?;
        Ok(())
    }
}

/// Checks that the runs measured the same thing the same way, and merges them.
fn combine(inputs: &[Input]) -> Result<(Merged, Totals), UsageError> {
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
    notes.extend(
        inputs
            .iter()
            .zip(&offsets)
            .filter_map(|(i, &o)| lost_note(i, o)),
    );
    let downtime = merged_downtime(inputs, &offsets, schedule.rate);
    notes.push(format!(
        "Downtime of the merged load is where no vantage that was measuring got an answer: where every one was inside a window of its own. Each window ends at the first answer any vantage got; it starts at the latest of the vantages' first misses, {}. A window's failed requests are each vantage's own (its row below).",
        downtime.start_late_by_at_most_ms.map_or_else(
            || "which closed-loop runs cannot bound".to_string(),
            |ms| format!("at most {ms:.1} ms (one vantage's time between two of its requests) after the merged load's first")
        )
    ));
    let (merged, ok, failed) = merged_view(
        inputs,
        &shifts,
        first.availability.bucket_threshold,
        downtime,
    );
    let totals = Totals {
        ok,
        failed,
        start: inputs
            .iter()
            .map(Input::started_on_reference)
            .min()
            .expect("one run at least"),
        length: std::time::Duration::from_micros(
            (merged.buckets_counted + merged.buckets_empty) * bucket_us,
        ),
    };
    let vantages = inputs
        .iter()
        .zip(offsets.iter().zip(&shifts))
        .map(|(i, (&o, &k))| vantage(i, o, k))
        .collect();
    let merged = Merged {
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
    };
    Ok((merged, totals))
}

/// Each run's clock start after the earliest run's (µs), each on its gatherer's clock when it
/// measured its offset from it.
fn offsets_us(inputs: &[Input]) -> Vec<u64> {
    let t0 = inputs
        .iter()
        .map(Input::started_on_reference)
        .min()
        .expect("two runs at least");
    inputs
        .iter()
        .map(|i| {
            i.started_on_reference()
                .duration_since(t0)
                .unwrap_or_default()
                .as_micros() as u64
        })
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

/// The merged load's downtime windows, from each vantage's windows on the merged time line.
fn merged_downtime(inputs: &[Input], offsets_us: &[u64], rate: Option<f64>) -> MergedDowntime {
    let us = |s: f64| (s.max(0.0) * 1e6).round() as u64;
    let seen: Vec<windows::Seen> = inputs
        .iter()
        .zip(offsets_us)
        .map(|(i, &o)| {
            let s = &i.summary;
            let to_s = i.loss.as_ref().map_or(s.run.setup.elapsed_s, |l| l.at_s());
            windows::Seen {
                windows: s
                    .downtime
                    .windows
                    .iter()
                    .map(|w| (o + us(w.start_s), o + us(w.end_s), w.open))
                    .collect(),
                from_us: o,
                to_us: o + us(to_s),
            }
        })
        .collect();
    let min_ms = inputs
        .iter()
        .map(|i| i.summary.downtime.min_window_ms)
        .fold(0.0, f64::max);
    // The longest time between two of one vantage's scheduled requests.
    let tick_ms = inputs
        .iter()
        .map(|i| {
            let share_of = i.share.map_or(1, |s| s.of) as f64;
            let r = rate.or(i.summary.run.setup.rate)?;
            (r > 0.0).then(|| share_of * 1e3 / r)
        })
        .try_fold(0.0, |m: f64, t| t.map(|t| m.max(t)));
    windows::merged_windows(&seen, us(min_ms / 1e3), tick_ms)
}

fn merged_view(
    inputs: &[Input],
    shifts: &[u64],
    threshold: f64,
    downtime: MergedDowntime,
) -> (
    MergedView,
    hdrhistogram::Histogram<u64>,
    hdrhistogram::Histogram<u64>,
) {
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
    let view = MergedView {
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
        downtime,
    };
    (view, ok_h, failed_h)
}
