//! `GET /health` (liveness) and `GET /ready` (readiness).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    if let Some(hung) = crate::faults::hang(&state).await {
        return hung;
    }
    if state.config.unhealthy {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy (UNHEALTHY fault)\n",
        )
            .into_response()
    } else if state.chaos.get(crate::chaos::Kind::Unhealthy).is_some() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy (chaos unhealthy)\n",
        )
            .into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

pub async fn ready(State(state): State<AppState>) -> Response {
    if let Some(hung) = crate::faults::hang(&state).await {
        return hung;
    }
    if state.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}
