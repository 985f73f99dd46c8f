//! One experiment, phase by phase: `prepare` (inputs, output directory, the swarm and its
//! spec as found), `converge` (scale), `measure` (load while faults fire), `restore` (the
//! service as found), `summarise` and write.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use super::running::{Collected, Running, Setup};
use crate::config::RunConfig;
use crate::exit::UsageError;
use crate::journal::{Begin, Change, End, Entry, Journal, Started, SwarmStart};
use crate::live::LiveServer;
use crate::load::Mode;
use crate::node::NodeDriver;
use crate::signals::Interrupted;
use crate::summary::{self, LoadMode, RunSetup, Summary, SwarmInfo};
use crate::swarm::restore::Baseline;
use crate::swarm::Swarm;
use crate::target::{describe_access_path, Target};

/// How a run ended, for the exit code.
#[derive(Debug)]
pub struct Outcome {
    pub summary: Summary,
    pub out: PathBuf,
    /// With `--vantage`: the merge of every vantage's exit code (4 when one was lost).
    pub vantages_exit: Option<u8>,
}

/// An experiment whose inputs have been checked and whose output directory exists.
pub(super) struct Experiment {
    config: RunConfig,
    target: Arc<Target>,
    out: PathBuf,
    /// The service, and its spec as found (to restore at the end).
    swarm: Option<(Arc<Swarm>, Baseline)>,
    node_driver: Option<Arc<NodeDriver>>,
    interrupt: watch::Receiver<bool>,
    /// The live view's listener (`--live`), bound before anything starts.
    live: Option<tokio::net::TcpListener>,
    /// Where what the run measures and changes is written as it goes.
    journal: Journal,
    /// The load tasks on other nodes (`--vantage`), once started.
    vantages: Option<crate::vantage::Deployed>,
}

/// What the measuring phase found, with the context the report names.
struct Measured {
    collected: Collected,
    /// The live view, still serving (`--live`).
    live: Option<LiveServer>,
    converge_s: Option<f64>,
    answering: Option<super::answering::Answering>,
    access_path: String,
    label: String,
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

impl Experiment {
    /// Checks the inputs (usage errors before anything is sent), makes the output
    /// directory and connects to the swarm. The Docker socket is touched only when a
    /// swarm service is named (docker faults, events, scaling).
    pub async fn prepare(
        config: RunConfig,
        interrupt: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let target =
            Arc::new(Target::new(config.target.clone()).with_resolve_every(config.resolve_every));
        let out = crate::outdir::prepare(config.report.out.as_deref(), config.report.force)?;
        let unwritable = |e: std::io::Error| {
            UsageError(format!(
                "cannot write into {}: {e} (a read-only or full disk?)",
                out.display()
            ))
        };
        let journal = Journal::create(&out).map_err(unwritable)?;
        let swarm = match &config.swarm {
            Some(s) => match connect(&s.service, &s.engines).await {
                Ok(s) => Some(s),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(out.join(crate::journal::DIR));
                    let _ = std::fs::remove_dir(&out);
                    return Err(e);
                }
            },
            None => None,
        };
        journal
            .commit(&Entry::Begin(Box::new(Begin {
                version: crate::journal::VERSION,
                command: config.command.clone(),
                swarm: swarm
                    .as_ref()
                    .zip(config.swarm.as_ref())
                    .map(|((sw, base), s)| SwarmStart {
                        service: sw.service.clone(),
                        engines: s.engines.clone(),
                        engine_names: sw.engines.iter().map(|e| e.name.clone()).collect(),
                        node_driver: s.node_driver.as_ref().map(NodeDriver::spec),
                        spec: base.to_json(),
                    }),
            })))
            .map_err(unwritable)?;
        let live = match config.report.live {
            Some((addr, _)) => {
                let l = LiveServer::bind(addr)
                    .await
                    .map_err(|e| UsageError(format!("--live {addr}: cannot listen there: {e}")))?;
                let at = l.local_addr().map_err(|e| UsageError(e.to_string()))?;
                eprintln!(
                    "chaos-runner: live view at http://{at}/ (Prometheus metrics at /metrics)"
                );
                Some(l)
            }
            None => None,
        };
        let node_driver = config.swarm.as_ref().and_then(|s| {
            let token = s.node_token.as_ref().map(|t| t.expose().to_string());
            s.node_driver.clone().map(|d| Arc::new(d.with_token(token)))
        });
        Ok(Self {
            config,
            target,
            out,
            swarm,
            node_driver,
            interrupt,
            live,
            journal,
            vantages: None,
        })
    }

    /// Measures, puts the service back as found (also after a failure or an interruption,
    /// unless `--keep-changes`), summarises and writes the reports.
    pub async fn run(mut self) -> anyhow::Result<Outcome> {
        let mut measured = self.measure().await;
        if let Ok(m) = measured.as_mut() {
            self.put_nodes_back(&mut m.collected).await;
        }
        let gathered = self.gather_vantages(measured.is_err()).await;
        let restored = self.restore().await;
        let measured = match measured {
            Ok(m) => m,
            Err(e) => {
                // Leave no empty directory behind a run that never started.
                let _ = std::fs::remove_dir(&self.out);
                return Err(e);
            }
        };
        let recorded = &measured.collected.recorded;
        let summary = self.summarise(&measured, restored);
        crate::report::write_all(&self.out, &summary, recorded)
            .with_context(|| format!("writing reports into {}", self.out.display()))?;
        self.journal
            .commit(&Entry::End(End { reports: true }))
            .with_context(|| format!("writing the journal in {}", self.out.display()))?;
        let vantages_exit = match gathered.map(|g| {
            crate::stream::gather::merge_arrived(&g, Some((&self.out, "coordinator")), &self.out)
        }) {
            Some(Ok(code)) => Some(code),
            // Stopped before the clock started, say: nothing to merge, and the exit says
            // interrupted.
            Some(Err(e)) if summary.interrupted => {
                eprintln!("chaos-runner: the vantages were not merged: {e:#}");
                None
            }
            Some(Err(e)) => return Err(e),
            None => None,
        };
        if let (Some(live), Some((_, linger))) = (measured.live, self.config.report.live) {
            let last = crate::live::final_frame(&summary, recorded, &self.out);
            live.finish(last, linger).await;
        }
        Ok(Outcome {
            summary,
            out: self.out,
            vantages_exit,
        })
    }

    /// The load tasks (`--vantage`): they end with the run (stopped now if it failed or was
    /// interrupted), what they sent is gathered, and they are removed.
    async fn gather_vantages(&mut self, failed: bool) -> Option<crate::stream::gather::Gathered> {
        let d = self.vantages.take()?;
        if failed || *self.interrupt.borrow() {
            d.stop_tasks();
            self.remove_load_services().await;
        }
        eprintln!(
            "chaos-runner: gathering what the {} load task(s) sent",
            d.nodes.len()
        );
        let g = d.gathered().await;
        self.remove_load_services().await;
        Some(g)
    }

    /// Removes every load service the journal says is still there.
    async fn remove_load_services(&self) {
        let means = crate::fault::undo::Means {
            driver: None,
            swarm: self.sw().map(|s| &**s),
            journal: &self.journal,
        };
        for change in self.journal.open_changes() {
            if let Change::LoadService { name } = &change {
                let undo = crate::fault::undo::Undo::LoadService { name: name.clone() };
                if let Err(e) = crate::fault::undo::undo(&undo, means).await {
                    eprintln!("chaos-runner: {e} (`chaos-runner restore` removes it)");
                }
            }
        }
    }

    fn sw(&self) -> Option<&Arc<Swarm>> {
        self.swarm.as_ref().map(|(sw, _)| sw)
    }

    /// Scales to `--replicas` and waits for them to run (unless interrupted); the time it took.
    async fn converge(&self) -> anyhow::Result<Option<f64>> {
        let (Some(sw), Some(n)) = (self.sw(), self.config.replicas()) else {
            return Ok(None);
        };
        eprintln!(
            "chaos-runner: scaling {} to {n} replica(s) and waiting for them to run",
            sw.service
        );
        self.journal
            .change(&Change::Scale { replicas: n })
            .await
            .map_err(anyhow::Error::msg)?;
        let took = tokio::select! {
            took = sw.scale(n, self.config.converge_timeout()) => took.context("scaling the service")?,
            () = crate::signals::interrupted(self.interrupt.clone()) => return Err(Interrupted.into()),
        };
        eprintln!(
            "chaos-runner: {} converged at {n} replica(s) in {:.1} s",
            sw.service,
            took.as_secs_f64()
        );
        Ok(Some(took.as_secs_f64()))
    }

    async fn measure(&mut self) -> anyhow::Result<Measured> {
        let converge_s = self.converge().await?;
        if *self.interrupt.borrow() {
            return Err(Interrupted.into());
        }
        let answering = match self.config.replicas() {
            Some(n) if self.sw().is_some() => {
                let a = super::answering::wait(
                    &self.target,
                    n,
                    self.config.converge_timeout(),
                    &self.interrupt,
                )
                .await;
                if *self.interrupt.borrow() {
                    return Err(Interrupted.into());
                }
                if a.short() {
                    eprintln!("chaos-runner: WARNING: {}", a.describe());
                }
                Some(a)
            }
            _ => None,
        };
        let access_path = self.access_path().await;
        if let (Some(v), Some(sw)) = (self.config.vantage.clone(), self.sw().cloned()) {
            self.vantages = Some(
                crate::vantage::Deployed::start(
                    &sw,
                    &mut self.config,
                    &v,
                    &self.out,
                    &self.journal,
                )
                .await?,
            );
        }
        if let Some(at) = self.config.load.start_at {
            let left = at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            if left < self.config.load.timeout {
                return Err(UsageError(format!(
                    "--start-at {}: {:.1} s left once the service was ready, less than the \
                     --timeout {:?} the connections may take to open: start later",
                    humantime::format_rfc3339_millis(at),
                    left.as_secs_f64(),
                    self.config.load.timeout
                ))
                .into());
            }
            eprintln!(
                "chaos-runner: the clock starts at {} ({:.1} s from now)",
                humantime::format_rfc3339_millis(at),
                left.as_secs_f64()
            );
        }
        let a = &self.config;
        let label = a
            .report
            .label
            .clone()
            .unwrap_or_else(|| match a.replicas() {
                Some(1) => "1 replica".into(),
                Some(n) => format!("{n} replicas"),
                None => self.target.authority.clone(),
            });
        let board = self.live.is_some().then(|| {
            Arc::new(crate::record::board::Board::new(
                a.measure.bucket.as_micros().max(1) as u64,
            ))
        });
        let running = Running::start(Setup {
            config: a,
            target: &self.target,
            out: &self.out,
            swarm: self.sw(),
            node_driver: self.node_driver.as_ref(),
            interrupt: &self.interrupt,
            board: board.as_ref(),
            journal: &self.journal,
            started: Started {
                setup: self.run_setup(&label, String::new(), 0, 0.0),
                access_path: access_path.clone(),
                bucket_threshold: a.measure.bucket_threshold,
                min_window_us: self.min_window_us(),
                slo: a.measure.slo.as_ref().map(|s| s.text.clone()),
                replicas: a.replicas(),
                converge_s,
                answering: answering.clone(),
            },
        })
        .await;
        let live = match (self.live.take(), board) {
            (Some(listener), Some(board)) => {
                let feed = running.feed(
                    board,
                    format!("chaos-runner live: {label}"),
                    format!(
                        "{} · {}",
                        crate::redact::secrets(&a.target.url),
                        access_path
                    ),
                );
                Some(LiveServer::start(listener, feed).context("starting the live view")?)
            }
            _ => None,
        };
        Ok(Measured {
            live,
            collected: running.drain().await?,
            converge_s,
            answering,
            access_path,
            label,
        })
    }

    /// How the target is reached, as given or as found at the start.
    async fn access_path(&self) -> String {
        if let Some(p) = &self.config.report.access_path {
            return p.clone();
        }
        let addrs = self.target.resolve_all().await.unwrap_or_default();
        let mut d = describe_access_path(&self.target, &addrs);
        if addrs.is_empty() && !self.target.is_ip() {
            d.push_str(" (did not resolve at the start)");
        }
        d
    }

    /// Puts back the nodes that node faults left stopped, cut off or drained (their `for=`
    /// had not passed, or they had none) before the service is restored.
    async fn put_nodes_back(&self, c: &mut Collected) {
        let means = crate::fault::undo::Means {
            driver: self.node_driver.as_deref(),
            swarm: self.sw().map(|s| &**s),
            journal: &self.journal,
        };
        for (i, undo) in std::mem::take(&mut c.pending) {
            let r = crate::fault::undo::undo(&undo, means).await;
            if let Err(e) = &r {
                eprintln!("chaos-runner: could not put {} back: {e}", undo.change());
            }
            let r = r.map(|s| format!("{s} (after the load ended)"));
            crate::fault::drive::note_restore(&mut c.faults[i], None, r);
            self.journal.note(&Entry::Fault(c.faults[i].clone()));
        }
        // What a firing cut short had written down, or an undo that failed during the
        // load: tried (again) now, and named on a cut-short firing of its family.
        for change in self.journal.open_changes() {
            // Load tasks are removed once what they sent is gathered.
            if matches!(change, Change::LoadService { .. }) {
                continue;
            }
            let Some(undo) = crate::fault::undo::Undo::of(&change) else {
                continue;
            };
            let r = crate::fault::undo::undo(&undo, means).await;
            match &r {
                Ok(s) => eprintln!("chaos-runner: {change}, not put back during the load: now put back ({s})"),
                Err(e) => eprintln!("chaos-runner: {change}, not put back during the load: could not put it back: {e}"),
            }
            let container = matches!(change, Change::Container { .. });
            if let Some(&i) = c
                .cut_short
                .iter()
                .find(|&&i| c.faults[i].kind.is_container() == container)
            {
                let r = r.map(|s| format!("{change}: {s} (after the load ended)"));
                crate::fault::drive::note_restore(&mut c.faults[i], None, r);
                self.journal.note(&Entry::Fault(c.faults[i].clone()));
            }
        }
    }

    async fn restore(&self) -> Restored {
        let Some((sw, base)) = &self.swarm else {
            return Restored::Kept;
        };
        if self.config.swarm.as_ref().is_some_and(|s| s.keep_changes) {
            return Restored::Kept;
        }
        match sw.restore(base, self.config.converge_timeout()).await {
            Ok(changes) => {
                let _ = self
                    .journal
                    .commit_async(Entry::ServiceRestored {
                        detail: Restored::Done(changes.clone()).describe(),
                    })
                    .await;
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
        }
    }

    /// The run's set-up as the summary names it.
    fn run_setup(&self, label: &str, started_at: String, peak: u64, elapsed_s: f64) -> RunSetup {
        let (a, plan) = (&self.config, &self.config.load);
        RunSetup {
            label: label.to_string(),
            target: crate::redact::secrets(&a.target.url),
            started_at,
            mode: match plan.mode {
                Mode::Open { .. } => LoadMode::Open,
                Mode::Closed => LoadMode::Closed,
            },
            rate: match plan.mode {
                Mode::Open { rate } => Some(rate),
                Mode::Closed => None,
            },
            connections: plan.connections,
            max_in_flight: plan.max_in_flight as u64,
            in_flight_capped: plan.capped,
            peak_in_flight: peak,
            planned_s: plan.planned_length().map(|d| d.as_secs_f64()),
            elapsed_s,
            bucket_ms: a.measure.bucket.as_secs_f64() * 1e3,
            timeout_ms: plan.timeout.as_secs_f64() * 1e3,
            keepalive: plan.keepalive,
            recycle_ms: plan.recycle.as_secs_f64() * 1e3,
            host: super::host::host_description(),
            share: plan.share.map(|s| s.to_string()),
        }
    }

    fn min_window_us(&self) -> u64 {
        self.config.measure.min_window.as_micros() as u64
    }

    fn summarise(&self, m: &Measured, restored: Restored) -> Summary {
        let (a, c) = (&self.config, &m.collected);
        let swarm = self.sw().map(|sw| SwarmInfo {
            service: sw.service.clone(),
            replicas: a.replicas(),
            converge_s: m.converge_s,
            answering: m.answering.clone(),
            restore: Some(restored.describe()),
            events: c.swarm_events.clone(),
            updates: c.updates.clone(),
            engines: sw.engines.iter().map(|e| e.name.clone()).collect(),
            node_driver: self.node_driver.as_ref().map(|d| d.describe()),
            nodes: c.nodes.clone(),
        });
        summary::build(summary::Inputs {
            setup: self.run_setup(
                &m.label,
                humantime::format_rfc3339_millis(c.start_wall).to_string(),
                c.peak_in_flight as u64,
                c.elapsed.as_secs_f64(),
            ),
            access_path: m.access_path.clone(),
            recorded: &c.recorded,
            instances: c.instances.clone(),
            faults: c.faults.clone(),
            swarm,
            run_end_us: c.elapsed.as_micros() as u64,
            bucket_threshold: a.measure.bucket_threshold,
            min_window_us: self.min_window_us(),
            interrupted: c.interrupted,
            malformed: c.malformed.clone(),
            slo: a.measure.slo.as_ref(),
        })
    }
}

/// The service, and its spec as found (to restore at the end).
async fn connect(
    name: &str,
    engines: &[(String, String)],
) -> anyhow::Result<(Arc<Swarm>, Baseline)> {
    let sw = Swarm::connect(name, engines)
        .await
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let base = sw.baseline().await.context("reading the service's spec")?;
    Ok((Arc::new(sw), base))
}
