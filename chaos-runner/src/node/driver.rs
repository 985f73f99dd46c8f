//! The node driver: a command run on this machine (`exec:CMD`, called as `CMD VERB NODE`),
//! or a node agent reached over HTTP (`http://HOST:PORT`, with a token).

use std::time::Duration;

use thiserror::Error;

use super::{valid_node_name, NodeVerb};

/// The longest a driver may take for one action (a cloud's power-on takes tens of seconds).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(120);

/// The most of a driver's output kept.
const OUTPUT_TAIL: usize = 400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeDriver {
    /// `CMD VERB NODE` through `sh -c` (VERB and NODE are passed as arguments, never spliced).
    Exec { command: String },
    /// `POST /v1/nodes/NODE/VERB` on a node agent.
    Agent {
        host: String,
        port: u16,
        token: Option<String>,
    },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DriverError {
    #[error("--node-driver '{0}' is neither exec:COMMAND nor http://HOST:PORT")]
    Form(String),
    #[error("'{0}' is not a node name (letters, digits, '.', '_', '-')")]
    NodeName(String),
    #[error("the node driver failed: {0}")]
    Failed(String),
    #[error("the node driver took longer than {0:?}")]
    Timeout(Duration),
}

impl std::str::FromStr for NodeDriver {
    type Err = DriverError;

    fn from_str(s: &str) -> Result<Self, DriverError> {
        if let Some(cmd) = s.strip_prefix("exec:") {
            if cmd.trim().is_empty() {
                return Err(DriverError::Form(s.into()));
            }
            return Ok(Self::Exec {
                command: cmd.trim().into(),
            });
        }
        let rest = s
            .strip_prefix("http://")
            .ok_or_else(|| DriverError::Form(s.into()))?;
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .ok_or_else(|| DriverError::Form(s.into()))?;
        let port = port.parse().map_err(|_| DriverError::Form(s.into()))?;
        if host.is_empty() || host.contains('/') {
            return Err(DriverError::Form(s.into()));
        }
        Ok(Self::Agent {
            host: host.into(),
            port,
            token: None,
        })
    }
}

fn tail(s: &str) -> String {
    let s = s.trim();
    let start = s
        .char_indices()
        .rev()
        .nth(OUTPUT_TAIL - 1)
        .map_or(0, |(i, _)| i);
    s[start..].to_string()
}

impl NodeDriver {
    /// The agent's token (ignored by exec drivers).
    pub fn with_token(self, t: Option<String>) -> Self {
        match self {
            Self::Agent { host, port, .. } => Self::Agent {
                host,
                port,
                token: t,
            },
            other => other,
        }
    }

    /// Where actions go, for the report (no token).
    pub fn describe(&self) -> String {
        match self {
            Self::Exec { command } => format!("exec:{command}"),
            Self::Agent { host, port, .. } => format!("node agent http://{host}:{port}"),
        }
    }

    /// The form `--node-driver` takes (never the token): how the run's journal names it.
    pub fn spec(&self) -> String {
        match self {
            Self::Exec { command } => format!("exec:{command}"),
            Self::Agent { host, port, .. } => format!("http://{host}:{port}"),
        }
    }

    /// Does `verb` to `node`; what the driver said.
    pub async fn act(&self, verb: NodeVerb, node: &str) -> Result<String, DriverError> {
        if !valid_node_name(node) {
            return Err(DriverError::NodeName(node.into()));
        }
        let work = async {
            match self {
                Self::Exec { command } => exec(command, verb, node).await,
                Self::Agent { host, port, token } => {
                    agent(host, *port, token.as_deref(), verb, node).await
                }
            }
        };
        tokio::time::timeout(ACTION_TIMEOUT, work)
            .await
            .unwrap_or(Err(DriverError::Timeout(ACTION_TIMEOUT)))
    }
}

async fn exec(command: &str, verb: NodeVerb, node: &str) -> Result<String, DriverError> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$1\" \"$2\""))
        .arg("sh")
        .arg(verb.name())
        .arg(node)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| DriverError::Failed(format!("cannot run '{command}': {e}")))?;
    let text = tail(&format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ));
    if out.status.success() {
        Ok(text)
    } else {
        Err(DriverError::Failed(format!(
            "'{command} {} {node}' exited with {}: {text}",
            verb.name(),
            out.status
        )))
    }
}

async fn agent(
    host: &str,
    port: u16,
    token: Option<&str>,
    verb: NodeVerb,
    node: &str,
) -> Result<String, DriverError> {
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| DriverError::Failed(format!("cannot resolve the node agent {host}: {e}")))?
        .next()
        .ok_or_else(|| DriverError::Failed(format!("the node agent {host} has no address")))?;
    let path = format!("/v1/nodes/{node}/{}", verb.name());
    let (status, body) = crate::http_get::post_once(addr, host, &path, token, ACTION_TIMEOUT)
        .await
        .map_err(|e| DriverError::Failed(format!("node agent {host}:{port}: {e}")))?;
    if (200..300).contains(&status) {
        Ok(tail(&body))
    } else {
        Err(DriverError::Failed(format!(
            "node agent answered {status}: {}",
            tail(&body)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_refuses_others() {
        assert_eq!(
            "exec:scripts/lab.sh node".parse(),
            Ok(NodeDriver::Exec {
                command: "scripts/lab.sh node".into()
            })
        );
        assert_eq!(
            "http://10.199.0.1:7077".parse(),
            Ok(NodeDriver::Agent {
                host: "10.199.0.1".into(),
                port: 7077,
                token: None
            })
        );
        for bad in [
            "",
            "exec:",
            "ftp://x:1",
            "http://x",
            "http://:1",
            "http://x:port",
        ] {
            assert!(bad.parse::<NodeDriver>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn exec_passes_verb_and_node_as_arguments_and_reports_failure() {
        let d: NodeDriver = "exec:echo did".parse().unwrap();
        assert_eq!(
            d.act(NodeVerb::Cut, "node-1").await.unwrap(),
            "did cut node-1"
        );
        assert!(matches!(
            d.act(NodeVerb::Cut, "node-1; touch /tmp/x").await,
            Err(DriverError::NodeName(_))
        ));
        let f: NodeDriver = "exec:false".parse().unwrap();
        assert!(matches!(
            f.act(NodeVerb::Stop, "node-2").await,
            Err(DriverError::Failed(_))
        ));
    }
}
