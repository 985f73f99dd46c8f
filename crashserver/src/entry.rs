//! The crashserver program itself (the binary and the image's multi-call binary call this).

use std::net::SocketAddr;
use std::process::ExitCode;

use crate::config::{Cli, Command, EXIT_CONFIG, EXIT_RUNTIME};
use crate::crash::exiting_crasher;
use crate::server::{termination_signal, Drain};
use crate::{telemetry, AppState};
use clap::Parser;

/// The whole program with this process's arguments.
pub fn main() -> ExitCode {
    run(std::env::args_os().collect())
}

/// The whole program: parse `args` (the first is the program name), run, return the exit code.
pub fn run(args: Vec<std::ffi::OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // --help and --version are no errors; anything else is malformed configuration.
            return ExitCode::from(if e.use_stderr() { EXIT_CONFIG } else { 0 });
        }
    };
    if let Some(Command::Healthcheck) = cli.command {
        return if crate::healthcheck::probe(cli.config.port) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    telemetry::init(cli.config.log_format);
    let exit_code = cli.config.exit_code;
    match serve(cli) {
        // A crash was asked for before the stop: the process ends as that crash would have.
        Ok((_, Some(cause))) => {
            tracing::error!(%cause, exit_code, "stopped while a crash was pending: exiting as crashed");
            ExitCode::from(exit_code)
        }
        Ok((Drain::Complete | Drain::TimedOut, None)) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("crashserver: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// Serves until a termination signal; returns how the drain went and the crash that was
/// pending then, if any.
fn serve(cli: Cli) -> anyhow::Result<(Drain, Option<crate::crash::CrashCause>)> {
    let config = cli.config;
    if !config.startup_delay.is_zero() {
        tracing::info!(delay = ?config.startup_delay, "startup delay fault: sleeping before listening");
        std::thread::sleep(config.startup_delay);
    }
    let addr = SocketAddr::new(config.bind, config.port);
    let threads = crate::threads::thread_count(usize::from(config.threads));
    let crasher = exiting_crasher(config.exit_code);
    let state = AppState::new(config, crasher);
    let st = state.clone();
    let drain = crate::threads::serve(addr, threads, state, termination_signal(), |local| {
        tracing::info!(
            instance = %st.identity.instance_id,
            pid = st.identity.pid,
            addr = %local,
            threads,
            version = %st.identity.version,
            "listening"
        );
    })?;
    tracing::info!(?drain, "stopped");
    Ok((drain, st.pending_crash()))
}
