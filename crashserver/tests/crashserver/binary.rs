//! Tests against the real binary: crash timing, exit codes, SIGTERM drain, tokens,
//! healthcheck, metrics, identity and bad input.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{get, request, spawn_server, BIN};

#[test]
fn status_ends_process_three_seconds_after_answer_with_exit_code() {
    let mut s = spawn_server(&[("EXIT_CODE", "7")]);
    let r = get(s.addr, "/status");
    let answered = Instant::now();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("will die in"), "{}", r.body);
    let (status, gone) = s.wait_exit(Duration::from_secs(6));
    let after = gone.duration_since(answered).as_secs_f64();
    assert!(
        (2.9..=3.1).contains(&after),
        "died {after:.3}s after the answer, want 3.0 ± 0.1"
    );
    assert_eq!(status.code(), Some(7));
    assert!(s
        .logs
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("crashing") && l.contains("/status")));
}

#[test]
fn kill_ends_process_within_100ms_with_exit_code() {
    let mut s = spawn_server(&[("EXIT_CODE", "42")]);
    let r = get(s.addr, "/kill");
    let answered = Instant::now();
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&s.instance));
    let (status, gone) = s.wait_exit(Duration::from_secs(2));
    let after = gone.duration_since(answered);
    assert!(
        after <= Duration::from_millis(100),
        "died {after:?} after /kill"
    );
    assert_eq!(status.code(), Some(42));
}

#[test]
fn status_countdown_is_not_pushed_back_and_ready_flips() {
    let mut s = spawn_server(&[("CRASH_DELAY", "1500ms")]);
    assert_eq!(get(s.addr, "/ready").status, 200);
    let first = get(s.addr, "/status");
    let armed = Instant::now();
    assert_eq!(first.status, 200);
    assert_eq!(
        get(s.addr, "/ready").status,
        503,
        "/ready must turn 503 at once"
    );
    assert_eq!(
        get(s.addr, "/health").status,
        200,
        "liveness stays up during the countdown"
    );
    std::thread::sleep(Duration::from_millis(500));
    let again = request(s.addr, "GET", "/status", &[("Accept", "application/json")]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    let left = v["crash_in_s"].as_f64().unwrap();
    assert!(
        left < 1.1 && left > 0.7,
        "second /status must report the remaining time, got {left}"
    );
    assert_eq!(
        get(s.addr, "/").status,
        200,
        "other requests are served during the countdown"
    );
    let (_, gone) = s.wait_exit(Duration::from_secs(4));
    let after = gone.duration_since(armed).as_secs_f64();
    assert!(
        after < 1.7,
        "second /status pushed the crash back: {after:.3}s"
    );
}

#[test]
fn root_does_not_arm_a_crash() {
    let mut s = spawn_server(&[("CRASH_DELAY", "200ms")]);
    for _ in 0..3 {
        assert_eq!(get(s.addr, "/").status, 200);
        assert_eq!(get(s.addr, "/favicon.ico").status, 404);
    }
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "/ or an unknown path armed a crash"
    );
    assert_eq!(get(s.addr, "/ready").status, 200);
}

#[test]
fn sigterm_drains_in_flight_slow_request_and_exits_zero() {
    let mut s = spawn_server(&[("LATENCY", "800ms")]);
    let addr = s.addr;
    let slow = std::thread::spawn(move || request(addr, "GET", "/", &[]));
    std::thread::sleep(Duration::from_millis(200));
    s.signal(15);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_err(),
        "still accepting after SIGTERM"
    );
    let r = slow
        .join()
        .unwrap()
        .expect("in-flight request lost on SIGTERM");
    assert_eq!(r.status, 200);
    let (status, _) = s.wait_exit(Duration::from_secs(3));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_grace_period_is_bounded() {
    let mut s = spawn_server(&[("LATENCY", "10s"), ("SHUTDOWN_GRACE", "300ms")]);
    let addr = s.addr;
    let _slow = std::thread::spawn(move || request(addr, "GET", "/", &[]));
    std::thread::sleep(Duration::from_millis(200));
    let sent = Instant::now();
    s.signal(2);
    let (status, gone) = s.wait_exit(Duration::from_secs(3));
    assert_eq!(status.code(), Some(0));
    assert!(gone.duration_since(sent) < Duration::from_millis(1000));
}

#[test]
fn kill_token_protects_crash_endpoints_only() {
    let mut s = spawn_server(&[("KILL_TOKEN", "s3cret")]);
    assert_eq!(get(s.addr, "/kill").status, 403);
    assert_eq!(get(s.addr, "/status").status, 403);
    assert_eq!(
        request(s.addr, "GET", "/kill", &[("Authorization", "Bearer wrong")])
            .unwrap()
            .status,
        403
    );
    assert_eq!(get(s.addr, "/kill?token=wrong").status, 403);
    assert_eq!(get(s.addr, "/").status, 200);
    assert_eq!(get(s.addr, "/metrics").status, 200);
    assert_eq!(
        get(s.addr, "/ready").status,
        200,
        "a refused /status must not arm a crash"
    );
    assert_eq!(
        request(
            s.addr,
            "GET",
            "/kill",
            &[("Authorization", "Bearer s3cret")]
        )
        .unwrap()
        .status,
        200
    );
    let (status, _) = s.wait_exit(Duration::from_secs(2));
    assert_eq!(status.code(), Some(1));

    let mut t = spawn_server(&[("KILL_TOKEN", "s3cret"), ("CRASH_DELAY", "100ms")]);
    assert_eq!(get(t.addr, "/status?token=s3cret").status, 200);
    t.wait_exit(Duration::from_secs(2));
}

fn healthcheck(port: u16) -> Option<i32> {
    Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", port.to_string())
        .status()
        .unwrap()
        .code()
}

#[test]
fn healthcheck_exit_codes_follow_health() {
    let s = spawn_server(&[]);
    assert_eq!(healthcheck(s.addr.port()), Some(0));
    let sick = spawn_server(&[("UNHEALTHY", "true")]);
    assert_eq!(get(sick.addr, "/health").status, 503);
    assert_eq!(healthcheck(sick.addr.port()), Some(1));
    let port = s.addr.port();
    drop(s);
    assert_eq!(
        healthcheck(port),
        Some(1),
        "nothing listening must be unhealthy"
    );
    // A listener that never answers: the probe gives up within about a second.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    assert_eq!(healthcheck(silent.local_addr().unwrap().port()), Some(1));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn metrics_parse_as_prometheus_text() {
    let s = spawn_server(&[]);
    get(s.addr, "/");
    get(s.addr, "/nope");
    let r = get(s.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("text/plain; version=0.0.4"));
    let families = crate::support::metrics::check_exposition(&r.body);
    for name in [
        "crashserver_http_requests_total",
        "crashserver_http_requests_in_flight",
        "crashserver_uptime_seconds",
        "crashserver_crash_armed",
    ] {
        assert!(families.contains_key(name), "missing {name}");
    }
    assert!(
        r.body
            .contains(r#"crashserver_http_requests_total{method="GET",route="/",status="200"} 1"#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"route="unmatched",status="404"} 1"#));
}

#[test]
#[ignore = "needs promtool; CI runs it (cargo test -- --include-ignored)"]
fn metrics_pass_promtool() {
    let s = spawn_server(&[]);
    get(s.addr, "/");
    request(s.addr, "INVENTED", "/", &[]).unwrap();
    let r = get(s.addr, "/metrics");
    crate::support::metrics::promtool_check(&r.body);
}

#[test]
fn x_instance_differs_between_starts_and_is_on_every_response() {
    let a = spawn_server(&[]);
    let b = spawn_server(&[]);
    assert_ne!(a.instance, b.instance);
    for path in ["/", "/health", "/ready", "/metrics", "/missing"] {
        assert_eq!(
            get(a.addr, path).headers.get("x-instance"),
            Some(&a.instance),
            "{path}"
        );
    }
    assert_eq!(
        request(a.addr, "DELETE", "/", &[])
            .unwrap()
            .headers
            .get("x-instance"),
        Some(&a.instance)
    );
}

#[test]
fn unknown_paths_404_and_wrong_methods_405() {
    let s = spawn_server(&[]);
    assert_eq!(get(s.addr, "/does-not-exist").status, 404);
    for m in ["POST", "PUT", "DELETE"] {
        assert_eq!(
            request(s.addr, m, "/kill", &[]).unwrap().status,
            405,
            "{m} /kill"
        );
    }
    assert_eq!(
        get(s.addr, "/ready").status,
        200,
        "a 405 on /kill must not kill"
    );
}

#[test]
fn malformed_config_exits_2_with_a_clear_message() {
    for (k, v) in [
        ("CRASH_DELAY", "soon"),
        ("EXIT_CODE", "0"),
        ("EXIT_CODE", "300"),
        ("PORT", "99999"),
        ("ERROR_RATE", "2"),
        ("LOG_FORMAT", "xml"),
        ("LATENCY", "-5"),
    ] {
        let out = Command::new(BIN).env(k, v).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{k}={v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid value"), "{k}={v}: {err}");
    }
}

#[test]
fn port_in_use_exits_1() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .args(["--bind", "127.0.0.1", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen"));
}

#[test]
fn oversized_and_slow_requests_do_not_crash_the_process() {
    let mut s = spawn_server(&[]);
    let huge = "x".repeat(1 << 20);
    if let Ok(r) = request(s.addr, "GET", "/", &[("X-Big", &huge)]) {
        assert!(r.status == 431 || r.status == 400, "status {}", r.status);
    }
    // A slow client that never finishes its head, while others are served.
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    for _ in 0..20 {
        assert_eq!(get(s.addr, "/").status, 200);
    }
    drop(slow);
    // Garbage instead of HTTP.
    let mut junk = TcpStream::connect(s.addr).unwrap();
    junk.write_all(&[0xff; 4096]).unwrap();
    drop(junk);
    assert_eq!(get(s.addr, "/health").status, 200);
    assert!(s.child.try_wait().unwrap().is_none());
}

#[test]
fn injected_faults_error_rate_latency_crash_after_and_startup_delay() {
    let s = spawn_server(&[("ERROR_RATE", "100%")]);
    assert_eq!(get(s.addr, "/").status, 500);
    assert_eq!(
        get(s.addr, "/health").status,
        200,
        "faults spare the probes"
    );

    let s = spawn_server(&[("LATENCY", "200ms"), ("LATENCY_JITTER", "50ms")]);
    let t = Instant::now();
    assert_eq!(get(s.addr, "/").status, 200);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(600),
        "{took:?}"
    );

    let mut c = spawn_server(&[("CRASH_AFTER", "3"), ("EXIT_CODE", "9")]);
    for _ in 0..3 {
        assert_eq!(get(c.addr, "/").status, 200);
    }
    let (status, _) = c.wait_exit(Duration::from_secs(2));
    assert_eq!(status.code(), Some(9));

    let started = Instant::now();
    let _slow_boot = spawn_server(&[("STARTUP_DELAY", "300ms")]);
    assert!(started.elapsed() >= Duration::from_millis(300));
}
