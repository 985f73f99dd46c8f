//! When a fault fires: offsets from the start of the run, generated lazily and seeded.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::When;

#[derive(Debug)]
pub struct Schedule {
    when: When,
    fired: u64,
    last: Duration,
    rng: StdRng,
}

impl Schedule {
    pub fn new(when: When, seed: u64) -> Self {
        Self {
            when,
            fired: 0,
            last: Duration::ZERO,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The next firing offset, or `None` when the schedule is exhausted.
    pub fn next_offset(&mut self) -> Option<Duration> {
        let next = match &self.when {
            When::Every(p) => p.checked_mul(u32::try_from(self.fired + 1).ok()?)?,
            When::At(times) => *times.get(usize::try_from(self.fired).ok()?)?,
            When::Poisson(mean) => {
                let u: f64 = self.rng.random();
                self.last + mean.mul_f64(-(1.0 - u).ln())
            }
        };
        self.fired += 1;
        self.last = next;
        Some(next)
    }

    /// All offsets strictly before `horizon`.
    #[cfg(test)]
    pub fn until(mut self, horizon: Duration) -> Vec<Duration> {
        let mut out = Vec::new();
        while let Some(t) = self.next_offset() {
            if t >= horizon {
                break;
            }
            out.push(t);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_fires_at_multiples() {
        let s = Schedule::new(When::Every(Duration::from_secs(10)), 0);
        assert_eq!(
            s.until(Duration::from_secs(35)),
            vec![
                Duration::from_secs(10),
                Duration::from_secs(20),
                Duration::from_secs(30)
            ]
        );
    }

    #[test]
    fn at_fires_at_listed_times() {
        let s = Schedule::new(
            When::At(vec![Duration::from_secs(5), Duration::from_secs(50)]),
            0,
        );
        assert_eq!(
            s.until(Duration::from_secs(30)),
            vec![Duration::from_secs(5)]
        );
    }

    #[test]
    fn poisson_repeats_with_the_same_seed_and_has_the_asked_mean() {
        let a = Schedule::new(When::Poisson(Duration::from_secs(1)), 42)
            .until(Duration::from_secs(20_000));
        let b = Schedule::new(When::Poisson(Duration::from_secs(1)), 42)
            .until(Duration::from_secs(20_000));
        let c = Schedule::new(When::Poisson(Duration::from_secs(1)), 43)
            .until(Duration::from_secs(20_000));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // 20,000 s at mean gap 1 s: about 20,000 firings; 3 % is > 4 standard deviations.
        assert!((19_400..=20_600).contains(&a.len()), "{}", a.len());
    }

    proptest! {
        #[test]
        fn offsets_are_increasing(seed in any::<u64>(), mean_ms in 1u64..10_000) {
            let v = Schedule::new(When::Poisson(Duration::from_millis(mean_ms)), seed).until(Duration::from_millis(mean_ms * 50));
            prop_assert!(v.windows(2).all(|w| w[0] <= w[1]));
        }
    }
}
