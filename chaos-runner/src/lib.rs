//! chaos-runner: load a replicated service while injecting kills, and measure what its
//! clients saw: availability, downtime windows, time to recovery and latency.
//!
//! `main.rs` is a thin shell: [`cli`] parses, [`run::execute`] runs an experiment,
//! [`report`] renders and [`compare`] puts runs side by side.

pub mod analysis;
pub mod cli;
pub mod compare;
pub mod entry;
pub mod exit;
pub mod fault;
pub mod http_get;
pub mod load;
pub mod outdir;
pub mod parse;
pub mod probe;
pub mod progress;
pub mod record;
pub mod redact;
pub mod report;
pub mod run;
pub mod signals;
pub mod slo;
pub mod summary;
pub mod swarm;
pub mod target;
