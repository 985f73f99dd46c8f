//! Faults against real crashserver processes, and command hooks.

use std::time::Duration;

use crate::support::*;

#[test]
fn http_kill_takes_down_a_real_crashserver_and_the_outage_is_open_at_the_end() {
    // /kill every second; nothing restarts the server: one outage from the first kill to
    // the end, which the later kills land in, and no recovery time for any of them.
    let port = free_port();
    let _cs = crashserver(port, &[]);
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
    assert!((at - 1.0).abs() < 0.05, "fired at {at}");
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
    assert_eq!(
        w["failed"], s["counts"]["failed"],
        "every failure of the run is in the window"
    );
    let start = w["start_s"].as_f64().unwrap();
    assert!(
        start >= at - 0.01 && start - at < 0.15,
        "outage starts right after the kill: {start}"
    );
    assert!(s["counts"]["by_class"]["refused"].as_u64().unwrap() > 0);
    // The replica's last answer, not the edge of a bucket.
    let last = s["instances"][0]["last_seen_s"].as_f64().unwrap();
    assert!(
        last <= start && start - last < 0.01,
        "last answer {last}, down from {start}"
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("MTTR n/a (the outage had not ended"),
        "{text}"
    );
    assert!(text.contains("still down when the run ended"), "{text}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("not recovered (>= "), "{md}");
    assert!(md.contains("in an earlier one"), "{md}");
}

#[test]
fn a_restarted_crashserver_is_a_new_instance_and_recovery_is_measured() {
    let port = free_port();
    let first = crashserver(port, &[]);
    // A tiny supervisor: when the process dies, start it again 500 ms later.
    let sup = std::thread::spawn(move || {
        let mut first = first;
        let _ = first.child.wait();
        std::thread::sleep(Duration::from_millis(500));
        crashserver(port, &[])
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
    let _second = sup.join().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let s = summary(&out);
    assert_reconciles(&s);
    assert_eq!(s["instances"].as_array().unwrap().len(), 2);
    assert_eq!(s["restarts_seen"].as_u64(), Some(1));
    let f = &s["faults"][0];
    let rec = f["recovery_s"].as_f64().unwrap();
    assert!(
        (0.5..0.9).contains(&rec),
        "recovery {rec} s for a 0.5 s restart"
    );
    let w = &s["downtime"]["windows"][0];
    assert_eq!(w["open"], false);
    assert!((s["mttr_s"].as_f64().unwrap() - rec).abs() < 1e-9);
}

#[test]
fn status_fault_crashes_after_the_crash_delay() {
    let port = free_port();
    let _cs = crashserver(port, &[("CRASH_DELAY", "500ms")]);
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
    let start = s["downtime"]["windows"][0]["start_s"].as_f64().unwrap();
    assert!(
        (start - 1.0).abs() < 0.1,
        "crash 500 ms after /status at 0.5 s, seen at {start}"
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
        "1s",
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
        "every=300ms in 1 s fires at 0.3, 0.6, 0.9"
    );
    assert!(fired.contains(&format!("http://{addr}/")));
    let s = summary(&out);
    let faults = s["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 4);
    let failed: Vec<_> = faults.iter().filter(|f| f["ok"] == false).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["outcome"].as_str().unwrap().contains("exit 3"));
}
