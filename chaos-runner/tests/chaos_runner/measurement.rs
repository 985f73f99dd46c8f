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
    // 503 for 0.4 s of the server's time, whichever run's request it is.
    let (addr, script) = scripted_server(Script {
        outage: Some((Duration::from_millis(800), Duration::from_millis(1200))),
        ..Default::default()
    });
    let url = format!("http://{addr}/");
    let outs: Vec<TempDir> = (1..=3).map(|k| tempdir(&format!("share-{k}"))).collect();
    // Three runs on one clock, each with its share of 1,000/s for 2 s (2,000 ticks).
    let start_at =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(3)).to_string();
    // The time asked, as the runs read it (to the millisecond, as their summaries say it).
    let at = humantime::parse_rfc3339(&start_at).unwrap();
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
        let (n, _) = assert_reconciles(&s);
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
    // The server's log: the three shares arrived as one schedule at the rate asked for. The
    // rate is the slope of arrival time against arrival rank (least squares), which a few
    // late sends on a busy machine barely move, where first-to-last would.
    let mut arrived: Vec<f64> = {
        let e = script.log.entries();
        let first = e.iter().map(|x| x.arrived).min().unwrap();
        e.iter()
            .map(|x| (x.arrived - first).as_secs_f64())
            .collect()
    };
    arrived.sort_by(f64::total_cmp);
    let k = arrived.len() as f64;
    let mean_i = (k - 1.0) / 2.0;
    let mean_t = arrived.iter().sum::<f64>() / k;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, t) in arrived.iter().enumerate() {
        num += (i as f64 - mean_i) * (t - mean_t);
        den += (i as f64 - mean_i).powi(2);
    }
    let rate = den / num;
    assert!(
        (rate / 1000.0 - 1.0).abs() < 0.01,
        "merged rate {rate:.1}/s over {} arrivals",
        arrived.len()
    );

    // One measurement of the three: counts add up to the server's, the histograms to the
    // runs' own (read back with HdrHistogram's decoder here), each vantage kept.
    let merged = tempdir("share-merged");
    let dirs: Vec<&str> = outs.iter().map(|o| o.as_ref().to_str().unwrap()).collect();
    let mut args = vec!["merge"];
    args.extend(&dirs);
    args.extend(["--out", merged.as_ref().to_str().unwrap()]);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = std::fs::read_to_string(merged.as_ref().join("merged.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_schema("merged.schema.json", &m);
    let g = &m["merged"];
    let n = |k: &str| g[k].as_u64().unwrap();
    assert_eq!((n("scheduled"), n("sent"), n("dropped")), (2000, 2000, 0));
    let failed = script.failed.load(Ordering::SeqCst);
    assert!(failed > 300, "the outage hit every run: {failed}");
    assert_eq!(n("failed"), failed, "as the server answered 503");
    assert_eq!(n("ok"), 2000 - failed);
    assert_eq!(g["by_class"]["http_5xx"].as_u64(), Some(failed));
    let vantages = m["vantages"].as_array().unwrap();
    let sum = |k: &str| vantages.iter().map(|v| v[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((sum("sent"), sum("failed")), (2000, failed));
    // Which part of the run each vantage saw fail, on the merged time line: together, the
    // outage the server lived (its first failed tick to its last), within the slack, the
    // runs' clock spread and how far behind their schedule the clients ran then.
    let truth = script.log.outage(1000.0, |r| r.status == 503);
    let earliest = outs
        .iter()
        .map(|o| run_start(&summary(o.as_ref())))
        .min()
        .unwrap();
    let behind = script
        .log
        .send_delay_ms(earliest, 1000.0, truth.start_s - 0.5, truth.end_s + 0.5);
    let spread = m["schedule"]["spread_ms"].as_f64().unwrap();
    let slack = (SLACK_MS + 1.0 + spread + behind) / 1e3;
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().expect(k);
    let from = vantages
        .iter()
        .map(|v| f(v, "failures_from_s"))
        .fold(f64::MAX, f64::min);
    let to = vantages
        .iter()
        .map(|v| f(v, "failures_to_s"))
        .fold(f64::MIN, f64::max);
    assert!(
        (from - truth.start_s).abs() <= slack && (to - (truth.end_s - 1e-3)).abs() <= slack,
        "failures from {from} to {to} s; the server failed ticks {:.3} to {:.3} s (slack {slack:.4} s)",
        truth.start_s,
        truth.end_s - 1e-3
    );
    // The merged load's downtime: one window when no client got an answer, ending at the
    // server's first served tick after the outage, starting at its first failed one, or up
    // to one tick of a share later (the latest of the three shares' first misses).
    let d = &g["downtime"];
    let w = d["windows"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{d}");
    let late = f(d, "start_late_by_at_most_ms");
    assert_eq!(late, 3.0, "one tick of a third of 1,000/s");
    let (start, end) = (f(&w[0], "start_s"), f(&w[0], "end_s"));
    assert!(
        start >= truth.start_s - slack
            && start <= truth.start_s + late / 1e3 + slack
            && (end - truth.end_s).abs() <= slack
            && w[0]["open"] == false,
        "merged window {start}-{end} s; the server failed ticks from {:.3} s, served again from {:.3} s (slack {slack:.4} s, start up to {late} ms late)",
        truth.start_s,
        truth.end_s
    );
    assert!((f(d, "mttr_s") - (end - start)).abs() < 1e-9, "{d}");
    for v in vantages {
        let b = f(v, "failed_between");
        assert!(
            b > 0.5 && b <= 1.0,
            "{}: {b} of its requests failed then",
            v["name"]
        );
    }
    let runs: Vec<&std::path::Path> = outs.iter().map(|o| o.as_ref()).collect();
    let ok_h = ok_latencies(&runs);
    assert_eq!(ok_h.len(), 2000 - failed);
    // The merge's own interval log holds exactly that histogram, value for value.
    assert_eq!(ok_latencies(&[merged.as_ref()]), ok_h);
    assert!(
        std::fs::read_to_string(merged.as_ref().join("latency.hgrm"))
            .unwrap()
            .contains(&format!("Total count    = {:>12}", ok_h.len())),
        "latency.hgrm of the merged successes"
    );
    assert_eq!(g["latency_ms"]["count"].as_u64(), Some(ok_h.len()));
    for (q, k) in [(0.5, "p50"), (0.99, "p99"), (0.999, "p999")] {
        let want = ok_h.value_at_quantile(q) as f64 / 1000.0;
        assert_eq!(g["latency_ms"][k].as_f64(), Some(want), "{k}");
    }
    assert_eq!(
        m["schedule"]["shares"],
        serde_json::json!(["1/3", "2/3", "3/3"])
    );
    assert!(m["schedule"]["spread_ms"].as_f64().unwrap() < 50.0);
    let page = std::fs::read_to_string(merged.as_ref().join("merged.md")).unwrap();
    assert!(page.contains("Each vantage point's view"), "{page}");
    // An earlier merge is not replaced without --force.
    let o = run(&args);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    // A start that has passed, or is too far ahead, or too near to open the connections in.
    let soon = |d: Duration| humantime::format_rfc3339_millis(SystemTime::now() + d).to_string();
    let past = humantime::format_rfc3339_millis(SystemTime::now() - Duration::from_secs(1));
    for (at, says) in [
        (past.to_string(), "at most 1 hour ahead"),
        (soon(Duration::from_secs(7200)), "at most 1 hour ahead"),
        ("noon".to_string(), "RFC 3339"),
        (soon(Duration::from_millis(900)), "less than the --timeout"),
    ] {
        let out = tempdir("share-refused");
        let args = ["--rate", "10", "--start-at", &at, "--timeout", "2s"];
        let o = run_into(out.as_ref(), &url, &args);
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

/// The successes' latency histograms of runs `dirs`, read from their interval logs with
/// HdrHistogram's own decoder and added.
fn ok_latencies(dirs: &[&std::path::Path]) -> hdrhistogram::Histogram<u64> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut all = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for d in dirs {
        let log = std::fs::read(d.join("latency.hlog")).unwrap();
        for e in IntervalLogIterator::new(&log) {
            let LogEntry::Interval(h) = e.unwrap() else {
                continue;
            };
            if h.tag().is_some_and(|t| t.as_str() == "ok") {
                let b64 = &base64::engine::general_purpose::STANDARD;
                let bytes = base64::Engine::decode(b64, h.encoded_histogram()).unwrap();
                let one: hdrhistogram::Histogram<u64> =
                    hdrhistogram::serialization::Deserializer::new()
                        .deserialize(&mut std::io::Cursor::new(bytes))
                        .unwrap();
                all.add(&one).unwrap();
            }
        }
    }
    all
}

#[test]
fn merge_refuses_runs_that_are_not_one_measurement_and_says_what_is_missing() {
    let (a, _) = scripted_server(Script::default());
    let (b, _) = scripted_server(Script::default());
    // Five runs on one clock (1 s each), then one after them.
    let start_at =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(3)).to_string();
    let runs = [
        ("m-1of3", a, Some("1/3")),
        ("m-2of3", a, Some("2/3")),
        ("m-2of3-again", a, Some("2/3")),
        ("m-plain", a, None),
        ("m-other-target", b, Some("3/3")),
    ]
    .map(|(name, addr, share)| {
        let out = tempdir(name);
        let (path, start_at) = (out.as_ref().to_path_buf(), start_at.clone());
        let running = std::thread::spawn(move || {
            let mut args = vec!["--rate", "30", "--duration", "1s", "--start-at", &start_at];
            if let Some(s) = share {
                args.extend(["--share", s]);
            }
            run_into(&path, &format!("http://{addr}/"), &args)
        });
        (out, running)
    })
    .map(|(out, running)| {
        let o = running.join().unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        out
    });
    let [one, two, again, plain, other] = runs;
    let later = tempdir("m-later");
    let o = run_into(
        later.as_ref(),
        &format!("http://{a}/"),
        &["--rate", "30", "--duration", "1s", "--share", "3/3"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let merged = tempdir("m-merged");
    let merge = |dirs: &[&TempDir], extra: &[&str]| {
        let mut args: Vec<&str> = vec!["merge"];
        args.extend(dirs.iter().map(|d| d.as_ref().to_str().unwrap()));
        args.extend(["--out", merged.as_ref().to_str().unwrap()]);
        args.extend(extra);
        run(&args)
    };
    for (dirs, says) in [
        (vec![&one, &plain], "some runs had a --share and some none"),
        (vec![&one, &later], "did not load the target together"),
        (vec![&two, &again], "share 2/3 is in two runs"),
        (vec![&one, &other], "targets differ"),
        (vec![&one, &merged], "is one of the runs"),
    ] {
        let o = merge(&dirs, &[]);
        assert_eq!(code(&o), 2, "{says}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{says}: {}", stderr(&o));
    }
    // Two of three shares: merged, and the missing one named.
    let o = merge(&[&one, &two], &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = summary_like(&merged.as_ref().join("merged.json"));
    assert_eq!(m["schedule"]["missing"], serde_json::json!(["3/3"]));
    assert!(m["notes"].to_string().contains("3/3"), "{}", m["notes"]);
    assert_eq!(
        m["merged"]["sent"].as_u64(),
        Some(20),
        "10 + 10 of 30 ticks"
    );
    // Replaced only when asked.
    assert_eq!(code(&merge(&[&one, &two], &[])), 2);
    assert_eq!(code(&merge(&[&one, &two], &["--force"])), 0);
}

fn summary_like(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
