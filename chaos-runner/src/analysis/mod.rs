//! Turning the timeline into findings: downtime windows, availability, recovery per fault.

pub mod availability;
pub mod downtime;
pub mod nodes;
pub mod orchestrator;
pub mod recovery;
