//! The open loop's wake-ups on Linux: a `timerfd` watched by the runtime's own event loop.
//! It is as precise as a sleeping thread (tens of microseconds; the runtime's timer wheel
//! ticks in whole milliseconds) without a thread of its own: the pacer runs as a task
//! beside the workers, so releasing a batch of ticks wakes them on the same thread instead
//! of switching threads twice per batch (measured on 2 cores: the pacer thread and its
//! context switches took about a fifth of the client's CPU at 85,000 requests/s).

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::Instant;

/// A one-shot timer on the monotonic clock (the clock `Instant` reads), re-armed per wait.
#[derive(Debug)]
pub struct Ticker {
    fd: AsyncFd<OwnedFd>,
}

impl Ticker {
    /// Needs a running tokio runtime with I/O enabled. The crate's one `unsafe`: tokio's
    /// registration of a raw descriptor, given one that an `OwnedFd` keeps open.
    #[allow(unsafe_code)]
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: an `OwnedFd` stays open, and names the same timer, for as long as the
        // `AsyncFd` owns it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    /// Resolves at `when` (at once when it has passed).
    pub async fn sleep_until(&self, when: Instant) -> io::Result<()> {
        let wait = when.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        self.arm(wait)?;
        loop {
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match ready.try_io(|fd| {
                rustix::io::read(fd.get_ref(), &mut expirations).map_err(io::Error::from)
            }) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                // Readiness was stale: wait again.
                Err(_would_block) => continue,
            }
        }
    }

    fn arm(&self, wait: Duration) -> io::Result<()> {
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let value = Timespec {
            tv_sec: wait.as_secs() as _,
            tv_nsec: wait.subsec_nanos() as _,
        };
        timerfd_settime(
            self.fd.get_ref(),
            TimerfdTimerFlags::empty(),
            &Itimerspec {
                it_interval: zero,
                it_value: value,
            },
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_at_its_time_never_before_and_at_once_for_the_past() {
        // How precise it is, is a benchmark's business (send lateness in benchmarks.md).
        let t = Ticker::new().unwrap();
        for _ in 0..20 {
            let when = Instant::now() + Duration::from_micros(300);
            t.sleep_until(when).await.unwrap();
            assert!(Instant::now() >= when, "woke early");
        }
        let past = Instant::now() - Duration::from_millis(5);
        tokio::time::timeout(Duration::from_secs(1), t.sleep_until(past))
            .await
            .expect("a time in the past does not wait")
            .unwrap();
    }
}
