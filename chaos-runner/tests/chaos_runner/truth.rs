//! Ground truth: what the test's own servers lived, request by request, on the test's clock,
//! and how to put it beside what chaos-runner reported. Every assertion on a measured time
//! compares with these records, never with the ideal schedule: a slow or busy machine changes
//! both sides alike.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// One request as a test server lived it.
#[derive(Debug, Clone, Copy)]
pub struct Served {
    /// When the request's head had arrived (the handler ran).
    pub arrived: Instant,
    /// When the answer was handed to the connection; `None` if it never was (hung).
    pub answered: Option<Instant>,
    /// The status answered (0 while none was).
    pub status: u16,
}

/// A server's log: every request in order of arrival, and the clock to place it on the
/// run's time line.
#[derive(Debug)]
pub struct ServerLog {
    /// An `Instant` and the wall-clock time taken together, to turn one into the other.
    base: (Instant, SystemTime),
    entries: Mutex<Vec<Served>>,
}

impl Default for ServerLog {
    fn default() -> Self {
        Self {
            base: clock_pair(),
            entries: Mutex::new(Vec::new()),
        }
    }
}

/// An `Instant` and the wall-clock time of one moment. Read one after the other, a thread
/// preempted in between (a busy machine) would pair them a millisecond or more apart and
/// shift every time placed with them: the wall clock is read between two `Instant`s, and of
/// a few tries the pair read closest together is kept, at their midpoint.
pub fn clock_pair() -> (Instant, SystemTime) {
    (0..20)
        .map(|_| {
            let before = Instant::now();
            let wall = SystemTime::now();
            let after = Instant::now();
            (after - before, before + (after - before) / 2, wall)
        })
        .min_by_key(|(gap, _, _)| *gap)
        .map(|(_, at, wall)| (at, wall))
        .expect("twenty tries")
}

impl ServerLog {
    /// Records an arrival; the returned index is for [`ServerLog::answered`].
    pub fn arrived(&self) -> usize {
        let mut e = self.entries.lock().unwrap();
        e.push(Served {
            arrived: Instant::now(),
            answered: None,
            status: 0,
        });
        e.len() - 1
    }

    pub fn answered(&self, i: usize, status: u16) {
        let mut e = self.entries.lock().unwrap();
        e[i].answered = Some(Instant::now());
        e[i].status = status;
    }

    pub fn entries(&self) -> Vec<Served> {
        self.entries.lock().unwrap().clone()
    }

    /// Seconds from the run's start (its `started_at`) to `t`.
    pub fn run_time(&self, run_start: SystemTime, t: Instant) -> f64 {
        let wall = if t >= self.base.0 {
            self.base.1 + (t - self.base.0)
        } else {
            self.base.1 - (self.base.0 - t)
        };
        match wall.duration_since(run_start) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        }
    }

    /// Every answered request's time in the server, arrival to answer, in ms.
    pub fn latencies_ms(&self) -> Vec<f64> {
        self.entries()
            .iter()
            .filter_map(|s| s.answered.map(|a| (a - s.arrived).as_secs_f64() * 1e3))
            .collect()
    }

    /// Latency as an open loop defines it, from the moment its schedule meant to send a
    /// request to the server's answer, in ms. The open loop sends its ticks in order, tick `i`
    /// due `i / rate` after the run's start, so the `i`-th request to arrive is tick `i`; a
    /// late send makes the server's own span shorter, not the client's.
    pub fn scheduled_latencies_ms(&self, run_start: SystemTime, rate: f64) -> Vec<f64> {
        self.entries()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let answered = self.run_time(run_start, s.answered?);
                Some((answered - i as f64 / rate) * 1e3)
            })
            .collect()
    }

    /// How far behind its schedule the client ran between `from_s` and `to_s` (of the run),
    /// by the server's log: the longest delay from a tick's time to its request's arrival,
    /// over the ticks due then, in ms. A client that sent late then (its process waiting
    /// for a busy core) also read its answers late by as much.
    pub fn send_delay_ms(&self, run_start: SystemTime, rate: f64, from_s: f64, to_s: f64) -> f64 {
        self.entries()
            .iter()
            .enumerate()
            .filter(|(i, _)| (from_s..=to_s).contains(&(*i as f64 / rate)))
            .map(|(i, s)| (self.run_time(run_start, s.arrived) - i as f64 / rate) * 1e3)
            .fold(0.0, f64::max)
    }

    /// When the server answered, on the run's time line, the requests it held longer than
    /// `held_ms`: (first, last), in s.
    pub fn answered_between(&self, run_start: SystemTime, held_ms: f64) -> (f64, f64) {
        self.entries()
            .iter()
            .filter_map(|s| {
                let a = s.answered?;
                ((a - s.arrived).as_secs_f64() * 1e3 > held_ms).then(|| self.run_time(run_start, a))
            })
            .fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)))
    }

    /// The outage as the server lived it, in an open loop's ticks: from the first request
    /// that `failed` says was not served to the first served after it, each at its tick's time
    /// (see [`ServerLog::scheduled_latencies_ms`]), in s from the run's start.
    pub fn outage(&self, rate: f64, failed: impl Fn(&Served) -> bool) -> Outage {
        let e = self.entries();
        let first = e
            .iter()
            .position(&failed)
            .expect("the server saw the outage");
        let after = e[first..]
            .iter()
            .position(|s| !failed(s))
            .map(|i| first + i)
            .expect("the server saw the outage end");
        Outage {
            start_s: first as f64 / rate,
            end_s: after as f64 / rate,
            failed: e.iter().filter(|s| failed(s)).count() as u64,
        }
    }
}

/// An outage on the run's time line, from a server's log.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    pub start_s: f64,
    pub end_s: f64,
    pub failed: u64,
}

/// The run's start, as its summary gives it (`started_at`, RFC 3339 to the millisecond).
pub fn run_start(summary: &serde_json::Value) -> SystemTime {
    let text = summary["run"]["started_at"]
        .as_str()
        .or_else(|| summary["started_at"].as_str())
        .expect("summary has started_at");
    humantime::parse_rfc3339(text).expect("started_at is RFC 3339")
}

/// The value at quantile `q` (nearest rank), as HdrHistogram reports it.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    assert!(!v.is_empty(), "no values");
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// How far a client's figure may sit from the server's truth: the client measures from the
/// moment it meant to send and sees the answer after it crossed loopback, so it reads a little
/// later than the server lived it. A few ms, plus a small share of the value, for the
/// millisecond resolution of `started_at` and HdrHistogram's three significant digits.
pub const SLACK_MS: f64 = 5.0;
pub const SLACK_SHARE: f64 = 0.02;

/// Asserts `measured` (ms) agrees with `truth` (ms): never below it by more than the clock's
/// resolution, and above it by at most the slack plus `behind` (how far behind its schedule
/// the client ran, from the server's log; see [`ServerLog::send_delay_ms`]).
pub fn assert_agrees_ms(what: &str, measured: f64, truth: f64, behind: f64) {
    let over = SLACK_MS + SLACK_SHARE * truth.abs() + behind;
    assert!(
        measured >= truth - 1.5 && measured <= truth + over,
        "{what}: reported {measured:.3} ms, the server's log gives {truth:.3} ms (allowed {:.3} to {:.3})",
        truth - 1.5,
        truth + over
    );
}

/// The k-th smallest of `values` (1-based), `None` past its end.
fn kth(values: &[f64], k: usize) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(k.checked_sub(1)?).copied()
}

/// Asserts a quantile of the client's figures where the client's set of answers is known only
/// to lie between two of the server's: it holds every answer in `surely` and only answers in
/// `at_most` (a run cut off mid-flight keeps the answers it had read by then, and the server
/// handed some of the last ones over a moment before the cut). The client's figure is the
/// k-th smallest of its `count` values; the k-th smallest of a larger set is never above it and
/// that of a smaller one never below, so it lies between those two, give or take the slack of
/// [`assert_agrees_ms`].
pub fn assert_quantile_between(
    what: &str,
    measured: f64,
    q: f64,
    count: u64,
    surely: &[f64],
    at_most: &[f64],
    behind: f64,
) {
    let k = ((q * count as f64).ceil() as usize).max(1);
    let lo = kth(at_most, k).expect("the client read no more answers than the server gave");
    let hi = kth(surely, k).unwrap_or_else(|| kth(at_most, at_most.len()).unwrap_or(lo));
    let over = SLACK_MS + SLACK_SHARE * hi.abs() + behind;
    assert!(
        measured >= lo - 1.5 && measured <= hi + over,
        "{what}: reported {measured:.3} ms, the server's log puts it between {lo:.3} and {hi:.3} ms (allowed {:.3} to {:.3}; {count} answers read, between {} and {})",
        lo - 1.5,
        hi + over,
        surely.len(),
        at_most.len()
    );
}

/// Asserts the client's downtime windows agree with an outage the server lived. Where the
/// client kept to its schedule near both edges (the server saw no send later than the slack
/// within half a second of them), it is one window with each edge within the slack. A client
/// that ran late sends ticks out of order across an edge, so it may see the outage start
/// early, end late or cut in two: then each edge may be off by as much as it was behind there.
pub fn assert_outage(
    windows: &[serde_json::Value],
    truth: &Outage,
    log: &ServerLog,
    run_start: SystemTime,
    rate: f64,
) {
    let behind = |at: f64| log.send_delay_ms(run_start, rate, at - 0.5, at + 0.5);
    let (b_start, b_end) = (behind(truth.start_s), behind(truth.end_s));
    let on_time = b_start <= SLACK_MS && b_end <= SLACK_MS;
    let slack = |b: f64| (SLACK_MS + 1.0 + if on_time { 0.0 } else { b }) / 1e3;
    let s = |w: &serde_json::Value, k: &str| w[k].as_f64().unwrap();
    assert!(!windows.is_empty(), "no window for the outage {truth:?}");
    if on_time {
        assert_eq!(windows.len(), 1, "one outage, one window: {windows:?}");
    }
    let (first, last) = (&windows[0], &windows[windows.len() - 1]);
    let what = format!("client behind by up to {b_start:.1} ms at the start, {b_end:.1} ms at the end: {windows:?}");
    assert!(
        (s(first, "start_s") - truth.start_s).abs() <= slack(b_start),
        "window start {} s, the server's log gives {:.4} s; {what}",
        s(first, "start_s"),
        truth.start_s
    );
    assert!(
        (s(last, "end_s") - truth.end_s).abs() <= slack(b_end),
        "window end {} s, the server's log gives {:.4} s; {what}",
        s(last, "end_s"),
        truth.end_s
    );
    let failed: u64 = windows.iter().map(|w| w["failed"].as_u64().unwrap()).sum();
    let reordered = (rate * (slack(b_start) + slack(b_end))).ceil() as u64;
    assert!(
        failed <= truth.failed && failed + reordered >= truth.failed,
        "the windows hold {failed} failures, the server failed {} (at most {reordered} may fall outside); {what}",
        truth.failed
    );
}

/// Asserts a window's failures agree with the server's: every failure the server gave is in
/// the window but for those sent out of order across its edges (a request sent late, on a
/// busy machine, after a later tick had already succeeded, is a miss between two successes,
/// not part of the window): at most the ticks of the slack.
pub fn assert_window_failures(window_failed: u64, truth_failed: u64, rate: f64) {
    let reordered = (rate * (SLACK_MS + 1.0) / 1e3).ceil() as u64;
    assert!(
        window_failed <= truth_failed && window_failed + reordered >= truth_failed,
        "the window holds {window_failed} failures, the server failed {truth_failed} (at most {reordered} may fall outside)"
    );
}

/// Polls `cond` every few ms until it holds, or panics after `guard` (a guard against a hang,
/// not a measurement).
pub fn wait_for(what: &str, guard: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + guard;
    while !cond() {
        assert!(Instant::now() < end, "{what}: not within {guard:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
