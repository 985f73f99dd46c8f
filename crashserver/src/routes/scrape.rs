//! `GET /metrics`: Prometheus text exposition.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state
        .metrics
        .uptime
        .set(state.identity.started.elapsed().as_secs_f64());
    let shown = state.chaos.shown();
    for k in crate::chaos::Kind::ALL {
        let on = shown.iter().any(|s| s.fault == k);
        state
            .metrics
            .chaos_active
            .with_label_values(&[k.name()])
            .set(i64::from(on));
    }
    state.metrics.chaos_leaked.set(
        state
            .chaos
            .leaked
            .load(std::sync::atomic::Ordering::Relaxed) as i64,
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
