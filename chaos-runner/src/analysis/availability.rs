//! Availability two ways: the share of attempts that succeeded, and the share of time
//! buckets whose success ratio met a threshold.

use super::downtime::Window;
use crate::record::Bucket;

#[derive(Debug, Clone, PartialEq)]
pub struct TimeAvailability {
    pub buckets_counted: u64,
    pub buckets_met: u64,
}

impl TimeAvailability {
    pub fn ratio(&self) -> Option<f64> {
        (self.buckets_counted > 0).then(|| self.buckets_met as f64 / self.buckets_counted as f64)
    }
}

/// A bucket meets the threshold when `ok / (sent + dropped) >= threshold`. Buckets with no
/// attempt at all count as missed inside a downtime window and are left out elsewhere.
pub fn by_time(
    timeline: &[Bucket],
    bucket_us: u64,
    windows: &[Window],
    threshold: f64,
) -> TimeAvailability {
    let mut t = TimeAvailability {
        buckets_counted: 0,
        buckets_met: 0,
    };
    for (i, b) in timeline.iter().enumerate() {
        let attempts = b.sent() + b.dropped;
        if attempts == 0 {
            let mid = i as u64 * bucket_us + bucket_us / 2;
            if windows.iter().any(|w| w.start_us <= mid && mid < w.end_us) {
                t.buckets_counted += 1;
            }
            continue;
        }
        t.buckets_counted += 1;
        if b.ok() as f64 >= threshold * attempts as f64 {
            t.buckets_met += 1;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Class;

    #[test]
    fn counts_buckets_meeting_the_threshold() {
        let mut tl = vec![Bucket::default(); 4];
        tl[0].add(Class::Ok, 1, 1, None);
        tl[1].add(Class::Refused, 100_001, 1, None);
        // tl[2] empty inside the window, tl[3] ok.
        tl[3].add(Class::Ok, 300_001, 1, None);
        let w = vec![Window {
            start_us: 100_001,
            end_us: 300_001,
            open: false,
            failed: 1,
            dropped: 0,
        }];
        let t = by_time(&tl, 100_000, &w, 0.99);
        assert_eq!((t.buckets_counted, t.buckets_met), (4, 2));
        assert_eq!(t.ratio(), Some(0.5));
    }
}
