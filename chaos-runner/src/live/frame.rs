//! One frame of the live page: the figures in large type, the report's throughput and
//! replica-lane charts over the last minute, and the latest events. Plain HTML and inline
//! SVG, escaped; rendered once per tick whatever the number of viewers.

use std::fmt::Write as _;

use crashlab_common::html::escape;

use super::figures::Figures;
use super::Feed;
use crate::record::board::Snapshot;
use crate::record::live::{EventKind, LiveEvent};
use crate::report::charts::{self, Marks};
use crate::report::tables::pct;

/// Events listed, newest first.
const EVENTS_SHOWN: usize = 12;

fn tile(out: &mut String, label: &str, value: &str, class: &str) {
    let _ = write!(
        out,
        "<div class=\"tile {class}\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
        escape(value),
        escape(label)
    );
}

/// A live frame: the figures, the charts over the last minute, the latest events.
pub fn render(feed: &Feed, snap: &Snapshot, f: &Figures) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let status = match f.left_s {
        Some(left) => format!("running: {:.0} s, {:.0} s left", f.elapsed_s, left),
        None => format!("running: {:.0} s", f.elapsed_s),
    };
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"sub\">{}</p><p class=\"status\">{}</p>",
        escape(&feed.title),
        escape(&feed.subtitle),
        escape(&status)
    );
    tiles(&mut out, f);
    let events = feed.live.events();
    let settled = &snap.buckets[..super::figures::settled(feed, snap)];
    charts_html(
        &mut out,
        &marks(feed, snap, f, &events),
        settled,
        snap.bucket_us,
    );
    events_table(&mut out, &events);
    out
}

fn tiles(out: &mut String, f: &Figures) {
    out.push_str("<div class=\"tiles\">");
    tile(
        out,
        "availability (ok / scheduled)",
        &pct(f.availability),
        "",
    );
    tile(out, "ok per second", &format!("{:.0}", f.ok_rate), "ok");
    let bad = if f.failed_rate > 0.0 { "bad" } else { "" };
    tile(
        out,
        "failed per second",
        &format!("{:.0}", f.failed_rate),
        bad,
    );
    tile(out, "replicas answering", &f.answering.to_string(), "");
    tile(
        out,
        "downtime (to the bucket)",
        &format!("{:.1} s", f.down_s),
        "",
    );
    match f.outage_s {
        Some(o) => tile(out, "OUTAGE: nothing succeeds", &format!("{o:.1} s"), "bad"),
        None => tile(out, "current outage", "none", "ok"),
    }
    out.push_str("</div>");
}

/// The charts' marks for a live frame: faults as they fired, lanes coloured by version.
fn marks(feed: &Feed, snap: &Snapshot, f: &Figures, events: &[LiveEvent]) -> Marks {
    let lanes = feed.instances.snapshot();
    let mut versions: Vec<String> = Vec::new();
    for i in &lanes {
        if !versions.contains(&i.version) {
            versions.push(i.version.clone());
        }
    }
    Marks {
        from_s: snap.first as f64 * snap.bucket_us as f64 / 1e6,
        until_s: (f.elapsed_s - super::figures::SETTLING.as_secs_f64()).max(0.0),
        faults: events
            .iter()
            .filter(|e| e.kind == EventKind::Fault)
            .map(|e| e.at_s)
            .collect(),
        windows: Vec::new(),
        held: Vec::new(),
        lane_labels: Vec::new(),
        states: Vec::new(),
        lane_versions: lanes.iter().map(|i| i.version.clone()).collect(),
        versions,
    }
}

/// The report's throughput and replica-lane charts.
fn charts_html(
    out: &mut String,
    marks: &Marks,
    timeline: &[crate::record::Bucket],
    bucket_us: u64,
) {
    for svg in [
        charts::throughput(marks, timeline, bucket_us),
        charts::replicas(marks, timeline, bucket_us),
    ]
    .into_iter()
    .flatten()
    {
        let _ = write!(out, "<figure>{svg}</figure>");
    }
}

fn events_table(out: &mut String, events: &[LiveEvent]) {
    out.push_str("<h2>Events</h2><table class=\"events\">");
    for e in events.iter().rev().take(EVENTS_SHOWN) {
        let _ = write!(
            out,
            "<tr class=\"{k}\"><td class=\"n\">{:.1} s</td><td>{k}</td><td>{}</td></tr>",
            e.at_s,
            escape(&e.text),
            k = e.kind.name()
        );
    }
    if events.is_empty() {
        out.push_str("<tr><td>none yet</td></tr>");
    }
    out.push_str("</table>");
}

/// The page's last frame: the finished run's headline figures, its whole charts (as the
/// report has them) and its faults.
pub fn final_frame(
    s: &crate::summary::Summary,
    rec: &crate::record::Recorded,
    out: &std::path::Path,
) -> String {
    let mut html = String::with_capacity(128 * 1024);
    let _ = write!(
        html,
        "<h1>{}: finished</h1><p class=\"sub\">{}</p><p class=\"status\">run finished after {:.1} s{}; reports in {}</p><div class=\"tiles\">",
        escape(&s.run.setup.label),
        escape(&s.access_path),
        s.run.setup.elapsed_s,
        if s.interrupted { " (interrupted)" } else { "" },
        escape(&out.display().to_string())
    );
    tile(
        &mut html,
        "availability (ok / scheduled)",
        &pct(s.availability.scheduled),
        "",
    );
    tile(
        &mut html,
        "availability (time)",
        &pct(s.availability.time),
        "",
    );
    let down = if s.downtime.total_s > 0.0 {
        "bad"
    } else {
        "ok"
    };
    tile(
        &mut html,
        &format!("downtime in {} outage(s)", s.downtime.windows.len()),
        &format!("{:.3} s", s.downtime.total_s),
        down,
    );
    tile(
        &mut html,
        "MTTR",
        &s.mttr_s.map_or("-".into(), |m| format!("{m:.3} s")),
        "",
    );
    tile(
        &mut html,
        "p99 latency",
        &s.latency_ms
            .p99
            .map_or("-".into(), |p| format!("{p:.1} ms")),
        "",
    );
    tile(
        &mut html,
        "replicas seen",
        &s.instances.len().to_string(),
        "",
    );
    html.push_str("</div>");
    // The story the run's report opens with: what was done, what happened, the verdict.
    let story = crate::report::story::section(s);
    for line in &story.lines {
        let _ = write!(html, "<p class=\"story\">{}</p>", escape(line));
    }
    charts_html(&mut html, &Marks::of(s), &rec.timeline, rec.bucket_us);
    html.push_str("<h2>Faults</h2><table class=\"events\">");
    for f in &s.faults {
        let _ = write!(
            html,
            "<tr class=\"fault\"><td class=\"n\">{:.1} s</td><td>{}</td><td>{}</td></tr>",
            f.at_s,
            escape(&f.spec),
            escape(&f.outcome)
        );
    }
    html.push_str("</table>");
    html
}
