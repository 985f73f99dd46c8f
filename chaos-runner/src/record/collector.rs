//! The collector: once a second it empties every worker's recorder into the run's
//! timeline and total histograms, and appends the second's histograms to the interval log.

use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

use super::{new_histogram, Bucket, Recorder};

#[derive(Debug)]
pub struct Collector {
    pub bucket_us: u64,
    recorders: Vec<Arc<Mutex<Recorder>>>,
    pub timeline: Vec<Bucket>,
    pub ok: Histogram<u64>,
    pub failed: Histogram<u64>,
    pub lateness: Histogram<u64>,
    interval_ok: Histogram<u64>,
    interval_failed: Histogram<u64>,
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
            recorders: Vec::new(),
            timeline: Vec::new(),
            ok: new_histogram(),
            failed: new_histogram(),
            lateness: new_histogram(),
            interval_ok: new_histogram(),
            interval_failed: new_histogram(),
        }
    }

    /// A recorder for one worker (or the scheduler).
    pub fn register(&mut self) -> Arc<Mutex<Recorder>> {
        let r = Arc::new(Mutex::new(Recorder::new(self.bucket_us)));
        self.recorders.push(r.clone());
        r
    }

    /// Empties every recorder. Returns the latency histograms of what it emptied (for the
    /// interval log); they stay valid until the next call.
    pub fn collect(&mut self) -> (&Histogram<u64>, &Histogram<u64>) {
        self.interval_ok.reset();
        self.interval_failed.reset();
        for r in &self.recorders {
            let mut r = r.lock().expect("recorder lock");
            for (idx, b) in r.buckets.drain(..) {
                let idx = idx as usize;
                if self.timeline.len() <= idx {
                    self.timeline.resize(idx + 1, Bucket::default());
                }
                self.timeline[idx].merge(&b);
            }
            let _ = self.interval_ok.add(&r.ok);
            let _ = self.interval_failed.add(&r.failed);
            let _ = self.lateness.add(&r.lateness);
            r.ok.reset();
            r.failed.reset();
            r.lateness.reset();
        }
        let _ = self.ok.add(&self.interval_ok);
        let _ = self.failed.add(&self.interval_failed);
        (&self.interval_ok, &self.interval_failed)
    }

    pub fn finish(mut self) -> Recorded {
        self.collect();
        Recorded {
            bucket_us: self.bucket_us,
            timeline: self.timeline,
            ok: self.ok,
            failed: self.failed,
            lateness: self.lateness,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Attempt, Class};

    #[test]
    fn collects_every_worker_into_one_timeline() {
        let mut c = Collector::new(100_000);
        let a = c.register();
        let b = c.register();
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
        let rec = c.finish();
        assert_eq!(rec.timeline.len(), 5);
        let sent: u64 = rec.timeline.iter().map(Bucket::sent).sum();
        let dropped: u64 = rec.timeline.iter().map(|b| b.dropped).sum();
        assert_eq!((sent, dropped), (10, 1));
        assert_eq!(rec.ok.len(), 5);
        assert_eq!(rec.failed.len(), 5);
    }
}
