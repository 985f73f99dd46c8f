//! What an experiment found: each trial's figures (read from its run's summary.json, and for
//! a run loaded from several vantage points from their merge), each cell's statistics, the
//! differences along each axis, and the hypotheses' verdicts: `experiment.json`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::file::{Axis, On, Order};
use super::plan::{Hypothesis, Plan, Planned};
use super::stats::{Difference, Stats};
use crate::merge::Merged;
use crate::slo::{Figures, Quantiles, SloResult};
use crate::summary::Summary;

/// What one trial's run left to take figures from: its own summary and, when it loaded from
/// several vantage points (`vantage` in `[run]`), their merge. The merge's figures are what
/// all clients saw, so they are the trial's; what swarm did, and the replicas it saw, stay the
/// coordinator's own record.
#[derive(Debug, Clone, Copy)]
pub struct TrialRun<'a> {
    pub summary: &'a Summary,
    pub merged: Option<&'a Merged>,
}

impl<'a> TrialRun<'a> {
    /// A run that loaded from where it ran alone.
    pub fn alone(summary: &'a Summary) -> Self {
        Self {
            summary,
            merged: None,
        }
    }

    /// The figures a hypothesis is judged on.
    fn figures(&self) -> Figures {
        let Some(m) = self.merged.map(|m| &m.merged) else {
            return crate::summary::figures(self.summary);
        };
        Figures {
            availability: m.availability_scheduled,
            time_availability: m.availability_time,
            latency_ms: crate::summary::quantiles(&m.latency_ms),
            downtime_s: m.downtime.total_s,
            mttr_s: m.downtime.mttr_s,
            unrecovered: self.unrecovered(),
        }
    }

    /// An outage was still open at the end (it has no recovery time).
    fn unrecovered(&self) -> bool {
        match self.merged {
            Some(m) => m.merged.downtime.windows.iter().any(|w| w.open),
            None => self.summary.downtime.windows.iter().any(|w| w.open),
        }
    }
}

/// One vantage point of a trial loaded from several: its availability (ok / scheduled), none
/// when it was lost mid-run (its figures cover part of the run only).
#[derive(Debug, Clone, Serialize)]
pub struct VantageFigure {
    pub name: String,
    pub availability: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_at_s: Option<f64>,
}

/// The version of `experiment.json`'s layout.
pub const SCHEMA_VERSION: u32 = 1;

/// A figure taken from every trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// ok / scheduled.
    Availability,
    TimeAvailability,
    DowntimeS,
    Outages,
    MttrS,
    Failed,
    P50Ms,
    P90Ms,
    P99Ms,
    P999Ms,
    MaxMs,
    RestartsSeen,
    /// Mean over the trial's task faults of the time from the fault to swarm's first sign
    /// of noticing (unhealthy, OOM or a death), over the faults it noticed.
    SwarmNoticedS,
    /// Mean over the trial's task faults of the time to the replacement's start.
    SwarmReplacedS,
    /// The trial's task faults swarm never noticed while the run watched.
    FaultsUnnoticed,
    /// Mean over the trial's node faults of the time until the managers declared the node
    /// down.
    NodeDownS,
    /// Mean over the trial's task and node faults of the time from the fault to the first
    /// answer clients got from a replica that was not there before it (before the next
    /// fault), over the faults that had one.
    ReplacementAnsweredS,
}

impl Metric {
    pub const ALL: [Metric; 17] = [
        Metric::Availability,
        Metric::TimeAvailability,
        Metric::DowntimeS,
        Metric::Outages,
        Metric::MttrS,
        Metric::Failed,
        Metric::P50Ms,
        Metric::P90Ms,
        Metric::P99Ms,
        Metric::P999Ms,
        Metric::MaxMs,
        Metric::RestartsSeen,
        Metric::SwarmNoticedS,
        Metric::SwarmReplacedS,
        Metric::FaultsUnnoticed,
        Metric::NodeDownS,
        Metric::ReplacementAnsweredS,
    ];

    /// What swarm did about the faults (a trial with a swarm service and task or node
    /// faults).
    pub const ORCHESTRATOR: [Metric; 5] = [
        Metric::SwarmNoticedS,
        Metric::SwarmReplacedS,
        Metric::FaultsUnnoticed,
        Metric::NodeDownS,
        Metric::ReplacementAnsweredS,
    ];

    /// The ones the pages show and compare along each axis.
    pub const SHOWN: [Metric; 7] = [
        Metric::Availability,
        Metric::TimeAvailability,
        Metric::DowntimeS,
        Metric::Outages,
        Metric::MttrS,
        Metric::Failed,
        Metric::P99Ms,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Availability => "availability",
            Metric::TimeAvailability => "time availability",
            Metric::DowntimeS => "downtime",
            Metric::Outages => "outages",
            Metric::MttrS => "MTTR",
            Metric::Failed => "failed",
            Metric::P50Ms => "p50",
            Metric::P90Ms => "p90",
            Metric::P99Ms => "p99",
            Metric::P999Ms => "p99.9",
            Metric::MaxMs => "max",
            Metric::RestartsSeen => "restarts seen",
            Metric::SwarmNoticedS => "swarm noticed after",
            Metric::SwarmReplacedS => "replacement started after",
            Metric::FaultsUnnoticed => "faults swarm missed",
            Metric::NodeDownS => "node declared down after",
            Metric::ReplacementAnsweredS => "a replacement answered after",
        }
    }

    /// The value as people read it.
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::Availability | Metric::TimeAvailability => format!("{:.3} %", v * 100.0),
            Metric::DowntimeS
            | Metric::MttrS
            | Metric::SwarmNoticedS
            | Metric::SwarmReplacedS
            | Metric::NodeDownS
            | Metric::ReplacementAnsweredS => format!("{v:.3} s"),
            Metric::Outages | Metric::Failed | Metric::RestartsSeen | Metric::FaultsUnnoticed => {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            }
            _ => format!("{v:.1} ms"),
        }
    }

    /// What the figure can take: an interval is clipped to it (Student's t knows no bounds).
    pub fn range(self) -> (f64, f64) {
        match self {
            Metric::Availability | Metric::TimeAvailability => (0.0, 1.0),
            _ => (0.0, f64::INFINITY),
        }
    }

    fn of(self, r: &TrialRun) -> Option<f64> {
        let s = r.summary;
        if let Some(m) = r.merged.map(|m| &m.merged) {
            let l = &m.latency_ms;
            let merged = match self {
                Metric::Availability => Some(m.availability_scheduled),
                Metric::TimeAvailability => Some(m.availability_time),
                Metric::DowntimeS => Some(Some(m.downtime.total_s)),
                Metric::Outages => Some(Some(m.downtime.windows.len() as f64)),
                Metric::MttrS => Some(m.downtime.mttr_s),
                Metric::Failed => Some(Some(m.failed as f64)),
                Metric::P50Ms => Some(l.p50),
                Metric::P90Ms => Some(l.p90),
                Metric::P99Ms => Some(l.p99),
                Metric::P999Ms => Some(l.p999),
                Metric::MaxMs => Some(l.max),
                _ => None,
            };
            if let Some(v) = merged {
                return v;
            }
        }
        let l = &s.latency_ms;
        match self {
            Metric::Availability => s.availability.scheduled,
            Metric::TimeAvailability => s.availability.time,
            Metric::DowntimeS => Some(s.downtime.total_s),
            Metric::Outages => Some(s.downtime.windows.len() as f64),
            Metric::MttrS => s.mttr_s,
            Metric::Failed => Some(s.counts.failed as f64),
            Metric::P50Ms => l.p50,
            Metric::P90Ms => l.p90,
            Metric::P99Ms => l.p99,
            Metric::P999Ms => l.p999,
            Metric::MaxMs => l.max,
            Metric::RestartsSeen => Some(s.restarts_seen as f64),
            Metric::SwarmNoticedS => mean(task_faults(s).filter_map(|r| r.noticed_s)),
            Metric::SwarmReplacedS => mean(task_faults(s).filter_map(|r| r.started_s)),
            Metric::FaultsUnnoticed => {
                let mut faults = task_faults(s).peekable();
                faults.peek()?;
                Some(faults.filter(|r| r.noticed_s.is_none()).count() as f64)
            }
            Metric::NodeDownS => mean(s.faults.iter().filter_map(|f| f.node.as_ref()?.down_s)),
            Metric::ReplacementAnsweredS => mean(replacements_answered(s)),
        }
    }
}

/// For each task or node fault that had one: the time from the fault to clients' first
/// answer from a replica first seen after it and before the next fault (a node fault's own
/// analysis gives it; a task fault's comes from the replicas clients saw).
fn replacements_answered(s: &Summary) -> impl Iterator<Item = f64> + '_ {
    s.faults.iter().enumerate().filter_map(|(i, f)| {
        if let Some(n) = &f.node {
            return n.replacement_answered_s;
        }
        f.swarm.as_ref()?;
        if !(f.kind.is_container() || f.kind == crate::fault::Kind::Http) {
            return None;
        }
        let until = s.faults.get(i + 1).map_or(f64::INFINITY, |next| next.at_s);
        s.instances
            .iter()
            .map(|r| r.first_seen_s)
            .filter(|t| *t > f.at_s && *t < until)
            .min_by(f64::total_cmp)
            .map(|t| ((t - f.at_s) * 1e3).round() / 1e3)
    })
}

/// What swarm did after each fault that hit the service's tasks (none without a swarm
/// service).
fn task_faults(s: &Summary) -> impl Iterator<Item = &crate::analysis::orchestrator::SwarmRecovery> {
    s.faults
        .iter()
        .filter(|f| f.kind.is_container() || f.kind == crate::fault::Kind::Http)
        .filter_map(|f| f.swarm.as_ref())
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| super::stats::mean(&v))
}

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Done,
    /// Stopped by Ctrl-C: its figures cover part of the run and are left out.
    Interrupted,
    /// The run failed (see `error`): no figures.
    Failed,
    /// Not run (yet).
    Pending,
}

/// One trial.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    /// 1-based, as the pages number cells.
    pub cell: usize,
    pub trial: u32,
    pub seed: u64,
    pub dir: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub access_path: Option<String>,
    pub metrics: BTreeMap<Metric, Option<f64>>,
    /// An outage was still open at the end (it has no recovery time).
    pub unrecovered: bool,
    /// Fewer replicas than asked answered before the clock started: this trial measured
    /// fewer (said, never silently).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_of_replicas: Option<String>,
    /// Faults that did not take effect ("SPEC: what happened"): the trial measured a run
    /// without them (said, never silently).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults_failed: Vec<String>,
    /// A trial loaded from several vantage points: each one's own availability (its figures
    /// above are their merge's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vantages: Vec<VantageFigure>,
    #[serde(skip)]
    pub figures: Option<Figures>,
}

impl Trial {
    pub fn of(p: &Planned, status: Status, error: Option<String>, run: Option<TrialRun>) -> Self {
        let summary = run.map(|r| r.summary);
        Trial {
            cell: p.cell + 1,
            trial: p.trial,
            seed: p.seed,
            dir: p.dir.display().to_string(),
            status,
            error,
            access_path: run.map(|r| match r.merged {
                Some(m) => m.access_path.clone(),
                None => r.summary.access_path.clone(),
            }),
            metrics: Metric::ALL
                .iter()
                .map(|m| (*m, run.and_then(|r| m.of(&r))))
                .collect(),
            unrecovered: run.is_some_and(|r| r.unrecovered()),
            short_of_replicas: summary
                .and_then(|s| s.swarm.as_ref()?.answering.clone())
                .filter(|a| a.short())
                .map(|a| a.describe()),
            faults_failed: summary.map_or_else(Vec::new, |s| {
                s.faults
                    .iter()
                    .filter(|f| !f.ok)
                    .map(|f| format!("{}: {}", f.spec, f.outcome))
                    .collect()
            }),
            vantages: run.and_then(|r| r.merged).map_or_else(Vec::new, |m| {
                m.vantages
                    .iter()
                    .map(|v| VantageFigure {
                        name: v.name.clone(),
                        availability: v
                            .lost_at_s
                            .is_none()
                            .then_some(v.availability_scheduled)
                            .flatten(),
                        lost_at_s: v.lost_at_s,
                    })
                    .collect()
            }),
            figures: run.map(|r| r.figures()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CellResult {
    /// 1-based, as the pages number cells.
    pub cell: usize,
    pub label: String,
    pub settings: BTreeMap<Axis, String>,
    /// Trials done (with figures).
    pub done: usize,
    pub stats: BTreeMap<Metric, Stats>,
    /// Trials loaded from several vantage points: each vantage's availability over the
    /// trials it measured whole.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_vantage: BTreeMap<String, Stats>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AxisDifference {
    pub axis: Axis,
    /// Cells (1-based): `b` minus `a`.
    pub a: usize,
    pub b: usize,
    pub metric: Metric,
    #[serde(flatten)]
    pub difference: Difference,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub slo: String,
    pub on: On,
    pub cell: usize,
    /// None when it cannot be judged (no trial done; below 2 trials for a mean).
    pub passed: Option<bool>,
    pub detail: String,
}

/// `experiment.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResult {
    pub schema_version: u32,
    pub tool: String,
    pub name: String,
    pub description: String,
    pub file: String,
    /// Every trial done.
    pub complete: bool,
    pub interrupted: bool,
    pub trials_per_cell: u32,
    pub order: Order,
    pub seed: u64,
    /// The service's tasks were spread afresh before every trial.
    pub rebalance: bool,
    pub unit_of_replication: &'static str,
    pub confidence: f64,
    pub cells: Vec<CellResult>,
    pub trials: Vec<Trial>,
    pub differences: Vec<AxisDifference>,
    pub hypotheses: Vec<Verdict>,
    /// What the experiment did to the service at its end.
    pub service: Option<String>,
}

impl ExperimentResult {
    pub fn of(plan: &Plan, trials: Vec<Trial>, interrupted: bool, service: Option<String>) -> Self {
        let cells: Vec<CellResult> = plan
            .cells
            .iter()
            .map(|c| {
                let mine: Vec<&Trial> = trials
                    .iter()
                    .filter(|t| t.cell == c.index + 1 && t.status == Status::Done)
                    .collect();
                CellResult {
                    cell: c.index + 1,
                    label: c.label(),
                    settings: c
                        .settings
                        .iter()
                        .map(|(a, s)| (*a, s.to_string()))
                        .collect(),
                    done: mine.len(),
                    stats: Metric::ALL
                        .iter()
                        .map(|m| {
                            let values = mine.iter().map(|t| t.metrics[m]).collect();
                            (*m, Stats::of(values).clipped(m.range()))
                        })
                        .collect(),
                    by_vantage: by_vantage(&mine),
                }
            })
            .collect();
        let mut differences = Vec::new();
        let axes: Vec<Axis> = plan
            .cells
            .first()
            .map(|c| c.settings.iter().map(|(a, _)| *a).collect())
            .unwrap_or_default();
        for axis in axes {
            for a in &plan.cells {
                for b in plan.cells.iter().filter(|b| b.index > a.index) {
                    if !a.differs_only_in(b, axis) {
                        continue;
                    }
                    for m in Metric::SHOWN.into_iter().chain(Metric::ORCHESTRATOR) {
                        if let Some(d) = Difference::between(
                            &cells[a.index].stats[&m],
                            &cells[b.index].stats[&m],
                        ) {
                            differences.push(AxisDifference {
                                axis,
                                a: a.index + 1,
                                b: b.index + 1,
                                metric: m,
                                difference: d,
                            });
                        }
                    }
                }
            }
        }
        let hypotheses = plan
            .hypotheses
            .iter()
            .flat_map(|h| {
                plan.cells
                    .iter()
                    .filter(|c| h.applies_to(c))
                    .map(|c| judge(h, c.index, &trials, &cells[c.index]))
                    .collect::<Vec<_>>()
            })
            .collect();
        let complete = trials.iter().all(|t| t.status == Status::Done);
        ExperimentResult {
            schema_version: SCHEMA_VERSION,
            tool: format!("chaos-runner {}", env!("CARGO_PKG_VERSION")),
            name: plan.name.clone(),
            description: plan.description.clone(),
            file: plan.file.display().to_string(),
            complete,
            interrupted,
            trials_per_cell: plan.trials,
            order: plan.order,
            seed: plan.seed,
            rebalance: plan.rebalance,
            unit_of_replication: "a trial: one whole run of the cell's configuration; every statistic is over trials, never over requests",
            confidence: super::stats::CONFIDENCE,
            cells,
            trials,
            differences,
            hypotheses,
            service,
        }
    }

    /// Whether a hypothesis was missed (exit 3).
    pub fn missed(&self) -> bool {
        self.hypotheses.iter().any(|v| v.passed == Some(false))
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let p = dir.join("experiment.json");
        std::fs::write(&p, serde_json::to_vec_pretty(self)?)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", p.display()))
    }
}

/// Each vantage's availability over the trials that had it (a lost one counts as not
/// measured in that trial).
fn by_vantage(trials: &[&Trial]) -> BTreeMap<String, Stats> {
    let mut values: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for t in trials {
        for v in &t.vantages {
            values
                .entry(v.name.clone())
                .or_default()
                .push(v.availability);
        }
    }
    values
        .into_iter()
        .map(|(name, v)| (name, Stats::of(v).clipped(Metric::Availability.range())))
        .collect()
}

/// The figure a rule is about.
fn rule_metric(r: &crate::slo::Rule) -> Metric {
    use crate::slo::{Quantile, Rule};
    match r {
        Rule::Availability(_) => Metric::Availability,
        Rule::TimeAvailability(_) => Metric::TimeAvailability,
        Rule::Downtime(_) => Metric::DowntimeS,
        Rule::Mttr(_) => Metric::MttrS,
        Rule::Latency { quantile, .. } => match quantile {
            Quantile::P50 => Metric::P50Ms,
            Quantile::P90 => Metric::P90Ms,
            Quantile::P99 => Metric::P99Ms,
            Quantile::P999 => Metric::P999Ms,
            Quantile::Max => Metric::MaxMs,
        },
    }
}

fn judge(h: &Hypothesis, cell: usize, trials: &[Trial], stats: &CellResult) -> Verdict {
    let mine: Vec<&Trial> = trials
        .iter()
        .filter(|t| t.cell == cell + 1 && t.status == Status::Done)
        .collect();
    let verdict = |passed: Option<bool>, detail: String| Verdict {
        slo: h.slo.text.clone(),
        on: h.on,
        cell: cell + 1,
        passed,
        detail,
    };
    if mine.is_empty() {
        return verdict(None, "no trial done".into());
    }
    match h.on {
        On::EveryTrial => {
            let results: Vec<SloResult> = mine
                .iter()
                .filter_map(|t| t.figures.as_ref().map(|f| h.slo.check(f)))
                .collect();
            let met = results.iter().filter(|r| r.passed).count();
            verdict(
                Some(met == results.len()),
                format!("{met} of {} trials met it", results.len()),
            )
        }
        On::Mean => {
            let s = &stats.stats;
            let worse =
                |m: Metric, ratio: bool| s[&m].ci.map(|(lo, hi)| if ratio { lo } else { hi });
            // Every figure the objective names needs an interval (2 trials that had it).
            let named: Vec<Metric> = h.slo.rules.iter().map(rule_metric).collect();
            if let Some(m) = named.iter().find(|m| s[m].ci.is_none()) {
                return verdict(
                    None,
                    format!(
                        "{} of {} trial(s) had a {}: too few for an interval, not judged",
                        s[m].n,
                        mine.len(),
                        m.name()
                    ),
                );
            }
            let f = Figures {
                availability: worse(Metric::Availability, true),
                time_availability: worse(Metric::TimeAvailability, true),
                latency_ms: Quantiles {
                    p50: worse(Metric::P50Ms, false),
                    p90: worse(Metric::P90Ms, false),
                    p99: worse(Metric::P99Ms, false),
                    p999: worse(Metric::P999Ms, false),
                    max: worse(Metric::MaxMs, false),
                },
                downtime_s: worse(Metric::DowntimeS, false).unwrap_or(f64::INFINITY),
                mttr_s: worse(Metric::MttrS, false),
                unrecovered: mine.iter().any(|t| t.unrecovered),
            };
            let r = h.slo.check(&f);
            let said: Vec<String> = r
                .checks
                .iter()
                .map(|c| {
                    let m = match c.what {
                        crate::slo::SloMetric::Availability => Metric::Availability,
                        crate::slo::SloMetric::TimeAvailability => Metric::TimeAvailability,
                        crate::slo::SloMetric::DowntimeS => Metric::DowntimeS,
                        crate::slo::SloMetric::MttrS => Metric::MttrS,
                        crate::slo::SloMetric::P50Ms => Metric::P50Ms,
                        crate::slo::SloMetric::P90Ms => Metric::P90Ms,
                        crate::slo::SloMetric::P99Ms => Metric::P99Ms,
                        crate::slo::SloMetric::P999Ms => Metric::P999Ms,
                        crate::slo::SloMetric::MaxMs => Metric::MaxMs,
                    };
                    format!(
                        "{}: the interval's worse end {} against {}",
                        m.name(),
                        c.actual.map_or("-".into(), |v| m.show(v)),
                        m.show(c.limit)
                    )
                })
                .collect();
            verdict(Some(r.passed), said.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric_of(m: Metric, s: &Summary) -> Option<f64> {
        m.of(&TrialRun::alone(s))
    }

    /// A committed run of the failure spectrum: its summary, typed and as plain JSON.
    fn spectrum(run: &str) -> (Summary, serde_json::Value) {
        committed(&format!("failure-spectrum/{run}"))
    }

    /// A committed run under results/: its summary, typed and as plain JSON.
    fn committed(run: &str) -> (Summary, serde_json::Value) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../results")
            .join(run)
            .join("summary.json");
        let text = std::fs::read_to_string(&path).unwrap();
        (
            serde_json::from_str(&text).unwrap(),
            serde_json::from_str(&text).unwrap(),
        )
    }

    #[test]
    fn orchestrator_metrics_are_what_the_run_recorded_per_fault() {
        for run in [
            "kill/health-off/1-replica",
            "sigstop/health-on/1-replica",
            "pause/health-off/3-replicas",
            "hang/health-off/3-replicas",
        ] {
            let (s, raw) = spectrum(run);
            let faults = raw["faults"].as_array().unwrap();
            let of = |key: &str| -> Vec<f64> {
                faults
                    .iter()
                    .filter_map(|f| f["swarm"][key].as_f64())
                    .collect()
            };
            let avg = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            assert_eq!(
                metric_of(Metric::SwarmNoticedS, &s),
                avg(of("noticed_s")),
                "{run}"
            );
            assert_eq!(
                metric_of(Metric::SwarmReplacedS, &s),
                avg(of("started_s")),
                "{run}"
            );
            let missed = faults
                .iter()
                .filter(|f| f["swarm"]["noticed_s"].is_null())
                .count();
            assert_eq!(
                metric_of(Metric::FaultsUnnoticed, &s),
                Some(missed as f64),
                "{run}"
            );
        }
        // What the spectrum teaches, as the metrics say it: a kill is noticed at once, a
        // pause and a hang never (without a health check).
        assert_eq!(
            metric_of(
                Metric::FaultsUnnoticed,
                &spectrum("kill/health-off/1-replica").0
            ),
            Some(0.0)
        );
        assert_eq!(
            metric_of(
                Metric::FaultsUnnoticed,
                &spectrum("pause/health-off/3-replicas").0
            ),
            Some(1.0)
        );
        assert_eq!(
            metric_of(
                Metric::SwarmNoticedS,
                &spectrum("hang/health-off/3-replicas").0
            ),
            None
        );
    }

    #[test]
    fn node_and_replacement_metrics_are_what_the_runs_recorded() {
        // The lab's node faults: cell 1 kills a task, cells 2 to 4 stop, cut off and drain
        // node-1.
        for cell in 1..=4 {
            for trial in 1..=5 {
                let run = format!("experiments/node-faults/runs/cell-{cell:02}/trial-{trial:02}");
                let (s, j) = committed(&run);
                let f = &j["faults"][0];
                assert_eq!(j["faults"].as_array().unwrap().len(), 1, "{run}");
                if cell == 1 {
                    assert_eq!(metric_of(Metric::NodeDownS, &s), None, "{run}");
                    // Independently: the first replica first seen after the kill.
                    let at = f["at_s"].as_f64().unwrap();
                    let first = j["instances"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i["first_seen_s"].as_f64().unwrap())
                        .filter(|t| *t > at)
                        .fold(f64::INFINITY, f64::min);
                    let want = first
                        .is_finite()
                        .then(|| ((first - at) * 1e3).round() / 1e3);
                    assert_eq!(metric_of(Metric::ReplacementAnsweredS, &s), want, "{run}");
                } else {
                    assert_eq!(
                        metric_of(Metric::NodeDownS, &s),
                        f["node"]["down_s"].as_f64(),
                        "{run}"
                    );
                    assert_eq!(
                        metric_of(Metric::ReplacementAnsweredS, &s),
                        f["node"]["replacement_answered_s"].as_f64(),
                        "{run}"
                    );
                }
            }
        }
        // A stopped node is declared down after the managers' grace; a killed task's
        // replacement answers within the run.
        let stop = committed("experiments/node-faults/runs/cell-02/trial-01").0;
        assert!(metric_of(Metric::NodeDownS, &stop).unwrap() > 5.0);
        let kill = spectrum("kill/health-off/1-replica").0;
        assert!(metric_of(Metric::ReplacementAnsweredS, &kill).is_some());
        // A pause is never replaced (without a health check).
        let pause = spectrum("pause/health-off/3-replicas").0;
        assert_eq!(metric_of(Metric::ReplacementAnsweredS, &pause), None);
    }

    #[test]
    fn without_a_swarm_service_there_is_no_orchestrator_figure() {
        let (mut s, _) = spectrum("kill/health-off/1-replica");
        for f in &mut s.faults {
            f.swarm = None;
        }
        s.swarm = None;
        for m in Metric::ORCHESTRATOR {
            assert_eq!(metric_of(m, &s), None, "{m:?}");
        }
    }

    #[test]
    fn a_fault_that_did_not_take_effect_marks_its_trial() {
        let p = Planned {
            cell: 0,
            trial: 1,
            seed: 1,
            dir: "runs/cell-01/trial-01".into(),
        };
        let (mut s, _) = spectrum("kill/health-off/1-replica");
        let t = Trial::of(&p, Status::Done, None, Some(TrialRun::alone(&s)));
        assert!(t.faults_failed.is_empty());
        s.faults[0].ok = false;
        s.faults[0].outcome = "GET /chaos?hang=10s: 10.0.1.20:8080: HTTP 403".into();
        let t = Trial::of(&p, Status::Done, None, Some(TrialRun::alone(&s)));
        assert_eq!(t.faults_failed.len(), 1);
        assert!(t.faults_failed[0].ends_with(": GET /chaos?hang=10s: 10.0.1.20:8080: HTTP 403"));
        assert!(t.faults_failed[0].starts_with(&s.faults[0].spec));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["faults_failed"][0], t.faults_failed[0].as_str());
    }

    /// A trial loaded from every node (the committed `run --vantage global` of a partition):
    /// its client-side figures are the merge's, read from merged.json here, not the
    /// coordinator's own quarter; what swarm did is the coordinator's record; each vantage
    /// keeps its availability, and a cell's statistics give each vantage's.
    #[test]
    fn a_coordinated_trial_s_figures_are_its_merge_s_and_swarm_s_the_coordinator_s() {
        let run = "multi-node/vantage-global/coordinator";
        let (s, own) = committed(run);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../results")
            .join(run)
            .join("merged");
        let m = crate::merge::read(&dir).unwrap();
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("merged.json")).unwrap())
                .unwrap();
        let g = &raw["merged"];
        let p = Planned {
            cell: 0,
            trial: 1,
            seed: 1,
            dir: "runs/cell-01/trial-01".into(),
        };
        let run = TrialRun {
            summary: &s,
            merged: Some(&m),
        };
        let t = Trial::of(&p, Status::Done, None, Some(run));
        let v = |k: &Metric| t.metrics[k];
        assert_eq!(
            v(&Metric::Availability),
            g["availability_scheduled"].as_f64()
        );
        assert_ne!(
            v(&Metric::Availability),
            own["availability"]["scheduled"].as_f64(),
            "not the coordinator's own"
        );
        assert_eq!(
            v(&Metric::TimeAvailability),
            g["availability_time"].as_f64()
        );
        assert_eq!(v(&Metric::Failed), g["failed"].as_f64());
        assert_eq!(v(&Metric::P99Ms), g["latency_ms"]["p99"].as_f64());
        assert_eq!(v(&Metric::DowntimeS), g["downtime"]["total_s"].as_f64());
        assert_eq!(v(&Metric::Outages), Some(0.0));
        assert_eq!(
            v(&Metric::MttrS),
            None,
            "no merged window, no time to restore"
        );
        assert_eq!(v(&Metric::NodeDownS), metric_of(Metric::NodeDownS, &s));
        assert!(
            v(&Metric::NodeDownS).is_some(),
            "the managers declared node-1 down"
        );
        let f = t.figures.as_ref().unwrap();
        assert_eq!(f.availability, g["availability_scheduled"].as_f64());
        let names: Vec<&str> = t.vantages.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["coordinator", "node-0", "node-1", "node-2"]);
        for (x, y) in t.vantages.iter().zip(raw["vantages"].as_array().unwrap()) {
            assert_eq!(x.availability, y["availability_scheduled"].as_f64());
        }
        let stats = by_vantage(&[&t, &t]);
        assert_eq!(stats.len(), 4);
        assert_eq!(stats["node-1"].mean, t.vantages[2].availability);
    }
}
