//! The running figures of a live run, from a board snapshot and the live counters.

use super::Feed;
use crate::record::board::Snapshot;
use crate::record::{Class, Live};

/// What the live page and /metrics show.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub elapsed_s: f64,
    pub left_s: Option<f64>,
    pub scheduled: u64,
    /// ok / scheduled so far.
    pub availability: Option<f64>,
    /// Requests per second over the last second.
    pub ok_rate: f64,
    pub failed_rate: f64,
    /// Downtime to the bucket (s).
    pub down_s: f64,
    /// Seconds since the last success, while nothing succeeds.
    pub outage_s: Option<f64>,
    /// Replicas that answered in the last second.
    pub answering: usize,
    pub in_flight: u64,
    pub faults: u64,
}

/// Buckets younger than this are still filling (answers in flight, recorders not yet
/// collected): the live charts and rates leave them out.
pub const SETTLING: std::time::Duration = std::time::Duration::from_millis(1000);

/// How many of the snapshot's buckets have settled.
pub fn settled(feed: &Feed, snap: &Snapshot) -> usize {
    let until_us = feed.start.elapsed().saturating_sub(SETTLING).as_micros() as u64;
    let last = (until_us / snap.bucket_us.max(1)) as usize;
    last.saturating_sub(snap.first).min(snap.buckets.len())
}

pub fn of(feed: &Feed, snap: &Snapshot) -> Figures {
    let elapsed = feed.start.elapsed();
    let bs = snap.bucket_us as f64 / 1e6;
    let ok = snap.totals.classes[Class::Ok.index()];
    let sent: u64 = snap.totals.classes.iter().sum();
    let scheduled = sent + snap.totals.dropped;
    // The last settled second.
    let per_s = (1.0 / bs).round().max(1.0) as usize;
    let n = settled(feed, snap);
    let recent = &snap.buckets[n.saturating_sub(per_s)..n];
    let secs = (recent.len() as f64 * bs).max(bs);
    let mut answering: Vec<u32> = recent
        .iter()
        .flat_map(|b| b.per_instance.iter().map(|(id, _)| *id))
        .collect();
    answering.sort_unstable();
    answering.dedup();
    let last_ok_us = snap.buckets.iter().rev().find_map(|b| b.last_ok());
    let last_miss_us = snap.buckets.iter().rev().find_map(|b| b.last_fail());
    let now_us = elapsed.as_micros() as u64;
    let outage_s = match (last_ok_us, last_miss_us) {
        (Some(o), Some(m)) if m > o => Some(now_us.saturating_sub(o) as f64 / 1e6),
        (None, Some(_)) => Some(elapsed.as_secs_f64()),
        _ => None,
    };
    Figures {
        elapsed_s: elapsed.as_secs_f64(),
        left_s: feed
            .planned
            .map(|p| p.saturating_sub(elapsed).as_secs_f64()),
        scheduled,
        availability: (scheduled > 0).then(|| ok as f64 / scheduled as f64),
        ok_rate: recent.iter().map(|b| b.ok()).sum::<u64>() as f64 / secs,
        failed_rate: recent.iter().map(|b| b.failed() + b.dropped).sum::<u64>() as f64 / secs,
        down_s: snap.down_s,
        outage_s,
        answering: answering.len(),
        in_flight: feed.live.in_flight(),
        faults: Live::get(&feed.live.faults),
    }
}
