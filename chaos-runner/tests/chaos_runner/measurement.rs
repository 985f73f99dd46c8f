//! Measurement against servers whose behaviour is known: downtime, counts, rate, classes.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;

#[test]
fn scripted_outage_is_reported_as_one_window_within_one_bucket() {
    let _turn = timing_turn();
    let (addr, script) = scripted_server(Script {
        outage: Some((Duration::from_millis(1000), Duration::from_millis(2200))),
        ..Default::default()
    });
    let out = tempdir("scripted");
    let o = run(&[
        "run",
        &format!("http://{addr}/"),
        "--rate",
        "1000",
        "--duration",
        "3s",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    let (sent, ok) = assert_reconciles(&s);
    let w = s["downtime"]["windows"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    let dur = w[0]["duration_s"].as_f64().unwrap();
    assert!((dur - 1.2).abs() <= 0.1, "downtime {dur} s, scripted 1.2 s");
    let start = w[0]["start_s"].as_f64().unwrap();
    assert!((start - 1.0).abs() <= 0.1, "window starts at {start}");
    // What the server saw is what the client counted, in the window too.
    assert_eq!(script.answered.load(Ordering::SeqCst), sent);
    assert_eq!(
        w[0]["failed"].as_u64(),
        Some(script.failed.load(Ordering::SeqCst))
    );
    assert_eq!(
        script.failed.load(Ordering::SeqCst),
        s["counts"]["by_class"]["http_5xx"].as_u64().unwrap()
    );
    assert_eq!(sent - ok, script.failed.load(Ordering::SeqCst));
    // The open-loop rate is met within 1 %.
    assert!((sent as f64 - 3000.0).abs() <= 30.0, "sent {sent} of 3000");
    assert_eq!(s["counts"]["dropped"].as_u64(), Some(0));
}

#[test]
fn closed_loop_counts_match_the_server() {
    let (addr, script) = scripted_server(Script::default());
    let out = tempdir("closed");
    let o = run(&[
        "run",
        &format!("http://{addr}/"),
        "--concurrency",
        "4",
        "--requests",
        "2000",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    let (sent, ok) = assert_reconciles(&s);
    assert_eq!(sent, 2000);
    assert_eq!(ok, 2000);
    assert_eq!(script.answered.load(Ordering::SeqCst), 2000);
    assert_eq!(s["run"]["mode"], "closed");
    assert_eq!(s["instances"][0]["id"], "scripted");
    assert_eq!(s["instances"][0]["requests"].as_u64(), Some(2000));
}

#[test]
fn refused_timeout_and_5xx_are_told_apart() {
    let port = free_port();
    let out = tempdir("refused");
    let o = run(&[
        "run",
        &format!("http://127.0.0.1:{port}/"),
        "--rate",
        "200",
        "--duration",
        "1s",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    let (sent, _) = assert_reconciles(&s);
    assert_eq!(s["counts"]["by_class"]["refused"].as_u64(), Some(sent));
    assert_eq!(s["availability"]["requests"].as_f64(), Some(0.0));
    assert_eq!(s["downtime"]["windows"][0]["open"], true);
    assert_eq!(s["downtime"]["windows"][0]["failed"].as_u64(), Some(sent));
    // Nothing succeeded: no percentile is a number.
    assert_eq!(s["latency_ms"]["p50"], serde_json::Value::Null);
    assert_eq!(s["latency_ms"]["max"], serde_json::Value::Null);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("p50 n/a p99 n/a"), "{text}");

    let (addr, _keep) = silent_server();
    let out = tempdir("timeout");
    let o = run(&[
        "run",
        &format!("http://{addr}/"),
        "--rate",
        "50",
        "--duration",
        "1s",
        "--timeout",
        "300ms",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    let (sent, _) = assert_reconciles(&s);
    assert!(sent > 0);
    assert_eq!(s["counts"]["by_class"]["timeout"].as_u64(), Some(sent));
    let fl = s["failure_latency_ms"]["p50"].as_f64().unwrap();
    assert!(
        (300.0..400.0).contains(&fl),
        "timeouts take the timeout: {fl}"
    );
    assert_eq!(
        s["latency_ms"]["count"].as_u64(),
        Some(0),
        "failures never count as successful latency"
    );

    let (addr, _) = scripted_server(Script {
        outage: Some((Duration::ZERO, Duration::from_secs(3600))),
        ..Default::default()
    });
    let out = tempdir("5xx");
    run(&[
        "run",
        &format!("http://{addr}/"),
        "--rate",
        "100",
        "--duration",
        "500ms",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let s = summary(&out);
    let (sent, _) = assert_reconciles(&s);
    assert_eq!(s["counts"]["by_class"]["http_5xx"].as_u64(), Some(sent));
}
