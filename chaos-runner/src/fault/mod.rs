//! Faults: the `--fault` spec language, when faults fire, and what firing one does.

pub mod canary;
pub mod exec;
pub mod schedule;
pub mod spec;

pub use schedule::Schedule;
pub use spec::{FaultKind, FaultSpec, When};
