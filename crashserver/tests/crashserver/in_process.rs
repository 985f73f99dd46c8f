//! In-process router tests (`oneshot`) with a crasher that records instead of exiting,
//! and paused tokio time for the countdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use crashserver::crash::{CrashCause, Crasher};
use crashserver::{app, AppState, Config};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn recording_state(config: Config) -> (AppState, Arc<Mutex<Vec<CrashCause>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let crasher: Crasher = Arc::new(move |cause| sink.lock().unwrap().push(cause));
    (AppState::new(config, crasher), seen)
}

async fn call(state: &AppState, path: &str, accept_json: bool) -> (StatusCode, String) {
    let mut req = Request::get(path);
    if accept_json {
        req = req.header("accept", "application/json");
    }
    let res = app(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(start_paused = true)]
async fn status_countdown_fires_exactly_after_crash_delay() {
    let (state, seen) = recording_state(Config::defaults());
    let (code, _) = call(&state, "/status", false).await;
    assert_eq!(code, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2999)).await;
    assert!(seen.lock().unwrap().is_empty(), "crashed before 3 s");
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(*seen.lock().unwrap(), vec![CrashCause::StatusCountdown]);
}

#[tokio::test(start_paused = true)]
async fn second_status_call_does_not_rearm() {
    let (state, seen) = recording_state(Config::defaults());
    call(&state, "/status", false).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, body) = call(&state, "/status", true).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["crash_in_s"].as_f64().unwrap() <= 1.0);
    tokio::time::sleep(Duration::from_millis(1001)).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "exactly one crash");
}

#[tokio::test]
async fn root_serves_html_or_json_by_accept() {
    let (state, seen) = recording_state(Config::defaults());
    let (code, html) = call(&state, "/", false).await;
    assert_eq!(code, StatusCode::OK);
    assert!(html.contains(&format!(
        "This page is served from: {}",
        state.identity.instance_id
    )));
    let (_, json) = call(&state, "/", true).await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "instance_id",
        "hostname",
        "pid",
        "version",
        "started_at",
        "uptime_s",
        "requests_served",
        "crash_armed_at",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {json}");
    }
    assert!(v["crash_armed_at"].is_null());
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn kill_hands_kill_to_the_crasher() {
    let (state, seen) = recording_state(Config::defaults());
    let (code, body) = call(&state, "/kill", false).await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.contains("exiting with code 1"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*seen.lock().unwrap(), vec![CrashCause::Kill]);
    let (ready, _) = call(&state, "/ready", false).await;
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn version_comes_from_config() {
    let mut config = Config::defaults();
    config.app_version = Some("v2-blue".into());
    let (state, _) = recording_state(config);
    let res = app(state)
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.headers()["x-version"], "v2-blue");
}

#[tokio::test]
async fn real_socket_serves_and_shuts_down_on_signal() {
    let (state, _) = recording_state(Config::defaults());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crashserver::server::run(listener, state, async {
        let _ = rx.await;
    }));
    let r = tokio::task::spawn_blocking(move || crate::support::get(addr, "/health"))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    tx.send(()).unwrap();
    let drain = server.await.unwrap().unwrap();
    assert_eq!(drain, crashserver::server::Drain::Complete);
}

#[test]
fn serving_threads_share_the_socket_and_all_stop_on_one_signal() {
    let (state, _) = recording_state(Config::defaults());
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        crashserver::threads::serve(
            "127.0.0.1:0".parse().unwrap(),
            3,
            state.clone(),
            async {
                let _ = stop_rx.await;
            },
            move |a| addr_tx.send(a).unwrap(),
        )
        .map(|drain| {
            (
                drain,
                state.served.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
    });
    let addr = addr_rx
        .recv_timeout(crate::support::HANG_GUARD)
        .expect("hang: no listening socket");
    // A new connection per request, taken by whichever thread is free.
    for _ in 0..30 {
        assert_eq!(crate::support::get(addr, "/health").status, 200);
    }
    stop_tx.send(()).unwrap();
    let (drain, served) = server.join().unwrap().unwrap();
    assert_eq!(drain, crashserver::server::Drain::Complete);
    assert_eq!(served, 30);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "every socket is closed"
    );
}

#[test]
fn serving_threads_refuse_a_port_in_use() {
    let (state, _) = recording_state(Config::defaults());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = crashserver::threads::serve(addr, 2, state, std::future::pending(), |_| {
        panic!("must not listen")
    })
    .unwrap_err();
    assert!(
        matches!(err, crashserver::threads::ServeError::Listen { .. }),
        "{err:#}"
    );
}

fn with_token() -> Config {
    let mut c = Config::defaults();
    c.kill_token = Some("s3cret".into());
    c
}

#[tokio::test]
async fn chaos_is_off_without_a_token_and_needs_it_when_set() {
    let (state, _) = recording_state(Config::defaults());
    let (code, body) = call(&state, "/chaos?slow=1s", false).await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("KILL_TOKEN"));
    let (state, _) = recording_state(with_token());
    assert_eq!(
        call(&state, "/chaos?slow=1s", false).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&state, "/chaos?slow=1s&token=wrong", false).await.0,
        StatusCode::FORBIDDEN
    );
    let (code, body) = call(&state, "/chaos?bogus=1&token=s3cret", false).await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    let (code, _) = call(&state, "/", true).await;
    assert_eq!(
        code,
        StatusCode::OK,
        "nothing in force after refused orders"
    );
}

#[tokio::test(start_paused = true)]
async fn chaos_slow_adds_its_latency_while_in_force_and_shows_it() {
    let (state, _) = recording_state(with_token());
    let (code, body) = call(&state, "/chaos?slow=200ms&for=5s&token=s3cret", false).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["in_force"][0]["fault"], "slow");
    let t = tokio::time::Instant::now();
    let (_, page) = call(&state, "/", true).await;
    assert_eq!(
        t.elapsed(),
        Duration::from_millis(200),
        "slowed by exactly 200 ms"
    );
    let info: serde_json::Value = serde_json::from_str(&page).unwrap();
    assert_eq!(info["chaos"][0]["fault"], "slow", "{info}");
    let (_, html) = call(&state, "/", false).await;
    assert!(html.contains("Chaos in force: slow"), "{html}");
    let (_, metrics) = call(&state, "/metrics", false).await;
    assert!(
        metrics.contains("crashserver_chaos_active{fault=\"slow\"} 1"),
        "{metrics}"
    );
    // /health and /metrics are not slowed.
    let t = tokio::time::Instant::now();
    assert_eq!(call(&state, "/health", false).await.0, StatusCode::OK);
    assert_eq!(t.elapsed(), Duration::ZERO);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let t = tokio::time::Instant::now();
    call(&state, "/", false).await;
    assert_eq!(t.elapsed(), Duration::ZERO, "over after 5 s");
    let (_, metrics) = call(&state, "/metrics", false).await;
    assert!(
        metrics.contains("crashserver_chaos_active{fault=\"slow\"} 0"),
        "{metrics}"
    );
}

#[tokio::test(start_paused = true)]
async fn chaos_errors_unhealthy_and_hang_then_clear() {
    let (state, _) = recording_state(with_token());
    call(
        &state,
        "/chaos?errors=100%&unhealthy=1&for=10s&token=s3cret",
        false,
    )
    .await;
    assert_eq!(
        call(&state, "/", false).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (code, _) = call(&state, "/status?token=s3cret", false).await;
    assert_eq!(
        code,
        StatusCode::INTERNAL_SERVER_ERROR,
        "an error, no crash armed"
    );
    assert!(state.armed().is_none());
    assert_eq!(
        call(&state, "/health", false).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    call(&state, "/chaos?clear=1&token=s3cret", false).await;
    assert_eq!(call(&state, "/", false).await.0, StatusCode::OK);
    assert_eq!(call(&state, "/health", false).await.0, StatusCode::OK);
    // A hang: nothing answers /, /health or /ready until it ends; /metrics does.
    call(&state, "/chaos?hang=30s&token=s3cret", false).await;
    for path in ["/", "/health", "/ready"] {
        let waited = tokio::time::timeout(Duration::from_secs(1), call(&state, path, false)).await;
        assert!(waited.is_err(), "{path} answered during the hang");
    }
    let (code, metrics) = call(&state, "/metrics", false).await;
    assert_eq!(code, StatusCode::OK);
    assert!(metrics.contains("crashserver_chaos_active{fault=\"hang\"} 1"));
    tokio::time::sleep(Duration::from_secs(28)).await;
    assert_eq!(
        call(&state, "/", false).await.0,
        StatusCode::OK,
        "the hang ended"
    );
}

#[tokio::test]
async fn chaos_leak_grows_to_its_limit_and_stops() {
    let (state, _) = recording_state(with_token());
    let (code, body) = call(
        &state,
        "/chaos?leak=40&leak_max=8&for=30s&token=s3cret",
        false,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let leaked = || {
        state
            .chaos
            .leaked
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while leaked() < 8 << 20 {
        assert!(std::time::Instant::now() < end, "leaked {} bytes", leaked());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(leaked(), 8 << 20, "never past its limit");
    let (_, metrics) = call(&state, "/metrics", false).await;
    assert!(
        metrics.contains(&format!("crashserver_chaos_leaked_bytes {}", 8 << 20)),
        "{metrics}"
    );
}
