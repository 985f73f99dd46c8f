//! `chaos-runner restore DIR`: undoes what a run changed on the swarm, from its journal,
//! whether the run ended or its runner was killed: nodes it stopped, cut off or drained and
//! had not put back (through the node driver it used, or the managers), then the service's
//! spec as found. Idempotent: what it undoes is written to the journal, and the service is
//! compared with its spec before anything is sent.

use std::path::Path;
use std::time::Duration;

use super::{Change, Entry, Journal, Replayed};
use crate::exit::UsageError;
use crate::fault::undo::{Means, Undo};
use crate::swarm::restore::Baseline;
use crate::swarm::Swarm;

/// What `restore` did, item by item.
#[derive(Debug, Default)]
pub struct Restoration {
    /// Put back now.
    pub done: Vec<String>,
    /// Already as the run found it.
    pub already: Vec<String>,
    /// Could not be put back, and why.
    pub failed: Vec<String>,
}

/// Undoes what the run in `dir` changed. `node_token` is the node agent's token, when its
/// node driver is one (the journal never holds it).
pub async fn restore(
    dir: &Path,
    node_token: Option<String>,
    timeout: Duration,
) -> anyhow::Result<Restoration> {
    let r = Replayed::read(dir)?;
    let begin = r
        .begin
        .as_ref()
        .ok_or_else(|| UsageError(format!("{}: the journal has no start", dir.display())))?;
    let journal = Journal::append(dir)
        .map_err(|e| UsageError(format!("{}: cannot write the journal: {e}", dir.display())))?;
    let mut out = Restoration::default();
    let Some(sw) = &begin.swarm else {
        out.already
            .push("the run acted on no swarm service: nothing to put back".into());
        return Ok(out);
    };
    let swarm = Swarm::connect(&sw.service, &sw.engines)
        .await
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let driver = match &sw.node_driver {
        Some(spec) => Some(
            spec.parse::<crate::node::NodeDriver>()
                .map_err(|e| UsageError(format!("the journal's node driver: {e}")))?
                .with_token(node_token),
        ),
        None => None,
    };
    let means = Means {
        driver: driver.as_ref(),
        swarm: Some(&swarm),
        journal: &journal,
    };
    let pending = r.not_undone();
    if pending.is_empty()
        && r.changes
            .iter()
            .any(|c| matches!(c, Change::Node { .. } | Change::Container { .. }))
    {
        out.already
            .push("every node and container the run acted on was put back".into());
    }
    for c in pending {
        let Some(undo) = Undo::of(&c) else {
            continue;
        };
        match crate::fault::undo::undo(&undo, means).await {
            Ok(said) => out.done.push(format!("{c}: put back ({said})")),
            Err(e) => out.failed.push(format!("{c}: NOT put back: {e}")),
        }
    }
    // A service of that name created anew since the run (a script deployed it again) is not
    // the one the run changed: its spec is its own, never the old one's.
    if let Some(id) = sw.spec.get("ID").and_then(serde_json::Value::as_str) {
        if id != swarm.service_id {
            out.already.push(format!(
                "service {} was created anew since the run (id {} then, {} now): left as it is",
                sw.service,
                id.chars().take(12).collect::<String>(),
                swarm.service_id.chars().take(12).collect::<String>()
            ));
            return Ok(out);
        }
    }
    let base = Baseline::from_json(sw.spec.clone())
        .map_err(|e| UsageError(format!("the journal's service spec: {e}")))?;
    match swarm.restore(&base, timeout).await {
        Ok(changes) if changes.is_empty() => out
            .already
            .push(format!("service {} is as the run found it", sw.service)),
        Ok(changes) => {
            let detail = format!(
                "service {} restored as found: {}",
                sw.service,
                changes.join("; ")
            );
            let _ = journal.commit(&Entry::ServiceRestored {
                detail: detail.clone(),
            });
            out.done.push(detail);
        }
        Err(e) => out
            .failed
            .push(format!("service {}: NOT restored: {e:#}", sw.service)),
    }
    Ok(out)
}
