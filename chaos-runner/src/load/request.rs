//! The request every worker sends, built once per run as the bytes that go on the wire, so
//! each exchange writes them with one call.

use super::LoadPlan;
use crate::target::Target;

const AGENT: &str = concat!("chaos-runner/", env!("CARGO_PKG_VERSION"));

#[derive(Debug)]
pub struct Template {
    bytes: Box<[u8]>,
}

impl Template {
    /// The target's path and Host were checked when its URL was parsed, the user's
    /// headers (no CR or LF in a name or value) when the plan was made.
    pub fn new(target: &Target, plan: &LoadPlan) -> Self {
        let mut b = Vec::with_capacity(128);
        b.extend_from_slice(b"GET ");
        b.extend_from_slice(target.path.as_bytes());
        b.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        b.extend_from_slice(target.authority.as_bytes());
        b.extend_from_slice(b"\r\nuser-agent: ");
        b.extend_from_slice(AGENT.as_bytes());
        b.extend_from_slice(b"\r\n");
        if !plan.keepalive {
            b.extend_from_slice(b"connection: close\r\n");
        }
        for (k, v) in &plan.headers {
            b.extend_from_slice(k.as_str().as_bytes());
            b.extend_from_slice(b": ");
            b.extend_from_slice(v.as_bytes());
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"\r\n");
        Self {
            bytes: b.into_boxed_slice(),
        }
    }

    /// A GET of the target's path with the run's headers, as written.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    fn plan(keepalive: bool) -> LoadPlan {
        LoadPlan {
            mode: crate::load::Mode::Closed,
            connections: 1,
            max_in_flight: 1,
            capped: true,
            duration: None,
            requests: Some(1),
            timeout: std::time::Duration::from_secs(1),
            stuck_after: std::time::Duration::from_secs(1),
            keepalive,
            recycle: std::time::Duration::from_secs(1),
            headers: vec![
                (
                    HeaderName::from_static("x-a"),
                    HeaderValue::from_static("1"),
                ),
                (
                    HeaderName::from_static("x-a"),
                    HeaderValue::from_static("2"),
                ),
            ],
            recording: true,
            share: None,
            start_at: None,
        }
    }

    #[test]
    fn the_request_carries_the_path_host_agent_and_the_users_headers() {
        let target = Target::parse("http://example.test:8080/status?x=1").unwrap();
        let t = Template::new(&target, &plan(false));
        // What a server's parser makes of it.
        let mut fields = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut fields);
        let n = req.parse(t.bytes()).unwrap();
        assert_eq!(n, httparse::Status::Complete(t.bytes().len()));
        assert_eq!(req.method, Some("GET"));
        assert_eq!(req.path, Some("/status?x=1"));
        assert_eq!(req.version, Some(1));
        let got: Vec<(&str, &[u8])> = req.headers.iter().map(|h| (h.name, h.value)).collect();
        assert_eq!(got[0], ("host", &b"example.test:8080"[..]));
        assert_eq!(got[1].0, "user-agent");
        assert!(got[1].1.starts_with(b"chaos-runner/"));
        assert_eq!(got[2], ("connection", &b"close"[..]));
        assert_eq!(got[3..], [("x-a", &b"1"[..]), ("x-a", &b"2"[..])]);
        let kept = Template::new(&target, &plan(true));
        assert!(!String::from_utf8_lossy(kept.bytes()).contains("connection"));
    }
}
