//! Test helpers: run the chaos-runner binary, scripted HTTP servers with known behaviour,
//! and real crashserver processes.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

pub use crate::truth::*;

pub const RUNNER: &str = env!("CARGO_BIN_EXE_chaos-runner");

/// Tests whose figures depend on timing (latency percentiles, window lengths) take turns,
/// so that the test runner's other threads do not share the two cores with them.
pub fn timing_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn runner() -> Command {
    let mut c = Command::new(RUNNER);
    c.env_remove("KILL_TOKEN")
        .env_remove("DOCKER_HOST")
        .env_remove("CRASHLAB_STREAM_TOKEN");
    if std::env::var_os("TEST_LOG").is_none() {
        c.env("RUST_LOG", "warn");
    }
    c
}

pub fn run(args: &[&str]) -> Output {
    let out = runner()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run chaos-runner");
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// A directory for one test's output, removed when the test ends (set TEST_KEEP to keep it).
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh path (not created) for one test's output.
/// `chaos-runner run URL ARGS... --out OUT -q`.
pub fn run_into(out: &Path, url: &str, args: &[&str]) -> Output {
    let mut all = vec!["run", url];
    all.extend_from_slice(args);
    all.extend(["--out", out.to_str().expect("a UTF-8 path"), "-q"]);
    run(&all)
}

pub fn tempdir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("chaos-runner-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    TempDir(d)
}

pub fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// Checks the reconciliation every summary must satisfy, and returns (sent, ok).
pub fn assert_reconciles(s: &serde_json::Value) -> (u64, u64) {
    let c = &s["counts"];
    let n = |k: &str| c[k].as_u64().unwrap();
    assert_eq!(
        n("scheduled"),
        n("sent") + n("dropped"),
        "scheduled = sent + dropped: {c}"
    );
    let classes: u64 = c["by_class"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(n("sent"), classes, "sent = ok + every failure class: {c}");
    assert_eq!(n("failed"), n("sent") - n("ok"));
    (n("sent"), n("ok"))
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP server that answers 200, except 503 during `outage`; requests arriving during
/// `hang` are never answered (a hung replica, a partition); requests arriving during
/// `freeze` are answered when it ends (a stop-the-world pause). Times are offsets from the
/// first request it sees. It counts what it answered and what it left hanging.
#[derive(Default)]
pub struct Script {
    pub outage: Option<(Duration, Duration)>,
    pub hang: Option<(Duration, Duration)>,
    pub freeze: Option<(Duration, Duration)>,
    /// Answer every request with an `X-Instance` never seen before (1 KB long).
    pub fresh_ids: bool,
    /// The `X-Version` to send.
    pub version: Option<&'static str>,
    /// `GET /outage?ms=N` (not logged, not counted) makes it answer 503 to every request
    /// arriving in the next N ms: an outage a fault starts, so each run gets its own.
    pub outage_on_demand: bool,
    /// When the outage asked for last ends.
    pub demanded_until: std::sync::Mutex<Option<Instant>>,
    pub first: OnceLock<Instant>,
    pub answered: AtomicU64,
    pub failed: AtomicU64,
    pub hung: AtomicU64,
    /// The Authorization header of every request, in order.
    pub authorization: std::sync::Mutex<Vec<Option<String>>>,
    /// Every request's arrival and answer: the ground truth of timing assertions.
    pub log: ServerLog,
}

pub fn scripted_server(script: Script) -> (SocketAddr, Arc<Script>) {
    let script = Arc::new(script);
    let st = script.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(scripted).with_state(st);
            axum::serve(listener, app).await.unwrap();
        });
    });
    (rx.recv().unwrap(), script)
}

async fn scripted(
    State(s): State<Arc<Script>>,
    uri: axum::http::Uri,
    req_headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if s.outage_on_demand && uri.path() == "/outage" {
        let ms: u64 = uri
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        *s.demanded_until.lock().unwrap() = Some(Instant::now() + Duration::from_millis(ms));
        return (StatusCode::OK, "outage begun").into_response();
    }
    let logged = s.log.arrived();
    let first = *s.first.get_or_init(Instant::now);
    s.authorization.lock().unwrap().push(
        req_headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    );
    let t = first.elapsed();
    let within = |w: Option<(Duration, Duration)>| w.filter(|&(a, b)| t >= a && t < b);
    if within(s.hang).is_some() {
        s.hung.fetch_add(1, Ordering::SeqCst);
        // Longer than any test's timeout: the client gives up first and drops the connection.
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    if let Some((_, end)) = within(s.freeze) {
        tokio::time::sleep_until((first + end).into()).await;
    }
    let n = s.answered.fetch_add(1, Ordering::SeqCst);
    let id = if s.fresh_ids {
        format!("{n}-{}", "x".repeat(1000))
    } else {
        "scripted".to_string()
    };
    let headers = [
        ("x-instance", id),
        ("x-version", s.version.unwrap_or("").to_string()),
    ];
    let demanded = s
        .demanded_until
        .lock()
        .unwrap()
        .is_some_and(|until| Instant::now() < until);
    let down = demanded || s.outage.is_some_and(|(a, b)| t >= a && t < b);
    let status = if down {
        s.failed.fetch_add(1, Ordering::SeqCst);
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    s.log.answered(logged, status.as_u16());
    (status, headers, if down { "down" } else { "up" }).into_response()
}

/// A server whose answers never end: 200, then body bytes for up to 20 s.
pub fn endless_body_server() -> SocketAddr {
    use std::io::{Read, Write};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
                let chunk = format!("{:x}\r\n{}\r\n", 65536, "y".repeat(65536));
                let end = Instant::now() + Duration::from_secs(20);
                while Instant::now() < end && c.write_all(chunk.as_bytes()).is_ok() {}
            });
        }
    });
    addr
}

/// Peak resident memory of a running process (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// A listener that accepts connections and never answers. Its log has, for each request,
/// when its head arrived and (as `answered`, status 0) when the client gave up on it and
/// closed the connection. Every connection is let go after 20 s.
pub fn silent_server() -> (SocketAddr, Arc<ServerLog>) {
    use std::io::Read;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let log = Arc::new(ServerLog::default());
    let shared = log.clone();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(20);
        l.set_nonblocking(true).unwrap();
        while Instant::now() < end {
            let Ok((mut c, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let log = shared.clone();
            std::thread::spawn(move || {
                let _ = c.set_nonblocking(false);
                let _ = c.set_read_timeout(Some(
                    end.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(1)),
                ));
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                let mut entry = None;
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            head.extend_from_slice(&buf[..n]);
                            if entry.is_none() && head.windows(4).any(|w| w == b"\r\n\r\n") {
                                entry = Some(log.arrived());
                            }
                        }
                    }
                }
                if let Some(i) = entry {
                    log.answered(i, 0);
                }
            });
        }
    });
    (addr, log)
}

/// The crashserver binary of this workspace, built if needed.
pub fn crashserver_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let bin = dir.join("crashserver");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "crashserver",
                "--bin",
                "crashserver",
            ])
            .status()
            .expect("cargo build crashserver");
        assert!(status.success(), "building crashserver failed");
        assert!(bin.exists(), "no crashserver at {}", bin.display());
        bin
    })
    .clone()
}

pub struct Crashserver {
    pub child: Child,
}

impl Drop for Crashserver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts crashserver on `port` with its JSON log followed, and waits until it answers.
pub fn crashserver_logged(port: u16, env: &[(&str, &str)]) -> (Crashserver, Lines) {
    let mut c = Command::new(crashserver_bin());
    c.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .env_remove("KILL_TOKEN")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let lines = Lines::follow(child.stdout.take().unwrap());
    wait_for("crashserver listening", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (Crashserver { child }, lines)
}

/// Starts crashserver on `port` and waits until it answers.
pub fn crashserver(port: u16, env: &[(&str, &str)]) -> Crashserver {
    let mut c = Command::new(crashserver_bin());
    c.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .env_remove("KILL_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "crashserver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Crashserver { child }
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A crashserver whose exit the test waits for: the moment it was seen gone (polled every
/// millisecond) is the ground truth of when it died.
pub struct ExitWatch {
    died: std::sync::mpsc::Receiver<std::time::SystemTime>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Crashserver {
    /// Hands the process to a watcher; it is killed if the watch is dropped while it runs.
    pub fn watch_exit(mut self) -> ExitWatch {
        let (tx, died) = std::sync::mpsc::channel();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = tx.send(std::time::SystemTime::now());
                return;
            }
            if stopped.load(Ordering::SeqCst) {
                return; // dropping self kills it
            }
            std::thread::sleep(Duration::from_millis(1));
        });
        ExitWatch { died, stop }
    }
}

impl ExitWatch {
    /// When the process was seen gone; panics after `guard` (against a hang).
    pub fn died(&self, guard: Duration) -> std::time::SystemTime {
        self.died
            .recv_timeout(guard)
            .unwrap_or_else(|_| panic!("crashserver still running after {guard:?}"))
    }
}

impl Drop for ExitWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Seconds from the run's start to `t` (negative before it).
pub fn since_start(summary: &serde_json::Value, t: std::time::SystemTime) -> f64 {
    match t.duration_since(run_start(summary)) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// Lines a child writes to a pipe, gathered by a thread, to wait for one of them.
pub struct Lines(Arc<std::sync::Mutex<Vec<String>>>);

impl Lines {
    pub fn follow(pipe: impl std::io::Read + Send + 'static) -> Self {
        use std::io::BufRead;
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                sink.lock().unwrap().push(line);
            }
        });
        Self(lines)
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Waits until a line contains `text` (`guard` against a hang).
    pub fn wait_for(&self, text: &str, guard: Duration) {
        wait_for(&format!("a line with {text:?}"), guard, || {
            self.0.lock().unwrap().iter().any(|l| l.contains(text))
        });
    }
}

/// A committed JSON schema of chaos-runner's (`schema/NAME`), compiled.
pub fn schema(name: &str) -> jsonschema::Validator {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// Asserts `value` matches the committed schema `name`, listing every error.
pub fn assert_schema(name: &str, value: &serde_json::Value) {
    let errors: Vec<String> = schema(name)
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "against {name}: {errors:#?}");
}
