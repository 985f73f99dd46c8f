//! Logging set-up: tracing to stdout, human or JSON lines, level from RUST_LOG (default info).

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::filter::LevelFilter;

use crate::config::LogFormat;

/// The level named by RUST_LOG (error, warn, info, debug, trace, off), info by default.
pub fn level_from_env() -> LevelFilter {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| LevelFilter::from_str(v.trim()).ok())
        .unwrap_or(LevelFilter::INFO)
}

pub fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level_from_env())
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
