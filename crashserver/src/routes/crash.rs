//! `GET /status` (answer, then crash CRASH_DELAY later) and `GET /kill` (crash now),
//! both behind KILL_TOKEN when it is set.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::crash::CrashCause;
use crate::faults::{self, CRASH_AFTER_ANSWER};
use crate::routes::page::describe;
use crate::state::AppState;

/// Checks KILL_TOKEN: `Authorization: Bearer <token>` or `?token=<token>`.
pub(crate) fn authorised(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> bool {
    let Some(expected) = state.config.kill_token.as_deref().filter(|t| !t.is_empty()) else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let given = bearer.or(query.get("token").map(String::as_str));
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "forbidden: this endpoint needs the KILL_TOKEN (Authorization: Bearer or ?token=)\n",
    )
        .into_response()
}

pub async fn status(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&state, &headers, &query) {
        return forbidden();
    }
    if let Some(injected) = faults::apply(&state).await {
        return injected;
    }
    let (armed, fresh) = state.arm(state.config.crash_delay);
    if fresh {
        // `crash_at`: when the countdown ends, on the wall clock and to the microsecond like
        // the log's own timestamps, so a reader (or a test) can tell how late the crash came.
        tracing::warn!(
            delay = ?state.config.crash_delay,
            crash_at = %humantime::format_rfc3339_micros(armed.at_wall),
            "crash armed by GET /status"
        );
        state.crash_at(CrashCause::StatusCountdown, armed.at);
    }
    let note = if fresh {
        "Crash armed by this request."
    } else {
        "Crash was already armed; its time is unchanged."
    };
    describe(&state, &headers, Some(note))
}

pub async fn kill(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&state, &headers, &query) {
        return forbidden();
    }
    state.crash_soon(CrashCause::Kill, CRASH_AFTER_ANSWER);
    format!(
        "killed {}: exiting with code {} now\n",
        state.identity.instance_id, state.config.exit_code
    )
    .into_response()
}
