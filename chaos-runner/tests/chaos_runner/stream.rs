//! Runs streamed to a gatherer (`run --stream-to`, `gather`): what arrives is the run, a
//! runner killed mid-run is kept up to its last send, a run that loses its gatherer stops
//! by itself, and a gatherer keeps nothing that is not its run's.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use crate::support::*;
use crate::truth::wait_for;

const TOKEN: &str = "stream-test-token-0123456789";

/// `chaos-runner gather` on a free port, answering once it does.
fn spawn_gatherer(out: &std::path::Path, expect: u32, lost_after: &str) -> (Child, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = runner()
        .args(["gather", "--listen", &addr.to_string(), "--out"])
        .arg(out)
        .args(["--expect", &expect.to_string(), "--lost-after", lost_after])
        .env("CRASHLAB_STREAM_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the gatherer to listen", Duration::from_secs(30), || {
        TcpStream::connect(addr).is_ok()
    });
    (child, addr)
}

/// One request on its own connection; the whole answer.
fn http(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{head}\r\nHost: g\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // A peer refusing a large body may close before reading it all.
    let _ = s.write_all(body);
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

fn streamed<'a>(gatherer: SocketAddr, name: &'a str, more: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--stream-to",
        &format!("http://{gatherer}"),
        "--stream-name",
        name,
        "--stream-token",
        TOKEN,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(more.iter().map(|s| s.to_string()));
    v
}

#[test]
fn runs_streamed_to_a_gatherer_arrive_whole_and_a_killed_one_up_to_its_loss() {
    let _turn = timing_turn();
    let (addr, script) = scripted_server(Script::default());
    let url = format!("http://{addr}/");
    let gathered = tempdir("gathered");
    let (gatherer, gaddr) = spawn_gatherer(&gathered, 3, "2s");
    let outs = [tempdir("node-a"), tempdir("node-b"), tempdir("node-c")];
    let start_at =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(3)).to_string();
    let args = |k: usize| {
        let name = ["node-a", "node-b", "node-c"][k];
        let share = format!("{}/3", k + 1);
        let more = [
            "--rate",
            "600",
            "--duration",
            "4s",
            "--share",
            &share,
            "--start-at",
            &start_at,
        ];
        streamed(gaddr, name, &more)
    };
    let whole: Vec<_> = [0, 2]
        .into_iter()
        .map(|k| {
            let (out, url, a) = (outs[k].to_path_buf(), url.clone(), args(k));
            std::thread::spawn(move || {
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                run_into(&out, &url, &a)
            })
        })
        .collect();
    // node-b is killed 2.5 s into the load: its gatherer keeps what it sent until then.
    let mut killed = runner()
        .args(["run", &url])
        .args(args(1))
        .args(["--out", outs[1].to_str().unwrap(), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first request", Duration::from_secs(60), || {
        script.first.get().is_some()
    });
    let first = *script.first.get().unwrap();
    while first.elapsed() < Duration::from_millis(2_500) {
        std::thread::sleep(Duration::from_millis(1));
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    for w in whole {
        let o = w.join().unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    // The gatherer ends by itself: two ended, one silent for --lost-after (2 s).
    let ended = Instant::now();
    let o = gatherer.wait_with_output().unwrap();
    assert!(
        ended.elapsed() < Duration::from_secs(15),
        "gather ended {:?} after the runs",
        ended.elapsed()
    );
    let said = String::from_utf8_lossy(&o.stdout);
    assert_eq!(code(&o), 4, "a vantage was lost: {said}{}", stderr(&o));
    assert!(
        said.contains("2 vantage(s) ended (node-a, node-c), 1 lost (node-b)"),
        "{said}"
    );

    // What arrived is each whole run, byte for byte.
    let v = gathered.join("vantages");
    for (k, name) in [(0, "node-a"), (2, "node-c")] {
        for file in [
            "summary.json",
            "timeline.csv",
            "latency.hlog",
            "latency.hgrm",
            "report.md",
            "report.html",
            "journal/run.jsonl",
            "journal/buckets.csv",
            "clock.json",
        ] {
            let here = std::fs::read(outs[k].join(file)).unwrap();
            let there = std::fs::read(v.join(name).join(file)).unwrap_or_default();
            assert!(here == there, "{name}/{file} differs from the run's own");
        }
    }
    // The killed one: its journal up to its last send, a beginning of what it wrote.
    for file in ["journal/run.jsonl", "journal/buckets.csv", "latency.hlog"] {
        let here = std::fs::read(outs[1].join(file)).unwrap();
        let there = std::fs::read(v.join("node-b").join(file)).unwrap();
        assert!(
            !there.is_empty() && here.starts_with(&there),
            "node-b/{file}: {} bytes arrived, not a beginning of its {}",
            there.len(),
            here.len()
        );
    }
    assert!(!v.join("node-b/summary.json").exists());

    // The merge of what arrived: node-b lost, the counts the vantages' sum and within the
    // server's.
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(gathered.join("merged/merged.json")).unwrap(),
    )
    .unwrap();
    assert_schema("merged.schema.json", &m);
    let vs = m["vantages"].as_array().unwrap();
    let names: Vec<&str> = vs.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["node-a", "node-b", "node-c"]);
    assert_eq!(vs[1]["rebuilt"], true);
    let lost_at = vs[1]["lost_at_s"].as_f64().expect("node-b lost");
    assert!(
        (0.5..=3.0).contains(&lost_at),
        "node-b lost at {lost_at} s of its run, killed 2.5 s in"
    );
    for (k, x) in [(0, &vs[0]), (2, &vs[2])] {
        assert_eq!(x["lost_at_s"], serde_json::Value::Null);
        assert_eq!(
            x["scheduled"].as_u64(),
            summary(&outs[k])["counts"]["scheduled"].as_u64()
        );
    }
    // Each sender's clock against the gatherer's: one kernel clock here, so each offset is
    // only the measurement's own error, which is at most half the exchange's round trip (the
    // gatherer stamped its answer between the send and the answer's arrival).
    for (k, x) in [(0, &vs[0]), (2, &vs[2])] {
        let c = json_of(&outs[k].join("clock.json"));
        for at in ["start", "end"] {
            let (off, rtt) = (
                c[at]["offset_ms"].as_f64().unwrap(),
                c[at]["rtt_ms"].as_f64().unwrap(),
            );
            assert!(
                off.abs() <= rtt / 2.0 + 0.002,
                "{at}: offset {off} ms, round trip {rtt} ms"
            );
        }
        assert_eq!(x["clock_offset_start_ms"], c["start"]["offset_ms"]);
        assert_eq!(x["clock_offset_end_ms"], c["end"]["offset_ms"]);
    }
    let n = |x: &serde_json::Value, k: &str| x[k].as_u64().unwrap();
    let g = &m["merged"];
    assert_eq!(
        n(g, "scheduled"),
        vs.iter().map(|x| n(x, "scheduled")).sum::<u64>()
    );
    assert!(n(g, "ok") <= script.answered.load(Ordering::SeqCst));
}

#[test]
fn a_gatherer_keeps_only_its_run_s_files_and_a_run_that_loses_it_stops_by_itself() {
    let _turn = timing_turn();
    let gathered = tempdir("gathered-guard");
    let (mut gatherer, gaddr) = spawn_gatherer(&gathered, 1, "30s");
    let put = |path: &str, token: &str, body: &[u8]| {
        http(
            gaddr,
            &format!("PUT {path} HTTP/1.1\r\nAuthorization: Bearer {token}"),
            body,
        )
    };
    let status = |a: &str| a.split(' ').nth(1).unwrap_or("").to_string();
    let journal = "/v1/vantages/n1/journal/run.jsonl";
    for (path, token, body, want) in [
        (
            format!("{journal}?offset=0"),
            "wrong-token-0123456789",
            &b"x"[..],
            "401",
        ),
        (
            "/v1/vantages/n1/..%2Fsummary.json?offset=0".into(),
            TOKEN,
            b"x",
            "404",
        ),
        (
            "/v1/vantages/n1/journal/../../x?offset=0".into(),
            TOKEN,
            b"x",
            "404",
        ),
        (
            "/v1/vantages/.n/summary.json?offset=0".into(),
            TOKEN,
            b"x",
            "400",
        ),
        (format!("{journal}?offset=5"), TOKEN, b"x", "409"),
    ] {
        let a = put(&path, token, body);
        assert_eq!(status(&a), want, "{path}: {a}");
    }
    assert!(put(&format!("{journal}?offset=9"), TOKEN, b"x").contains("have 0"));
    let big = vec![b'x'; 5 * 1024 * 1024];
    assert_eq!(
        status(&put(&format!("{journal}?offset=0"), TOKEN, &big)),
        "413"
    );
    // Nothing was kept but the one file the token's vantage may send (still empty), and
    // nothing outside OUT/vantages.
    let kept: Vec<_> = walk(&gathered);
    assert!(
        kept.iter()
            .all(|p| p.ends_with("vantages/n1/journal/run.jsonl")),
        "{kept:?}"
    );
    assert_eq!(
        std::fs::read(gathered.join("vantages/n1/journal/run.jsonl")).unwrap_or_default(),
        b""
    );
    // The gatherer expects one vantage: a second name is refused.
    assert_eq!(
        status(&put("/v1/vantages/n2/summary.json?offset=0", TOKEN, b"{}")),
        "409"
    );

    // A run streaming to it loses it (SIGKILL) and stops within its bound (1 s of failed
    // sends, a second's tick, the load's stop), its own report whole and marked interrupted.
    let (addr, script) = scripted_server(Script::default());
    let out = tempdir("lost-gatherer");
    let a = streamed(
        gaddr,
        "n1",
        &[
            "--rate",
            "200",
            "--duration",
            "60s",
            "--stream-lost-after",
            "1s",
        ],
    );
    let mut run = runner()
        .args(["run", &format!("http://{addr}/")])
        .args(&a)
        .args(["--out", out.to_str().unwrap(), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first request", Duration::from_secs(60), || {
        script.first.get().is_some()
    });
    std::thread::sleep(Duration::from_millis(1_500));
    gatherer.kill().unwrap();
    gatherer.wait().unwrap();
    let killed = Instant::now();
    let exit = wait_exit(&mut run, Duration::from_secs(30));
    let took = killed.elapsed();
    eprintln!("the run stopped {took:?} after its gatherer died");
    let mut err = String::new();
    run.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(exit, Some(130), "stopped as interrupted: {err}");
    assert!(
        took < Duration::from_secs(10),
        "stopped {took:?} after its gatherer died"
    );
    assert!(err.contains("lost the gatherer"), "{err}");
    let s = summary(&out);
    assert_eq!(s["interrupted"], true);
    assert_reconciles(&s);
    assert!(s["run"]["elapsed_s"].as_f64().unwrap() < 20.0);
}

fn json_of(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The child's exit code once it exits, or None (and killed) after `guard`.
fn wait_exit(child: &mut Child, guard: Duration) -> Option<i32> {
    let t = Instant::now();
    while t.elapsed() < guard {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}
