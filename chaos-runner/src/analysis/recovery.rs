//! Recovery per fault, as the client saw it: the failures it caused, the last of them, and
//! the outage it caused or fell into. An outage still under way when the run ended has no
//! recovery time; a fault that lands inside an outage already under way belongs to that
//! outage (its recovery is that outage's end, and it does not count again in MTTR).

use super::downtime::Window;
use crate::record::Bucket;

/// A fault's relation to the downtime windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// No window started by it or under way at it.
    None,
    /// It started the window with this index.
    Caused(usize),
    /// It landed inside the window with this index, which had started before it.
    Joined(usize),
}

impl Outage {
    pub fn window(self) -> Option<usize> {
        match self {
            Outage::None => None,
            Outage::Caused(i) | Outage::Joined(i) => Some(i),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    pub failures: u64,
    /// First and last failed attempt after the fault, before the next fault (µs offsets).
    pub first_failure_us: Option<u64>,
    pub last_failure_us: Option<u64>,
    pub outage: Outage,
}

/// Attributes to the fault at `at_us` what happened until `until_us` (the next fault or the
/// end). A window that starts up to `slack_us` before the fault is its own: requests sent
/// just before it, still in flight, failed because of it.
pub fn after_fault(
    timeline: &[Bucket],
    bucket_us: u64,
    windows: &[Window],
    at_us: u64,
    until_us: u64,
    slack_us: u64,
) -> Recovery {
    let first = (at_us / bucket_us) as usize;
    let last = until_us.div_ceil(bucket_us) as usize;
    let mut r = Recovery {
        failures: 0,
        first_failure_us: None,
        last_failure_us: None,
        outage: Outage::None,
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
    let own = |w: &Window| w.start_us + slack_us >= at_us && w.start_us < until_us;
    r.outage = match windows.iter().position(|w| w.contains(at_us) && !own(w)) {
        Some(i) => Outage::Joined(i),
        None => windows
            .iter()
            .position(own)
            .map_or(Outage::None, Outage::Caused),
    };
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Class;

    fn window(start_us: u64, end_us: u64, open: bool) -> Window {
        Window {
            start_us,
            end_us,
            open,
            failed: 5,
            dropped: 0,
        }
    }

    #[test]
    fn attributes_failures_and_window_to_the_fault() {
        let mut tl = vec![Bucket::default(); 30];
        for i in 0..30u64 {
            let t = i * 100_000 + 50_000;
            let ok = !(10..15).contains(&i);
            tl[i as usize].add(if ok { Class::Ok } else { Class::Refused }, t, 10, None);
        }
        let w = vec![window(1_050_000, 1_550_000, false)];
        let r = after_fault(&tl, 100_000, &w, 1_000_000, 2_000_000, 100_000);
        assert_eq!(r.failures, 5);
        assert_eq!(r.first_failure_us, Some(1_050_000));
        assert_eq!(r.last_failure_us, Some(1_450_000));
        assert_eq!(r.outage, Outage::Caused(0));
        let none = after_fault(&tl, 100_000, &w, 2_000_000, 3_000_000, 100_000);
        assert_eq!((none.failures, none.outage), (0, Outage::None));
    }

    #[test]
    fn a_fault_inside_an_outage_joins_it() {
        // Down from 1 s to the end of the run; faults at 1 s (just after the first
        // failure: its own), 3 s and 6 s (inside).
        let w = vec![window(990_000, 9_000_000, true)];
        let at = |t| after_fault(&[], 100_000, &w, t, t + 3_000_000, 100_000).outage;
        assert_eq!(at(1_000_000), Outage::Caused(0));
        assert_eq!(at(3_000_000), Outage::Joined(0));
        assert_eq!(at(6_000_000), Outage::Joined(0));
    }
}
