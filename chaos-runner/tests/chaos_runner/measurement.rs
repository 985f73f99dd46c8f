//! Measurement against servers whose behaviour is known: downtime, counts, rate, classes.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

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
    // Scripted as 1.0 to 2.2 s of the server's time; the truth is its log: from the first
    // request it failed to the first it served again.
    let truth = script.log.outage(1000.0, |r| r.status == 503);
    let w = s["downtime"]["windows"].as_array().unwrap();
    assert_outage(w, &truth, &script.log, run_start(&s), 1000.0);
    // What the server saw is what the client counted.
    assert_eq!(script.answered.load(Ordering::SeqCst), sent);
    assert_eq!(
        script.failed.load(Ordering::SeqCst),
        s["counts"]["by_class"]["http_5xx"].as_u64().unwrap()
    );
    assert_eq!(sent - ok, script.failed.load(Ordering::SeqCst));
    // Every tick of the open loop's schedule was sent (none dropped), late or not.
    assert_eq!(s["counts"]["scheduled"].as_u64(), Some(3000));
    assert_eq!(s["counts"]["dropped"].as_u64(), Some(0));
    assert_eq!(sent, 3000);
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
    assert!(text.contains("p50 - p99 -"), "{text}");

    let (addr, silent) = silent_server();
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
    // A timeout takes the timeout: the server's log has how long each request was held
    // before the client gave up and closed the connection.
    wait_for(
        "the server saw every connection closed",
        Duration::from_secs(10),
        || silent.entries().iter().all(|e| e.answered.is_some()),
    );
    let held = silent.latencies_ms();
    assert_eq!(held.len() as u64, sent, "{held:?}");
    let fl = s["failure_latency_ms"]["p50"].as_f64().unwrap();
    // The client counts from each tick's time, the server from the arrival: a late send
    // adds to the client's figure.
    let behind = silent.send_delay_ms(run_start(&s), 50.0, 0.0, f64::MAX);
    assert_agrees_ms("timeouts' p50", fl, quantile(&held, 0.5), behind);
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

#[test]
fn shares_of_a_schedule_send_the_whole_of_it_between_them() {
    let _turn = timing_turn();
    let (addr, script) = scripted_server(Script::default());
    let url = format!("http://{addr}/");
    let outs: Vec<TempDir> = (1..=3).map(|k| tempdir(&format!("share-{k}"))).collect();
    // Three runs on one clock, each with its share of 1,000/s for 2 s (2,000 ticks).
    let at = SystemTime::now() + Duration::from_secs(3);
    let start_at = humantime::format_rfc3339_millis(at).to_string();
    let runs: Vec<_> = outs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            let (out, url, start_at) = (out.as_ref().to_path_buf(), url.clone(), start_at.clone());
            std::thread::spawn(move || {
                let share = format!("{}/3", i + 1);
                let args = [
                    "--rate",
                    "1000",
                    "--duration",
                    "2s",
                    "--share",
                    &share,
                    "--start-at",
                    &start_at,
                ];
                run_into(&out, &url, &args)
            })
        })
        .collect();
    let mut sent = Vec::new();
    for (out, r) in outs.iter().zip(runs) {
        let o = r.join().unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let s = summary(out.as_ref());
        let (n, ok) = assert_reconciles(&s);
        assert_eq!(ok, n, "a steady server: every answer ok");
        assert_eq!(s["counts"]["dropped"].as_u64(), Some(0));
        sent.push((s["run"]["share"].as_str().unwrap().to_string(), n));
        // Each clock started when asked (the timer's own lag aside).
        let started = run_start(&s);
        let lag = started
            .duration_since(at)
            .expect("not before the time asked");
        assert!(
            lag < Duration::from_millis(50),
            "started {lag:?} after --start-at"
        );
        let report = std::fs::read_to_string(out.as_ref().join("report.md")).unwrap();
        assert!(report.contains("1000 req/s in all (share"), "{report}");
    }
    // Ticks 0, 3, 6, ... for 1/3; 1, 4, ... for 2/3; 2, 5, ... for 3/3.
    assert_eq!(
        sent,
        [
            ("1/3".to_string(), 667),
            ("2/3".to_string(), 667),
            ("3/3".to_string(), 666)
        ]
    );
    assert_eq!(
        script.answered.load(Ordering::SeqCst),
        2000,
        "what the server saw"
    );
    // The server's log: the three shares arrived as one schedule at the rate asked for.
    let arrived: Vec<_> = script.log.entries().iter().map(|e| e.arrived).collect();
    let span = (*arrived.iter().max().unwrap() - *arrived.iter().min().unwrap()).as_secs_f64();
    let rate = (arrived.len() - 1) as f64 / span;
    assert!(
        (rate / 1000.0 - 1.0).abs() < 0.01,
        "merged rate {rate:.1}/s over {span:.4} s"
    );
    // A start that has passed, or is too far ahead, or too near to open the connections in.
    let soon = |d: Duration| humantime::format_rfc3339_millis(SystemTime::now() + d).to_string();
    let past = humantime::format_rfc3339_millis(SystemTime::now() - Duration::from_secs(1));
    for (at, says) in [
        (past.to_string(), "at most 1 hour ahead"),
        (soon(Duration::from_secs(7200)), "at most 1 hour ahead"),
        ("noon".to_string(), "RFC 3339"),
        (soon(Duration::from_millis(900)), "less than the --timeout"),
    ] {
        let o = run(&[
            "run",
            &url,
            "--rate",
            "10",
            "--start-at",
            &at,
            "--timeout",
            "2s",
        ]);
        assert_eq!(code(&o), 2, "{at}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{at}: {}", stderr(&o));
    }
    // A closed loop has no schedule to share (nor ticks to cap).
    for (flag, value) in [("--share", "1/2"), ("--max-in-flight", "2")] {
        let o = run(&["run", &url, "--concurrency", "2", flag, value]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    }
    let o = run(&["run", &url, "--rate", "10", "--share", "3/2"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("is not a share K/N"), "{}", stderr(&o));
}
