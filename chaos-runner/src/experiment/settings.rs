//! One value of one axis, typed: what a cell sets, in words for its label.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::swarm::plan::{FailureAction, UpdateOrder};

/// A cell's value on one axis.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    Replicas(u64),
    /// As `--rate` takes it.
    Rate(String),
    /// Fault specs, as `--fault` takes them (replace `[run]`'s), and the variant's name.
    Faults {
        name: Option<String>,
        list: Vec<String>,
    },
    Env(BTreeMap<String, String>),
    Health(Health),
    RestartDelay(Duration),
    Update(UpdateSettings),
    /// The service's memory limit in bytes (None: no limit).
    Memory(Option<u64>),
    /// The client's timeout per request (`--timeout`).
    Timeout(Duration),
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Replicas(n) => write!(f, "{n}"),
            Setting::Rate(r) => write!(f, "{r}/s"),
            Setting::Faults { name: Some(n), .. } => f.write_str(n),
            Setting::Faults { list, .. } if list.is_empty() => f.write_str("none"),
            Setting::Faults { list, .. } => f.write_str(&list.join(" + ")),
            Setting::Env(e) if e.is_empty() => f.write_str("as found"),
            Setting::Env(e) => {
                let kv: Vec<String> = e.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&kv.join(" "))
            }
            Setting::Health(h) => write!(f, "{h}"),
            Setting::RestartDelay(d) => write!(f, "{}", humantime::format_duration(*d)),
            Setting::Update(u) => write!(f, "{u}"),
            Setting::Timeout(d) => write!(f, "{}", humantime::format_duration(*d)),
            Setting::Memory(None) => f.write_str("no limit"),
            Setting::Memory(Some(b)) => write!(f, "{}", bytesize::ByteSize(*b).display().iec()),
        }
    }
}

/// The service's health check in a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Health {
    /// None at all (`--no-healthcheck`): the image's own is switched off too.
    Off,
    Check {
        interval: Duration,
        retries: u64,
        timeout: Duration,
        start_period: Duration,
    },
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Off => f.write_str("off"),
            Health::Check {
                interval,
                retries,
                timeout,
                ..
            } => write!(
                f,
                "every {}, {retries} retries, timeout {}",
                humantime::format_duration(*interval),
                humantime::format_duration(*timeout)
            ),
        }
    }
}

/// The smallest and largest memory limit a cell may set: the engine refuses below 6 MiB.
const MEMORY_RANGE: (u64, u64) = (6 << 20, 1 << 40);

/// A memory limit: `none`, or a size (`64MiB`, `512MB`, `1GiB`), 6 MiB to 1 TiB.
pub fn memory_limit(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t == "none" {
        return Ok(None);
    }
    let b = t
        .parse::<bytesize::ByteSize>()
        .map_err(|_| format!("'{t}' is not a size (examples: 64MiB, 512MB, 1GiB) or none"))?
        .as_u64();
    if !(MEMORY_RANGE.0..=MEMORY_RANGE.1).contains(&b) {
        return Err(format!("'{t}' is out of range (6MiB to 1TiB)"));
    }
    Ok(Some(b))
}

/// `key=value;...` pairs, each key once and known.
fn pairs<'a>(s: &'a str, known: &[&str]) -> Result<BTreeMap<&'a str, &'a str>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}' is not KEY=VALUE"))?;
        let k = k.trim();
        if !known.contains(&k) {
            return Err(format!("unknown key '{k}' (keys: {})", known.join(", ")));
        }
        if out.insert(k, v.trim()).is_some() {
            return Err(format!("'{k}' given twice"));
        }
    }
    Ok(out)
}

fn dur(v: Option<&&str>, key: &str, default: Duration) -> Result<Duration, String> {
    match v {
        None => Ok(default),
        Some(v) => crate::parse::duration(v).map_err(|e| format!("{key}={v}: {e}")),
    }
}

impl std::str::FromStr for Health {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "off" {
            return Ok(Health::Off);
        }
        let p = pairs(s, &["interval", "retries", "timeout", "start_period"])?;
        let interval = dur(p.get("interval"), "interval", Duration::from_secs(30))?;
        let timeout = dur(p.get("timeout"), "timeout", Duration::from_secs(30))?;
        let start_period = dur(p.get("start_period"), "start_period", Duration::ZERO)?;
        let retries = match p.get("retries") {
            None => 3,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|r| (1..=100).contains(r))
                .ok_or_else(|| format!("retries={v}: a whole number, 1 to 100"))?,
        };
        for (k, d) in [("interval", interval), ("timeout", timeout)] {
            if d < Duration::from_millis(1) || d > Duration::from_secs(3600) {
                return Err(format!("{k}: 1ms to 1h"));
            }
        }
        Ok(Health::Check {
            interval,
            retries,
            timeout,
            start_period,
        })
    }
}

/// The service's update config in a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateSettings {
    pub order: UpdateOrder,
    pub parallelism: u64,
    pub delay: Duration,
    pub failure_action: FailureAction,
    pub monitor: Duration,
}

impl fmt::Display for UpdateSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, parallelism {}, delay {}, on failure {}",
            self.order,
            self.parallelism,
            humantime::format_duration(self.delay),
            self.failure_action
        )
    }
}

impl std::str::FromStr for UpdateSettings {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let p = pairs(s, &["order", "parallelism", "delay", "failure", "monitor"])?;
        Ok(UpdateSettings {
            order: p
                .get("order")
                .map_or(Ok(UpdateOrder::StopFirst), |v| v.parse())?,
            parallelism: match p.get("parallelism") {
                None => 1,
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (0..=1000).contains(n))
                    .ok_or_else(|| format!("parallelism={v}: 0 (all at once) to 1,000"))?,
            },
            delay: dur(p.get("delay"), "delay", Duration::ZERO)?,
            failure_action: p
                .get("failure")
                .map_or(Ok(FailureAction::Pause), |v| v.parse())?,
            monitor: dur(p.get("monitor"), "monitor", Duration::from_secs(5))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_limit_is_none_or_a_size_in_range() {
        assert_eq!(memory_limit("none"), Ok(None));
        assert_eq!(memory_limit("64MiB"), Ok(Some(64 << 20)));
        assert_eq!(memory_limit(" 1GiB "), Ok(Some(1 << 30)));
        assert_eq!(memory_limit("512MB"), Ok(Some(512_000_000)));
        assert!(memory_limit("5MiB").unwrap_err().contains("6MiB to 1TiB"));
        assert!(memory_limit("2TiB").unwrap_err().contains("out of range"));
        assert!(memory_limit("lots").unwrap_err().contains("not a size"));
        assert_eq!(Setting::Memory(Some(64 << 20)).to_string(), "64.0 MiB");
        assert_eq!(Setting::Memory(None).to_string(), "no limit");
    }

    #[test]
    fn health_and_update_read_and_refuse() {
        assert_eq!("off".parse::<Health>(), Ok(Health::Off));
        let h: Health = "interval=1s;retries=2;timeout=1s".parse().unwrap();
        assert_eq!(h.to_string(), "every 1s, 2 retries, timeout 1s");
        assert!("interval=1s;retries=0".parse::<Health>().is_err());
        assert!("interval=1s;bogus=1"
            .parse::<Health>()
            .unwrap_err()
            .contains("bogus"));
        assert!("interval=0s".parse::<Health>().is_err());
        let u: UpdateSettings = "order=start-first;parallelism=2".parse().unwrap();
        assert_eq!(u.order, UpdateOrder::StartFirst);
        assert_eq!(u.parallelism, 2);
        assert!("order=sideways".parse::<UpdateSettings>().is_err());
    }
}
