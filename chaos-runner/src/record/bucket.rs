//! One time bucket of the timeline (100 ms by default): counts per class, latency of the
//! successes, who answered, the first and last success and miss (a failure or a dropped
//! tick) inside it, and how many misses came before its first and after its last success.
//! Attempts complete out of order, so a bucket keeps the times of its misses until it is
//! final and then settles them into those counts (see [`Bucket::settle`]).

use super::Class;

pub(crate) const NONE: u64 = u64::MAX;

/// Marks a dropped tick among a bucket's miss times (times are far below 2^63 µs).
const DROP_FLAG: u64 = 1 << 63;

/// Misses of a bucket around its successes: what a downtime window that ends or starts in
/// it takes of it. Without a success, every miss is both before and after.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edges {
    pub failed_before_ok: u64,
    pub dropped_before_ok: u64,
    pub failed_after_ok: u64,
    pub dropped_after_ok: u64,
    /// The first miss after the last success (where a window starting here starts).
    pub first_miss_after_ok_us: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub counts: [u64; Class::COUNT],
    /// Ticks that were never sent (open loop with a cap: every worker busy and the queue
    /// full; or the run was interrupted).
    pub dropped: u64,
    /// Attempts sent more than a millisecond after their intended time.
    pub late: u64,
    pub ok_latency_sum_us: u64,
    pub ok_latency_max_us: u64,
    /// Offsets (µs from the start, by intended send time) of the first/last success and
    /// miss (a failed attempt or a dropped tick).
    pub first_ok_us: u64,
    pub last_ok_us: u64,
    pub first_fail_us: u64,
    pub last_fail_us: u64,
    /// Exact once the bucket is settled.
    pub edges: Edges,
    /// Times of the misses (dropped ticks flagged) until the bucket is settled.
    misses: Vec<u64>,
    /// Answers per instance (index into the run's instance list).
    pub per_instance: Vec<(u32, u64)>,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            counts: [0; Class::COUNT],
            dropped: 0,
            late: 0,
            ok_latency_sum_us: 0,
            ok_latency_max_us: 0,
            first_ok_us: NONE,
            last_ok_us: 0,
            first_fail_us: NONE,
            last_fail_us: 0,
            edges: Edges::default(),
            misses: Vec::new(),
            per_instance: Vec::new(),
        }
    }
}

impl Bucket {
    pub fn sent(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn ok(&self) -> u64 {
        self.counts[Class::Ok.index()]
    }

    pub fn failed(&self) -> u64 {
        self.sent() - self.ok()
    }

    pub fn first_ok(&self) -> Option<u64> {
        (self.first_ok_us != NONE).then_some(self.first_ok_us)
    }

    pub fn last_ok(&self) -> Option<u64> {
        (self.first_ok_us != NONE).then_some(self.last_ok_us)
    }

    /// Attempts that came due in this bucket: sent or dropped.
    pub fn scheduled(&self) -> u64 {
        self.sent() + self.dropped
    }

    /// Failed attempts and dropped ticks: requests nobody got an answer to.
    #[cfg(test)]
    pub fn unanswered(&self) -> u64 {
        self.failed() + self.dropped
    }

    /// The first miss (failure or dropped tick).
    pub fn first_fail(&self) -> Option<u64> {
        (self.first_fail_us != NONE).then_some(self.first_fail_us)
    }

    pub fn last_fail(&self) -> Option<u64> {
        (self.first_fail_us != NONE).then_some(self.last_fail_us)
    }

    pub fn add(&mut self, class: Class, at_us: u64, latency_us: u64, instance: Option<u32>) {
        self.counts[class.index()] += 1;
        if class.is_ok() {
            self.ok_latency_sum_us += latency_us;
            self.ok_latency_max_us = self.ok_latency_max_us.max(latency_us);
            self.first_ok_us = self.first_ok_us.min(at_us);
            self.last_ok_us = self.last_ok_us.max(at_us);
        } else {
            self.miss(at_us);
        }
        if let Some(i) = instance {
            match self.per_instance.iter_mut().find(|(id, _)| *id == i) {
                Some((_, n)) => *n += 1,
                None => self.per_instance.push((i, 1)),
            }
        }
    }

    /// A tick at `at_us` that was never sent.
    pub fn add_dropped(&mut self, at_us: u64) {
        self.dropped += 1;
        self.miss(at_us | DROP_FLAG);
    }

    fn miss(&mut self, flagged_us: u64) {
        let at_us = flagged_us & !DROP_FLAG;
        self.first_fail_us = self.first_fail_us.min(at_us);
        self.last_fail_us = self.last_fail_us.max(at_us);
        self.misses.push(flagged_us);
    }

    /// Counts the misses around the successes into `edges` and forgets their times. Call
    /// once nothing more can land in the bucket; a settled bucket (or one read back from
    /// timeline.csv) keeps its edges.
    pub fn settle(&mut self) {
        if self.misses.is_empty() {
            return;
        }
        let mut e = Edges::default();
        let (first_ok, last_ok) = (self.first_ok(), self.last_ok());
        for &m in &self.misses {
            let (at, dropped) = (m & !DROP_FLAG, m & DROP_FLAG != 0);
            if first_ok.map_or(true, |f| at < f) {
                *if dropped {
                    &mut e.dropped_before_ok
                } else {
                    &mut e.failed_before_ok
                } += 1;
            }
            if last_ok.map_or(true, |l| at > l) {
                *if dropped {
                    &mut e.dropped_after_ok
                } else {
                    &mut e.failed_after_ok
                } += 1;
                e.first_miss_after_ok_us = Some(e.first_miss_after_ok_us.map_or(at, |f| f.min(at)));
            }
        }
        self.edges = e;
        self.misses = Vec::new();
    }

    pub fn merge(&mut self, o: &Bucket) {
        for (a, b) in self.counts.iter_mut().zip(o.counts) {
            *a += b;
        }
        self.dropped += o.dropped;
        self.late += o.late;
        self.ok_latency_sum_us += o.ok_latency_sum_us;
        self.ok_latency_max_us = self.ok_latency_max_us.max(o.ok_latency_max_us);
        self.first_ok_us = self.first_ok_us.min(o.first_ok_us);
        self.last_ok_us = self.last_ok_us.max(o.last_ok_us);
        self.first_fail_us = self.first_fail_us.min(o.first_fail_us);
        self.last_fail_us = self.last_fail_us.max(o.last_fail_us);
        self.misses.extend_from_slice(&o.misses);
        for &(i, n) in &o.per_instance {
            match self.per_instance.iter_mut().find(|(id, _)| *id == i) {
                Some((_, m)) => *m += n,
                None => self.per_instance.push((i, n)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_equals_adding_everything_to_one() {
        let mut a = Bucket::default();
        let mut b = Bucket::default();
        let mut all = Bucket::default();
        for (i, (class, at)) in [
            (Class::Ok, 5u64),
            (Class::Refused, 9),
            (Class::Ok, 2),
            (Class::Timeout, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let target = if i % 2 == 0 { &mut a } else { &mut b };
            target.add(class, at, 100, Some(i as u32 % 2));
            all.add(class, at, 100, Some(i as u32 % 2));
        }
        a.merge(&b);
        a.per_instance.sort();
        all.per_instance.sort();
        a.settle();
        all.settle();
        assert_eq!(a, all);
        assert_eq!(
            (a.first_ok(), a.last_ok(), a.first_fail(), a.last_fail()),
            (Some(2), Some(5), Some(1), Some(9))
        );
        assert_eq!((a.sent(), a.ok(), a.failed()), (4, 2, 2));
    }
}

#[cfg(test)]
mod settle_tests {
    use super::*;

    #[test]
    fn misses_are_counted_before_the_first_and_after_the_last_success() {
        let mut b = Bucket::default();
        // Out of order, as attempts complete: fails at 1, 2, drop at 3, ok at 4 and 6,
        // fail at 5 (between successes), fails at 7 and 9, drop at 8.
        for (at, what) in [
            (9, 'f'),
            (4, 'o'),
            (1, 'f'),
            (8, 'd'),
            (6, 'o'),
            (3, 'd'),
            (2, 'f'),
            (5, 'f'),
            (7, 'f'),
        ] {
            match what {
                'o' => b.add(Class::Ok, at, 10, None),
                'f' => b.add(Class::Refused, at, 10, None),
                _ => b.add_dropped(at),
            }
        }
        b.settle();
        assert_eq!(
            b.edges,
            Edges {
                failed_before_ok: 2,
                dropped_before_ok: 1,
                failed_after_ok: 2,
                dropped_after_ok: 1,
                first_miss_after_ok_us: Some(7),
            }
        );
        assert_eq!((b.unanswered(), b.scheduled()), (7, 9));
        assert_eq!((b.first_fail(), b.last_fail()), (Some(1), Some(9)));
    }

    #[test]
    fn without_a_success_every_miss_is_on_both_sides() {
        let mut b = Bucket::default();
        b.add(Class::Timeout, 30, 10, None);
        b.add_dropped(20);
        b.settle();
        assert_eq!(
            (
                b.edges.failed_before_ok,
                b.edges.dropped_before_ok,
                b.edges.failed_after_ok,
                b.edges.dropped_after_ok
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(b.edges.first_miss_after_ok_us, Some(20));
    }
}
