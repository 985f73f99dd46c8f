//! The statistics of repeated trials: per cell and metric the count, mean, standard
//! deviation, a 95 % confidence interval for the mean (Student's t), median and range; per
//! pair of cells the difference of their means with Welch's interval and test. The unit of
//! replication is a trial: every value here is one trial's figure.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The confidence of every interval.
pub const CONFIDENCE: f64 = 0.95;

/// One metric over a cell's trials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Trials that had this figure.
    pub n: usize,
    /// Trials that did not (e.g. no outage ended, so no recovery time).
    pub missing: usize,
    pub mean: Option<f64>,
    /// Sample standard deviation (n - 1); none below 2 trials.
    pub sd: Option<f64>,
    /// The mean's 95 % interval (Student's t, n - 1 degrees of freedom); none below 2 trials.
    pub ci: Option<(f64, f64)>,
    pub median: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Every trial's value, in trial order (none where the trial had no such figure).
    pub values: Vec<Option<f64>>,
}

/// Student's t quantile for a two-sided interval at [`CONFIDENCE`].
fn t_quantile(df: f64) -> Option<f64> {
    let t = StudentsT::new(0.0, 1.0, df).ok()?;
    Some(t.inverse_cdf(1.0 - (1.0 - CONFIDENCE) / 2.0))
}

pub(super) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample variance (n - 1).
fn variance(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
}

impl Stats {
    pub fn of(values: Vec<Option<f64>>) -> Self {
        let mut v: Vec<f64> = values.iter().flatten().copied().collect();
        let n = v.len();
        let missing = values.len() - n;
        v.sort_by(f64::total_cmp);
        let m = (n > 0).then(|| mean(&v));
        let sd = (n > 1).then(|| variance(&v).sqrt());
        let ci = match (m, sd) {
            (Some(m), Some(sd)) => t_quantile((n - 1) as f64).map(|t| {
                let half = t * sd / (n as f64).sqrt();
                (m - half, m + half)
            }),
            _ => None,
        };
        let median = (n > 0).then(|| {
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        });
        Self {
            n,
            missing,
            mean: m,
            sd,
            ci,
            median,
            min: v.first().copied(),
            max: v.last().copied(),
            values,
        }
    }

    /// The interval clipped to `(lo, hi)`, what the figure can take (an availability's
    /// interval never reaches past 100 %, a count's never below 0).
    pub fn clipped(mut self, (lo, hi): (f64, f64)) -> Self {
        self.ci = self.ci.map(|(a, b)| (a.clamp(lo, hi), b.clamp(lo, hi)));
        self
    }

    fn present(&self) -> Vec<f64> {
        self.values.iter().flatten().copied().collect()
    }
}

/// The difference of two cells' means (`b - a`) and whether it is more than noise.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Difference {
    pub diff: f64,
    /// Welch's 95 % interval for the difference; none when either cell has fewer than 2
    /// trials, or neither has any spread.
    pub ci: Option<(f64, f64)>,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: Option<f64>,
    /// Welch's t statistic.
    pub t: Option<f64>,
    /// Two-sided p-value of Welch's test (no difference in means).
    pub p: Option<f64>,
}

impl Difference {
    /// `b`'s mean minus `a`'s, with Welch's interval and test; none when either has no value.
    pub fn between(a: &Stats, b: &Stats) -> Option<Self> {
        let diff = b.mean? - a.mean?;
        let (xa, xb) = (a.present(), b.present());
        let mut d = Self {
            diff,
            ci: None,
            df: None,
            t: None,
            p: None,
        };
        if xa.len() < 2 || xb.len() < 2 {
            return Some(d);
        }
        let (sa, sb) = (
            variance(&xa) / xa.len() as f64,
            variance(&xb) / xb.len() as f64,
        );
        let se2 = sa + sb;
        if se2 <= 0.0 {
            return Some(d);
        }
        let df =
            se2.powi(2) / (sa.powi(2) / (xa.len() - 1) as f64 + sb.powi(2) / (xb.len() - 1) as f64);
        let se = se2.sqrt();
        let t = diff / se;
        d.df = Some(df);
        d.t = Some(t);
        if let Ok(dist) = StudentsT::new(0.0, 1.0, df) {
            d.p = Some((2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0));
        }
        d.ci = t_quantile(df).map(|q| (diff - q * se, diff + q * se));
        Some(d)
    }

    /// Whether the interval leaves out zero.
    pub fn significant(&self) -> Option<bool> {
        self.ci.map(|(lo, hi)| lo > 0.0 || hi < 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn matches_textbook_values() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample sd sqrt(32/7); t(0.975, 7) = 2.364624.
        let s = Stats::of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].map(Some).to_vec());
        assert_eq!(s.n, 8);
        assert_eq!(s.mean, Some(5.0));
        let sd = (32.0f64 / 7.0).sqrt();
        assert!(close(s.sd.unwrap(), sd, 1e-12));
        let half = 2.364_624 * sd / 8f64.sqrt();
        let (lo, hi) = s.ci.unwrap();
        assert!(
            close(lo, 5.0 - half, 1e-5) && close(hi, 5.0 + half, 1e-5),
            "{lo} {hi}"
        );
        assert_eq!(s.median, Some(4.5));
        assert_eq!((s.min, s.max), (Some(2.0), Some(9.0)));
        let c = Stats::of([0.99, 1.0, 1.0].map(Some).to_vec()).clipped((0.0, 1.0));
        assert_eq!(c.ci.unwrap().1, 1.0, "never past what the figure can take");
        assert!(c.ci.unwrap().0 < 0.99);
    }

    #[test]
    fn too_few_trials_get_no_interval_and_missing_values_are_counted() {
        let s = Stats::of(vec![Some(3.0), None]);
        assert_eq!((s.n, s.missing), (1, 1));
        assert_eq!(s.mean, Some(3.0));
        assert_eq!(s.sd, None);
        assert_eq!(s.ci, None);
        let none = Stats::of(vec![None, None]);
        assert_eq!(none.mean, None);
        assert!(Difference::between(&none, &s).is_none());
    }

    #[test]
    fn welch_matches_a_worked_example() {
        // a = 1..5 (mean 3, var 2.5), b = 4, 6, 8, 10, 12 (mean 8, var 10):
        // se = sqrt(0.5 + 2) = 1.5811; t = 3.1623; df = 6.25 / (0.0625 + 1) = 5.8824.
        let a = Stats::of([1.0, 2.0, 3.0, 4.0, 5.0].map(Some).to_vec());
        let b = Stats::of([4.0, 6.0, 8.0, 10.0, 12.0].map(Some).to_vec());
        let d = Difference::between(&a, &b).unwrap();
        assert_eq!(d.diff, 5.0);
        assert!(close(d.t.unwrap(), 3.162_278, 1e-5));
        assert!(close(d.df.unwrap(), 5.882_353, 1e-5));
        // Two-sided p for t = 3.1623 at 5.88 df: 0.0201 (R: t.test(a, b)).
        assert!(close(d.p.unwrap(), 0.0201, 5e-4), "{:?}", d.p);
        assert_eq!(d.significant(), Some(true));
        let same = Difference::between(&a, &a).unwrap();
        assert_eq!(same.significant(), Some(false));
    }
}
