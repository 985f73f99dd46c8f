//! Hostile targets: a new replica id with every answer, bodies that never end, markup in
//! headers, tokens in URLs; and signals in every phase.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_new_replica_id_with_every_answer_keeps_time_and_memory_bounded() {
    let _turn = timing_turn();
    let (addr, _script) = scripted_server(Script {
        fresh_ids: true,
        ..Default::default()
    });
    let out = tempdir("fresh-ids");
    let started = Instant::now();
    let mut child = runner()
        .args([
            "run",
            &format!("http://{addr}/"),
            "--rate",
            "2000",
            "--duration",
            "5s",
        ])
        .args(["--out", out.to_str().unwrap(), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak = 0.0f64;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if let Some(p) = peak_rss_mib(child.id()) {
            peak = peak.max(p);
        }
        // A guard against a hang, not a measurement: the run is 5 s.
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "still running after 120 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0));
    println!("10,000 distinct 1 KB replica ids: {took:?}, peak RSS {peak:.1} MiB");
    assert!(peak < 200.0, "peak RSS {peak:.1} MiB");
    let s = summary(&out);
    assert_reconciles(&s);
    let instances = s["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1000, "the first 999 and the rest together");
    assert!(instances
        .iter()
        .all(|i| i["id"].as_str().unwrap().len() <= 128));
    let answers: u64 = instances
        .iter()
        .map(|i| i["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(
        answers,
        s["counts"]["ok"].as_u64().unwrap(),
        "no answer lost"
    );
    let size = std::fs::metadata(out.join("summary.json")).unwrap().len();
    assert!(size < 2_000_000, "summary.json is {size} bytes");
}

#[test]
fn an_endless_body_is_cut_off_by_probe() {
    let addr = endless_body_server();
    let started = Instant::now();
    let o = run(&["probe", "--timeout", "60s", &format!("http://{addr}/")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The body limit ended the read, not the timeout (and not the server, which sends for
    // 20 s): the two are far apart whatever the machine's speed.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "probe read for {:?}",
        started.elapsed()
    );
}

#[test]
fn server_strings_are_escaped_in_report_md() {
    let (addr, _script) = scripted_server(Script {
        version: Some("<img src=x onerror=alert(1)>"),
        ..Default::default()
    });
    let out = tempdir("markup");
    let o = run_into(
        &out,
        &format!("http://{addr}/"),
        &["--rate", "50", "--duration", "500ms"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for f in ["report.md", "report.html"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(!text.contains("<img src=x"), "{f} holds raw markup");
        assert!(text.contains("&lt;img src=x onerror=alert(1)"), "{f}");
    }
}

#[test]
fn tokens_stay_out_of_reports_and_off_other_hosts() {
    let port = free_port();
    let _cs = crashserver(port, &[("KILL_TOKEN", "s3cret")]);
    // A second server on another host name (localhost, not 127.0.0.1) that logs what it got.
    let (other, script) = scripted_server(Script::default());
    let other_url = format!("http://localhost:{}/kill", other.port());
    let out = tempdir("tokens");
    let o = run_into(
        &out,
        &format!("http://127.0.0.1:{port}/"),
        &[
            "--rate",
            "50",
            "--duration",
            "1500ms",
            "--fault",
            "http:/status?token=s3cret,at=1s",
            "--fault",
            &format!("http:{other_url},at=500ms"),
            "--kill-token",
            "s3cret",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for f in ["summary.json", "report.md", "report.html"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(!text.contains("s3cret"), "the token is in {f}");
    }
    assert!(!String::from_utf8_lossy(&o.stdout).contains("s3cret"));
    assert!(!stderr(&o).contains("s3cret"));
    let s = summary(&out);
    let f = s["faults"].as_array().unwrap();
    assert_eq!(f[1]["ok"], true, "the token in the URL worked: {}", f[1]);
    assert!(f[1]["spec"].as_str().unwrap().contains("token=REDACTED"));
    assert_eq!(
        script.answered.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the other host was asked once"
    );
    assert_eq!(
        script.authorization.lock().unwrap().as_slice(),
        &[None::<String>],
        "--kill-token went to another host"
    );
}

#[test]
fn a_second_interrupt_quits_at_once() {
    let (addr, silent) = silent_server();
    let out = tempdir("twice");
    let mut child = runner()
        .args([
            "run",
            &format!("http://{addr}/"),
            "--rate",
            "100",
            "--duration",
            "60s",
        ])
        .args(["--timeout", "30s", "--out", out.to_str().unwrap(), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = Lines::follow(child.stderr.take().unwrap());
    wait_for(
        "the load reached the server",
        Duration::from_secs(30),
        || !silent.entries().is_empty(),
    );
    let kill = |sig: &str| {
        assert!(std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    kill("-INT");
    said.wait_for("interrupted: stopping", Duration::from_secs(30));
    let sent = Instant::now();
    kill("-TERM");
    // Without the second signal the run would wait for its requests' 30 s timeout: "at
    // once" is anything well short of that, whatever the machine's speed.
    let end = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < end, "a second signal did not end the run");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(130));
    assert!(
        sent.elapsed() < Duration::from_secs(15),
        "{:?}",
        sent.elapsed()
    );
    said.wait_for("interrupted twice", Duration::from_secs(5));
}
