//! A response body's framing as a state machine over the bytes read so far: how many of
//! them belong to the body and whether it is complete. Bodies are not kept: the load path
//! only needs to know where the response ends.

use super::head::{Framing, MAX_HEAD};
use super::Malformed;

/// The longest chunk-size line (size, extensions and CRLF).
const MAX_CHUNK_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Bytes still to come.
    Length(u64),
    /// Before a chunk-size line.
    ChunkSize,
    /// Bytes of the current chunk still to come.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer fields after the last chunk, and how many bytes of them so far.
    Trailers(usize),
    /// Until the server closes.
    Close,
    Done,
}

impl Body {
    pub fn new(f: Framing) -> Self {
        match f {
            Framing::Empty | Framing::Length(0) => Body::Done,
            Framing::Length(n) => Body::Length(n),
            Framing::Chunked => Body::ChunkSize,
            Framing::Close => Body::Close,
        }
    }

    pub fn done(&self) -> bool {
        *self == Body::Done
    }

    /// Takes what it can from `buf`: returns how many bytes belong to the body. Stops at the
    /// body's end ([`Body::done`]) or when a line is cut short (more bytes needed).
    pub fn consume(&mut self, buf: &[u8]) -> Result<usize, Malformed> {
        let mut used = 0;
        loop {
            let rest = &buf[used..];
            match *self {
                Body::Done => return Ok(used),
                Body::Close => return Ok(buf.len()),
                Body::Length(n) | Body::ChunkData(n) => {
                    let take = (rest.len() as u64).min(n);
                    used += take as usize;
                    let left = n - take;
                    *self = match (*self, left) {
                        (Body::Length(_), 0) => Body::Done,
                        (Body::Length(_), l) => Body::Length(l),
                        (_, 0) => Body::ChunkEnd,
                        (_, l) => Body::ChunkData(l),
                    };
                    if left > 0 {
                        return Ok(used);
                    }
                }
                Body::ChunkEnd => {
                    if rest.len() < 2 {
                        return if rest.first().is_some_and(|b| *b != b'\r') {
                            Err(Malformed::ChunkEnd)
                        } else {
                            Ok(used)
                        };
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(Malformed::ChunkEnd);
                    }
                    used += 2;
                    *self = Body::ChunkSize;
                }
                Body::ChunkSize => {
                    let Some(end) = line_end(rest, MAX_CHUNK_LINE)? else {
                        return Ok(used);
                    };
                    let size = chunk_size(&rest[..end])?;
                    used += end + 2;
                    *self = if size == 0 {
                        Body::Trailers(0)
                    } else {
                        Body::ChunkData(size)
                    };
                }
                Body::Trailers(seen) => {
                    let room = MAX_HEAD.saturating_sub(seen);
                    let Some(end) = line_end(rest, room).map_err(|_| Malformed::Trailers)? else {
                        return Ok(used);
                    };
                    used += end + 2;
                    *self = if end == 0 {
                        Body::Done
                    } else {
                        Body::Trailers(seen + end + 2)
                    };
                }
            }
        }
    }
}

/// Where the line at the start of `b` ends (the index of its CR), if its CRLF is there;
/// an error when it runs past `max` bytes or holds a bare CR or LF.
fn line_end(b: &[u8], max: usize) -> Result<Option<usize>, Malformed> {
    match b.iter().position(|c| *c == b'\n') {
        Some(i) if i + 1 > max => Err(Malformed::ChunkSize),
        Some(0) => Err(Malformed::ChunkSize),
        Some(i) if b[i - 1] != b'\r' => Err(Malformed::ChunkSize),
        Some(i) => Ok(Some(i - 1)),
        None if b.len() >= max => Err(Malformed::ChunkSize),
        None => Ok(None),
    }
}

/// A chunk-size line without its CRLF: hex digits (at most 15), then optional extensions.
fn chunk_size(line: &[u8]) -> Result<u64, Malformed> {
    let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err(Malformed::ChunkSize);
    }
    let rest = &line[digits..];
    let ext = rest.trim_ascii_start();
    if !(ext.is_empty() || ext[0] == b';') || rest.contains(&b'\r') {
        return Err(Malformed::ChunkSize);
    }
    Ok(line[..digits].iter().fold(0u64, |n, c| {
        n * 16 + (*c as char).to_digit(16).expect("a hex digit") as u64
    }))
}
