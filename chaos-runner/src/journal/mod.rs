//! The run journal: what a run measured and what it changed, written as the run goes, so
//! that a runner killed at any moment loses at most the last second of measurements, its
//! report can be rebuilt (`chaos-runner report DIR`) and what it changed on the swarm undone
//! (`chaos-runner restore DIR`).
//!
//! It lives in `DIR/journal/`: `run.jsonl` holds one [`Entry`] a line (the configuration and
//! the service's spec as found, each change to the swarm before it is made and when it is
//! undone, faults, container, node and update events as they come, and once a second a
//! commit of what was measured); `buckets.csv` holds, each second, the timeline buckets that
//! changed, as `timeline.csv` rows after their index (the last row of a bucket wins). The
//! latency intervals are in `latency.hlog`, streamed beside it.

mod entry;
mod replay;
pub mod restore;
mod writer;

pub use entry::{Begin, Change, End, Entry, InstanceEntry, Second, Started, SwarmStart};
pub use replay::{rebuild, Replayed};
pub use writer::Journal;

/// The journal's directory inside a run directory.
pub const DIR: &str = "journal";
/// The entries, one JSON object a line.
pub const ENTRIES: &str = "run.jsonl";
/// The buckets, a CSV row each.
pub const BUCKETS: &str = "buckets.csv";
/// The version of the journal's format, in its first entry.
pub const VERSION: u32 = 1;

/// Whether `dir` holds the journal of a run that did not finish (no summary.json).
pub fn unfinished(dir: &std::path::Path) -> bool {
    dir.join(DIR).join(ENTRIES).exists() && !dir.join("summary.json").exists()
}
