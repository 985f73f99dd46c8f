//! Who this process is: the `X-Instance` id, hostname, pid, version and start time.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Instant, SystemTime};

#[derive(Debug, Clone)]
pub struct Identity {
    /// `<hostname>-<8 hex>`: the hostname (the container id under Docker) plus a value drawn
    /// afresh at every process start, so restarts of the same container are told apart.
    pub instance_id: String,
    pub hostname: String,
    pub pid: u32,
    pub version: String,
    pub started_at: SystemTime,
    pub started: Instant,
}

impl Identity {
    pub fn new(version: String) -> Self {
        let hostname = hostname();
        // RandomState is seeded from the OS per process: a cheap, dependency-free nonce.
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let nonce = h.finish() as u32;
        Self {
            instance_id: format!("{hostname}-{nonce:08x}"),
            hostname,
            pid: std::process::id(),
            version,
            started_at: SystemTime::now(),
            started: Instant::now(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_differ_between_identities() {
        let a = Identity::new("1".into());
        let b = Identity::new("1".into());
        assert_ne!(a.instance_id, b.instance_id);
        assert!(a.instance_id.starts_with(&a.hostname));
    }
}
