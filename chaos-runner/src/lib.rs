//! chaos-runner: load a replicated service while injecting kills, and measure what its
//! clients saw: availability, downtime windows, time to recovery and latency.
//!
//! `main.rs` is a thin shell: [`cli`] parses, [`run::execute`] runs an experiment,
//! [`report`] renders and [`compare`] puts runs side by side.

mod analysis;
mod cli;
mod compare;
mod config;
pub mod entry;
mod exit;
mod experiment;
mod fault;
mod http_get;
mod journal;
mod live;
mod load;
mod merge;
mod netem;
mod node;
mod outdir;
mod parse;
mod probe;
mod progress;
mod record;
mod redact;
mod report;
mod run;
mod signals;
mod slo;
mod stream;
mod summary;
mod swarm;
mod target;
mod vantage;
