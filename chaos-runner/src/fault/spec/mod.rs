//! The `--fault` spec: `KIND[:ARG],WHEN[,count=N][,seed=S][,OPTION=VALUE...]`.
//!
//! KIND is `http` (ARG a path such as `/kill`, sent to the target, or a full URL), `cmd`
//! (ARG a shell command, which may itself contain commas), `docker` (ARG a signal name,
//! SIGKILL by default), `update` (a swarm service update; ARG environment changes
//! `KEY=VALUE;KEY=VALUE`, options `image=`, `order=stop-first|start-first`, `parallelism=`,
//! `delay=`, `failure=pause|continue|rollback`, `monitor=`) or `canary` (update one replica,
//! hold, compare its error rate with the rest, then continue or roll back; options `image=`,
//! `hold=`, `max_error_rate=`). WHEN is `every=10s`, `at=5s;20s` or `poisson=15s`.

use std::fmt;
use std::time::Duration;

mod keys;
mod kinds;
pub mod signal;
#[cfg(test)]
mod tests;

use thiserror::Error;

use super::Kind;
use crate::parse;
pub use crate::swarm::plan::UpdatePlan;
pub use signal::normalise_signal;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("fault spec '{0}' is empty")]
    Empty(String),
    #[error(
        "unknown fault kind '{kind}' in '{spec}' (kinds: {})",
        keys::kind_names()
    )]
    UnknownKind { kind: String, spec: String },
    #[error(
        "unknown option '{key}' in fault '{spec}' (options: {})",
        keys::describe()
    )]
    UnknownKey { key: String, spec: String },
    #[error("{key}= does not apply to {kind} faults in '{spec}' ({kind} takes {})", keys::describe_kind(*kind))]
    KeyNotForKind {
        key: String,
        kind: Kind,
        spec: String,
    },
    #[error(
        "fault '{0}' needs an argument: http:/kill, http:http://host/path or cmd:'shell command'"
    )]
    MissingArg(String),
    #[error("fault '{0}' has no schedule: add every=10s, at=5s;20s or poisson=15s")]
    NoSchedule(String),
    #[error("fault '{0}' has more than one schedule")]
    TwoSchedules(String),
    #[error("bad value in fault '{spec}': {detail}")]
    BadValue { spec: String, detail: String },
    #[error("unknown signal '{sig}' in '{spec}' (examples: SIGKILL, SIGTERM, KILL, 9)")]
    BadSignal { sig: String, spec: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// GET a path on replicas of the target, or a full URL.
    Http { to: HttpTo },
    /// Run this shell command (`sh -c`).
    Cmd { arg: String },
    /// Send this signal to task containers of the target swarm service.
    Docker { signal: String },
    /// Update the target swarm service.
    Update(UpdatePlan),
    /// Update one replica, hold, then continue or roll back by its error rate.
    Canary {
        plan: UpdatePlan,
        hold: Duration,
        max_error_rate: f64,
    },
    /// Stop, cut off or drain whole nodes; put them back after `hold` or at the end.
    Node(NodeFault),
    /// Pause, stop, signal or degrade the network of task containers of the target swarm
    /// service; undo (unpause, SIGCONT, clear) after `hold` or at the end.
    Container(ContainerFault),
}

/// Where an http fault sends its GET.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpTo {
    /// This path and query (`/kill`), on `count=` replicas of the target.
    Path(String),
    /// This URL (another host, or one replica's address); the kill token goes there only
    /// when it is the target's host or with `--kill-token-any-host`.
    Url(crate::target::TargetUrl),
}

/// A fault on task containers: what is done to them, for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerFault {
    pub action: ContainerAction,
    /// Undone this long after firing; None: at the end of the run (what has an undo).
    pub hold: Option<Duration>,
}

/// What a container fault does to a task container.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerAction {
    /// Freeze its processes (the cgroup freezer, `docker pause`); undone by unpausing.
    Pause,
    /// A graceful stop: SIGTERM, then SIGKILL after the container's stop grace period.
    Stop,
    /// This signal (`SIGSTOP`, ...); a stopping signal is undone by SIGCONT.
    Signal(String),
    /// Degrade its network (delay, jitter, loss, rate) from inside its network namespace,
    /// through a helper container; undone by a second helper that clears it.
    Netem(crate::netem::NetemSpec),
}

impl ContainerAction {
    /// Whether what it does can be undone (else swarm's own healing is the only way back).
    pub fn undoable(&self) -> bool {
        match self {
            ContainerAction::Pause => true,
            ContainerAction::Stop => false,
            ContainerAction::Signal(s) => signal::stops(s),
            ContainerAction::Netem(_) => true,
        }
    }
}

/// A fault on nodes: which kind, which nodes, for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFault {
    /// NodeStop, Partition, Drain or ManagerStop.
    pub kind: Kind,
    pub nodes: NodeTarget,
    /// Put back this long after firing; None: at the end of the run.
    pub hold: Option<Duration>,
}

/// The nodes a node fault acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeTarget {
    /// By name (`node-1`, `node-1;node-2`).
    Named(Vec<String>),
    /// manager-stop:N: N managers, followers before the leader, found when it fires.
    Managers(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// At every multiple of the period (first one at one period).
    Every(Duration),
    /// At these offsets from the start.
    At(Vec<Duration>),
    /// Random gaps, exponentially distributed with this mean (a Poisson process).
    Poisson(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub text: String,
    pub kind: FaultKind,
    pub when: When,
    /// Targets hit per firing (replicas for http and docker).
    pub count: u32,
    pub seed: u64,
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The spec cut into its parts: KIND[:ARG] and the trailing options.
struct Parts<'a> {
    kind: Kind,
    arg: Option<&'a str>,
    options: Vec<(&'a str, &'a str)>,
    /// A trailing `word=value` whose word is no option (an error unless a command holds it).
    unknown_key: Option<SpecError>,
}

impl<'a> Parts<'a> {
    fn split(text: &'a str) -> Result<Self, SpecError> {
        // Options are the trailing comma-separated `key=value` parts with known keys;
        // everything before them is KIND[:ARG] (a command may contain commas).
        let mut parts: Vec<&str> = text.split(',').collect();
        let mut options = Vec::new();
        while parts.len() > 1 {
            let last = parts[parts.len() - 1].trim();
            match last.split_once('=') {
                Some((k, v)) if keys::is_option(k.trim()) => options.push((k.trim(), v.trim())),
                _ => break,
            }
            parts.pop();
        }
        options.reverse();
        let unknown_key = parts.iter().skip(1).find_map(|p| {
            let (k, _) = p.split_once('=')?;
            let k = k.trim();
            let word = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            (word && !keys::is_option(k)).then(|| SpecError::UnknownKey {
                key: k.to_string(),
                spec: text.to_string(),
            })
        });
        // A misspelt option is an error, except in a shell command, which may hold
        // anything (there only when nothing else fits: see the schedule below).
        let is_cmd = parts[0].trim_start().starts_with("cmd:");
        if let (Some(e), false) = (&unknown_key, is_cmd) {
            return Err(e.clone());
        }
        let head_len = parts.iter().map(|p| p.len() + 1).sum::<usize>() - 1;
        let head = &text[..head_len];
        let (kind_name, arg) = match head.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (head.trim(), None),
        };
        let kind = Kind::from_name(kind_name).ok_or_else(|| SpecError::UnknownKind {
            kind: kind_name.into(),
            spec: text.into(),
        })?;
        for (k, _) in &options {
            if !keys::takes(kind, k) {
                return Err(SpecError::KeyNotForKind {
                    key: k.to_string(),
                    kind,
                    spec: text.into(),
                });
            }
        }
        Ok(Self {
            kind,
            arg,
            options,
            unknown_key,
        })
    }
}

/// The options every kind takes: the schedule and the seed.
struct Common {
    when: When,
    seed: u64,
}

fn common(text: &str, parts: &mut Parts<'_>) -> Result<Common, SpecError> {
    let bad = |detail: String| SpecError::BadValue {
        spec: text.to_string(),
        detail,
    };
    let mut when = None;
    let mut seed = 0u64;
    for &(k, v) in &parts.options {
        let w = match k {
            "every" => When::Every(parse::positive_duration(v).map_err(|e| bad(e.to_string()))?),
            "poisson" => {
                When::Poisson(parse::positive_duration(v).map_err(|e| bad(e.to_string()))?)
            }
            "at" => {
                let mut times = v
                    .split(';')
                    .filter(|t| !t.trim().is_empty())
                    .map(parse::duration)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad(e.to_string()))?;
                if times.is_empty() {
                    return Err(bad("at= needs at least one time".into()));
                }
                times.sort();
                When::At(times)
            }
            "seed" => {
                seed = v
                    .parse()
                    .map_err(|_| bad(format!("seed={v} must be a whole number")))?;
                continue;
            }
            _ => continue,
        };
        if when.replace(w).is_some() {
            return Err(SpecError::TwoSchedules(text.into()));
        }
    }
    let when = match (when, parts.unknown_key.take()) {
        (Some(w), _) => w,
        (None, Some(e)) => return Err(e),
        (None, None) => return Err(SpecError::NoSchedule(text.into())),
    };
    parts.options.retain(|(k, _)| !keys::is_common(k));
    Ok(Common { when, seed })
}

impl std::str::FromStr for FaultSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let text = spec.trim();
        if text.is_empty() {
            return Err(SpecError::Empty(spec.to_string()));
        }
        let mut parts = Parts::split(text)?;
        let Common { when, seed } = common(text, &mut parts)?;
        let (kind, count) = kinds::build(text, parts.kind, parts.arg, &parts.options)?;
        Ok(FaultSpec {
            // What is shown and stored: a token in the URL never is.
            text: crate::redact::secrets(text),
            kind,
            when,
            count,
            seed,
        })
    }
}
