//! The few Engine API calls made without bollard's models: a service's spec read as the
//! Engine writes it (see `raw`), and the netem helper's container, whose creation through
//! bollard's full container model would cost the image more than its size goal allows. One
//! request per connection, over the engine's Unix socket or plain HTTP (a tunnel).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpStream, UnixStream};

/// The most an answer may hold (a service's JSON, a helper's last log lines).
const MAX_ANSWER: usize = 4 << 20;

/// Where an engine's API is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAt {
    /// A Unix socket's path.
    Unix(String),
    /// `HOST:PORT`, plain HTTP.
    Tcp(String),
}

impl EngineAt {
    /// `unix:///PATH`, `tcp://HOST:PORT` or `http://HOST:PORT`.
    pub fn parse(url: &str) -> Option<Self> {
        if let Some(path) = url.strip_prefix("unix://") {
            return Some(EngineAt::Unix(path.to_string()));
        }
        let rest = url
            .strip_prefix("tcp://")
            .or_else(|| url.strip_prefix("http://"))?;
        Some(EngineAt::Tcp(rest.trim_end_matches('/').to_string()))
    }

    /// The manager's engine as bollard's local connection finds it: `DOCKER_HOST`, else the
    /// default socket.
    pub fn local() -> Self {
        super::docker_host()
            .and_then(|h| Self::parse(&h))
            .unwrap_or_else(|| EngineAt::Unix(super::socket_path()))
    }
}

impl std::fmt::Display for EngineAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineAt::Unix(p) => f.write_str(p),
            EngineAt::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach {at}: {source}")]
    Connect { at: String, source: std::io::Error },
    #[error("HTTP exchange with the Engine failed: {0}")]
    Http(#[from] hyper::Error),
    #[error("the Engine's answer is larger than {MAX_ANSWER} bytes")]
    TooLarge,
}

/// `METHOD PATH` with `body` (JSON) on engine `at`: the status and the answer's bytes.
pub async fn call(
    at: &EngineAt,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, Bytes), ApiError> {
    let connect = |source| ApiError::Connect {
        at: at.to_string(),
        source,
    };
    // One HTTP client for both kinds of stream (a second would be compiled for each).
    let io: Box<dyn Io> = match at {
        EngineAt::Unix(p) => Box::new(TokioIo::new(UnixStream::connect(p).await.map_err(connect)?)),
        EngineAt::Tcp(a) => Box::new(TokioIo::new(TcpStream::connect(a).await.map_err(connect)?)),
    };
    exchange(io, method, path, body).await
}

/// A stream hyper can speak HTTP/1.1 over.
trait Io: hyper::rt::Read + hyper::rt::Write + Unpin + Send {}
impl<T: hyper::rt::Read + hyper::rt::Write + Unpin + Send> Io for T {}

async fn exchange(
    io: Box<dyn Io>,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<(u16, Bytes), ApiError> {
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, "docker");
    let bytes = match body {
        Some(b) => {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    let req = req.body(Full::new(bytes)).expect("a valid request");
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let body = Limited::new(res.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| match e.downcast::<hyper::Error>() {
            Ok(h) => ApiError::Http(*h),
            Err(_) => ApiError::TooLarge,
        })?
        .to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_urls_parse() {
        assert_eq!(
            EngineAt::parse("unix:///var/run/docker.sock"),
            Some(EngineAt::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            EngineAt::parse("tcp://10.0.0.2:2375"),
            Some(EngineAt::Tcp("10.0.0.2:2375".into()))
        );
        assert_eq!(
            EngineAt::parse("http://127.0.0.1:2375/"),
            Some(EngineAt::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(EngineAt::parse("ssh://host"), None);
    }
}
