//! A worker: one connection at a time, one request at a time, every attempt recorded once.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::alarm::Alarm;
use super::conn::{exchange, Conn, PHASE_RESOLVE};
use super::Shared;
use crate::record::{Attempt, Class, Live, Recorder};

/// One worker's state; started by the [`super::pool::Pool`].
#[derive(Debug)]
pub struct Worker {
    pub s: Arc<Shared>,
    /// The open loop's queue of intended send times (none: closed loop).
    pub ticks: Option<async_channel::Receiver<Instant>>,
    pub rec: Arc<Mutex<Recorder>>,
    pub slot: Option<Conn>,
    /// The pool's count of workers waiting for a tick.
    pub idle: Arc<AtomicUsize>,
    /// The pool's count of requests waiting for their answer longer than `stuck_after`.
    pub stuck: Arc<AtomicUsize>,
    /// The timer of its exchanges' limits (made on the runtime, at the first send).
    pub alarm: Option<Alarm>,
    /// Dropped when the worker ends: the pool's completion signal.
    pub _done: mpsc::Sender<()>,
}

impl Worker {
    /// Sends `first` (a tick the pacer gave this new worker), then whatever comes next.
    pub async fn run(mut self, mut first: Option<Instant>) {
        while let Some(intended) = match first.take() {
            Some(t) => Some(t),
            None => self.next().await,
        } {
            let intended_us = self.s.offset_us(intended);
            if self.s.is_interrupted() {
                // Scheduled but never sent: interrupted runs count the queue as dropped.
                self.rec
                    .lock()
                    .expect("recorder lock")
                    .record_dropped(intended_us);
                Live::bump(&self.s.live.dropped);
                continue;
            }
            self.send(intended, intended_us).await;
        }
    }

    /// The next intended send time: the open loop's queue, or now for the closed loop.
    async fn next(&self) -> Option<Instant> {
        match &self.ticks {
            Some(rx) => {
                self.idle.fetch_add(1, Ordering::AcqRel);
                let t = rx.recv().await.ok();
                self.idle.fetch_sub(1, Ordering::AcqRel);
                t
            }
            None => self.s.take_ticket().then(Instant::now),
        }
    }

    async fn send(&mut self, intended: Instant, intended_us: u64) {
        let s = &self.s;
        let sent = Instant::now();
        Live::bump(&s.live.started);
        let phase = AtomicU8::new(PHASE_RESOLVE);
        let attempt = exchange(s, &mut self.slot, intended_us, &phase);
        let alarm = self.alarm.get_or_insert_with(Alarm::new);
        let answer = alarm
            .limit(
                attempt,
                sent + s.plan.stuck_after,
                sent + s.plan.timeout,
                &self.stuck,
            )
            .await;
        let (class, instance) = match answer {
            Some(r) => r,
            None => {
                self.slot = None;
                // A name that did not resolve in time is a DNS failure, not a slow server.
                match phase.load(Ordering::Relaxed) {
                    PHASE_RESOLVE => (Class::Dns, None),
                    _ => (Class::Timeout, None),
                }
            }
        };
        let done = Instant::now();
        let attempt = Attempt {
            intended_us,
            class,
            latency_us: done.saturating_duration_since(intended).as_micros() as u64,
            lateness_us: sent.saturating_duration_since(intended).as_micros() as u64,
            instance,
        };
        {
            let mut rec = self.rec.lock().expect("recorder lock");
            if s.plan.recording {
                rec.record(&attempt);
            } else {
                rec.count(&attempt);
            }
        }
        Live::bump(&s.live.sent);
        Live::bump(if class.is_ok() {
            &s.live.ok
        } else {
            &s.live.failed
        });
    }
}
