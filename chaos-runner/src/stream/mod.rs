//! A run's data sent as it is written to a gatherer elsewhere, so that load generators on
//! other machines (one per node of a swarm) need no shared disk: `run --stream-to URL` ships
//! its run directory's journal and latency log once a second and its report files at the
//! end ([`ship`]); `chaos-runner gather` receives them into one directory per vantage point
//! and merges them ([`gather`]). Both sides hold one per-run token (`CRASHLAB_STREAM_TOKEN`);
//! a load generator that cannot reach its gatherer for `--stream-lost-after` stops by itself.

pub mod gather;
pub mod ship;

/// The environment variable both sides read the run's token from.
pub const TOKEN_ENV: &str = "CRASHLAB_STREAM_TOKEN";

/// The header on a gatherer's answers once it wants its senders to stop (its coordinator was
/// interrupted or failed): a sender then stops its load as Ctrl-C would and sends its end.
pub const STOP_HEADER: &str = "x-gatherer-stop";

/// The shortest token either side accepts.
pub const MIN_TOKEN: usize = 16;

/// Files that only grow while the run goes: sent as they grow, from where the last send ended.
pub const GROWING: [&str; 3] = ["journal/run.jsonl", "journal/buckets.csv", "latency.hlog"];

/// The sending run's clock against the gatherer's (written by the sender at the end).
pub const CLOCK: &str = "clock.json";

/// Files written once at the end of a run: sent whole after it.
pub const FINAL: [&str; 6] = [
    "summary.json",
    "timeline.csv",
    "latency.hgrm",
    "report.md",
    "report.html",
    CLOCK,
];

/// The most bytes one send carries.
pub const MAX_SEND: usize = 4 * 1024 * 1024;

/// The largest file a gatherer keeps for a vantage point.
pub const MAX_FILE: u64 = 1024 * 1024 * 1024;

/// Whether `path` is one of the files a run sends.
pub fn known_file(path: &str) -> bool {
    GROWING.contains(&path) || FINAL.contains(&path)
}

/// Whether `name` can name a vantage point: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting
/// with a dot (it becomes a directory's name).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_files_are_checked() {
        for ok in ["node-0", "node-1.2", "a", "N_3"] {
            assert!(super::valid_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(65), "é"] {
            assert!(!super::valid_name(bad), "{bad}");
        }
        assert!(super::known_file("journal/run.jsonl"));
        assert!(!super::known_file("../summary.json"));
        assert!(!super::known_file("journal/../../x"));
    }
}
