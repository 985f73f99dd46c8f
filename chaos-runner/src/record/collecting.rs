//! The collector's task while the run goes: once a second it merges the recorders, logs
//! the second's histograms to `latency.hlog` and spills final buckets to `timeline.csv`;
//! when told to stop it hands back everything recorded.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use tokio::sync::oneshot;

use super::{hlog, timeline_csv, Collector, Instances, Live, Recorded};

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
    let mut file = BufWriter::new(File::create(&sinks.hlog)?);
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
    loop {
        let done = tokio::select! {
            _ = ticker.tick() => false,
            _ = &mut stop => true,
        };
        let now = started.elapsed();
        let (ok, failed) = collector.collect();
        for (h, tag) in [(ok, "ok"), (failed, "failed")] {
            if !h.is_empty() {
                log.write_histogram(h, last, now - last, Tag::new(tag))
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            }
        }
        live.instances_seen(instances.len());
        if let Some(b) = &sinks.board {
            collector.publish(b);
        }
        collector.spill_before((now.saturating_sub(sinks.keep)).as_micros() as u64)?;
        last = now;
        if done {
            break;
        }
    }
    drop(log);
    file.flush()?;
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
