//! Faults against real crashserver processes, and command hooks.

use std::time::Duration;

use crate::support::*;

#[test]
fn http_kill_takes_down_a_real_crashserver_and_the_outage_is_open_at_the_end() {
    // /kill every second; nothing restarts the server: one outage from the first kill to
    // the end, which the later kills land in, and no recovery time for any of them.
    let port = free_port();
    let cs = crashserver(port, &[]).watch_exit();
    let out = tempdir("kill");
    let o = run(&[
        "run",
        &format!("http://127.0.0.1:{port}/"),
        "--rate",
        "400",
        "--duration",
        "4s",
        "--fault",
        "http:/kill,every=1s",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    assert_reconciles(&s);
    let faults = s["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 3, "{faults:?}");
    let f = &faults[0];
    assert_eq!(f["ok"], true, "{f}");
    assert_eq!(f["outage"], true);
    assert_eq!(f["in_earlier_outage"], false);
    assert_eq!(f["recovery_s"], serde_json::Value::Null, "never recovered");
    let at = f["at_s"].as_f64().unwrap();
    // The truth: when the test saw the process gone (started_at is to the ms, hence 1 ms).
    let died = since_start(&s, cs.died(Duration::from_secs(10)));
    assert!(
        at >= 1.0 && at <= died + 0.001,
        "fired at {at}, died at {died}"
    );
    let after = f["not_recovered_after_s"].as_f64().unwrap();
    assert!((after - (4.0 - at)).abs() < 0.1, "down for >= {after} s");
    for later in &faults[1..] {
        assert_eq!(later["outage"], true, "{later}");
        assert_eq!(later["in_earlier_outage"], true, "{later}");
        assert_eq!(later["window"].as_u64(), Some(0));
        assert_eq!(later["recovery_s"], serde_json::Value::Null);
    }
    assert_eq!(s["mttr_s"], serde_json::Value::Null, "no outage ended");
    let windows = s["downtime"]["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1, "{windows:?}");
    let w = &windows[0];
    assert_eq!(
        w["open"], true,
        "nothing restarts it: still down at the end"
    );
    // Every failure of the run is in the window, but for requests sent out of order
    // across its start on a busy machine.
    assert_window_failures(
        w["failed"].as_u64().unwrap(),
        s["counts"]["failed"].as_u64().unwrap(),
        400.0,
    );
    // The outage starts when the server died: a request sent before may fail too, but
    // the first tick after it (at 400/s, 2.5 ms) cannot succeed.
    let start = w["start_s"].as_f64().unwrap();
    assert!(
        start <= died + 0.0025 + (SLACK_MS + 1.0) / 1e3,
        "outage starts at {start}, the server died at {died}"
    );
    assert!(s["counts"]["by_class"]["refused"].as_u64().unwrap() > 0);
    // The replica's last answer, not the edge of a bucket.
    let last = s["instances"][0]["last_seen_s"].as_f64().unwrap();
    assert!(
        last <= start && start - last < 0.01,
        "last answer {last}, down from {start}"
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("MTTR - (the outage had not ended"), "{text}");
    assert!(text.contains("still down when the run ended"), "{text}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("not recovered (>= "), "{md}");
    assert!(md.contains("in an earlier one"), "{md}");
}

#[test]
fn a_restarted_crashserver_is_a_new_instance_and_recovery_is_measured() {
    let port = free_port();
    let first = crashserver(port, &[]);
    // A tiny supervisor: when the process dies, start it again 500 ms later. It notes when
    // it saw the death, when it started the new process and when that one answered.
    let sup = std::thread::spawn(move || {
        let mut first = first;
        let _ = first.child.wait();
        let died = std::time::SystemTime::now();
        std::thread::sleep(Duration::from_millis(500));
        let spawned = std::time::SystemTime::now();
        let second = crashserver(port, &[]);
        (second, died, spawned, std::time::SystemTime::now())
    });
    let out = tempdir("restart");
    let o = run(&[
        "run",
        &format!("http://127.0.0.1:{port}/"),
        "--rate",
        "400",
        "--duration",
        "3s",
        "--fault",
        "http:/kill,at=1s",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let (_second, died, spawned, listening) = sup.join().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    assert_reconciles(&s);
    assert_eq!(s["instances"].as_array().unwrap().len(), 2);
    assert_eq!(s["restarts_seen"].as_u64(), Some(1));
    let f = &s["faults"][0];
    let rec = f["recovery_s"].as_f64().unwrap();
    // Recovered with the new process: after it was started, and by the first tick (2.5 ms)
    // after it answered the supervisor, within the slack.
    let (died, spawned, listening) = (
        since_start(&s, died),
        since_start(&s, spawned),
        since_start(&s, listening),
    );
    let back = f["at_s"].as_f64().unwrap() + rec;
    println!("kill at {}, died {died:.4}, restarted {spawned:.4}, listening {listening:.4}, first answer {back:.4}", f["at_s"]);
    assert!(spawned - died >= 0.5);
    // The window ends at the first success's tick, which the client may have sent late (a
    // busy machine): it can precede the new process by as much as the client ran late, as
    // its own send-lateness record says, never by more.
    let late = s["send_lateness_ms"]["max"].as_f64().unwrap_or(0.0) / 1e3;
    assert!(
        back >= spawned - 0.001 - late && back <= listening + 0.0025 + (SLACK_MS + 1.0) / 1e3,
        "recovered at {back} s; the new process started at {spawned} s, answered at {listening} s; \
         the client sent up to {late} s late"
    );
    let w = &s["downtime"]["windows"][0];
    assert_eq!(w["open"], false);
    assert!((s["mttr_s"].as_f64().unwrap() - rec).abs() < 1e-9);
}

#[test]
fn status_fault_crashes_after_the_crash_delay() {
    let port = free_port();
    let cs = crashserver(port, &[("CRASH_DELAY", "500ms")]).watch_exit();
    let out = tempdir("status");
    run(&[
        "run",
        &format!("http://127.0.0.1:{port}/"),
        "--rate",
        "200",
        "--duration",
        "2s",
        "--fault",
        "http:/status,at=500ms",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let s = summary(&out);
    let died = since_start(&s, cs.died(Duration::from_secs(10)));
    let at = s["faults"][0]["at_s"].as_f64().unwrap();
    assert!(died >= at + 0.5 - 0.001, "died at {died}, /status at {at}");
    // The outage starts when the server died, to the tick (5 ms at 200/s) and the slack (a
    // request sent before may have been in flight then, so only its end is bounded).
    let start = s["downtime"]["windows"][0]["start_s"].as_f64().unwrap();
    assert!(
        start > at && start <= died + 0.005 + (SLACK_MS + 1.0) / 1e3,
        "crash 500 ms after /status at {at} s: died at {died} s, outage from {start} s"
    );
}

#[test]
fn kill_token_is_sent_with_http_faults() {
    let port = free_port();
    let _cs = crashserver(port, &[("KILL_TOKEN", "s3cret")]);
    let out = tempdir("token-missing");
    run(&[
        "run",
        &format!("http://127.0.0.1:{port}/"),
        "--rate",
        "100",
        "--duration",
        "1s",
        "--fault",
        "http:/kill,at=300ms",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let s = summary(&out);
    assert_eq!(
        s["faults"][0]["ok"], false,
        "403 without the token is reported as a fault that did not take"
    );
    assert!(s["faults"][0]["outcome"].as_str().unwrap().contains("403"));
    assert_eq!(s["availability"]["requests"].as_f64(), Some(1.0));

    let out = tempdir("token");
    let o = runner()
        .args([
            "run",
            &format!("http://127.0.0.1:{port}/"),
            "--rate",
            "100",
            "--duration",
            "1s",
            "--fault",
            "http:/kill,at=300ms",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .env("KILL_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0);
    assert_eq!(summary(&out)["faults"][0]["ok"], true);
}

#[test]
fn cmd_fault_runs_the_command_on_schedule() {
    let (addr, _) = scripted_server(Script::default());
    let out = tempdir("cmd");
    std::fs::create_dir_all(&out).unwrap();
    let marker = out.join("fired");
    let spec = format!(
        "cmd:echo \"$CHAOS_TARGET\" >> {},every=300ms",
        marker.display()
    );
    let o = run(&[
        "run",
        &format!("http://{addr}/"),
        "--rate",
        "50",
        "--duration",
        "1100ms",
        "--fault",
        &spec,
        "--fault",
        "cmd:exit 3,at=100ms",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let fired = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(
        fired.lines().count(),
        3,
        "every=300ms in 1.1 s fires at 0.3, 0.6, 0.9"
    );
    assert!(fired.contains(&format!("http://{addr}/")));
    let s = summary(&out);
    let faults = s["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 4);
    let failed: Vec<_> = faults.iter().filter(|f| f["ok"] == false).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["outcome"].as_str().unwrap().contains("exit 3"));
}

/// The `from` and `until` crashserver logged for a chaos fault (its JSON log line).
fn chaos_window(lines: &Lines, fault: &str) -> (std::time::SystemTime, std::time::SystemTime) {
    lines.wait_for("chaos in force", Duration::from_secs(30));
    let line = lines
        .all()
        .into_iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(&l).unwrap_or_default())
        .find(|v| v["message"] == "chaos in force" && v["fault"] == fault)
        .expect("the chaos line");
    let t = |k: &str| humantime::parse_rfc3339(line[k].as_str().unwrap()).unwrap();
    (t("from"), t("until"))
}

#[test]
fn a_slow_replica_shows_its_added_latency_in_its_window_and_not_outside() {
    let _turn = timing_turn();
    let port = free_port();
    let (_cs, log) = crashserver_logged(port, &[("KILL_TOKEN", "s3cret")]);
    let out = tempdir("chaos-slow");
    let o = run_into(
        &out,
        &format!("http://127.0.0.1:{port}/"),
        &[
            "--rate",
            "100",
            "--duration",
            "6s",
            "--kill-token",
            "s3cret",
            "--fault",
            "http:/chaos?slow=200ms&for=2s,at=2s",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    assert_reconciles(&s);
    assert_eq!(s["faults"][0]["ok"], true, "{}", s["faults"][0]);
    // The truth: when crashserver says the fault was in force, on the run's time line.
    let (from, until) = chaos_window(&log, "slow");
    let (from, until) = (since_start(&s, from), since_start(&s, until));
    assert!((until - from - 2.0).abs() < 1e-3, "{from} to {until}");
    let edge = (SLACK_MS + 1.0) / 1e3;
    let csv = std::fs::read_to_string(out.join("timeline.csv")).unwrap();
    let col = |name: &str| {
        csv.lines()
            .next()
            .unwrap()
            .split(',')
            .position(|c| c == name)
            .unwrap()
    };
    let (t, mean, ok) = (col("t_s"), col("ok_mean_ms"), col("ok"));
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for row in csv.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let start: f64 = f[t].parse().unwrap();
        let end = start + 0.1;
        if f[ok] == "0" {
            continue;
        }
        let m: f64 = f[mean].parse().unwrap();
        if start >= from + edge && end <= until - edge {
            inside.push((start, m));
        } else if end <= from - edge || start >= until + edge {
            outside.push((start, m));
        }
    }
    // Outside the fault none was slowed: far below the 200 ms a slowed answer takes.
    for &(start, m) in &outside {
        assert!(
            m < 100.0,
            "bucket at {start:.1} s, outside the fault ({from:.3}-{until:.3} s): mean {m} ms"
        );
    }
    // Inside it every answer took the 200 ms the server added, plus what answers took
    // without it in this run (the slowest bucket outside), within the slack.
    let base = outside.iter().map(|&(_, m)| m).fold(0.0, f64::max);
    for &(start, m) in &inside {
        assert!(
            m >= 200.0 && m <= 200.0 + base + SLACK_MS + SLACK_SHARE * 200.0,
            "bucket at {start:.1} s, in the fault ({from:.3}-{until:.3} s): mean {m} ms (unslowed up to {base} ms)"
        );
    }
    let (inside, outside) = (inside.len(), outside.len());
    assert!(
        inside >= 15 && outside >= 30,
        "{inside} buckets in, {outside} out"
    );
}

#[test]
fn an_error_fault_s_5xx_count_equals_the_server_s_own() {
    let port = free_port();
    let (_cs, _log) = crashserver_logged(port, &[("KILL_TOKEN", "s3cret")]);
    let out = tempdir("chaos-errors");
    let o = run_into(
        &out,
        &format!("http://127.0.0.1:{port}/"),
        &[
            "--rate",
            "200",
            "--duration",
            "4s",
            "--kill-token",
            "s3cret",
            "--fault",
            "http:/chaos?errors=50%&for=2s,at=1s",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    assert_reconciles(&s);
    let client = s["counts"]["by_class"]["http_5xx"].as_u64().unwrap();
    let metrics = {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            c,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut m = String::new();
        c.read_to_string(&mut m).unwrap();
        m
    };
    let server: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("crashserver_http_requests_total{")
                && l.contains("route=\"/\"")
                && l.contains("status=\"500\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    println!("50 % errors for 2 s at 200/s: the client counted {client} 5xx, the server answered {server} 500s");
    assert!(server > 100, "the fault took: {server}");
    assert_eq!(client, server);
}
