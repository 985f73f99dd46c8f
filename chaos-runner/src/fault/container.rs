//! Container faults: pause, stop, signal or degrade the network of task containers of the service, each through the
//! engine it runs on; what undoes a pause or a stopping signal is written to the journal
//! before it is done, and handed back to be undone after `for=` or at the end of the run.

use rand::rngs::StdRng;

use super::spec::{signal, ContainerAction, ContainerFault};
use super::undo::{Means, Resume, Undo};
use super::Fired;
use crate::journal::Entry;
use crate::swarm::task_faults::Act;

/// Fires a container fault on `count` task containers chosen at random.
pub async fn fire(
    f: &ContainerFault,
    count: u32,
    means: Means<'_>,
    rng: &mut StdRng,
) -> (Fired, Vec<Undo>) {
    let Some(sw) = means.swarm else {
        return (
            Fired::new(
                false,
                "container faults need --swarm-service".into(),
                vec![],
            ),
            vec![],
        );
    };
    let (act, resume, verb) = match &f.action {
        ContainerAction::Pause => (Act::Pause, Some(Resume::Unpause), "paused".to_string()),
        ContainerAction::Stop => (Act::Stop, None, "stopped".to_string()),
        ContainerAction::Netem(n) => (
            Act::Netem(n),
            Some(Resume::NetemClear),
            format!("set netem {n} on"),
        ),
        ContainerAction::Signal(s) => (
            Act::Signal(s),
            signal::stops(s).then_some(Resume::Cont),
            format!("sent {s} to"),
        ),
    };
    let (mut picks, mut errors) = sw.pick_tasks(count, rng).await;
    let mut hit = Vec::new();
    let mut undos = Vec::new();
    while let Some(t) = picks.next() {
        let undo = resume.map(|resume| Undo::Container {
            node: sw.engines[t.engine].name.clone(),
            container: t.id.clone(),
            resume,
        });
        if let Some(u) = &undo {
            if let Err(e) = means.journal.change(&u.change()).await {
                errors.push(format!("{}: {e}", t.label));
                continue;
            }
        }
        let made = sw.act_on(t.engine, &t.id, act).await;
        if made.is_err() {
            // Not made: nothing for an undo or `restore` to put back.
            if let Some(u) = &undo {
                let _ = means.journal.commit_async(Entry::Undone(u.change())).await;
            }
        }
        match made {
            Ok(()) => {
                hit.push(t.label.clone());
                undos.extend(undo);
            }
            Err(e) if e.vanished() => picks.pass_over(&t),
            Err(e) => errors.push(format!("{}: {e}", t.label)),
        }
    }
    let mut outcome = format!(
        "{verb} {} of {} task container(s) of {}: {}{}",
        hit.len(),
        picks.found,
        sw.service,
        if hit.is_empty() {
            "none".to_string()
        } else {
            hit.join(", ")
        },
        picks.passed_over_note()
    );
    if !errors.is_empty() {
        outcome.push_str(&format!("; not reached: {}", errors.join("; ")));
    }
    (
        Fired::new(!hit.is_empty() && errors.is_empty(), outcome, hit),
        undos,
    )
}
