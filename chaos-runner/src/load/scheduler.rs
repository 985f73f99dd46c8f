//! The open loop's clock: hands out intended send times at a constant global rate. It runs
//! on its own OS thread, whose sleeps are precise to tens of microseconds (the async timer
//! wheel ticks in whole milliseconds). A tick that finds every worker busy and the queue
//! full is dropped, and counted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_channel::{Sender, TrySendError};
use tokio::time::Instant;

use super::Shared;
use crate::record::{Live, Recorder};

/// Longest single sleep, so an interruption is noticed quickly even at low rates.
const MAX_NAP: Duration = Duration::from_millis(20);

pub fn schedule(
    s: Arc<Shared>,
    tx: Sender<Instant>,
    rate: f64,
    total: u64,
    rec: Arc<Mutex<Recorder>>,
) {
    let period_ns = 1e9 / rate;
    for i in 0..total {
        let t = s.start + Duration::from_nanos((i as f64 * period_ns) as u64);
        loop {
            let now = Instant::now();
            if now >= t || s.is_interrupted() {
                break;
            }
            std::thread::sleep((t - now).min(MAX_NAP));
        }
        if s.is_interrupted() {
            break;
        }
        match tx.try_send(t) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                rec.lock()
                    .expect("recorder lock")
                    .record_dropped(s.offset_us(t));
                Live::bump(&s.live.dropped);
            }
            Err(TrySendError::Closed(_)) => break,
        }
    }
}
