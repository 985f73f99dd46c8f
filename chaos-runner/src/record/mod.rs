//! Recording what every attempt did, in bounded memory: a few shared recorders, merged
//! once a second by the collector into the run's timeline, histograms and interval log.

pub mod board;
pub mod bucket;
pub mod class;
pub mod collecting;
pub mod collector;
pub mod hlog;
pub mod instances;
pub mod live;
pub mod recorder;
pub mod timeline_csv;

pub use bucket::Bucket;
pub use class::Class;
pub use collector::{Collector, Recorded};
pub use instances::Instances;
pub use live::Live;
pub use recorder::{Attempt, Recorder};

/// Histograms count microseconds from 1 µs up to an hour; they grow as needed.
pub fn new_histogram() -> hdrhistogram::Histogram<u64> {
    let mut h = hdrhistogram::Histogram::new_with_bounds(1, 2, 3).expect("valid bounds");
    h.auto(true);
    h
}
