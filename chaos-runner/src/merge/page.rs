//! merged.md and merged.html: what was merged and what the clients saw in all, then each
//! vantage point's own view beside it, then the merged detail and what could not be merged.

use std::path::Path;

use super::{Merged, VantageView};
use crate::report::tables::{opt_ms, opt_secs, pct, Section, Table};

pub fn sections(m: &Merged, out: &Path) -> Vec<Section> {
    vec![story(m, out), vantages(m), detail(m), notes(m)]
}

/// Of the vantages that saw the whole run (a lost one did not see what came after its loss),
/// the one with the lowest and the one with the highest availability (of those scheduled),
/// when there are two to compare.
fn ends(m: &Merged) -> Option<(&VantageView, &VantageView)> {
    let whole = || m.vantages.iter().filter(|v| v.lost_at_s.is_none());
    if whole().count() < 2 {
        return None;
    }
    let by = |v: &&VantageView| v.availability_scheduled.unwrap_or(f64::NAN);
    let lo = whole().min_by(|a, b| by(a).total_cmp(&by(b)))?;
    let hi = whole().max_by(|a, b| by(a).total_cmp(&by(b)))?;
    Some((lo, hi))
}

/// " (node-1, lost mid-run, is left out)" or nothing when no vantage was lost.
fn left_out(m: &Merged) -> String {
    let lost: Vec<String> = m
        .vantages
        .iter()
        .filter(|v| v.lost_at_s.is_some())
        .map(|v| format!("`{}`", v.name))
        .collect();
    match lost.len() {
        0 => String::new(),
        1 => format!(
            " ({}, lost mid-run, is left out of this comparison)",
            lost[0]
        ),
        _ => format!(
            " ({}, lost mid-run, are left out of this comparison)",
            lost.join(", ")
        ),
    }
}

fn name(v: &VantageView) -> String {
    match &v.share {
        Some(s) => format!("`{}` (share {s})", v.name),
        None => format!("`{}`", v.name),
    }
}

/// ", failing from 10.013 s to 20.333 s, 28.4 % of its requests then, and 1.234 s without
/// any success in 2 window(s)", each part only when there is one.
fn outage(v: &VantageView) -> String {
    let mut s = String::new();
    if let (Some(from), Some(to)) = (v.failures_from_s, v.failures_to_s) {
        s += &format!(", failing from {from:.3} s to {to:.3} s");
        if let Some(b) = v.failed_between {
            s += &format!(", {:.1} % of its requests then", b * 100.0);
        }
    }
    if v.downtime_windows > 0 {
        s += &format!(
            ", and {:.3} s without any success in {} window(s)",
            v.downtime_s, v.downtime_windows
        );
    }
    s
}

/// "10.020-15.220", or "-" without a failure.
fn span(v: &VantageView) -> String {
    match (v.failures_from_s, v.failures_to_s) {
        (Some(a), Some(b)) => format!("{a:.3}-{b:.3}"),
        _ => "-".into(),
    }
}

/// "Clocks started after the earliest run's by: node-0 3.0 ms, ...", or their spread alone
/// when there are too many to list.
fn clocks(m: &Merged) -> String {
    if m.vantages.len() > 12 {
        return format!(
            "Clocks started within {:.1} ms of the earliest run's (each vantage's in merged.json).",
            m.schedule.spread_ms
        );
    }
    let each: Vec<String> = m
        .vantages
        .iter()
        .map(|v| format!("{} {:.1} ms", v.name, v.offset_ms))
        .collect();
    let measured: Vec<String> = m
        .vantages
        .iter()
        .filter_map(|v| {
            Some(format!(
                "{} {:+.2} ms at its start (± {:.2}), {:+.2} ms at its end",
                v.name,
                v.clock_offset_start_ms?,
                v.clock_rtt_start_ms? / 2.0,
                v.clock_offset_end_ms?
            ))
        })
        .collect();
    let mut line = format!(
        "Clocks started after the earliest run's by: {}.",
        each.join(", ")
    );
    if !measured.is_empty() {
        line.push_str(&format!(
            " Clocks of those that sent their runs to a gatherer, against the gatherer's (measured over their sends, within half a round trip; their starts are placed with the first): {}.",
            measured.join("; ")
        ));
    }
    line
}

fn story(m: &Merged, out: &Path) -> Section {
    let g = &m.merged;
    let load = match m.schedule.rate {
        Some(rate) => format!(
            "one schedule of {rate} requests/s cut in {} share(s){}",
            m.schedule.shares.len(),
            if m.schedule.missing.is_empty() {
                String::new()
            } else {
                format!(", {} missing", m.schedule.missing.len())
            }
        ),
        None => "their own loads, added".to_string(),
    };
    let mut lines = vec![
        format!(
            "What was done: {} runs loaded {} at once, {load}, their clocks started within {:.1} ms of each other; merged here into one measurement.",
            m.vantages.len(),
            m.target,
            m.schedule.spread_ms
        ),
        format!(
            "What happened, as all clients together saw it: {} of {} scheduled requests succeeded ({}), {} failed; {} of the {} buckets met the {} threshold ({} by time).",
            g.ok,
            g.scheduled,
            pct(g.availability_scheduled),
            g.failed,
            g.buckets_met,
            g.buckets_counted,
            pct(Some(g.bucket_threshold)),
            pct(g.availability_time)
        ),
        merged_downtime(&g.downtime),
    ];
    for v in &m.vantages {
        if let Some(at) = v.lost_at_s {
            lines.push(format!(
                "Lost: {} stopped measuring at {at:.1} s of its run; what it saw until then is kept and counted, nothing after (see the notes below).",
                name(v)
            ));
        }
    }
    for v in m.vantages.iter().filter(|v| !v.fault_specs.is_empty()) {
        lines.push(format!(
            "Faults, injected by {}: {}.",
            name(v),
            v.fault_specs.join("; ")
        ));
    }
    if let Some((lo, hi)) = ends(m) {
        let gap = (hi.availability_scheduled.unwrap_or(0.0)
            - lo.availability_scheduled.unwrap_or(0.0))
            * 100.0;
        let left_out = left_out(m);
        let every = if left_out.is_empty() {
            "every vantage point"
        } else {
            "every vantage point that saw the whole run"
        };
        lines.push(if gap < 0.05 {
            format!(
                "Verdict: {every} saw the same service: availability {} to {}, within {gap:.2} points{}.",
                pct(lo.availability_scheduled),
                pct(hi.availability_scheduled),
                left_out
            )
        } else {
            format!(
                "Verdict: the vantage points saw different services: {} had {} of its requests succeed ({} by time{}), {} had {} ({} by time{}); {gap:.2} points apart{}.",
                name(lo),
                pct(lo.availability_scheduled),
                pct(lo.availability_time),
                outage(lo),
                name(hi),
                pct(hi.availability_scheduled),
                pct(hi.availability_time),
                outage(hi),
                left_out
            )
        });
    } else if m.vantages.iter().any(|v| v.lost_at_s.is_some()) {
        lines.push(
            "Verdict: fewer than two vantage points saw the whole run, so none is compared with another: read each one's figures up to its loss in the table below.".into(),
        );
    }
    Section {
        title: "What was merged, what happened".into(),
        tiles: vec![
            (
                "availability, all clients".into(),
                pct(g.availability_scheduled),
            ),
            ("by time".into(), pct(g.availability_time)),
            (
                "downtime, all clients".into(),
                format!("{:.3} s", g.downtime.total_s),
            ),
            (
                "p99 latency".into(),
                format!("{} ms", opt_ms(g.latency_ms.p99, 2)),
            ),
            ("vantage points".into(), m.vantages.len().to_string()),
        ],
        lines,
        links: m
            .vantages
            .iter()
            .map(|v| {
                let dir = Path::new(&v.dir);
                if v.rebuilt {
                    // No report: `chaos-runner report DIR` would rebuild one from this.
                    (
                        format!(
                            "{}: its journal (it did not finish and has no report)",
                            v.name
                        ),
                        crate::compare::relative(out, &dir.join("journal/run.jsonl")),
                    )
                } else {
                    (
                        format!("{}: its report", v.name),
                        crate::compare::relative(out, &dir.join("report.html")),
                    )
                }
            })
            .collect(),
        ..Default::default()
    }
}

/// The merged load's downtime in a sentence: its windows, or that some client always got an
/// answer.
fn merged_downtime(d: &crate::merge::MergedDowntime) -> String {
    if d.windows.is_empty() {
        return format!(
            "Downtime, as all clients together saw it: none (no time of {:.0} ms or more without an answer to any vantage point).",
            d.min_window_ms
        );
    }
    let list: Vec<String> = d
        .windows
        .iter()
        .map(|w| {
            format!(
                "{:.3}-{:.3} s{}",
                w.start_s,
                w.end_s,
                if w.open {
                    " (still down at the end)"
                } else {
                    ""
                }
            )
        })
        .collect();
    format!(
        "Downtime, as all clients together saw it: {:.3} s in {} window(s) when no vantage point got an answer ({}); {}.",
        d.total_s,
        d.windows.len(),
        list.join(", "),
        d.mttr_s.map_or_else(
            || "none ended, so no time to restore".to_string(),
            |t| format!("time to restore {t:.3} s (mean of the windows that ended)")
        )
    )
}

fn vantages(m: &Merged) -> Section {
    let head = [
        "vantage",
        "share",
        "sent",
        "failed",
        "availability",
        "by time",
        "failures from-to (s)",
        "failed then",
        "downtime (s)",
        "MTTR (s)",
        "p99 (ms)",
    ];
    Section {
        title: "Each vantage point's view".into(),
        lines: vec![
            "Each run's own figures, as its report gives them. Failures from-to: its first and last failed request by intended send time, on the merged time line (s after the earliest run's start), and the share of its requests due in the buckets from the first to the last that failed (those buckets also hold requests due just before the first failure and just after the last); downtime: its windows without any success (their number in brackets).".into(),
            clocks(m),
        ],
        table: Some(Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: m
                .vantages
                .iter()
                .map(|v| {
                    vec![
                        match v.lost_at_s {
                            Some(at) => format!("{} (lost at {at:.1} s)", v.name),
                            None => v.name.clone(),
                        },
                        v.share.clone().unwrap_or_else(|| "-".into()),
                        v.sent.to_string(),
                        v.failed.to_string(),
                        pct(v.availability_scheduled),
                        pct(v.availability_time),
                        span(v),
                        pct(v.failed_between),
                        format!("{:.3} ({})", v.downtime_s, v.downtime_windows),
                        opt_secs(v.mttr_s),
                        opt_ms(v.p99_ms, 2),
                    ]
                })
                .collect(),
        }),
        ..Default::default()
    }
}

fn detail(m: &Merged) -> Section {
    let g = &m.merged;
    let mut rows = vec![
        vec!["scheduled".into(), g.scheduled.to_string()],
        vec!["sent".into(), g.sent.to_string()],
        vec!["dropped".into(), g.dropped.to_string()],
        vec!["ok".into(), g.ok.to_string()],
    ];
    rows.extend(
        g.by_class
            .iter()
            .filter(|(c, n)| c.name() != "ok" && **n > 0)
            .map(|(c, n)| vec![format!("failed: {}", c.name()), n.to_string()]),
    );
    let l = &g.latency_ms;
    rows.extend([
        vec![
            "availability (ok / sent)".into(),
            pct(g.availability_requests),
        ],
        vec![
            "downtime: no vantage answered (s, windows)".into(),
            format!("{:.3} ({})", g.downtime.total_s, g.downtime.windows.len()),
        ],
        vec![
            "time to restore, mean of the windows that ended (s)".into(),
            g.downtime
                .mttr_s
                .map_or_else(|| "none".into(), |t| format!("{t:.3}")),
        ],
        vec![
            "buckets without any request (left out)".into(),
            g.buckets_empty.to_string(),
        ],
        vec![
            "latency of successes p50 / p90 / p99 / p99.9 / max (ms)".into(),
            [l.p50, l.p90, l.p99, l.p999, l.max]
                .map(|v| opt_ms(v, 2))
                .join(" / "),
        ],
        vec![
            "latency of failures p50 / p99 (ms)".into(),
            format!(
                "{} / {}",
                opt_ms(g.failure_latency_ms.p50, 2),
                opt_ms(g.failure_latency_ms.p99, 2)
            ),
        ],
    ]);
    Section {
        title: "The merged measurement".into(),
        lines: vec![format!(
            "Counts and each bucket's counts are the runs' added; latencies come from their histograms merged (HdrHistogram). Access path: {}.",
            m.access_path
        )],
        table: Some(Table { head: vec!["figure".into(), "value".into()], rows }),
        ..Default::default()
    }
}

fn notes(m: &Merged) -> Section {
    Section {
        title: "What this merge does not say".into(),
        lines: m.notes.clone(),
        ..Default::default()
    }
}
