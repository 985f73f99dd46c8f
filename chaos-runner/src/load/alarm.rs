//! A worker's one timer for its exchanges' two limits: past `stuck_at` the exchange counts
//! as stuck (the open loop may add workers), past `deadline` it has timed out. The timer is
//! set again only when it has gone off: most exchanges end long before it, so they neither
//! insert nor remove a timer (a timer per exchange cost about 2 % of the client's CPU).

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::time::{Instant, Sleep};

#[derive(Debug)]
pub struct Alarm {
    sleep: Pin<Box<Sleep>>,
    /// Whether `sleep` is set to go off no later than the limit now watched. It never is
    /// later: limits only move forward while an exchange is prompt.
    armed: bool,
}

impl Alarm {
    /// Needs the runtime's timer: make it on the runtime.
    pub fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: false,
        }
    }

    /// Awaits `fut` until `deadline` (`None` past it). While it has waited past `stuck_at`
    /// it counts in `stuck`.
    pub async fn limit<F: Future>(
        &mut self,
        fut: F,
        stuck_at: Instant,
        deadline: Instant,
        stuck: &AtomicUsize,
    ) -> Option<F::Output> {
        let mut fut = pin!(fut);
        let mut is_stuck = false;
        let out = loop {
            if !self.armed {
                let next = if is_stuck { deadline } else { stuck_at };
                self.sleep.as_mut().reset(next);
                self.armed = true;
            }
            tokio::select! {
                biased;
                v = &mut fut => break Some(v),
                () = self.sleep.as_mut() => {
                    self.armed = false;
                    let now = Instant::now();
                    if !is_stuck && now >= stuck_at {
                        is_stuck = true;
                        stuck.fetch_add(1, Ordering::AcqRel);
                    }
                    if now >= deadline {
                        break None;
                    }
                }
            }
        };
        if is_stuck {
            stuck.fetch_sub(1, Ordering::AcqRel);
            // Set for this exchange's deadline: too late for the next one's limits.
            self.armed = false;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn counts_stuck_past_the_first_limit_and_gives_up_at_the_deadline() {
        let stuck = AtomicUsize::new(0);
        let mut alarm = Alarm::new();
        let ms = Duration::from_millis;
        // Prompt: done before either limit; nothing counted.
        let t = Instant::now();
        let r = alarm
            .limit(tokio::time::sleep(ms(10)), t + ms(50), t + ms(100), &stuck)
            .await;
        assert_eq!(r, Some(()));
        assert_eq!(stuck.load(Ordering::Relaxed), 0);
        // Slow: stuck while past 50 ms, answered before the deadline.
        let t = Instant::now();
        let watch = async {
            tokio::time::sleep(ms(70)).await;
            stuck.load(Ordering::Relaxed)
        };
        let r = alarm.limit(watch, t + ms(50), t + ms(100), &stuck).await;
        assert_eq!(r, Some(1), "counted as stuck while waiting");
        assert_eq!(
            stuck.load(Ordering::Relaxed),
            0,
            "and no longer once answered"
        );
        // Hung: gives up at the deadline, not before.
        let t = Instant::now();
        let r = alarm
            .limit(
                std::future::pending::<()>(),
                t + ms(50),
                t + ms(100),
                &stuck,
            )
            .await;
        assert_eq!(r, None);
        assert_eq!(Instant::now(), t + ms(100));
        assert_eq!(stuck.load(Ordering::Relaxed), 0);
        // The next prompt exchange still gets its own limits after a stuck one.
        let t = Instant::now();
        let r = alarm
            .limit(std::future::pending::<()>(), t + ms(5), t + ms(20), &stuck)
            .await;
        assert_eq!((r, Instant::now()), (None, t + ms(20)));
    }
}
