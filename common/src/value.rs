//! Humane values as users write them: durations (`3s`, `250ms`, `1m30s`, or a bare number
//! of seconds) and ratios (`0.25` or `25%`). Each program sets its own bounds and words its
//! own errors from [`ValueError`].

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum ValueError {
    #[error("not of the expected form")]
    Malformed,
    #[error("out of range")]
    OutOfRange,
}

/// A duration from 0 to `max`: humantime syntax, or a bare number of seconds.
pub fn duration(s: &str, max: Duration) -> Result<Duration, ValueError> {
    let t = s.trim();
    let d = match t.parse::<f64>() {
        Ok(v) if (0.0..=max.as_secs_f64()).contains(&v) => Duration::from_secs_f64(v),
        Ok(v) if v.is_finite() && v > 0.0 => return Err(ValueError::OutOfRange),
        Ok(_) => return Err(ValueError::Malformed),
        Err(_) => humantime::parse_duration(t).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => ValueError::OutOfRange,
            _ => ValueError::Malformed,
        })?,
    };
    if d > max {
        return Err(ValueError::OutOfRange);
    }
    Ok(d)
}

/// A ratio in [0, 1], written `0.995` or `99.5%`.
pub fn ratio(s: &str) -> Result<f64, ValueError> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| ValueError::Malformed)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else if v.is_nan() {
        Err(ValueError::Malformed)
    } else {
        Err(ValueError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn durations() {
        assert_eq!(duration("3s", HOUR), Ok(Duration::from_secs(3)));
        assert_eq!(duration("250ms", HOUR), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1m30s", HOUR), Ok(Duration::from_secs(90)));
        assert_eq!(duration(" 1.5 ", HOUR), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("1h", HOUR), Ok(HOUR));
        assert_eq!(duration("61m", HOUR), Err(ValueError::OutOfRange));
        assert_eq!(duration("3601", HOUR), Err(ValueError::OutOfRange));
        assert_eq!(duration("1e20", HOUR), Err(ValueError::OutOfRange));
        assert_eq!(duration("-1", HOUR), Err(ValueError::Malformed));
        assert_eq!(duration("NaN", HOUR), Err(ValueError::Malformed));
        assert_eq!(duration("soon", HOUR), Err(ValueError::Malformed));
        assert_eq!(
            duration("18446744073709551615s", HOUR),
            Err(ValueError::OutOfRange)
        );
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio("0.25"), Ok(0.25));
        assert_eq!(ratio("10%"), Ok(0.1));
        assert_eq!(ratio("99.5 %"), Ok(0.995));
        assert_eq!(ratio("1.5"), Err(ValueError::OutOfRange));
        assert_eq!(ratio("-1%"), Err(ValueError::OutOfRange));
        assert_eq!(ratio("x"), Err(ValueError::Malformed));
        assert_eq!(ratio("NaN"), Err(ValueError::Malformed));
    }

    proptest! {
        #[test]
        fn any_text_is_a_bounded_duration_or_an_error(s in "\\PC{0,30}") {
            if let Ok(d) = duration(&s, HOUR) {
                prop_assert!(d <= HOUR);
            }
            if let Ok(r) = ratio(&s) {
                prop_assert!((0.0..=1.0).contains(&r));
            }
        }
    }
}
