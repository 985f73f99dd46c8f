//! Documented exit codes of chaos-runner.

/// The run finished (and met its SLO, if one was given).
pub const OK: u8 = 0;
/// A run-time failure: the target could not be loaded, a report could not be written, ...
pub const RUNTIME: u8 = 1;
/// Invalid command line, fault spec, SLO or input files; nothing was sent.
pub const USAGE: u8 = 2;
/// The run finished but violated `--slo`.
pub const SLO_VIOLATED: u8 = 3;
/// `report`: the run did not finish (its runner was killed); the report was rebuilt from
/// its journal and covers only the part of the run it names. `merge`: a vantage was lost
/// (one of the runs did not finish) and is counted up to its loss. `gather`: a vantage was
/// lost or never came. `restore`: something could
/// not be put back uses [`RUNTIME`].
pub const INCOMPLETE: u8 = 4;
/// Interrupted by Ctrl-C (SIGINT) or SIGTERM; the report was written, marked interrupted.
pub const INTERRUPTED: u8 = 130;

/// An error that maps to the usage exit code (2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
