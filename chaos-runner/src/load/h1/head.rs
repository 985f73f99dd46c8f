//! A response head: parsed with httparse from the bytes read so far, into what the load
//! path needs (status, how the body is framed, whether the connection stays open, the
//! replica's X-Instance and X-Version), checked as RFC 9112 asks.

use crashlab_common::headers::{X_INSTANCE, X_VERSION};

use super::Malformed;

/// The longest head read (status line and header fields): a larger one is malformed, so a
/// hostile server cannot grow the client's memory.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most header fields a head may have.
pub const MAX_HEADERS: usize = 64;

/// How the body after a head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (1xx, 204, 304).
    Empty,
    /// Content-Length bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    Close,
}

/// What a final (non-1xx) head says.
#[derive(Debug, Default)]
pub struct Head {
    pub status: u16,
    pub framing: Option<Framing>,
    /// The connection may carry another request after this response.
    pub keep_alive: bool,
    /// X-Instance and X-Version, copied (the buffers are reused from one response to the
    /// next, so a steady connection allocates nothing).
    pub instance: Option<Vec<u8>>,
    pub version: Vec<u8>,
}

/// The result of parsing the bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Partial,
    /// An interim (1xx) head of this many bytes, to skip.
    Interim(usize),
    /// The final head, this many bytes long; `head` was filled in.
    Final(usize),
}

/// Parses `buf` (which starts at a head) into `head`.
pub fn parse(buf: &[u8], head: &mut Head) -> Result<Parsed, Malformed> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut fields);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => return Err(Malformed::HeadTooLarge),
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(Malformed::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(Malformed::TooManyHeaders),
        Err(e) => return Err(Malformed::Head(e)),
    };
    let status = r.code.expect("a complete head has a status");
    if status == 101 {
        return Err(Malformed::Switching);
    }
    if (100..200).contains(&status) {
        return Ok(Parsed::Interim(len));
    }
    let http11 = r.version == Some(1);
    let mut keep_alive = http11;
    let mut length: Option<u64> = None;
    let mut chunked: Option<bool> = None;
    // The last response's X-Instance buffer, reused.
    let mut spare = head.instance.take();
    let mut version_seen = false;
    head.version.clear();
    for f in r.headers.iter() {
        let name = f.name;
        if name.eq_ignore_ascii_case("content-length") {
            for v in f.value.split(|b| *b == b',') {
                let n = content_length(v)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Malformed::ContentLength);
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must be the last coding; anything else ends with the connection.
            let last = f
                .value
                .split(|b| *b == b',')
                .map(<[u8]>::trim_ascii)
                .rfind(|t| !t.is_empty());
            chunked = Some(last.is_some_and(|t| t.eq_ignore_ascii_case(b"chunked")));
        } else if name.eq_ignore_ascii_case("connection") {
            for t in f.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if t.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if t.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(X_INSTANCE) && head.instance.is_none() {
            // The first one counts, as hyper's `get` has it.
            let mut v = spare.take().unwrap_or_default();
            v.clear();
            v.extend_from_slice(f.value);
            head.instance = Some(v);
        } else if name.eq_ignore_ascii_case(X_VERSION) && !version_seen {
            version_seen = true;
            head.version.clear();
            head.version.extend_from_slice(f.value);
        }
    }
    let framing = if status == 204 || status == 304 {
        Framing::Empty
    } else if let Some(c) = chunked {
        // Transfer-Encoding overrides Content-Length (RFC 9112 6.3); such a response is
        // not to be trusted with a next request.
        if length.is_some() || !c {
            keep_alive = false;
        }
        if c {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        keep_alive = false;
        Framing::Close
    };
    head.status = status;
    head.framing = Some(framing);
    head.keep_alive = keep_alive;
    Ok(Parsed::Final(len))
}

/// A Content-Length value: digits only, at most 18 of them.
fn content_length(v: &[u8]) -> Result<u64, Malformed> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Malformed::ContentLength);
    }
    Ok(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}
