//! Load generation: an open loop at a constant global rate (latency from each request's
//! intended send time, free of coordinated omission) or a closed loop of N workers.

mod alarm;
pub mod conn;
pub mod h1;
pub mod limits;
pub mod pool;
mod request;
pub mod scheduler;
pub mod share;
#[cfg(target_os = "linux")]
mod ticker;
pub mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::record::{Collector, Instances, Live};
use crate::target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// A constant global rate, whatever the answers.
    Open { rate: f64 },
    /// N workers, each sending its next request when the previous one is answered.
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub mode: Mode,
    /// Connections opened before the clock starts (closed loop: one per worker).
    pub connections: usize,
    /// Open loop: the most requests in flight (one worker and connection each): the
    /// user's `--max-in-flight`, or the allowance for rate x timeout. Closed loop: workers.
    pub max_in_flight: usize,
    /// Whether `max_in_flight` is a cap the user set (the schedule may then drop ticks).
    pub capped: bool,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub timeout: Duration,
    /// A request unanswered this long counts as stuck: the open loop may then add workers.
    pub stuck_after: Duration,
    pub keepalive: bool,
    /// Keep-alive connections are closed and re-resolved after this long.
    pub recycle: Duration,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Full recording (latency histograms, replicas, first/last times) or counts only.
    pub recording: bool,
    /// Open loop: this run's share of the schedule (the rate is the whole schedule's).
    pub share: Option<share::Share>,
    /// When the clock starts (`--start-at`), rather than as soon as the run is ready.
    pub start_at: Option<std::time::SystemTime>,
}

impl LoadPlan {
    /// Ticks of the open loop, or the request budget of the closed loop.
    pub fn total_requests(&self) -> Option<u64> {
        match (self.mode, self.requests, self.duration) {
            (_, Some(n), _) => Some(n),
            (Mode::Open { rate }, None, Some(d)) => {
                Some((rate * d.as_secs_f64()).round().max(1.0) as u64)
            }
            _ => None,
        }
    }

    /// Planned length of the run, if known in advance.
    pub fn planned_length(&self) -> Option<Duration> {
        match (self.mode, self.duration, self.requests) {
            (_, Some(d), _) => Some(d),
            (Mode::Open { rate }, None, Some(n)) => Some(Duration::from_secs_f64(n as f64 / rate)),
            _ => None,
        }
    }
}

/// What every task of one run shares.
#[derive(Debug)]
pub struct Shared {
    pub target: Arc<Target>,
    pub plan: LoadPlan,
    /// The request every worker sends.
    request: request::Template,
    pub start: Instant,
    pub instances: Arc<Instances>,
    pub live: Arc<Live>,
    /// Flips to true on Ctrl-C/SIGTERM.
    pub interrupted: watch::Receiver<bool>,
    issued: AtomicU64,
    /// Malformed responses by kind ([`h1::Malformed::index`]): each counted as `other`.
    malformed: [AtomicU64; h1::Malformed::COUNT],
}

impl Shared {
    pub fn new(
        target: Arc<Target>,
        plan: LoadPlan,
        start: Instant,
        interrupted: watch::Receiver<bool>,
    ) -> Self {
        Self {
            request: request::Template::new(&target, &plan),
            target,
            plan,
            start,
            instances: Arc::default(),
            live: Arc::default(),
            interrupted,
            issued: AtomicU64::new(0),
            malformed: Default::default(),
        }
    }

    /// The class of a failed exchange; a malformed response is counted by its kind.
    pub fn failed(&self, f: &h1::Failure) -> crate::record::Class {
        use crate::record::Class;
        match f {
            h1::Failure::Io(e) => Class::from_io(e),
            h1::Failure::Closed => Class::Reset,
            h1::Failure::Malformed(m) => {
                self.malformed[m.index()].fetch_add(1, Ordering::Relaxed);
                Class::Other
            }
        }
    }

    /// The malformed responses so far, by kind (kinds never seen left out).
    pub fn malformed(&self) -> std::collections::BTreeMap<String, u64> {
        self.malformed
            .iter()
            .enumerate()
            .map(|(i, n)| (i, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .map(|(i, n)| (h1::Malformed::name_of(i).to_string(), n))
            .collect()
    }

    pub fn is_interrupted(&self) -> bool {
        *self.interrupted.borrow()
    }

    pub fn offset_us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_micros() as u64
    }

    /// Closed loop: may another request start now?
    fn take_ticket(&self) -> bool {
        if self.is_interrupted() {
            return false;
        }
        if let Some(d) = self.plan.duration {
            if self.start.elapsed() >= d {
                return false;
            }
        }
        match self.plan.requests {
            Some(n) => self.issued.fetch_add(1, Ordering::Relaxed) < n,
            None => true,
        }
    }
}

/// Starts the load; the result resolves when every worker is done (the end of the run or
/// an interruption). `conns` are connections opened beforehand (`conn::warm_up`): the
/// first workers', one each. The open loop starts as many workers as `connections` and
/// grows from there (see `pool`).
pub fn spawn(shared: Arc<Shared>, collector: &Collector, conns: Vec<conn::Conn>) -> pool::Finished {
    spawn_with(shared, collector, conns, Pacing::Best)
}

/// How the open loop's pacer waits between wakes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pacing {
    /// A timerfd where there is one (Linux), else a thread.
    Best,
    /// A thread of its own (what other systems get; tests keep it working on Linux).
    #[cfg_attr(not(test), allow(dead_code))]
    Thread,
}

fn spawn_with(
    shared: Arc<Shared>,
    collector: &Collector,
    conns: Vec<conn::Conn>,
    pacing: Pacing,
) -> pool::Finished {
    let plan = &shared.plan;
    let first = plan.connections.clamp(1, plan.max_in_flight.max(1));
    // The open loop's queue of ticks: bounded only under a user's cap (past it, drops).
    let (tx, rx) = match plan.mode {
        Mode::Open { .. } => {
            let (tx, rx) = scheduler::queue(plan.capped.then_some(first));
            (Some(tx), Some(rx))
        }
        Mode::Closed => (None, None),
    };
    let (mut pool, done) =
        pool::Pool::new(shared.clone(), rx, collector.shards(), plan.max_in_flight);
    let mut conns = conns.into_iter();
    for _ in 0..first {
        pool.spawn(conns.next(), None);
    }
    match (plan.mode, tx) {
        (Mode::Open { rate }, Some(tx)) => {
            let total = plan.total_requests().unwrap_or(u64::MAX);
            let mut sched = scheduler::Schedule::new(shared.start, rate, total);
            if let Some(share) = plan.share {
                sched = sched.share(share);
            }
            let pacer = scheduler::Pacer::new(sched, tx, collector.shards()[0].clone(), pool);
            pool::Finished::new(done, spawn_pacer(pacer, shared.clone(), pacing))
        }
        _ => pool.finished(done),
    }
}

/// The pacer as a task woken by a timerfd where there is one (Linux), else as a thread.
fn spawn_pacer(
    pacer: scheduler::Pacer,
    s: Arc<Shared>,
    pacing: Pacing,
) -> tokio::task::JoinHandle<usize> {
    #[cfg(target_os = "linux")]
    if pacing == Pacing::Best {
        match ticker::Ticker::new() {
            Ok(t) => return tokio::spawn(async move { pacer.run_on(&s, t).await }),
            Err(e) => tracing::debug!("no timerfd ({e}): the pacer runs as a thread"),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pacing;
    tokio::task::spawn_blocking(move || pacer.run(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An open loop of 1,000 ticks against a port nobody listens on: every tick is sent
    /// (and refused) exactly once, whichever way the pacer waits.
    async fn every_tick_sent_once(pacing: Pacing) {
        let target = Arc::new(Target::parse("http://127.0.0.1:1/").unwrap());
        let ms = Duration::from_millis;
        let plan = LoadPlan {
            mode: Mode::Open { rate: 5_000.0 },
            connections: 4,
            max_in_flight: 64,
            capped: false,
            duration: None,
            requests: Some(1_000),
            timeout: ms(500),
            stuck_after: ms(250),
            keepalive: true,
            recycle: ms(1_000),
            headers: Vec::new(),
            recording: true,
            share: None,
            start_at: None,
        };
        let (_stop, interrupted) = watch::channel(false);
        let shared = Arc::new(Shared::new(target, plan, Instant::now(), interrupted));
        let collector = Collector::new(100_000);
        // The schedule's own start: a busy machine may pass time before the pacer runs.
        let started = shared.start;
        spawn_with(shared.clone(), &collector, Vec::new(), pacing)
            .wait()
            .await;
        let live = &shared.live;
        assert_eq!(Live::get(&live.sent), 1_000, "{pacing:?}");
        assert_eq!(Live::get(&live.failed), 1_000);
        assert_eq!(Live::get(&live.dropped), 0);
        // The schedule spans 0.2 s: the pacer kept to it rather than sending all at once.
        assert!(started.elapsed() >= ms(199), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn the_open_loop_sends_every_tick_once_with_either_pacer() {
        every_tick_sent_once(Pacing::Best).await;
        every_tick_sent_once(Pacing::Thread).await;
    }
}
