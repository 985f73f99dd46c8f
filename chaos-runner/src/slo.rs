//! `--slo 'availability>=99.5%,p99<=250ms'`: service-level objectives checked after a run
//! (exit code 3 when one is missed).

use std::time::Duration;

use thiserror::Error;

use serde::{Deserialize, Serialize};

use crate::parse;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SloError {
    #[error("SLO term '{0}' is not METRIC>=VALUE or METRIC<=VALUE")]
    Form(String),
    #[error("unknown SLO metric '{0}' (availability, time_availability, p50, p90, p99, p999, max, downtime, mttr)")]
    Metric(String),
    #[error("SLO term '{term}': {detail}")]
    Value { term: String, detail: String },
    #[error("'{metric}' takes {want}")]
    Direction { metric: String, want: &'static str },
}

/// A percentile (or the maximum) of success latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantile {
    P50,
    P90,
    P99,
    P999,
    Max,
}

impl Quantile {
    const ALL: [Quantile; 5] = [Self::P50, Self::P90, Self::P99, Self::P999, Self::Max];

    fn parse(metric: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.name() == metric)
    }

    fn name(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P99 => "p99",
            Self::P999 => "p999",
            Self::Max => "max",
        }
    }

    fn of(self, l: &Quantiles) -> Option<f64> {
        match self {
            Self::P50 => l.p50,
            Self::P90 => l.p90,
            Self::P99 => l.p99,
            Self::P999 => l.p999,
            Self::Max => l.max,
        }
    }
}

/// Success latency (ms), as far as objectives go.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

/// The figures of a run that objectives are checked against.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// ok / scheduled.
    pub availability: Option<f64>,
    pub time_availability: Option<f64>,
    pub latency_ms: Quantiles,
    pub downtime_s: f64,
    pub mttr_s: Option<f64>,
    /// Some outage had not ended when the run did (it has no recovery time).
    pub unrecovered: bool,
}

/// What an objective is about, as named in `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloMetric {
    Availability,
    TimeAvailability,
    #[serde(rename = "p50_ms")]
    P50Ms,
    #[serde(rename = "p90_ms")]
    P90Ms,
    #[serde(rename = "p99_ms")]
    P99Ms,
    #[serde(rename = "p999_ms")]
    P999Ms,
    MaxMs,
    DowntimeS,
    MttrS,
}

impl SloMetric {
    fn latency(q: Quantile) -> Self {
        match q {
            Quantile::P50 => Self::P50Ms,
            Quantile::P90 => Self::P90Ms,
            Quantile::P99 => Self::P99Ms,
            Quantile::P999 => Self::P999Ms,
            Quantile::Max => Self::MaxMs,
        }
    }

    /// The name in `summary.json` and the reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Availability => "availability",
            Self::TimeAvailability => "time_availability",
            Self::P50Ms => "p50_ms",
            Self::P90Ms => "p90_ms",
            Self::P99Ms => "p99_ms",
            Self::P999Ms => "p999_ms",
            Self::MaxMs => "max_ms",
            Self::DowntimeS => "downtime_s",
            Self::MttrS => "mttr_s",
        }
    }

    /// Ratios are met from below (at least), durations from above (at most).
    pub fn is_ratio(self) -> bool {
        matches!(self, Self::Availability | Self::TimeAvailability)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloResult {
    pub spec: String,
    pub passed: bool,
    pub checks: Vec<SloCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SloCheck {
    pub what: SloMetric,
    pub limit: f64,
    pub actual: Option<f64>,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Requests availability at least this ratio.
    Availability(f64),
    /// Time availability at least this ratio.
    TimeAvailability(f64),
    /// A success-latency quantile at most this long.
    Latency { quantile: Quantile, limit: Duration },
    /// Total downtime at most this long.
    Downtime(Duration),
    /// Mean time to recovery at most this long.
    Mttr(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub text: String,
    pub rules: Vec<Rule>,
}

impl std::str::FromStr for Slo {
    type Err = SloError;

    fn from_str(s: &str) -> Result<Self, SloError> {
        let mut rules = Vec::new();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (metric, op, value) = if let Some((m, v)) = term.split_once(">=") {
                (m.trim(), ">=", v.trim())
            } else if let Some((m, v)) = term.split_once("<=") {
                (m.trim(), "<=", v.trim())
            } else {
                return Err(SloError::Form(term.into()));
            };
            let val_err = |e: parse::ParseError| SloError::Value {
                term: term.into(),
                detail: e.to_string(),
            };
            let need = |want_op: &str, want: &'static str| {
                if op == want_op {
                    Ok(())
                } else {
                    Err(SloError::Direction {
                        metric: metric.into(),
                        want,
                    })
                }
            };
            let rule = match metric {
                "availability" => {
                    need(">=", ">= a ratio")?;
                    Rule::Availability(parse::ratio(value).map_err(val_err)?)
                }
                "time_availability" => {
                    need(">=", ">= a ratio")?;
                    Rule::TimeAvailability(parse::ratio(value).map_err(val_err)?)
                }
                m if Quantile::parse(m).is_some() => {
                    need("<=", "<= a duration")?;
                    Rule::Latency {
                        quantile: Quantile::parse(m).expect("checked above"),
                        limit: parse::duration(value).map_err(val_err)?,
                    }
                }
                "downtime" => {
                    need("<=", "<= a duration")?;
                    Rule::Downtime(parse::duration(value).map_err(val_err)?)
                }
                "mttr" => {
                    need("<=", "<= a duration")?;
                    Rule::Mttr(parse::duration(value).map_err(val_err)?)
                }
                other => return Err(SloError::Metric(other.into())),
            };
            rules.push(rule);
        }
        if rules.is_empty() {
            return Err(SloError::Form(s.into()));
        }
        Ok(Slo {
            text: s.trim().into(),
            rules,
        })
    }
}

impl Slo {
    pub fn check(&self, f: &Figures) -> SloResult {
        let checks: Vec<SloCheck> = self
            .rules
            .iter()
            .map(|r| {
                let (what, limit, actual) = match r {
                    Rule::Availability(v) => (SloMetric::Availability, *v, f.availability),
                    Rule::TimeAvailability(v) => {
                        (SloMetric::TimeAvailability, *v, f.time_availability)
                    }
                    Rule::Latency { quantile, limit } => (
                        SloMetric::latency(*quantile),
                        limit.as_secs_f64() * 1e3,
                        quantile.of(&f.latency_ms),
                    ),
                    Rule::Downtime(d) => {
                        (SloMetric::DowntimeS, d.as_secs_f64(), Some(f.downtime_s))
                    }
                    Rule::Mttr(d) => (
                        SloMetric::MttrS,
                        d.as_secs_f64(),
                        // An outage that never ended has no recovery time: not met.
                        (!f.unrecovered).then(|| f.mttr_s.unwrap_or(0.0)),
                    ),
                };
                // A figure that could not be measured (nothing succeeded) fails its objective.
                let passed = actual.is_some_and(|a| {
                    if what.is_ratio() {
                        a >= limit
                    } else {
                        a <= limit
                    }
                });
                SloCheck {
                    what,
                    limit,
                    actual,
                    passed,
                }
            })
            .collect();
        SloResult {
            spec: self.text.clone(),
            passed: checks.iter().all(|c| c.passed),
            checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms() {
        let s: Slo = "availability>=99.5%, p99<=250ms,downtime<=2s"
            .parse()
            .unwrap();
        assert_eq!(
            s.rules,
            vec![
                Rule::Availability(0.995),
                Rule::Latency {
                    quantile: Quantile::P99,
                    limit: Duration::from_millis(250)
                },
                Rule::Downtime(Duration::from_secs(2))
            ]
        );
    }

    #[test]
    fn rejects_bad_terms() {
        assert!(matches!(
            "availability>99%".parse::<Slo>(),
            Err(SloError::Form(_))
        ));
        assert!(matches!(
            "uptime>=99%".parse::<Slo>(),
            Err(SloError::Metric(_))
        ));
        assert!(matches!(
            "p99>=1s".parse::<Slo>(),
            Err(SloError::Direction { .. })
        ));
        assert!(matches!(
            "availability>=120%".parse::<Slo>(),
            Err(SloError::Value { .. })
        ));
        assert!(matches!("".parse::<Slo>(), Err(SloError::Form(_))));
    }
}

#[cfg(test)]
mod no_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_parses_or_errs(s in "[a-z_0-9]{0,20}(>=|<=|=|<)?[ -~]{0,20}(,[ -~]{0,20}){0,3}") {
            let _ = s.parse::<Slo>();
        }
    }
}
