//! The live view: frames stream during a run and end with the final figures; /metrics is
//! Prometheus' text format (promtool, a real Prometheus scrape); the Grafana dashboard names
//! only metrics that exist; no token reaches a viewer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A run with `--live` on a free port; its live address once it said it.
fn live_run(url: &str, out: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let mut child = runner()
        .args(["run", url, "--live", "127.0.0.1:0", "--out"])
        .arg(out)
        .args(extra)
        .args(["-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chaos-runner");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(rest) = line.split("live view at http://").nth(1) {
            let addr = rest.split('/').next().unwrap().to_string();
            // Keep draining stderr so the child never blocks on it.
            std::thread::spawn(move || {
                let mut sink = String::new();
                let _ = err.read_to_string(&mut sink);
            });
            return (child, addr);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no live view address printed: {line}");
}

/// GETs a path; the whole answer (until the server closes or `limit` passes).
fn get(addr: &str, path: &str, limit: Duration) -> String {
    get_until(addr, path, limit).0
}

/// GETs a path; the answer so far, and whether the server closed it (else `limit` passed).
fn get_until(addr: &str, path: &str, limit: Duration) -> (String, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let started = Instant::now();
    let mut chunk = [0u8; 16384];
    let mut closed = false;
    while started.elapsed() < limit {
        match s.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    (String::from_utf8_lossy(&buf).into_owned(), closed)
}

fn names_in(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

#[test]
fn frames_stream_during_the_run_end_with_the_final_figures_and_hold_no_token() {
    let (addr, _) = scripted_server(Script::default());
    let out = tempdir("live");
    let url = format!("http://{addr}/?token=s3cret-in-url");
    let (mut child, live) = live_run(
        &url,
        &out,
        &[
            "--rate",
            "100",
            "--duration",
            "4s",
            "--live-linger",
            "1s",
            "--kill-token",
            "s3cret-kill-token",
            "--fault",
            "http:/kill,at=2s",
        ],
    );
    // The stream is followed from the start; /metrics is read once the replica has
    // answered, so that every metric has a sample.
    let reader = {
        let live = live.clone();
        std::thread::spawn(move || get_until(&live, "/events", Duration::from_secs(120)))
    };
    let mut metrics = String::new();
    wait_for("an ok answer in /metrics", Duration::from_secs(60), || {
        metrics = get(&live, "/metrics", Duration::from_secs(3));
        metrics.lines().any(|l| {
            l.starts_with("chaos_requests_total{")
                && l.contains("class=\"ok\"")
                && !l.ends_with(" 0")
        })
    });
    let status = child.wait().unwrap();
    assert!(status.success());
    let (stream, closed) = reader.join().unwrap();
    // The stream ended on its own, with the run, not by the read's 120 s limit.
    assert!(closed, "the stream was still open after 120 s");
    let frames = stream.matches("event: frame").count();
    assert!(frames >= 3, "{frames} frames in a 4 s run, at 2 a second");
    let end = stream
        .split("event: end")
        .nth(1)
        .expect("an end event with the final figures");
    assert!(
        end.contains("finished") && end.contains("<svg"),
        "{end:.300}"
    );
    assert!(
        end.contains("What was done:") && end.contains("Verdict:"),
        "the final frame tells the story: {end:.600}"
    );
    assert!(
        stream.contains("http:/kill"),
        "the fault is listed as it fires"
    );
    for secret in ["s3cret-in-url", "s3cret-kill-token"] {
        assert!(!stream.contains(secret), "the page shows {secret}");
        assert!(!metrics.contains(secret));
    }
    let exposed = names_in(&metrics);
    assert!(
        exposed.contains(&"chaos_requests_total".to_string()),
        "{metrics}"
    );
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../grafana/crashlab-live.json"
        ))
        .unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut named = 0;
    for p in dash["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("chaos_") {
                    named += 1;
                    assert!(
                        exposed.iter().any(|n| n == word),
                        "the dashboard names {word}, which /metrics does not expose: {metrics}"
                    );
                }
            }
        }
    }
    assert!(named >= 8);
}

#[test]
#[ignore = "needs promtool and prometheus; CI runs it (cargo test -- --include-ignored)"]
fn metrics_pass_promtool_and_a_real_prometheus_scrapes_them() {
    for tool in ["promtool", "prometheus"] {
        let ok = std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "{tool} is missing (apt-get install prometheus; .ci/run does)"
        );
    }
    let (addr, _) = scripted_server(Script::default());
    let out = tempdir("live-prom");
    let (mut child, live) = live_run(
        &format!("http://{addr}/"),
        &out,
        &["--rate", "100", "--duration", "12s", "--live-linger", "1s"],
    );
    let metrics = get(&live, "/metrics", Duration::from_secs(3));
    let body = metrics.split("\r\n\r\n").nth(1).unwrap_or("");
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let o = check.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let dir = tempdir("prometheus");
    std::fs::create_dir_all(&*dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: chaos\n    static_configs:\n      - targets: ['{live}']\n"),
    )
    .unwrap();
    let port = free_port();
    let mut prom = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut value = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && value.is_none() {
        std::thread::sleep(Duration::from_millis(500));
        let answer = std::panic::catch_unwind(|| {
            get(
                &format!("127.0.0.1:{port}"),
                "/api/v1/query?query=chaos_requests_total%7Bclass%3D%22ok%22%7D",
                Duration::from_secs(2),
            )
        })
        .unwrap_or_default();
        if let Some(json) = answer.split("\r\n\r\n").nth(1) {
            let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_default();
            value = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|v| *v > 0.0);
        }
    }
    let _ = prom.kill();
    let _ = prom.wait();
    let _ = child.wait();
    assert!(
        value.is_some(),
        "Prometheus scraped no chaos_requests_total from the live view"
    );
}
