//! What a netem fault asks: `delay=200ms;jitter=20ms;loss=5%;rate=1mbit`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The longest delay or jitter.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// Rates from 8 bit/s to 100 Gbit/s (kept in bytes per second).
pub const MIN_RATE: u64 = 1;
pub const MAX_RATE: u64 = 100_000_000_000 / 8;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NetemSpec {
    pub delay: Duration,
    pub jitter: Duration,
    /// Share of packets dropped, 0 to 1.
    pub loss: f64,
    /// Bytes per second, when limited.
    pub rate: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NetemSpecError {
    #[error("netem: '{0}' is not KEY=VALUE (delay, jitter, loss, rate)")]
    Form(String),
    #[error("netem: unknown key '{0}' (delay, jitter, loss, rate)")]
    Key(String),
    #[error("netem: {0}={1}: {2}")]
    Value(String, String, String),
    #[error("netem: nothing asked (delay=, jitter=, loss=, rate=)")]
    Empty,
    #[error("netem: jitter needs a delay at least as long")]
    Jitter,
}

impl FromStr for NetemSpec {
    type Err = NetemSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut n = NetemSpec::default();
        let mut any = false;
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| NetemSpecError::Form(part.into()))?;
            let bad = |e: String| NetemSpecError::Value(k.into(), v.into(), e);
            match k {
                "delay" => {
                    n.delay = crashlab_common::value::duration(v, MAX_DELAY)
                        .map_err(|e| bad(e.to_string()))?
                }
                "jitter" => {
                    n.jitter = crashlab_common::value::duration(v, MAX_DELAY)
                        .map_err(|e| bad(e.to_string()))?
                }
                "loss" => {
                    n.loss = crashlab_common::value::ratio(v).map_err(|e| bad(e.to_string()))?
                }
                "rate" => n.rate = Some(rate(v).map_err(bad)?),
                _ => return Err(NetemSpecError::Key(k.into())),
            }
            any = true;
        }
        if !any {
            return Err(NetemSpecError::Empty);
        }
        if n.jitter > n.delay {
            return Err(NetemSpecError::Jitter);
        }
        Ok(n)
    }
}

/// `1mbit`, `500kbit`, `10gbit`, `800bit` (per second, as tc writes them) in bytes/s.
fn rate(v: &str) -> Result<u64, String> {
    let lower = v.to_ascii_lowercase();
    let (num, mult) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .iter()
        .find_map(|(unit, m)| lower.strip_suffix(unit).map(|n| (n.to_string(), *m)))
        .ok_or("a rate ends in bit, kbit, mbit or gbit (per second)")?;
    let n: f64 = num.trim().parse().map_err(|_| "not a number".to_string())?;
    let bytes = n * mult / 8.0;
    if !(bytes.is_finite() && (MIN_RATE as f64..=MAX_RATE as f64).contains(&bytes)) {
        return Err("from 8bit to 100gbit".into());
    }
    Ok(bytes.round() as u64)
}

impl fmt::Display for NetemSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.delay.is_zero() {
            parts.push(format!("delay={}", humantime::format_duration(self.delay)));
        }
        if !self.jitter.is_zero() {
            parts.push(format!(
                "jitter={}",
                humantime::format_duration(self.jitter)
            ));
        }
        if self.loss > 0.0 {
            parts.push(format!("loss={}%", (self.loss * 1e4).round() / 1e2));
        }
        if let Some(r) = self.rate {
            parts.push(format!("rate={}bit", r * 8));
        }
        f.write_str(&parts.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_print_back_and_refuse_what_is_out_of_range() {
        let n: NetemSpec = "delay=200ms;jitter=20ms;loss=5%;rate=1mbit"
            .parse()
            .unwrap();
        assert_eq!(n.delay, Duration::from_millis(200));
        assert_eq!(n.jitter, Duration::from_millis(20));
        assert!((n.loss - 0.05).abs() < 1e-12);
        assert_eq!(n.rate, Some(125_000));
        assert_eq!(n.to_string().parse::<NetemSpec>().unwrap(), n);
        for bad in [
            "",
            "delay",
            "delay=2h",
            "loss=120%",
            "rate=1tbit",
            "rate=0bit",
            "rate=fast",
            "jitter=50ms",
            "delay=10ms;jitter=20ms",
            "colour=red",
        ] {
            assert!(bad.parse::<NetemSpec>().is_err(), "{bad} accepted");
        }
    }
}
