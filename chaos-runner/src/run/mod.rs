//! One run end to end: prepare the swarm, load while faults fire, collect, restore,
//! analyse, write the reports, judge the SLO. It takes a checked
//! [`RunConfig`](crate::config::RunConfig) only. [`Experiment`] owns the phases,
//! [`running`] the tasks of the measuring one.

pub mod answering;
mod experiment;
mod host;
mod running;

use experiment::Experiment;
pub use experiment::Outcome;

/// Runs it. Whatever the run changed on the swarm is put back at the end, also after a
/// failure or an interruption (unless the configuration keeps changes).
pub async fn execute(config: crate::config::RunConfig) -> anyhow::Result<Outcome> {
    execute_with(config, crate::signals::install()).await
}

/// [`execute`] with the signal handlers already installed (an experiment's trials share
/// one set): `interrupt` turns true at the first Ctrl-C or SIGTERM.
pub async fn execute_with(
    config: crate::config::RunConfig,
    interrupt: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Outcome> {
    Experiment::prepare(config, interrupt).await?.run().await
}
