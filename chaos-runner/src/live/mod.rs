//! The live view (`run --live [ADDR]`): a page that redraws twice a second while the run
//! goes on (requests ok and failed, the replica lanes, faults and the swarm's events, running
//! availability, downtime and the current outage), fed by server-sent events of HTML rendered
//! here with the report's chart code; the same figures in Prometheus' text format on
//! `/metrics`. After the run the page keeps the final figures.

mod figures;
mod frame;
mod metrics;
mod server;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::record::board::Board;
use crate::record::{Instances, Live};

pub use frame::final_frame;
pub use server::LiveServer;

/// What the live view reads: the run's counters, events, recent buckets and replicas.
#[derive(Debug, Clone)]
pub struct Feed {
    pub live: Arc<Live>,
    pub board: Arc<Board>,
    pub instances: Arc<Instances>,
    pub start: Instant,
    pub planned: Option<Duration>,
    /// Run label, redacted target and access path: nothing secret.
    pub title: String,
    pub subtitle: String,
}
