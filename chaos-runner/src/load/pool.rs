//! The workers of one run and how many there may be. The closed loop starts its N workers
//! once. The open loop starts with its warm connections and grows when the target is slow:
//! while some request has waited for its answer longer than `stuck_after`, a tick that
//! finds no idle worker gets a new worker (and connection) of its own, up to the in-flight
//! allowance. So a stalled target never makes the schedule drop a tick or hold it back for
//! long (each request occupies a worker for at most the timeout: rate x timeout workers
//! always suffice), while a client that is merely busy (its own CPU the bottleneck) queues
//! ticks and sends them late, counted as late, rather than opening connections it has no
//! time to serve. Workers hold a clone of the pool's completion sender; the run is over
//! when all are gone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::conn::Conn;
use super::Shared;
use crate::record::Recorder;

/// Spawns workers onto the run's runtime, from any thread (the pacer's included).
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    ticks: Option<async_channel::Receiver<Instant>>,
    recorders: Vec<Arc<Mutex<Recorder>>>,
    /// Workers waiting for a tick right now.
    idle: Arc<AtomicUsize>,
    /// Requests that have waited longer than `stuck_after` for their answer right now.
    stuck: Arc<AtomicUsize>,
    workers: usize,
    cap: usize,
    done: mpsc::Sender<()>,
}

/// Waits for the end of every worker of a run.
#[derive(Debug)]
pub struct Finished {
    done: mpsc::Receiver<()>,
    /// The open loop's pacer, which owns the pool and reports how many workers it grew to.
    pacer: Option<tokio::task::JoinHandle<usize>>,
    /// The closed loop's workers (it never grows).
    workers: usize,
}

impl Finished {
    /// Also waits for the open loop's pacer.
    pub fn new(done: mpsc::Receiver<()>, pacer: tokio::task::JoinHandle<usize>) -> Self {
        Self {
            done,
            pacer: Some(pacer),
            workers: 0,
        }
    }

    /// Resolves when every worker has ended; returns how many workers the run had at most.
    pub async fn wait(mut self) -> usize {
        let peak = match self.pacer.take() {
            Some(p) => p.await.unwrap_or(0),
            None => self.workers,
        };
        // Every worker holds a sender; recv yields None once the last one is gone.
        while self.done.recv().await.is_some() {}
        peak
    }
}

impl Pool {
    /// A pool of at most `cap` workers (at least one). `ticks` is the open loop's queue.
    pub fn new(
        shared: Arc<Shared>,
        ticks: Option<async_channel::Receiver<Instant>>,
        recorders: Vec<Arc<Mutex<Recorder>>>,
        cap: usize,
    ) -> (Self, mpsc::Receiver<()>) {
        let (done, rx) = mpsc::channel(1);
        let pool = Self {
            shared,
            runtime: tokio::runtime::Handle::current(),
            ticks,
            recorders,
            idle: Arc::default(),
            stuck: Arc::default(),
            workers: 0,
            cap: cap.max(1),
            done,
        };
        (pool, rx)
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether a tick should get a worker of its own: the target is slow (some request is
    /// stuck), fewer workers are waiting than ticks are queued, and the allowance has room.
    pub fn short_of_workers(&self, queued: usize) -> bool {
        self.workers < self.cap
            && self.stuck.load(Ordering::Acquire) > 0
            && queued >= self.idle.load(Ordering::Acquire)
    }

    /// Starts a worker, with a connection opened beforehand and/or a first tick to send.
    pub fn spawn(&mut self, conn: Option<Conn>, first: Option<Instant>) {
        let rec = self.recorders[self.workers % self.recorders.len()].clone();
        let job = super::worker::Worker {
            s: self.shared.clone(),
            ticks: self.ticks.clone(),
            rec,
            slot: conn,
            idle: self.idle.clone(),
            stuck: self.stuck.clone(),
            alarm: None,
            _done: self.done.clone(),
        };
        self.workers += 1;
        self.runtime.spawn(job.run(first));
    }

    /// The [`Finished`] of a pool that will not grow (the closed loop).
    pub fn finished(self, done: mpsc::Receiver<()>) -> Finished {
        Finished {
            done,
            pacer: None,
            workers: self.workers,
        }
    }
}
