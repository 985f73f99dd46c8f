//! The report's sections, one function each, in the order they appear.

use super::node_sections::{node_faults, nodes};
use super::tables::*;
use crate::summary::Summary;

pub fn sections(s: &Summary) -> Vec<Section> {
    let mut out = Vec::new();
    for add in [
        incomplete,
        story,
        headline,
        counts,
        faults,
        node_faults,
        nodes,
        downtime,
        latency,
        replicas,
        updates,
        versions,
        slo,
        run,
        glossary,
    ] {
        add(s, &mut out);
    }
    out
}

/// First, for a run whose runner died: what the figures cover.
fn incomplete(s: &Summary, out: &mut Vec<Section>) {
    let Some(i) = &s.incomplete else { return };
    let mut lines = vec![format!(
        "INCOMPLETE RUN: {}. This report was rebuilt from the run's journal (`chaos-runner report`): \
         every figure below covers only that part of the run, and nothing after it happened as far as this report knows.",
        i.describe()
    )];
    if s.swarm.is_some() {
        lines.push(
            "What the run changed on the swarm may still be in place: `chaos-runner restore DIR` puts it back."
                .into(),
        );
    }
    lines.extend(i.notes.iter().map(|n| format!("Note: {n}.")));
    out.push(Section {
        title: "Incomplete run".into(),
        lines,
        table: None,
        ..Default::default()
    });
}

/// What was done, what happened, the verdict.
fn story(s: &Summary, out: &mut Vec<Section>) {
    out.push(super::story::section(s));
}

/// How the run was set up: target, access path, load, machine, swarm.
fn run(s: &Summary, out: &mut Vec<Section>) {
    let (r, achieved_rate) = (&s.run.setup, s.run.achieved_rate);
    let load = match r.rate {
        Some(rate) if r.in_flight_capped => format!(
            "open loop at {} asked, {:.1} req/s achieved, capped at {} in flight (--max-in-flight; up to {} were)",
            r.rate_words(rate), achieved_rate, r.max_in_flight, r.peak_in_flight
        ),
        Some(rate) => format!(
            "open loop at {} asked, {:.1} req/s achieved, up to {} in flight (allowance {} for rate x timeout)",
            r.rate_words(rate), achieved_rate, r.peak_in_flight, r.max_in_flight
        ),
        None => format!(
            "closed loop, {} workers, {:.1} req/s achieved",
            r.connections, achieved_rate
        ),
    };
    let conn = if r.keepalive {
        format!(
            "keep-alive connections recycled every {:.0} ms",
            r.recycle_ms
        )
    } else {
        "a new connection per request".into()
    };
    let mut lines = vec![
        format!(
            "Target `{}`, started {}, ran {:.1} s{}.",
            r.target,
            r.started_at,
            r.elapsed_s,
            if s.interrupted {
                " (INTERRUPTED)"
            } else if s.incomplete.is_some() {
                " (INCOMPLETE: the runner stopped)"
            } else {
                ""
            }
        ),
        format!("Access path: {}.", s.access_path),
        format!(
            "Load: {load}; {conn}; timeout {:.0} ms; buckets of {:.0} ms.",
            r.timeout_ms, r.bucket_ms
        ),
        format!("Machine: {}. Tool: {}.", r.host, s.tool),
    ];
    if let Some(sw) = &s.swarm {
        lines.push(format!(
            "Swarm service `{}`{}{}.",
            sw.service,
            sw.replicas
                .map_or(String::new(), |n| format!(", scaled to {n} replica(s)")),
            sw.converge_s
                .map_or(String::new(), |c| format!(", converged in {c:.1} s"))
        ));
        if let Some(a) = &sw.answering {
            lines.push(format!("{}.", a.describe()));
        }
        if let Some(r) = &sw.restore {
            lines.push(format!("After the run: {r}."));
        }
    }
    out.push(Section {
        title: "Set-up".into(),
        lines,
        table: None,
        ..Default::default()
    });
}

/// The figures that matter, one row (the charts go with it).
fn headline(s: &Summary, out: &mut Vec<Section>) {
    out.push(Section {
        title: HEADLINE.into(),
        lines: vec![],
        table: t(&HEADLINE_HEAD, vec![headline_row(s)]),
        ..Default::default()
    });
}

/// What the words on the page mean, with the run's own figures where they matter.
fn glossary(s: &Summary, out: &mut Vec<Section>) {
    let r = &s.run.setup;
    let per_bucket = r.own_rate().map(|rate| rate * r.bucket_ms / 1000.0);
    let threshold = s.availability.bucket_threshold;
    let bucket = match per_bucket {
        Some(n) if n > 0.0 => {
            let allowed = (n * (1.0 - threshold) + 1e-9).floor();
            format!(
                " At {} requests/s a bucket holds about {n:.0} requests, so {}.",
                (r.own_rate().unwrap_or_default() * 10.0).round() / 10.0,
                if allowed < 1.0 {
                    "a single failure in a bucket fails it".to_string()
                } else {
                    format!("a bucket passes with up to {allowed:.0} failures")
                }
            )
        }
        _ => String::new(),
    };
    out.push(Section {
        title: "Glossary".into(),
        lines: vec![
            format!(
                "Availability: the share of scheduled requests answered with success (ok / scheduled: a request the schedule could not send counts as unanswered; ok / sent was {}).",
                pct(s.availability.requests)
            ),
            format!(
                "Availability (time): the share of {:.0} ms buckets in which at least {:.1}% of scheduled requests succeeded.{bucket}",
                r.bucket_ms,
                threshold * 100.0,
            ),
            format!(
                "Outage (a downtime window): a stretch in which no request succeeded; downtime is their total. Stretches shorter than {:.0} ms are glitches, not outages ({} in this run).",
                s.downtime.min_window_ms, s.downtime.glitches
            ),
            "Degraded: the time in buckets in which some requests failed and some succeeded (not counted as downtime).".into(),
            "MTTR: the mean, over faults that caused an outage which ended, of the time from the fault to the first success that ended it. An outage still under way at the end gets no figure.".into(),
            "Latency: from each request's intended send time (no coordinated omission); p99 is the latency 99 % of successes beat.".into(),
            "Failure classes: refused (connection refused), reset (connection reset), timeout (no answer within the timeout), dns (the name did not resolve: no task behind it), http_5xx and http_4xx (answered with an error), other.".into(),
            "\"-\": not applicable (nothing happened that the figure would measure).".into(),
        ],
        ..Default::default()
    });
}

/// Every count, reconciled.
fn counts(s: &Summary, out: &mut Vec<Section>) {
    let c = &s.counts;
    let mut head = vec!["scheduled", "sent", "dropped", "late", "ok"];
    let mut row = vec![c.scheduled, c.sent, c.dropped, c.late, c.ok];
    for (k, v) in c.by_class.iter().filter(|(k, _)| !k.is_ok()) {
        head.push(k.name());
        row.push(*v);
    }
    let failures: u64 = c
        .by_class
        .iter()
        .filter(|(k, _)| !k.is_ok())
        .map(|(_, v)| v)
        .sum();
    let mut lines = vec![
        format!(
            "scheduled = sent + dropped: {} = {} + {}; sent = ok + failures: {} = {} + {}.",
            c.scheduled, c.sent, c.dropped, c.sent, c.ok, failures
        ),
        "late: sent more than 1 ms after the intended time (they are among the sent, and their latency counts from the intended time); dropped: never sent (only with --max-in-flight, or when interrupted).".into(),
    ];
    if !c.malformed.is_empty() {
        let kinds: Vec<String> = c
            .malformed
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        lines.push(format!(
            "Malformed responses (counted as other; their connections were dropped): {}.",
            kinds.join(", ")
        ));
    }
    out.push(Section {
        title: "Counts".into(),
        lines,
        table: t(&head, vec![row.iter().map(u64::to_string).collect()]),
        ..Default::default()
    });
}

/// What each fault cost, and what swarm did about it.
fn faults(s: &Summary, out: &mut Vec<Section>) {
    if !s.faults.is_empty() {
        let rows = s
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let sw = f.swarm.as_ref();
                let mut row = vec![
                    (i + 1).to_string(),
                    secs(f.at_s),
                    f.kind.name().to_string(),
                    if f.ok {
                        "ok".into()
                    } else {
                        "did not take".into()
                    },
                    f.failures.to_string(),
                    match (f.outage, f.in_earlier_outage) {
                        (false, _) => "no".into(),
                        (true, false) => "yes".into(),
                        (true, true) => "in an earlier one".into(),
                    },
                    recovery(f),
                    opt_secs(f.last_failure_s),
                    noticed(sw),
                ];
                // A node fault's container events are its old tasks' clean-up when the node
                // comes back, not a repair: the managers' view is in Node faults.
                if f.node.is_some() {
                    row.extend(["see Node faults".to_string(), "-".into(), "-".into()]);
                } else {
                    row.extend([
                        died(sw),
                        opt_secs(sw.and_then(|w| w.started_s)),
                        opt_secs(sw.and_then(|w| w.healthy_s)),
                    ]);
                }
                row.extend([f.outcome.clone()]);
                row
            })
            .collect();
        out.push(Section {
            title: "Faults".into(),
            lines: vec![format!(
                "Recovery is from the fault to the first success that ended its outage (to its last failure when there was no outage). \
A fault that lands inside an outage already under way belongs to it; an outage still under way at the end has no recovery time and stays out of MTTR. \
Swarm columns are the orchestrator's own events, from the fault: the first sign it saw trouble (a failed health check, out of memory, or a death; \"never\" when none came while the run watched), the first container death (with its exit code: 137 after SIGKILL, 143 after SIGTERM), replacement started, replacement healthy (only where the service has a health check; without one a task takes traffic once it runs). MTTR: {}.",
                mttr(s)
            )],
            table: t(
                &["#", "at (s)", "kind", "fault", "failures", "outage", "recovery (s)", "last failure (s)", "swarm: noticed (s)", "died (s)", "started (s)", "healthy (s)", "outcome"],
                rows,
            ),
                    ..Default::default()
        });
    }
}

/// When swarm first saw trouble after a fault, or that it never did while the run watched.
fn noticed(sw: Option<&crate::summary::SwarmRecovery>) -> String {
    match sw {
        None => "-".into(),
        Some(w) => match (w.noticed_s, w.watched_s) {
            (Some(t), _) => secs(t),
            (None, Some(watched)) => format!("never ({watched:.1} s watched)"),
            // A summary written before this was recorded.
            (None, None) => "-".into(),
        },
    }
}

/// The first death after a fault, with how it ended.
fn died(sw: Option<&crate::summary::SwarmRecovery>) -> String {
    let Some(w) = sw else { return "-".into() };
    match (w.died_s, w.exit_code, w.oom) {
        (Some(t), _, true) => format!("{} (out of memory)", secs(t)),
        (Some(t), Some(code), false) => format!("{} (exit {code})", secs(t)),
        (t, _, _) => opt_secs(t),
    }
}

/// Stretches in which nothing succeeded.
fn downtime(s: &Summary, out: &mut Vec<Section>) {
    out.push(Section {
        title: "Outages".into(),
        lines: if s.downtime.windows.is_empty() {
            vec!["None: some request succeeded in every stretch of the run.".into()]
        } else {
            vec![]
        },
        table: (!s.downtime.windows.is_empty()).then(|| Table {
            head: [
                "start (s)",
                "end (s)",
                "duration (s)",
                "failed",
                "dropped",
                "still down at end",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rows: s
                .downtime
                .windows
                .iter()
                .map(|w| {
                    vec![
                        secs(w.start_s),
                        secs(w.end_s),
                        secs(w.duration_s),
                        w.failed.to_string(),
                        w.dropped.to_string(),
                        if w.open { "yes".into() } else { "no".into() },
                    ]
                })
                .collect(),
        }),
        ..Default::default()
    });
}

/// Latency percentiles.
fn latency(s: &Summary, out: &mut Vec<Section>) {
    out.push(Section {
        title: "Latency (ms)".into(),
        lines: vec!["From each request's intended send time, so queueing behind a stalled target counts (no coordinated omission). Failures are kept apart.".into()],
        table: t(
            &["", "count", "p50", "p90", "p95", "p99", "p99.9", "max", "mean"],
            vec![
                lat_row("successes", &s.latency_ms),
                lat_row("failures", &s.failure_latency_ms),
                lat_row("send lateness", &s.send_lateness_ms),
            ],
        ),
            ..Default::default()
    });
}

/// Which replicas answered.
fn replicas(s: &Summary, out: &mut Vec<Section>) {
    out.push(Section {
        title: "Replicas seen".into(),
        lines: vec![format!(
            "{} distinct `X-Instance` ids; {} restarts or replacements (first answered after the first fault, in a container the engine did not see start before it).",
            s.instances.len(),
            s.restarts_seen
        )],
        table: t(
            &["#", "instance", "version", "first seen (s)", "last seen (s)", "answers"],
            s.instances
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    vec![
                        (i + 1).to_string(),
                        x.id.clone(),
                        x.version.clone(),
                        secs(x.first_seen_s),
                        secs(x.last_seen_s),
                        x.requests.to_string(),
                    ]
                })
                .collect(),
        ),
            ..Default::default()
    });
}

/// The service's update status changes.
fn updates(s: &Summary, out: &mut Vec<Section>) {
    if let Some(sw) = s.swarm.as_ref().filter(|sw| !sw.updates.is_empty()) {
        out.push(Section {
            title: "Service updates".into(),
            lines: vec![
                "The service's update status as swarm reported it (polled every 200 ms).".into(),
            ],
            table: t(
                &["at (s)", "state", "message"],
                sw.updates
                    .iter()
                    .map(|u| vec![secs(u.at_s), u.state.clone(), u.message.clone()])
                    .collect(),
            ),
            ..Default::default()
        });
    }
}

/// Versions that answered.
fn versions(s: &Summary, out: &mut Vec<Section>) {
    if s.versions.len() > 1 {
        out.push(Section {
            title: "Versions".into(),
            lines: vec![
                "Versions that answered (`X-Version`), in order of first appearance.".into(),
            ],
            table: t(
                &[
                    "version",
                    "first seen (s)",
                    "last seen (s)",
                    "answers",
                    "replicas",
                ],
                s.versions
                    .iter()
                    .map(|v| {
                        vec![
                            v.version.clone(),
                            secs(v.first_seen_s),
                            secs(v.last_seen_s),
                            v.answers.to_string(),
                            v.instances.to_string(),
                        ]
                    })
                    .collect(),
            ),
            ..Default::default()
        });
    }
}

/// The objectives and whether they were met.
fn slo(s: &Summary, out: &mut Vec<Section>) {
    if let Some(slo) = &s.slo {
        out.push(Section {
            title: format!("SLO: {}", if slo.passed { "met" } else { "MISSED" }),
            lines: vec![format!("`{}`", slo.spec)],
            table: t(
                &["objective", "limit", "actual", "met"],
                slo.checks
                    .iter()
                    .map(|c| {
                        vec![
                            c.what.name().to_string(),
                            format!("{}", c.limit),
                            c.actual.map_or("-".into(), |a| format!("{a:.4}")),
                            if c.passed { "yes".into() } else { "no".into() },
                        ]
                    })
                    .collect(),
            ),
            ..Default::default()
        });
    }
}
