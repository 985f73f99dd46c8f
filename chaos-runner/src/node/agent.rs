//! `chaos-runner node-agent`: runs a node driver for a chaos-runner that cannot reach it
//! (one in a container on the lab's overlay network). `POST /v1/nodes/NODE/VERB` with the
//! agent's token as a Bearer token; only the nodes it was given and the four verbs; one
//! action at a time; `GET /v1/health` answers without a token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;

use super::{NodeDriver, NodeVerb};

/// The agent's settings.
#[derive(Debug)]
pub struct AgentConfig {
    /// The driver command (`CMD VERB NODE`).
    pub driver: String,
    /// The nodes it may act on.
    pub nodes: Vec<String>,
    pub token: String,
}

#[derive(Debug, Clone)]
struct AgentState {
    config: Arc<AgentConfig>,
    /// One action at a time: actions on one lab must not interleave.
    busy: Arc<Mutex<()>>,
}

/// The agent's routes.
pub fn app(config: AgentConfig) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { "ok\n" }))
        .route("/v1/nodes/{node}/{verb}", post(act))
        .with_state(AgentState {
            config: Arc::new(config),
            busy: Arc::default(),
        })
}

async fn act(
    State(st): State<AgentState>,
    Path((node, verb)): Path<(String, String)>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let want = format!("Bearer {}", st.config.token);
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !crate::redact::same_secret(given.as_bytes(), want.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, "a valid token is needed\n".into());
    }
    if !st.config.nodes.contains(&node) {
        return (StatusCode::NOT_FOUND, format!("no node '{node}' here\n"));
    }
    let Some(verb) = NodeVerb::from_name(&verb) else {
        return (
            StatusCode::BAD_REQUEST,
            "verbs: stop, start, cut, heal\n".into(),
        );
    };
    let _turn = st.busy.lock().await;
    let driver = NodeDriver::Exec {
        command: st.config.driver.clone(),
    };
    tracing::info!(node, verb = verb.name(), "node action");
    match driver.act(verb, &node).await {
        Ok(out) => (StatusCode::OK, out),
        Err(e) => {
            tracing::warn!(node, verb = verb.name(), error = %e, "node action failed");
            (StatusCode::BAD_GATEWAY, e.to_string())
        }
    }
}

/// The shortest token the agent accepts.
pub const MIN_TOKEN: usize = 16;

/// `chaos-runner node-agent`: checks the token, serves until Ctrl-C or SIGTERM.
pub async fn run(listen: SocketAddr, config: AgentConfig) -> anyhow::Result<()> {
    if config.token.len() < MIN_TOKEN {
        return Err(crate::exit::UsageError(format!(
            "the node agent's token must be at least {MIN_TOKEN} characters"
        ))
        .into());
    }
    let stop = crate::signals::install();
    serve(listen, config, crate::signals::interrupted(stop))
        .await
        .map_err(|e| anyhow::anyhow!("node agent on {listen}: {e}"))
}

/// Serves until `shutdown` resolves (an action under way is finished first).
pub async fn serve(
    addr: SocketAddr,
    config: AgentConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!(
        "chaos-runner node-agent: listening on http://{} for {} (driver: {})",
        listener.local_addr()?,
        config.nodes.join(", "),
        config.driver
    );
    axum::serve(listener, app(config))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn agent() -> Router {
        app(AgentConfig {
            driver: "echo did".into(),
            nodes: vec!["node-1".into()],
            token: "s3cret".into(),
        })
    }

    async fn call(path: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut req = Request::post(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let res = agent()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn acts_only_with_the_token_on_its_nodes_and_verbs() {
        assert_eq!(
            call("/v1/nodes/node-1/cut", Some("s3cret")).await,
            (StatusCode::OK, "did cut node-1".into())
        );
        assert_eq!(
            call("/v1/nodes/node-1/cut", None).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call("/v1/nodes/node-1/cut", Some("wrong")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call("/v1/nodes/node-9/cut", Some("s3cret")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call("/v1/nodes/node-1/reboot", Some("s3cret")).await.0,
            StatusCode::BAD_REQUEST
        );
    }
}
