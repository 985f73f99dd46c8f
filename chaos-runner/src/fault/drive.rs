//! One `--fault` over a run: fire at each scheduled time, put nodes back when a node
//! fault's `for=` has passed, stop at the end of the load or an interruption, and hand back
//! what happened and what is still to be put back.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use tokio::time::Instant;

use super::exec::{fire, FaultContext, FaultEvent};
use super::undo::{self, Undo};
use super::{FaultSpec, Fired};

/// The run a fault belongs to: its clock, its end, and the live counters.
#[derive(Debug, Clone)]
pub struct FaultRun {
    pub start: Instant,
    /// Offset after which no firing happens (the planned end of the load).
    pub end: Option<Duration>,
    pub interrupted: tokio::sync::watch::Receiver<bool>,
    /// Turns true when the load has ended: a firing under way is abandoned.
    pub stop: tokio::sync::watch::Receiver<bool>,
    pub live: Arc<crate::record::Live>,
    /// Each firing is written down as it happens, and again when it is put back.
    pub journal: crate::journal::Journal,
}

/// What one fault did, and the nodes it left to put back (with the index of the firing
/// in `events`).
#[derive(Debug, Default)]
pub struct Driven {
    pub events: Vec<FaultEvent>,
    pub pending: Vec<(usize, Undo)>,
    /// Firings abandoned when the load ended (index in `events`).
    pub cut_short: Vec<usize>,
}

/// How long a firing under way when the load ends may still take.
const CUT_SHORT_GRACE: Duration = Duration::from_secs(5);
/// The outcome of a firing abandoned when the load ended.
pub const CUT_SHORT: &str = "cut short: the load ended while it was being made";

/// Why the loop woke.
enum Wake {
    Fire,
    Undo,
}

/// Runs every firing of one fault spec until the end of the run or interruption.
pub async fn drive(index: usize, spec: FaultSpec, ctx: FaultContext, run: FaultRun) -> Driven {
    use rand::SeedableRng;
    let FaultRun {
        start,
        end,
        mut interrupted,
        mut stop,
        live,
        journal,
    } = run;
    let mut out = Driven::default();
    // Undos with their due time (node faults with for=), soonest first.
    let mut due: Vec<(Instant, usize, Undo)> = Vec::new();
    let mut schedule = super::Schedule::new(spec.when.clone(), spec.seed);
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut next = schedule
        .next_offset()
        .filter(|o| end.map_or(true, |e| *o < e));
    let far = start + Duration::from_secs(30 * 86_400);
    loop {
        if next.is_none() && due.is_empty() {
            break;
        }
        let next_at = next.map_or(far, |o| start + o);
        let due_at = due.first().map_or(far, |d| d.0);
        let wake = tokio::select! {
            () = tokio::time::sleep_until(next_at), if next.is_some() => Wake::Fire,
            () = tokio::time::sleep_until(due_at), if !due.is_empty() => Wake::Undo,
            _ = interrupted.changed() => Wake::Fire,
            _ = stop.wait_for(|s| *s) => break,
        };
        if let Wake::Undo = wake {
            let (_, i, u) = due.remove(0);
            let began = start.elapsed().as_secs_f64();
            out.events[i].restore_began_s.get_or_insert(began);
            let r = tokio::select! {
                r = undo::undo(&u, ctx.means()) => r,
                _ = stop.wait_for(|s| *s) => { out.pending.push((i, u)); break }
            };
            let at_s = start.elapsed().as_secs_f64();
            let line = note_restore(&mut out.events[i], Some(at_s), r);
            journal.note(&crate::journal::Entry::Fault(out.events[i].clone()));
            live.event(at_s, crate::record::live::EventKind::Restore, line);
            continue;
        }
        if *interrupted.borrow() {
            break;
        }
        let fired = Instant::now();
        let firing = fire(&spec, &ctx, &mut rng);
        tokio::pin!(firing);
        let done = tokio::select! {
            f = &mut firing => Some(f),
            _ = stop.wait_for(|s| *s) => None,
        };
        // The load ended mid-firing: let it finish for a while, so that what it made comes
        // back with its undo; past that it is abandoned, and what it wrote down is put back
        // at the end from the journal's open changes.
        let done = match done {
            Some(f) => Some(f),
            None => tokio::time::timeout(CUT_SHORT_GRACE, &mut firing)
                .await
                .ok(),
        };
        let Some((f, undos)) = done else {
            let f = Fired::new(false, CUT_SHORT.into(), vec![]);
            let ev = event(index, &spec, start, fired, f);
            journal.note(&crate::journal::Entry::Fault(ev.clone()));
            out.events.push(ev);
            out.cut_short.push(out.events.len() - 1);
            break;
        };
        let ev = event(index, &spec, start, fired, f);
        crate::record::Live::bump(&live.faults);
        live.event(
            ev.at_s,
            crate::record::live::EventKind::Fault,
            format!("{}: {}", ev.spec, ev.outcome),
        );
        journal.note(&crate::journal::Entry::Fault(ev.clone()));
        out.events.push(ev);
        let i = out.events.len() - 1;
        match spec.kind.hold() {
            Some(hold) => {
                due.extend(undos.into_iter().map(|u| (fired + hold, i, u)));
                due.sort_by_key(|d| d.0);
            }
            None => out.pending.extend(undos.into_iter().map(|u| (i, u))),
        }
        next = schedule
            .next_offset()
            .filter(|o| end.map_or(true, |e| *o < e));
    }
    out.pending.extend(due.into_iter().map(|(_, i, u)| (i, u)));
    out
}

fn event(index: usize, spec: &FaultSpec, start: Instant, fired: Instant, f: Fired) -> FaultEvent {
    let ev = FaultEvent {
        fault: index,
        spec: spec.text.clone(),
        kind: spec.kind.kind(),
        at_s: fired.saturating_duration_since(start).as_secs_f64(),
        took_ms: fired.elapsed().as_secs_f64() * 1e3,
        ok: f.ok,
        outcome: f.outcome,
        targets: f.targets,
        restored_at_s: None,
        restore_began_s: None,
        restore: None,
    };
    if ev.ok {
        tracing::info!(at_s = format!("{:.2}", ev.at_s), spec = %ev.spec, outcome = %ev.outcome, "fault fired");
    } else {
        tracing::warn!(at_s = format!("{:.2}", ev.at_s), spec = %ev.spec, outcome = %ev.outcome, "fault did not take");
    }
    ev
}

/// Records on a firing that its nodes were put back (or why not), and when: `at_s` from the
/// start of the load, none when after it ended. What happened, in words.
pub fn note_restore(ev: &mut FaultEvent, at_s: Option<f64>, r: Result<String, String>) -> String {
    let line = match &r {
        Ok(s) => s.clone(),
        Err(e) => format!("NOT put back: {e}"),
    };
    tracing::info!(spec = %ev.spec, restore = %line, "node put back");
    if r.is_ok() && ev.restored_at_s.is_none() {
        ev.restored_at_s = at_s;
    }
    ev.restore = Some(match ev.restore.take() {
        Some(before) => format!("{before}; {line}"),
        None => line.clone(),
    });
    line
}
