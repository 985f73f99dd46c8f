//! Signal names as users write them.

/// Whether a (canonical) signal stops a process until SIGCONT.
pub fn stops(sig: &str) -> bool {
    matches!(sig, "SIGSTOP" | "SIGTSTP" | "SIGTTIN" | "SIGTTOU")
}

/// Canonical `SIGXXX` name for a signal written as `KILL`, `sigterm`, `9`, ...
pub fn normalise_signal(s: &str) -> Option<String> {
    const SIGNALS: [(&str, u8); 13] = [
        ("SIGKILL", 9),
        ("SIGTERM", 15),
        ("SIGINT", 2),
        ("SIGHUP", 1),
        ("SIGQUIT", 3),
        ("SIGABRT", 6),
        ("SIGUSR1", 10),
        ("SIGUSR2", 12),
        ("SIGSTOP", 19),
        ("SIGCONT", 18),
        ("SIGTSTP", 20),
        ("SIGTTIN", 21),
        ("SIGTTOU", 22),
    ];
    let up = s.trim().to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up.clone()
    } else {
        format!("SIG{up}")
    };
    SIGNALS
        .iter()
        .find(|(n, num)| *n == name || up.parse::<u8>().ok() == Some(*num))
        .map(|(n, _)| n.to_string())
}
