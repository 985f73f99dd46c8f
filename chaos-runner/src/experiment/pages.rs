//! `experiment.md` and `experiment.html`: the story first (what was done, what happened,
//! the verdict), then each metric per cell with its interval and every trial as a dot, the
//! differences along each axis, the hypotheses, and every trial with a link to its report.

use std::path::Path;

use crashlab_common::html::escape;

use super::plan::Plan;
use super::results::{AxisDifference, CellResult, ExperimentResult, Metric, Status};
use super::stats::Stats;
use crate::report::tables::{Section, Table};

pub fn write(dir: &Path, plan: &Plan, r: &ExperimentResult) -> anyhow::Result<()> {
    let sections: Vec<Section> = [
        Some(story(plan, r)),
        Some(cells_section(r)),
        vantages_section(r),
        orchestrator_section(r),
        Some(differences_section(r)),
        Some(hypotheses_section(r)),
        Some(trials_section(r)),
        Some(reading()),
    ]
    .into_iter()
    .flatten()
    .collect();
    crate::report::write_page(
        dir,
        "experiment",
        &format!("Experiment: {}", r.name),
        &sections,
    )
}

/// "93.120 % (95 % CI 92.0 to 94.2 %, n = 5)", or why there is no interval.
/// Whether every trial gave the same value (an interval of no width says nothing more).
fn no_spread(s: &Stats) -> bool {
    s.n > 1 && s.sd == Some(0.0)
}

fn with_interval(m: Metric, s: &Stats) -> String {
    match (s.mean, s.ci) {
        (None, _) => "-".into(),
        (Some(mean), _) if no_spread(s) => format!("{} in all {} trials", m.show(mean), s.n),
        (Some(mean), Some((lo, hi))) => format!(
            "{} (95 % CI {} to {}, n = {})",
            m.show(mean),
            m.show(lo),
            m.show(hi),
            s.n
        ),
        (Some(mean), None) => format!(
            "{} (n = {}: too few trials for an interval)",
            m.show(mean),
            s.n
        ),
    }
}

fn signed(m: Metric, v: f64) -> String {
    let s = match m {
        Metric::Availability | Metric::TimeAvailability => format!("{:.3} points", v * 100.0),
        _ => m.show(v),
    };
    if v > 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

fn difference_words(d: &AxisDifference, r: &ExperimentResult) -> String {
    let (a, b) = (&r.cells[d.a - 1], &r.cells[d.b - 1]);
    let axis = d.axis.name().replace('_', " ");
    let from = a.settings.get(&d.axis).cloned().unwrap_or_default();
    let to = b.settings.get(&d.axis).cloned().unwrap_or_default();
    let dd = &d.difference;
    // The settings both share, where the matrix varies them (fixed ones go without saying).
    let varies = |ax: &super::file::Axis| {
        let first = r.cells.first().and_then(|c| c.settings.get(ax));
        r.cells.iter().any(|c| c.settings.get(ax) != first)
    };
    let context: Vec<String> = a
        .settings
        .iter()
        .filter(|(ax, _)| **ax != d.axis && varies(ax))
        .map(|(ax, v)| format!("{} {v}", ax.name().replace('_', " ")))
        .collect();
    let context = if context.is_empty() {
        String::new()
    } else {
        format!(" (at {})", context.join(", "))
    };
    let what = format!(
        "{axis} {from} -> {to}{context}: {} {}",
        d.metric.name(),
        signed(d.metric, dd.diff)
    );
    let (sa, sb) = (&a.stats[&d.metric], &b.stats[&d.metric]);
    match (dd.ci, dd.p, dd.significant()) {
        (Some((lo, hi)), Some(p), Some(true)) => format!(
            "{what} (95 % CI {} to {}, Welch p {}): more than noise.",
            signed(d.metric, lo),
            signed(d.metric, hi),
            p_value(p)
        ),
        (Some((lo, hi)), Some(p), _) => format!(
            "{what} (95 % CI {} to {}, Welch p {}): not distinguishable from no difference with {} and {} trials (the interval includes 0).",
            signed(d.metric, lo),
            signed(d.metric, hi),
            p_value(p),
            sa.n,
            sb.n
        ),
        _ if no_spread(sa) && no_spread(sb) => {
            format!("{what} (the same value in every trial of both: no interval needed).")
        }
        _ => format!("{what} (no interval: fewer than 2 trials in a cell)."),
    }
}

/// "= 0.0039", or "< 0.0001".
fn p_value(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".into()
    } else {
        format!("= {p:.4}")
    }
}

fn story(plan: &Plan, r: &ExperimentResult) -> Section {
    let done = r.trials.iter().filter(|t| t.status == Status::Done).count();
    let total = r.trials.len();
    let axes: Vec<(String, Vec<String>)> = plan
        .cells
        .first()
        .map(|c| {
            c.settings
                .iter()
                .map(|(a, _)| {
                    let values: Vec<String> = r
                        .cells
                        .iter()
                        .filter_map(|c| c.settings.get(a).cloned())
                        .fold(Vec::new(), |mut v, s| {
                            if !v.contains(&s) {
                                v.push(s);
                            }
                            v
                        });
                    (a.name().replace('_', " "), values)
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let varying: Vec<String> = axes
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(a, v)| format!("{a} ({})", v.join(" or ")))
        .collect();
    let fixed: Vec<String> = axes
        .iter()
        .filter(|(_, v)| v.len() == 1)
        .map(|(a, v)| format!("{a} {}", v[0]))
        .collect();
    let mut lines = vec![format!(
        "What was done: {} configuration(s){} of {}, each run {} time(s) ({}); {done} of {total} trials done{}.",
        r.cells.len(),
        match (varying.is_empty(), fixed.is_empty()) {
            (true, true) => String::new(),
            (false, true) => format!(", varying {}", varying.join(" and ")),
            (true, false) => format!(", with {}", fixed.join(" and ")),
            (false, false) => format!(", varying {} with {}", varying.join(" and "), fixed.join(" and ")),
        },
        plan.swarm_service.as_deref().map_or("the target".to_string(), |s| format!("service `{s}`")),
        r.trials_per_cell,
        match r.order {
            super::file::Order::Interleaved => "interleaved: every configuration once, then again",
            super::file::Order::Blocked => "blocked: all of a configuration's trials, then the next",
        },
        if r.interrupted { " (INTERRUPTED: `--resume` runs the rest)" } else { "" }
    )];
    if !r.description.is_empty() {
        lines.push(r.description.clone());
    }
    let short = r
        .trials
        .iter()
        .filter(|t| t.short_of_replicas.is_some())
        .count();
    if short > 0 {
        lines.push(format!(
            "WARNING: in {short} trial(s) fewer replicas answered before the clock started than asked for (marked under Every trial)."
        ));
    }
    let failed: Vec<&super::results::Trial> = r
        .trials
        .iter()
        .filter(|t| !t.faults_failed.is_empty())
        .collect();
    if let Some(first) = failed.first() {
        let mut cells: Vec<usize> = failed.iter().map(|t| t.cell).collect();
        cells.sort_unstable();
        cells.dedup();
        lines.push(format!(
            "WARNING: in {} trial(s) (cell {}) a fault did not take effect, so those trials measured a run without it (marked under Every trial); the first: {}.",
            failed.len(),
            cells.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", "),
            first.faults_failed[0]
        ));
    }
    if r.rebalance {
        lines.push("Before every trial the service's tasks were spread afresh over the nodes (a forced update): swarm never moves tasks back to a node that returns, so without it a trial after a node fault would find that node empty.".into());
    }
    lines.push(
        "The unit of replication is a trial (one whole run); every mean and interval below is over trials, never over requests. Intervals are 95 % confidence intervals for the mean (Student's t).".into(),
    );
    if r.trials_per_cell < 2 {
        lines.push(
            "Each configuration ran once: its figures are one run's, with no interval and no test of a difference (`--trials 3` or more gives them).".into(),
        );
    }
    if r.cells.len() <= MAX_CELL_TILES {
        for c in &r.cells {
            lines.push(format!(
                "What happened, cell {} ({}): availability {}; downtime {}; failed {}.",
                c.cell,
                c.label,
                with_interval(Metric::Availability, &c.stats[&Metric::Availability]),
                with_interval(Metric::DowntimeS, &c.stats[&Metric::DowntimeS]),
                with_interval(Metric::Failed, &c.stats[&Metric::Failed]),
            ));
        }
    } else if let Some(line) = range_of_availability(r) {
        lines.push(line);
    }
    if r.cells.len() <= MAX_CELL_TILES {
        lines.extend(r.cells.iter().filter_map(vantage_ends));
    }
    let in_availability: Vec<_> = r
        .differences
        .iter()
        .filter(|d| d.metric == Metric::Availability && testable(r, d))
        .collect();
    // One comparison: "In short" below says it. Along an axis with many, the count (they
    // are under Differences).
    if in_availability.len() > 1 {
        for axis in axes_of(&in_availability) {
            let along: Vec<_> = in_availability.iter().filter(|d| d.axis == axis).collect();
            if along.len() <= MAX_STORY_DIFFERENCES {
                for d in along {
                    lines.push(format!("Difference: {}", difference_words(d, r)));
                }
            } else {
                let real = along
                    .iter()
                    .filter(|d| d.difference.significant() == Some(true))
                    .count();
                lines.push(format!(
                    "Differences along {}: {} comparisons of availability, {real} of them more than noise (each under Differences below).",
                    axis.name().replace('_', " "),
                    along.len()
                ));
            }
        }
    }
    lines.push(in_short(r));
    let judged: Vec<_> = r.hypotheses.iter().filter(|v| v.passed.is_some()).collect();
    let missed = judged.iter().filter(|v| v.passed == Some(false)).count();
    if !r.hypotheses.is_empty() {
        lines.push(format!(
            "Verdict: {} of {} hypothesis check(s) met, {missed} missed{}.",
            judged.len() - missed,
            r.hypotheses.len(),
            if judged.len() < r.hypotheses.len() {
                format!(", {} not judged", r.hypotheses.len() - judged.len())
            } else {
                String::new()
            }
        ));
    }
    let mut tiles = vec![
        ("configurations".to_string(), r.cells.len().to_string()),
        ("trials done".to_string(), format!("{done} of {total}")),
    ];
    let measured = availabilities(r);
    if measured.len() <= MAX_CELL_TILES {
        for (c, m) in &measured {
            tiles.push((
                format!("availability, cell {}", c.cell),
                Metric::Availability.show(*m),
            ));
        }
    } else if let Some((lowest, highest)) = ends(&measured) {
        // Many cells: the two ends (each cell is in the table below).
        for (name, (c, m)) in [("highest", highest), ("lowest", lowest)] {
            tiles.push((
                format!("{name} availability (cell {})", c.cell),
                Metric::Availability.show(m),
            ));
        }
    }
    // The lowest vantage point's figure beside the cell's, while the tiles stay one row.
    if r.cells.len() <= 2 {
        for c in &r.cells {
            if let Some((name, v)) = vantages_by_availability(c).first() {
                tiles.push((
                    format!("{name}'s clients, cell {}", c.cell),
                    Metric::Availability.show(*v),
                ));
            }
        }
    }
    if !r.hypotheses.is_empty() {
        tiles.push(("hypotheses missed".into(), missed.to_string()));
    }
    Section {
        title: "What was done, what happened, the verdict".into(),
        lines,
        tiles,
        ..Default::default()
    }
}

/// Every cell with a mean availability, and that mean.
fn availabilities(r: &ExperimentResult) -> Vec<(&CellResult, f64)> {
    r.cells
        .iter()
        .filter_map(|c| c.stats[&Metric::Availability].mean.map(|m| (c, m)))
        .collect()
}

/// The lowest and the highest of them; ties go to the first cell.
type End<'a> = (&'a CellResult, f64);
fn ends<'a>(measured: &[End<'a>]) -> Option<(End<'a>, End<'a>)> {
    let lowest = measured.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let highest = measured.iter().rev().max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some((*lowest, *highest))
}

/// Many cells in one line: the lowest and highest mean availability, and how many
/// configurations lost no request at all (each cell is in the table below).
fn range_of_availability(r: &ExperimentResult) -> Option<String> {
    let measured = availabilities(r);
    let ((lo, lo_m), (hi, hi_m)) = ends(&measured)?;
    let lossless = r
        .cells
        .iter()
        .filter(|c| c.done > 0 && c.stats[&Metric::Failed].max == Some(0.0))
        .count();
    Some(format!(
        "What happened: mean availability from {} (cell {}: {}) to {} (cell {}: {}); configurations without a failed request in any trial: {lossless} of {}. Every configuration is in the table below.",
        Metric::Availability.show(lo_m),
        lo.cell,
        lo.label,
        Metric::Availability.show(hi_m),
        hi.cell,
        hi.label,
        measured.len()
    ))
}

/// A row per cell: its number, settings, trials done and `metrics` as mean [interval].
fn cell_table(r: &ExperimentResult, metrics: &[Metric]) -> Table {
    let head = ["cell", "settings", "trials"]
        .into_iter()
        .map(String::from)
        .chain(metrics.iter().map(|m| m.name().to_string()))
        .collect();
    let rows = r
        .cells
        .iter()
        .map(|c| {
            let mut row = vec![c.cell.to_string(), c.label.clone(), c.done.to_string()];
            row.extend(metrics.iter().map(|m| short(*m, &c.stats[m])));
            row
        })
        .collect();
    Table { head, rows }
}

/// A forest chart for each of `metrics` that some cell has a figure for.
fn forests(r: &ExperimentResult, metrics: &[Metric]) -> Vec<(String, String)> {
    metrics
        .iter()
        .filter(|m| r.cells.iter().any(|c| c.stats[*m].n > 0))
        .map(|m| {
            let rows: Vec<Row> = r
                .cells
                .iter()
                .map(|c| Row {
                    label: format!("{}. {}", c.cell, c.label),
                    title: c.label.clone(),
                    stats: &c.stats[m],
                })
                .collect();
            (format!("{} per configuration: every trial (dots), the mean (tick) and its 95 % interval (bar)", m.name()), forest(*m, &rows))
        })
        .collect()
}

fn cells_section(r: &ExperimentResult) -> Section {
    Section {
        title: "Each configuration: mean [95 % interval]".into(),
        lines: vec!["Each figure is the mean over the configuration's trials, with its 95 % confidence interval in brackets (none below 2 trials). The charts show every trial as a dot, the interval as a bar and the mean as a tick.".into()],
        table: Some(cell_table(r, &Metric::SHOWN)),
        figures: forests(r, &Metric::SHOWN),
        ..Default::default()
    }
}

/// "Seen from each vantage point, cell 1: node-1's clients 87.6 % [..], the others' between
/// ..": the lowest vantage and the range of the rest, for a cell loaded from several.
fn vantage_ends(c: &CellResult) -> Option<String> {
    let by = vantages_by_availability(c);
    let (lowest, rest) = by.split_first()?;
    let (lo, hi) = (rest.first()?.1, rest.last()?.1);
    Some(format!(
        "Seen from each vantage point, cell {}: `{}`'s clients {}; the {} others' between {} and {} (each under Availability by vantage point).",
        c.cell,
        lowest.0,
        with_interval(Metric::Availability, &c.by_vantage[lowest.0]),
        rest.len(),
        Metric::Availability.show(lo),
        Metric::Availability.show(hi),
    ))
}

/// A cell's vantage points by mean availability, lowest first.
fn vantages_by_availability(c: &CellResult) -> Vec<(&String, f64)> {
    let mut by: Vec<(&String, f64)> = c
        .by_vantage
        .iter()
        .filter_map(|(n, s)| Some((n, s.mean?)))
        .collect();
    by.sort_by(|a, b| a.1.total_cmp(&b.1));
    by
}

/// Cells loaded from several vantage points (`vantage` in `[run]`): each vantage's
/// availability over the trials it measured whole. Left out otherwise.
fn vantages_section(r: &ExperimentResult) -> Option<Section> {
    if r.cells.iter().all(|c| c.by_vantage.is_empty()) {
        return None;
    }
    let head = ["cell", "settings", "vantage", "trials", "availability"]
        .into_iter()
        .map(String::from)
        .collect();
    let rows = r
        .cells
        .iter()
        .flat_map(|c| {
            c.by_vantage.iter().map(move |(name, s)| {
                vec![
                    c.cell.to_string(),
                    c.label.clone(),
                    name.clone(),
                    if s.missing > 0 {
                        format!("{} ({} lost)", s.n, s.missing)
                    } else {
                        s.n.to_string()
                    },
                    short(Metric::Availability, s),
                ]
            })
        })
        .collect();
    let one_cell = r.cells.len() == 1;
    let bars: Vec<Row> = r
        .cells
        .iter()
        .flat_map(|c| {
            c.by_vantage.iter().map(move |(name, s)| {
                let label = if one_cell {
                    name.clone()
                } else {
                    format!("{}. {name}", c.cell)
                };
                Row {
                    title: format!("{name}, cell {} ({})", c.cell, c.label),
                    label,
                    stats: s,
                }
            })
        })
        .collect();
    Some(Section {
        title: "Availability by vantage point: mean [95 % interval]".into(),
        figures: vec![(
            "availability per vantage point: every trial (dots), the mean (tick) and its 95 % interval (bar)".into(),
            forest(Metric::Availability, &bars),
        )],
        lines: vec!["Each trial loaded the service from every node at once, each vantage point an exact share of the schedule; the figures above are of all clients together (their merge). Here each vantage point's own: ok / scheduled of its share, over the trials it measured whole (a vantage lost mid-run, its node stopped say, is left out of that trial's figure and counted as lost). Each trial's merged page (`runs/.../merged/merged.html`) says which part of the run each vantage saw fail.".into()],
        table: Some(Table { head, rows }),
        ..Default::default()
    })
}

/// What swarm did about the faults, per configuration: when it noticed, when a replacement
/// started, how many faults it never noticed. Left out when no trial has a swarm service
/// and task faults.
fn orchestrator_section(r: &ExperimentResult) -> Option<Section> {
    if !Metric::ORCHESTRATOR
        .iter()
        .any(|m| r.cells.iter().any(|c| c.stats[m].n > 0))
    {
        return None;
    }
    Some(Section {
        title: "What swarm did about the faults: mean [95 % interval]".into(),
        lines: vec![
            "From the engines' events, per trial: the mean time from each fault that hit a task to swarm's first sign of noticing it (the task unhealthy, out of memory, or dead), and to its replacement's start, over the faults it noticed; how many faults it never noticed while the run watched; for node faults, the time until the managers declared the node down; and for both, the time until clients first got an answer from a replica that was not there before the fault. A \"-\" means it did not happen in any trial: clients may still have suffered (see the table above)."
                .into(),
        ],
        table: Some(cell_table(r, &Metric::ORCHESTRATOR)),
        figures: forests(
            r,
            &[
                Metric::SwarmNoticedS,
                Metric::SwarmReplacedS,
                Metric::NodeDownS,
                Metric::ReplacementAnsweredS,
            ],
        ),
        ..Default::default()
    })
}

fn short(m: Metric, s: &Stats) -> String {
    match (s.mean, s.ci) {
        (None, _) => "-".into(),
        (Some(v), _) if no_spread(s) => format!("{} (all {})", m.show(v), s.n),
        (Some(v), Some((lo, hi))) => format!("{} [{} to {}]", m.show(v), m.show(lo), m.show(hi)),
        (Some(v), None) => m.show(v),
    }
}

/// Whether both cells of a comparison have the trials a test needs (2 each).
fn testable(r: &ExperimentResult, d: &super::results::AxisDifference) -> bool {
    r.cells[d.a - 1].done >= 2 && r.cells[d.b - 1].done >= 2
}

fn differences_section(r: &ExperimentResult) -> Section {
    let rows: Vec<Vec<String>> = r
        .differences
        .iter()
        .filter(|d| testable(r, d))
        .map(|d| {
            let dd = &d.difference;
            vec![
                d.axis.name().replace('_', " "),
                format!("cell {} -> cell {}", d.a, d.b),
                d.metric.name().into(),
                signed(d.metric, dd.diff),
                dd.ci.map_or("-".into(), |(lo, hi)| {
                    format!("{} to {}", signed(d.metric, lo), signed(d.metric, hi))
                }),
                dd.p.map_or("-".into(), |p| {
                    p_value(p).trim_start_matches("= ").to_string()
                }),
                match dd.significant() {
                    Some(true) => "more than noise".into(),
                    Some(false) => "not distinguishable".into(),
                    None if no_spread(&r.cells[d.a - 1].stats[&d.metric])
                        && no_spread(&r.cells[d.b - 1].stats[&d.metric]) =>
                    {
                        "same in every trial".into()
                    }
                    None => "-".into(),
                },
            ]
        })
        .collect();
    Section {
        title: "Differences along each axis".into(),
        lines: vec![if rows.is_empty() && !r.differences.is_empty() {
            "No comparison can be tested: a configuration needs 2 trials or more. Each difference of the means is still in experiment.json (`differences`), without an interval.".into()
        } else if rows.is_empty() {
            "No two configurations differ in one setting only: nothing to compare.".into()
        } else {
            "Between configurations that differ in one setting only: the second's mean minus the first's, Welch's 95 % interval for it and Welch's two-sided p-value. \"Not distinguishable\" means the interval includes 0 at this number of trials, not that there is no difference: more trials narrow it.".into()
        }],
        table: (!rows.is_empty()).then(|| Table {
            head: [
                "axis",
                "cells",
                "metric",
                "difference",
                "95 % CI",
                "p",
                "reading",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            rows,
        }),
        ..Default::default()
    }
}

fn hypotheses_section(r: &ExperimentResult) -> Section {
    let rows: Vec<Vec<String>> = r
        .hypotheses
        .iter()
        .map(|v| {
            vec![
                v.slo.clone(),
                match v.on {
                    super::file::On::EveryTrial => "every trial".into(),
                    super::file::On::Mean => "the mean (95 %)".into(),
                },
                format!("{} ({})", v.cell, r.cells[v.cell - 1].label),
                match v.passed {
                    Some(true) => "met".into(),
                    Some(false) => "MISSED".into(),
                    None => "not judged".into(),
                },
                v.detail.clone(),
            ]
        })
        .collect();
    Section {
        title: "Hypotheses".into(),
        lines: vec![if rows.is_empty() {
            "The experiment file states no hypothesis.".into()
        } else {
            "On every trial: each trial's run meets the objective. On the mean: the 95 % interval's worse end meets it (its lower end for availability, its upper end for times), so \"met\" is a claim made with 95 % confidence.".into()
        }],
        table: (!rows.is_empty()).then(|| Table {
            head: ["objective", "on", "cell", "verdict", "detail"]
                .into_iter()
                .map(String::from)
                .collect(),
            rows,
        }),
        ..Default::default()
    }
}

fn trials_section(r: &ExperimentResult) -> Section {
    let shown = [
        Metric::Availability,
        Metric::DowntimeS,
        Metric::Failed,
        Metric::MttrS,
        Metric::P99Ms,
    ];
    let mut head: Vec<String> = ["cell", "trial", "seed", "status"]
        .into_iter()
        .map(String::from)
        .collect();
    head.extend(shown.iter().map(|m| m.name().to_string()));
    let rows = r
        .trials
        .iter()
        .map(|t| {
            let mut row = vec![
                t.cell.to_string(),
                t.trial.to_string(),
                t.seed.to_string(),
                match t.status {
                    Status::Done if !t.faults_failed.is_empty() => {
                        "done, a FAULT FAILED (see its report)".into()
                    }
                    Status::Done if t.short_of_replicas.is_some() => {
                        "done, SHORT of replicas (see its report)".into()
                    }
                    Status::Done => "done".into(),
                    Status::Interrupted => "interrupted".into(),
                    Status::Failed => format!("failed: {}", t.error.as_deref().unwrap_or("")),
                    Status::Pending => "pending".into(),
                },
            ];
            row.extend(
                shown
                    .iter()
                    .map(|m| t.metrics[m].map_or("-".into(), |v| m.show(v))),
            );
            row
        })
        .collect();
    let paths: Vec<String> = r
        .trials
        .iter()
        .filter_map(|t| t.access_path.clone())
        .collect();
    let mut lines = vec!["Every trial in the order run. Interrupted and failed trials are left out of the statistics.".to_string()];
    let short = r
        .trials
        .iter()
        .filter(|t| t.short_of_replicas.is_some())
        .count();
    if short > 0 {
        lines.push(format!("WARNING: in {short} trial(s) fewer replicas answered before the clock started than the configuration asked for; they are kept in the statistics and marked here."));
    }
    if let Some(first) = paths.first() {
        if paths.iter().all(|p| p == first) {
            lines.push(format!("Access path (every trial): {first}."));
        } else {
            lines.push("Access paths differ between trials: see each run's report.".into());
        }
    }
    Section {
        title: "Every trial".into(),
        lines,
        table: Some(Table { head, rows }),
        links: r
            .trials
            .iter()
            .filter(|t| t.status != Status::Pending)
            .map(|t| {
                (
                    format!("cell {} trial {}: its report", t.cell, t.trial),
                    format!("{}/report.html", t.dir),
                )
            })
            .collect(),
        ..Default::default()
    }
}

fn reading() -> Section {
    Section {
        title: "How to read this".into(),
        lines: vec![
            "A trial is one whole run of a configuration; a configuration (cell) is one combination of the matrix's values. Trials are interleaved by default, so a drift of the machine over time spreads over every configuration.".into(),
            "mean: the average over the trials that had the figure (MTTR only exists in trials whose outages ended). 95 % CI: the range that covers the true mean in 95 % of experiments like this one (Student's t with n - 1 degrees of freedom), clipped to what the figure can take (0 to 100 % for an availability, never below 0 for a count or a time); it narrows with more trials. Welch's test compares two configurations without assuming equal spread.".into(),
            "availability: ok / scheduled in a run: the share of the requests the schedule asked for that succeeded. time availability: the share of the run's buckets (100 ms by default) in which at least 99 % of the scheduled requests succeeded; a bucket with a single failure among a few requests fails it, so it can be below 100 % with no downtime at all. downtime: the total length of the outages; outages: stretches in which no request succeeded (shorter than a bucket they are glitches and not counted). failed: requests that failed (errors, timeouts, refused connections). MTTR: mean time from a fault to the first success that ended its outage, over outages that ended; it runs from the fault, so it can be longer than the downtime. p99: the 99th percentile of successful requests' latency, from their intended send time.".into(),
        ],
        ..Default::default()
    }
}

/// The story's last word: the largest difference in availability that is more than noise,
/// or that none was shown.
/// Per-cell availability tiles up to this many cells; beyond, the highest and the lowest.
const MAX_CELL_TILES: usize = 4;

/// Differences along one axis the story lists one by one; beyond, it counts them.
const MAX_STORY_DIFFERENCES: usize = 6;

/// The axes these differences are along, in the order first met.
fn axes_of(ds: &[&AxisDifference]) -> Vec<super::file::Axis> {
    let mut out = Vec::new();
    for d in ds {
        if !out.contains(&d.axis) {
            out.push(d.axis);
        }
    }
    out
}

/// The largest real difference in availability, along the axis with the fewest comparisons
/// that has one (the setting under test, usually: health off or on, against five faults).
fn in_short(r: &ExperimentResult) -> String {
    let real: Vec<&AxisDifference> = r
        .differences
        .iter()
        .filter(|d| d.metric == Metric::Availability && d.difference.significant() == Some(true))
        .collect();
    let count = |axis| {
        r.differences
            .iter()
            .filter(|d| d.metric == Metric::Availability && d.axis == axis)
            .count()
    };
    // Axes tied for the fewest: the largest difference among them.
    let fewest = axes_of(&real).into_iter().map(count).min();
    let best = real
        .iter()
        .filter(|d| Some(count(d.axis)) == fewest)
        .max_by(|a, b| a.difference.diff.abs().total_cmp(&b.difference.diff.abs()));
    match best {
        Some(d) => format!("In short: {}", difference_words(d, r)),
        None if r.differences.is_empty() => {
            "In short: no two configurations differ in one setting only, so none is compared.".into()
        }
        None if !r.differences.iter().any(|d| testable(r, d)) => {
            "In short: with one trial per configuration no difference can be told from noise; read the table as single runs.".into()
        }
        None => "In short: no difference in availability between configurations is shown at this number of trials.".into(),
    }
}

/// Round tick values covering `lo..=hi`, about four of them.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|f| f * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut out = Vec::new();
    let mut v = (lo / step).ceil() * step;
    while v <= hi + step * 1e-9 && out.len() < 12 {
        out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        v += step;
    }
    out
}

/// How many characters of a cell's label fit in a line of the charts' label column.
const LABEL_CHARS: usize = 36;

/// A label in at most two lines of `max` characters: its comma-separated parts (a cell's
/// settings) packed in order, a part too long for a line cut with an ellipsis, and an
/// ellipsis where parts are left out (the whole label is the tooltip).
fn label_lines(label: &str, max: usize) -> Vec<String> {
    let cut = |s: &str| -> String {
        if s.chars().count() > max {
            s.chars().take(max - 1).collect::<String>() + "…"
        } else {
            s.to_string()
        }
    };
    let mut lines: Vec<String> = Vec::new();
    for part in label.split(", ") {
        let fits = lines
            .last()
            .is_some_and(|l| l.chars().count() + 2 + part.chars().count() <= max);
        if fits {
            let l = lines.last_mut().expect("a line to add to");
            l.push_str(", ");
            l.push_str(part);
        } else if lines.len() == 2 {
            let last = &lines[1];
            lines[1] = if last.chars().count() < max {
                format!("{last}…")
            } else {
                cut(&format!("{last}…"))
            };
            break;
        } else {
            lines.push(cut(part));
        }
    }
    lines
}

/// A forest plot: one row per cell, every trial a dot, the interval a bar, the mean a tick.
/// One row of a forest chart: its label (the title says it whole) and its figure's
/// statistics.
struct Row<'a> {
    label: String,
    title: String,
    stats: &'a Stats,
}

fn forest(m: Metric, rows: &[Row]) -> String {
    let (w, row, left, right) = (720.0, 30.0, 230.0, 40.0);
    let h = row * rows.len() as f64 + 40.0;
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for Row { stats: s, .. } in rows {
        for v in s
            .values
            .iter()
            .flatten()
            .chain(s.ci.iter().flat_map(|(a, b)| [a, b]))
        {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
    }
    if !lo.is_finite() {
        return String::new();
    }
    if hi - lo < 1e-12 {
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    }
    let pad = (hi - lo) * 0.05;
    let (floor, ceiling) = m.range();
    let (lo, hi) = ((lo - pad).max(floor), (hi + pad).min(ceiling));
    let x = |v: f64| left + (v - lo) / (hi - lo) * (w - left - right);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    for v in ticks(lo, hi) {
        let xv = x(v);
        svg.push_str(&format!(
            "<line x1=\"{xv:.1}\" y1=\"10\" x2=\"{xv:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{xv:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            h - 25.0,
            h - 10.0,
            escape(&m.show(v))
        ));
    }
    for (i, r) in rows.iter().enumerate() {
        let (label, title, s) = (&r.label, &r.title, r.stats);
        let y = 25.0 + row * i as f64;
        let lines = label_lines(label, LABEL_CHARS);
        let first_y = y + 4.0 - 6.0 * (lines.len() as f64 - 1.0);
        let spans: String = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                format!(
                    "<tspan x=\"4\" y=\"{:.1}\">{}</tspan>",
                    first_y + 12.0 * i as f64,
                    escape(l)
                )
            })
            .collect();
        svg.push_str(&format!(
            "<text fill=\"#222\" font-size=\"{}\"><title>{}</title>{spans}</text>",
            if lines.len() > 1 { 11 } else { 12 },
            escape(title),
        ));
        if let Some((a, b)) = s.ci {
            svg.push_str(&format!(
                "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#4a7ab5\" stroke-width=\"6\" stroke-opacity=\"0.35\"/>",
                x(a),
                x(b)
            ));
        }
        for v in s.values.iter().flatten() {
            svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"#222\" fill-opacity=\"0.6\"><title>{}</title></circle>",
                x(*v),
                escape(&m.show(*v))
            ));
        }
        if let Some(mean) = s.mean {
            let xm = x(mean);
            svg.push_str(&format!(
                "<line x1=\"{xm:.1}\" y1=\"{:.1}\" x2=\"{xm:.1}\" y2=\"{:.1}\" stroke=\"#b00\" stroke-width=\"2\"/>",
                y - 9.0,
                y + 9.0
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::label_lines;

    #[test]
    fn long_labels_wrap_at_a_comma_into_two_lines_and_keep_what_differs() {
        assert_eq!(label_lines("1. replicas 1", 36), ["1. replicas 1"]);
        let l = label_lines(
            "8. faults signal:SIGSTOP,at=5s,for=10s, health every 1s, 2 retries, timeout 1s",
            36,
        );
        assert_eq!(l.len(), 2);
        assert!(l.iter().all(|x| x.chars().count() <= 36), "{l:?}");
        assert!(l[0].starts_with("8. faults signal:SIGSTOP"), "{l:?}");
        assert!(l[1].starts_with("health every 1s"), "{l:?}");
        // One long part: cut at the width.
        let l = label_lines(&"x".repeat(80), 36);
        assert_eq!(l, [format!("{}…", "x".repeat(35))]);
        // More parts than two lines hold: the last line says some are left out.
        let l = label_lines(
            "aaaaaaaaaa, bbbbbbbbbb, cccccccccc, dddddddddd, eeeeeeeeee",
            24,
        );
        assert_eq!(l, ["aaaaaaaaaa, bbbbbbbbbb", "cccccccccc, dddddddddd…"]);
    }
}
