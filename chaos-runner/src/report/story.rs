//! What a run's page says first, in words built from its summary alone: what was done, what
//! happened (clients' side, then the orchestrator's), and the verdict; with the figures that
//! matter as tiles. Every figure here is one the tables below print too.

use std::collections::BTreeMap;

use super::tables::{mttr, pct, Section};
use crate::fault::Kind;
use crate::summary::{FaultResult, Summary};

/// The title of the story's section.
pub const TITLE: &str = "What was done, what happened, the verdict";

pub fn section(s: &Summary) -> Section {
    let mut lines = vec![done(s)];
    if let Some(a) = s
        .swarm
        .as_ref()
        .and_then(|sw| sw.answering.as_ref())
        .filter(|a| a.short())
    {
        lines.push(format!("WARNING: {}.", a.describe()));
    }
    lines.extend(happened(s));
    lines.push(verdict(s));
    Section {
        title: TITLE.into(),
        lines,
        tiles: tiles(s),
        ..Default::default()
    }
}

/// One sentence: the faults, the load, the service.
pub fn done(s: &Summary) -> String {
    let r = &s.run.setup;
    let load = match r.rate {
        Some(rate) => r.rate_words(rate).replace("req/s", "requests/s"),
        None => format!("as fast as {} workers could go", r.connections),
    };
    let on = match s.swarm.as_ref() {
        Some(sw) => format!(
            " on {} of swarm service `{}`",
            match sw.replicas {
                Some(1) => "1 replica".to_string(),
                Some(n) => format!("{n} replicas"),
                None => "the replicas".to_string(),
            },
            sw.service
        ),
        None => String::new(),
    };
    let faults = fault_words(&s.faults);
    format!(
        "What was done: {faults}, during {:.0} s of load at {load}{on}.",
        r.elapsed_s
    )
}

/// The faults in words, one phrase per spec: what, and when.
fn fault_words(faults: &[FaultResult]) -> String {
    if faults.is_empty() {
        return "no fault was injected".into();
    }
    let mut by_spec: BTreeMap<&str, Vec<&FaultResult>> = BTreeMap::new();
    for f in faults {
        by_spec.entry(&f.spec).or_default().push(f);
    }
    let phrases: Vec<String> = by_spec
        .values()
        .map(|fs| {
            let f = fs[0];
            let when = match fs.len() {
                1 => format!("at {:.1} s", f.at_s),
                n => {
                    let gap = (fs[n - 1].at_s - fs[0].at_s) / (n - 1) as f64;
                    format!("{n} times, about every {gap:.0} s from {:.1} s", fs[0].at_s)
                }
            };
            let held = match (f.restore_began_s, f.restored_at_s) {
                (Some(b), Some(d)) if d - b >= 0.05 => format!(
                    ", put back {:.1} s later (done {:.1} s after it)",
                    b - f.at_s,
                    d - f.at_s
                ),
                (_, Some(d)) => format!(", put back {:.1} s later", d - f.at_s),
                _ => String::new(),
            };
            format!("{} (`{}`) {when}{held}", what(f), f.spec)
        })
        .collect();
    phrases.join("; ")
}

/// What one kind of fault does, in words.
fn what(f: &FaultResult) -> String {
    let arg = f
        .spec
        .split(',')
        .next()
        .and_then(|k| k.split_once(':'))
        .map(|(_, a)| a);
    match f.kind {
        Kind::Docker => format!("a task container sent {}", arg.unwrap_or("SIGKILL")),
        Kind::Http => http_words(arg.unwrap_or("")),
        Kind::Cmd => "a command".into(),
        Kind::Update => "a service update".into(),
        Kind::Canary => "a canary release".into(),
        Kind::NodeStop => "a node stopped".into(),
        Kind::Partition => "a node cut off the network".into(),
        Kind::Drain => "a node drained".into(),
        Kind::ManagerStop => "managers stopped".into(),
        Kind::Pause => "a task container paused".into(),
        Kind::Stop => "a task container stopped gracefully".into(),
        Kind::Signal => format!("a task container sent {}", arg.unwrap_or("a signal")),
        Kind::Netem => "a task's network degraded".into(),
    }
}

/// An http fault's request in words: crashserver's own endpoints by name.
fn http_words(path: &str) -> String {
    let path = path
        .rsplit_once("://")
        .map_or(path, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    match route {
        "/kill" => "a replica killed through `/kill`".into(),
        "/status" => "a replica's `/status` called (it dies 3 s later)".into(),
        "/chaos" => {
            let said: Vec<&str> = query
                .split('&')
                .filter_map(|kv| match kv.split('=').next() {
                    Some("slow") => Some("be slow"),
                    Some("errors") => Some("answer errors"),
                    Some("hang") => Some("hang"),
                    Some("unhealthy") => Some("report itself unhealthy"),
                    Some("leak") => Some("leak memory"),
                    Some("clear") => Some("stop its faults"),
                    _ => None,
                })
                .collect();
            format!("a replica told to {}", said.join(" and "))
        }
        _ => format!("an HTTP request to a replica ({route})"),
    }
}

/// What clients saw, then what the orchestrator did.
pub fn happened(s: &Summary) -> Vec<String> {
    let c = &s.counts;
    let mut out = Vec::new();
    let mut classes: Vec<(&str, u64)> = c
        .by_class
        .iter()
        .filter(|(k, v)| !k.is_ok() && **v > 0)
        .map(|(k, v)| (k.name(), *v))
        .collect();
    classes.sort_by_key(|c| std::cmp::Reverse(c.1));
    let kinds = if classes.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = classes.iter().map(|(k, v)| format!("{v} {k}")).collect();
        format!(": {}", list.join(", "))
    };
    out.push(format!(
        "What clients saw: {} of {} requests failed{kinds}; {} of those scheduled succeeded.",
        c.failed,
        c.sent,
        pct(s.availability.scheduled)
    ));
    let w = &s.downtime.windows;
    let degraded = match s.downtime.degraded_s {
        Some(d) if d > 0.0 => {
            format!(" Degraded (some requests failed, some succeeded) for {d:.1} s.")
        }
        _ => String::new(),
    };
    out.push(if w.is_empty() {
        format!("No outage: some request succeeded in every stretch of the run.{degraded}")
    } else {
        let longest = w.iter().map(|w| w.duration_s).fold(0.0, f64::max);
        let open = if w.iter().any(|w| w.open) {
            " (the last had not ended when the run did)"
        } else {
            ""
        };
        if w.len() == 1 {
            format!(
                "1 outage, in which no request succeeded, of {:.2} s{open}; MTTR {}.{degraded}",
                s.downtime.total_s,
                mttr(s)
            )
        } else {
            format!(
                "{} outages, in which no request succeeded, {:.2} s in all, the longest {longest:.2} s{open}; MTTR {}.{degraded}",
                w.len(),
                s.downtime.total_s,
                mttr(s)
            )
        }
    });
    out.extend(orchestrator(s));
    out
}

/// What swarm did after the faults: node faults from the managers' view, the others from
/// the engines' container events. Nothing is said where the run did not record it.
fn orchestrator(s: &Summary) -> Option<String> {
    let mut parts = Vec::new();
    let nodes: Vec<_> = s
        .faults
        .iter()
        .filter(|f| f.ok)
        .filter_map(|f| f.node.as_ref())
        .collect();
    if !nodes.is_empty() {
        let down: Vec<f64> = nodes.iter().filter_map(|n| n.down_s).collect();
        let answered: Vec<f64> = nodes
            .iter()
            .filter_map(|n| n.replacement_answered_s)
            .collect();
        parts.push(match (down.is_empty(), answered.is_empty()) {
            (true, true) => "the managers never declared a node down and no replacement answered while the run watched".to_string(),
            (false, true) => format!("the managers declared the node down after {}, but no replacement answered while the run watched", median_words(&down)),
            (true, false) => format!("a replacement answered clients after {} (the managers never declared the node down)", median_words(&answered)),
            (false, false) => format!("the managers declared the node down after {} and a replacement answered clients after {}", median_words(&down), median_words(&answered)),
        });
    }
    let seen: Vec<_> = s
        .faults
        .iter()
        .filter(|f| f.ok && f.node.is_none())
        .filter_map(|f| f.swarm.as_ref())
        .collect();
    if !seen.is_empty() {
        let n = seen.len();
        // Summaries from before `noticed_s` was recorded: a death is the first sign.
        let noticed: Vec<f64> = seen
            .iter()
            .filter_map(|w| w.noticed_s.or(w.died_s))
            .collect();
        let started: Vec<f64> = seen.iter().filter_map(|w| w.started_s).collect();
        let watched: Vec<f64> = seen.iter().filter_map(|w| w.watched_s).collect();
        let of = |k: usize| {
            if n == 1 {
                String::new()
            } else {
                format!(" ({k} of {n} faults)")
            }
        };
        if noticed.is_empty() && !watched.is_empty() {
            let watched = watched.iter().copied().fold(f64::INFINITY, f64::min);
            parts.push(format!(
                "swarm never noticed anything wrong (it watched at least {watched:.0} s after each fault): no task was replaced"
            ));
        } else if !noticed.is_empty() {
            let how = match seen.as_slice() {
                [w] => signs(w),
                _ => String::new(),
            };
            parts.push(format!(
                "swarm noticed trouble {} after the fault{how}{}",
                median_words(&noticed),
                of(noticed.len())
            ));
            parts.push(if started.is_empty() {
                "but started no replacement while the run watched".to_string()
            } else {
                format!(
                    "and started a replacement {} after it{}",
                    median_words(&started),
                    of(started.len())
                )
            });
        }
    }
    (!parts.is_empty()).then(|| format!("What the orchestrator did: {}.", parts.join(" ")))
}

/// The signs of trouble the engine reported after one fault, in words.
fn signs(w: &crate::summary::SwarmRecovery) -> String {
    let mut signs = Vec::new();
    if w.unhealthy_s.is_some() {
        signs.push("a failed health check".to_string());
    }
    if w.oom {
        signs.push("out of memory".into());
    }
    if let Some(code) = w.exit_code {
        signs.push(format!("the container died, exit {code}"));
    }
    if signs.is_empty() {
        String::new()
    } else {
        format!(" ({})", signs.join(", "))
    }
}

/// `1.23 s`, or the median and range of several.
fn median_words(v: &[f64]) -> String {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.len() == 1 {
        return format!("{:.2} s", v[0]);
    }
    let mid = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    format!(
        "a median of {mid:.2} s ({:.2} to {:.2} s)",
        v[0],
        v[v.len() - 1]
    )
}

/// The objectives, met or not; or that none was set.
pub fn verdict(s: &Summary) -> String {
    match &s.slo {
        None => "Verdict: no objective was set (`--slo`); the figures are the result.".into(),
        Some(slo) if slo.passed => format!("Verdict: every objective met (`{}`).", slo.spec),
        Some(slo) => {
            let missed: Vec<String> = slo
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| match c.actual {
                    Some(a) => format!("{} was {a:.4} against {}", c.what.name(), c.limit),
                    None => format!("{} could not be measured", c.what.name()),
                })
                .collect();
            format!(
                "Verdict: objective MISSED: {} (`{}`).",
                missed.join("; "),
                slo.spec
            )
        }
    }
}

/// The figures that matter, for the top of the page.
fn tiles(s: &Summary) -> Vec<(String, String)> {
    let open = s.downtime.windows.iter().any(|w| w.open);
    vec![
        ("availability".into(), pct(s.availability.scheduled)),
        ("failed requests".into(), s.counts.failed.to_string()),
        (
            "downtime".into(),
            format!(
                "{:.2} s{}",
                s.downtime.total_s,
                if open { " (open)" } else { "" }
            ),
        ),
        ("outages".into(), s.downtime.windows.len().to_string()),
        (
            "degraded".into(),
            s.downtime
                .degraded_s
                .map_or("-".into(), |d| format!("{d:.1} s")),
        ),
        (
            "MTTR".into(),
            s.mttr_s.map_or("-".into(), |m| format!("{m:.2} s")),
        ),
        (
            "p99 latency".into(),
            s.latency_ms
                .p99
                .map_or("-".into(), |p| format!("{p:.1} ms")),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed demo: 1 replica, a SIGKILL every 10 s, 60 s at 200 requests/s.
    fn demo() -> Summary {
        serde_json::from_str(include_str!(
            "../../../results/swarm-demo/1-replica/summary.json"
        ))
        .unwrap()
    }

    #[test]
    fn the_story_says_what_was_done_and_what_happened_with_the_summarys_figures() {
        let s = demo();
        let done = done(&s);
        assert!(
            done.contains("a task container sent SIGKILL (`docker,every=10s,seed=1`) 5 times, about every 10 s from 10.0 s"),
            "{done}"
        );
        assert!(done.contains("at 200 requests/s on 1 replica"), "{done}");
        let happened = happened(&s).join(" ");
        let failed = format!("{} of {} requests failed", s.counts.failed, s.counts.sent);
        assert!(happened.contains(&failed), "{happened}");
        let dns = s
            .counts
            .by_class
            .iter()
            .find(|(k, _)| k.name() == "dns")
            .unwrap()
            .1;
        assert!(
            happened.contains(&format!(": {dns} dns")),
            "the largest class first: {happened}"
        );
        assert!(
            happened.contains(&format!("{} outages", s.downtime.windows.len())),
            "{happened}"
        );
        assert!(verdict(&s).contains("no objective was set"));
        let tiles = tiles(&s);
        assert_eq!(
            tiles[1],
            ("failed requests".into(), s.counts.failed.to_string())
        );
    }

    #[test]
    fn a_fault_without_failures_has_no_recovery_figure() {
        let mut s = demo();
        let f = &mut s.faults[0];
        f.failures = 0;
        f.outage = false;
        f.recovery_s = Some(0.0);
        assert_eq!(super::super::tables::recovery(f), "-");
    }

    #[test]
    fn the_page_opens_with_the_story_and_says_what_a_bucket_holds() {
        let s = demo();
        let all = super::super::sections::sections(&s);
        assert_eq!(all[0].title, TITLE);
        let glossary = all.iter().find(|x| x.title == "Glossary").unwrap();
        let text = glossary.lines.join(" ");
        assert!(
            text.contains("At 200 requests/s a bucket holds about 20 requests, so a single failure in a bucket fails it."),
            "{text}"
        );
    }

    #[test]
    fn the_orchestrators_side_is_said_only_as_far_as_the_run_recorded_it() {
        // The demo's summary predates `noticed_s`: its deaths are what swarm noticed.
        let s = demo();
        let said = orchestrator(&s).unwrap();
        assert!(
            said.contains("swarm noticed trouble a median of 0.03 s (0.03 to 0.04 s) after the fault (5 of 5 faults) and started a replacement a median of 0.67 s"),
            "{said}"
        );
        assert!(!said.contains("never"), "{said}");
        // A partition: the managers' view, not the old tasks' clean-up.
        let p: Summary = serde_json::from_str(include_str!(
            "../../../results/multi-node/partition/summary.json"
        ))
        .unwrap();
        let said = orchestrator(&p).unwrap();
        let n = p.faults[0].node.as_ref().unwrap();
        assert!(
            said.contains(&format!(
                "the managers declared the node down after {:.2} s and a replacement answered clients after {:.2} s",
                n.down_s.unwrap(),
                n.replacement_answered_s.unwrap()
            )),
            "{said}"
        );
        assert!(!said.contains("never"), "{said}");
    }

    #[test]
    fn crashservers_endpoints_are_named() {
        assert_eq!(
            http_words("/chaos?slow=200ms&for=5s"),
            "a replica told to be slow"
        );
        assert_eq!(http_words("/chaos?hang=15s"), "a replica told to hang");
        assert_eq!(
            http_words("http://h:8080/kill"),
            "a replica killed through `/kill`"
        );
        assert_eq!(
            http_words("/other"),
            "an HTTP request to a replica (/other)"
        );
    }
}
