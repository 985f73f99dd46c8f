//! The target: an `http://host:port/path` URL, resolved afresh for new connections (no TTL
//! cache: swarm's DNS answers with TTL 600 and a cache would never see a task come back),
//! with connections spread over all the addresses a name resolves to.
//!
//! Lookups are coalesced: one at a time, and connections opened within `resolve_every` of
//! the last answer share it. A load of hundreds of new connections a second against a dead
//! service otherwise floods the engine's embedded DNS, which was seen to stall swarm's own
//! restart of the task (no replacement for over 10 s at 200 lookups/s, 0.4 s at 20/s).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use hyper::Uri;
use thiserror::Error;
use tokio::time::Instant;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("'{0}' is not a URL like http://host:8080/")]
    Invalid(String),
    #[error("'{0}': only http:// targets are supported")]
    Scheme(String),
}

/// A target URL as checked: what a run configuration holds (plain data, comparable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    pub url: String,
    pub host: String,
    pub port: u16,
    /// Path and query sent on every request.
    pub path: String,
    /// Value of the Host header.
    pub authority: String,
    ip: Option<IpAddr>,
}

impl TargetUrl {
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| TargetError::Invalid(url.to_string()))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(_) => return Err(TargetError::Scheme(url.to_string())),
            None => return Err(TargetError::Invalid(url.to_string())),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| TargetError::Invalid(url.to_string()))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(TargetError::Invalid(url.to_string()));
        }
        let port = authority.port_u16().unwrap_or(80);
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Ok(Self {
            url: url.to_string(),
            ip: host.parse().ok(),
            host,
            port,
            path: if path.is_empty() { "/".into() } else { path },
            authority: authority.as_str().to_string(),
        })
    }
}

/// A target being loaded: its URL, and the lookups shared by its connections.
#[derive(Debug)]
pub struct Target {
    pub url: String,
    pub host: String,
    pub port: u16,
    /// Path and query sent on every request.
    pub path: String,
    /// Value of the Host header.
    pub authority: String,
    ip: Option<IpAddr>,
    next: AtomicUsize,
    resolve_every: Duration,
    last: tokio::sync::Mutex<Option<Lookup>>,
}

/// The last lookup's answer.
#[derive(Debug, Clone)]
struct Lookup {
    at: Instant,
    answer: Result<Vec<SocketAddr>, (std::io::ErrorKind, String)>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        TargetUrl::parse(url).map(Self::new)
    }

    /// A target to load, from its checked URL.
    pub fn new(u: TargetUrl) -> Self {
        Self {
            url: u.url,
            host: u.host,
            port: u.port,
            path: u.path,
            authority: u.authority,
            ip: u.ip,
            next: AtomicUsize::new(0),
            resolve_every: Duration::ZERO,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Connections opened within `every` of the last lookup share its answer (0: every
    /// new connection looks up).
    pub fn with_resolve_every(mut self, every: Duration) -> Self {
        self.resolve_every = every;
        self
    }

    /// Every address the host resolves to now (one for an IP literal).
    pub async fn resolve_all(&self) -> std::io::Result<Vec<SocketAddr>> {
        if let Some(ip) = self.ip {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        if self.resolve_every.is_zero() {
            return self.lookup().await;
        }
        // One lookup at a time: the others wait for it and share its answer.
        let mut last = self.last.lock().await;
        if let Some(l) = last
            .as_ref()
            .filter(|l| l.at.elapsed() < self.resolve_every)
        {
            return l.answer.clone().map_err(|(k, m)| std::io::Error::new(k, m));
        }
        let answer = self.lookup().await;
        *last = Some(Lookup {
            at: Instant::now(),
            answer: answer
                .as_ref()
                .map(Clone::clone)
                .map_err(|e| (e.kind(), e.to_string())),
        });
        answer
    }

    async fn lookup(&self) -> std::io::Result<Vec<SocketAddr>> {
        let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .collect();
        addrs.sort();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} resolved to no address", self.host),
            ));
        }
        Ok(addrs)
    }

    /// Resolves afresh and picks the next address in turn, spreading new connections
    /// over every replica the name currently points to.
    pub async fn pick(&self) -> std::io::Result<SocketAddr> {
        let addrs = self.resolve_all().await?;
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(addrs[i % addrs.len()])
    }

    pub fn is_ip(&self) -> bool {
        self.ip.is_some()
    }
}

/// Describes how the target is reached, for `access_path` in every report.
pub fn describe_access_path(target: &Target, addrs: &[SocketAddr]) -> String {
    let n = addrs.len();
    if target.is_ip() {
        if target.ip.is_some_and(|ip| ip.is_loopback()) {
            return format!("direct: loopback address {}:{}", target.host, target.port);
        }
        return format!(
            "direct: address {}:{} (a published port or one replica)",
            target.host, target.port
        );
    }
    if target.host.starts_with("tasks.") {
        return format!(
            "swarm DNS round-robin: {} resolved to {n} task address(es), connections spread client-side",
            target.host
        );
    }
    if n > 1 {
        format!(
            "DNS name {} resolving to {n} addresses, connections spread client-side",
            target.host
        )
    } else {
        format!(
            "DNS name {} resolving to 1 address (a VIP, a published port or one replica)",
            target.host
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::parse("http://127.0.0.1:8080/status?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/status?x=1")
        );
        let t = Target::parse("http://tasks.appserver:8080").unwrap();
        assert_eq!((t.host.as_str(), t.path.as_str()), ("tasks.appserver", "/"));
        assert_eq!(Target::parse("http://[::1]:81/").unwrap().host, "::1");
        assert!(matches!(
            Target::parse("https://x/"),
            Err(TargetError::Scheme(_))
        ));
        assert!(Target::parse("localhost:8080").is_err());
        assert!(matches!(
            Target::parse("not a url"),
            Err(TargetError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn ip_literals_skip_resolution() {
        let t = Target::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(t.pick().await.unwrap(), "127.0.0.1:9".parse().unwrap());
        assert!(describe_access_path(&t, &[]).contains("loopback"));
    }
}
