//! `GET /`: the lecture's page ("This page is served from: <id>"), or JSON on request.

use crashlab_common::html::escape;
use std::fmt::Write as _;
use std::time::SystemTime;

use tokio::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Json, Response};
use serde::Serialize;

use crate::faults;
use crate::state::AppState;

#[derive(Debug, Serialize)]
pub struct InstanceInfo {
    pub instance_id: String,
    pub hostname: String,
    pub pid: u32,
    pub version: String,
    pub started_at: String,
    pub uptime_s: f64,
    pub requests_served: u64,
    /// When the armed crash will happen (RFC 3339), if `/status` armed one.
    pub crash_armed_at: Option<String>,
    /// Seconds left until the armed crash.
    pub crash_in_s: Option<f64>,
    /// Faults switched on by `GET /chaos` and in force now.
    pub chaos: Vec<crate::chaos::Shown>,
}

impl InstanceInfo {
    pub fn of(state: &AppState) -> Self {
        let id = &state.identity;
        let armed = state.armed();
        Self {
            instance_id: id.instance_id.clone(),
            hostname: id.hostname.clone(),
            pid: id.pid,
            version: id.version.clone(),
            started_at: rfc3339(id.started_at),
            uptime_s: id.started.elapsed().as_secs_f64(),
            requests_served: state.served.load(std::sync::atomic::Ordering::Relaxed),
            crash_armed_at: armed.map(|a| rfc3339(a.at_wall)),
            crash_in_s: armed.map(|a| a.at.saturating_duration_since(Instant::now()).as_secs_f64()),
            chaos: state.chaos.shown(),
        }
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// The page or JSON body describing this replica; `note` is an extra line for the page.
pub fn describe(state: &AppState, headers: &HeaderMap, note: Option<&str>) -> Response {
    if wants_json(headers) {
        return Json(InstanceInfo::of(state)).into_response();
    }
    let id = &state.identity;
    let mut body = String::with_capacity(320);
    let _ = write!(
        body,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>crashserver {id}</title></head>\n<body>\n\
<h1>This page is served from: {id}</h1>\n<p>version {ver}, pid {pid}, up {up:.1} s, {n} requests served</p>\n",
        id = escape(&id.instance_id),
        ver = escape(&id.version),
        pid = id.pid,
        up = id.started.elapsed().as_secs_f64(),
        n = state.served.load(std::sync::atomic::Ordering::Relaxed),
    );
    if let Some(armed) = state.armed() {
        let left = armed.at.saturating_duration_since(Instant::now());
        let _ = writeln!(
            body,
            "<p><strong>This server will die in {:.1} s.</strong></p>",
            left.as_secs_f64()
        );
    }
    for c in state.chaos.shown() {
        let _ = writeln!(
            body,
            "<p><strong>Chaos in force: {}</strong> (until {}, {:.1} s left).</p>",
            escape(&c.what),
            escape(&c.until),
            c.left_s
        );
    }
    if let Some(note) = note {
        let _ = writeln!(body, "<p>{}</p>", escape(note));
    }
    body.push_str("</body></html>\n");
    Html(body).into_response()
}

pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(injected) = faults::apply(&state).await {
        return injected;
    }
    describe(&state, &headers, None)
}
