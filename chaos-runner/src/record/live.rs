//! Live counters and recent events, for the progress line and the live view (atomics and a
//! short ring; the exact figures come from the collector).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The most recent events kept for the live view.
const EVENTS: usize = 200;

#[derive(Debug, Default)]
pub struct Live {
    /// Attempts that left (their answer may still be on its way).
    pub started: AtomicU64,
    /// Attempts that ended, answered or not.
    pub sent: AtomicU64,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub faults: AtomicU64,
    pub instances: AtomicU64,
    /// The last [`EVENTS`] events.
    events: Mutex<VecDeque<LiveEvent>>,
}

/// What the live view lists as it happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Fault,
    Restore,
    Container,
    Node,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Fault => "fault",
            Self::Restore => "put back",
            Self::Container => "container",
            Self::Node => "node",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    pub at_s: f64,
    pub kind: EventKind,
    pub text: String,
}

impl Live {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub fn instances_seen(&self, n: usize) {
        self.instances.store(n as u64, Ordering::Relaxed);
    }

    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Attempts under way now.
    pub fn in_flight(&self) -> u64 {
        Self::get(&self.started).saturating_sub(Self::get(&self.sent))
    }

    /// Adds an event (the oldest goes when the ring is full).
    pub fn event(&self, at_s: f64, kind: EventKind, text: impl Into<String>) {
        let mut e = self.events.lock().expect("events lock");
        if e.len() == EVENTS {
            e.pop_front();
        }
        let mut text = text.into();
        // At most 300 bytes, cut on a character boundary.
        let cut = (0..=text.len().min(300))
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text.truncate(cut);
        // In order of when they happened, not of when they were told: a fault is told once
        // it has fired (a kill takes a few hundred ms), after the engine reported its kill.
        let pos = e.iter().rposition(|x| x.at_s <= at_s).map_or(0, |p| p + 1);
        e.insert(pos, LiveEvent { at_s, kind, text });
    }

    /// The events kept, oldest first.
    pub fn events(&self) -> Vec<LiveEvent> {
        self.events
            .lock()
            .expect("events lock")
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_ring_is_bounded_and_in_order() {
        let l = Live::default();
        for i in 0..250 {
            l.event(i as f64, EventKind::Fault, "é".repeat(400));
        }
        let e = l.events();
        assert_eq!(e.len(), EVENTS);
        assert_eq!(e[0].at_s, 50.0);
        assert!(e.iter().all(|x| x.text.len() <= 300));
    }

    #[test]
    fn a_fault_told_after_its_own_kill_is_listed_before_it() {
        let l = Live::default();
        // The engine reports the kill (10.03 s) and the death (10.05 s) before the fault,
        // fired at 10.00 s, has returned and is told.
        l.event(10.03, EventKind::Container, "kill");
        l.event(10.05, EventKind::Container, "die");
        l.event(10.00, EventKind::Fault, "docker");
        let order: Vec<String> = l.events().into_iter().map(|e| e.text).collect();
        assert_eq!(order, ["docker", "kill", "die"]);
    }
}
