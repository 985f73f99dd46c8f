//! One experiment end to end: check inputs, prepare the swarm, load while faults fire,
//! collect, restore, analyse, write the reports, judge the SLO. [`Experiment`] owns the
//! phases, [`running`] the tasks of the measuring one.

mod experiment;
mod host;
mod plan;
mod running;

use experiment::Experiment;
pub use experiment::Outcome;

/// Runs the experiment. Usage errors come back as [`crate::exit::UsageError`] before
/// anything is sent; whatever the run changed on the swarm is put back at the end, also
/// after a failure or an interruption (unless `--keep-changes`).
pub async fn execute(a: crate::cli::RunArgs) -> anyhow::Result<Outcome> {
    Experiment::prepare(a).await?.run().await
}
