//! `GET /health` (liveness) and `GET /ready` (readiness).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    if state.config.unhealthy {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy (UNHEALTHY fault)\n",
        )
    } else {
        (StatusCode::OK, "ok\n")
    }
}

pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    if state.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
