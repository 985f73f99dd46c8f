//! Hostile clients against the real binary: heads that never end, idle connections,
//! invented methods, absurd configuration, and a stop while a crash is pending.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::support::*;

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Reads until the server closes `c` (0 bytes or an error such as a reset); returns when
/// the first bytes came (an answer before the close, if any) and when it closed. Panics
/// when it stays open for [`HANG_GUARD`].
fn wait_closed(c: &mut TcpStream) -> (Option<SystemTime>, SystemTime) {
    c.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut first = None;
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return (first, SystemTime::now()),
            Ok(_) => {
                first.get_or_insert_with(SystemTime::now);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("hang: a connection still open after {HANG_GUARD:?}")
            }
            Err(_) => return (first, SystemTime::now()),
        }
    }
}

/// One connection, watched by its own thread so that the test sees its close at once.
struct Watched {
    /// Just before connecting.
    opened: SystemTime,
    /// Just after the connection was established.
    connected: SystemTime,
    /// After the client's last write of its request (`connected` when it sent none).
    sent: SystemTime,
    /// When the first bytes of an answer came, if any did.
    answered: Option<SystemTime>,
    closed: SystemTime,
    /// How long the watching thread waited for a CPU meanwhile.
    waited: Duration,
}

/// Opens a connection to `addr`, writes `request` (if any), then watches it until the server
/// closes it; with `trickle`, meanwhile sends one more header line every 100 ms.
fn watch(addr: SocketAddr, request: &'static [u8], trickle: bool) -> JoinHandle<Watched> {
    std::thread::spawn(move || {
        let waited = sched::this_thread();
        let opened = SystemTime::now();
        let mut c = TcpStream::connect(addr).unwrap();
        let connected = SystemTime::now();
        c.write_all(request).unwrap();
        let sent = SystemTime::now();
        let open = Arc::new(AtomicBool::new(true));
        let trickler = trickle.then(|| {
            let (mut c, open) = (c.try_clone().unwrap(), open.clone());
            std::thread::spawn(move || {
                // Ends when the server has closed (a write fails) or the test saw it close.
                while open.load(Ordering::SeqCst) && c.write_all(b"X-A: b\r\n").is_ok() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        });
        let (answered, closed) = wait_closed(&mut c);
        open.store(false, Ordering::SeqCst);
        if let Some(t) = trickler {
            t.join().unwrap();
        }
        Watched {
            opened,
            connected,
            sent,
            answered,
            closed,
            waited: sched::this_thread().saturating_sub(waited),
        }
    })
}

#[test]
fn heads_that_never_end_are_cut_off_and_memory_stays_bounded() {
    // At debug level the server logs why it ended each connection.
    let s = spawn_server(&[("RUST_LOG", "debug")]);
    let before = rss_kib(s.child.id());
    // 150 connections, each sending 390 KB of a header that never ends.
    let chunk = vec![b'a'; 16 * 1024];
    let mut conns: Vec<TcpStream> = (0..150)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.set_write_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let _ = c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Never-Ends: ");
            c
        })
        .collect();
    for _ in 0..25 {
        for c in &mut conns {
            // Fails once the server has given up on the connection: that is the point.
            let _ = c.write_all(&chunk);
        }
    }
    let peak = rss_kib(s.child.id());
    // Ordinary clients are still served meanwhile.
    assert_eq!(get(s.addr, "/").status, 200);
    for c in &mut conns {
        wait_closed(c);
    }
    println!("150 never-ending heads: RSS {before} KiB before, {peak} KiB while sending");
    assert!(peak < 32 * 1024, "RSS {peak} KiB under 150 hostile heads");
    // Closed by the server, for their heads: too large, or (on a machine too busy to send
    // 16 KiB in time) not sent within the header timeout.
    let cut = |l: &serde_json::Value| {
        let m = message(l);
        m.starts_with("connection ended: ") && (m.contains("too large") || m.contains("timeout"))
    };
    wait_for("the server's account of 150 heads cut off", || {
        (s.lines().iter().filter(|l| cut(l)).count() >= 150).then_some(())
    });
}

#[test]
fn slow_and_idle_connections_are_closed_after_the_header_timeout() {
    let timeout = Duration::from_secs(1);
    let s = spawn_server(&[("HEADER_TIMEOUT", "1s")]);
    let server_waited = s.all_waited();
    // Opened and silent.
    let idle = watch(s.addr, b"", false);
    // A head that never ends, a line every 100 ms until the server gives up: the timeout
    // counts from the opening, not from the last byte.
    let trickle = watch(s.addr, b"GET / HTTP/1.1\r\nHost: x\r\n", true);
    // A keep-alive client that asked once and then went quiet: counts from the answer.
    let quiet = watch(s.addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", false);
    let [idle, trickle, quiet] = [idle, trickle, quiet].map(|w| w.join().unwrap());
    let server_waited = s.all_waited().saturating_sub(server_waited);
    // The server starts the timeout between the test's opening the connection (for `quiet`:
    // sending its request) and its seeing it established (the answer), and closes it when
    // the timeout has run; the watching thread sees that at once, bar waits for a CPU.
    for (name, w) in [("idle", &idle), ("trickle", &trickle)] {
        assert_eq!(w.answered, None, "{name} was answered");
        let due = Due {
            earliest: w.opened + timeout,
            latest: w.connected + timeout,
            timed: timeout,
        };
        due.check(
            &format!("the close of the {name} connection"),
            w.closed,
            server_waited + w.waited,
        );
    }
    let answered = quiet.answered.expect("quiet was not answered");
    let due = Due {
        earliest: quiet.sent + timeout,
        latest: answered + timeout,
        timed: timeout,
    };
    due.check(
        "the close of the quiet keep-alive connection",
        quiet.closed,
        server_waited + quiet.waited,
    );
}

#[test]
fn invented_methods_do_not_grow_the_metrics() {
    let s = spawn_server(&[]);
    let long = "X".repeat(5000);
    for i in 0..100 {
        let method = format!("{long}{i}");
        let _ = request(s.addr, &method, "/", &[]);
    }
    let m = get(s.addr, "/metrics");
    assert_eq!(m.status, 200);
    assert!(m.body.len() < 20_000, "/metrics is {} bytes", m.body.len());
    assert!(
        m.body.contains("method=\"other\""),
        "invented methods are counted as other"
    );
    assert!(!m.body.contains(&long));
}

#[test]
fn absurd_durations_and_counts_exit_2() {
    for (k, v) in [
        ("CRASH_DELAY", "1e20"),
        ("CRASH_DELAY", "18446744073709551615s"),
        ("SHUTDOWN_GRACE", "2h"),
        ("LATENCY", "inf"),
        ("HEADER_TIMEOUT", "1ms"),
        ("MAX_CONNECTIONS", "0"),
        ("THREADS", "100000"),
        ("VERSION", &"v".repeat(65)),
        ("VERSION", "v1\u{7}"),
    ] {
        let out = Command::new(BIN).env(k, v).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{k}={v}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("invalid value"), "{k}={v}: {err}");
    }
}

#[test]
fn a_stop_while_a_crash_is_pending_ends_as_the_crash() {
    // The drain ends first: SIGTERM right after /status armed a 10 s countdown, with nothing
    // in flight.
    let mut s = spawn_server(&[("CRASH_DELAY", "10s"), ("EXIT_CODE", "7")]);
    assert_eq!(get(s.addr, "/status").status, 200);
    s.signal(15);
    let exit = s.wait_exit(HANG_GUARD);
    assert_eq!(
        exit.status.code(),
        Some(7),
        "a pending crash ends with EXIT_CODE"
    );
    let lines = s.final_lines();
    assert!(
        lines.iter().all(|l| message(l) != "crashing"),
        "the process waited for the countdown"
    );
    let crash_at = wall(find(&lines, "crash armed by GET /status"), "crash_at");
    let signalled = logged_at(find(&lines, "termination signal received"));
    let stopped = find(
        &lines,
        "stopped while a crash was pending: exiting as crashed",
    );
    // Far apart: with nothing to drain it stops at once, 10 s before the countdown's time.
    assert!(
        signalled <= logged_at(stopped) && logged_at(stopped) < crash_at,
        "stopped after the countdown's time"
    );
    assert_eq!(lines.last(), Some(stopped), "the process went on");
    assert!(exit.gone >= logged_at(stopped));

    // The countdown ends first, while a slow request holds the drain open: every request
    // takes 3 s; /status arms the crash for 0.3 s after its answer; a slow / sent 1.3 s
    // after /status is answered 1 s after that crash time, and the SIGTERM comes while both
    // are in flight, about 2 s before the crash time. The process must crash at the
    // countdown's time, during the drain, before the slow / is answered (not once the drain
    // has ended).
    let (latency, delay) = (Duration::from_secs(3), Duration::from_millis(300));
    let mut s = spawn_server(&[
        ("CRASH_DELAY", "300ms"),
        ("LATENCY", "3s"),
        ("EXIT_CODE", "7"),
    ]);
    let addr = s.addr;
    let status_req = std::thread::spawn(move || {
        let sent = SystemTime::now();
        let r = request(addr, "GET", "/status", &[]);
        (sent, r, SystemTime::now())
    });
    s.wait_in_flight(1);
    // Not synchronisation: /status began before this moment, and the slow / must begin well
    // over 0.3 s after it (1 s more), to be answered well after the crash time.
    std::thread::sleep(delay + Duration::from_secs(1));
    let slow = std::thread::spawn(move || request(addr, "GET", "/", &[]));
    s.wait_in_flight(2);
    let waited = s.main_waited();
    s.signal(15);
    let exit = s.wait_exit(HANG_GUARD);
    assert_eq!(exit.status.code(), Some(7));
    let (sent, r, answered) = status_req.join().unwrap();
    assert!(r.is_ok_and(|r| r.status == 200));
    assert!(
        slow.join().unwrap().is_err(),
        "the slow request was answered: the drain ended before the crash"
    );
    let lines = s.final_lines();
    let signalled = logged_at(find(&lines, "termination signal received"));
    let crash_at = s.armed_crash(delay, sent + latency, answered);
    // The premise: the stop came before the countdown's time (it had about 2 s to spare).
    assert!(
        signalled < crash_at,
        "the SIGTERM came after the countdown's time"
    );
    assert!(
        lines
            .iter()
            .all(|l| message(l) != "stopped while a crash was pending: exiting as crashed"),
        "the drain ended before the countdown"
    );
    let due = Due {
        earliest: crash_at,
        latest: crash_at,
        timed: delay,
    };
    s.crashed("/status", due, waited, &exit);

    // Without a pending crash, SIGTERM is still a clean 0.
    let mut s = spawn_server(&[("EXIT_CODE", "7")]);
    s.signal(15);
    assert_eq!(s.wait_exit(HANG_GUARD).status.code(), Some(0));
}
