//! Before the clock starts: every replica asked for answers through the access path that
//! will be measured, each told apart by its `X-Instance`, within a bounded wait. A replica
//! that runs but does not answer yet (still starting, or unreachable from here) would make
//! "5 replicas" measure 4; when the wait ends first, the run says how many answered.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::http_get::get_once;
use crate::target::Target;

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The pause between rounds of probes.
const ROUND_PAUSE: Duration = Duration::from_millis(100);

/// What the wait found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Answering {
    /// Replicas asked for.
    pub wanted: u64,
    /// Distinct replicas (`X-Instance`) that answered 2xx or 3xx before the clock started.
    pub seen: u64,
    /// How long the wait took (s).
    pub waited_s: f64,
}

impl Answering {
    pub fn short(&self) -> bool {
        self.seen < self.wanted
    }

    /// "5 of 5 replicas answered ... after 0.4 s", for the report and the terminal.
    pub fn describe(&self) -> String {
        format!(
            "{} of {} replica(s) answered through the access path before the clock started (waited {:.1} s){}",
            self.seen,
            self.wanted,
            self.waited_s,
            if self.short() {
                ": the run measured fewer replicas than asked for"
            } else {
                ""
            }
        )
    }
}

/// Probes `target` on fresh connections (each address it resolves to, or one address
/// several times: a VIP or routing mesh balances connections) until `wanted` distinct
/// replicas answered, `bound` passed, or the run was interrupted.
pub async fn wait(
    target: &Target,
    wanted: u64,
    bound: Duration,
    interrupt: &watch::Receiver<bool>,
) -> Answering {
    let started = Instant::now();
    let mut seen = BTreeSet::new();
    let per_round = (2 * wanted).clamp(2, 64) as usize;
    while (seen.len() as u64) < wanted && started.elapsed() < bound && !*interrupt.borrow() {
        let addrs = target.resolve_all().await.unwrap_or_default();
        let round: Vec<_> = if addrs.len() > 1 {
            addrs
        } else {
            addrs.into_iter().cycle().take(per_round).collect()
        };
        for addr in round {
            if let Ok((200..=399, Some(id))) =
                get_once(addr, &target.authority, &target.path, None, PROBE_TIMEOUT).await
            {
                seen.insert(id);
            }
        }
        if (seen.len() as u64) < wanted {
            tokio::time::sleep(ROUND_PAUSE).await;
        }
    }
    Answering {
        wanted,
        seen: seen.len() as u64,
        waited_s: started.elapsed().as_secs_f64(),
    }
}
