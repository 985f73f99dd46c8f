//! One HTTP/1.1 exchange on a worker's own connection: resolve and connect when needed
//! (afresh each time: no DNS cache), send, read the whole answer, classify it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Shared;
use crate::record::instances::InstanceStats;
use crate::record::Class;

pub const X_INSTANCE: &str = "x-instance";
pub const X_VERSION: &str = "x-version";

/// Where an exchange is, so a timeout can be told apart: still resolving the name (dns) or
/// connecting and exchanging (timeout).
pub const PHASE_RESOLVE: u8 = 0;
pub const PHASE_EXCHANGE: u8 = 1;
const AGENT: &str = concat!("chaos-runner/", env!("CARGO_PKG_VERSION"));

#[derive(Debug)]
pub struct Conn {
    sender: SendRequest<Empty<Bytes>>,
    created: Instant,
    /// The last X-Instance value seen here and its index (a connection mostly talks to one replica).
    last_instance: Option<(Bytes, u32, Arc<InstanceStats>)>,
}

async fn connect(s: &Shared, phase: &AtomicU8) -> Result<Conn, Class> {
    phase.store(PHASE_RESOLVE, Ordering::Relaxed);
    let addr = s.target.pick().await.map_err(|_| Class::Dns)?;
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
        created: Instant::now(),
        last_instance: None,
    })
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
        .is_some_and(|c| !c.sender.is_closed() && c.created.elapsed() < s.plan.recycle);
    if !reusable {
        *slot = None;
        match connect(s, phase).await {
            Ok(c) => *slot = Some(c),
            Err(class) => return (class, None),
        }
    }
    let conn = slot.as_mut().expect("connected above");
    if let Err(e) = conn.sender.ready().await {
        *slot = None;
        return (Class::from_hyper(&e), None);
    }
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(s.target.path.as_str())
        .header(HOST, s.target.authority.as_str())
        .header(USER_AGENT, AGENT);
    if !s.plan.keepalive {
        req = req.header(CONNECTION, "close");
    }
    for (k, v) in &s.plan.headers {
        req = req.header(k, v);
    }
    let req = req.body(Empty::new()).expect("request parts are valid");
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
                stats.count(class.is_ok());
                *i
            }
            _ => {
                let version = res
                    .headers()
                    .get(X_VERSION)
                    .map_or(&b""[..], |v| v.as_bytes());
                let (i, stats) = s.instances.intern(bytes, version, at_us);
                stats.count(class.is_ok());
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
