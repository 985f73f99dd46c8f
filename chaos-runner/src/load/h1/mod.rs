//! The load path's HTTP/1.1 exchange, its own code over httparse (the parser hyper uses),
//! as wrk and h2load have theirs: a request built once and written with one call, the
//! response's head parsed in place and its body framed (Content-Length, chunked with
//! extensions and trailers skipped, or until close) and discarded; 1xx skipped; 204 and
//! 304 without a body; `Connection: close` obeyed. Reads are bounded (a 16 KiB buffer, the
//! head no larger), so whatever a server sends, memory stays the same; a response that is
//! not HTTP/1.1 as RFC 9112 has it is [`Malformed`] (class `other`) and its connection
//! dropped. hyper stays for everything off this path (faults, probe, node agent, live
//! server).

mod body;
mod head;
#[cfg(test)]
mod tests;

use tokio::io::{AsyncRead, AsyncReadExt};

pub use head::{Head, MAX_HEAD};

/// Why a response was not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("response head larger than 16 KiB")]
    HeadTooLarge,
    #[error("more than 64 header fields")]
    TooManyHeaders,
    #[error("unparsable response head: {0}")]
    Head(httparse::Error),
    #[error("invalid or conflicting Content-Length")]
    ContentLength,
    #[error("101 Switching Protocols to a request that asked for none")]
    Switching,
    #[error("invalid chunk-size line")]
    ChunkSize,
    #[error("chunk data not followed by CRLF")]
    ChunkEnd,
    #[error("invalid or over 16 KiB of trailer fields")]
    Trailers,
}

impl Malformed {
    pub const COUNT: usize = 8;

    /// A small index per kind, for counting them.
    pub fn index(self) -> usize {
        match self {
            Malformed::HeadTooLarge => 0,
            Malformed::TooManyHeaders => 1,
            Malformed::Head(_) => 2,
            Malformed::ContentLength => 3,
            Malformed::Switching => 4,
            Malformed::ChunkSize => 5,
            Malformed::ChunkEnd => 6,
            Malformed::Trailers => 7,
        }
    }

    /// The kind's name in reports (snake case, no detail).
    pub fn name_of(index: usize) -> &'static str {
        [
            "head_too_large",
            "too_many_headers",
            "unparsable_head",
            "bad_content_length",
            "unexpected_101",
            "bad_chunk_size",
            "bad_chunk_end",
            "bad_trailers",
        ][index]
    }
}

/// How an exchange failed before a whole response arrived.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The server closed the connection before the response was complete.
    #[error("connection closed before a whole response arrived")]
    Closed,
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

/// A connection's read buffer: bytes read but not yet consumed are `buf[start..end]`.
/// Its size never changes.
#[derive(Debug)]
pub struct Buffer {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Default for Buffer {
    fn default() -> Self {
        Self {
            buf: vec![0; MAX_HEAD].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }
}

impl Buffer {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Whether bytes are waiting that no response has claimed.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Reads once more, after what is there (moved to the front when the end is reached);
    /// the bytes read, 0 at the end of the stream or when the buffer is full.
    async fn fill<R: AsyncRead + Unpin>(&mut self, io: &mut R) -> std::io::Result<usize> {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Ok(0);
        }
        let n = io.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// Reads a response's final head into `head` (1xx heads skipped).
pub async fn read_head<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Buffer,
    head: &mut Head,
) -> Result<(), Failure> {
    loop {
        match head::parse(buf.data(), head)? {
            head::Parsed::Final(n) => {
                buf.consume(n);
                return Ok(());
            }
            head::Parsed::Interim(n) => buf.consume(n),
            head::Parsed::Partial => {
                if buf.fill(io).await? == 0 {
                    return Err(Failure::Closed);
                }
            }
        }
    }
}

/// Reads and discards the body `head` announced; what follows it stays in `buf` (a server
/// that sent more than it was asked for: the caller must not reuse the connection).
pub async fn read_body<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Buffer,
    head: &Head,
) -> Result<(), Failure> {
    let mut body = body::Body::new(head.framing.expect("a final head has a framing"));
    loop {
        let n = body.consume(buf.data())?;
        buf.consume(n);
        if body.done() {
            return Ok(());
        }
        if buf.fill(io).await? == 0 {
            if body == body::Body::Close {
                return Ok(());
            }
            // A line cut short that fills the whole buffer cannot be a valid one.
            if buf.data().len() == MAX_HEAD {
                return Err(Malformed::ChunkSize.into());
            }
            return Err(Failure::Closed);
        }
    }
}

/// One whole response: [`read_head`], then [`read_body`].
#[cfg(test)]
pub async fn read_response<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Buffer,
    head: &mut Head,
) -> Result<(), Failure> {
    read_head(io, buf, head).await?;
    read_body(io, buf, head).await
}
