//! The replicas seen: each distinct `X-Instance` value gets a small index, in order of
//! first appearance (a new id after the start is a restart or a new replica), with the
//! version it reported (`X-Version`) and live counts of its answers (for canary decisions).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Live answer counts of one instance (lock-free: workers cache the Arc per connection).
#[derive(Debug, Default)]
pub struct InstanceStats {
    pub answers: AtomicU64,
    /// Answers that were not 2xx/3xx.
    pub errors: AtomicU64,
    /// The latest answer (µs from start, by intended send time).
    pub last_us: AtomicU64,
}

impl InstanceStats {
    /// An answer to the attempt intended at `at_us`.
    pub fn count(&self, ok: bool, at_us: u64) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        self.last_us.fetch_max(at_us, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Clone)]
pub struct InstanceSeen {
    pub id: String,
    /// `X-Version` of its first answer (empty when it sent none).
    pub version: String,
    /// Offset of the first attempt it answered (µs from start, by intended send time).
    pub first_seen_us: u64,
    pub stats: Arc<InstanceStats>,
}

impl InstanceSeen {
    /// Its latest answer so far (µs from start, by intended send time).
    pub fn last_seen_us(&self) -> u64 {
        self.stats.last_us.load(Ordering::Relaxed)
    }
}

/// Header value to index, and the instances in order of first sight.
type Registry = (HashMap<Vec<u8>, u32>, Vec<InstanceSeen>);

/// The most replicas tracked one by one; answers from any further ones are counted together
/// under [`OTHERS`], so a target that sends a new id with every answer cannot grow the run.
pub const MAX_TRACKED: usize = 1000;

/// Ids and versions are kept to this many bytes.
pub const MAX_ID_BYTES: usize = 128;

/// The id under which replicas beyond [`MAX_TRACKED`] are counted.
pub const OTHERS: &str = "(further replicas, counted together)";

#[derive(Debug, Default)]
pub struct Instances {
    inner: Mutex<Registry>,
}

fn shorten(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX_ID_BYTES)]);
    s.into_owned()
}

/// Answers and error answers per version, from the live counts.
pub type VersionCounts = HashMap<String, (u64, u64)>;

impl Instances {
    /// Index and live counts of this header value, registering it on first sight.
    pub fn intern(&self, value: &[u8], version: &[u8], at_us: u64) -> (u32, Arc<InstanceStats>) {
        let mut g = self.inner.lock().expect("instances lock");
        if let Some(&i) = g.0.get(&value[..value.len().min(MAX_ID_BYTES)]) {
            // Attempts complete out of order: keep the earliest sighting.
            let seen = &mut g.1[i as usize];
            seen.first_seen_us = seen.first_seen_us.min(at_us);
            return (i, seen.stats.clone());
        }
        if g.1.len() >= MAX_TRACKED {
            // The last slot holds every further replica.
            let i = MAX_TRACKED as u32 - 1;
            let seen = &mut g.1[i as usize];
            if seen.id != OTHERS {
                seen.id = OTHERS.to_string();
                seen.version = String::new();
            }
            seen.first_seen_us = seen.first_seen_us.min(at_us);
            return (i, seen.stats.clone());
        }
        let i = g.1.len() as u32;
        let stats = Arc::new(InstanceStats::default());
        g.1.push(InstanceSeen {
            id: shorten(value),
            version: shorten(version),
            first_seen_us: at_us,
            stats: stats.clone(),
        });
        g.0.insert(value[..value.len().min(MAX_ID_BYTES)].to_vec(), i);
        (i, stats)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("instances lock").1.len()
    }

    pub fn snapshot(&self) -> Vec<InstanceSeen> {
        self.inner.lock().expect("instances lock").1.clone()
    }

    /// (answers, error answers) per version so far.
    pub fn by_version(&self) -> VersionCounts {
        let mut m = VersionCounts::new();
        for i in self.snapshot() {
            let e = m.entry(i.version.clone()).or_default();
            e.0 += i.stats.answers.load(Ordering::Relaxed);
            e.1 += i.stats.errors.load(Ordering::Relaxed);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_counts_by_version() {
        let reg = Instances::default();
        let (a, sa) = reg.intern(b"a", b"v1", 50);
        let (a2, _) = reg.intern(b"a", b"v1", 10);
        let (b, sb) = reg.intern(b"b", b"v2", 60);
        assert_eq!((a, a2, b), (0, 0, 1));
        assert_eq!(reg.snapshot()[0].first_seen_us, 10);
        sa.count(true, 10);
        sa.count(false, 70);
        sb.count(false, 60);
        assert_eq!(reg.snapshot()[0].last_seen_us(), 70);
        let v = reg.by_version();
        assert_eq!(v["v1"], (2, 1));
        assert_eq!(v["v2"], (1, 1));
    }

    #[test]
    fn a_new_id_with_every_answer_stays_bounded() {
        let reg = Instances::default();
        let long = vec![b'x'; 10_000];
        for n in 0..5000u32 {
            let mut id = long.clone();
            id.extend(n.to_string().bytes());
            id.rotate_right(8);
            reg.intern(&id, b"v", u64::from(n))
                .1
                .count(true, u64::from(n));
        }
        let seen = reg.snapshot();
        assert_eq!(seen.len(), MAX_TRACKED);
        assert!(seen
            .iter()
            .all(|s| s.id.len() <= MAX_ID_BYTES.max(OTHERS.len())));
        assert_eq!(seen[MAX_TRACKED - 1].id, OTHERS);
        let answers: u64 = seen
            .iter()
            .map(|s| s.stats.answers.load(Ordering::Relaxed))
            .sum();
        assert_eq!(answers, 5000, "no answer lost, the rest counted together");
    }
}
