//! Which options each kind of fault takes: one table, read by the parser, its errors and
//! `run --help`.

use super::Kind;

/// Options every kind takes: the schedule (one of every, at, poisson) and the seed.
pub const COMMON: [&str; 4] = ["every", "at", "poisson", "seed"];

/// The options of one kind, besides the common ones.
pub fn of(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Http | Kind::Docker => &["count"],
        Kind::Cmd => &[],
        Kind::Update => &[
            "image",
            "order",
            "parallelism",
            "delay",
            "failure",
            "monitor",
        ],
        Kind::Canary => &[
            "image",
            "order",
            "failure",
            "monitor",
            "hold",
            "max_error_rate",
        ],
        Kind::NodeStop | Kind::Partition | Kind::Drain | Kind::ManagerStop => &["for"],
        Kind::Pause | Kind::Signal | Kind::Netem => &["count", "for"],
        Kind::Stop => &["count"],
    }
}

pub fn is_common(key: &str) -> bool {
    COMMON.contains(&key)
}

/// Whether some kind takes this option.
pub fn is_option(key: &str) -> bool {
    is_common(key) || Kind::ALL.iter().any(|k| of(*k).contains(&key))
}

/// Whether this kind takes this option.
pub fn takes(kind: Kind, key: &str) -> bool {
    is_common(key) || of(kind).contains(&key)
}

/// `http, cmd, docker, update, canary`.
pub fn kind_names() -> String {
    Kind::ALL.map(Kind::name).join(", ")
}

/// What one kind takes, for errors.
pub fn describe_kind(kind: Kind) -> String {
    let own = of(kind);
    if own.is_empty() {
        format!("only {}", COMMON.join(", "))
    } else {
        format!("{}, {}", COMMON.join(", "), own.join(", "))
    }
}

/// Every option, by kind (kinds that take the same options together), for errors and help.
pub fn describe() -> String {
    let mut groups: Vec<(Vec<&str>, &[&str])> = Vec::new();
    for k in Kind::ALL.iter().filter(|k| !of(**k).is_empty()) {
        match groups.iter_mut().find(|(_, own)| *own == of(*k)) {
            Some((names, _)) => names.push(k.name()),
            None => groups.push((vec![k.name()], of(*k))),
        }
    }
    let by_kind: Vec<String> = groups
        .iter()
        .map(|(names, own)| format!("{} also {}", names.join(", "), own.join(", ")))
        .collect();
    format!("{}; {}", COMMON.join(", "), by_kind.join("; "))
}
