//! A slow target, not a refusing one: hangs and freezes (what node loss, partitions and hung
//! replicas look like to clients). No scheduled request may be lost to them, and the
//! reports must give them their true length and latency.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;

fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn a_three_second_hang_is_one_window_of_three_seconds_and_nothing_is_dropped() {
    let _turn = timing_turn();
    let (addr, script) = scripted_server(Script {
        hang: Some((Duration::from_millis(1500), Duration::from_millis(4500))),
        ..Default::default()
    });
    let out = tempdir("hang");
    let o = run_into(
        &out,
        &format!("http://{addr}/"),
        &["--rate", "200", "--duration", "6s", "--timeout", "1s"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    let (sent, ok) = assert_reconciles(&s);
    assert_eq!(s["counts"]["dropped"].as_u64(), Some(0), "{}", s["counts"]);
    assert_eq!(s["counts"]["scheduled"].as_u64(), Some(1200));
    let hung = script.hung.load(Ordering::SeqCst);
    assert_eq!(s["counts"]["by_class"]["timeout"].as_u64(), Some(hung));
    assert_eq!(
        sent - ok,
        hung,
        "every failure is a request the server left hanging"
    );
    assert_eq!(script.answered.load(Ordering::SeqCst), ok);
    let w = s["downtime"]["windows"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    let dur = ms(&w[0]["duration_s"]);
    println!(
        "3 s hang at 200/s, --timeout 1s: {} window(s), {dur:.3} s, {} failed in it, {} dropped, peak {} in flight",
        w.len(),
        w[0]["failed"],
        s["counts"]["dropped"],
        s["run"]["peak_in_flight"]
    );
    assert!((dur - 3.0).abs() <= 0.1, "window {dur} s, scripted 3.0 s");
    assert_eq!(
        w[0]["failed"].as_u64(),
        Some(hung),
        "the window counts every failure"
    );
    // ~600 requests hung at once: the allowance grew past the 64 warm connections.
    assert!(
        s["run"]["peak_in_flight"].as_u64().unwrap() >= 150,
        "{}",
        s["run"]
    );
    assert_eq!(s["run"]["in_flight_capped"], false);
}

#[test]
fn a_one_second_freeze_shows_in_the_tail_at_its_true_latency() {
    let _turn = timing_turn();
    let (addr, _script) = scripted_server(Script {
        freeze: Some((Duration::from_secs(4), Duration::from_secs(5))),
        ..Default::default()
    });
    let out = tempdir("freeze");
    let o = run_into(&out, &format!("http://{addr}/"), &["--rate", "1000"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    let (sent, ok) = assert_reconciles(&s);
    assert_eq!(s["counts"]["dropped"].as_u64(), Some(0), "{}", s["counts"]);
    assert_eq!((sent, ok), (10_000, 10_000));
    let l = &s["latency_ms"];
    // A tenth of the requests waited for the end of the freeze: 0 to 1,000 ms, evenly.
    let (p95, p99, max) = (ms(&l["p95"]), ms(&l["p99"]), ms(&l["max"]));
    println!(
        "1 s freeze at 1,000/s: p95 {p95:.1} ms, p99 {p99:.1} ms, max {max:.1} ms, {} dropped, peak {} in flight",
        s["counts"]["dropped"], s["run"]["peak_in_flight"]
    );
    assert!(
        (p95 - 500.0).abs() <= 50.0,
        "p95 {p95} ms, the schedule gives 500"
    );
    assert!(
        (p99 - 900.0).abs() <= 50.0,
        "p99 {p99} ms, the schedule gives 900"
    );
    assert!((950.0..1100.0).contains(&max), "max {max} ms, about 1,000");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("availability 100.000%"), "{text}");
}

#[test]
fn with_a_cap_dropped_ticks_count_as_unanswered() {
    let _turn = timing_turn();
    // A target that hangs throughout, capped at 8 in flight: drops are what the user lost.
    let (addr, _keep) = silent_server();
    let out = tempdir("capped");
    let o = run_into(
        &out,
        &format!("http://{addr}/"),
        &[
            "--rate",
            "500",
            "--duration",
            "1s",
            "--timeout",
            "2s",
            "--max-in-flight",
            "8",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    let (sent, _) = assert_reconciles(&s);
    let dropped = s["counts"]["dropped"].as_u64().unwrap();
    assert!(sent <= 16, "at most in-flight plus queue were sent: {sent}");
    assert_eq!(sent + dropped, 500);
    assert_eq!(s["availability"]["scheduled"].as_f64(), Some(0.0));
    let w = s["downtime"]["windows"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["open"], true);
    assert_eq!(w[0]["dropped"].as_u64(), Some(dropped));
    assert!(ms(&w[0]["start_s"]) < 0.01, "{w:?}");
    // Every bucket of the second held drops only or timeouts: none is available.
    assert_eq!(s["availability"]["buckets_met"].as_u64(), Some(0));
    assert!(s["availability"]["buckets_counted"].as_u64().unwrap() >= 10);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains(&format!("{dropped} scheduled requests were never sent")),
        "{text}"
    );
}
