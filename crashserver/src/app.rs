//! The router: routes, the 404 fallback, and the layer that stamps `X-Instance` on every
//! response and counts it in the metrics.

use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::routes::{chaos, crash, page, probes, scrape};
use crate::state::AppState;

pub use crashlab_common::headers::{X_INSTANCE, X_VERSION};

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/status", get(crash::status))
        .route("/kill", get(crash::kill))
        .route("/chaos", get(chaos::order))
        .route("/health", get(probes::health))
        .route("/ready", get(probes::ready))
        .route("/metrics", get(scrape::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            stamp_and_count,
        ))
        .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, "not found\n")
}

/// The `method` label: a standard method by name, anything else `other`, so that clients
/// cannot grow the metrics with methods of their own invention.
fn method_label(m: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == m.as_str())
        .unwrap_or("other")
}

async fn stamp_and_count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let started = Instant::now();
    let arrived = state.config.access_log.then(std::time::SystemTime::now);
    state.metrics.in_flight.inc();
    let mut res = next.run(req).await;
    state.metrics.in_flight.dec();
    state.served.fetch_add(1, Ordering::Relaxed);
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state
        .metrics
        .requests
        .with_label_values(&[route, method_label(&method), res.status().as_str()])
        .inc();
    state
        .metrics
        .duration
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    if let Some(at) = arrived {
        log_access(at, started, &method, route, res.status());
    }
    let headers = res.headers_mut();
    if let Some(v) = &state.instance_header {
        headers.insert(X_INSTANCE, v.clone());
    }
    if let Some(v) = &state.version_header {
        headers.insert(X_VERSION, v.clone());
    }
    res
}

/// One line of the access log (`ACCESS_LOG`): arrival on the wall clock to the microsecond
/// and the answer's time, so that a test can count and place what this replica served.
fn log_access(
    arrived: std::time::SystemTime,
    started: Instant,
    method: &Method,
    route: &str,
    status: StatusCode,
) {
    let at_us = arrived
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let took_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::info!(
        at_us,
        took_us,
        method = method_label(method),
        route,
        status = status.as_u16(),
        "request"
    );
}
