//! Starting the load tasks and ending them: which nodes, their shares and command, the
//! gatherer they send to, and the one global job on the swarm that runs them (written to the
//! journal before it is created, removed at the end).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bollard::models::{
    HealthConfig, Mount, MountTypeEnum, NetworkAttachmentConfig, NodeSpecAvailabilityEnum,
    NodeState, ServiceSpec, ServiceSpecMode, TaskSpec, TaskSpecContainerSpec, TaskSpecPlacement,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use bollard::query_parameters::{InspectServiceOptions, ListNodesOptions};

use super::{NodeShares, VantageConfig, Which, NODE_ENV};
use crate::config::RunConfig;
use crate::exit::UsageError;
use crate::journal::{Change, Journal};
use crate::load::share::Share;
use crate::load::Mode;
use crate::stream::gather::{GatherConfig, Gathered, Gathering};
use crate::swarm::Swarm;

/// The load tasks started for a run, and the gatherer they send to.
pub struct Deployed {
    /// The nodes the tasks run on, in share order (2/N on).
    pub nodes: Vec<String>,
    gathering: Gathering,
}

/// Where the load tasks keep their run (a tmpfs in the task: the image has no writable
/// directory of its own).
const TASK_DIR: &str = "/vantage";

impl Deployed {
    /// Starts the gatherer and one load task on each node of `v` (one global job, kept off
    /// every other node); sets this run's share (1/N) and its clock (now +
    /// the lead) in `config`.
    pub async fn start(
        sw: &Swarm,
        config: &mut RunConfig,
        v: &VantageConfig,
        out: &Path,
        journal: &Journal,
    ) -> anyhow::Result<Self> {
        let (Mode::Open { rate }, Some(duration), None) =
            (config.load.mode, config.load.duration, config.load.requests)
        else {
            return Err(UsageError(
                "--vantage needs --rate and --duration: the load tasks share one schedule".into(),
            )
            .into());
        };
        let (nodes, others) = pick_nodes(sw, &v.which).await?;
        let spec = sw
            .docker
            .inspect_service(&sw.service, None::<InspectServiceOptions>)
            .await
            .with_context(|| format!("inspecting {}", sw.service))?
            .spec
            .and_then(|s| s.task_template)
            .unwrap_or_default();
        let image = match (v.image.clone(), spec.container_spec.and_then(|c| c.image)) {
            (Some(i), _) | (None, Some(i)) => i,
            (None, None) => {
                return Err(UsageError(format!(
                    "{} names no image: give --vantage-image",
                    sw.service
                ))
                .into())
            }
        };
        let networks: Vec<NetworkAttachmentConfig> = spec
            .networks
            .unwrap_or_default()
            .into_iter()
            .map(|n| NetworkAttachmentConfig {
                target: n.target,
                ..Default::default()
            })
            .collect();
        let ip = own_address(config).await?;
        let gather_at = match ip {
            IpAddr::V6(a) => format!("[{a}]:{}", v.port),
            IpAddr::V4(a) => format!("{a}:{}", v.port),
        };
        let token = {
            use rand::{Rng, SeedableRng};
            let mut r = rand::rngs::StdRng::from_os_rng();
            (0..32)
                .map(|_| format!("{:x}", r.random_range(0..16u8)))
                .collect::<String>()
        };
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", v.port))
            .await
            .map_err(|e| UsageError(format!("--vantage-port {}: cannot listen: {e}", v.port)))?;
        let gathering = Gathering::start(
            listener,
            GatherConfig {
                out: out.to_path_buf(),
                token: token.clone(),
                expect: nodes.len(),
                lost_after: v.lost_after,
                deadline: duration + v.lead + 2 * v.lost_after + Duration::from_secs(60),
            },
        )?;
        let of = u32::try_from(nodes.len() + 1).expect("at most MAX_NODES");
        let start_at = *config
            .load
            .start_at
            .get_or_insert_with(|| SystemTime::now() + v.lead);
        config.load.share = Some(Share { index: 1, of });
        let name = format!("crashlab-vantage-{}", &token[..8]);
        let args = task_args(
            config,
            rate,
            duration,
            &NodeShares::after_the_coordinator(&nodes),
            start_at,
            &gather_at,
            v.lost_after,
        );
        journal
            .change(&Change::LoadService { name: name.clone() })
            .await
            .map_err(anyhow::Error::msg)?;
        sw.docker
            .create_service(
                job_spec(&name, &image, &others, args, &token, networks),
                None,
            )
            .await
            .with_context(|| format!("creating load service {name}"))?;
        eprintln!(
            "chaos-runner: {name}: a load task on each of {} and this runner, {rate} requests/s in all on one clock from {}; gathering on {gather_at}",
            nodes.join(", "),
            humantime::format_rfc3339_millis(start_at)
        );
        Ok(Self { nodes, gathering })
    }

    /// Asks every task to stop its load now (at its next send, within about a second).
    pub fn stop_tasks(&self) {
        self.gathering.stop_senders();
    }

    /// Waits until every task ended (sent its end, or was silent for the bound) and says
    /// what arrived.
    pub async fn gathered(self) -> Gathered {
        self.gathering.finish(std::future::pending()).await
    }
}

/// The nodes to load from (every ready, active one, or those named: each must be), sorted,
/// and the swarm's other nodes (kept free of load tasks, also should they become ready).
async fn pick_nodes(sw: &Swarm, which: &Which) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let nodes = sw
        .docker
        .list_nodes(None::<ListNodesOptions>)
        .await
        .context("listing the swarm's nodes")?;
    let mut all = Vec::new();
    let mut ready = Vec::new();
    for n in &nodes {
        let Some(host) = n.description.as_ref().and_then(|d| d.hostname.clone()) else {
            continue;
        };
        if all.contains(&host) {
            return Err(UsageError(format!(
                "--vantage: two nodes of the swarm are named '{host}': load tasks are placed by hostname"
            ))
            .into());
        }
        let up = n.status.as_ref().and_then(|s| s.state) == Some(NodeState::READY)
            && n.spec.as_ref().and_then(|s| s.availability)
                == Some(NodeSpecAvailabilityEnum::ACTIVE);
        if up {
            ready.push(host.clone());
        }
        all.push(host);
    }
    let mut picked = match which {
        Which::Local => vec![],
        Which::Global => ready,
        Which::Nodes(names) => {
            if let Some(missing) = names.iter().find(|n| !ready.contains(n)) {
                return Err(UsageError(format!(
                    "--vantage: node '{missing}' is not a ready, active node of the swarm (those: {})",
                    ready.join(", ")
                ))
                .into());
            }
            names.clone()
        }
    };
    picked.sort();
    if let Some(bad) = picked.iter().find(|n| !crate::stream::valid_name(n)) {
        return Err(UsageError(format!(
            "--vantage: node '{bad}' cannot name a vantage (1 to 64 of A-Z a-z 0-9 . _ -)"
        ))
        .into());
    }
    if picked.is_empty() {
        return Err(UsageError("--vantage: no ready, active node to load from".into()).into());
    }
    if picked.len() > super::MAX_NODES {
        return Err(UsageError(format!(
            "--vantage: {} nodes; at most {}",
            picked.len(),
            super::MAX_NODES
        ))
        .into());
    }
    let others = all.into_iter().filter(|n| !picked.contains(n)).collect();
    Ok((picked, others))
}

/// This runner's address toward the target: the one the tasks, on the target's network,
/// reach it at.
async fn own_address(config: &RunConfig) -> anyhow::Result<IpAddr> {
    let t = &config.target;
    let to = tokio::net::lookup_host((t.host.as_str(), t.port))
        .await
        .with_context(|| format!("resolving {}", t.host))?
        .next()
        .with_context(|| format!("{} has no address", t.host))?;
    let probe = std::net::UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
    probe
        .connect(to)
        .with_context(|| format!("no route to {to}"))?;
    Ok(probe.local_addr()?.ip())
}

/// The load tasks' `chaos-runner run` arguments, one for every node: this run's load, each
/// node's share, the clock, and where to send what they measure.
fn task_args(
    config: &RunConfig,
    rate: f64,
    duration: Duration,
    shares: &NodeShares,
    start_at: SystemTime,
    gather_at: &str,
    lost_after: Duration,
) -> Vec<String> {
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let mut a: Vec<String> = vec![
        "run".into(),
        config.target.url.clone(),
        "--rate".into(),
        rate.to_string(),
        "--shares-by-node".into(),
        shares.to_string(),
        "--start-at".into(),
        humantime::format_rfc3339_millis(start_at).to_string(),
        "--duration".into(),
        ms(duration),
        "--timeout".into(),
        ms(config.load.timeout),
        "--recycle".into(),
        ms(config.load.recycle),
        "--resolve-every".into(),
        ms(config.resolve_every),
        "--bucket".into(),
        ms(config.measure.bucket),
        "--bucket-threshold".into(),
        config.measure.bucket_threshold.to_string(),
        "--min-window".into(),
        ms(config.measure.min_window),
        "--out".into(),
        format!("{TASK_DIR}/run"),
        "--stream-to".into(),
        format!("http://{gather_at}"),
        "--stream-lost-after".into(),
        ms(lost_after),
        "-q".into(),
    ];
    if config.load.capped {
        a.extend([
            "--max-in-flight".into(),
            config.load.max_in_flight.to_string(),
        ]);
    }
    if !config.load.keepalive {
        a.push("--no-keepalive".into());
    }
    for (k, v) in &config.load.headers {
        a.extend(["-H".into(), format!("{k}: {}", v.to_str().unwrap_or(""))]);
    }
    if let Some(p) = &config.report.access_path {
        a.extend(["--access-path".into(), p.clone()]);
    }
    a
}

/// A global job: one task on every node but `others`, each running chaos-runner from
/// `image` once with the run's token and its node's name (a template swarm fills in).
fn job_spec(
    name: &str,
    image: &str,
    others: &[String],
    args: Vec<String>,
    token: &str,
    networks: Vec<NetworkAttachmentConfig>,
) -> ServiceSpec {
    ServiceSpec {
        name: Some(name.to_string()),
        labels: Some(HashMap::from([(
            "org.crashlab.vantage".to_string(),
            "load".to_string(),
        )])),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(image.to_string()),
                command: Some(vec!["/usr/local/bin/chaos-runner".into()]),
                args: Some(args),
                env: Some(vec![
                    format!("{}={token}", crate::stream::TOKEN_ENV),
                    format!("{NODE_ENV}={{{{.Node.Hostname}}}}"),
                ]),
                // The image's check is crashserver's: on a load task it fails, and swarm would
                // stop the task as unhealthy (SIGTERM) a few seconds in.
                health_check: Some(HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                }),
                mounts: Some(vec![Mount {
                    target: Some(TASK_DIR.into()),
                    typ: Some(MountTypeEnum::TMPFS),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(
                    others
                        .iter()
                        .map(|n| format!("node.hostname!={n}"))
                        .collect(),
                ),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
                ..Default::default()
            }),
            networks: Some(networks),
            ..Default::default()
        }),
        // A global job: a task runs once on every node. A global service's task on a node
        // the managers declared down is shut down when the node is back (a partition ends
        // the cut node's vantage); a job's is not. Removing a job does not stop its running
        // tasks (moby/moby#44312): the gatherer asks them to stop (`stop_tasks`).
        mode: Some(ServiceSpecMode {
            global_job: Some(HashMap::new()),
            ..Default::default()
        }),
        ..Default::default()
    }
}
