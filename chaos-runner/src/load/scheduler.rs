//! The open loop's clock. The pacer releases ticks (intended send times at a constant
//! rate) into the workers' queue as they fall due. It runs on the runtime as a task woken by
//! a `timerfd` on Linux (see `ticker`), elsewhere as a thread of its own; either way its
//! wakes are precise to tens of microseconds, where the async timer wheel ticks in whole
//! milliseconds. It wakes at most once per `BATCH`: at high rates the ticks of one wake
//! leave together, so the target and the runtime wake once per batch instead of once per
//! request, which on a virtual machine costs more than the request itself. Every tick is
//! still sent at most about `BATCH` after its time, and latency counts from that time. A
//! tick that finds no idle worker gets a new one (see `pool`); only where the user capped
//! the requests in flight, and every worker is busy and the queue full, is a tick dropped,
//! and counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_channel::{Receiver, Sender, TrySendError};
use tokio::time::Instant;

use super::pool::Pool;
use super::Shared;
use crate::record::{Live, Recorder};

/// Longest single sleep, so an interruption is noticed quickly even at low rates.
const MAX_NAP: Duration = Duration::from_millis(20);

/// Shortest time between two wakes of the pacer (rates above 5,000/s go out in batches).
pub const BATCH: Duration = Duration::from_micros(200);

/// The constant-rate schedule: tick `i` is due at `start + i / rate`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub period_ns: f64,
    pub total: u64,
}

impl Schedule {
    pub fn new(start: Instant, rate: f64, total: u64) -> Self {
        Self {
            start,
            period_ns: 1e9 / rate,
            total,
        }
    }

    /// This share's part of the schedule: every `of`-th tick from tick `index - 1`, on the
    /// same clock, so the shares together are the whole schedule.
    pub fn share(self, share: super::share::Share) -> Self {
        Self {
            start: self.at(share.tick(0)),
            period_ns: self.period_ns * f64::from(share.of),
            total: share.ticks_of(self.total),
        }
    }

    /// Intended send time of tick `i`.
    pub fn at(&self, i: u64) -> Instant {
        self.start + Duration::from_nanos((i as f64 * self.period_ns) as u64)
    }

    /// How many ticks are due at `now` (ticks whose time is not after `now`).
    pub fn due(&self, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(self.start).as_nanos() as f64;
        let mut due = ((ns / self.period_ns).floor() as u64)
            .saturating_add(1)
            .min(self.total);
        // The estimate can be one off by rounding; `at` is the definition.
        while due < self.total && self.at(due) <= now {
            due += 1;
        }
        while due > 0 && self.at(due - 1) > now {
            due -= 1;
        }
        due
    }
}

/// The pacer's side of the open loop: the schedule, how much of it is released, the
/// queue the workers take ticks from, and the pool that grows when none is idle.
#[derive(Debug)]
pub struct Pacer {
    sched: Schedule,
    released: u64,
    tx: Sender<Instant>,
    rec: Arc<Mutex<Recorder>>,
    pool: Option<Pool>,
}

/// The open loop's queue of ticks: holding up to `bound` (with a cap on requests in flight,
/// past which ticks are dropped), or any number (ticks wait, to be sent late).
pub fn queue(bound: Option<usize>) -> (Sender<Instant>, Receiver<Instant>) {
    match bound {
        Some(n) => async_channel::bounded(n.max(1)),
        None => async_channel::unbounded(),
    }
}

impl Pacer {
    /// `tx` is the queue's sending end; `pool` (whose workers take from the queue) grows
    /// when a tick finds no idle worker.
    pub fn new(
        sched: Schedule,
        tx: Sender<Instant>,
        rec: Arc<Mutex<Recorder>>,
        pool: Pool,
    ) -> Self {
        Self {
            sched,
            released: 0,
            tx,
            rec,
            pool: Some(pool),
        }
    }

    /// Queues every tick due at `now` (dropping those that do not fit). Returns how many
    /// ticks it released.
    fn release(&mut self, s: &Shared, now: Instant) -> u64 {
        let due = self.sched.due(now);
        let from = self.released;
        for i in from..due {
            let t = self.sched.at(i);
            if let Some(pool) = self.pool.as_mut() {
                if pool.short_of_workers(self.tx.len()) {
                    pool.spawn(None, Some(t));
                    continue;
                }
            }
            if let Err(TrySendError::Full(_)) = self.tx.try_send(t) {
                self.rec
                    .lock()
                    .expect("recorder lock")
                    .record_dropped(s.offset_us(t));
                Live::bump(&s.live.dropped);
            }
        }
        self.released = due.max(from);
        self.released - from
    }

    /// Releases the ticks due now; returns when to wake next, or `None` once every tick is
    /// released or the run is interrupted.
    fn step(&mut self, s: &Shared, woke: &mut Instant) -> Option<Instant> {
        if self.released >= self.sched.total || s.is_interrupted() {
            return None;
        }
        let now = Instant::now();
        if self.release(s, now) > 0 {
            *woke = now;
        }
        if self.released >= self.sched.total {
            return None;
        }
        let wake = self.sched.at(self.released).max(*woke + BATCH);
        Some(wake.min(now + MAX_NAP))
    }

    /// Closes the queue (workers finish what is in it) and lets the pool go, so the
    /// workers' completion signal gets through once they end. Returns how many workers the
    /// run had at most.
    fn finish(mut self) -> usize {
        self.tx.close();
        self.pool.take().map_or(0, |p| p.workers())
    }

    /// The pacer as a thread of its own, sleeping between wakes.
    pub fn run(mut self, s: &Shared) -> usize {
        let mut woke = Instant::now();
        while let Some(wake) = self.step(s, &mut woke) {
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
        self.finish()
    }

    /// The pacer as a task on the runtime, woken by `ticker`.
    #[cfg(target_os = "linux")]
    pub async fn run_on(mut self, s: &Shared, ticker: super::ticker::Ticker) -> usize {
        let mut woke = Instant::now();
        while let Some(wake) = self.step(s, &mut woke) {
            if ticker.sleep_until(wake).await.is_err() {
                // A timer that cannot be read: sleep on the runtime's own timer, late
                // rather than never.
                tokio::time::sleep_until(wake).await;
            }
        }
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_counts_ticks_at_or_before_now_and_stops_at_the_total() {
        let start = Instant::now();
        let s = Schedule::new(start, 1000.0, 5);
        assert_eq!(s.due(start), 1, "tick 0 is due at the start");
        assert_eq!(s.due(start + Duration::from_micros(999)), 1);
        assert_eq!(s.due(start + Duration::from_millis(1)), 2);
        assert_eq!(s.due(start + Duration::from_millis(3)), 4);
        assert_eq!(s.due(start + Duration::from_secs(9)), 5);
        assert_eq!(s.at(3), start + Duration::from_millis(3));
        // Whatever the rounding, tick i is due exactly from its own time.
        let odd = Schedule::new(start, 3.0 * 7.0 * 13.0, 10_000);
        for i in 0..10_000 {
            assert_eq!(odd.due(odd.at(i)), i + 1, "tick {i}");
        }
    }

    #[test]
    fn a_share_sends_its_ticks_at_the_whole_schedules_times() {
        let start = Instant::now();
        let whole = Schedule::new(start, 3.0 * 7.0 * 13.0, 1_000);
        for index in 1..=3 {
            let share = super::super::share::Share { index, of: 3 };
            let part = whole.share(share);
            assert_eq!(part.total, share.ticks_of(1_000));
            for i in 0..part.total {
                let exact = whole.at(share.tick(i));
                let d = part.at(i).max(exact) - part.at(i).min(exact);
                assert!(
                    d <= Duration::from_nanos(2),
                    "share {share}, tick {i}: {d:?}"
                );
            }
        }
    }
}
