//! The target: an `http://host:port/path` URL, resolved afresh for every new connection
//! (no cache: swarm's DNS answers with TTL 600 and a cache would never see a task come
//! back), with connections spread over all the addresses a name resolves to.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper::Uri;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("'{0}' is not a URL like http://host:8080/")]
    Invalid(String),
    #[error("'{0}': only http:// targets are supported")]
    Scheme(String),
}

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
}

impl Target {
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
            next: AtomicUsize::new(0),
        })
    }

    /// Every address the host resolves to now (one for an IP literal).
    pub async fn resolve_all(&self) -> std::io::Result<Vec<SocketAddr>> {
        if let Some(ip) = self.ip {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
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

    /// The URL of `path` on the replica at `addr` (for http faults sent to one replica).
    pub fn url_at(&self, addr: SocketAddr, path: &str) -> String {
        format!("http://{addr}{path}")
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
        assert!(matches!(Target::parse("localhost:8080"), Err(_)));
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
