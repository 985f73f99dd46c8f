//! One HTTP/1.1 exchange on a worker's own connection: resolve and connect when needed
//! (afresh each time: no DNS cache), send, read the whole answer, classify it.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::CONNECTION;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{LoadPlan, Shared};
use crate::record::instances::InstanceStats;
use crate::record::Class;
use crate::target::Target;

use crashlab_common::headers::{X_INSTANCE, X_VERSION};

/// Where an exchange is, so a timeout can be told apart: still resolving the name (dns) or
/// connecting and exchanging (timeout).
pub const PHASE_RESOLVE: u8 = 0;
pub const PHASE_EXCHANGE: u8 = 1;

#[derive(Debug)]
pub struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    /// When to close and re-resolve (keep-alive recycling).
    expires: Instant,
    /// The last X-Instance value seen here and its index (a connection mostly talks to one replica).
    last_instance: Option<(Bytes, u32, Arc<InstanceStats>)>,
}

/// A connection's life: `recycle` spread by ±25 % over successive connections (a
/// low-discrepancy sequence), so connections opened together do not all expire together.
fn life(recycle: Duration) -> Duration {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    let spread = (n as f64 * 0.618_033_988_75).fract();
    recycle.mul_f64(0.75 + 0.5 * spread)
}

async fn connect(target: &Target, recycle: Duration, phase: &AtomicU8) -> Result<Conn, Class> {
    phase.store(PHASE_RESOLVE, Ordering::Relaxed);
    let addr = target.pick().await.map_err(|_| Class::Dns)?;
    phase.store(PHASE_EXCHANGE, Ordering::Relaxed);
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Class::from_io(&e))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Class::from_hyper(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Conn {
        sender,
        expires: Instant::now() + life(recycle),
        last_instance: None,
    })
}

/// Opens the workers' keep-alive connections before the clock starts (as wrk does), so the
/// first second measures the service rather than a burst of connection set-ups. Gives up
/// after the request timeout; a worker left without a connection opens one when it first
/// sends, as it does after a failure. Nothing to open without keep-alive.
pub async fn warm_up(target: &Arc<Target>, plan: &LoadPlan) -> Vec<Conn> {
    if !plan.keepalive {
        return Vec::new();
    }
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..plan.connections.max(1) {
        let target = target.clone();
        let recycle = plan.recycle;
        set.spawn(async move { connect(&target, recycle, &AtomicU8::new(PHASE_RESOLVE)).await });
    }
    let mut conns = Vec::with_capacity(plan.connections);
    let _ = tokio::time::timeout(plan.timeout, async {
        while let Some(r) = set.join_next().await {
            if let Ok(Ok(c)) = r {
                conns.push(c);
            }
        }
    })
    .await;
    conns
}

/// Sends one request; `slot` holds the worker's connection between calls. Returns the
/// outcome and the index of the replica that answered (when it sent X-Instance).
pub async fn exchange(
    s: &Shared,
    slot: &mut Option<Conn>,
    at_us: u64,
    phase: &AtomicU8,
) -> (Class, Option<u32>) {
    phase.store(PHASE_EXCHANGE, Ordering::Relaxed);
    let reusable = slot
        .as_ref()
        .is_some_and(|c| !c.sender.is_closed() && Instant::now() < c.expires);
    if !reusable {
        *slot = None;
        match connect(&s.target, s.plan.recycle, phase).await {
            Ok(c) => *slot = Some(c),
            Err(class) => return (class, None),
        }
    }
    let conn = slot.as_mut().expect("connected above");
    if let Err(e) = conn.sender.ready().await {
        *slot = None;
        return (Class::from_hyper(&e), None);
    }
    let req = s.request.request();
    let res = match conn.sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => {
            *slot = None;
            return (Class::from_hyper(&e), None);
        }
    };
    let class = Class::from_status(res.status().as_u16());
    let close = !s.plan.keepalive
        || res
            .headers()
            .get(CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let instance = res.headers().get(X_INSTANCE).map(|v| {
        let bytes = v.as_bytes();
        match &conn.last_instance {
            Some((b, i, stats)) if b.as_ref() == bytes => {
                stats.count(class.is_ok(), at_us);
                *i
            }
            _ => {
                let version = res
                    .headers()
                    .get(X_VERSION)
                    .map_or(&b""[..], |v| v.as_bytes());
                let (i, stats) = s.instances.intern(bytes, version, at_us);
                stats.count(class.is_ok(), at_us);
                conn.last_instance = Some((Bytes::copy_from_slice(bytes), i, stats));
                i
            }
        }
    });
    let mut body = res.into_body();
    while let Some(frame) = body.frame().await {
        if let Err(e) = frame {
            *slot = None;
            return (Class::from_hyper(&e), instance);
        }
    }
    if close {
        *slot = None;
    }
    (class, instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_together_do_not_expire_together() {
        let recycle = Duration::from_secs(1);
        let lives: Vec<Duration> = (0..64).map(|_| life(recycle)).collect();
        let min = lives.iter().min().unwrap();
        let max = lives.iter().max().unwrap();
        assert!(*min >= recycle.mul_f64(0.75) && *max <= recycle.mul_f64(1.25));
        assert!(
            *max - *min >= Duration::from_millis(400),
            "{min:?}..{max:?}"
        );
        let mean = lives.iter().sum::<Duration>() / 64;
        assert!(
            mean.abs_diff(recycle) < Duration::from_millis(50),
            "{mean:?}"
        );
    }
}
