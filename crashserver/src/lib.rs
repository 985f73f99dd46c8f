//! crashserver: the scaling lecture's self-healing demo service, as a library.
//!
//! `main.rs` is a thin shell around [`server::run`]; tests build the same
//! [`app::app`] router in-process or start the real binary on port 0.

pub mod app;
pub mod chaos;
pub mod config;
pub mod crash;
pub mod entry;
pub mod faults;
pub mod healthcheck;
pub mod identity;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod threads;

pub use app::app;
pub use config::Config;
pub use state::AppState;
