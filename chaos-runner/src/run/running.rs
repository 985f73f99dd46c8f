//! The measuring phase: the load, the collector, the faults, the swarm watchers and the
//! progress line run side by side; when the load ends, each is told to stop and hands
//! back what it gathered.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::RunConfig;
use crate::fault::drive::{drive, Driven, FaultRun};
use crate::fault::exec::{FaultContext, FaultEvent};
use crate::fault::undo::Undo;
use crate::journal::{Journal, Started};
use crate::load::{self, pool, Shared};
use crate::node::NodeDriver;
use crate::record::collecting::{collect_with_log, Sinks};
use crate::record::instances::InstanceSeen;
use crate::record::{Collector, Recorded};
use crate::swarm::events::SwarmEvent;
use crate::swarm::nodes::NodesSeen;
use crate::swarm::update::UpdateStatusEvent;
use crate::swarm::Swarm;
use crate::target::Target;

/// Everything the measuring phase gathered.
#[derive(Debug)]
pub(super) struct Collected {
    pub recorded: Recorded,
    pub instances: Vec<InstanceSeen>,
    pub faults: Vec<FaultEvent>,
    /// What node faults left to put back: (index in `faults`, how).
    pub pending: Vec<(usize, Undo)>,
    /// Firings abandoned when the load ended (index in `faults`).
    pub cut_short: Vec<usize>,
    /// The swarm's nodes and tasks as the managers reported them.
    pub nodes: NodesSeen,
    /// The swarm's container events and update-status changes (with a swarm service).
    pub swarm_events: Vec<SwarmEvent>,
    pub updates: Vec<UpdateStatusEvent>,
    pub start_wall: SystemTime,
    pub elapsed: Duration,
    pub peak_in_flight: usize,
    pub interrupted: bool,
    /// Malformed responses by kind.
    pub malformed: std::collections::BTreeMap<String, u64>,
}

/// The tasks of a run under way.
pub(super) struct Running {
    start: Instant,
    start_wall: SystemTime,
    shared: Arc<Shared>,
    /// Ctrl-C or SIGTERM (the load also stops when the journal cannot be written).
    interrupt: watch::Receiver<bool>,
    load: pool::Finished,
    /// Told once the load has ended: faults, watchers and the progress line stop.
    stop: watch::Sender<bool>,
    collector_stop: oneshot::Sender<()>,
    collector: JoinHandle<std::io::Result<Recorded>>,
    faults: Vec<JoinHandle<Driven>>,
    swarm_events: Vec<JoinHandle<Vec<SwarmEvent>>>,
    nodes: Option<JoinHandle<NodesSeen>>,
    updates: Option<JoinHandle<Vec<UpdateStatusEvent>>>,
    progress: JoinHandle<()>,
}

/// What the measuring phase needs from the experiment.
pub(super) struct Setup<'a> {
    pub config: &'a RunConfig,
    pub target: &'a Arc<Target>,
    pub out: &'a Path,
    pub swarm: Option<&'a Arc<Swarm>>,
    pub node_driver: Option<&'a Arc<NodeDriver>>,
    pub interrupt: &'a watch::Receiver<bool>,
    /// The live view's board (with --live).
    pub board: Option<&'a Arc<crate::record::board::Board>>,
    pub journal: &'a Journal,
    /// What the journal's `Started` entry says besides the clock (filled in but for it).
    pub started: Started,
}

impl Setup<'_> {
    fn started(&self, start_wall: SystemTime) -> Started {
        let mut st = self.started.clone();
        st.setup.started_at = humantime::format_rfc3339_millis(start_wall).to_string();
        st
    }
}

/// The wall-clock time and the `Instant` of one moment, for `started_at` and the run's own
/// clock: read one after the other, a preemption in between (a busy machine) would put them a
/// millisecond or more apart. The wall clock is read between two `Instant`s; of a few tries,
/// the pair read closest together is kept, at their midpoint.
fn clock_pair() -> (SystemTime, Instant) {
    (0..8)
        .map(|_| {
            let before = Instant::now();
            let wall = SystemTime::now();
            let gap = before.elapsed();
            (gap, wall, before + gap / 2)
        })
        .min_by_key(|(gap, _, _)| *gap)
        .map(|(_, wall, at)| (wall, at))
        .expect("eight tries")
}

/// A receiver that turns true when either does.
fn stop_on_either(
    mut a: watch::Receiver<bool>,
    mut b: watch::Receiver<bool>,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(*a.borrow() || *b.borrow());
    tokio::spawn(async move {
        tokio::select! {
            _ = a.wait_for(|v| *v) => {}
            _ = b.wait_for(|v| *v) => {}
            () = tx.closed() => return,
        }
        let _ = tx.send(true);
    });
    rx
}

impl Running {
    /// Opens the first connections, starts the clock and every task.
    pub async fn start(s: Setup<'_>) -> Self {
        let a = s.config;
        let conns = load::conn::warm_up(s.target, &a.load).await;
        if let Some(at) = a.load.start_at {
            // Checked to be at least the warm-up's bound ahead; an interruption still ends the wait.
            if let Ok(left) = at.duration_since(SystemTime::now()) {
                let mut interrupt = s.interrupt.clone();
                tokio::select! {
                    () = tokio::time::sleep(left) => {}
                    _ = interrupt.wait_for(|v| *v) => {}
                }
            }
        }
        let (start_wall, start) = clock_pair();
        // The load stops at an interruption, or when what it measures cannot be written.
        let (halt, halted) = watch::channel(false);
        let shared = Arc::new(Shared::new(
            s.target.clone(),
            a.load.clone(),
            start,
            stop_on_either(s.interrupt.clone(), halted),
        ));
        s.journal.note(&crate::journal::Entry::Started(Box::new(
            s.started(start_wall),
        )));
        let planned = a.load.planned_length();
        let (stop, stop_rx) = watch::channel(false);
        // Container events from every engine reached; nodes and tasks from the managers.
        let swarm_events = s
            .swarm
            .map(|sw| {
                (0..sw.engines.len())
                    .map(|i| {
                        crate::swarm::events::watch(
                            sw.clone(),
                            i,
                            start_wall,
                            shared.live.clone(),
                            s.journal.clone(),
                            stop_rx.clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let nodes = s.swarm.map(|sw| {
            crate::swarm::nodes::watch(
                sw.clone(),
                start,
                shared.live.clone(),
                s.journal.clone(),
                stop_rx.clone(),
            )
        });
        let updates = s.swarm.map(|sw| {
            crate::swarm::update::watch(sw.clone(), start, s.journal.clone(), stop_rx.clone())
        });

        let collector = Collector::new(a.measure.bucket.as_micros().max(1) as u64);
        let load = load::spawn(shared.clone(), &collector, conns);
        let (collector_stop, collector_rx) = oneshot::channel();
        let sinks = Sinks {
            hlog: s.out.join("latency.hlog"),
            timeline: s.out.join("timeline.csv"),
            // In-flight attempts (up to the timeout, after a wait in the queue) land in recent buckets.
            keep: a.load.timeout * 2 + Duration::from_secs(5),
            board: s.board.cloned(),
            journal: s.journal.clone(),
            halt,
            start,
        };
        let collector = tokio::spawn(collect_with_log(
            collector,
            sinks,
            start_wall,
            collector_rx,
            shared.live.clone(),
            shared.instances.clone(),
        ));
        let faults = spawn_faults(&s, &shared, stop_rx.clone());
        let progress =
            crate::progress::spawn(shared.live.clone(), start, planned, a.report.quiet, stop_rx);
        Self {
            start,
            start_wall,
            shared,
            interrupt: s.interrupt.clone(),
            load,
            stop,
            collector_stop,
            collector,
            faults,
            swarm_events,
            nodes,
            updates,
            progress,
        }
    }

    /// What the live view reads.
    pub fn feed(
        &self,
        board: Arc<crate::record::board::Board>,
        title: String,
        subtitle: String,
    ) -> crate::live::Feed {
        crate::live::Feed {
            live: self.shared.live.clone(),
            board,
            instances: self.shared.instances.clone(),
            start: self.start,
            planned: self.shared.plan.planned_length(),
            title,
            subtitle,
        }
    }

    /// Waits for the load to end, tells every task to stop and gathers what they hand back.
    pub async fn drain(self) -> anyhow::Result<Collected> {
        let peak_in_flight = self.load.wait().await;
        let elapsed = self.start.elapsed();
        let _ = self.stop.send(true);
        let _ = self.progress.await;
        let mut faults = Vec::new();
        let mut pending = Vec::new();
        let mut cut_short = Vec::new();
        for f in self.faults {
            let d = f.await.context("a fault's task")?;
            let base = faults.len();
            pending.extend(d.pending.into_iter().map(|(i, u)| (base + i, u)));
            cut_short.extend(d.cut_short.into_iter().map(|i| base + i));
            faults.extend(d.events);
        }
        let _ = self.collector_stop.send(());
        let recorded = self
            .collector
            .await
            .context("collector task")?
            .context("writing latency.hlog and timeline.csv")?;
        let mut swarm_events = Vec::new();
        for w in self.swarm_events {
            swarm_events.extend(w.await.context("a swarm events' watcher")?);
        }
        swarm_events.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        let nodes = match self.nodes {
            Some(w) => w.await.context("the nodes' watcher")?,
            None => NodesSeen::default(),
        };
        let updates = match self.updates {
            Some(w) => w.await.context("the update status' watcher")?,
            None => Vec::new(),
        };
        Ok(Collected {
            recorded,
            instances: self.shared.instances.snapshot(),
            faults,
            pending,
            cut_short,
            nodes,
            swarm_events,
            updates,
            start_wall: self.start_wall,
            elapsed,
            peak_in_flight,
            interrupted: *self.interrupt.borrow(),
            malformed: self.shared.malformed(),
        })
    }
}

/// One task per `--fault`, each firing on its schedule until told to stop.
fn spawn_faults(
    s: &Setup<'_>,
    shared: &Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<Driven>> {
    let a = s.config;
    let ctx = FaultContext {
        target: s.target.clone(),
        instances: shared.instances.clone(),
        kill_token: a.kill_token.as_ref().map(|t| t.expose().to_string()),
        token_any_host: a.kill_token_any_host,
        swarm: s.swarm.cloned(),
        node_driver: s.node_driver.cloned(),
        journal: s.journal.clone(),
    };
    a.faults
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, spec)| {
            let run = FaultRun {
                start: shared.start,
                end: shared.plan.planned_length(),
                interrupted: s.interrupt.clone(),
                stop: stop.clone(),
                live: shared.live.clone(),
                journal: s.journal.clone(),
            };
            tokio::spawn(drive(i, spec, ctx.clone(), run))
        })
        .collect()
}
