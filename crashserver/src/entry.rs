//! The crashserver program itself (the binary and the image's multi-call binary call this).

use std::net::SocketAddr;
use std::process::ExitCode;

use crate::config::{Cli, Command, EXIT_RUNTIME};
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
    let cli = Cli::parse_from(args);
    if let Some(Command::Healthcheck) = cli.command {
        return if crate::healthcheck::probe(cli.config.port) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    telemetry::init(cli.config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("crashserver: cannot start the async runtime: {e:#}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(serve(cli)) {
        Ok(Drain::Complete) => ExitCode::SUCCESS,
        Ok(Drain::TimedOut) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("crashserver: {e:#}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

async fn serve(cli: Cli) -> anyhow::Result<Drain> {
    use anyhow::Context;
    let config = cli.config;
    if !config.startup_delay.is_zero() {
        tracing::info!(delay = ?config.startup_delay, "startup delay fault: sleeping before listening");
        tokio::time::sleep(config.startup_delay).await;
    }
    let addr = SocketAddr::new(config.bind, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr().context("listener address")?;
    let crasher = exiting_crasher(config.exit_code);
    let state = AppState::new(config, crasher);
    tracing::info!(
        instance = %state.identity.instance_id,
        pid = state.identity.pid,
        addr = %local,
        version = %state.identity.version,
        "listening"
    );
    let drain = crate::server::run(listener, state, termination_signal())
        .await
        .context("server failed")?;
    tracing::info!(?drain, "stopped");
    Ok(drain)
}
