//! Logging set-up: tracing to stdout, human or JSON lines, level from RUST_LOG (default info).

use std::io::IsTerminal;

use crashlab_common::log::level_from_env;

use crate::config::LogFormat;

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
