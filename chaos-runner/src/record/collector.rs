//! The collector: once a second it empties every recorder shard into the run's timeline
//! and total histograms, and appends the second's histograms to the interval log.
//! Workers share a few shards rather than owning one each: emptying a recorder costs the
//! size of its histograms, however few attempts it holds, so with hundreds of workers
//! per-worker recorders made each collection stall the runtime for milliseconds.
//! With a spill sink, buckets older than the keep window go to disk as they are final, so
//! memory does not grow with the length of the run.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

use super::{new_histogram, Bucket, Recorder};

/// Where final buckets go: (bucket index, bucket).
pub type Spill = Box<dyn FnMut(usize, &Bucket) -> std::io::Result<()> + Send>;

/// Recorder shards: enough that workers on different runtime threads seldom meet on one.
pub const SHARDS: usize = 8;

pub struct Collector {
    pub bucket_us: u64,
    recorders: Vec<Arc<Mutex<Recorder>>>,
    /// Buckets from index `base` on, still in memory.
    timeline: VecDeque<Bucket>,
    base: usize,
    spill: Option<Spill>,
    /// Attempts that arrived for a bucket already spilled (merged into the oldest kept one).
    pub stragglers: u64,
    pub ok: Histogram<u64>,
    pub failed: Histogram<u64>,
    pub lateness: Histogram<u64>,
    interval_ok: Histogram<u64>,
    interval_failed: Histogram<u64>,
    interval_lateness: Histogram<u64>,
    /// Buckets (by index) changed since the last [`Collector::take_changed`].
    changed: BTreeSet<usize>,
}

/// Everything the collector gathered, once the run is over.
#[derive(Debug)]
pub struct Recorded {
    pub bucket_us: u64,
    pub timeline: Vec<Bucket>,
    pub ok: Histogram<u64>,
    pub failed: Histogram<u64>,
    pub lateness: Histogram<u64>,
}

impl Collector {
    pub fn new(bucket_us: u64) -> Self {
        Self {
            bucket_us,
            recorders: (0..SHARDS)
                .map(|_| Arc::new(Mutex::new(Recorder::new(bucket_us))))
                .collect(),
            timeline: VecDeque::new(),
            base: 0,
            spill: None,
            stragglers: 0,
            ok: new_histogram(),
            failed: new_histogram(),
            lateness: new_histogram(),
            interval_ok: new_histogram(),
            interval_failed: new_histogram(),
            interval_lateness: new_histogram(),
            changed: BTreeSet::new(),
        }
    }

    /// The recorder shards, for workers to take in turn.
    pub fn shards(&self) -> Vec<Arc<Mutex<Recorder>>> {
        self.recorders.clone()
    }

    /// Empties every recorder. Returns the latency histograms of what it emptied (for the
    /// interval log); they stay valid until the next call.
    pub fn collect(&mut self) -> (&Histogram<u64>, &Histogram<u64>) {
        self.interval_ok.reset();
        self.interval_failed.reset();
        self.interval_lateness.reset();
        for r in &self.recorders {
            let mut r = r.lock().expect("recorder lock");
            for (idx, b) in r.buckets.drain(..) {
                let mut idx = idx as usize;
                if idx < self.base {
                    self.stragglers += b.sent();
                    idx = self.base;
                }
                let pos = idx - self.base;
                if self.timeline.len() <= pos {
                    self.timeline.resize(pos + 1, Bucket::default());
                }
                self.timeline[pos].merge(&b);
                self.changed.insert(idx);
            }
            let r = &mut *r;
            for (from, into) in [
                (&mut r.ok, &mut self.interval_ok),
                (&mut r.failed, &mut self.interval_failed),
                (&mut r.lateness, &mut self.interval_lateness),
            ] {
                if !from.is_empty() {
                    let _ = into.add(&*from);
                    from.reset();
                }
            }
        }
        let _ = self.ok.add(&self.interval_ok);
        let _ = self.failed.add(&self.interval_failed);
        let _ = self.lateness.add(&self.interval_lateness);
        (&self.interval_ok, &self.interval_failed)
    }

    /// The send lateness of what the last [`Collector::collect`] emptied.
    pub fn interval_lateness(&self) -> &Histogram<u64> {
        &self.interval_lateness
    }

    /// The buckets changed since the last call, as they would be if final now (settled
    /// copies), with their indexes: for the journal.
    pub fn take_changed(&mut self) -> Vec<(usize, Bucket)> {
        let changed = std::mem::take(&mut self.changed);
        changed
            .into_iter()
            .filter_map(|i| {
                let mut b = self.timeline.get(i.checked_sub(self.base)?)?.clone();
                b.settle();
                Some((i, b))
            })
            .collect()
    }

    /// The buckets still in memory (from index `base` on, still changing) and the success
    /// latency so far: for the live view.
    pub fn publish(&self, board: &super::board::Board) {
        board.update(self.base, &self.timeline, &self.ok);
    }

    /// Sends final buckets to `spill` instead of keeping them.
    pub fn spill_to(&mut self, spill: Spill) {
        self.spill = Some(spill);
    }

    /// With a spill sink: writes out every bucket that starts before `before_us`.
    pub fn spill_before(&mut self, before_us: u64) -> std::io::Result<()> {
        let Some(spill) = self.spill.as_mut() else {
            return Ok(());
        };
        let limit = (before_us / self.bucket_us) as usize;
        while self.base < limit {
            let mut b = self.timeline.pop_front().unwrap_or_default();
            b.settle();
            spill(self.base, &b)?;
            self.base += 1;
        }
        Ok(())
    }

    /// Collects what is left. The timeline in the result is whatever was not spilled (all
    /// of it without a spill sink; nothing with one, as everything is spilled).
    pub fn finish(mut self) -> std::io::Result<Recorded> {
        self.collect();
        for b in self.timeline.iter_mut() {
            b.settle();
        }
        if let Some(mut spill) = self.spill.take() {
            for (i, b) in self.timeline.drain(..).enumerate() {
                spill(self.base + i, &b)?;
            }
        }
        Ok(Recorded {
            bucket_us: self.bucket_us,
            timeline: self.timeline.into(),
            ok: self.ok,
            failed: self.failed,
            lateness: self.lateness,
        })
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("base", &self.base)
            .field("kept", &self.timeline.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Attempt, Class};

    #[test]
    fn collects_every_worker_into_one_timeline() {
        let c = Collector::new(100_000);
        let a = c.shards()[0].clone();
        let b = c.shards()[1].clone();
        for i in 0..10u64 {
            let r = if i % 2 == 0 { &a } else { &b };
            let class = if i < 5 { Class::Ok } else { Class::Refused };
            r.lock().unwrap().record(&Attempt {
                intended_us: i * 50_000,
                class,
                latency_us: 1000 + i,
                lateness_us: 0,
                instance: None,
            });
        }
        b.lock().unwrap().record_dropped(420_000);
        let rec = c.finish().unwrap();
        assert_eq!(rec.timeline.len(), 5);
        let sent: u64 = rec.timeline.iter().map(Bucket::sent).sum();
        let dropped: u64 = rec.timeline.iter().map(|b| b.dropped).sum();
        assert_eq!((sent, dropped), (10, 1));
        assert_eq!(rec.ok.len(), 5);
        assert_eq!(rec.failed.len(), 5);
    }

    #[test]
    fn spilled_buckets_leave_memory_and_come_out_in_order() {
        let mut c = Collector::new(100_000);
        let r = c.shards()[0].clone();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        c.spill_to(Box::new(move |i, b| {
            sink.lock().unwrap().push((i, b.sent()));
            Ok(())
        }));
        for i in 0..30u64 {
            r.lock().unwrap().record(&Attempt {
                intended_us: i * 100_000,
                class: Class::Ok,
                latency_us: 5,
                lateness_us: 0,
                instance: None,
            });
        }
        c.collect();
        c.spill_before(2_000_000).unwrap();
        assert_eq!(c.timeline.len(), 10, "only the last second is kept");
        // A straggler for a spilled bucket is kept, in the oldest bucket still in memory.
        r.lock().unwrap().record(&Attempt {
            intended_us: 50_000,
            class: Class::Ok,
            latency_us: 5,
            lateness_us: 0,
            instance: None,
        });
        c.collect();
        assert_eq!(c.stragglers, 1);
        let rec = c.finish().unwrap();
        assert!(rec.timeline.is_empty());
        let got = out.lock().unwrap().clone();
        assert_eq!(got.len(), 30);
        assert!(got.iter().enumerate().all(|(n, (i, _))| n == *i));
        assert_eq!(got.iter().map(|(_, s)| s).sum::<u64>(), 31);
    }
}
