//! One time bucket of the timeline (100 ms by default): counts per class, latency of the
//! successes, who answered, and the first and last success and failure inside it.

use super::Class;

const NONE: u64 = u64::MAX;

#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub counts: [u64; Class::COUNT],
    /// Ticks that could not be sent (open loop: every worker busy and the queue full).
    pub dropped: u64,
    /// Attempts sent more than a millisecond after their intended time.
    pub late: u64,
    pub ok_latency_sum_us: u64,
    pub ok_latency_max_us: u64,
    /// Offsets (µs from the start, by intended send time) of the first/last success and failure.
    pub first_ok_us: u64,
    pub last_ok_us: u64,
    pub first_fail_us: u64,
    pub last_fail_us: u64,
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
            self.first_fail_us = self.first_fail_us.min(at_us);
            self.last_fail_us = self.last_fail_us.max(at_us);
        }
        if let Some(i) = instance {
            match self.per_instance.iter_mut().find(|(id, _)| *id == i) {
                Some((_, n)) => *n += 1,
                None => self.per_instance.push((i, 1)),
            }
        }
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
        assert_eq!(a, all);
        assert_eq!(
            (a.first_ok(), a.last_ok(), a.first_fail(), a.last_fail()),
            (Some(2), Some(5), Some(1), Some(9))
        );
        assert_eq!((a.sent(), a.ok(), a.failed()), (4, 2, 2));
    }
}
