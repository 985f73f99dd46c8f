//! Downtime windows: from the first failure after a success to the next success, during
//! which no request succeeded. Computed from the buckets' first/last success and failure
//! times, so a window's ends are exact when its edge buckets are all-failed, and within
//! one bucket otherwise.

use crate::record::Bucket;

#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub start_us: u64,
    pub end_us: u64,
    /// Still failing when the run ended.
    pub open: bool,
    /// Failed attempts in the window's buckets.
    pub failed: u64,
}

impl Window {
    pub fn duration_us(&self) -> u64 {
        self.end_us - self.start_us
    }
}

/// Every window, in order. Windows shorter than `min_us` are dropped and counted as glitches.
pub fn windows(
    timeline: &[Bucket],
    bucket_us: u64,
    run_end_us: u64,
    min_us: u64,
) -> (Vec<Window>, u64) {
    let mut out: Vec<Window> = Vec::new();
    let mut open: Option<Window> = None;
    for (i, b) in timeline.iter().enumerate() {
        if b.sent() == 0 {
            continue;
        }
        if let Some(mut w) = open.take() {
            match b.first_ok() {
                None => {
                    w.failed += b.failed();
                    open = Some(w);
                    continue;
                }
                Some(first_ok) => {
                    w.end_us = first_ok;
                    w.failed += count_before(b, first_ok);
                    out.push(w);
                }
            }
        }
        // Not down at the start of what is left of this bucket.
        match (b.last_ok(), b.last_fail()) {
            (None, Some(_)) => {
                open = Some(Window {
                    start_us: b.first_fail().unwrap_or(i as u64 * bucket_us),
                    end_us: 0,
                    open: false,
                    failed: b.failed(),
                })
            }
            (Some(last_ok), Some(last_fail)) if last_fail > last_ok => {
                let start = b.first_fail().unwrap_or(last_ok).max(last_ok);
                open = Some(Window {
                    start_us: start,
                    end_us: 0,
                    open: false,
                    failed: 1,
                });
            }
            _ => {}
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

/// Failures of a bucket that ends a window, attributed to the window: all of them when they
/// all came before the first success, else at least one.
fn count_before(b: &Bucket, first_ok: u64) -> u64 {
    match b.last_fail() {
        Some(lf) if lf < first_ok => b.failed(),
        Some(_) => 1.min(b.failed()),
        None => 0,
    }
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
        t
    }

    #[test]
    fn a_scripted_outage_is_one_window_with_exact_edges() {
        // A request every 10 ms for 10 s; failing from 3.005 s to 5.995 s.
        let attempts: Vec<(u64, bool)> = (0..1000)
            .map(|i| i * 10_000 + 5_000)
            .map(|t| (t, !(3_000_000..6_000_000).contains(&t)))
            .collect();
        let (w, glitches) = windows(&timeline(&attempts), B, 10_000_000, B);
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
            B,
            300_000,
            B,
        );
        assert_eq!(
            w,
            vec![Window {
                start_us: 150_000,
                end_us: 300_000,
                open: true,
                failed: 2
            }]
        );
    }

    #[test]
    fn failures_followed_by_success_in_the_same_bucket_are_not_downtime() {
        let (w, glitches) = windows(
            &timeline(&[(10, false), (20, true), (30, false), (40, true)]),
            B,
            100,
            B,
        );
        assert!(w.is_empty());
        assert_eq!(glitches, 0);
    }

    #[test]
    fn short_windows_are_glitches() {
        let (w, glitches) = windows(
            &timeline(&[(10, true), (90_000, false), (100_500, true)]),
            B,
            200_000,
            B,
        );
        assert!(w.is_empty());
        assert_eq!(glitches, 1);
    }

    proptest! {
        /// Brute force over sorted attempts agrees with the bucketed computation to one bucket.
        #[test]
        fn matches_brute_force_within_one_bucket(outages in proptest::collection::vec((0u64..100, 2u64..30), 0..4)) {
            let mut attempts = Vec::new();
            for i in 0..2000u64 {
                let t = i * 5_000;
                let down = outages.iter().any(|&(s, len)| t >= s * 100_000 && t < (s + len) * 100_000);
                attempts.push((t, !down));
            }
            let end = 2000 * 5_000;
            let mut brute = Vec::new();
            let mut start = None;
            for &(t, ok) in &attempts {
                match (ok, start) {
                    (false, None) => start = Some(t),
                    (true, Some(s)) => { brute.push((s, t)); start = None; }
                    _ => {}
                }
            }
            if let Some(s) = start { brute.push((s, end)); }
            let (w, _) = windows(&timeline(&attempts), B, end, 0);
            prop_assert_eq!(w.len(), brute.len());
            for (a, (s, e)) in w.iter().zip(brute) {
                prop_assert!(a.start_us.abs_diff(s) <= B && a.end_us.abs_diff(e) <= B);
            }
        }
    }
}
