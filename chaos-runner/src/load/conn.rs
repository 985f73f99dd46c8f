//! One HTTP/1.1 exchange on a worker's own connection: resolve and connect when needed
//! (afresh each time: no DNS cache), write the request, read the whole answer
//! ([`super::h1`]), classify it.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::h1::{self, Buffer, Head};
use super::{LoadPlan, Shared};
use crate::record::instances::InstanceStats;
use crate::record::Class;
use crate::target::Target;

/// Where an exchange is, so a timeout can be told apart: still resolving the name (dns) or
/// connecting and exchanging (timeout).
pub const PHASE_RESOLVE: u8 = 0;
pub const PHASE_EXCHANGE: u8 = 1;

/// A request on a connection idle this long that meets the server's close before any byte
/// of an answer (the server closed the idle connection: RFC 9112 9.3.1 lets a client retry an
/// idempotent request then) is sent again, once, on a new connection; the latency counts
/// from the first attempt's intended time. On a busier connection the close met the request
/// in flight, and it is a failure (`reset`). No system call is spent checking beforehand.
const RETRY_IDLE: Duration = Duration::from_millis(1);

#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Buffer,
    head: Head,
    /// When to close and re-resolve (keep-alive recycling).
    expires: Instant,
    /// When its last answer ended.
    idle_since: Instant,
    /// The last X-Instance value seen here and its index (a connection mostly talks to one replica).
    last_instance: Option<(Vec<u8>, u32, Arc<InstanceStats>)>,
}

impl Conn {
    /// Writes the request and reads the answer's head; on failure, whether nothing of an
    /// answer arrived (nothing is left unread: a head cut short stays in the buffer).
    async fn send(&mut self, request: &[u8]) -> Result<(), (h1::Failure, bool)> {
        if let Err(e) = self.stream.write_all(request).await {
            return Err((e.into(), true));
        }
        h1::read_head(&mut self.stream, &mut self.buf, &mut self.head)
            .await
            .map_err(|f| (f, self.buf.is_empty()))
    }
}

/// Whether a failure is the server's close of the connection (not a malformed answer).
fn closed(f: &h1::Failure) -> bool {
    match f {
        h1::Failure::Closed => true,
        h1::Failure::Io(e) => Class::from_io(e) == Class::Reset,
        h1::Failure::Malformed(_) => false,
    }
}

/// A connection's life: `recycle` spread by ±25 % over successive connections (a
/// low-discrepancy sequence), so connections opened together do not all expire together.
fn life(recycle: Duration) -> Duration {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    let spread = (n as f64 * 0.618_033_988_75).fract();
    recycle.mul_f64(0.75 + 0.5 * spread)
}

async fn connect(target: &Target, recycle: Duration, phase: &AtomicU8) -> Result<Conn, Class> {
    phase.store(PHASE_RESOLVE, Ordering::Relaxed);
    let addr = target.pick().await.map_err(|_| Class::Dns)?;
    phase.store(PHASE_EXCHANGE, Ordering::Relaxed);
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Class::from_io(&e))?;
    let _ = stream.set_nodelay(true);
    let now = Instant::now();
    Ok(Conn {
        stream,
        buf: Buffer::default(),
        head: Head::default(),
        expires: now + life(recycle),
        idle_since: now,
        last_instance: None,
    })
}

/// Opens the workers' keep-alive connections before the clock starts (as wrk does), so the
/// first second measures the service rather than a burst of connection set-ups. Gives up
/// after the request timeout; a worker left without a connection opens one when it first
/// sends, as it does after a failure. Nothing to open without keep-alive.
pub async fn warm_up(target: &Arc<Target>, plan: &LoadPlan) -> Vec<Conn> {
    if !plan.keepalive {
        return Vec::new();
    }
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..plan.connections.max(1) {
        let target = target.clone();
        let recycle = plan.recycle;
        set.spawn(async move { connect(&target, recycle, &AtomicU8::new(PHASE_RESOLVE)).await });
    }
    let mut conns = Vec::with_capacity(plan.connections);
    let _ = tokio::time::timeout(plan.timeout, async {
        while let Some(r) = set.join_next().await {
            if let Ok(Ok(c)) = r {
                conns.push(c);
            }
        }
    })
    .await;
    conns
}

/// Sends one request; `slot` holds the worker's connection between calls. Returns the
/// outcome and the index of the replica that answered (when it sent X-Instance).
pub async fn exchange(
    s: &Shared,
    slot: &mut Option<Conn>,
    at_us: u64,
    phase: &AtomicU8,
) -> (Class, Option<u32>) {
    phase.store(PHASE_EXCHANGE, Ordering::Relaxed);
    let now = Instant::now();
    let idle = match slot.as_ref() {
        Some(c) if now < c.expires => now.saturating_duration_since(c.idle_since) >= RETRY_IDLE,
        _ => {
            *slot = None;
            false
        }
    };
    // At most two attempts: the second only after an idle connection's close.
    let mut retry = idle;
    loop {
        if slot.is_none() {
            match connect(&s.target, s.plan.recycle, phase).await {
                Ok(c) => *slot = Some(c),
                Err(class) => return (class, None),
            }
        }
        let conn = slot.as_mut().expect("connected above");
        match conn.send(s.request.bytes()).await {
            Ok(()) => break,
            Err((f, nothing)) => {
                *slot = None;
                if retry && nothing && closed(&f) {
                    retry = false;
                    continue;
                }
                return (s.failed(&f), None);
            }
        }
    }
    let conn = slot.as_mut().expect("answered above");
    let class = Class::from_status(conn.head.status);
    let instance = conn
        .head
        .instance
        .as_deref()
        .map(|bytes| match &conn.last_instance {
            Some((b, i, stats)) if b.as_slice() == bytes => {
                stats.count(class.is_ok(), at_us);
                *i
            }
            _ => {
                let (i, stats) = s.instances.intern(bytes, &conn.head.version, at_us);
                stats.count(class.is_ok(), at_us);
                conn.last_instance = Some((bytes.to_vec(), i, stats));
                i
            }
        });
    if let Err(f) = h1::read_body(&mut conn.stream, &mut conn.buf, &conn.head).await {
        *slot = None;
        return (s.failed(&f), instance);
    }
    if !s.plan.keepalive || !conn.head.keep_alive || !conn.buf.is_empty() {
        *slot = None;
    } else {
        conn.idle_since = Instant::now();
    }
    (class, instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(url: &str, keepalive: bool) -> Shared {
        let plan = LoadPlan {
            mode: crate::load::Mode::Closed,
            connections: 1,
            max_in_flight: 1,
            capped: true,
            duration: None,
            requests: Some(10),
            timeout: Duration::from_secs(2),
            stuck_after: Duration::from_secs(2),
            keepalive,
            recycle: Duration::from_secs(60),
            headers: vec![],
            recording: true,
            share: None,
            start_at: None,
        };
        let (_tx, rx) = tokio::sync::watch::channel(false);
        Shared::new(
            Arc::new(Target::parse(url).unwrap()),
            plan,
            Instant::now(),
            rx,
        )
    }

    /// A server that answers each request on a connection with `answers[i]`, and closes
    /// its n-th connection after `close_after[n]` answers (the last entry for the rest); it
    /// counts the connections.
    async fn server(
        answers: &'static [&'static [u8]],
        close_after: &'static [usize],
    ) -> (String, Arc<AtomicU64>) {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        let conns = Arc::new(AtomicU64::new(0));
        let seen = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let n = seen.fetch_add(1, Ordering::SeqCst) as usize;
                let limit = close_after[n.min(close_after.len() - 1)];
                tokio::spawn(async move {
                    let mut req = [0u8; 4096];
                    for i in 0..limit {
                        if s.read(&mut req).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let _ = s.write_all(answers[(n + i) % answers.len()]).await;
                    }
                });
            }
        });
        (url, conns)
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_while_idle_is_replaced_without_a_failure() {
        let (url, conns) = server(
            &[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-instance: a\r\n\r\nok"],
            &[1],
        )
        .await;
        let s = shared(&url, true);
        let phase = AtomicU8::new(PHASE_RESOLVE);
        let mut slot = None;
        for i in 0..3 {
            let (class, instance) = exchange(&s, &mut slot, i, &phase).await;
            assert_eq!((class, instance), (Class::Ok, Some(0)), "request {i}");
            // The server closes after each answer; the client finds out while idle.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(conns.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_close_is_retried_once_and_only_after_idling() {
        // The first connection answers once and closes; every later one closes at once.
        let (url, conns) =
            server(&[b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"], &[1, 0]).await;
        let s = shared(&url, true);
        let phase = AtomicU8::new(PHASE_RESOLVE);
        let mut slot = None;
        assert_eq!(exchange(&s, &mut slot, 0, &phase).await.0, Class::Ok);
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Idle, closed: sent again on a new connection, which closes too: a failure.
        assert_eq!(exchange(&s, &mut slot, 1, &phase).await.0, Class::Reset);
        assert_eq!(conns.load(Ordering::SeqCst), 2, "one retry, no more");
        // A new connection's close is never retried.
        assert_eq!(exchange(&s, &mut slot, 2, &phase).await.0, Class::Reset);
        assert_eq!(conns.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn keep_alive_is_honoured_and_close_obeyed() {
        let (url, conns) = server(
            &[b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"],
            &[usize::MAX],
        )
        .await;
        let s = shared(&url, true);
        let phase = AtomicU8::new(PHASE_RESOLVE);
        let mut slot = None;
        for i in 0..5 {
            assert_eq!(exchange(&s, &mut slot, i, &phase).await.0, Class::Ok);
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1, "one connection for five");
        slot = None;
        let (url, conns) = server(
            &[b"HTTP/1.1 500 X\r\nconnection: close\r\ncontent-length: 1\r\n\r\nx"],
            &[usize::MAX],
        )
        .await;
        let s = shared(&url, true);
        for i in 0..3 {
            assert_eq!(exchange(&s, &mut slot, i, &phase).await.0, Class::Http5xx);
            assert!(slot.is_none(), "closed as asked");
        }
        assert_eq!(conns.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_malformed_answer_is_other_counted_by_kind_and_its_connection_dropped() {
        let (url, _) = server(
            &[
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA",
            ],
            &[usize::MAX],
        )
        .await;
        let s = shared(&url, true);
        let phase = AtomicU8::new(PHASE_RESOLVE);
        let mut slot = None;
        assert_eq!(exchange(&s, &mut slot, 0, &phase).await.0, Class::Other);
        assert!(slot.is_none());
        // The next connection answers with bytes after the response: counted as its
        // status, the connection not used again.
        assert_eq!(exchange(&s, &mut slot, 1, &phase).await.0, Class::Ok);
        assert!(slot.is_none(), "leftover bytes: not reused");
        assert_eq!(
            s.malformed(),
            [("bad_chunk_size".to_string(), 1)].into_iter().collect()
        );
    }

    #[test]
    fn connections_opened_together_do_not_expire_together() {
        let recycle = Duration::from_secs(1);
        let lives: Vec<Duration> = (0..64).map(|_| life(recycle)).collect();
        let min = lives.iter().min().unwrap();
        let max = lives.iter().max().unwrap();
        assert!(*min >= recycle.mul_f64(0.75) && *max <= recycle.mul_f64(1.25));
        assert!(
            *max - *min >= Duration::from_millis(400),
            "{min:?}..{max:?}"
        );
        let mean = lives.iter().sum::<Duration>() / 64;
        assert!(
            mean.abs_diff(recycle) < Duration::from_millis(50),
            "{mean:?}"
        );
    }
}
