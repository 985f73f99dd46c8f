//! Tests against the real binary: crash timing, exit codes, SIGTERM drain, tokens,
//! healthcheck, metrics, identity and bad input.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crashserver::faults::CRASH_AFTER_ANSWER;

use crate::support::metrics::sample;
use crate::support::{
    assert_within, find, get, logged_at, message, reap, request, sched, slack, spawn_server,
    wait_for, Due, BIN, HANG_GUARD,
};

#[test]
fn status_ends_process_three_seconds_after_answer_with_exit_code() {
    let delay = Duration::from_secs(3);
    let mut s = spawn_server(&[("EXIT_CODE", "7")]);
    let sent = SystemTime::now();
    let r = get(s.addr, "/status");
    let answered = SystemTime::now();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("will die in"), "{}", r.body);
    // Armed while answering: 3 s after a moment between sending and seeing the answer.
    let crash_at = s.armed_crash(delay, sent, answered);
    let waited = s.main_waited();
    let exit = s.wait_exit(HANG_GUARD);
    assert_eq!(exit.status.code(), Some(7));
    let due = Due {
        earliest: crash_at,
        latest: crash_at,
        timed: delay,
    };
    s.crashed("/status", due, waited, &exit);
}

#[test]
fn kill_ends_process_within_100ms_with_exit_code() {
    let mut s = spawn_server(&[("EXIT_CODE", "42")]);
    let waited = s.main_waited();
    let sent = SystemTime::now();
    let r = get(s.addr, "/kill");
    let answered = SystemTime::now();
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&s.instance));
    let exit = s.wait_exit(HANG_GUARD);
    assert_eq!(exit.status.code(), Some(42));
    // /kill crashes CRASH_AFTER_ANSWER (time to send the answer) after a moment between
    // sending and seeing the answer; the promise is "within 100 ms".
    assert!(CRASH_AFTER_ANSWER <= Duration::from_millis(100));
    let due = Due {
        earliest: sent + CRASH_AFTER_ANSWER,
        latest: answered + CRASH_AFTER_ANSWER,
        timed: CRASH_AFTER_ANSWER,
    };
    s.crashed("/kill", due, waited, &exit);
}

#[test]
fn status_countdown_is_not_pushed_back_and_ready_flips() {
    let delay = Duration::from_millis(1500);
    let mut s = spawn_server(&[("CRASH_DELAY", "1500ms")]);
    assert_eq!(get(s.addr, "/ready").status, 200);
    let sent = SystemTime::now();
    let first = get(s.addr, "/status");
    let answered = SystemTime::now();
    assert_eq!(first.status, 200);
    let crash_at = s.armed_crash(delay, sent, answered);
    let waited = s.main_waited();
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
    // Not synchronisation: time must pass after the arming, so that a second /status that
    // re-armed would move the crash time. 200 ms is far more than the check needs (1 ms).
    let armed = crash_at - delay;
    std::thread::sleep(
        (armed + Duration::from_millis(200))
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    );
    let sent = SystemTime::now();
    // Guards the premise, not a speed: the countdown still has 1.3 s to run.
    assert!(sent < crash_at, "the machine stalled past the countdown");
    let again = request(s.addr, "GET", "/status", &[("Accept", "application/json")]).unwrap();
    let answered = SystemTime::now();
    let v: serde_json::Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(
        v["crash_armed_at"].as_str(),
        Some(
            humantime::format_rfc3339_millis(crash_at)
                .to_string()
                .as_str()
        ),
        "the second /status moved the crash"
    );
    // The remaining time, as the server computed it while answering (its monotonic clock
    // against the wall clock of the logs: 1 ms for the truncation and the two clocks).
    let left = Duration::from_secs_f64(v["crash_in_s"].as_f64().unwrap());
    let ms = Duration::from_millis(1);
    assert_within(
        "the remaining time reported by the second /status (as a time)",
        sent + left,
        crash_at
            .checked_sub(answered.duration_since(sent).unwrap() + ms)
            .unwrap(),
        crash_at + ms,
    );
    assert_eq!(
        get(s.addr, "/").status,
        200,
        "other requests are served during the countdown"
    );
    let exit = s.wait_exit(HANG_GUARD);
    let due = Due {
        earliest: crash_at,
        latest: crash_at,
        timed: delay,
    };
    s.crashed("/status", due, waited, &exit);
}

#[test]
fn root_does_not_arm_a_crash() {
    let mut s = spawn_server(&[("CRASH_DELAY", "200ms")]);
    for _ in 0..3 {
        assert_eq!(get(s.addr, "/").status, 200);
        assert_eq!(get(s.addr, "/favicon.ico").status, 404);
    }
    // Not synchronisation: a crash wrongly armed by those requests would end the process
    // 200 ms after them; give it twice that to happen (a slow machine can only hide it).
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "/ or an unknown path armed a crash"
    );
    assert_eq!(get(s.addr, "/ready").status, 200);
    let m = get(s.addr, "/metrics");
    assert_eq!(sample(&m.body, "crashserver_crash_armed"), 0.0);
    assert!(s.logged("crash armed by GET /status").is_none());
}

#[test]
fn sigterm_drains_in_flight_slow_request_and_exits_zero() {
    let mut s = spawn_server(&[("LATENCY", "1s"), ("THREADS", "2")]);
    let addr = s.addr;
    let slow = std::thread::spawn(move || {
        let r = request(addr, "GET", "/", &[]);
        (r, SystemTime::now())
    });
    s.wait_in_flight(1);
    s.signal(15);
    s.wait_log("shutdown requested: not ready, draining in-flight requests");
    // Each serving thread closes its share of the socket as it stops: wait for the last.
    wait_for("new connections refused", || {
        TcpStream::connect(addr).is_err().then_some(())
    });
    let (r, answered) = slow.join().unwrap();
    let r = r.expect("in-flight request lost on SIGTERM");
    assert_eq!(r.status, 200);
    assert_eq!(s.wait_exit(HANG_GUARD).status.code(), Some(0));
    let lines = s.final_lines();
    assert_eq!(find(&lines, "stopped")["drain"], "Complete");
    // The server's own record of when each thread stopped accepting, against the answer's
    // arrival (which the server's sending precedes): stopping only once the drain was over
    // would come after it. The thread holding the slow request's connection says so.
    let stops: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| message(l) == "stopped accepting")
        .collect();
    assert_eq!(stops.len(), 2, "one line per serving thread: {stops:#?}");
    for stop in &stops {
        assert!(
            logged_at(stop) < answered,
            "a thread kept accepting until the in-flight request was answered: {stop}"
        );
    }
    assert!(
        stops.iter().any(|l| l["connections"] == 1),
        "no thread stopped with the slow request's connection open: {stops:#?}"
    );
}

#[test]
fn sigterm_grace_period_is_bounded() {
    // One serving thread: the process's first, which then also times the grace, and whose
    // waits for a CPU the kernel still reports once the process has exited.
    let mut s = spawn_server(&[
        ("LATENCY", "10s"),
        ("SHUTDOWN_GRACE", "300ms"),
        ("THREADS", "1"),
    ]);
    let addr = s.addr;
    let _slow = std::thread::spawn(move || request(addr, "GET", "/", &[]));
    s.wait_in_flight(1);
    let waited = s.main_waited();
    s.signal(2);
    // The limit tells apart exiting after the 300 ms grace and waiting out the 10 s request.
    let exit = s.wait_exit(Duration::from_secs(5));
    assert_eq!(exit.status.code(), Some(0));
    let lines = s.final_lines();
    let signalled = logged_at(find(&lines, "termination signal received"));
    let over = logged_at(find(
        &lines,
        "grace period over with requests still in flight; exiting anyway",
    ));
    let grace = Duration::from_millis(300);
    let due = Due {
        earliest: signalled + grace,
        latest: signalled + grace,
        timed: grace,
    };
    due.check(
        "the end of the grace period",
        over,
        exit.main_waited.saturating_sub(waited),
    );
    let stopped = find(&lines, "stopped");
    assert_eq!(stopped["drain"], "TimedOut");
    assert_eq!(
        lines.last(),
        Some(stopped),
        "the process went on after stopping"
    );
    assert!(exit.gone >= logged_at(stopped));
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
    assert_eq!(s.wait_exit(HANG_GUARD).status.code(), Some(1));

    let mut t = spawn_server(&[("KILL_TOKEN", "s3cret"), ("CRASH_DELAY", "100ms")]);
    assert_eq!(get(t.addr, "/status?token=s3cret").status, 200);
    t.wait_exit(HANG_GUARD);
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
    // A listener that never answers: the probe gives up a second after it started (after
    // the test spawned it, before it connected, so before the test took the connection),
    // and the test sees its end of the connection close.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let test_waited = sched::this_thread();
    let spawned = SystemTime::now();
    let mut probe = Command::new(BIN)
        .arg("healthcheck")
        .env("PORT", silent.local_addr().unwrap().port().to_string())
        .spawn()
        .unwrap();
    let mut conn = wait_for("the probe's connection", || {
        silent.accept().ok().map(|(c, _)| c)
    });
    let taken = SystemTime::now();
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut request = Vec::new();
    // Ends with EOF (or a reset) when the probe gives up; a timeout here is a hang.
    let ended = conn.read_to_end(&mut request);
    let closed = SystemTime::now();
    let test_waited = sched::this_thread().saturating_sub(test_waited);
    assert!(
        !matches!(&ended, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "hang: the probe never gave up"
    );
    assert!(String::from_utf8_lossy(&request).starts_with("GET /health"));
    let exit = reap(&mut probe, HANG_GUARD);
    assert_eq!(exit.status.code(), Some(1));
    // The probe's timeout is the kernel's (a socket read timeout), kept on its timer wheel,
    // which fires a timeout of a second up to an eighth of it late (the wheel's coarsest
    // granularity for that range, on any HZ).
    let limit = Duration::from_secs(1);
    let due = Due {
        earliest: spawned + limit,
        latest: taken + limit + limit / 8,
        timed: limit,
    };
    due.check(
        "the probe giving up",
        closed,
        exit.main_waited + test_waited,
    );
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
    let waited = s.all_waited();
    let t = Instant::now();
    assert_eq!(get(s.addr, "/").status, 200);
    let took = t.elapsed();
    let waited = s.all_waited().saturating_sub(waited);
    // The server's own measure of that request (from /metrics): the latency plus up to the
    // jitter, and no more than the test saw.
    let m = get(s.addr, "/metrics").body;
    assert_eq!(
        sample(
            &m,
            r#"crashserver_http_request_duration_seconds_count{route="/"}"#
        ),
        1.0
    );
    let served = sample(
        &m,
        r#"crashserver_http_request_duration_seconds_sum{route="/"}"#,
    );
    let (latency, jitter) = (Duration::from_millis(200), Duration::from_millis(50));
    let served = Duration::from_secs_f64(served);
    let allowed = latency + jitter + slack(latency + jitter, waited);
    assert!(
        served >= latency && served <= allowed,
        "answered in {served:?} with 200 ms latency and up to 50 ms jitter \
         (at most {allowed:?}: its threads waited {waited:?} for a CPU)"
    );
    assert!(
        took >= served,
        "the test saw {took:?}, the server {served:?}"
    );

    let mut c = spawn_server(&[("CRASH_AFTER", "3"), ("EXIT_CODE", "9")]);
    for _ in 0..3 {
        assert_eq!(get(c.addr, "/").status, 200);
    }
    assert_eq!(c.wait_exit(HANG_GUARD).status.code(), Some(9));
    assert!(find(&c.final_lines(), "crashing")["cause"]
        .as_str()
        .is_some_and(|c| c.contains("after 3 requests")));

    let started = Instant::now();
    let slow_boot = spawn_server(&[("STARTUP_DELAY", "300ms")]);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // The server's own log: it slept the delay between deciding to and listening (all on
    // its first thread, whose every wait for a CPU since it started counts).
    let delay = Duration::from_millis(300);
    let slept = logged_at(&slow_boot.wait_log("startup delay fault: sleeping before listening"));
    let due = Due {
        earliest: slept + delay,
        latest: slept + delay,
        timed: delay,
    };
    due.check(
        "listening after the startup delay",
        logged_at(&slow_boot.wait_log("listening")),
        slow_boot.main_waited(),
    );
}

/// `ACCESS_LOG`: one line per answered request, placed on the wall clock between the moment
/// the test sent it and the moment it had its answer, with its route and status; none
/// without it.
#[test]
fn the_access_log_has_a_line_for_every_answer_placed_when_it_arrived() {
    let s = spawn_server(&[("ACCESS_LOG", "true"), ("ERROR_RATE", "50%")]);
    let us = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
    };
    let mut sent = Vec::new();
    for path in ["/", "/", "/", "/", "/", "/", "/health", "/nowhere"] {
        let before = us(SystemTime::now());
        let r = get(s.addr, path);
        sent.push((path, before, us(SystemTime::now()), r.status));
    }
    let logged = wait_for("8 access lines", || {
        let l: Vec<serde_json::Value> = s
            .lines()
            .into_iter()
            .filter(|l| message(l) == "request")
            .collect();
        (l.len() >= sent.len()).then_some(l)
    });
    assert_eq!(logged.len(), sent.len(), "one line per answer: {logged:?}");
    for (line, (path, before, after, status)) in logged.iter().zip(&sent) {
        let route = match *path {
            "/nowhere" => "unmatched",
            p => p,
        };
        assert_eq!(line["route"], route, "{line}");
        assert_eq!(line["method"], "GET", "{line}");
        assert_eq!(line["status"].as_u64(), Some(u64::from(*status)), "{line}");
        let at = line["at_us"].as_u64().unwrap();
        assert!(
            (*before..=*after).contains(&at),
            "arrived at {at}, sent at {before}, answered by {after}: {line}"
        );
        assert!(
            line["took_us"].as_u64().unwrap() <= after - before,
            "{line}"
        );
    }
    let errors = logged.iter().filter(|l| l["status"] == 500).count();
    let statuses: Vec<u16> = sent.iter().map(|x| x.3).collect();
    assert_eq!(errors, statuses.iter().filter(|c| **c == 500).count());

    let quiet = spawn_server(&[]);
    get(quiet.addr, "/");
    get(quiet.addr, "/health");
    assert!(
        !quiet.lines().iter().any(|l| message(l) == "request"),
        "no access log unless asked"
    );
}
