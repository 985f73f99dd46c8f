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
    let truth = script.log.outage(200.0, |r| r.answered.is_none());
    assert_eq!(truth.failed, hung);
    assert_eq!(s["counts"]["by_class"]["timeout"].as_u64(), Some(hung));
    assert_eq!(
        sent - ok,
        hung,
        "every failure is a request the server left hanging"
    );
    assert_eq!(script.answered.load(Ordering::SeqCst), ok);
    let w = s["downtime"]["windows"].as_array().unwrap();
    let dur = ms(&w[0]["duration_s"]);
    println!(
        "3 s hang at 200/s, --timeout 1s: {} window(s), {dur:.3} s, {} failed in it, {} dropped, peak {} in flight",
        w.len(),
        w[0]["failed"],
        s["counts"]["dropped"],
        s["run"]["peak_in_flight"]
    );
    // The scripted 3 s are as the server lived them, from the first request it left hanging
    // to the first it answered again.
    assert_outage(w, &truth, &script.log, run_start(&s), 200.0);
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
    let (addr, script) = scripted_server(Script {
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
    // A tenth of the requests waited for the end of the freeze: on an ideal machine 0 to
    // 1,000 ms evenly (p95 500 ms, p99 900 ms). The truth is the server's log: opening the
    // connections for a thousand requests in flight and answering them all at once take a
    // slow core tens of ms.
    let truth = script.log.scheduled_latencies_ms(run_start(&s), 1000.0);
    // On a busy machine the client reads the burst of answers late, as late as it sent
    // while they came.
    let (from, to) = script.log.answered_between(run_start(&s), 100.0);
    let behind = script.log.send_delay_ms(run_start(&s), 1000.0, from, to);
    assert_eq!(
        truth.len() as u64,
        ok,
        "the server answered every request once"
    );
    let (p95, p99, max) = (ms(&l["p95"]), ms(&l["p99"]), ms(&l["max"]));
    let (t95, t99, tmax) = (
        quantile(&truth, 0.95),
        quantile(&truth, 0.99),
        quantile(&truth, 1.0),
    );
    println!(
        "1 s freeze at 1,000/s: p95 {p95:.1} ms, p99 {p99:.1} ms, max {max:.1} ms \
         (server's log: {t95:.1}, {t99:.1}, {tmax:.1}; client behind by up to {behind:.1}), \
         {} dropped, peak {} in flight",
        s["counts"]["dropped"], s["run"]["peak_in_flight"]
    );
    assert_agrees_ms("p95", p95, t95, behind);
    assert_agrees_ms("p99", p99, t99, behind);
    assert_agrees_ms("p999", ms(&l["p999"]), quantile(&truth, 0.999), behind);
    assert_agrees_ms("max", max, tmax, behind);
    assert!(
        t95 > 300.0,
        "the freeze reached the tail: the server held a twentieth over 300 ms"
    );
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
