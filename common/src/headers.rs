//! The headers by which a replica says who answered: crashserver stamps them on every
//! response, chaos-runner counts answers by them.

/// The replica's id (unique per process).
pub const X_INSTANCE: &str = "x-instance";
/// The version the replica runs (rolling updates, canaries).
pub const X_VERSION: &str = "x-version";
