//! The netem helper: a short-lived container in a task container's network namespace, from
//! the task's own image, as root with `NET_ADMIN` only and a read-only filesystem, running
//! `chaos-runner netem set|clear`. It is removed once it has exited, also when the fault is
//! abandoned mid-way; a clear first removes any helper of that task left by a runner that
//! died.

use std::time::Duration;

use hyper::Method;
use serde_json::{json, Value};

use super::api::{call, EngineAt};
use super::SwarmError;

/// The label every helper carries (its value: what it does).
pub const HELPER_LABEL: &str = "crashlab.helper";
/// The label naming the task container a helper works in.
const TARGET_LABEL: &str = "crashlab.target";
/// Where the project's images keep chaos-runner.
const BINARY: &str = "/usr/local/bin/chaos-runner";
/// The longest a helper may take (it sets a qdisc: milliseconds).
const HELPER_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of a helper's output kept for the report.
const MAX_OUTPUT: usize = 2048;

/// Runs `chaos-runner netem ARGS` in container `target`'s network namespace, from image
/// `image`, on engine `at`; what it printed.
pub async fn run(
    at: &EngineAt,
    target: &str,
    image: &str,
    args: &[String],
) -> Result<String, SwarmError> {
    let short: String = target.chars().take(12).collect();
    let failed = |detail: String| SwarmError::Helper {
        target: short.clone(),
        detail,
    };
    remove_leftovers(at, target).await;
    let mut cmd = vec!["netem".to_string()];
    cmd.extend_from_slice(args);
    let body = json!({
        "Image": image,
        "Entrypoint": [BINARY],
        "Cmd": cmd,
        "User": "0:0",
        "Labels": {HELPER_LABEL: "netem", TARGET_LABEL: target},
        // The image's own health check would run crashserver's; a helper has nothing to check.
        "Healthcheck": {"Test": ["NONE"]},
        "HostConfig": {
            "NetworkMode": format!("container:{target}"),
            "CapDrop": ["ALL"],
            "CapAdd": ["NET_ADMIN"],
            "ReadonlyRootfs": true,
            "SecurityOpt": ["no-new-privileges"],
        },
    });
    let created = expect(at, Method::POST, "/containers/create", Some(&body), 201).await?;
    let id = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| failed("was created without an id".into()))?
        .to_string();
    let guard = Removal {
        at: at.clone(),
        id: Some(id.clone()),
    };
    expect(
        at,
        Method::POST,
        &format!("/containers/{id}/start"),
        None,
        204,
    )
    .await?;
    let wait_path = format!("/containers/{id}/wait?condition=not-running");
    let wait = expect(at, Method::POST, &wait_path, None, 200);
    let code = match tokio::time::timeout(HELPER_TIMEOUT, wait).await {
        Err(_) => {
            return Err(failed(format!(
                "did not finish within {HELPER_TIMEOUT:?} (removed)"
            )))
        }
        Ok(r) => r?.get("StatusCode").and_then(Value::as_i64).unwrap_or(-1),
    };
    let said = output(at, &id).await;
    guard.now().await;
    if code == 0 {
        Ok(said)
    } else {
        Err(failed(format!("exited {code}: {said}")))
    }
}

/// One call whose answer must have status `want`; its JSON (null when it has none).
async fn expect(
    at: &EngineAt,
    method: Method,
    path: &str,
    body: Option<&Value>,
    want: u16,
) -> Result<Value, SwarmError> {
    let (status, bytes) = call(at, method.clone(), path, body)
        .await
        .map_err(super::raw::RawError::from)?;
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status == want {
        return Ok(json);
    }
    let said = json.get("message").and_then(Value::as_str).map_or_else(
        || String::from_utf8_lossy(&bytes).into_owned(),
        str::to_string,
    );
    Err(SwarmError::Refused(format!(
        "{method} {path}: the Engine answered {status}: {}",
        said.trim()
    )))
}

/// What a helper printed, both streams (the Engine's multiplexed log frames: a stream byte,
/// three zero bytes, a big-endian length, the bytes), bounded.
async fn output(at: &EngineAt, id: &str) -> String {
    let path = format!("/containers/{id}/logs?stdout=1&stderr=1&tail=20");
    let Ok((200, bytes)) = call(at, Method::GET, &path, None).await else {
        return String::new();
    };
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 8 && out.len() < MAX_OUTPUT {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let end = (8 + len).min(rest.len());
        out.extend_from_slice(&rest[8..end]);
        rest = &rest[end..];
    }
    out.truncate(MAX_OUTPUT);
    String::from_utf8_lossy(&out).trim().replace('\n', "; ")
}

/// Removes helpers of `target` that a runner which died left behind.
async fn remove_leftovers(at: &EngineAt, target: &str) {
    let filters = json!({"label": [format!("{TARGET_LABEL}={target}")]}).to_string();
    let path = format!(
        "/containers/json?all=1&filters={}",
        percent_encoding::utf8_percent_encode(&filters, percent_encoding::NON_ALPHANUMERIC)
    );
    let Ok(Value::Array(left)) = expect(at, Method::GET, &path, None, 200).await else {
        return;
    };
    for c in left {
        if let Some(id) = c.get("Id").and_then(Value::as_str) {
            remove(at, id).await;
        }
    }
}

async fn remove(at: &EngineAt, id: &str) {
    let _ = call(
        at,
        Method::DELETE,
        &format!("/containers/{id}?force=1"),
        None,
    )
    .await;
}

/// Removes a helper container, now or, when dropped first (the fault abandoned), in the
/// background.
struct Removal {
    at: EngineAt,
    id: Option<String>,
}

impl Removal {
    async fn now(mut self) {
        if let Some(id) = self.id.take() {
            remove(&self.at, &id).await;
        }
    }
}

impl Drop for Removal {
    fn drop(&mut self) {
        if let (Some(id), Ok(rt)) = (self.id.take(), tokio::runtime::Handle::try_current()) {
            let at = self.at.clone();
            rt.spawn(async move { remove(&at, &id).await });
        }
    }
}
