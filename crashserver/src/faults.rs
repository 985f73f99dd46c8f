//! Injected faults on the application routes: latency, jitter, error rate, crash after N
//! (from the configuration), and those `GET /chaos` switched on for a while.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::crash::CrashCause;
use crate::state::AppState;

/// How long after answering a `--crash-after` request (or `/kill`) the process ends.
pub const CRASH_AFTER_ANSWER: Duration = Duration::from_millis(10);

/// Applies the configured faults to one application request. Returns `Some(response)`
/// when the request must be answered with an injected error instead of normally.
pub async fn apply(state: &AppState) -> Option<Response> {
    let n = state
        .app_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let cfg = &state.config;
    let random = !cfg.latency_jitter.is_zero() || cfg.error_rate > 0.0;
    let (jitter, fail) = if !random {
        (Duration::ZERO, false)
    } else {
        let mut rng = state.rng.lock().expect("rng lock");
        let jitter = if cfg.latency_jitter.is_zero() {
            Duration::ZERO
        } else {
            cfg.latency_jitter.mul_f64(rng.random::<f64>())
        };
        let fail = cfg.error_rate > 0.0 && rng.random::<f64>() < cfg.error_rate;
        (jitter, fail)
    };
    let delay = cfg.latency + jitter;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(limit) = cfg.crash_after {
        if n == limit {
            state.crash_soon(CrashCause::CrashAfter(limit), CRASH_AFTER_ANSWER);
        }
    }
    if fail {
        return Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "injected error (ERROR_RATE fault)\n",
            )
                .into_response(),
        );
    }
    chaos(state).await
}

/// The faults `GET /chaos` switched on, on one application request.
async fn chaos(state: &AppState) -> Option<Response> {
    use crate::chaos::{Fault, Kind};
    if let Some(hung) = hang(state).await {
        return Some(hung);
    }
    if let Some(Fault::Slow { latency, jitter }) = state.chaos.get(Kind::Slow) {
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            jitter.mul_f64(state.rng.lock().expect("rng lock").random::<f64>())
        };
        tokio::time::sleep(latency + extra).await;
    }
    if let Some(Fault::Errors { rate }) = state.chaos.get(Kind::Errors) {
        if state.rng.lock().expect("rng lock").random::<f64>() < rate {
            return Some(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "injected error (chaos errors)\n",
                )
                    .into_response(),
            );
        }
    }
    None
}

/// While a hang is in force, the request gets nothing until it ends (a client gives up
/// first), then 503.
pub async fn hang(state: &AppState) -> Option<Response> {
    let until = state.chaos.until(crate::chaos::Kind::Hang)?;
    tokio::time::sleep_until(until).await;
    Some(
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "hung (chaos hang); answered as it ended\n",
        )
            .into_response(),
    )
}
