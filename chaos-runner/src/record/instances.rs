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

#[derive(Debug, Default)]
pub struct Instances {
    inner: Mutex<Registry>,
}

/// Answers and error answers per version, from the live counts.
pub type VersionCounts = HashMap<String, (u64, u64)>;

impl Instances {
    /// Index and live counts of this header value, registering it on first sight.
    pub fn intern(&self, value: &[u8], version: &[u8], at_us: u64) -> (u32, Arc<InstanceStats>) {
        let mut g = self.inner.lock().expect("instances lock");
        if let Some(&i) = g.0.get(value) {
            // Attempts complete out of order: keep the earliest sighting.
            let seen = &mut g.1[i as usize];
            seen.first_seen_us = seen.first_seen_us.min(at_us);
            return (i, seen.stats.clone());
        }
        let i = g.1.len() as u32;
        let stats = Arc::new(InstanceStats::default());
        g.1.push(InstanceSeen {
            id: String::from_utf8_lossy(value).into_owned(),
            version: String::from_utf8_lossy(version).into_owned(),
            first_seen_us: at_us,
            stats: stats.clone(),
        });
        g.0.insert(value.to_vec(), i);
        (i, stats)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("instances lock").1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
}
