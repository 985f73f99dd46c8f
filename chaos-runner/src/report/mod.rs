//! Writing a run's reports into its directory, and reading a directory back to re-render.

pub mod charts;
pub mod hgrm;
pub mod html;
pub mod markdown;
mod marks;
mod node_sections;
pub mod sections;
pub mod story;
pub mod tables;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use crate::exit::UsageError;
use crate::record::{new_histogram, Bucket, Recorded};
use crate::summary::{Summary, SCHEMA_VERSION};

fn create(dir: &Path, name: &str) -> anyhow::Result<BufWriter<File>> {
    let p = dir.join(name);
    Ok(BufWriter::new(File::create(&p).with_context(|| {
        format!("cannot write {}", p.display())
    })?))
}

/// The files of a finished run not already streamed during it (latency.hlog and
/// timeline.csv were).
pub fn write_all(dir: &Path, s: &Summary, rec: &Recorded) -> anyhow::Result<()> {
    let mut f = create(dir, "summary.json")?;
    serde_json::to_writer_pretty(&mut f, s)?;
    writeln!(f)?;
    f.flush()?;
    render(dir, s, rec)
}

/// report.md, report.html and latency.hgrm from the data.
pub fn render(dir: &Path, s: &Summary, rec: &Recorded) -> anyhow::Result<()> {
    let mut f = create(dir, "latency.hgrm")?;
    hgrm::write(&mut f, &rec.ok)?;
    f.flush()?;
    let title = format!("chaos-runner report: {}", s.run.setup.label);
    let mut sections = sections::sections(s);
    let marks = charts::Marks::of(s);
    let mut charts = vec![
        (
            "Throughput and failures over time".to_string(),
            charts::throughput(&marks, &rec.timeline, rec.bucket_us).map_err(anyhow::Error::msg)?,
        ),
        (
            "Replicas answering over time".to_string(),
            charts::replicas(&marks, &rec.timeline, rec.bucket_us).map_err(anyhow::Error::msg)?,
        ),
        (
            "Latency percentiles of successes".to_string(),
            charts::percentiles(&rec.ok).map_err(anyhow::Error::msg)?,
        ),
    ];
    if s.counts.failed > 0 {
        charts.insert(
            1,
            (
                "Failures by class over time".to_string(),
                charts::failures_by_class(&marks, &rec.timeline, rec.bucket_us)
                    .map_err(anyhow::Error::msg)?,
            ),
        );
    }
    // Percentiles per second from the latency log where it reads back; else the buckets'
    // mean and slowest.
    let over_time = match crate::record::hlog::read_percentiles(&dir.join("latency.hlog")) {
        Ok(intervals) if !intervals.is_empty() => charts::percentiles_over_time(&marks, &intervals),
        _ => charts::latency_over_time(&marks, &rec.timeline, rec.bucket_us),
    };
    charts.push((
        "Latency over time".to_string(),
        over_time.map_err(anyhow::Error::msg)?,
    ));
    // The charts go with the headline, found by its title.
    if let Some(h) = sections.iter_mut().find(|x| x.title == tables::HEADLINE) {
        h.figures = charts;
    }
    write_page(dir, "report", &title, &sections)
}

/// One page, as `{stem}.md` and `{stem}.html` (the Markdown leaves the charts out): the
/// writer of both the run's report and the comparison.
pub fn write_page(
    dir: &Path,
    stem: &str,
    title: &str,
    sections: &[tables::Section],
) -> anyhow::Result<()> {
    let mut f = create(dir, &format!("{stem}.md"))?;
    markdown::write(&mut f, title, sections)?;
    f.flush()?;
    let mut f = create(dir, &format!("{stem}.html"))?;
    html::write(&mut f, title, sections)?;
    f.flush()?;
    Ok(())
}

/// Reads a run directory's summary.json (usage error when missing or of another schema).
pub fn read_summary(dir: &Path) -> anyhow::Result<Summary> {
    let p = dir.join("summary.json");
    let f = File::open(&p).map_err(|e| {
        if crate::journal::unfinished(dir) {
            UsageError(format!(
                "{}: {e}: the run did not finish; `chaos-runner report {}` rebuilds it from its journal",
                p.display(),
                dir.display()
            ))
        } else {
            UsageError(format!(
                "{}: {e} (not a chaos-runner run directory?)",
                p.display()
            ))
        }
    })?;
    let v: serde_json::Value = serde_json::from_reader(BufReader::new(f))
        .map_err(|e| UsageError(format!("{}: not JSON: {e}", p.display())))?;
    let version = v.get("schema_version").and_then(|v| v.as_u64());
    if version != Some(SCHEMA_VERSION as u64) {
        return Err(UsageError(format!(
            "{}: schema_version {version:?}, this chaos-runner reads {SCHEMA_VERSION}",
            p.display()
        ))
        .into());
    }
    Ok(serde_json::from_value(v).map_err(|e| UsageError(format!("{}: {e}", p.display())))?)
}

pub fn read_timeline(dir: &Path) -> anyhow::Result<Vec<Bucket>> {
    let p = dir.join("timeline.csv");
    let f = File::open(&p).map_err(|e| UsageError(format!("{}: {e}", p.display())))?;
    Ok(crate::record::timeline_csv::read(BufReader::new(f))
        .map_err(|e| UsageError(format!("{}: {e}", p.display())))?)
}

/// A summary written by an earlier version, with the figures this version derives otherwise
/// derived again from the same data: degraded time (from the timeline) and restarts (not a
/// replica that was slow to first answer: from the instances, faults and engine events).
pub fn brought_up_to_date(s: &mut Summary, timeline: &[Bucket]) {
    let bucket_us = (s.run.setup.bucket_ms * 1000.0).round() as u64;
    if s.downtime.degraded_s.is_none() {
        s.downtime.degraded_s = Some(crate::summary::degraded_s(timeline, bucket_us));
    }
    if let Some(f) = s.faults.first() {
        let events = s.swarm.as_ref().map_or(&[][..], |sw| &sw.events[..]);
        s.restarts_seen = crate::summary::restarts(&s.instances, f.at_s, events);
    }
}

/// `chaos-runner report DIR`: re-renders a run's pages from its data; for a run whose
/// runner died (a journal, no summary.json), first rebuilds its summary and timeline from
/// the journal. What the summary covers, when the run did not finish.
pub fn rerender(dir: &Path) -> anyhow::Result<Option<crate::summary::Incomplete>> {
    if crate::journal::unfinished(dir) {
        let (s, rec) = crate::journal::rebuild(dir)?;
        let mut f = create(dir, "timeline.csv")?;
        crate::record::timeline_csv::write(&mut f, &rec.timeline, rec.bucket_us)?;
        f.flush()?;
        write_all(dir, &s, &rec)?;
        return Ok(s.incomplete);
    }
    let mut s = read_summary(dir)?;
    let timeline = read_timeline(dir)?;
    let bucket_us = (s.run.setup.bucket_ms * 1000.0).round() as u64;
    brought_up_to_date(&mut s, &timeline);
    let (ok, failed) = match crate::record::hlog::read_totals(&dir.join("latency.hlog")) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("chaos-runner: {e:#}; the latency chart and latency.hgrm will be empty");
            (new_histogram(), new_histogram())
        }
    };
    let rec = Recorded {
        bucket_us,
        timeline,
        ok,
        failed,
        lateness: new_histogram(),
    };
    render(dir, &s, &rec)?;
    Ok(s.incomplete)
}
