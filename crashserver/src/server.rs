//! Serving: `run(listener, state, shutdown)` serves until `shutdown` resolves, then turns
//! not-ready, stops accepting and drains in-flight requests for at most the grace period.

use std::future::{Future, IntoFuture};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

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

/// Serves `listener` until `stop` resolves, then stops accepting and drains in-flight
/// requests for at most the grace period. (`run` also turns the state not-ready; with
/// several listeners one `run` does that and the others only serve.)
pub async fn serve_listener(
    listener: TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<Drain> {
    let grace = state.config.shutdown_grace;
    let (began_tx, began_rx) = oneshot::channel::<()>();
    let signal = async move {
        stop.await;
        let _ = began_tx.send(());
    };
    let serve = axum::serve(listener, crate::app(state)).with_graceful_shutdown(signal);
    let deadline = async move {
        if began_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        res = serve.into_future() => { res?; Ok(Drain::Complete) }
        _ = deadline => {
            tracing::warn!(?grace, "grace period over with requests still in flight; exiting anyway");
            Ok(Drain::TimedOut)
        }
    }
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
