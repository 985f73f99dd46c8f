//! `GET /chaos`: switch faults on for a while (slow, errors, hang, unhealthy, leak), or
//! clear them. Off unless `KILL_TOKEN` is set, and then it needs the token, like `/kill`.
//! Each order is logged with when its faults are in force, to the microsecond.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};

use crate::chaos::{Fault, Kind, Order};
use crate::routes::crash::{authorised, forbidden};
use crate::state::AppState;

pub async fn order(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if state
        .config
        .kill_token
        .as_deref()
        .map_or(true, str::is_empty)
    {
        return (
            StatusCode::NOT_FOUND,
            "/chaos is off: it needs KILL_TOKEN to be set\n",
        )
            .into_response();
    }
    let map = query.iter().cloned().collect();
    if !authorised(&state, &headers, &map) {
        return forbidden();
    }
    let order = match Order::parse(query.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(o) => o,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("/chaos: {e}\n")).into_response(),
    };
    let now = std::time::SystemTime::now();
    let in_force = state.chaos.order(&order);
    for f in &order.faults {
        tracing::warn!(
            fault = f.kind().name(),
            from = %humantime::format_rfc3339_micros(now),
            until = %humantime::format_rfc3339_micros(now + order.duration),
            "chaos in force"
        );
        if matches!(f, Fault::Leak { .. }) {
            leak(&state);
        }
    }
    if order.clear {
        tracing::warn!("chaos cleared");
    }
    Json(serde_json::json!({ "in_force": in_force })).into_response()
}

/// Takes memory a tenth of a second at a time, at the rate of the leak in force, up to its
/// limit (a container's memory limit, if lower, ends the process first); one task at most.
fn leak(state: &AppState) {
    if !state.chaos.start_leaking() {
        return;
    }
    let state = state.clone();
    state.timers().spawn({
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while let Some(Fault::Leak { mib_per_s, max_mib }) = state.chaos.get(Kind::Leak) {
                tick.tick().await;
                let step = (mib_per_s << 20) as usize / 10;
                if !state.chaos.leak(step, max_mib << 20) {
                    tracing::warn!(leaked_mib = max_mib, "chaos leak reached its limit");
                    break;
                }
            }
            state.chaos.stop_leaking();
        }
    });
}
