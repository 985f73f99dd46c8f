//! Value parsers for humane command-line values: durations (`30s`, `250ms`), counts and
//! rates with suffixes (`10k`, `1.5M`), percentages (`99.5%`).

use std::time::Duration;

use crashlab_common::value::{self, ValueError};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("'{0}' is not a duration (examples: 30s, 250ms, 1m30s)")]
    Duration(String),
    #[error("'{0}' is not a number (examples: 500, 10k, 1.5M)")]
    Number(String),
    #[error("'{0}' must be greater than zero")]
    Zero(String),
    #[error("'{0}' is not a percentage or ratio (examples: 99.5%, 0.995)")]
    Ratio(String),
    #[error("'{value}' is out of range ({range})")]
    Range { value: String, range: &'static str },
    #[error("'{0}' is not a time of day in RFC 3339 (example: 2026-12-02T10:00:00Z)")]
    Time(String),
}

/// The longest duration anywhere (run length, fault times, SLO limits): 7 days.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// A duration: humantime syntax, or a bare number of seconds; 0 to 7 days.
pub fn duration(s: &str) -> Result<Duration, ParseError> {
    value::duration(s, MAX_DURATION).map_err(|e| match e {
        ValueError::OutOfRange => range(s, "0 to 7 days"),
        ValueError::Malformed => ParseError::Duration(s.to_string()),
    })
}

fn range(value: &str, range: &'static str) -> ParseError {
    ParseError::Range {
        value: value.to_string(),
        range,
    }
}

/// A per-request timeout or a bucket width: 1 ms to 1 hour.
pub fn short_duration(s: &str) -> Result<Duration, ParseError> {
    let d = duration(s).map_err(|e| match e {
        ParseError::Range { .. } => range(s, "1ms to 1h"),
        e => e,
    })?;
    if d < Duration::from_millis(1) || d > Duration::from_secs(3600) {
        return Err(range(s, "1ms to 1h"));
    }
    Ok(d)
}

/// A number of replicas: 1 to 10,000.
pub fn replicas(s: &str) -> Result<u64, ParseError> {
    let v = count(s)?;
    if v > 10_000 {
        return Err(range(s, "1 to 10,000"));
    }
    Ok(v)
}

/// A number of requests: 1 to 10^12.
pub fn requests(s: &str) -> Result<u64, ParseError> {
    let v = count(s)?;
    if v > 1_000_000_000_000 {
        return Err(range(s, "1 to 10^12"));
    }
    Ok(v)
}

/// How far ahead `--start-at` may be.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(3600);

/// `--start-at`: an RFC 3339 time, after now and at most an hour ahead.
pub fn start_at(s: &str) -> Result<std::time::SystemTime, ParseError> {
    let t = humantime::parse_rfc3339_weak(s.trim()).map_err(|_| ParseError::Time(s.to_string()))?;
    match t.duration_since(std::time::SystemTime::now()) {
        Ok(ahead) if ahead <= MAX_START_AHEAD => Ok(t),
        _ => Err(range(s, "after now and at most 1 hour ahead")),
    }
}

/// A strictly positive duration.
pub fn positive_duration(s: &str) -> Result<Duration, ParseError> {
    let d = duration(s)?;
    if d.is_zero() {
        return Err(ParseError::Zero(s.to_string()));
    }
    Ok(d)
}

/// A positive number with an optional k/M/G suffix (1000-based).
pub fn scaled(s: &str) -> Result<f64, ParseError> {
    let t = s.trim();
    let (num, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| ParseError::Number(s.to_string()))?;
    let v = v * mul;
    if !v.is_finite() || v < 0.0 {
        return Err(ParseError::Number(s.to_string()));
    }
    if v == 0.0 {
        return Err(ParseError::Zero(s.to_string()));
    }
    Ok(v)
}

/// A rate in requests per second (`500`, `2k`): 0.01 to 10 million.
pub fn rate(s: &str) -> Result<f64, ParseError> {
    let v = scaled(s)?;
    if !(0.01..=10e6).contains(&v) {
        return Err(range(s, "0.01 to 10M requests/s"));
    }
    Ok(v)
}

/// A whole positive count (`1000`, `10k`).
pub fn count(s: &str) -> Result<u64, ParseError> {
    let v = scaled(s)?;
    if v.fract() != 0.0 || v > u64::MAX as f64 {
        return Err(ParseError::Number(s.to_string()));
    }
    Ok(v as u64)
}

/// The open loop's cap on requests in flight: 1 to 1,000,000.
pub fn max_in_flight(s: &str) -> Result<u64, ParseError> {
    let v = count(s)?;
    if v > 1_000_000 {
        return Err(ParseError::Range {
            value: s.to_string(),
            range: "1 to 1,000,000",
        });
    }
    Ok(v)
}

/// A ratio in [0, 1], written `99.5%` or `0.995`.
pub fn ratio(s: &str) -> Result<f64, ParseError> {
    value::ratio(s).map_err(|_| ParseError::Ratio(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(duration("-1s").is_err());
        assert!(duration("NaN").is_err());
        assert!(duration("1e20").is_err());
        assert!(duration("18446744073709551615s").is_err());
        assert_eq!(duration("7d").unwrap(), MAX_DURATION);
        assert!(short_duration("2h").is_err());
        assert!(rate("0.001").is_err());
        assert!(positive_duration("0s").is_err());
        assert_eq!(count("10k").unwrap(), 10_000);
        assert_eq!(count("1.5M").unwrap(), 1_500_000);
        assert!(count("1.5").is_err());
        assert!(count("0").is_err());
        assert_eq!(rate("2k").unwrap(), 2000.0);
        assert!(rate("fast").is_err());
        assert_eq!(ratio("99.5%").unwrap(), 0.995);
        assert!(ratio("101%").is_err());
    }

    proptest! {
        #[test]
        fn millis_round_trip(ms in 0u64..10_000_000) {
            prop_assert_eq!(duration(&format!("{ms}ms")).unwrap(), Duration::from_millis(ms));
        }

        #[test]
        fn counts_with_k_suffix(n in 1u64..1_000_000) {
            prop_assert_eq!(count(&format!("{n}k")).unwrap(), n * 1000);
        }

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,20}") {
            let _ = duration(&s);
            let _ = short_duration(&s);
            let _ = count(&s);
            let _ = rate(&s);
            let _ = ratio(&s);
        }

        /// Numbers of any size, with any unit: a value or an error, never a panic.
        #[test]
        fn huge_numbers_never_panic(n in proptest::num::u64::ANY, unit in "(|s|ms|us|ns|m|h|d|k|M|G|e20|%)") {
            let s = format!("{n}{unit}");
            let _ = duration(&s);
            let _ = short_duration(&s);
            let _ = count(&s);
            let _ = rate(&s);
            let _ = ratio(&s);
            let _ = replicas(&s);
            let _ = requests(&s);
        }
    }
}
