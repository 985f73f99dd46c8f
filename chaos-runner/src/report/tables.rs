//! The report's content as neutral sections and tables, rendered by both the Markdown and
//! the HTML writer (so the two always say the same).

use crate::summary::{Latency, Summary};

#[derive(Debug, Clone)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
    pub table: Option<Table>,
    /// Charts shown after the table (HTML only): caption and SVG.
    pub figures: Vec<(String, String)>,
    /// Figures shown large before the lines (name, value): the page's first glance.
    pub tiles: Vec<(String, String)>,
    /// Links after the lines (text, relative address), e.g. each compared run's report.
    pub links: Vec<(String, String)>,
}

/// The title of the section the report's charts belong to.
pub const HEADLINE: &str = "Headline";

pub fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.3}%", v * 100.0))
}

pub fn secs(v: f64) -> String {
    format!("{v:.3}")
}

pub fn opt_secs(v: Option<f64>) -> String {
    v.map_or("-".into(), secs)
}

/// Milliseconds with `digits` decimals, or - where nothing was measured.
pub fn opt_ms(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// MTTR in words: - says why there is none.
pub fn mttr(s: &Summary) -> String {
    match s.mttr_s {
        Some(m) => format!("{m:.3} s"),
        None if s.faults.iter().any(|f| f.not_recovered_after_s.is_some()) => {
            "- (the outage had not ended when the run did)".into()
        }
        None => "- (no fault caused an outage)".into(),
    }
}

/// When putting a fault back began and was done, from the fault (s): `30.001 to 30.912`;
/// one figure where the run recorded only the end, or both were one moment.
pub fn put_back(f: &crate::summary::FaultResult) -> String {
    match (f.restore_began_s, f.restored_at_s) {
        (Some(b), Some(d)) if d - b >= 0.0005 => {
            format!("{} to {}", secs(b - f.at_s), secs(d - f.at_s))
        }
        (_, Some(d)) => secs(d - f.at_s),
        (_, None) => "-".into(),
    }
}

/// A fault's recovery: seconds, or that it had not ended.
pub fn recovery(f: &crate::summary::FaultResult) -> String {
    if f.failures == 0 {
        // Nothing failed: nothing to recover from.
        return "-".into();
    }
    match (f.recovery_s, f.not_recovered_after_s) {
        (Some(r), _) => secs(r),
        (None, Some(n)) => format!("not recovered (>= {n:.3})"),
        (None, None) => "-".into(),
    }
}

pub(super) fn t(head: &[&str], rows: Vec<Vec<String>>) -> Option<Table> {
    Some(Table {
        head: head.iter().map(|s| s.to_string()).collect(),
        rows,
    })
}

pub(super) fn lat_row(name: &str, l: &Latency) -> Vec<String> {
    let f = |v: Option<f64>| opt_ms(v, 3);
    vec![
        name.into(),
        l.count.to_string(),
        f(l.p50),
        f(l.p90),
        f(l.p95),
        f(l.p99),
        f(l.p999),
        f(l.max),
        f(l.mean),
    ]
}

pub fn headline_row(s: &Summary) -> Vec<String> {
    let open = s.downtime.windows.iter().any(|w| w.open);
    vec![
        s.run.setup.label.clone(),
        pct(s.availability.scheduled),
        pct(s.availability.time),
        format!(
            "{}{}",
            secs(s.downtime.total_s),
            if open { " (still down at end)" } else { "" }
        ),
        s.downtime.windows.len().to_string(),
        s.mttr_s.map_or("-".into(), secs),
        opt_ms(s.latency_ms.p50, 2),
        opt_ms(s.latency_ms.p99, 2),
        s.counts.scheduled.to_string(),
        s.counts.failed.to_string(),
        s.counts.dropped.to_string(),
        s.restarts_seen.to_string(),
    ]
}

pub const HEADLINE_HEAD: [&str; 12] = [
    "run",
    "availability",
    "availability (time)",
    "downtime (s)",
    "outages",
    "MTTR (s)",
    "p50 (ms)",
    "p99 (ms)",
    "scheduled",
    "failed",
    "dropped",
    "restarts seen",
];
