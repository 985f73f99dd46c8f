//! Faults switched on at run time through `GET /chaos` (which needs `KILL_TOKEN`): for a
//! while, this replica is slow, answers errors, hangs, reports itself unhealthy, or leaks
//! memory until its container's limit kills it. Each fault ends by itself; a new order for
//! a fault replaces the one in force. What is in force is shown on the page, in JSON and in
//! `/metrics`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use crashlab_common::value;

/// The longest any fault may last, and the longest latency it may add.
pub const MAX_FOR: Duration = Duration::from_secs(3600);
/// How long a fault lasts when the order does not say (`for=`).
pub const DEFAULT_FOR: Duration = Duration::from_secs(30);
/// The most memory a leak takes, whatever it is asked (MiB), and its default.
pub const MAX_LEAK_MIB: u64 = 64 * 1024;
pub const DEFAULT_LEAK_MIB: u64 = 4096;
/// The fastest a leak grows (MiB/s).
pub const MAX_LEAK_RATE: u64 = 1024;

/// The fault kinds, as `/chaos` names them and `/metrics` labels them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Slow,
    Errors,
    Hang,
    Unhealthy,
    Leak,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Slow,
        Kind::Errors,
        Kind::Hang,
        Kind::Unhealthy,
        Kind::Leak,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Slow => "slow",
            Kind::Errors => "errors",
            Kind::Hang => "hang",
            Kind::Unhealthy => "unhealthy",
            Kind::Leak => "leak",
        }
    }
}

/// One fault in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// Added to every answer on `/` and `/status`: `latency` plus up to `jitter`.
    Slow { latency: Duration, jitter: Duration },
    /// This share of `/` and `/status` answered 500.
    Errors { rate: f64 },
    /// `/`, `/status`, `/health` and `/ready` get no answer (connections are accepted).
    Hang,
    /// `/health` answers 503.
    Unhealthy,
    /// Memory taken at `mib_per_s`, up to `max_mib`, never given back.
    Leak { mib_per_s: u64, max_mib: u64 },
}

impl Fault {
    pub fn kind(&self) -> Kind {
        match self {
            Fault::Slow { .. } => Kind::Slow,
            Fault::Errors { .. } => Kind::Errors,
            Fault::Hang => Kind::Hang,
            Fault::Unhealthy => Kind::Unhealthy,
            Fault::Leak { .. } => Kind::Leak,
        }
    }

    fn describe(&self) -> String {
        match self {
            Fault::Slow { latency, jitter } if jitter.is_zero() => format!("slow: +{latency:?}"),
            Fault::Slow { latency, jitter } => format!("slow: +{latency:?} plus up to {jitter:?}"),
            Fault::Errors { rate } => format!("errors: {:.1}% answered 500", rate * 100.0),
            Fault::Hang => "hang: no answers".into(),
            Fault::Unhealthy => "unhealthy: /health answers 503".into(),
            Fault::Leak { mib_per_s, max_mib } => {
                format!("leak: {mib_per_s} MiB/s, up to {max_mib} MiB")
            }
        }
    }
}

/// An order from `GET /chaos`: the faults to switch on, how long for, or clear them all.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub faults: Vec<Fault>,
    pub duration: Duration,
    pub clear: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OrderError {
    #[error("{0}={1}: {2}")]
    Value(String, String, String),
    #[error("unknown parameter {0:?} (slow, jitter, errors, hang, unhealthy, leak, leak_max, for, clear)")]
    Unknown(String),
    #[error("no fault asked (slow=, errors=, hang=, unhealthy=1, leak=, or clear=1)")]
    Empty,
}

impl Order {
    /// Parses the query's parameters (`token` is the endpoint's own and is ignored).
    /// `hang=30s` is a hang for 30 s; `for=` sets how long the others last (default 30 s).
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, OrderError> {
        let bad = |k: &str, v: &str, e: String| OrderError::Value(k.into(), v.into(), e);
        let dur =
            |k: &str, v: &str| value::duration(v, MAX_FOR).map_err(|e| bad(k, v, e.to_string()));
        let flag = |k: &str, v: &str| match v {
            "1" | "true" | "on" | "" => Ok(true),
            "0" | "false" | "off" => Ok(false),
            _ => Err(bad(k, v, "expected 1 or 0".into())),
        };
        let (mut slow, mut jitter, mut errors, mut hang, mut unhealthy) =
            (None, None, None, None, false);
        let (mut leak, mut leak_max, mut duration, mut clear) = (None, None, None, false);
        for (k, v) in params {
            match k {
                "token" => {}
                "slow" => slow = Some(dur(k, v)?),
                "jitter" => jitter = Some(dur(k, v)?),
                "errors" => errors = Some(value::ratio(v).map_err(|e| bad(k, v, e.to_string()))?),
                "hang" => hang = Some(dur(k, v)?),
                "unhealthy" => unhealthy = flag(k, v)?,
                "leak" => leak = Some(mib(k, v, 1, MAX_LEAK_RATE, "MiB/s")?),
                "leak_max" => leak_max = Some(mib(k, v, 1, MAX_LEAK_MIB, "MiB")?),
                "for" => duration = Some(dur(k, v)?),
                "clear" => clear = flag(k, v)?,
                other => return Err(OrderError::Unknown(other.into())),
            }
        }
        let mut faults = Vec::new();
        if slow.is_some() || jitter.is_some() {
            faults.push(Fault::Slow {
                latency: slow.unwrap_or_default(),
                jitter: jitter.unwrap_or_default(),
            });
        }
        if let Some(rate) = errors {
            faults.push(Fault::Errors { rate });
        }
        if unhealthy {
            faults.push(Fault::Unhealthy);
        }
        if let Some(mib_per_s) = leak {
            faults.push(Fault::Leak {
                mib_per_s,
                max_mib: leak_max.unwrap_or(DEFAULT_LEAK_MIB),
            });
        }
        // A hang's value is its length; it can come with no other fault.
        if let (Some(h), true) = (hang, faults.is_empty()) {
            return Ok(Order {
                faults: vec![Fault::Hang],
                duration: h,
                clear,
            });
        }
        if hang.is_some() {
            return Err(bad(
                "hang",
                "",
                "a hang comes alone (nothing else is answered anyway)".into(),
            ));
        }
        if faults.is_empty() && !clear {
            return Err(OrderError::Empty);
        }
        Ok(Order {
            faults,
            duration: duration.unwrap_or(DEFAULT_FOR),
            clear,
        })
    }
}

fn mib(k: &str, v: &str, min: u64, max: u64, unit: &str) -> Result<u64, OrderError> {
    let n: u64 = v
        .trim_end_matches(unit)
        .trim_end_matches("MiB")
        .parse()
        .map_err(|_| OrderError::Value(k.into(), v.into(), format!("a whole number of {unit}")))?;
    if !(min..=max).contains(&n) {
        return Err(OrderError::Value(
            k.into(),
            v.into(),
            format!("{min} to {max} {unit}"),
        ));
    }
    Ok(n)
}

/// A fault in force, until when.
#[derive(Debug, Clone, Copy)]
struct InForce {
    fault: Fault,
    until: Instant,
    until_wall: SystemTime,
}

/// What is in force, as shown on the page and in JSON.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Shown {
    pub fault: Kind,
    pub what: String,
    /// RFC 3339, to the millisecond.
    pub until: String,
    pub left_s: f64,
}

/// The faults in force on this replica.
#[derive(Debug, Default)]
pub struct Chaos {
    faults: Mutex<Vec<InForce>>,
    /// Whether any fault may be in force (the hot path reads only this when none is).
    any: AtomicBool,
    /// Bytes the leak holds.
    pub leaked: AtomicU64,
    leak_store: Mutex<Vec<Vec<u8>>>,
    /// Whether the task that takes the leak's memory runs.
    leaking: AtomicBool,
}

impl Chaos {
    /// Applies an order; what is in force after it.
    pub fn order(&self, o: &Order) -> Vec<Shown> {
        let now = Instant::now();
        {
            let mut f = self.faults.lock().expect("chaos lock");
            if o.clear {
                f.clear();
            }
            for fault in &o.faults {
                f.retain(|x| x.fault.kind() != fault.kind());
                f.push(InForce {
                    fault: *fault,
                    until: now + o.duration,
                    until_wall: SystemTime::now() + o.duration,
                });
            }
            self.any.store(!f.is_empty(), Ordering::SeqCst);
        }
        self.shown()
    }

    /// The fault of `kind` in force now, if any (ended ones are dropped).
    pub fn get(&self, kind: Kind) -> Option<Fault> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let now = Instant::now();
        let mut f = self.faults.lock().expect("chaos lock");
        f.retain(|x| x.until > now);
        self.any.store(!f.is_empty(), Ordering::Relaxed);
        f.iter().find(|x| x.fault.kind() == kind).map(|x| x.fault)
    }

    /// When the fault of `kind` in force ends.
    pub fn until(&self, kind: Kind) -> Option<Instant> {
        let f = self.faults.lock().expect("chaos lock");
        f.iter()
            .find(|x| x.fault.kind() == kind && x.until > Instant::now())
            .map(|x| x.until)
    }

    pub fn shown(&self) -> Vec<Shown> {
        let now = Instant::now();
        let f = self.faults.lock().expect("chaos lock");
        f.iter()
            .filter(|x| x.until > now)
            .map(|x| Shown {
                fault: x.fault.kind(),
                what: x.fault.describe(),
                until: humantime::format_rfc3339_millis(x.until_wall).to_string(),
                left_s: x.until.saturating_duration_since(now).as_secs_f64(),
            })
            .collect()
    }

    /// Claims the leak's task; false when one runs already.
    pub fn start_leaking(&self) -> bool {
        self.leaking
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    pub fn stop_leaking(&self) {
        self.leaking.store(false, Ordering::SeqCst);
    }

    /// Takes `bytes` more for the leak (touched, so they are resident), unless that passes
    /// `max_bytes`. Whether it took them.
    pub fn leak(&self, bytes: usize, max_bytes: u64) -> bool {
        let held = self.leaked.load(Ordering::Relaxed);
        if held + bytes as u64 > max_bytes {
            return false;
        }
        self.leak_store
            .lock()
            .expect("chaos lock")
            .push(vec![0xA5u8; bytes]);
        self.leaked.fetch_add(bytes as u64, Ordering::Relaxed);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<Order, OrderError> {
        Order::parse(q.iter().copied())
    }

    #[test]
    fn orders_parse_with_their_durations_and_ranges() {
        let o = parse(&[("slow", "200ms"), ("for", "5s"), ("token", "x")]).unwrap();
        assert_eq!(
            o.faults,
            vec![Fault::Slow {
                latency: Duration::from_millis(200),
                jitter: Duration::ZERO
            }]
        );
        assert_eq!(o.duration, Duration::from_secs(5));
        let o = parse(&[("hang", "30s")]).unwrap();
        assert_eq!(
            (o.faults.clone(), o.duration),
            (vec![Fault::Hang], Duration::from_secs(30))
        );
        let o = parse(&[("errors", "20%"), ("unhealthy", "1")]).unwrap();
        assert_eq!(
            o.faults,
            vec![Fault::Errors { rate: 0.2 }, Fault::Unhealthy]
        );
        assert_eq!(o.duration, DEFAULT_FOR);
        let o = parse(&[("leak", "50"), ("leak_max", "256")]).unwrap();
        assert_eq!(
            o.faults,
            vec![Fault::Leak {
                mib_per_s: 50,
                max_mib: 256
            }]
        );
        assert!(parse(&[("clear", "1")]).unwrap().clear);
        for bad in [
            vec![("slow", "2h")],
            vec![("errors", "150%")],
            vec![("leak", "0")],
            vec![("leak", "99999")],
            vec![("for", "-1s")],
            vec![("hang", "5s"), ("slow", "1s")],
            vec![("kill", "1")],
            vec![],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?} accepted");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_ends_by_itself_and_a_new_order_replaces_it() {
        let c = Chaos::default();
        assert_eq!(c.get(Kind::Slow), None);
        c.order(&parse(&[("slow", "100ms"), ("for", "5s")]).unwrap());
        assert!(c.get(Kind::Slow).is_some());
        tokio::time::sleep(Duration::from_secs(4)).await;
        c.order(&parse(&[("slow", "300ms"), ("for", "5s")]).unwrap());
        assert_eq!(c.shown().len(), 1, "replaced, not added");
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(
            c.get(Kind::Slow),
            Some(Fault::Slow {
                latency: Duration::from_millis(300),
                jitter: Duration::ZERO
            })
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(c.get(Kind::Slow), None, "ended by itself");
        assert!(c.shown().is_empty());
    }

    #[test]
    fn a_leak_stops_at_its_limit() {
        let c = Chaos::default();
        assert!(c.leak(1 << 20, 3 << 20));
        assert!(c.leak(1 << 20, 3 << 20));
        assert!(c.leak(1 << 20, 3 << 20));
        assert!(!c.leak(1 << 20, 3 << 20));
        assert_eq!(c.leaked.load(Ordering::Relaxed), 3 << 20);
    }
}
