//! One experiment end to end: check inputs, prepare the swarm, load while faults fire,
//! collect, restore, analyse, write the reports, judge the SLO. [`Experiment`] owns the
//! phases, [`running`] the tasks of the measuring one.

pub mod answering;
mod experiment;
mod host;
mod plan;
mod running;

use experiment::Experiment;
pub use experiment::{redacted_command_line, Outcome};

/// Runs the experiment. Usage errors come back as [`crate::exit::UsageError`] before
/// anything is sent; whatever the run changed on the swarm is put back at the end, also
/// after a failure or an interruption (unless `--keep-changes`).
pub async fn execute(a: crate::cli::RunArgs) -> anyhow::Result<Outcome> {
    execute_with(a, crate::signals::install()).await
}

/// [`execute`] with the signal handlers already installed (an experiment's trials share
/// one set): `interrupt` turns true at the first Ctrl-C or SIGTERM.
pub async fn execute_with(
    a: crate::cli::RunArgs,
    interrupt: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    Experiment::prepare(a, interrupt).await?.run().await
}

/// The checks a run makes of its configuration before it touches anything (the load's
/// plan, faults inside the run, the target's URL, what faults need): for an experiment,
/// which checks every cell's configuration before its first trial.
pub fn check(a: &crate::cli::RunArgs) -> Result<(), crate::exit::UsageError> {
    experiment::check(a)
}
