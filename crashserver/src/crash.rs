//! Crashes: why the process ends, and the function that ends it.
//!
//! Handlers never call `process::exit` themselves; they hand a [`CrashCause`] to the
//! [`Crasher`] in the state, so in-process tests can observe crashes instead of dying.

use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashCause {
    /// `GET /kill`.
    Kill,
    /// The countdown armed by `GET /status` ran out.
    StatusCountdown,
    /// The `--crash-after N` fault fired.
    CrashAfter(u64),
}

impl fmt::Display for CrashCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrashCause::Kill => write!(f, "GET /kill"),
            CrashCause::StatusCountdown => write!(f, "GET /status countdown elapsed"),
            CrashCause::CrashAfter(n) => write!(f, "crash-after fault after {n} requests"),
        }
    }
}

/// Ends the process (in production) or records the crash (in tests).
pub type Crasher = Arc<dyn Fn(CrashCause) + Send + Sync>;

/// The production crasher: exit at once, without draining (the state logged the cause).
pub fn exiting_crasher(exit_code: u8) -> Crasher {
    Arc::new(move |_cause| std::process::exit(i32::from(exit_code)))
}
