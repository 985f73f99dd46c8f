//! One experiment end to end: check inputs, prepare the swarm, load while faults fire,
//! collect, analyse, write the reports, judge the SLO.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use hyper::header::{HeaderName, HeaderValue};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::cli::{Recording, RunArgs};
use crate::exit::UsageError;
use crate::fault::exec::{drive, FaultContext, FaultEvent, FaultRun};
use crate::fault::FaultKind;
use crate::load::{self, LoadPlan, Mode, Shared};
use crate::record::{Collector, Recorded};
use crate::signals::Interrupted;
use crate::summary::{self, RunInfo, Summary, SwarmInfo};
use crate::swarm::events::SwarmEvent;
use crate::swarm::restore::Baseline;
use crate::swarm::update::UpdateStatusEvent;
use crate::swarm::Swarm;
use crate::target::{describe_access_path, Target};

/// How a run ended, for the exit code.
#[derive(Debug)]
pub struct Outcome {
    pub summary: Summary,
    pub out: PathBuf,
}

const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Connections opened before the clock starts: the closed loop's workers, or the open
/// loop's first workers (it opens more only when the target is slow).
const WARM_CONNECTIONS: u64 = 64;

/// Slack on top of the timeout in the open loop's in-flight allowance: sends may leave a
/// little late and a timed-out exchange takes a moment to be torn down.
const ALLOWANCE_SLACK: Duration = Duration::from_millis(20);

/// An answer slower than this (or half the timeout) means the target is slow: the open loop
/// may then open more connections rather than queue ticks behind the slow ones.
const STUCK_AFTER: Duration = Duration::from_millis(50);

/// The most closed-loop workers.
const MAX_CONCURRENCY: u64 = 100_000;

pub fn plan_of(a: &RunArgs) -> Result<LoadPlan, UsageError> {
    let mode = match a.rate {
        Some(rate) => Mode::Open { rate },
        None => Mode::Closed,
    };
    let (connections, max_in_flight, capped) = match mode {
        Mode::Open { rate } => match a.max_in_flight {
            Some(cap) => (cap.min(WARM_CONNECTIONS), cap, true),
            None => {
                let allowance = (rate * (a.timeout + ALLOWANCE_SLACK).as_secs_f64()).ceil() as u64;
                (
                    WARM_CONNECTIONS,
                    allowance.saturating_add(WARM_CONNECTIONS),
                    false,
                )
            }
        },
        Mode::Closed => {
            let n = a.concurrency.unwrap_or(32);
            if n > MAX_CONCURRENCY {
                return Err(UsageError(format!(
                    "--concurrency {n} is more than the {MAX_CONCURRENCY} allowed"
                )));
            }
            (n, n, true)
        }
    };
    if let Err(e) = load::limits::ensure_open_files(max_in_flight) {
        let why = if capped {
            "lower --max-in-flight or --concurrency".to_string()
        } else {
            format!(
                "with a stalled target, --rate {} x --timeout {} keeps that many waiting; raise the \
                 limit, lower --rate or --timeout, or cap with --max-in-flight N (ticks beyond it are \
                 dropped and counted as unanswered)",
                a.rate.unwrap_or_default(),
                humantime::format_duration(a.timeout)
            )
        };
        return Err(UsageError(format!("{e}: {why}")));
    }
    let duration = match (a.duration, a.requests) {
        (None, None) => Some(DEFAULT_DURATION),
        (d, _) => d,
    };
    let headers = a
        .headers
        .iter()
        .map(|(k, v)| {
            Ok((
                HeaderName::from_bytes(k.as_bytes()).map_err(|e| UsageError(e.to_string()))?,
                HeaderValue::from_str(v).map_err(|e| UsageError(e.to_string()))?,
            ))
        })
        .collect::<Result<Vec<_>, UsageError>>()?;
    Ok(LoadPlan {
        mode,
        connections: connections as usize,
        max_in_flight: max_in_flight as usize,
        capped,
        duration,
        requests: a.requests,
        timeout: a.timeout,
        stuck_after: (a.timeout / 2).min(STUCK_AFTER),
        keepalive: !a.no_keepalive,
        recycle: a.recycle,
        headers,
        recording: a.recording == Recording::On,
    })
}

/// Runs the experiment. Usage errors come back as [`UsageError`] before anything is sent;
/// whatever the run changed on the swarm is put back at the end, also after a failure or an
/// interruption (unless `--keep-changes`).
pub async fn execute(a: RunArgs) -> anyhow::Result<Outcome> {
    let interrupt = crate::signals::install();
    let plan = plan_of(&a)?;
    check_faults_fit(&a.faults, plan.planned_length())?;
    let target = Arc::new(
        Target::parse(&a.url)
            .map_err(|e| UsageError(e.to_string()))?
            .with_resolve_every(a.resolve_every),
    );
    let wants_docker = a.faults.iter().any(|f| {
        matches!(
            f.kind,
            FaultKind::Docker { .. } | FaultKind::Update(_) | FaultKind::Canary { .. }
        )
    });
    if wants_docker && a.swarm_service.is_none() {
        return Err(UsageError(
            "docker, update and canary faults need --swarm-service NAME (the service to act on)"
                .into(),
        )
        .into());
    }
    let out = crate::outdir::prepare(a.out.as_deref(), a.force)?;
    // The Docker socket is touched only when asked for (docker faults, events, scaling).
    let swarm = match &a.swarm_service {
        Some(name) => match connect(name).await {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = std::fs::remove_dir(&out);
                return Err(e);
            }
        },
        None => None,
    };
    let sw = swarm.as_ref().map(|(sw, _)| sw.clone());
    let result = experiment(&a, plan, &out, target, sw, interrupt).await;
    let restored = match &swarm {
        Some((sw, base)) if !a.keep_changes => match sw.restore(base, a.converge_timeout).await {
            Ok(changes) => {
                if !changes.is_empty() {
                    eprintln!(
                        "chaos-runner: {} left as found: {}",
                        sw.service,
                        changes.join("; ")
                    );
                }
                Restored::Done(changes)
            }
            Err(e) => {
                eprintln!("chaos-runner: could not restore {}: {e:#}", sw.service);
                Restored::Failed(format!("{e:#}"))
            }
        },
        _ => Restored::Kept,
    };
    let (mut summary, recorded) = match result {
        Ok(r) => r,
        Err(e) => {
            // Leave no empty directory behind a run that never started.
            let _ = std::fs::remove_dir(&out);
            return Err(e);
        }
    };
    if let Some(sw) = summary.swarm.as_mut() {
        sw.restore = Some(restored.describe());
    }
    if let Some(slo) = &a.slo {
        summary.slo = Some(slo.check(&summary));
    }
    crate::report::write_all(&out, &summary, &recorded)
        .with_context(|| format!("writing reports into {}", out.display()))?;
    Ok(Outcome { summary, out })
}

/// What the end of the run did to the service.
enum Restored {
    Done(Vec<String>),
    Failed(String),
    Kept,
}

impl Restored {
    fn describe(&self) -> String {
        match self {
            Restored::Done(c) if c.is_empty() => "nothing to restore: left as found".into(),
            Restored::Done(c) => format!("restored as found: {}", c.join("; ")),
            Restored::Failed(e) => format!("NOT restored ({e}): check the service"),
            Restored::Kept => "changes kept (--keep-changes)".into(),
        }
    }
}

/// The service, and its spec as found (to restore at the end).
async fn connect(name: &str) -> anyhow::Result<(Arc<Swarm>, Baseline)> {
    let sw = Swarm::connect(name)
        .await
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let base = sw.baseline().await.context("reading the service's spec")?;
    Ok((Arc::new(sw), base))
}

/// Scales to `--replicas` (unless interrupted), loads while faults fire, and summarises.
async fn experiment(
    a: &RunArgs,
    plan: LoadPlan,
    out: &std::path::Path,
    target: Arc<Target>,
    swarm: Option<Arc<Swarm>>,
    int_rx: watch::Receiver<bool>,
) -> anyhow::Result<(Summary, Recorded)> {
    let mut converge_s = None;
    if let (Some(sw), Some(n)) = (&swarm, a.replicas) {
        eprintln!(
            "chaos-runner: scaling {} to {n} replica(s) and waiting for them to run",
            sw.service
        );
        let took = tokio::select! {
            took = sw.scale(n, a.converge_timeout) => took.context("scaling the service")?,
            () = crate::signals::interrupted(int_rx.clone()) => return Err(Interrupted.into()),
        };
        converge_s = Some(took.as_secs_f64());
        eprintln!(
            "chaos-runner: {} converged at {n} replica(s) in {:.1} s",
            sw.service,
            took.as_secs_f64()
        );
    }
    if *int_rx.borrow() {
        return Err(Interrupted.into());
    }

    let addrs = target.resolve_all().await.unwrap_or_default();
    let access_path = a.access_path.clone().unwrap_or_else(|| {
        let mut d = describe_access_path(&target, &addrs);
        if addrs.is_empty() && !target.is_ip() {
            d.push_str(" (did not resolve at the start)");
        }
        d
    });
    let label = a.label.clone().unwrap_or_else(|| match a.replicas {
        Some(1) => "1 replica".into(),
        Some(n) => format!("{n} replicas"),
        None => target.authority.clone(),
    });

    let conns = load::conn::warm_up(&target, &plan).await;
    let start_wall = SystemTime::now();
    let start = Instant::now();
    let shared = Arc::new(Shared::new(
        target.clone(),
        plan.clone(),
        start,
        int_rx.clone(),
    ));
    let planned = plan.planned_length();

    let swarm_events: Arc<Mutex<Vec<SwarmEvent>>> = Arc::default();
    let watcher = swarm
        .as_ref()
        .map(|sw| crate::swarm::events::watch(sw.clone(), start_wall, swarm_events.clone()));
    let update_events: Arc<Mutex<Vec<UpdateStatusEvent>>> = Arc::default();
    let update_watcher = swarm
        .as_ref()
        .map(|sw| crate::swarm::update::watch(sw.clone(), start, update_events.clone()));

    let collector = Collector::new(a.bucket.as_micros().max(1) as u64);
    let load = load::spawn(shared.clone(), &collector, conns);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let hlog = out.join("latency.hlog");
    let live = shared.live.clone();
    let instances = shared.instances.clone();
    let sinks = crate::report::hlog::Sinks {
        hlog,
        timeline: out.join("timeline.csv"),
        // In-flight attempts (up to the timeout, after a wait in the queue) land in recent buckets.
        keep: a.timeout * 2 + Duration::from_secs(5),
    };
    let collector_task = tokio::spawn(crate::report::hlog::collect_with_log(
        collector,
        sinks,
        start_wall,
        stop_rx,
        live.clone(),
        instances,
    ));

    let events: Arc<Mutex<Vec<FaultEvent>>> = Arc::default();
    let ctx = FaultContext {
        target: target.clone(),
        instances: shared.instances.clone(),
        kill_token: a.kill_token.clone(),
        token_any_host: a.kill_token_any_host,
        swarm: swarm.clone(),
    };
    let fault_tasks: Vec<_> = a
        .faults
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, spec)| {
            let run = FaultRun {
                start,
                end: planned,
                interrupted: int_rx.clone(),
                events: events.clone(),
                live: live.clone(),
            };
            tokio::spawn(drive(i, spec, ctx.clone(), run))
        })
        .collect();
    let progress = crate::progress::spawn(live.clone(), start, planned, a.quiet);

    let peak_workers = load.wait().await;
    let elapsed = start.elapsed();
    progress.abort();
    for f in fault_tasks {
        f.abort();
        let _ = f.await;
    }
    let _ = stop_tx.send(());
    let recorded: Recorded = collector_task
        .await
        .context("collector task")?
        .context("writing latency.hlog")?;
    if let Some(w) = watcher {
        // Let the engine's last events arrive.
        tokio::time::sleep(Duration::from_millis(300)).await;
        w.abort();
    }
    if let Some(w) = update_watcher {
        w.abort();
    }
    let interrupted = *int_rx.borrow();

    let swarm_info = swarm.as_ref().map(|sw| SwarmInfo {
        service: sw.service.clone(),
        replicas: a.replicas,
        converge_s,
        restore: None,
        events: swarm_events.lock().expect("events").clone(),
        updates: update_events.lock().expect("updates").clone(),
    });
    let fault_events = events.lock().expect("events").clone();
    let summary = summary::build(summary::Inputs {
        run: RunInfo {
            label,
            target: crate::redact::secrets(&a.url),
            started_at: humantime::format_rfc3339_millis(start_wall).to_string(),
            mode: match plan.mode {
                Mode::Open { .. } => summary::LoadMode::Open,
                Mode::Closed => summary::LoadMode::Closed,
            },
            rate: a.rate,
            connections: plan.connections,
            max_in_flight: plan.max_in_flight as u64,
            in_flight_capped: plan.capped,
            peak_in_flight: peak_workers as u64,
            planned_s: planned.map(|d| d.as_secs_f64()),
            elapsed_s: elapsed.as_secs_f64(),
            bucket_ms: a.bucket.as_secs_f64() * 1e3,
            timeout_ms: a.timeout.as_secs_f64() * 1e3,
            keepalive: plan.keepalive,
            recycle_ms: a.recycle.as_secs_f64() * 1e3,
            achieved_rate: 0.0,
            host: host_description(),
        },
        access_path,
        recorded: &recorded,
        instances: shared.instances.snapshot(),
        faults: fault_events,
        swarm: swarm_info,
        run_end_us: elapsed.as_micros() as u64,
        bucket_threshold: a.bucket_threshold,
        min_window_us: a.min_window.unwrap_or(a.bucket).as_micros() as u64,
        interrupted,
    });
    Ok((summary, recorded))
}

/// Refuses faults that could never fire: their first firing is at or after the planned end.
fn check_faults_fit(
    faults: &[crate::fault::FaultSpec],
    planned: Option<Duration>,
) -> Result<(), UsageError> {
    let Some(end) = planned else {
        return Ok(());
    };
    for f in faults {
        let first = crate::fault::Schedule::new(f.when.clone(), f.seed).next_offset();
        if let Some(first) = first.filter(|t| *t >= end) {
            return Err(UsageError(format!(
                "fault '{f}' would first fire at {:.3} s, after the end of the {:.3} s run: \
                 make the run longer or fire earlier",
                first.as_secs_f64(),
                end.as_secs_f64()
            )));
        }
    }
    Ok(())
}

/// The machine the run came from: kernel, cores, memory.
pub fn host_description() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // The machine's cores, not this process's affinity (benchmarks pin chaos-runner to one).
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    format!(
        "Linux {}, {cores} cores, {:.0} GiB",
        kernel.trim(),
        mem_kb as f64 / 1048576.0
    )
}
