//! `/metrics`: the live figures in Prometheus' text format, built at each scrape from the
//! board and the counters (nothing per request).

use prometheus::proto::{self, MetricFamily, MetricType};

use super::figures;
use super::Feed;
use crate::record::board::{Snapshot, LATENCY_BOUNDS_S};
use crate::record::Class;

/// Every metric name /metrics exposes (the Grafana dashboard may name only these).
pub const NAMES: [&str; 11] = [
    "chaos_requests_total",
    "chaos_scheduled_total",
    "chaos_dropped_total",
    "chaos_replica_answers_total",
    "chaos_faults_total",
    "chaos_in_flight",
    "chaos_availability_ratio",
    "chaos_downtime_seconds",
    "chaos_outage_seconds",
    "chaos_elapsed_seconds",
    "chaos_latency_seconds",
];

fn label(name: &str, value: &str) -> proto::LabelPair {
    let mut l = proto::LabelPair::default();
    l.set_name(name.into());
    l.set_value(value.into());
    l
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<proto::Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.into());
    f.set_help(help.into());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn counter(v: f64, labels: Vec<proto::LabelPair>) -> proto::Metric {
    let mut c = proto::Counter::default();
    c.set_value(v);
    let mut m = proto::Metric::default();
    m.set_counter(c);
    m.set_label(labels);
    m
}

fn gauge(v: f64) -> proto::Metric {
    let mut g = proto::Gauge::default();
    g.set_value(v);
    let mut m = proto::Metric::default();
    m.set_gauge(g);
    m
}

/// Successful answers per replica id, labelled with its `X-Instance` and version.
fn answers(feed: &Feed, snap: &Snapshot) -> Vec<proto::Metric> {
    let seen = feed.instances.snapshot();
    snap.totals
        .answers
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(id, n)| {
            let (replica, version) = seen
                .get(id)
                .map_or(("(others)", ""), |s| (s.id.as_str(), s.version.as_str()));
            counter(
                *n as f64,
                vec![label("replica", replica), label("version", version)],
            )
        })
        .collect()
}

/// Success latency as a Prometheus histogram (seconds).
fn latency(snap: &Snapshot) -> proto::Metric {
    let mut h = proto::Histogram::default();
    h.set_sample_count(snap.latency.count);
    h.set_sample_sum(snap.latency.sum_s);
    h.set_bucket(
        LATENCY_BOUNDS_S
            .iter()
            .zip(&snap.latency.cumulative)
            .map(|(le, n)| {
                let mut b = proto::Bucket::default();
                b.set_upper_bound(*le);
                b.set_cumulative_count(*n);
                b
            })
            .collect(),
    );
    let mut m = proto::Metric::default();
    m.set_histogram(h);
    m
}

/// The families of one scrape.
pub fn families(feed: &Feed, snap: &Snapshot) -> Vec<MetricFamily> {
    let f = figures::of(feed, snap);
    let requests = Class::ALL
        .iter()
        .map(|c| {
            counter(
                snap.totals.classes[c.index()] as f64,
                vec![label("class", c.name())],
            )
        })
        .collect();
    let answers = answers(feed, snap);
    let hist = latency(snap);
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    vec![
        family(
            NAMES[0],
            "Requests that ended, by outcome class.",
            COUNTER,
            requests,
        ),
        family(
            NAMES[1],
            "Requests that came due (sent or dropped).",
            COUNTER,
            vec![counter(f.scheduled as f64, vec![])],
        ),
        family(
            NAMES[2],
            "Requests that came due and were never sent.",
            COUNTER,
            vec![counter(snap.totals.dropped as f64, vec![])],
        ),
        family(
            NAMES[3],
            "Successful answers per replica (X-Instance) and version.",
            COUNTER,
            answers,
        ),
        family(
            NAMES[4],
            "Fault firings.",
            COUNTER,
            vec![counter(f.faults as f64, vec![])],
        ),
        family(
            NAMES[5],
            "Requests under way.",
            GAUGE,
            vec![gauge(f.in_flight as f64)],
        ),
        family(
            NAMES[6],
            "Successes over scheduled requests so far.",
            GAUGE,
            vec![gauge(f.availability.unwrap_or(0.0))],
        ),
        family(
            NAMES[7],
            "Time in buckets where nothing succeeded, so far.",
            GAUGE,
            vec![gauge(f.down_s)],
        ),
        family(
            NAMES[8],
            "Length of the outage under way (0 when something succeeds).",
            GAUGE,
            vec![gauge(f.outage_s.unwrap_or(0.0))],
        ),
        family(
            NAMES[9],
            "Seconds since the load started.",
            GAUGE,
            vec![gauge(f.elapsed_s)],
        ),
        family(
            NAMES[10],
            "Latency of successful requests from their intended send time.",
            HISTOGRAM,
            vec![hist],
        ),
    ]
}

/// The text format of one scrape, read from the board afresh.
pub fn text(feed: &Feed) -> String {
    // A family without a sample (no replica answered yet) is left out: the encoder refuses it.
    let families: Vec<MetricFamily> = families(feed, &feed.board.snapshot(20))
        .into_iter()
        .filter(|f| !f.get_metric().is_empty())
        .collect();
    let mut out = String::new();
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
        tracing::warn!(error = %e, "live metrics could not be encoded");
    }
    out
}
