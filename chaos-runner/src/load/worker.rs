//! A worker: one connection at a time, one request at a time, every attempt recorded once.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use std::sync::atomic::{AtomicU8, Ordering};

use super::conn::{exchange, Conn, PHASE_RESOLVE};
use super::Shared;
use crate::record::{Attempt, Class, Live, Recorder};

pub async fn worker(
    s: Arc<Shared>,
    ticks: Option<async_channel::Receiver<Instant>>,
    rec: Arc<Mutex<Recorder>>,
    mut slot: Option<Conn>,
) {
    loop {
        let intended = match &ticks {
            Some(rx) => match rx.recv().await {
                Ok(t) => t,
                Err(_) => break,
            },
            None => {
                if !s.take_ticket() {
                    break;
                }
                Instant::now()
            }
        };
        let intended_us = s.offset_us(intended);
        if s.is_interrupted() {
            // Scheduled but never sent: interrupted runs count the queue as dropped.
            rec.lock()
                .expect("recorder lock")
                .record_dropped(intended_us);
            Live::bump(&s.live.dropped);
            continue;
        }
        let sent = Instant::now();
        let phase = AtomicU8::new(PHASE_RESOLVE);
        let attempt = exchange(&s, &mut slot, intended_us, &phase);
        let (class, instance) = match tokio::time::timeout(s.plan.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => {
                slot = None;
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
        if s.plan.recording {
            rec.lock().expect("recorder lock").record(&attempt);
        } else {
            rec.lock().expect("recorder lock").count(&attempt);
        }
        Live::bump(&s.live.sent);
        Live::bump(if class.is_ok() {
            &s.live.ok
        } else {
            &s.live.failed
        });
    }
}
