//! Ctrl-C and SIGTERM, in every phase of a run: the first asks the run to stop (the load
//! ends, the service is restored, the report is written, marked interrupted); the second
//! ends the process at once with exit code 130.

use tokio::sync::watch;

/// A run stopped by a signal before it measured anything (exit 130).
#[derive(Debug, thiserror::Error)]
#[error("interrupted before the load started")]
pub struct Interrupted;

/// Installs the handlers; the receiver turns true at the first signal.
pub fn install() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!(
            "chaos-runner: interrupted: stopping the load, restoring the service, writing the report (again to quit at once)"
        );
        let _ = tx.send(true);
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("chaos-runner: interrupted twice: quitting now");
        std::process::exit(i32::from(crate::exit::INTERRUPTED));
    });
    rx
}

/// Resolves once the run is interrupted.
pub async fn interrupted(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|i| *i).await;
}
