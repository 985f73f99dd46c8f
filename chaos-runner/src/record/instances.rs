//! The replicas seen: each distinct `X-Instance` value gets a small index, in order of
//! first appearance (a new id after the start is a restart or a new replica).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone)]
pub struct InstanceSeen {
    pub id: String,
    /// Offset of the first attempt it answered (µs from start, by intended send time).
    pub first_seen_us: u64,
}

/// Header value to index, and the instances in order of first sight.
type Registry = (HashMap<Vec<u8>, u32>, Vec<InstanceSeen>);

#[derive(Debug, Default)]
pub struct Instances {
    inner: Mutex<Registry>,
}

impl Instances {
    /// Index of this header value, registering it on first sight.
    pub fn intern(&self, value: &[u8], at_us: u64) -> u32 {
        let mut g = self.inner.lock().expect("instances lock");
        if let Some(&i) = g.0.get(value) {
            // Attempts complete out of order: keep the earliest sighting.
            let seen = &mut g.1[i as usize].first_seen_us;
            *seen = (*seen).min(at_us);
            return i;
        }
        let i = g.1.len() as u32;
        g.1.push(InstanceSeen {
            id: String::from_utf8_lossy(value).into_owned(),
            first_seen_us: at_us,
        });
        g.0.insert(value.to_vec(), i);
        i
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
}
