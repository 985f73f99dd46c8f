//! The command line (clap derive): `run`, `report`, `compare`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::fault::FaultSpec;
use crate::parse;
use crate::slo::Slo;

#[derive(Debug, Parser)]
#[command(
    name = "chaos-runner",
    version,
    about = "Hammer a replicated service while killing its replicas; measure availability, downtime, recovery and latency.",
    after_help = "Exit codes: 0 done (SLO met); 1 run-time failure; 2 invalid input (nothing was sent); \
3 the run violated --slo (experiment: a hypothesis was missed); 4 (report) the run did not finish: its report was rebuilt from its journal and \
covers only part of it; 130 interrupted (report written, marked interrupted)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a target while injecting faults, then write the reports.
    Run(Box<RunArgs>),
    /// Re-render report.md, report.html and latency.hgrm of a run directory from its data;
    /// for a run whose runner died (no summary.json), rebuild its summary from its journal,
    /// marked incomplete (exit 4).
    Report {
        /// A directory written by `run`.
        dir: PathBuf,
    },
    /// Undo what a run changed on its swarm (scaled or updated service, nodes stopped, cut
    /// off or drained), from its journal: after a runner was killed, or to check. Exit 0 when
    /// everything is as the run found it, 1 when something could not be put back.
    Restore {
        /// A directory written by `run`.
        dir: PathBuf,
        /// The node agent's token, when the run's node driver was an agent.
        #[arg(long, env = "NODE_AGENT_TOKEN", hide_env_values = true)]
        node_token: Option<String>,
        /// How long to wait for the service to roll back to its spec and converge.
        #[arg(long, default_value = "120s", value_parser = parse::positive_duration)]
        converge_timeout: Duration,
    },
    /// Try URLs in order; print the first that answers 2xx/3xx and exit 0, else exit 1.
    /// For scripts that must find out which access path works (routing mesh, VIP, DNS).
    Probe {
        /// Per-URL timeout.
        #[arg(long, default_value = "1s", value_parser = parse::positive_duration)]
        timeout: Duration,
        #[arg(required = true)]
        urls: Vec<String>,
    },
    /// Serve a node driver over HTTP for a chaos-runner that cannot reach it (one inside
    /// the lab's overlay network): POST /v1/nodes/NODE/{stop,start,cut,heal} with the token.
    NodeAgent {
        /// Address to listen on (the lab: its bridge address, never a public one).
        #[arg(long, default_value = "127.0.0.1:7077")]
        listen: std::net::SocketAddr,
        /// The driver command, called as `COMMAND VERB NODE` (e.g. 'scripts/lab.sh node').
        #[arg(long)]
        driver: String,
        /// The nodes it may act on, comma-separated.
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_node_name)]
        nodes: Vec<String>,
        /// The token clients must send (Authorization: Bearer).
        #[arg(long, env = "NODE_AGENT_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Degrade this network namespace (delay, jitter, loss, rate) with netem root qdiscs:
    /// what the helper container of a `netem` fault runs inside a task's namespace (needs
    /// NET_ADMIN there).
    Netem {
        #[command(subcommand)]
        action: crate::netem::NetemAction,
    },
    /// Run an experiment file (TOML): a matrix of configurations, each run `trials` times
    /// (interleaved), with statistics per configuration (mean, 95 % interval), Welch's test
    /// between configurations that differ in one setting, and hypotheses (exit 3 when one is
    /// missed). Writes experiment.json, experiment.md, experiment.html and every run's own
    /// directory under --out; the service is put back as found at the end.
    Experiment {
        /// The experiment file (see experiments/ for examples).
        file: PathBuf,
        /// Where to write (default results/experiment-NAME). A directory that holds files
        /// is refused unless --resume (the same experiment) or --force (an earlier one).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Trials per configuration, overriding the file's (1 to 1,000).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        trials: Option<u32>,
        /// Print the plan (configurations, trials, order, seeds, time) and exit.
        #[arg(long)]
        dry_run: bool,
        /// Continue an interrupted experiment in --out: finished runs are kept, unfinished
        /// ones put back and run again.
        #[arg(long, conflicts_with = "force")]
        resume: bool,
        /// Write over an earlier experiment in --out.
        #[arg(long)]
        force: bool,
        /// Longest wait for the service to take a configuration's settings and converge.
        #[arg(long, default_value = "120s", value_parser = parse::positive_duration)]
        converge_timeout: Duration,
        /// The target URL, instead of the file's `[run] url` (one file, many deployments).
        #[arg(long)]
        url: Option<String>,
        /// The swarm service, instead of the file's `[run] swarm_service`.
        #[arg(long)]
        swarm_service: Option<String>,
        /// How the target is reached, for the reports, instead of the file's.
        #[arg(long)]
        access_path: Option<String>,
        /// `run` flags added to every trial, after `--`, as if they were in `[run]` (what
        /// one deployment needs and the file should not name: the lab's `--engine` and
        /// `--node-driver`). Checked as the file's are; the experiment's own are refused.
        #[arg(last = true)]
        run_flags: Vec<String>,
    },
    /// Put runs side by side (the 1-versus-5 replicas table and chart).
    Compare {
        /// Run directories, in the order to show them.
        #[arg(required = true, num_args = 2..)]
        dirs: Vec<PathBuf>,
        /// Where to write compare.md, compare.html and compare.json.
        #[arg(long, default_value = "results/compare")]
        out: PathBuf,
    },
    /// Merge runs that loaded one target together from several places (each with its
    /// --share of one schedule, on one clock with --start-at) into one measurement: counts,
    /// availability (of requests and by time) and latency as all clients saw it, beside each
    /// vantage point's own view. Writes merged.json, merged.md, merged.html and the merged
    /// histograms (latency.hlog, latency.hgrm).
    /// Receive the runs that send to it (`run --stream-to`), one directory each in
    /// OUT/vantages/, until every expected one ended (sent its end, or nothing for
    /// --lost-after); then merge them into OUT/merged/. Exit 0, or 4 when a vantage was lost
    /// or never came.
    Gather {
        /// Address to listen on.
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Where to keep what arrives (refused when it holds an earlier gathering).
        #[arg(long)]
        out: PathBuf,
        /// How many vantage points to wait for (1 to 1,000).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
        expect: u16,
        /// A vantage silent this long before its end is lost (1s to 10m).
        #[arg(long, default_value = "15s", value_parser = parse_lost_after)]
        lost_after: Duration,
        /// The longest to wait in all.
        #[arg(long, default_value = "2h", value_parser = parse::positive_duration)]
        deadline: Duration,
        /// The run's token, shared with the runs (at least 16 characters).
        #[arg(long, env = crate::stream::TOKEN_ENV, hide_env_values = true)]
        token: String,
    },
    Merge {
        /// Run directories, one per vantage point (2 to 1,000).
        #[arg(required = true, num_args = 2..)]
        dirs: Vec<PathBuf>,
        /// Where to write (refused when it holds an earlier merge, unless --force).
        #[arg(long)]
        out: PathBuf,
        /// Replace an earlier merge in --out.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Target URL, e.g. http://127.0.0.1:8080/ or http://tasks.appserver:8080/.
    pub url: String,

    /// Open loop: this many requests per second in all (10k = 10,000), latency measured from
    /// each request's intended send time. Without it, a closed loop of --concurrency workers.
    #[arg(long, value_parser = parse::rate, help_heading = "Load")]
    pub rate: Option<f64>,

    /// Closed loop: this many workers, each with its own connection.
    #[arg(long, value_parser = parse::count, conflicts_with = "rate", help_heading = "Load")]
    pub concurrency: Option<u64>,

    /// Open loop: cap the requests in flight (one connection each). By default there is no
    /// cap the schedule can hit: a tick that finds every connection busy opens another, up to
    /// rate x timeout, so a stalled target never makes a request late or lost. With a cap,
    /// ticks that find all busy wait in a queue (up to 64), then are dropped: counted as
    /// unanswered (availability ok/scheduled, downtime) and warned about. 1 to 1,000,000.
    #[arg(long, value_parser = parse::max_in_flight, requires = "rate", conflicts_with = "concurrency", help_heading = "Load")]
    pub max_in_flight: Option<u64>,

    /// Open loop: send only share K of N of the schedule --rate asks for (ticks K-1,
    /// K-1+N, ...), so N runs on the same clock send the whole schedule between them, each
    /// an exact part; `chaos-runner merge` makes one run of their directories. 1/1 to 1000/1000.
    #[arg(long, value_parser = clap::value_parser!(crate::load::share::Share), requires = "rate", conflicts_with = "concurrency", help_heading = "Load")]
    pub share: Option<crate::load::share::Share>,

    /// Start the clock at this time (RFC 3339: 2026-12-02T10:00:00Z) instead of as soon as
    /// the service is ready: runs given the same time and --share K/N send one schedule
    /// between them. At most 1 hour ahead; refused if, once the service is ready, less than
    /// --timeout is left (the connections are opened in that time).
    #[arg(long, value_parser = parse::start_at, help_heading = "Load")]
    pub start_at: Option<std::time::SystemTime>,

    /// How long to load (30s, 2m; at most 7d). Default 10s unless --requests is given.
    #[arg(long, value_parser = parse::positive_duration, help_heading = "Load")]
    pub duration: Option<Duration>,

    /// Stop after this many requests (10k).
    #[arg(long, value_parser = parse::requests, help_heading = "Load")]
    pub requests: Option<u64>,

    /// Per-request timeout, connection included (1ms to 1h).
    #[arg(long, default_value = "2s", value_parser = parse::short_duration, help_heading = "Load")]
    pub timeout: Duration,

    /// A new connection (and name resolution) for every request.
    #[arg(long, help_heading = "Load")]
    pub no_keepalive: bool,

    /// Keep-alive connections are closed and re-resolved after about this long (each one
    /// within ±25 %), so traffic spreads to replicas that appear during the run.
    #[arg(long, default_value = "1s", value_parser = parse::positive_duration, help_heading = "Load")]
    pub recycle: Duration,

    /// New connections within this long of the last name lookup share its answer; lookups run
    /// one at a time (0: every new connection looks the name up itself). Spares the target's
    /// DNS server when hundreds of connections a second fail.
    #[arg(long, default_value = "50ms", value_parser = parse::duration, help_heading = "Load")]
    pub resolve_every: Duration,

    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_parser = parse_header, help_heading = "Load")]
    pub headers: Vec<(String, String)>,

    /// A fault: KIND[:ARG],WHEN[,count=N][,seed=S]. KIND: http (ARG /kill or a URL), cmd
    /// (ARG a shell command), docker (ARG a signal, SIGKILL by default), update (ARG
    /// KEY=VALUE;... and/or image=REF; order=, parallelism=, delay=, failure=, monitor=) or
    /// canary (as update but one replica: no parallelism= or delay=; plus hold= and
    /// max_error_rate=). Container faults on --swarm-service's tasks (count=, for=): pause,
    /// stop, signal (ARG a signal; for= sends SIGCONT after a stopping one), netem (ARG
    /// delay=200ms;jitter=20ms;loss=5%;rate=1mbit, through a helper container). Node faults (need --node-driver
    /// and --swarm-service; ARG node names, `node-1;node-2`): node-stop (the machine dies),
    /// partition (its network is cut), drain (availability drain), manager-stop (ARG names
    /// or a number of managers); for=20s puts them back after that long, else at the end of
    /// the run. WHEN: every=10s, at=5s;20s or
    /// poisson=15s; the first firing must fall inside the run. Repeatable.
    #[arg(long = "fault", value_parser = parse_fault, help_heading = "Faults")]
    pub faults: Vec<FaultSpec>,

    /// Token for http faults (sent as Authorization: Bearer), as crashserver's KILL_TOKEN.
    #[arg(
        long,
        env = "KILL_TOKEN",
        hide_env_values = true,
        help_heading = "Faults"
    )]
    pub kill_token: Option<String>,

    /// Also send --kill-token to hosts other than the target's (http faults with a full URL).
    #[arg(long, requires = "kill_token", help_heading = "Faults")]
    pub kill_token_any_host: bool,

    /// The swarm service behind the target (e.g. crashlab_appserver): enables docker faults,
    /// the orchestrator's events in the report, and --replicas. Uses the Docker socket.
    #[arg(long, help_heading = "Swarm")]
    pub swarm_service: Option<String>,

    /// Another node's Docker Engine, NODE=unix:///PATH or NODE=tcp://HOST:PORT (NODE as in
    /// `docker node ls`): docker faults reach the service's tasks there too, and its events
    /// are recorded. The lab: each node's socket; a cluster: sockets forwarded over SSH.
    #[arg(long = "engine", value_parser = parse_engine, help_heading = "Swarm")]
    pub engines: Vec<(String, String)>,

    /// How node faults stop, start, cut and heal a node: exec:COMMAND (called as COMMAND
    /// VERB NODE, e.g. 'exec:scripts/lab.sh node') or http://HOST:PORT (a node agent).
    #[arg(long, value_parser = parse_node_driver, help_heading = "Swarm")]
    pub node_driver: Option<crate::node::NodeDriver>,

    /// The node agent's token (sent as Authorization: Bearer).
    #[arg(
        long,
        env = "NODE_AGENT_TOKEN",
        hide_env_values = true,
        help_heading = "Swarm"
    )]
    pub node_token: Option<String>,

    /// Scale the swarm service to this many replicas and wait until they converge first.
    #[arg(long, value_parser = parse::replicas, requires = "swarm_service", help_heading = "Swarm")]
    pub replicas: Option<u64>,

    /// Leave the service as the run left it (scaled, updated, a canary paused) instead of
    /// restoring the spec it had when the run began.
    #[arg(long, requires = "swarm_service", help_heading = "Swarm")]
    pub keep_changes: bool,

    /// Longest wait for the service to converge after scaling, and for its replicas to
    /// answer.
    #[arg(long, default_value = "120s", value_parser = parse::positive_duration, requires = "swarm_service", help_heading = "Swarm")]
    pub converge_timeout: Duration,

    /// `off` keeps only the counts per class and bucket (no latency, replicas or downtime
    /// edges): for measuring what recording costs.
    #[arg(long, value_enum, default_value_t = Recording::On, help_heading = "Measurement")]
    pub recording: Recording,

    /// Timeline bucket width (1ms to 1h).
    #[arg(long, default_value = "100ms", value_parser = parse::short_duration, help_heading = "Measurement")]
    pub bucket: Duration,

    /// A bucket counts as available when this share of its attempts succeeded.
    #[arg(long, default_value = "99%", value_parser = parse::ratio, help_heading = "Measurement")]
    pub bucket_threshold: f64,

    /// Downtime windows shorter than this are counted as glitches, not downtime (default: one bucket).
    #[arg(long, value_parser = parse::duration, help_heading = "Measurement")]
    pub min_window: Option<Duration>,

    /// Objectives, e.g. 'availability>=99.5%,p99<=250ms' (also time_availability, p50, p90,
    /// p999, max, downtime, mttr); exit code 3 when missed.
    #[arg(long, value_parser = parse_slo, help_heading = "Measurement")]
    pub slo: Option<Slo>,

    /// Serve a live view of the run at this address (default 127.0.0.1:9090): a page that
    /// redraws twice a second, and /metrics for Prometheus. Loopback unless you say otherwise.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:9090", help_heading = "Report")]
    pub live: Option<std::net::SocketAddr>,

    /// Keep the live view up this long after the run, showing the final figures.
    #[arg(long, default_value = "5s", value_parser = parse::short_duration, requires = "live", help_heading = "Report")]
    pub live_linger: Duration,

    /// How the target is reached, for the report (default: described from the URL and DNS).
    #[arg(long, help_heading = "Report")]
    pub access_path: Option<String>,

    /// Output directory (default results/run-<UTC time>, made unique). A directory that
    /// already holds files is refused unless --force.
    #[arg(long, help_heading = "Report")]
    pub out: Option<PathBuf>,

    /// Write into --out even when it already holds files (an earlier run's are replaced).
    #[arg(long, requires = "out", help_heading = "Report")]
    pub force: bool,

    /// A name for this run in reports and comparisons (default: from --replicas or the URL).
    #[arg(long, help_heading = "Report")]
    pub label: Option<String>,

    /// No progress display.
    #[arg(long, short, help_heading = "Report")]
    pub quiet: bool,

    /// Send the run directory, as it is written, to a gatherer (`chaos-runner gather`) at
    /// http://HOST:PORT: the journal and latency log once a second, the report at the end.
    /// Needs --out and the run's token (--stream-token or CRASHLAB_STREAM_TOKEN).
    #[arg(long, value_parser = parse_stream_to, requires = "out", help_heading = "Stream")]
    pub stream_to: Option<(String, u16)>,

    /// This vantage point's name at the gatherer (default: --out's last part).
    #[arg(long, requires = "stream_to", help_heading = "Stream")]
    pub stream_name: Option<String>,

    /// The run's token, shared with the gatherer (at least 16 characters).
    #[arg(long, env = crate::stream::TOKEN_ENV, hide_env_values = true, help_heading = "Stream")]
    pub stream_token: Option<String>,

    /// Stop the load when the gatherer cannot be reached for this long (1s to 10m).
    #[arg(long, default_value = "10s", value_parser = parse_lost_after, help_heading = "Stream")]
    pub stream_lost_after: Duration,

    /// Where the load comes from: local (this runner), global (this runner and one load task
    /// on every ready, active node of the swarm behind --swarm-service) or nodes:NODE;NODE
    /// (this runner and those nodes). Each gets its share of --rate on one clock; the tasks
    /// send what they measure here, and every vantage is merged into OUT/merged.
    #[arg(long, default_value = "local", value_parser = parse_vantage, requires = "rate", requires = "duration", conflicts_with_all = ["share", "stream_to"], help_heading = "Vantage")]
    pub vantage: crate::vantage::Which,

    /// The load tasks' image (default: the target service's, which has chaos-runner).
    #[arg(long, help_heading = "Vantage")]
    pub vantage_image: Option<String>,

    /// The port this runner gathers on, on every interface (the tasks reach it over the
    /// target's network).
    #[arg(long, default_value = "7070", value_parser = clap::value_parser!(u16).range(1..), help_heading = "Vantage")]
    pub vantage_port: u16,

    /// How long before the clock starts the load tasks are started (5s to 10m; ignored with
    /// --start-at).
    #[arg(long, default_value = "20s", value_parser = parse_lead, help_heading = "Vantage")]
    pub vantage_lead: Duration,

    /// A load task that cannot reach this runner this long stops; one silent this long is
    /// lost (1s to 10m).
    #[arg(long, default_value = "15s", value_parser = parse_lost_after, help_heading = "Vantage")]
    pub vantage_lost_after: Duration,

    /// A coordinator's load task: each node's share (NODE=K/N;...). This run takes the
    /// share of the node named in CRASHLAB_NODE, and that node's name as its --stream-name
    /// and label. Set by `--vantage` on the tasks it starts.
    #[arg(long, value_parser = parse_node_shares, requires = "stream_to", conflicts_with_all = ["share", "stream_name"], hide = true)]
    pub shares_by_node: Option<crate::vantage::NodeShares>,
}

fn parse_node_shares(s: &str) -> Result<crate::vantage::NodeShares, String> {
    s.parse()
}

fn parse_vantage(s: &str) -> Result<crate::vantage::Which, String> {
    s.parse()
}

/// A duration from 5 s to 10 min.
fn parse_lead(s: &str) -> Result<Duration, String> {
    let d = parse::duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(5) || d > Duration::from_secs(600) {
        return Err(format!("'{s}': 5s to 10m"));
    }
    Ok(d)
}

/// `http://HOST:PORT` (a trailing `/` allowed): where a gatherer listens.
fn parse_stream_to(s: &str) -> Result<(String, u16), String> {
    let rest = s
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{s}' is not http://HOST:PORT"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("'{s}' has no :PORT"))?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{s}': the port is 1 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains('/') {
        return Err(format!("'{s}' is not http://HOST:PORT"));
    }
    Ok((host.to_string(), port))
}

/// A duration from 1 s to 10 min.
pub fn parse_lost_after(s: &str) -> Result<Duration, String> {
    let d = parse::duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_secs(1) || d > Duration::from_secs(600) {
        return Err(format!("'{s}': 1s to 10m"));
    }
    Ok(d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Recording {
    On,
    Off,
}

/// `--fault`'s parser (the experiment file's faults go through it too: one copy).
#[inline(never)]
pub(crate) fn parse_fault(s: &str) -> Result<FaultSpec, String> {
    s.parse()
        .map_err(|e: crate::fault::spec::SpecError| e.to_string())
}

fn parse_slo(s: &str) -> Result<Slo, String> {
    s.parse().map_err(|e: crate::slo::SloError| e.to_string())
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("header '{s}' is not 'Name: value'"))?;
    let (k, v) = (k.trim(), v.trim());
    hyper::header::HeaderName::from_bytes(k.as_bytes())
        .map_err(|_| format!("'{k}' is not a header name"))?;
    hyper::header::HeaderValue::from_str(v).map_err(|_| format!("'{v}' is not a header value"))?;
    Ok((k.to_string(), v.to_string()))
}

fn parse_node_name(s: &str) -> Result<String, String> {
    if crate::node::valid_node_name(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{s}' is not a node name (letters, digits, '.', '_', '-')"
        ))
    }
}

fn parse_engine(s: &str) -> Result<(String, String), String> {
    let (node, url) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NODE=unix:///PATH or NODE=tcp://HOST:PORT"))?;
    let node = parse_node_name(node.trim())?;
    let url = url.trim();
    if !(url.starts_with("unix:///") || url.starts_with("tcp://")) {
        return Err(format!("'{url}' is not unix:///PATH or tcp://HOST:PORT"));
    }
    Ok((node, url.to_string()))
}

fn parse_node_driver(s: &str) -> Result<crate::node::NodeDriver, String> {
    s.parse()
        .map_err(|e: crate::node::DriverError| e.to_string())
}

#[cfg(test)]
mod no_panic {
    use super::*;
    use clap::Parser;
    use proptest::prelude::*;

    proptest! {
        /// Any option with any value: parsed or refused, never a panic.
        #[test]
        fn any_arguments_parse_or_err(
            flag in "--(vantage|vantage-port|vantage-lead|vantage-lost-after|stream-to|stream-lost-after|rate|share|start-at|concurrency|max-in-flight|duration|requests|timeout|recycle|resolve-every|replicas|converge-timeout|bucket|bucket-threshold|min-window|slo|fault|header)",
            value in "[ -~]{0,24}",
        ) {
            let _ = Cli::try_parse_from(["chaos-runner", "run", "http://127.0.0.1:1/", &flag, &value]);
        }
    }
}
