//! The one checked run configuration. A command line's [`RunArgs`] and an experiment's
//! cell (whose file fields become the same flags) both go through [`RunConfig::check`],
//! and a run takes only the [`RunConfig`] it returns: durations as durations, the load's
//! plan worked out, faults parsed once into typed faults, the target's URL (and an http
//! fault's path or URL) as types, secrets that never print. Every check a run makes of its
//! inputs before it touches anything lives here.

mod load;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::RunArgs;
use crate::exit::UsageError;
use crate::fault::{FaultKind, FaultSpec, Kind};
use crate::load::LoadPlan;
use crate::node::NodeDriver;
use crate::slo::Slo;
use crate::target::TargetUrl;

/// A run's configuration, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    pub target: TargetUrl,
    /// New connections within this long of the last lookup share its answer.
    pub resolve_every: Duration,
    pub load: LoadPlan,
    pub faults: Vec<FaultSpec>,
    /// Sent with http faults (Authorization: Bearer), to the target's host only unless
    /// `kill_token_any_host`.
    pub kill_token: Option<Secret>,
    pub kill_token_any_host: bool,
    pub swarm: Option<SwarmConfig>,
    pub measure: Measure,
    pub report: ReportConfig,
    /// Load tasks on other nodes beside this runner's (`--vantage`); none for local.
    pub vantage: Option<crate::vantage::VantageConfig>,
    /// The command line that asked for this run (an experiment's trial: the equivalent
    /// `chaos-runner run` line), every secret redacted: for the journal.
    pub command: Vec<String>,
}

/// The swarm service behind the target, and what the run may do to it.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmConfig {
    pub service: String,
    /// Other nodes' engines (node name, engine URL).
    pub engines: Vec<(String, String)>,
    pub node_driver: Option<NodeDriver>,
    pub node_token: Option<Secret>,
    /// Scale to this many first, and wait until that many answer.
    pub replicas: Option<u64>,
    /// Leave the service as the run left it.
    pub keep_changes: bool,
    pub converge_timeout: Duration,
}

/// How the run's answers become figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub bucket: Duration,
    /// A bucket is available when this share of its attempts succeeded (0 to 1).
    pub bucket_threshold: f64,
    /// Windows shorter than this are glitches (the default: one bucket).
    pub min_window: Duration,
    pub slo: Option<Slo>,
}

/// Where and how the run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    /// The live view's address, and how long it stays up after the run.
    pub live: Option<(SocketAddr, Duration)>,
    pub access_path: Option<String>,
    /// None: results/run-<UTC time>.
    pub out: Option<PathBuf>,
    pub force: bool,
    pub label: Option<String>,
    pub quiet: bool,
}

/// A token: compared and used, never printed (`Debug` shows `REDACTED`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("REDACTED")
    }
}

impl RunConfig {
    /// Checks a command line's worth of settings: the load's plan, faults inside the run,
    /// the target's URL, what faults need. `command` is the line that asked for it.
    pub fn check(a: RunArgs, command: Vec<String>) -> Result<Self, UsageError> {
        let load = load::plan_of(&a)?;
        load::check_faults_fit(&a.faults, load.planned_length())?;
        let target = TargetUrl::parse(&a.url).map_err(|e| UsageError(e.to_string()))?;
        check_swarm_needs(&a)?;
        let vantage = match a.vantage {
            crate::vantage::Which::Local => None,
            which => {
                if a.swarm_service.is_none() {
                    return Err(UsageError(
                        "--vantage global or nodes: needs --swarm-service (the swarm whose nodes load)".into(),
                    ));
                }
                Some(crate::vantage::VantageConfig {
                    which,
                    image: a.vantage_image.clone(),
                    port: a.vantage_port,
                    lead: a.vantage_lead,
                    lost_after: a.vantage_lost_after,
                })
            }
        };
        let secret = |t: Option<String>| t.map(Secret);
        let swarm = a.swarm_service.map(|service| SwarmConfig {
            service,
            engines: a.engines,
            node_driver: a.node_driver,
            node_token: secret(a.node_token),
            replicas: a.replicas,
            keep_changes: a.keep_changes,
            converge_timeout: a.converge_timeout,
        });
        Ok(Self {
            target,
            resolve_every: a.resolve_every,
            load,
            faults: a.faults,
            kill_token: secret(a.kill_token),
            kill_token_any_host: a.kill_token_any_host,
            swarm,
            vantage,
            measure: Measure {
                bucket: a.bucket,
                bucket_threshold: a.bucket_threshold,
                min_window: a.min_window.unwrap_or(a.bucket),
                slo: a.slo,
            },
            report: ReportConfig {
                live: a.live.map(|addr| (addr, a.live_linger)),
                access_path: a.access_path,
                out: a.out,
                force: a.force,
                label: a.label,
                quiet: a.quiet,
            },
            command,
        })
    }

    /// Scale to this many replicas first (a swarm service's `--replicas`).
    pub fn replicas(&self) -> Option<u64> {
        self.swarm.as_ref().and_then(|s| s.replicas)
    }

    /// How long to wait for the service to converge (scaling, restoring).
    pub fn converge_timeout(&self) -> Duration {
        self.swarm
            .as_ref()
            .map_or(Duration::from_secs(120), |s| s.converge_timeout)
    }
}

/// Faults that act on the swarm need its service; node faults also need a node driver
/// (drain goes through the managers' API alone).
fn check_swarm_needs(a: &RunArgs) -> Result<(), UsageError> {
    for f in &a.faults {
        let kind = f.kind.kind();
        let swarm_kind = kind.is_container()
            || matches!(f.kind, FaultKind::Update(_) | FaultKind::Canary { .. })
            || kind.is_node();
        if swarm_kind && a.swarm_service.is_none() {
            return Err(UsageError(format!(
                "{kind} faults need --swarm-service NAME (the service to act on)"
            )));
        }
        if kind.is_node() && kind != Kind::Drain && a.node_driver.is_none() {
            return Err(UsageError(format!(
                "{kind} faults need --node-driver (exec:COMMAND or http://HOST:PORT of a node agent)"
            )));
        }
    }
    if !a.engines.is_empty() && a.swarm_service.is_none() {
        return Err(UsageError("--engine needs --swarm-service".into()));
    }
    Ok(())
}

/// A command line with every secret replaced (`--kill-token X`, `--node-token=X`, and
/// tokens inside URLs).
pub fn redacted(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut secret_next = false;
    for a in args {
        if secret_next {
            out.push("REDACTED".into());
            secret_next = false;
            continue;
        }
        if let Some((flag, _)) = a.split_once('=').filter(|(f, _)| f.ends_with("-token")) {
            out.push(format!("{flag}=REDACTED"));
            continue;
        }
        secret_next = a.ends_with("-token") && a.starts_with("--");
        out.push(crate::redact::secrets(&a));
    }
    out
}
