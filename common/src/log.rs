//! The log level, as both programs read it.

use std::str::FromStr;

pub use tracing_subscriber::filter::LevelFilter;

/// The level named by `RUST_LOG` (error, warn, info, debug, trace, off); info when unset
/// or not one of those.
pub fn level_from_env() -> LevelFilter {
    level_of(std::env::var("RUST_LOG").ok().as_deref())
}

fn level_of(v: Option<&str>) -> LevelFilter {
    v.and_then(|v| LevelFilter::from_str(v.trim()).ok())
        .unwrap_or(LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_levels_and_defaults_to_info() {
        assert_eq!(level_of(Some("debug")), LevelFilter::DEBUG);
        assert_eq!(level_of(Some(" off ")), LevelFilter::OFF);
        assert_eq!(level_of(Some("loud")), LevelFilter::INFO);
        assert_eq!(level_of(None), LevelFilter::INFO);
    }
}
