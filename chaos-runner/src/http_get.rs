//! One request on a fresh connection, for fault requests (`/kill`), `probe`, the node
//! agent and a gatherer: the status and `X-Instance` (or the body's text), with at most [`MAX_BODY`] of the
//! body read, whatever the peer sends.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
pub use hyper::Method;
use hyper::Request;
use hyper_util::rt::TokioIo;

/// The most of an answer's body that is read (the rest is dropped with the connection).
pub const MAX_BODY: usize = 64 * 1024;

/// The longest `X-Instance` kept.
const MAX_ID: usize = 128;

/// GETs `path` from `addr` (Host `host`), with `token` as a Bearer token; gives up after
/// `timeout`. Returns the status and the replica's `X-Instance`.
pub async fn get_once(
    addr: SocketAddr,
    host: &str,
    path: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(u16, Option<String>), String> {
    let a = once(Method::GET, addr, host, path, token, Bytes::new(), timeout).await?;
    Ok((a.status, a.instance))
}

/// POSTs an empty body to `path` (a node agent's action); the status and the answer's text.
pub async fn post_once(
    addr: SocketAddr,
    host: &str,
    path: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let a = once(Method::POST, addr, host, path, token, Bytes::new(), timeout).await?;
    Ok((a.status, String::from_utf8_lossy(&a.body).into_owned()))
}

/// A gatherer's answer: its status, text and clock (`X-Gatherer-Time-Us`, µs since the Unix
/// epoch when it answered), and whether it asks its senders to stop (`X-Gatherer-Stop`).
pub struct Reply {
    pub status: u16,
    pub text: String,
    pub clock_us: Option<i64>,
    pub stop: bool,
}

/// `method` with `body` to a gatherer's `path`.
pub async fn to_gatherer(
    method: Method,
    addr: SocketAddr,
    host: &str,
    path: &str,
    token: &str,
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, String> {
    let a = once(method, addr, host, path, Some(token), body, timeout).await?;
    Ok(Reply {
        status: a.status,
        text: String::from_utf8_lossy(&a.body).into_owned(),
        clock_us: a.clock_us,
        stop: a.stop,
    })
}

struct Answer {
    status: u16,
    instance: Option<String>,
    clock_us: Option<i64>,
    stop: bool,
    body: Bytes,
}

async fn once(
    method: Method,
    addr: SocketAddr,
    host: &str,
    path: &str,
    token: Option<&str>,
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, String> {
    let work = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("connection", "close");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = sender
            .send_request(req.body(Full::new(body)).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let instance = res
            .headers()
            .get("x-instance")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(MAX_ID).collect());
        let clock_us = res
            .headers()
            .get("x-gatherer-time-us")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let stop = res.headers().contains_key(crate::stream::STOP_HEADER);
        // Read what the server sends up to the limit; an endless body is cut off there.
        let body = Limited::new(res.into_body(), MAX_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok(Answer {
            status,
            instance,
            clock_us,
            stop,
            body,
        })
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}
