//! A share of an open loop's schedule: `K/N` sends ticks K-1, K-1+N, K-1+2N, ... of the
//! schedule asked for, so N runs started on the same clock together send exactly that
//! schedule, each an exact 1/N of it (up to one tick), interleaved rather than in bursts.

use std::fmt;
use std::str::FromStr;

/// The most runs a schedule is shared between.
pub const MAX_SHARES: u32 = 1_000;

/// Share `index` (1-based) of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub index: u32,
    pub of: u32,
}

impl Share {
    /// How many of a schedule's first `total` ticks are this share's.
    pub fn ticks_of(&self, total: u64) -> u64 {
        let first = u64::from(self.index - 1);
        if total <= first {
            return 0;
        }
        (total - first).div_ceil(u64::from(self.of))
    }

    /// The schedule's tick number of this share's tick `i`.
    pub fn tick(&self, i: u64) -> u64 {
        i * u64::from(self.of) + u64::from(self.index - 1)
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.of)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a share K/N with 1 <= K <= N <= {MAX_SHARES} (examples: 1/3, 3/3)")]
pub struct ShareError(String);

impl FromStr for Share {
    type Err = ShareError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ShareError(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = k.trim().parse().map_err(|_| err())?;
        let of: u32 = n.trim().parse().map_err(|_| err())?;
        if index == 0 || index > of || of > MAX_SHARES {
            return Err(err());
        }
        Ok(Self { index, of })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_and_refuse() {
        assert_eq!("2/3".parse(), Ok(Share { index: 2, of: 3 }));
        assert_eq!("1/1".parse::<Share>().unwrap().to_string(), "1/1");
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/1001", "-1/2", ""] {
            assert!(bad.parse::<Share>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_shares_of_a_schedule_are_exactly_the_schedule() {
        for of in 1..=7u32 {
            for total in [0u64, 1, 2, 6, 7, 8, 100, 1001] {
                let mut ticks: Vec<u64> = (1..=of)
                    .flat_map(|index| {
                        let s = Share { index, of };
                        (0..s.ticks_of(total)).map(move |i| s.tick(i))
                    })
                    .collect();
                let counts: Vec<u64> = (1..=of)
                    .map(|index| Share { index, of }.ticks_of(total))
                    .collect();
                assert!(
                    counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
                    "{of} shares of {total}: {counts:?}"
                );
                ticks.sort_unstable();
                assert_eq!(
                    ticks,
                    (0..total).collect::<Vec<_>>(),
                    "{of} shares of {total}"
                );
            }
        }
    }
}
