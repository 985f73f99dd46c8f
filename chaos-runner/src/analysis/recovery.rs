//! Recovery per fault, as the client saw it: failures it caused, the last of them, and the
//! time from the fault to the end of the outage it caused (if it caused one).

use super::downtime::Window;
use crate::record::Bucket;

#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    pub failures: u64,
    /// First and last failed attempt after the fault, before the next fault (µs offsets).
    pub first_failure_us: Option<u64>,
    pub last_failure_us: Option<u64>,
    /// The downtime window the fault caused, if any.
    pub window: Option<Window>,
}

/// Attributes to the fault at `at_us` what happened until `until_us` (the next fault or the end).
pub fn after_fault(
    timeline: &[Bucket],
    bucket_us: u64,
    windows: &[Window],
    at_us: u64,
    until_us: u64,
) -> Recovery {
    let first = (at_us / bucket_us) as usize;
    let last = until_us.div_ceil(bucket_us) as usize;
    let mut r = Recovery {
        failures: 0,
        first_failure_us: None,
        last_failure_us: None,
        window: None,
    };
    for b in timeline.iter().take(last).skip(first) {
        let (Some(ff), Some(lf)) = (b.first_fail(), b.last_fail()) else {
            continue;
        };
        if lf < at_us || ff >= until_us {
            continue;
        }
        r.failures += b.failed();
        r.first_failure_us.get_or_insert(ff.max(at_us));
        r.last_failure_us = Some(lf.min(until_us));
    }
    // The window this fault caused starts after it (a bucket of slack for in-flight
    // requests that were sent just before the fault and failed because of it).
    r.window = windows
        .iter()
        .find(|w| w.start_us + bucket_us >= at_us && w.start_us < until_us)
        .cloned();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Class;

    #[test]
    fn attributes_failures_and_window_to_the_fault() {
        let mut tl = vec![Bucket::default(); 30];
        for i in 0..30u64 {
            let t = i * 100_000 + 50_000;
            let ok = !(10..15).contains(&i);
            tl[i as usize].add(if ok { Class::Ok } else { Class::Refused }, t, 10, None);
        }
        let w = vec![Window {
            start_us: 1_050_000,
            end_us: 1_550_000,
            open: false,
            failed: 5,
        }];
        let r = after_fault(&tl, 100_000, &w, 1_000_000, 2_000_000);
        assert_eq!(r.failures, 5);
        assert_eq!(r.first_failure_us, Some(1_050_000));
        assert_eq!(r.last_failure_us, Some(1_450_000));
        assert_eq!(r.window.unwrap().end_us, 1_550_000);
        let none = after_fault(&tl, 100_000, &w, 2_000_000, 3_000_000);
        assert_eq!((none.failures, none.window), (0, None));
    }
}
