//! The request every worker sends, built once per run: each exchange clones its parts
//! rather than parsing the path and validating every header again.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, HOST, USER_AGENT};
use hyper::{Request, Uri};

use super::LoadPlan;
use crate::target::Target;

const AGENT: &str = concat!("chaos-runner/", env!("CARGO_PKG_VERSION"));

#[derive(Debug)]
pub struct Template {
    uri: Uri,
    headers: HeaderMap,
}

impl Template {
    /// The target's path and Host were checked when its URL was parsed, the user's
    /// headers when the plan was made.
    pub fn new(target: &Target, plan: &LoadPlan) -> Self {
        let uri = target
            .path
            .parse()
            .expect("a parsed URL's path is a valid URI");
        let mut headers = HeaderMap::with_capacity(3 + plan.headers.len());
        headers.insert(
            HOST,
            HeaderValue::from_str(&target.authority).expect("a parsed URL's authority is valid"),
        );
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        if !plan.keepalive {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        for (k, v) in &plan.headers {
            headers.append(k, v.clone());
        }
        Self { uri, headers }
    }

    /// A GET of the target's path with the run's headers.
    pub fn request(&self) -> Request<Empty<Bytes>> {
        let mut req = Request::new(Empty::new());
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderName;

    #[test]
    fn the_request_carries_the_path_host_agent_and_the_users_headers() {
        let target = Target::parse("http://example.test:8080/status?x=1").unwrap();
        let plan = LoadPlan {
            mode: crate::load::Mode::Closed,
            connections: 1,
            max_in_flight: 1,
            capped: true,
            duration: None,
            requests: Some(1),
            timeout: std::time::Duration::from_secs(1),
            stuck_after: std::time::Duration::from_secs(1),
            keepalive: false,
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
        };
        let req = Template::new(&target, &plan).request();
        assert_eq!(req.method(), hyper::Method::GET);
        assert_eq!(req.uri(), "/status?x=1");
        assert_eq!(req.headers()[HOST], "example.test:8080");
        assert!(req.headers()[USER_AGENT]
            .to_str()
            .unwrap()
            .starts_with("chaos-runner/"));
        assert_eq!(req.headers()[CONNECTION], "close");
        let a: Vec<_> = req.headers().get_all("x-a").iter().collect();
        assert_eq!(a, ["1", "2"]);
    }
}
