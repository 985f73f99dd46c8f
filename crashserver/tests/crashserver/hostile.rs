//! Hostile clients against the real binary: heads that never end, idle connections,
//! invented methods, absurd configuration, and a stop while a crash is pending.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

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

/// Waits until the server closes `c` (read gives 0 bytes or an error); returns how long
/// that took from `since`, or None when it stayed open past `limit`.
fn closed_within(c: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while since.elapsed() < limit {
        match c.read(&mut buf) {
            Ok(0) => return Some(since.elapsed()),
            Ok(_) => continue, // a 431 or 408 answer before the close
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => return Some(since.elapsed()),
        }
    }
    None
}

#[test]
fn heads_that_never_end_are_cut_off_and_memory_stays_bounded() {
    let s = spawn_server(&[]);
    let before = rss_kib(s.child.id());
    let started = Instant::now();
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
    let mut slowest = Duration::ZERO;
    for c in &mut conns {
        let took = closed_within(c, started, Duration::from_secs(12))
            .expect("a never-ending head was still open after 12 s");
        slowest = slowest.max(took);
    }
    println!(
        "150 never-ending heads: RSS {before} KiB before, {peak} KiB while sending, all closed within {slowest:?}"
    );
    assert!(peak < 32 * 1024, "RSS {peak} KiB under 150 hostile heads");
    assert!(
        slowest < Duration::from_secs(11),
        "closed after {slowest:?}"
    );
}

#[test]
fn slow_and_idle_connections_are_closed_after_the_header_timeout() {
    let s = spawn_server(&[("HEADER_TIMEOUT", "1s")]);
    let t0 = Instant::now();
    let mut idle = TcpStream::connect(s.addr).unwrap();
    let mut trickle = TcpStream::connect(s.addr).unwrap();
    trickle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // A keep-alive client that asked once and then went quiet.
    let mut quiet = TcpStream::connect(s.addr).unwrap();
    quiet
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut stop_trickling = Instant::now() + Duration::from_millis(300);
    while Instant::now() < t0 + Duration::from_millis(900) {
        if Instant::now() >= stop_trickling {
            let _ = trickle.write_all(b"X-A: b\r\n");
            stop_trickling += Duration::from_millis(300);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (name, c) in [
        ("idle", &mut idle),
        ("trickle", &mut trickle),
        ("quiet", &mut quiet),
    ] {
        let took = closed_within(c, t0, Duration::from_secs(4))
            .unwrap_or_else(|| panic!("{name} connection still open after 4 s"));
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
            "{name} closed after {took:?} with a 1 s header timeout"
        );
    }
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
    // The drain ends first: SIGTERM right after /status, countdown 2 s.
    let mut s = spawn_server(&[("CRASH_DELAY", "2s"), ("EXIT_CODE", "7")]);
    assert_eq!(get(s.addr, "/status").status, 200);
    let sent = Instant::now();
    s.signal(15);
    let (status, gone) = s.wait_exit(Duration::from_secs(3));
    assert_eq!(
        status.code(),
        Some(7),
        "a pending crash ends with EXIT_CODE"
    );
    assert!(
        gone - sent < Duration::from_millis(1500),
        "{:?}",
        gone - sent
    );

    // The countdown ends first, while a slow request holds the drain open: /status answers
    // at 1.0 s and arms the crash for 1.2 s; a request sent at 0.9 s answers at 1.9 s; the
    // SIGTERM comes at 0.95 s. Countdown first: gone about 0.25 s after the signal; the drain
    // would take about 0.95 s.
    let mut s = spawn_server(&[
        ("CRASH_DELAY", "200ms"),
        ("LATENCY", "1s"),
        ("EXIT_CODE", "7"),
    ]);
    let addr = s.addr;
    let status_req = std::thread::spawn(move || request(addr, "GET", "/status", &[]));
    std::thread::sleep(Duration::from_millis(900));
    let _slow = std::thread::spawn(move || request(addr, "GET", "/", &[]));
    std::thread::sleep(Duration::from_millis(50));
    let sent = Instant::now();
    s.signal(15);
    let (status, gone) = s.wait_exit(Duration::from_secs(3));
    assert_eq!(status.code(), Some(7));
    assert!(status_req.join().unwrap().is_ok_and(|r| r.status == 200));
    assert!(
        gone - sent < Duration::from_millis(600),
        "{:?}: the countdown did not fire during the drain",
        gone - sent
    );

    // Without a pending crash, SIGTERM is still a clean 0.
    let mut s = spawn_server(&[("EXIT_CODE", "7")]);
    s.signal(15);
    assert_eq!(s.wait_exit(Duration::from_secs(3)).0.code(), Some(0));
}
