//! The sending side: `run --stream-to http://HOST:PORT` sends its run directory to a
//! gatherer as the run writes it. Once a second, what the journal and the latency log grew
//! by (`PUT /v1/vantages/NAME/FILE?offset=N`, the token as a Bearer token); after the run,
//! the report files whole, then `POST /v1/vantages/NAME/done`. A gatherer that has less than
//! the offset says how much it has (409) and gets the rest. When sends fail for
//! `lost_after`, the run is stopped as a signal would stop it: no load generator keeps
//! sending once it lost its gatherer. A gatherer whose coordinator stopped asks its senders
//! to stop too (a header on its answers), and the run stops the same way.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use tokio::sync::watch;

use super::{FINAL, GROWING, MAX_SEND};

/// Where and as whom a run sends its data.
#[derive(Debug, Clone, PartialEq)]
pub struct ShipConfig {
    /// The gatherer's host and port.
    pub host: String,
    pub port: u16,
    /// This vantage point's name at the gatherer.
    pub name: String,
    pub token: String,
    /// How long sends may fail before the run stops itself.
    pub lost_after: Duration,
}

/// How long one send may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends one run directory's files, remembering how much of each the gatherer has.
struct Shipper {
    dir: PathBuf,
    config: ShipConfig,
    sent: BTreeMap<&'static str, u64>,
    clock: Clock,
    /// The gatherer asked its senders to stop.
    told_to_stop: bool,
}

/// This clock against the gatherer's, from the exchanges' round trips: the gatherer's time
/// when it answered, less the middle of the exchange on this clock.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct ClockSample {
    /// The gatherer's clock less this one (ms): add it to this clock's times.
    offset_ms: f64,
    /// The exchange's round trip (ms): the offset is exact within half of it.
    rtt_ms: f64,
    /// When, by this clock (µs since the Unix epoch).
    at_us: i64,
}

/// The best sample of the first exchanges (the shortest round trip) and the latest.
#[derive(Debug, Default, serde::Serialize)]
struct Clock {
    start: Option<ClockSample>,
    end: Option<ClockSample>,
    #[serde(skip)]
    seen: u32,
}

/// How many of the first exchanges the start's sample is chosen from.
const START_SAMPLES: u32 = 5;

fn unix_us(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

impl Clock {
    fn note(&mut self, sent: std::time::SystemTime, answered_us: Option<i64>, took: Duration) {
        let Some(theirs) = answered_us else { return };
        let rtt_us = i64::try_from(took.as_micros()).unwrap_or(i64::MAX);
        let mid = unix_us(sent).saturating_add(rtt_us / 2);
        let sample = ClockSample {
            offset_ms: (theirs - mid) as f64 / 1e3,
            rtt_ms: rtt_us as f64 / 1e3,
            at_us: mid,
        };
        self.seen += 1;
        if self.seen <= START_SAMPLES && self.start.map_or(true, |s| sample.rtt_ms < s.rtt_ms) {
            self.start = Some(sample);
        }
        self.end = Some(sample);
    }
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("cannot reach the gatherer {0}")]
    Unreachable(String),
    #[error("the gatherer answered {0}: {1}")]
    Refused(u16, String),
    #[error("reading {0}: {1}")]
    Local(String, std::io::Error),
}

impl Shipper {
    async fn addr(&self) -> Result<SocketAddr, SendError> {
        let c = &self.config;
        tokio::net::lookup_host((c.host.as_str(), c.port))
            .await
            .map_err(|e| SendError::Unreachable(format!("{}: {e}", c.host)))?
            .next()
            .ok_or_else(|| SendError::Unreachable(format!("{} has no address", c.host)))
    }

    /// Sends `body` as the bytes of `file` from `offset`; the gatherer's length when it has
    /// less than `offset` (409).
    async fn put(
        &mut self,
        file: &str,
        offset: u64,
        body: Bytes,
    ) -> Result<Option<u64>, SendError> {
        let path = format!("/v1/vantages/{}/{file}?offset={offset}", self.config.name);
        let (status, text) = self.exchange(Method::PUT, &path, body).await?;
        match status {
            200 => Ok(None),
            409 => text
                .trim()
                .strip_prefix("have ")
                .and_then(|n| n.parse().ok())
                .map(Some)
                .ok_or(SendError::Refused(409, text)),
            _ => Err(SendError::Refused(status, text.trim().to_string())),
        }
    }

    /// Sends what `file` grew by since the last send (all of it again if it shrank).
    async fn send_new(&mut self, file: &'static str) -> Result<(), SendError> {
        let local = |e| SendError::Local(file.to_string(), e);
        let path = self.dir.join(file);
        let Ok(len) = std::fs::metadata(&path).map(|m| m.len()) else {
            return Ok(()); // Not written yet.
        };
        let mut from = self.sent.get(file).copied().unwrap_or(0);
        if len < from {
            from = 0;
        }
        while from < len {
            let n = (len - from).min(MAX_SEND as u64) as usize;
            let mut buf = vec![0; n];
            let mut f = std::fs::File::open(&path).map_err(local)?;
            f.seek(SeekFrom::Start(from)).map_err(local)?;
            f.read_exact(&mut buf).map_err(local)?;
            match self.put(file, from, Bytes::from(buf)).await? {
                None => from += n as u64,
                Some(have) => from = have.min(len),
            }
            self.sent.insert(file, from);
        }
        Ok(())
    }

    async fn send_growing(&mut self) -> Result<(), SendError> {
        for file in GROWING {
            self.send_new(file).await?;
        }
        Ok(())
    }

    /// One request to the gatherer, its clock noted: the status and the answer's text.
    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(u16, String), SendError> {
        let addr = self.addr().await?;
        let (sent, t) = (std::time::SystemTime::now(), Instant::now());
        let r = crate::http_get::to_gatherer(
            method,
            addr,
            &self.config.host,
            path,
            &self.config.token,
            body,
            SEND_TIMEOUT,
        )
        .await
        .map_err(|e| SendError::Unreachable(format!("{addr}: {e}")))?;
        self.clock.note(sent, r.clock_us, t.elapsed());
        self.told_to_stop |= r.stop;
        Ok((r.status, r.text))
    }

    /// `POST /v1/vantages/NAME/VERB` (`alive` each second, `done` at the end).
    async fn post(&mut self, verb: &str) -> Result<(), SendError> {
        let path = format!("/v1/vantages/{}/{verb}", self.config.name);
        let (status, text) = self.exchange(Method::POST, &path, Bytes::new()).await?;
        if status != 200 {
            return Err(SendError::Refused(status, text.trim().to_string()));
        }
        Ok(())
    }

    /// The last of the growing files, the report files whole, and the end.
    async fn send_final(&mut self) -> Result<(), SendError> {
        self.send_growing().await?;
        // This clock against the gatherer's, at the start and now: sent with the report.
        let clock = serde_json::to_vec_pretty(&self.clock).expect("plain data");
        std::fs::write(self.dir.join(super::CLOCK), clock)
            .map_err(|e| SendError::Local(super::CLOCK.into(), e))?;
        for file in FINAL {
            if self.dir.join(file).exists() {
                // Written once: from the start, whatever an earlier send left.
                self.sent.insert(file, 0);
                let b = self.put(file, 0, Bytes::new()).await?;
                debug_assert!(b.is_none());
                self.send_new(file).await?;
            }
        }
        self.post("done").await
    }
}

/// Runs `config` (whose report goes to `dir`) while sending `dir` to the gatherer; the run
/// stops as on Ctrl-C when the gatherer cannot be reached for `lost_after`.
pub async fn run_streamed(
    config: crate::config::RunConfig,
    ship: ShipConfig,
    dir: &Path,
) -> anyhow::Result<crate::run::Outcome> {
    let signals = crate::signals::install();
    let (stop_tx, stop_rx) = watch::channel(false);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            crate::signals::interrupted(signals).await;
            let _ = stop_tx.send(true);
        });
    }
    let lost_after = ship.lost_after;
    let lost = Arc::new(AtomicBool::new(false));
    let (done_tx, mut done_rx) = watch::channel(false);
    let mut shipper = Shipper {
        dir: dir.to_path_buf(),
        config: ship,
        sent: BTreeMap::new(),
        clock: Clock::default(),
        told_to_stop: false,
    };
    let sending = {
        let lost = lost.clone();
        tokio::spawn(async move {
            let mut failing_since: Option<Instant> = None;
            let mut asked_to_stop = false;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = done_rx.changed() => break,
                }
                let sent = match shipper.send_growing().await {
                    Ok(()) => shipper.post("alive").await,
                    Err(e) => Err(e),
                };
                if shipper.told_to_stop && !asked_to_stop {
                    // Its coordinator stopped: this load stops as on Ctrl-C.
                    asked_to_stop = true;
                    eprintln!(
                        "chaos-runner: the gatherer asked its senders to stop: stopping the load"
                    );
                    let _ = stop_tx.send(true);
                }
                match sent {
                    Ok(()) => failing_since = None,
                    Err(e) => {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        tracing::warn!("sending to the gatherer: {e}");
                        if since.elapsed() >= lost_after {
                            eprintln!(
                                "chaos-runner: lost the gatherer ({e}) for {lost_after:?}: stopping the load"
                            );
                            lost.store(true, Ordering::SeqCst);
                            let _ = stop_tx.send(true);
                            break;
                        }
                    }
                }
            }
            shipper
        })
    };
    let outcome = crate::run::execute_with(config, stop_rx).await;
    let _ = done_tx.send(true);
    let mut shipper = sending.await?;
    if lost.load(Ordering::SeqCst) {
        return outcome;
    }
    let outcome = outcome?;
    // The end, retried for as long as a lost gatherer is given.
    let since = Instant::now();
    loop {
        match shipper.send_final().await {
            Ok(()) => return Ok(outcome),
            Err(e) if since.elapsed() >= lost_after => {
                return Err(anyhow::anyhow!(
                    "the run's report is in {}, but sending it to the gatherer failed for {lost_after:?}: {e}",
                    dir.display()
                ));
            }
            Err(e) => {
                tracing::warn!("sending the report to the gatherer: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
