//! The machine a run came from, for the report.

/// The machine the run came from: kernel, cores, memory.
pub fn host_description() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // The machine's cores, not this process's affinity (benchmarks pin chaos-runner to one).
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    format!(
        "Linux {}, {cores} cores, {:.0} GiB",
        kernel.trim(),
        mem_kb as f64 / 1048576.0
    )
}
