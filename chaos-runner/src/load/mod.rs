//! Load generation: an open loop at a constant global rate (latency from each request's
//! intended send time, free of coordinated omission) or a closed loop of N workers.

pub mod conn;
pub mod scheduler;
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

#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub mode: Mode,
    /// Connections (closed loop: workers; open loop: the cap on requests in flight).
    pub workers: usize,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub timeout: Duration,
    pub keepalive: bool,
    /// Keep-alive connections are closed and re-resolved after this long.
    pub recycle: Duration,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Full recording (latency histograms, replicas, first/last times) or counts only.
    pub recording: bool,
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
    pub start: Instant,
    pub instances: Arc<Instances>,
    pub live: Arc<Live>,
    /// Flips to true on Ctrl-C/SIGTERM.
    pub interrupted: watch::Receiver<bool>,
    issued: AtomicU64,
}

impl Shared {
    pub fn new(
        target: Arc<Target>,
        plan: LoadPlan,
        start: Instant,
        interrupted: watch::Receiver<bool>,
    ) -> Self {
        Self {
            target,
            plan,
            start,
            instances: Arc::default(),
            live: Arc::default(),
            interrupted,
            issued: AtomicU64::new(0),
        }
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

/// Starts the load; each handle ends when its task is done (the end of the run or an
/// interruption). `conns` are connections opened beforehand (`conn::warm_up`), one per
/// worker as far as they go. Registers one recorder per worker, plus one for the open-loop
/// schedule (its dropped ticks).
pub fn spawn(
    shared: Arc<Shared>,
    collector: &mut Collector,
    conns: Vec<conn::Conn>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let workers = shared.plan.workers.max(1);
    let mut conns = conns.into_iter();
    let mut handles = Vec::with_capacity(workers + 2);
    let ticks = match shared.plan.mode {
        Mode::Open { rate } => {
            let total = shared.plan.total_requests().unwrap_or(u64::MAX);
            let sched = scheduler::Schedule::new(shared.start, rate, total);
            let (pacer, rx) = scheduler::Pacer::new(sched, workers, collector.register());
            let sh = shared.clone();
            handles.push(tokio::task::spawn_blocking(move || pacer.run(&sh)));
            Some(rx)
        }
        Mode::Closed => None,
    };
    for _ in 0..workers {
        handles.push(tokio::spawn(worker::worker(
            shared.clone(),
            ticks.clone(),
            collector.register(),
            conns.next(),
        )));
    }
    handles
}
