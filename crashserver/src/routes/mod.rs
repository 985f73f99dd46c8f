//! HTTP handlers, one file per concern.

pub mod chaos;
pub mod crash;
pub mod page;
pub mod probes;
pub mod scrape;
