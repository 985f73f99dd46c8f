//! Test helpers: start the real crashserver binary on port 0, read its JSON log lines (each
//! with the server's own timestamp: the ground truth for every timing check), and a minimal
//! blocking HTTP client.
//!
//! Timing checks never compare a measured time with an ideal schedule: they compare what
//! the server logged (when it armed, crashed, stopped) with times the test itself recorded
//! (when it sent a request, saw the answer, saw a connection close), both on the wall clock.
//! An event is never early; how late it may be is [`slack`]: a few milliseconds, a small
//! share of the interval timed, and the time the threads involved waited for a CPU (the
//! kernel's account of it, [`sched`]), which is all a busy machine adds.
//! Waits poll for a condition; their limits ([`HANG_GUARD`]) only guard against a hang.
//! Set `TEST_TIMING=1` (with `--nocapture`) to see how late each timed event came.
pub mod metrics;
pub mod sched;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_crashserver");

/// The limit of every wait for a condition: long enough that only a hang reaches it, even on
/// a 2-core machine with both cores busy. Never a bound on how fast something should be.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// How much later than its ground truth a timed event may come: a timer of `interval` that
/// fires, or an event that is seen, after threads that between them `waited` that long for a
/// CPU (see [`sched`]). A few milliseconds (tokio's timers and epoll's timeouts each round up
/// to the millisecond; logging and reading take a moment) plus 1 % of the interval.
pub fn slack(interval: Duration, waited: Duration) -> Duration {
    Duration::from_millis(5) + interval / 100 + waited
}

/// Asserts `lo <= t <= hi` (wall-clock times, `t` often from a log line, whose timestamps are
/// truncated to the microsecond), saying where `t` fell relative to `lo`.
#[track_caller]
pub fn assert_within(what: &str, t: SystemTime, lo: SystemTime, hi: SystemTime) {
    let ms = |a: SystemTime, b: SystemTime| match a.duration_since(b) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    };
    assert!(
        t + Duration::from_micros(1) >= lo && t <= hi,
        "{what}: {:+.3} ms from its earliest allowed time, window {:.3} ms",
        ms(t, lo),
        ms(hi, lo)
    );
}

/// When a timed event is due: never before `earliest`, and by `latest` on an idle machine,
/// for a timer (a sleep, a timeout) of `timed`.
#[derive(Debug, Clone, Copy)]
pub struct Due {
    pub earliest: SystemTime,
    pub latest: SystemTime,
    pub timed: Duration,
}

impl Due {
    /// Asserts that `t` came when due, no later than [`slack`] after `latest` when the threads
    /// involved waited `waited` for a CPU meanwhile.
    #[track_caller]
    pub fn check(&self, what: &str, t: SystemTime, waited: Duration) {
        if std::env::var_os("TEST_TIMING").is_some() {
            let late = t.duration_since(self.latest).unwrap_or_default();
            eprintln!(
                "timing: {}: {what}: late {:.3} ms, waited {:.3} ms, late beyond waited {:.3} ms",
                std::thread::current().name().unwrap_or_default(),
                late.as_secs_f64() * 1e3,
                waited.as_secs_f64() * 1e3,
                late.saturating_sub(waited).as_secs_f64() * 1e3
            );
        }
        assert_within(
            &format!("{what} (threads waited {waited:?} for a CPU)"),
            t,
            self.earliest,
            self.latest + slack(self.timed, waited),
        );
    }
}

/// Polls `done` every millisecond until it gives a value; panics after [`HANG_GUARD`].
#[track_caller]
pub fn wait_for<T>(what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + HANG_GUARD;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "hang: {what} not seen in {HANG_GUARD:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A log line's message.
pub fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}

/// The first line with `message` among `lines`; panics (listing them) if there is none.
#[track_caller]
pub fn find<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| self::message(l) == message)
        .unwrap_or_else(|| panic!("no log line {message:?} in {lines:#?}"))
}

/// A wall-clock field of a log line (RFC 3339, as the server writes them).
#[track_caller]
pub fn wall(line: &Value, field: &str) -> SystemTime {
    let text = line[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {line}"));
    humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{field} {text:?}: {e}"))
}

/// When the server wrote a log line (its own clock, to the microsecond).
#[track_caller]
pub fn logged_at(line: &Value) -> SystemTime {
    wall(line, "timestamp")
}

/// How a server process ended.
#[derive(Debug)]
pub struct Exit {
    pub status: ExitStatus,
    /// When the test saw it gone.
    pub gone: SystemTime,
    /// How long in all its first thread (which runs the crash timers) waited for a CPU.
    pub main_waited: Duration,
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub instance: String,
    /// Every stdout line so far (JSON log lines), in order.
    pub logs: Arc<Mutex<Vec<String>>>,
    /// Says when the server's stdout closed: every line it wrote is in `logs`.
    stdout_closed: Receiver<()>,
}

/// Starts crashserver on 127.0.0.1:0 with extra env vars and waits for its "listening" line.
pub fn spawn_server(env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args(["--port", "0", "--bind", "127.0.0.1", "--log-format", "json"])
        .env_remove("PORT")
        .env_remove("KILL_TOKEN")
        // The checks read info lines ("listening", "crashing"); a test may ask for more.
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("TEST_LOG").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn crashserver");
    let stdout = child.stdout.take().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let (closed_tx, stdout_closed) = std::sync::mpsc::channel();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if std::env::var_os("TEST_LOG").is_some() {
                eprintln!("[crashserver] {line}");
            }
            if line.contains("\"listening\"") {
                let _ = tx.send(line.clone());
            }
            sink.lock().unwrap().push(line);
        }
        let _ = closed_tx.send(());
    });
    let line = rx
        .recv_timeout(HANG_GUARD)
        .expect("crashserver logged no listening line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr = v["addr"].as_str().unwrap().parse().unwrap();
    let instance = v["instance"].as_str().unwrap().to_string();
    Server {
        child,
        addr,
        instance,
        logs,
        stdout_closed,
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How long so far the first thread (which runs the crash timers) waited for a CPU.
    pub fn main_waited(&self) -> Duration {
        sched::main_thread(self.pid())
    }

    /// How long so far every thread of the server waited for a CPU, summed.
    pub fn all_waited(&self) -> Duration {
        sched::all_threads(self.pid())
    }

    /// Polls until the process has exited (panics after `limit`); see [`reap`].
    #[track_caller]
    pub fn wait_exit(&mut self, limit: Duration) -> Exit {
        reap(&mut self.child, limit)
    }

    /// The log lines written so far, parsed.
    pub fn lines(&self) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits for the first log line with `message` and returns it.
    #[track_caller]
    pub fn wait_log(&self, message: &str) -> Value {
        wait_for(&format!("log line {message:?}"), || self.logged(message))
    }

    /// The first log line with `message` so far, if any.
    pub fn logged(&self, message: &str) -> Option<Value> {
        self.lines()
            .into_iter()
            .find(|l| self::message(l) == message)
    }

    /// Every log line the process wrote, once it has exited (waits for its stdout to close).
    #[track_caller]
    pub fn final_lines(&self) -> Vec<Value> {
        // The reader sends once, at the end of stdout, then hangs up: either says it ended.
        if let Err(RecvTimeoutError::Timeout) = self.stdout_closed.recv_timeout(HANG_GUARD) {
            panic!("hang: crashserver's stdout still open after {HANG_GUARD:?}");
        }
        self.lines()
    }

    /// The crash the server armed for `/status` (its `crash_at`), checked to lie `delay` after
    /// the request the test sent at `sent` and saw answered at `answered`.
    #[track_caller]
    pub fn armed_crash(
        &self,
        delay: Duration,
        sent: SystemTime,
        answered: SystemTime,
    ) -> SystemTime {
        let crash_at = wall(&self.wait_log("crash armed by GET /status"), "crash_at");
        assert_within(
            "the crash time armed by /status",
            crash_at,
            sent + delay,
            answered + delay,
        );
        crash_at
    }

    /// Checks that the server crashed when `due` (its "crashing" line, with `cause`, the
    /// last it wrote), allowing for the time its first thread waited for a CPU since
    /// `waited_before` (its [`Server::main_waited`] before the timed interval began).
    #[track_caller]
    pub fn crashed(&self, cause: &str, due: Due, waited_before: Duration, exit: &Exit) {
        let lines = self.final_lines();
        let crashing = find(&lines, "crashing");
        assert!(
            crashing["cause"]
                .as_str()
                .unwrap_or_default()
                .contains(cause),
            "{crashing}"
        );
        assert_eq!(
            lines.last(),
            Some(crashing),
            "the process went on after crashing"
        );
        let at = logged_at(crashing);
        due.check(
            "the crash",
            at,
            exit.main_waited.saturating_sub(waited_before),
        );
        assert!(exit.gone >= at, "gone before it crashed");
    }

    /// Sends `sig` once the process handles it (as /proc says): a signal sent before the
    /// server installed its handler would kill it by the default action instead.
    pub fn signal(&self, sig: i32) {
        let pid = self.child.id();
        wait_for(&format!("a handler for signal {sig}"), || {
            caught_signals(pid)
                .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
                .then_some(())
        });
        let rc = unsafe_free_kill(pid, sig);
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// Requests being answered now (from /metrics, not counting the scrape itself).
    pub fn in_flight(&self) -> i64 {
        let m = get(self.addr, "/metrics");
        metrics::sample(&m.body, "crashserver_http_requests_in_flight") as i64 - 1
    }

    /// Waits until at least `n` requests are being answered.
    #[track_caller]
    pub fn wait_in_flight(&self, n: i64) {
        wait_for(&format!("{n} requests in flight"), || {
            (self.in_flight() >= n).then_some(())
        });
    }
}

/// Polls until `child` has exited (panics after `limit`), reads what the kernel says of it
/// before reaping it, and returns how it ended.
#[track_caller]
pub fn reap(child: &mut Child, limit: Duration) -> Exit {
    let end = Instant::now() + limit;
    let pid = child.id();
    while !exited(pid) {
        assert!(Instant::now() < end, "{pid} still running after {limit:?}");
        std::thread::sleep(Duration::from_micros(500));
    }
    let gone = SystemTime::now();
    let main_waited = sched::main_thread(pid);
    let status = child.wait().unwrap();
    Exit {
        status,
        gone,
        main_waited,
    }
}

/// Whether process `pid` (a child not yet reaped) has exited: a zombie, or gone.
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// The signals a process has handlers for (`SigCgt` in /proc/PID/status), None once gone.
fn caught_signals(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn unsafe_free_kill(pid: u32, sig: i32) -> i32 {
    // `kill` the command, not libc: the workspace denies unsafe code.
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    if status.success() {
        0
    } else {
        1
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`). Its connect and read
/// timeouts only guard against a hang.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, HANG_GUARD)?;
    s.set_read_timeout(Some(HANG_GUARD))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse(&raw)
}

pub fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[]).expect("GET failed")
}

fn parse(raw: &[u8]) -> std::io::Result<Resp> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP head in {text:?}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Resp {
        status,
        headers,
        body: body.to_string(),
    })
}
