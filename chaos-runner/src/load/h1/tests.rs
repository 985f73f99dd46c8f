//! The exchange against what it must agree with: responses of every shape read whole and
//! split at every byte boundary, each compared with what hyper's client makes of the same
//! bytes from a real socket; and any bytes at all ending in an outcome, in bounded memory.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};

use super::head::MAX_HEADERS;
use super::*;

/// A stream that hands out its bytes in the pieces given, one piece (or as much of it as
/// fits) per read, then the end of the stream.
struct Pieces(VecDeque<Vec<u8>>);

impl Pieces {
    fn split(bytes: &[u8], at: &[usize]) -> Self {
        let mut out = VecDeque::new();
        let mut from = 0;
        for &i in at.iter().chain([&bytes.len()]) {
            let i = i.clamp(from, bytes.len());
            if i > from {
                out.push_back(bytes[from..i].to_vec());
            }
            from = i;
        }
        Pieces(out)
    }
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(mut p) = self.0.pop_front() {
            let n = p.len().min(buf.remaining());
            buf.put_slice(&p[..n]);
            if n < p.len() {
                self.0.push_front(p.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// What a reader made of a response: the status, X-Instance, whether the connection may
/// be used again, and the bytes left after it; or the failure.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Answer {
        status: u16,
        instance: Option<Vec<u8>>,
        keep_alive: bool,
        left: usize,
    },
    Closed,
    Malformed(Malformed),
}

fn read(bytes: &[u8], at: &[usize]) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut io = Pieces::split(bytes, at);
        let mut buf = Buffer::default();
        let mut head = Head::default();
        match read_response(&mut io, &mut buf, &mut head).await {
            Ok(()) => Outcome::Answer {
                status: head.status,
                instance: head.instance.clone(),
                keep_alive: head.keep_alive,
                left: buf.data().len(),
            },
            Err(Failure::Closed) => Outcome::Closed,
            Err(Failure::Malformed(m)) => Outcome::Malformed(m),
            Err(Failure::Io(e)) => panic!("no I/O error from memory: {e}"),
        }
    })
}

fn ok(status: u16, instance: Option<&str>, keep_alive: bool) -> Outcome {
    Outcome::Answer {
        status,
        instance: instance.map(|i| i.as_bytes().to_vec()),
        keep_alive,
        left: 0,
    }
}

/// Reads `bytes` whole, then split in two at every byte boundary and in single bytes: the
/// same outcome each time.
fn everywhere(bytes: &[u8]) -> Outcome {
    let whole = read(bytes, &[]);
    for i in 1..bytes.len() {
        assert_eq!(
            read(bytes, &[i]),
            whole,
            "split at {i} of {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let singles: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(read(bytes, &singles), whole, "byte by byte");
    whole
}

#[test]
fn content_length_chunked_and_close_bodies_end_where_they_should() {
    let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Instance: abc\r\n\r\nhello";
    assert_eq!(everywhere(r), ok(200, Some("abc"), true));
    let r = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\nx-more: 2\r\n\r\n";
    assert_eq!(everywhere(r), ok(200, None, true));
    let r = b"HTTP/1.1 503 Service Unavailable\r\nx-instance: r1\r\n\r\nuntil the end";
    assert_eq!(everywhere(r), ok(503, Some("r1"), false));
    // HTTP/1.0 closes unless asked to keep alive.
    let r = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(everywhere(r), ok(200, None, false));
    let r = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(everywhere(r), ok(200, None, true));
    let r = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, CLOSE\r\nContent-Length: 2\r\n\r\nhi";
    assert_eq!(everywhere(r), ok(200, None, false));
}

#[test]
fn interim_and_bodiless_answers_are_read_as_rfc_9112_says() {
    let r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    assert_eq!(everywhere(r), ok(200, None, true));
    // 204 and 304 have no body whatever they announce.
    let r = b"HTTP/1.1 204 No Content\r\ncontent-length: 10\r\n\r\n";
    assert_eq!(everywhere(r), ok(204, None, true));
    let r = b"HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n";
    assert_eq!(everywhere(r), ok(304, None, true));
    // Transfer-Encoding overrides Content-Length, and such a connection is not reused.
    let r =
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(everywhere(r), ok(200, None, false));
    // A coding other than chunked last: the body runs to the close.
    let r = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nxyz";
    assert_eq!(everywhere(r), ok(200, None, false));
    let r = b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc";
    assert_eq!(everywhere(r), ok(200, None, true));
    // The first X-Instance counts, as for hyper's client.
    let r = b"HTTP/1.1 200 OK\r\nx-instance: one\r\nX-Instance: two\r\ncontent-length: 0\r\n\r\n";
    assert_eq!(everywhere(r), ok(200, Some("one"), true));
}

#[test]
fn bytes_after_the_response_are_left_for_the_caller_to_refuse() {
    let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    assert_eq!(
        read(r, &[]),
        Outcome::Answer {
            status: 200,
            instance: None,
            keep_alive: true,
            left: 17
        }
    );
}

#[test]
fn what_is_not_a_response_is_malformed_and_cut_short_is_closed() {
    use Malformed::*;
    for (r, want) in [
        (
            &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n"[..],
            Outcome::Malformed(ContentLength),
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            Outcome::Malformed(ContentLength),
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
            Outcome::Malformed(ContentLength),
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            Outcome::Malformed(Switching),
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            Outcome::Malformed(ChunkSize),
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
            Outcome::Malformed(ChunkSize),
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1000000000000000\r\n",
            Outcome::Malformed(ChunkSize),
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhiXX",
            Outcome::Malformed(ChunkEnd),
        ),
        (
            b"SMTP ready\r\n\r\n",
            Outcome::Malformed(Head(httparse::Error::Version)),
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel",
            Outcome::Closed,
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-le", Outcome::Closed),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n",
            Outcome::Closed,
        ),
        (b"", Outcome::Closed),
    ] {
        assert_eq!(everywhere(r), want, "{:?}", String::from_utf8_lossy(r));
    }
    // A head past 16 KiB, or with too many fields.
    let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
    while big.len() <= MAX_HEAD {
        big.extend_from_slice(b"x-pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert_eq!(
        read(&big, &[]),
        Outcome::Malformed(Malformed::TooManyHeaders)
    );
    let mut long = b"HTTP/1.1 200 OK\r\nx-long: ".to_vec();
    long.resize(MAX_HEAD + 100, b'a');
    assert_eq!(
        read(&long, &[]),
        Outcome::Malformed(Malformed::HeadTooLarge)
    );
    let many: String = (0..MAX_HEADERS + 1)
        .map(|i| format!("x-{i}: 1\r\n"))
        .collect();
    let r = format!("HTTP/1.1 200 OK\r\n{many}content-length: 0\r\n\r\n");
    assert_eq!(
        read(r.as_bytes(), &[]),
        Outcome::Malformed(Malformed::TooManyHeaders)
    );
    // Trailers without end.
    let mut t = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n".to_vec();
    while t.len() < 3 * MAX_HEAD {
        t.extend_from_slice(
            b"x-trailer: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n",
        );
    }
    assert_eq!(read(&t, &[]), Outcome::Malformed(Malformed::Trailers));
}

/// A response's shape, drawn at random.
#[derive(Debug, Clone)]
struct Shape {
    status: u16,
    interim: bool,
    framing: u8,
    body: usize,
    chunks: Vec<usize>,
    ext: bool,
    trailer: bool,
    instance: Option<String>,
    upper: bool,
    extra: Vec<(String, String)>,
    close: bool,
}

impl Shape {
    fn bytes(&self) -> Vec<u8> {
        let name = |n: &str| {
            if self.upper {
                n.to_uppercase()
            } else {
                n.to_string()
            }
        };
        let mut out = Vec::new();
        if self.interim {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        out.extend_from_slice(format!("HTTP/1.1 {} X\r\n", self.status).as_bytes());
        let mut fields = self.extra.clone();
        if let Some(i) = &self.instance {
            fields.insert(fields.len() / 2, (name("x-instance"), i.clone()));
        }
        if self.close {
            fields.push((name("connection"), "close".into()));
        }
        let bodiless = self.status == 204 || self.status == 304;
        let body = vec![b'b'; if bodiless { 0 } else { self.body }];
        match self.framing {
            0 => fields.push((name("content-length"), body.len().to_string())),
            1 => fields.insert(0, (name("transfer-encoding"), "chunked".into())),
            _ => {}
        }
        for (k, v) in &fields {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if bodiless {
            return out;
        }
        match self.framing {
            1 => {
                let mut rest = &body[..];
                for c in self.chunks.iter().chain(std::iter::repeat(&usize::MAX)) {
                    if rest.is_empty() {
                        break;
                    }
                    let n = (*c).clamp(1, rest.len());
                    let ext = if self.ext { ";a=b" } else { "" };
                    out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                out.extend_from_slice(b"0\r\n");
                if self.trailer {
                    out.extend_from_slice(b"x-sum: 1\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
            _ => out.extend_from_slice(&body),
        }
        out
    }
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::sample::select(vec![200u16, 201, 204, 301, 304, 404, 500, 503]),
        any::<bool>(),
        0u8..3,
        0usize..3000,
        prop::collection::vec(1usize..700, 0..6),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        prop::option::of("[a-z0-9]{1,40}"),
        prop::collection::vec(("x-[a-z]{1,8}", "[!-~]([ -~]{0,30}[!-~])?"), 0..5),
    )
        .prop_map(
            |(
                status,
                interim,
                framing,
                body,
                chunks,
                (ext, trailer, upper, close),
                instance,
                extra,
            )| Shape {
                status,
                interim,
                framing,
                body,
                chunks,
                ext,
                trailer,
                instance,
                upper,
                extra: extra
                    .into_iter()
                    .filter(|(k, _)| k != "x-instance")
                    .collect(),
                close,
            },
        )
}

/// What hyper's client reports for `bytes` sent by a raw server on a real socket: status,
/// X-Instance and the body's length; or that it failed.
fn hyper_reads(bytes: Vec<u8>) -> Option<(u16, Option<Vec<u8>>, usize)> {
    use http_body_util::{BodyExt, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await;
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
        });
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut tx, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get("/")
            .header("host", "x")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let got = async {
            let res = tx.send_request(req).await.ok()?;
            let status = res.status().as_u16();
            let instance = res
                .headers()
                .get("x-instance")
                .map(|v| v.as_bytes().to_vec());
            let body = res.into_body().collect().await.ok()?.to_bytes();
            Some((status, instance, body.len()))
        }
        .await;
        server.abort();
        got
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every shape reads as hyper's client reads it, whole or split anywhere.
    #[test]
    fn every_shape_reads_as_hyper_reads_it(s in shape(), at in prop::collection::vec(0usize..4000, 0..4)) {
        let bytes = s.bytes();
        let mut at = at;
        at.sort_unstable();
        let mine = read(&bytes, &at);
        prop_assert_eq!(&mine, &read(&bytes, &[]));
        let theirs = hyper_reads(bytes.clone());
        match (&mine, theirs) {
            (Outcome::Answer { status, instance, left, .. }, Some((h_status, h_instance, _))) => {
                prop_assert_eq!(*status, h_status);
                prop_assert_eq!(instance, &h_instance);
                prop_assert_eq!(*left, 0);
            }
            (m, h) => prop_assert!(false, "mine {:?}, hyper {:?}, for {:?}", m, h, String::from_utf8_lossy(&bytes)),
        }
    }

    /// Whatever a server sends, the reader ends in an outcome without a panic (in its fixed
    /// buffer: nothing it reads into can grow), and the same answer however the bytes arrive.
    #[test]
    fn any_bytes_end_in_an_outcome(
        prefix in prop::sample::select(vec![
            &b""[..],
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
        ]),
        tail in prop::collection::vec(any::<u8>(), 0..40_000),
        at in prop::collection::vec(0usize..40_000, 0..8),
    ) {
        let mut bytes = prefix.to_vec();
        bytes.extend_from_slice(&tail);
        let mut at = at;
        at.sort_unstable();
        // What follows an answer depends on how much had arrived when it ended: only the
        // answer itself must not.
        let answer = |o: Outcome| match o {
            Outcome::Answer { status, instance, keep_alive, .. } => {
                Outcome::Answer { status, instance, keep_alive, left: 0 }
            }
            other => other,
        };
        prop_assert_eq!(answer(read(&bytes, &at)), answer(read(&bytes, &[])));
    }
}
