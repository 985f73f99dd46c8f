//! Serving: `run(listener, state, shutdown)` serves until `shutdown` resolves, then turns
//! not-ready, stops accepting and drains in-flight requests for at most the grace period.

use std::future::Future;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::state::AppState;

/// How a server run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every in-flight request finished within the grace period.
    Complete,
    /// The grace period ran out with requests still in flight.
    TimedOut,
}

pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Drain> {
    let grace = state.config.shutdown_grace;
    let st = state.clone();
    let signal = async move {
        shutdown.await;
        st.begin_shutdown();
        tracing::info!(
            ?grace,
            "shutdown requested: not ready, draining in-flight requests"
        );
    };
    serve_listener(listener, state, signal).await
}

/// Largest request head a connection may send (hyper's buffer for it). A longer head is
/// answered 431 and the connection closed, so no client can hold much memory.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Serves `listener` until `stop` resolves, then stops accepting and drains in-flight
/// requests for at most the grace period. (`run` also turns the state not-ready; with
/// several listeners one `run` does that and the others only serve.) Every connection must
/// send each request head within `HEADER_TIMEOUT` (of opening, or of its previous answer)
/// and in at most [`MAX_HEAD_BYTES`]; at most `MAX_CONNECTIONS` are open over all threads,
/// the rest wait in the listen backlog.
pub async fn serve_listener(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Drain> {
    let grace = state.config.shutdown_grace;
    let slots = state.connection_slots.clone();
    let app = crate::app(state.clone());
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(state.config.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the connection semaphore is never closed"),
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    // When this thread stopped taking connections: the socket refuses once every thread has.
    tracing::info!(connections = graceful.count(), "stopped accepting");
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => Ok(Drain::Complete),
        Err(_) => {
            tracing::warn!(
                ?grace,
                "grace period over with requests still in flight; exiting anyway"
            );
            Ok(Drain::TimedOut)
        }
    }
}

/// An accept that failed: a connection that went away before it was taken is nothing; out
/// of file descriptors (or the like) waits a moment rather than spin.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!("accept failed: {e}; retrying in 100 ms");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn termination_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = name, "termination signal received");
}
