//! From the command line to a [`LoadPlan`]: modes, connections, the in-flight allowance
//! (and the open-file limit it needs), and faults that could never fire.

use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};

use crate::cli::{Recording, RunArgs};
use crate::exit::UsageError;
use crate::load::{self, LoadPlan, Mode};

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

pub(super) fn plan_of(a: &RunArgs) -> Result<LoadPlan, UsageError> {
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
        share: a.share,
        start_at: a.start_at,
    })
}

/// Refuses faults that could never fire: their first firing is at or after the planned end.
pub(super) fn check_faults_fit(
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
