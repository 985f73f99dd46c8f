//! `--slo 'availability>=99.5%,p99<=250ms'`: service-level objectives checked after a run
//! (exit code 3 when one is missed).

use std::time::Duration;

use thiserror::Error;

use crate::parse;
use crate::summary::{SloCheck, SloResult, Summary};

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
    fn parse(metric: &str) -> Option<Self> {
        Some(match metric {
            "p50" => Self::P50,
            "p90" => Self::P90,
            "p99" => Self::P99,
            "p999" => Self::P999,
            "max" => Self::Max,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P99 => "p99",
            Self::P999 => "p999",
            Self::Max => "max",
        }
    }

    fn of(self, l: &crate::summary::Latency) -> Option<f64> {
        match self {
            Self::P50 => l.p50,
            Self::P90 => l.p90,
            Self::P99 => l.p99,
            Self::P999 => l.p999,
            Self::Max => l.max,
        }
    }
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
    pub fn check(&self, s: &Summary) -> SloResult {
        let checks: Vec<SloCheck> = self
            .rules
            .iter()
            .map(|r| {
                let (what, limit, actual, at_least) = match r {
                    Rule::Availability(v) => (
                        "availability".to_string(),
                        *v,
                        s.availability.scheduled,
                        true,
                    ),
                    Rule::TimeAvailability(v) => (
                        "time_availability".to_string(),
                        *v,
                        s.availability.time,
                        true,
                    ),
                    Rule::Latency { quantile, limit } => (
                        format!("{}_ms", quantile.name()),
                        limit.as_secs_f64() * 1e3,
                        quantile.of(&s.latency_ms),
                        false,
                    ),
                    Rule::Downtime(d) => (
                        "downtime_s".to_string(),
                        d.as_secs_f64(),
                        Some(s.downtime.total_s),
                        false,
                    ),
                    Rule::Mttr(d) => (
                        "mttr_s".to_string(),
                        d.as_secs_f64(),
                        // An outage that never ended has no recovery time: not met.
                        if s.faults.iter().any(|f| f.not_recovered_after_s.is_some()) {
                            None
                        } else {
                            Some(s.mttr_s.unwrap_or(0.0))
                        },
                        false,
                    ),
                };
                // A figure that could not be measured (nothing succeeded) fails its objective.
                let passed = actual.is_some_and(|a| if at_least { a >= limit } else { a <= limit });
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
