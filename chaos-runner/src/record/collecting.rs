//! The collector's task while the run goes: once a second it merges the recorders, logs
//! the second's histograms to `latency.hlog`, commits the second to the run's journal
//! (the buckets that changed, new replicas, the send lateness) and spills final buckets to
//! `timeline.csv`; when told to stop it hands back everything recorded. A write that fails
//! stops the load at once (`halt`) and ends the task with the error.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use tokio::sync::{oneshot, watch};

use super::{hlog, timeline_csv, Collector, Instances, Live, Recorded};
use crate::journal::{Entry, InstanceEntry, Journal, Second};

const TICK: Duration = Duration::from_secs(1);

/// Where the collector writes while the run goes.
#[derive(Debug)]
pub struct Sinks {
    /// The interval log (latency.hlog).
    pub hlog: PathBuf,
    /// timeline.csv, written bucket by bucket as buckets become final.
    pub timeline: PathBuf,
    /// Buckets younger than this stay in memory (attempts in flight still land in them).
    pub keep: Duration,
    /// The live view's board, updated at every tick (then twice a second).
    pub board: Option<Arc<super::board::Board>>,
    /// The run's journal, committed at every tick.
    pub journal: Journal,
    /// Told when a write failed: the load stops.
    pub halt: watch::Sender<bool>,
    /// The run's clock (the journal's seconds count from it).
    pub start: tokio::time::Instant,
}

/// The collector's task: merge every second and log the second's histograms, until `stop`.
pub async fn collect_with_log(
    mut collector: Collector,
    sinks: Sinks,
    start_wall: SystemTime,
    mut stop: oneshot::Receiver<()>,
    live: Arc<Live>,
    instances: Arc<Instances>,
) -> std::io::Result<Recorded> {
    let bucket_us = collector.bucket_us;
    let mut csv = BufWriter::new(File::create(&sinks.timeline)?);
    writeln!(csv, "{}", timeline_csv::header())?;
    collector.spill_to(Box::new(move |i, b| {
        timeline_csv::write_row(&mut csv, i, b, bucket_us).and_then(|()| csv.flush())
    }));
    // Unbuffered: each second's intervals reach the file as they are written.
    let mut file = File::create(&sinks.hlog)?;
    hlog::write_header(&mut file, start_wall)?;
    let mut ser = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut file, &mut ser)
        .map_err(std::io::Error::other)?;
    let started = tokio::time::Instant::now();
    let mut last = Duration::ZERO;
    let tick = if sinks.board.is_some() {
        TICK / 2
    } else {
        TICK
    };
    let mut ticker = tokio::time::interval_at(started + tick, tick);
    let mut noted = Noted::default();
    loop {
        let done = tokio::select! {
            _ = ticker.tick() => false,
            _ = &mut stop => true,
        };
        let now = started.elapsed();
        let (ok, failed) = collector.collect();
        let mut wrote = Ok(());
        for (h, tag) in [(ok, "ok"), (failed, "failed")] {
            if !h.is_empty() && wrote.is_ok() {
                wrote = log
                    .write_histogram(h, last, now - last, Tag::new(tag))
                    .map_err(|e| std::io::Error::other(format!("writing latency.hlog: {e:?}")));
            }
        }
        let second = wrote.and_then(|()| {
            let at = sinks.start.elapsed();
            noted.second(&mut collector, &sinks.journal, &live, &instances, at)
        });
        let committed = match second {
            Ok(s) => sinks.journal.commit_async(Entry::Second(s)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = committed {
            let _ = sinks.halt.send(true);
            return Err(e);
        }
        live.instances_seen(instances.len());
        if let Some(b) = &sinks.board {
            collector.publish(b);
        }
        if let Err(e) = collector.spill_before((now.saturating_sub(sinks.keep)).as_micros() as u64)
        {
            eprintln!("chaos-runner: writing timeline.csv: {e}: stopping the load");
            let _ = sinks.halt.send(true);
            return Err(e);
        }
        last = now;
        if done {
            break;
        }
    }
    drop(log);
    file.sync_data()?;
    if collector.stragglers > 0 {
        tracing::warn!(
            attempts = collector.stragglers,
            "attempts older than the keep window were counted in a later bucket"
        );
    }
    let mut rec = collector.finish()?;
    // Read the whole timeline back for the analysis (once, after the run).
    let f = File::open(&sinks.timeline)?;
    rec.timeline = timeline_csv::read(std::io::BufReader::new(f)).map_err(std::io::Error::other)?;
    Ok(rec)
}

/// What the journal has been told of the replicas so far: (id, first seen, last seen).
#[derive(Debug, Default)]
struct Noted(Vec<(String, u64, u64)>);

impl Noted {
    /// Writes the second's changed buckets and the replicas that are new or changed; the
    /// second's commit, with its lateness, to put on disk after them.
    fn second(
        &mut self,
        c: &mut Collector,
        journal: &Journal,
        live: &Live,
        instances: &Instances,
        now: Duration,
    ) -> std::io::Result<Second> {
        for (i, b) in c.take_changed() {
            journal.bucket(i, &b, c.bucket_us);
        }
        for (i, x) in instances.snapshot().into_iter().enumerate() {
            let now = (x.id.clone(), x.first_seen_us, x.last_seen_us());
            if self.0.get(i) == Some(&now) {
                continue;
            }
            journal.note(&Entry::Instance(InstanceEntry {
                index: i as u32,
                id: x.id,
                version: x.version,
                first_seen_us: now.1,
                last_seen_us: now.2,
            }));
            if self.0.len() <= i {
                self.0.resize(i + 1, Default::default());
            }
            self.0[i] = now;
        }
        let lateness = c.interval_lateness();
        let lateness = (!lateness.is_empty())
            .then(|| hlog::encode(lateness))
            .transpose()?;
        Ok(Second {
            at_us: now.as_micros() as u64,
            started: live.started.load(Ordering::Relaxed),
            ended: live.sent.load(Ordering::Relaxed),
            buckets: journal.bucket_rows(),
            lateness,
        })
    }
}
