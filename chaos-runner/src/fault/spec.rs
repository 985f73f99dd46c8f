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

use thiserror::Error;

use crate::parse;
pub use crate::swarm::plan::{FailureAction, UpdateOrder, UpdatePlan};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("fault spec '{0}' is empty")]
    Empty(String),
    #[error("unknown fault kind '{kind}' in '{spec}' (use http, cmd, docker, update or canary)")]
    UnknownKind { kind: String, spec: String },
    #[error("unknown option '{key}' in fault '{spec}' (options: every, at, poisson, count, seed; for update and canary also image, order, parallelism, delay, failure, monitor, hold, max_error_rate)")]
    UnknownKey { key: String, spec: String },
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
    /// GET this path on a replica of the target, or this full URL.
    Http { arg: String },
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

const OPTION_KEYS: [&str; 13] = [
    "every",
    "at",
    "poisson",
    "count",
    "seed",
    "image",
    "order",
    "parallelism",
    "delay",
    "failure",
    "monitor",
    "hold",
    "max_error_rate",
];
/// Options only `update` and `canary` take.
const UPDATE_KEYS: [&str; 8] = [
    "image",
    "order",
    "parallelism",
    "delay",
    "failure",
    "monitor",
    "hold",
    "max_error_rate",
];

impl std::str::FromStr for FaultSpec {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Self, SpecError> {
        let text = spec.trim();
        if text.is_empty() {
            return Err(SpecError::Empty(spec.to_string()));
        }
        // Options are the trailing comma-separated `key=value` parts with known keys;
        // everything before them is KIND[:ARG] (a command may contain commas).
        let mut parts: Vec<&str> = text.split(',').collect();
        let mut options = Vec::new();
        while parts.len() > 1 {
            let last = parts[parts.len() - 1].trim();
            let is_option = last
                .split_once('=')
                .is_some_and(|(k, _)| OPTION_KEYS.contains(&k.trim()));
            if !is_option {
                break;
            }
            options.push(last);
            parts.pop();
        }
        options.reverse();
        // A trailing `word=value` with a word that is no option is a misspelt option, except
        // in a shell command, which may hold anything (there only when nothing else fits).
        let unknown_key = parts.iter().skip(1).find_map(|p| {
            let (k, _) = p.split_once('=')?;
            let k = k.trim();
            let word = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            (word && !OPTION_KEYS.contains(&k)).then(|| SpecError::UnknownKey {
                key: k.to_string(),
                spec: text.to_string(),
            })
        });
        let is_cmd = parts[0].trim_start().starts_with("cmd:");
        if let (Some(e), false) = (&unknown_key, is_cmd) {
            return Err(e.clone());
        }
        let head = parts.join(",");
        let (kind_name, arg) = match head.split_once(':') {
            Some((k, a)) => (k.trim(), Some(a.trim())),
            None => (head.trim(), None),
        };
        let bad = |detail: String| SpecError::BadValue {
            spec: text.to_string(),
            detail,
        };
        let kind = match kind_name {
            "http" => FaultKind::Http {
                arg: arg
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| SpecError::MissingArg(text.into()))?
                    .to_string(),
            },
            "cmd" => FaultKind::Cmd {
                arg: arg
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| SpecError::MissingArg(text.into()))?
                    .to_string(),
            },
            "docker" => {
                let sig = arg.filter(|a| !a.is_empty()).unwrap_or("SIGKILL");
                FaultKind::Docker {
                    signal: normalise_signal(sig).ok_or_else(|| SpecError::BadSignal {
                        sig: sig.into(),
                        spec: text.into(),
                    })?,
                }
            }
            // Filled in from the options below.
            "update" | "canary" => FaultKind::Update(UpdatePlan::default()),
            other => {
                return Err(SpecError::UnknownKind {
                    kind: other.into(),
                    spec: text.into(),
                })
            }
        };
        if let FaultKind::Http { arg } = &kind {
            if !(arg.starts_with('/') || arg.starts_with("http://")) {
                return Err(bad(format!(
                    "http fault argument '{arg}' must be a path (/kill) or an http:// URL"
                )));
            }
            if arg.starts_with("http://") {
                crate::target::Target::parse(arg).map_err(|e| bad(e.to_string()))?;
            } else if arg.parse::<hyper::Uri>().is_err() || arg.contains(char::is_whitespace) {
                return Err(bad(format!("'{arg}' is not a valid path")));
            }
        }
        let mut when = None;
        let mut count = 1u32;
        let mut seed = 0u64;
        let mut update_opts: Vec<(&str, &str)> = Vec::new();
        for opt in options {
            let (k, v) = opt.split_once('=').expect("options have '='");
            let v = v.trim();
            if UPDATE_KEYS.contains(&k.trim()) {
                update_opts.push((k.trim(), v));
                continue;
            }
            let w = match k.trim() {
                "every" => Some(When::Every(
                    parse::positive_duration(v).map_err(|e| bad(e.to_string()))?,
                )),
                "poisson" => Some(When::Poisson(
                    parse::positive_duration(v).map_err(|e| bad(e.to_string()))?,
                )),
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
                    Some(When::At(times))
                }
                "count" => {
                    count = v
                        .parse::<u32>()
                        .ok()
                        .filter(|c| (1..=1000).contains(c))
                        .ok_or_else(|| {
                            bad(format!("count={v} must be a whole number from 1 to 1000"))
                        })?;
                    None
                }
                "seed" => {
                    seed = v
                        .parse()
                        .map_err(|_| bad(format!("seed={v} must be a whole number")))?;
                    None
                }
                _ => unreachable!("only known keys are options"),
            };
            if let Some(w) = w {
                if when.replace(w).is_some() {
                    return Err(SpecError::TwoSchedules(text.into()));
                }
            }
        }
        let when = match (when, unknown_key) {
            (Some(w), _) => w,
            (None, Some(e)) => return Err(e),
            (None, None) => return Err(SpecError::NoSchedule(text.into())),
        };
        let kind = match kind_name {
            "update" | "canary" => {
                if count != 1 {
                    return Err(bad("count= does not apply to update and canary".into()));
                }
                update_kind(kind_name, arg.unwrap_or(""), &update_opts).map_err(bad)?
            }
            _ => {
                if let Some((k, _)) = update_opts.first() {
                    return Err(bad(format!(
                        "{k}= applies to update and canary faults only"
                    )));
                }
                kind
            }
        };
        if matches!(kind, FaultKind::Cmd { .. }) && count != 1 {
            return Err(bad(
                "count= applies to http and docker faults, not cmd".into()
            ));
        }
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

/// Builds an `update` or `canary` fault from its ARG (`KEY=VALUE;...`) and options.
fn update_kind(kind: &str, arg: &str, opts: &[(&str, &str)]) -> Result<FaultKind, String> {
    let mut plan = UpdatePlan::default();
    for pair in arg.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not KEY=VALUE (an environment change)"))?;
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("'{k}' is not an environment variable name"));
        }
        plan.env.push((k.to_string(), v.trim().to_string()));
    }
    let mut hold = Duration::from_secs(10);
    let mut max_error_rate = 0.05;
    for &(k, v) in opts {
        let dur = |v: &str| parse::duration(v).map_err(|e| e.to_string());
        match k {
            "image" if !v.is_empty() => plan.image = Some(v.to_string()),
            "image" => return Err("image= needs an image reference".into()),
            "order" => plan.order = v.parse()?,
            "parallelism" => {
                plan.parallelism = v.parse().ok().filter(|p| *p <= 1000).ok_or_else(|| {
                    format!("parallelism={v} must be a whole number (0 = all at once)")
                })?
            }
            "delay" => plan.delay = dur(v)?,
            "monitor" => plan.monitor = dur(v)?,
            "failure" => plan.failure_action = v.parse()?,
            "hold" if kind == "canary" => {
                hold = parse::positive_duration(v).map_err(|e| e.to_string())?
            }
            "max_error_rate" if kind == "canary" => {
                max_error_rate = parse::ratio(v).map_err(|e| e.to_string())?
            }
            other => return Err(format!("{other}= applies to canary faults only")),
        }
    }
    Ok(if kind == "canary" {
        if opts
            .iter()
            .any(|(k, _)| matches!(*k, "parallelism" | "delay"))
        {
            return Err(
                "a canary updates one replica, then holds: parallelism= and delay= do not apply"
                    .into(),
            );
        }
        plan.parallelism = 1;
        FaultKind::Canary {
            plan,
            hold,
            max_error_rate,
        }
    } else {
        FaultKind::Update(plan)
    })
}

/// Canonical `SIGXXX` name for a signal written as `KILL`, `sigterm`, `9`, ...
pub fn normalise_signal(s: &str) -> Option<String> {
    const SIGNALS: [(&str, u8); 10] = [
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<FaultSpec, SpecError> {
        s.parse()
    }

    #[test]
    fn parses_each_kind_and_schedule() {
        let f = p("http:/kill,every=10s").unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Http {
                arg: "/kill".into()
            }
        );
        assert_eq!(f.when, When::Every(Duration::from_secs(10)));
        assert_eq!(f.count, 1);

        let f = p("docker,poisson=15s,count=2,seed=7").unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Docker {
                signal: "SIGKILL".into()
            }
        );
        assert_eq!(f.when, When::Poisson(Duration::from_secs(15)));
        assert_eq!((f.count, f.seed), (2, 7));

        let f = p("docker:term,at=5s;20s").unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Docker {
                signal: "SIGTERM".into()
            }
        );
        assert_eq!(
            f.when,
            When::At(vec![Duration::from_secs(5), Duration::from_secs(20)])
        );
    }

    #[test]
    fn commands_may_contain_commas_and_colons() {
        let f = p("cmd:echo a,b; date +%H:%M,every=1m").unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Cmd {
                arg: "echo a,b; date +%H:%M".into()
            }
        );
    }

    #[test]
    fn rejects_bad_specs_with_reasons() {
        assert!(matches!(p(""), Err(SpecError::Empty(_))));
        assert!(matches!(
            p("nuke:/x,every=1s"),
            Err(SpecError::UnknownKind { .. })
        ));
        assert!(matches!(p("http,every=1s"), Err(SpecError::MissingArg(_))));
        assert!(matches!(p("http:/kill"), Err(SpecError::NoSchedule(_))));
        assert!(matches!(
            p("http:http://bad host/kill,every=1s"),
            Err(SpecError::BadValue { .. })
        ));
        assert!(matches!(
            p("http:/ki ll,every=1s"),
            Err(SpecError::BadValue { .. })
        ));
        assert_eq!(
            p("http:/kill?token=s3cret,every=1s").unwrap().text,
            "http:/kill?token=REDACTED,every=1s"
        );
        assert_eq!(
            p("http:/kill,evry=3s").unwrap_err().to_string(),
            "unknown option 'evry' in fault 'http:/kill,evry=3s' (options: every, at, poisson, count, seed; for update and canary also image, order, parallelism, delay, failure, monitor, hold, max_error_rate)"
        );
        assert!(
            matches!(p("docker,every=1s,cuont=2"), Err(SpecError::UnknownKey { key, .. }) if key == "cuont")
        );
        assert!(
            matches!(p("cmd:echo a,evry=3s"), Err(SpecError::UnknownKey { key, .. }) if key == "evry")
        );
        // A command may hold `word=value` parts when the spec has a schedule.
        assert!(
            matches!(p("cmd:X=1 ./kill.sh,a=b,every=2s").unwrap().kind, FaultKind::Cmd { arg } if arg == "X=1 ./kill.sh,a=b")
        );
        assert!(matches!(
            p("http:/kill,every=1s,at=2s"),
            Err(SpecError::TwoSchedules(_))
        ));
        assert!(matches!(
            p("http:/kill,every=0s"),
            Err(SpecError::BadValue { .. })
        ));
        assert!(matches!(
            p("http:/kill,every=1s,count=0"),
            Err(SpecError::BadValue { .. })
        ));
        assert!(matches!(
            p("http:kill,every=1s"),
            Err(SpecError::BadValue { .. })
        ));
        assert!(matches!(
            p("docker:SIGFOO,every=1s"),
            Err(SpecError::BadSignal { .. })
        ));
        assert!(matches!(
            p("cmd:true,every=1s,count=2"),
            Err(SpecError::BadValue { .. })
        ));
    }

    #[test]
    fn parses_updates_and_canaries() {
        let f = p("update:VERSION=v2;COLOR=blue,at=10s,order=start-first,parallelism=2,delay=1s,failure=rollback").unwrap();
        let FaultKind::Update(plan) = f.kind else {
            panic!("not an update")
        };
        assert_eq!(
            plan.env,
            vec![
                ("VERSION".into(), "v2".into()),
                ("COLOR".into(), "blue".into())
            ]
        );
        assert_eq!(
            (plan.order, plan.parallelism, plan.failure_action),
            (UpdateOrder::StartFirst, 2, FailureAction::Rollback)
        );
        assert_eq!(plan.delay, Duration::from_secs(1));

        let f = p("update,at=5s,image=registry.example/crashserver:v2").unwrap();
        let FaultKind::Update(plan) = f.kind else {
            panic!("not an update")
        };
        assert_eq!(
            plan.image.as_deref(),
            Some("registry.example/crashserver:v2")
        );
        assert!(plan.env.is_empty());

        let f = p("canary:VERSION=v3;ERROR_RATE=50%,at=5s,hold=8s,max_error_rate=5%").unwrap();
        let FaultKind::Canary {
            plan,
            hold,
            max_error_rate,
        } = f.kind
        else {
            panic!("not a canary")
        };
        assert_eq!(plan.env[1], ("ERROR_RATE".into(), "50%".into()));
        assert_eq!(
            (hold, max_error_rate, plan.parallelism),
            (Duration::from_secs(8), 0.05, 1)
        );
    }

    #[test]
    fn rejects_bad_updates() {
        assert!(p("update:VERSION,at=1s").is_err());
        assert!(p("update:VERSION=v2,at=1s,order=sideways").is_err());
        assert!(p("update:VERSION=v2,at=1s,failure=explode").is_err());
        assert!(p("update:VERSION=v2,at=1s,hold=5s").is_err());
        assert!(p("canary:VERSION=v2,at=1s,parallelism=3").is_err());
        assert!(p("http:/kill,every=1s,order=start-first").is_err());
        assert!(p("update:VERSION=v2,at=1s,count=2").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = p(&s);
        }

        #[test]
        fn every_round_trips(ms in 1u64..1_000_000, count in 1u32..100, seed in any::<u64>()) {
            let f = p(&format!("http:/kill,every={ms}ms,count={count},seed={seed}")).unwrap();
            prop_assert_eq!(f.when, When::Every(Duration::from_millis(ms)));
            prop_assert_eq!(f.count, count);
            prop_assert_eq!(f.seed, seed);
        }
    }
}

#[cfg(test)]
mod no_panic {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a user types as a fault spec: a spec or an error, never a panic.
        #[test]
        fn any_text_parses_or_errs(s in "(http|cmd|docker|update|canary)?(:[ -~]{0,30})?(,[a-z_]{1,14}=[ -~]{0,24}){0,4}") {
            let _ = s.parse::<FaultSpec>();
        }

        #[test]
        fn huge_schedules_are_refused_or_kept(n in proptest::num::u64::ANY, key in "(every|at|poisson)", unit in "(|s|ms|h|d|e20)") {
            if let Ok(f) = format!("http:/kill,{key}={n}{unit}").parse::<FaultSpec>() {
                let mut s = crate::fault::Schedule::new(f.when, f.seed);
                for _ in 0..3 {
                    let _ = s.next_offset();
                }
            }
        }
    }
}
