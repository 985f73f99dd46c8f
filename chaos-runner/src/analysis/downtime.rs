//! Downtime windows: from the first unanswered request (a failure, or a tick that was
//! never sent) after a success to the next success, during which no request succeeded.
//! Computed from the buckets' first/last success and miss times and their settled edges,
//! so a window's ends and its counts are exact whatever the bucket width. Misses between two
//! successes of the same bucket (a gap shorter than one bucket) are not seen as a window.

use crate::record::Bucket;

#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub start_us: u64,
    pub end_us: u64,
    /// Still failing when the run ended.
    pub open: bool,
    /// Failed attempts in the window.
    pub failed: u64,
    /// Ticks in the window that were never sent.
    pub dropped: u64,
}

impl Window {
    pub fn duration_us(&self) -> u64 {
        self.end_us - self.start_us
    }

    /// Whether `at_us` falls inside the window (its end, the first success, excluded).
    pub fn contains(&self, at_us: u64) -> bool {
        self.start_us <= at_us && at_us < self.end_us
    }
}

/// Every window, in order. Windows shorter than `min_us` are dropped and counted as glitches.
/// Buckets must be settled.
pub fn windows(timeline: &[Bucket], run_end_us: u64, min_us: u64) -> (Vec<Window>, u64) {
    let mut out: Vec<Window> = Vec::new();
    let mut open: Option<Window> = None;
    for b in timeline {
        if b.scheduled() == 0 {
            continue;
        }
        if let Some(mut w) = open.take() {
            match b.first_ok() {
                None => {
                    w.failed += b.failed();
                    w.dropped += b.dropped;
                    open = Some(w);
                    continue;
                }
                Some(first_ok) => {
                    w.end_us = first_ok;
                    w.failed += b.edges.failed_before_ok;
                    w.dropped += b.edges.dropped_before_ok;
                    out.push(w);
                }
            }
        } else if let (Some(first_ok), Some(first_miss)) = (b.first_ok(), b.first_fail()) {
            // Up at the end of the last bucket, misses before this one's first success.
            let (failed, dropped) = (b.edges.failed_before_ok, b.edges.dropped_before_ok);
            if failed + dropped > 0 {
                out.push(Window {
                    start_us: first_miss,
                    end_us: first_ok,
                    open: false,
                    failed,
                    dropped,
                });
            }
        }
        // Down at the end of this bucket: misses after its last success (or no success).
        if let Some(start_us) = b.edges.first_miss_after_ok_us {
            open = Some(Window {
                start_us,
                end_us: 0,
                open: false,
                failed: b.edges.failed_after_ok,
                dropped: b.edges.dropped_after_ok,
            });
        }
    }
    if let Some(mut w) = open {
        w.end_us = run_end_us.max(w.start_us);
        w.open = true;
        out.push(w);
    }
    let before = out.len() as u64;
    out.retain(|w| w.open || w.duration_us() >= min_us);
    let glitches = before - out.len() as u64;
    (out, glitches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Class;
    use proptest::prelude::*;

    const B: u64 = 100_000;

    /// A timeline from (time µs, ok?) attempts.
    fn timeline(attempts: &[(u64, bool)]) -> Vec<Bucket> {
        let mut t: Vec<Bucket> = Vec::new();
        for &(at, ok) in attempts {
            let i = (at / B) as usize;
            if t.len() <= i {
                t.resize(i + 1, Bucket::default());
            }
            t[i].add(if ok { Class::Ok } else { Class::Refused }, at, 10, None);
        }
        t.iter_mut().for_each(Bucket::settle);
        t
    }

    #[test]
    fn a_scripted_outage_is_one_window_with_exact_edges() {
        // A request every 10 ms for 10 s; failing from 3.005 s to 5.995 s.
        let attempts: Vec<(u64, bool)> = (0..1000)
            .map(|i| i * 10_000 + 5_000)
            .map(|t| (t, !(3_000_000..6_000_000).contains(&t)))
            .collect();
        let (w, glitches) = windows(&timeline(&attempts), 10_000_000, B);
        assert_eq!(glitches, 0);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].start_us, w[0].end_us), (3_005_000, 6_005_000));
        assert_eq!(w[0].failed, 300);
        assert!(!w[0].open);
    }

    #[test]
    fn a_failure_still_running_at_the_end_is_an_open_window() {
        let (w, _) = windows(
            &timeline(&[(10, true), (150_000, false), (250_000, false)]),
            300_000,
            B,
        );
        assert_eq!(
            w,
            vec![Window {
                start_us: 150_000,
                end_us: 300_000,
                open: true,
                failed: 2,
                dropped: 0,
            }]
        );
    }

    #[test]
    fn failures_followed_by_success_in_the_same_bucket_are_not_downtime() {
        let (w, glitches) = windows(
            &timeline(&[(10, false), (20, true), (30, false), (40, true)]),
            100,
            B,
        );
        assert!(w.is_empty());
        // The failure before the first success is a glitch; the gap between two successes of
        // one bucket is not seen at all.
        assert_eq!(glitches, 1);
    }

    #[test]
    fn short_windows_are_glitches() {
        let (w, glitches) = windows(
            &timeline(&[(10, true), (90_000, false), (100_500, true)]),
            200_000,
            B,
        );
        assert!(w.is_empty());
        assert_eq!(glitches, 1);
    }

    proptest! {
        /// Brute force over sorted attempts agrees exactly with the bucketed computation:
        /// edges and counts, whatever the outages' alignment with buckets.
        #[test]
        fn matches_brute_force_exactly(outages in proptest::collection::vec((0u64..10_000_000, 1u64..3_000_000), 0..4)) {
            let mut attempts = Vec::new();
            for i in 0..2000u64 {
                let t = i * 5_000 + 1_234;
                let down = outages.iter().any(|&(s, len)| t >= s && t < s + len);
                attempts.push((t, !down));
            }
            let end = 2000 * 5_000;
            let mut brute = Vec::new();
            let mut start = None;
            let mut failed = 0;
            let mut last_ok = None;
            for &(t, ok) in &attempts {
                match (ok, start) {
                    (false, None) => { start = Some(t); failed = 1; }
                    (false, Some(_)) => failed += 1,
                    (true, Some(s)) => {
                        // A gap between two successes of one bucket is not a window.
                        let inside = last_ok.is_some_and(|l: u64| l / B == t / B);
                        if !inside {
                            brute.push((s, t, failed));
                        }
                        start = None;
                    }
                    _ => {}
                }
                if ok {
                    last_ok = Some(t);
                }
            }
            if let Some(s) = start { brute.push((s, end, failed)); }
            let (w, _) = windows(&timeline(&attempts), end, 0);
            prop_assert_eq!(w.len(), brute.len());
            for (a, (s, e, f)) in w.iter().zip(brute) {
                prop_assert_eq!((a.start_us, a.end_us, a.failed), (s, e, f));
            }
        }
    }
}
