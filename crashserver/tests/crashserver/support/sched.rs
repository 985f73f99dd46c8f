//! How long threads have waited for a CPU: the kernel's own account (the second field of
//! `/proc/.../schedstat`, in nanoseconds: time spent runnable but not running).
//!
//! On a busy machine this is why a timer fires late or an event is seen late, and it is
//! known exactly: timing checks count it in their slack as ground truth, not as a guess.

use std::time::Duration;

fn read(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let ns = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

const MISSING: &str =
    "the timing checks need /proc/PID/schedstat (a kernel with CONFIG_SCHED_INFO)";

/// The calling thread's wait so far.
pub fn this_thread() -> Duration {
    read("/proc/thread-self/schedstat").expect(MISSING)
}

/// The wait so far of process `pid`'s first thread, which is still readable once the
/// process has exited (until it is reaped).
pub fn main_thread(pid: u32) -> Duration {
    read(&format!("/proc/{pid}/schedstat")).expect(MISSING)
}

/// The wait so far of every live thread of process `pid`, summed (a thread that ends takes
/// its share with it: take the difference of two sums with `saturating_sub`).
pub fn all_threads(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| read(&format!("{}/schedstat", t.path().display())))
        .sum()
}
