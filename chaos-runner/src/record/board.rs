//! What the live view reads while the run goes: the collector copies its recent buckets and
//! latency totals here at every tick. Bounded: the last [`MAX_BUCKETS`] buckets.

use std::collections::VecDeque;
use std::sync::Mutex;

use hdrhistogram::Histogram;

use super::{Bucket, Class};

/// The most buckets kept (10 minutes of 100 ms buckets).
pub const MAX_BUCKETS: usize = 6000;

/// Upper bounds (seconds) of the latency histogram's buckets in /metrics.
pub const LATENCY_BOUNDS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug)]
pub struct Board {
    pub bucket_us: u64,
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Index (in the run) of `buckets[0]`.
    first: usize,
    buckets: VecDeque<Bucket>,
    latency: LatencyTotals,
    /// Buckets that had scheduled requests and no success, over the whole run (also those
    /// no longer kept): downtime to the bucket.
    down_buckets: u64,
    /// Index below which `down_buckets` and the totals have counted (those buckets are final).
    counted: usize,
    /// Final buckets' totals.
    totals: Totals,
}

/// Attempts per class, dropped, and answers per replica id, summed over buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub classes: [u64; Class::COUNT],
    pub dropped: u64,
    pub answers: Vec<u64>,
}

/// Success latency over the run, as a cumulative histogram.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyTotals {
    /// Successes at or under each of [`LATENCY_BOUNDS_S`].
    pub cumulative: Vec<u64>,
    pub count: u64,
    pub sum_s: f64,
}

/// A copy of the board for one frame or one scrape.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub bucket_us: u64,
    pub first: usize,
    pub buckets: Vec<Bucket>,
    pub latency: LatencyTotals,
    /// Downtime to the bucket over the whole run (s).
    pub down_s: f64,
    /// Over the whole run.
    pub totals: Totals,
}

/// The most replica ids counted one by one (as `Instances` tracks them).
const MAX_IDS: usize = 1001;

impl Totals {
    fn add(&mut self, b: &Bucket) {
        for (t, c) in self.classes.iter_mut().zip(b.counts) {
            *t += c;
        }
        self.dropped += b.dropped;
        for &(id, n) in &b.per_instance {
            let id = (id as usize).min(MAX_IDS - 1);
            if self.answers.len() <= id {
                self.answers.resize(id + 1, 0);
            }
            self.answers[id] += n;
        }
    }
}

impl Board {
    pub fn new(bucket_us: u64) -> Self {
        Self {
            bucket_us,
            inner: Mutex::default(),
        }
    }

    /// The collector's buckets from index `base` on (still changing), and its latency totals.
    pub fn update(&self, base: usize, kept: &VecDeque<Bucket>, ok: &Histogram<u64>) {
        let mut guard = self.inner.lock().expect("board lock");
        let st = &mut *guard;
        for (i, b) in kept.iter().enumerate() {
            let idx = base + i;
            if idx < st.first {
                continue;
            }
            let pos = idx - st.first;
            if st.buckets.len() <= pos {
                st.buckets.resize(pos + 1, Bucket::default());
            }
            st.buckets[pos] = b.clone();
        }
        // Buckets before `base` are final: count them once.
        while st.counted < base {
            if let Some(b) = st
                .counted
                .checked_sub(st.first)
                .and_then(|p| st.buckets.get(p))
            {
                st.down_buckets += u64::from(b.scheduled() > 0 && b.ok() == 0);
                st.totals.add(b);
            }
            st.counted += 1;
        }
        while st.buckets.len() > MAX_BUCKETS {
            st.buckets.pop_front();
            st.first += 1;
        }
        st.latency = LatencyTotals {
            cumulative: LATENCY_BOUNDS_S
                .iter()
                .map(|le| ok.count_between(0, (le * 1e6) as u64))
                .collect(),
            count: ok.len(),
            sum_s: ok.mean() * ok.len() as f64 / 1e6,
        };
    }

    /// The last `buckets` buckets and the totals.
    pub fn snapshot(&self, buckets: usize) -> Snapshot {
        let st = self.inner.lock().expect("board lock");
        let skip = st.buckets.len().saturating_sub(buckets);
        // Buckets not final yet count towards downtime as they stand.
        let open_down = st
            .buckets
            .iter()
            .enumerate()
            .filter(|(p, _)| st.first + p >= st.counted)
            .filter(|(_, b)| b.scheduled() > 0 && b.ok() == 0)
            .count() as u64;
        let mut totals = st.totals.clone();
        for (p, b) in st.buckets.iter().enumerate() {
            if st.first + p >= st.counted {
                totals.add(b);
            }
        }
        Snapshot {
            bucket_us: self.bucket_us,
            first: st.first + skip,
            buckets: st.buckets.iter().skip(skip).cloned().collect(),
            latency: st.latency.clone(),
            down_s: (st.down_buckets + open_down) as f64 * self.bucket_us as f64 / 1e6,
            totals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{new_histogram, Class};

    #[test]
    fn keeps_the_latest_copy_counts_downtime_once_and_stays_bounded() {
        let board = Board::new(100_000);
        let mut kept = VecDeque::new();
        let mut b = Bucket::default();
        b.add(Class::Refused, 10, 100, None);
        kept.push_back(b.clone());
        kept.push_back(Bucket::default());
        let mut h = new_histogram();
        h.record(2_000).unwrap();
        board.update(0, &kept, &h);
        board.update(1, &kept.iter().skip(1).cloned().collect(), &h);
        let s = board.snapshot(10);
        assert_eq!(s.buckets.len(), 2);
        assert!((s.down_s - 0.1).abs() < 1e-9, "{}", s.down_s);
        assert_eq!(s.latency.count, 1);
        assert_eq!(s.latency.cumulative[3], 1, "2 ms is under 5 ms");
        assert_eq!(s.latency.cumulative[1], 0, "2 ms is over 1 ms");
        assert_eq!(
            s.totals.classes[Class::Refused.index()],
            1,
            "counted once, final or not"
        );
        let many: VecDeque<Bucket> = (0..MAX_BUCKETS + 10).map(|_| Bucket::default()).collect();
        board.update(2, &many, &h);
        let s = board.snapshot(usize::MAX);
        assert_eq!(s.buckets.len(), MAX_BUCKETS);
        assert_eq!(s.first + s.buckets.len(), 2 + MAX_BUCKETS + 10);
    }
}
