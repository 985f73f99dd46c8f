//! A recorder: the attempts since the collector last came by. Workers share a few of them
//! (see `collector::SHARDS`), each behind a mutex held only for one `record`, so the hot
//! path seldom meets another worker.

use hdrhistogram::Histogram;

use super::{new_histogram, Bucket, Class};

/// What one attempt did.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    /// Intended send time, µs from the start (open loop: the schedule; closed loop: actual).
    pub intended_us: u64,
    pub class: Class,
    /// From intended send time to the end of the answer (or the failure).
    pub latency_us: u64,
    /// How late the attempt was sent after its intended time.
    pub lateness_us: u64,
    pub instance: Option<u32>,
}

/// A send counts as late when it left more than this after its intended time.
pub const LATE_US: u64 = 1_000;

#[derive(Debug)]
pub struct Recorder {
    bucket_us: u64,
    pub(super) buckets: Vec<(u64, Bucket)>,
    pub(super) ok: Histogram<u64>,
    pub(super) failed: Histogram<u64>,
    pub(super) lateness: Histogram<u64>,
}

impl Recorder {
    pub fn new(bucket_us: u64) -> Self {
        Self {
            bucket_us,
            buckets: Vec::with_capacity(32),
            ok: new_histogram(),
            failed: new_histogram(),
            lateness: new_histogram(),
        }
    }

    fn bucket(&mut self, at_us: u64) -> &mut Bucket {
        let idx = at_us / self.bucket_us;
        // Attempts mostly land in the newest bucket: search from the back.
        let pos = match self.buckets.iter().rposition(|(i, _)| *i == idx) {
            Some(p) => p,
            None => {
                self.buckets.push((idx, Bucket::default()));
                self.buckets.len() - 1
            }
        };
        &mut self.buckets[pos].1
    }

    pub fn record(&mut self, a: &Attempt) {
        let late = a.lateness_us > LATE_US;
        let b = self.bucket(a.intended_us);
        b.add(a.class, a.intended_us, a.latency_us, a.instance);
        if late {
            b.late += 1;
        }
        let v = a.latency_us.max(1);
        if a.class.is_ok() {
            let _ = self.ok.record(v);
        } else {
            let _ = self.failed.record(v);
        }
        let _ = self.lateness.record(a.lateness_us.max(1));
    }

    /// Counts only (`--recording off`, to measure what recording costs): the class per
    /// bucket, no latency, no replica, no first/last times.
    pub fn count(&mut self, a: &Attempt) {
        self.bucket(a.intended_us).counts[a.class.index()] += 1;
    }

    /// A tick that was never sent.
    pub fn record_dropped(&mut self, intended_us: u64) {
        self.bucket(intended_us).add_dropped(intended_us);
    }
}
