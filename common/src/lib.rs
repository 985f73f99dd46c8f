//! What both programs share, defined once: the two ends of the replica-identity protocol
//! ([`headers`]), humane durations and ratios ([`value`]), HTML escaping ([`html`]) and the
//! log level from `RUST_LOG` ([`log`]).

pub mod headers;
pub mod html;
pub mod log;
pub mod value;
