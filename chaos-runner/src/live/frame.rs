//! One frame of the live page: the figures in large type, the report's throughput and
//! replica-lane charts over the last minute, and the latest events. Plain HTML and inline
//! SVG, escaped; rendered once per tick whatever the number of viewers.

use std::fmt::Write as _;

use crashlab_common::html::escape;

use super::figures::Figures;
use super::Feed;
use crate::record::board::Snapshot;
use crate::record::live::EventKind;
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

/// The frame; `done` replaces the status line once the run is over.
pub fn render(feed: &Feed, snap: &Snapshot, f: &Figures, done: Option<&str>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let status = match (done, f.left_s) {
        (Some(d), _) => d.to_string(),
        (None, Some(left)) => format!("running: {:.0} s, {:.0} s left", f.elapsed_s, left),
        (None, None) => format!("running: {:.0} s", f.elapsed_s),
    };
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"sub\">{}</p><p class=\"status\">{}</p><div class=\"tiles\">",
        escape(&feed.title),
        escape(&feed.subtitle),
        escape(&status)
    );
    tile(
        &mut out,
        "availability (ok / scheduled)",
        &pct(f.availability),
        "",
    );
    tile(
        &mut out,
        "ok per second",
        &format!("{:.0}", f.ok_rate),
        "ok",
    );
    let bad = if f.failed_rate > 0.0 { "bad" } else { "" };
    tile(
        &mut out,
        "failed per second",
        &format!("{:.0}", f.failed_rate),
        bad,
    );
    tile(&mut out, "replicas answering", &f.answering.to_string(), "");
    tile(
        &mut out,
        "downtime (to the bucket)",
        &format!("{:.1} s", f.down_s),
        "",
    );
    match f.outage_s {
        Some(o) => tile(
            &mut out,
            "OUTAGE: nothing succeeds",
            &format!("{o:.1} s"),
            "bad",
        ),
        None => tile(&mut out, "current outage", "none", "ok"),
    }
    out.push_str("</div>");
    let bs = snap.bucket_us as f64 / 1e6;
    let events = feed.live.events();
    let lanes = feed.instances.snapshot();
    let mut versions: Vec<String> = Vec::new();
    for i in &lanes {
        if !versions.contains(&i.version) {
            versions.push(i.version.clone());
        }
    }
    let marks = Marks {
        from_s: snap.first as f64 * bs,
        until_s: (f.elapsed_s - super::figures::SETTLING.as_secs_f64()).max(0.0),
        faults: events
            .iter()
            .filter(|e| e.kind == EventKind::Fault)
            .map(|e| e.at_s)
            .collect(),
        windows: Vec::new(),
        lane_versions: lanes.iter().map(|i| i.version.clone()).collect(),
        versions,
    };
    let settled = &snap.buckets[..super::figures::settled(feed, snap)];
    for svg in [
        charts::throughput(&marks, settled, snap.bucket_us),
        charts::replicas(&marks, settled, snap.bucket_us),
    ]
    .into_iter()
    .flatten()
    {
        let _ = write!(out, "<figure>{svg}</figure>");
    }
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
    out
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
        &format!("downtime in {} window(s)", s.downtime.windows.len()),
        &format!("{:.3} s", s.downtime.total_s),
        down,
    );
    tile(
        &mut html,
        "MTTR",
        &s.mttr_s.map_or("n/a".into(), |m| format!("{m:.3} s")),
        "",
    );
    tile(
        &mut html,
        "p99 latency",
        &s.latency_ms
            .p99
            .map_or("n/a".into(), |p| format!("{p:.1} ms")),
        "",
    );
    tile(
        &mut html,
        "replicas seen",
        &s.instances.len().to_string(),
        "",
    );
    html.push_str("</div>");
    let marks = Marks::of(s);
    for svg in [
        charts::throughput(&marks, &rec.timeline, rec.bucket_us),
        charts::replicas(&marks, &rec.timeline, rec.bucket_us),
    ]
    .into_iter()
    .flatten()
    {
        let _ = write!(html, "<figure>{svg}</figure>");
    }
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
