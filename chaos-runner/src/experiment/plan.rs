//! The plan of an experiment: its cells (every combination of the matrix's values), the
//! order of their trials, each trial's seed and directory, and each trial's run
//! configuration, checked by the same parser and checks as `chaos-runner run`'s command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use super::file::{line_of, Axis, ExperimentFile, On, Order};
use super::settings::Setting;
use crate::cli::{Cli, Command, RunArgs};
use crate::config::RunConfig;
use crate::exit::UsageError;
use crate::slo::Slo;

/// `[run]` fields the experiment sets itself.
pub(super) const OWN_FIELDS: [&str; 7] = [
    "out",
    "force",
    "label",
    "live",
    "live-linger",
    "keep-changes",
    "quiet",
];

/// `[run]` fields a file cannot have: one moment cannot start every trial.
pub(super) const ONCE_ONLY_FIELDS: [&str; 1] = ["start-at"];

/// `[run]` fields of one run that streams to a gatherer (`run --stream-to`), or is a
/// coordinator's load task, which an experiment's trials are not (a trial can coordinate
/// load tasks itself: `vantage`).
pub(super) const STREAM_FIELDS: [&str; 5] = [
    "stream-to",
    "stream-name",
    "stream-token",
    "stream-lost-after",
    "shares-by-node",
];

/// One combination of the matrix's values.
#[derive(Debug, Clone)]
pub struct Cell {
    pub index: usize,
    pub settings: Vec<(Axis, Setting)>,
    /// Axes whose value is the same in every cell: left out of the label.
    pub fixed: Vec<Axis>,
}

impl Cell {
    /// "replicas 1, health off": the settings that vary between cells (all of them when
    /// none does; "as configured" without a matrix).
    pub fn label(&self) -> String {
        if self.settings.is_empty() {
            return "as configured".into();
        }
        let varying = self.settings.iter().any(|(a, _)| !self.fixed.contains(a));
        let parts: Vec<String> = self
            .settings
            .iter()
            .filter(|(a, _)| !varying || !self.fixed.contains(a))
            .map(|(a, s)| format!("{} {s}", a.name().replace('_', " ")))
            .collect();
        parts.join(", ")
    }

    pub fn get(&self, axis: Axis) -> Option<&Setting> {
        self.settings
            .iter()
            .find(|(a, _)| *a == axis)
            .map(|(_, s)| s)
    }

    /// Whether it differs from `other` on `axis` only.
    pub fn differs_only_in(&self, other: &Cell, axis: Axis) -> bool {
        self.settings
            .iter()
            .zip(&other.settings)
            .all(|((a, x), (_, y))| (*a == axis) != (x == y))
    }
}

/// One trial of one cell, where it is written and with which seed.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub cell: usize,
    /// 1-based.
    pub trial: u32,
    pub seed: u64,
    /// Relative to the experiment's directory.
    pub dir: PathBuf,
}

/// A hypothesis, checked.
#[derive(Debug, Clone)]
pub struct Hypothesis {
    pub slo: Slo,
    pub on: On,
    /// Only cells whose setting on the axis reads as this.
    pub only: Vec<(Axis, String)>,
}

impl Hypothesis {
    pub fn applies_to(&self, c: &Cell) -> bool {
        self.only.iter().all(|(a, v)| {
            c.get(*a).is_some_and(|s| {
                // As written in the matrix (5, "200", "off", "0s") or as the label says it.
                let raw = match s {
                    Setting::Replicas(n) => Some(n.to_string()),
                    Setting::Rate(r) => Some(r.clone()),
                    Setting::RestartDelay(d) | Setting::Timeout(d) => crate::parse::duration(v)
                        .ok()
                        .map(|w| if w == *d { v.clone() } else { String::new() }),
                    Setting::Memory(b) => super::settings::memory_limit(v).ok().map(|w| {
                        if w == *b {
                            v.clone()
                        } else {
                            String::new()
                        }
                    }),
                    _ => None,
                };
                raw.as_deref() == Some(v.as_str()) || s.to_string() == *v
            })
        })
    }
}

/// The whole plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub file: PathBuf,
    pub cells: Vec<Cell>,
    pub trials: u32,
    pub order: Order,
    pub seed: u64,
    pub hypotheses: Vec<Hypothesis>,
    /// `[run]` as `chaos-runner run` arguments (the URL first).
    base: Vec<String>,
    /// Each flag `[run]` sets, and the line it is set on.
    lines: FlagLines,
    /// The swarm service, when `[run]` names one.
    pub swarm_service: Option<String>,
    /// The length of each run, when it has one.
    pub run_length: Option<Duration>,
    /// The service's tasks are spread afresh before every trial.
    pub rebalance: bool,
}

/// splitmix64: a trial's seed from the experiment's, the cell's and the trial's numbers.
fn mix(seed: u64, cell: usize, trial: u32) -> u64 {
    let mut z = seed
        .wrapping_add((cell as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(u64::from(trial).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Each flag `[run]` sets, and its line.
type FlagLines = Vec<(String, usize)>;

/// `[run]`'s fields as command-line arguments, and the line of each flag.
fn base_args(run: &toml::Table, text: &str) -> Result<(Vec<String>, FlagLines), UsageError> {
    let url = match run.get("url") {
        Some(toml::Value::String(u)) => u.clone(),
        _ => return Err(UsageError(
            "[run] url: the target URL is required (e.g. url = \"http://tasks.appserver:8080/\")"
                .into(),
        )),
    };
    let mut args = vec![url];
    let mut lines = Vec::new();
    for (key, value) in run.iter().filter(|(k, _)| k.as_str() != "url") {
        let flag = match key.replace('_', "-").as_str() {
            "faults" | "fault" => "fault".to_string(),
            "headers" | "header" => "header".to_string(),
            "engines" | "engine" => "engine".to_string(),
            f => f.to_string(),
        };
        let at = || line_of(text, Some("run"), key).unwrap_or(0);
        lines.push((flag.clone(), at()));
        if OWN_FIELDS.contains(&flag.as_str()) {
            return Err(UsageError(format!(
                "[run] {key} (line {}): set by the experiment for each trial; leave it out",
                at()
            )));
        }
        if ONCE_ONLY_FIELDS.contains(&flag.as_str()) {
            return Err(UsageError(format!(
                "[run] {key} (line {}): one time cannot start every trial; leave it out",
                at()
            )));
        }
        if STREAM_FIELDS.contains(&flag.as_str()) {
            return Err(UsageError(format!(
                "[run] {key} (line {}): an experiment's trials are not streamed to a gatherer (that is `run --stream-to`; `vantage` loads a trial from every node); leave it out",
                at()
            )));
        }
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(n) => Ok(n.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            other => Err(UsageError(format!(
                "[run] {key} (line {}): a {} is not a value for --{flag}",
                at(),
                other.type_str()
            ))),
        };
        match value {
            toml::Value::Boolean(true) => args.push(format!("--{flag}")),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(list) => {
                for v in list {
                    args.push(format!("--{flag}"));
                    args.push(scalar(v)?);
                }
            }
            v => {
                args.push(format!("--{flag}"));
                args.push(scalar(v)?);
            }
        }
    }
    Ok((args, lines))
}

impl Plan {
    /// Reads the experiment file and checks every trial's run configuration; nothing is sent.
    pub fn read(
        path: &Path,
        trials: Option<u32>,
        overrides: &super::Overrides,
    ) -> Result<Self, UsageError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        let shown = path.display().to_string();
        let mut f = ExperimentFile::parse(&text, &shown)?;
        for (key, value) in [
            ("url", &overrides.url),
            ("swarm_service", &overrides.swarm_service),
            ("access_path", &overrides.access_path),
        ] {
            if let Some(v) = value {
                f.run.remove(&key.replace('_', "-"));
                f.run.insert(key.into(), toml::Value::String(v.clone()));
            }
        }
        let axes = f.axes(&text)?;
        let mut cells = vec![Vec::new()];
        for (axis, values) in &axes {
            cells = cells
                .into_iter()
                .flat_map(|c: Vec<(Axis, Setting)>| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((*axis, v.clone()));
                        c
                    })
                })
                .collect();
        }
        if cells.len() > 1000 {
            return Err(UsageError(format!(
                "{shown}: the matrix makes {} cells; at most 1,000",
                cells.len()
            )));
        }
        let (mut base, lines) = base_args(&f.run, &text)?;
        for flag in &overrides.run_flags {
            let name = flag
                .trim_start_matches("--")
                .split('=')
                .next()
                .unwrap_or("");
            if flag.starts_with("--") && OWN_FIELDS.contains(&name) {
                return Err(UsageError(format!(
                    "after --: {flag} is set by the experiment for each trial; leave it out"
                )));
            }
            if flag.starts_with("--") && ONCE_ONLY_FIELDS.contains(&name) {
                return Err(UsageError(format!(
                    "after --: {flag}: one time cannot start every trial; leave it out"
                )));
            }
            if flag.starts_with("--") && STREAM_FIELDS.contains(&name) {
                return Err(UsageError(format!(
                    "after --: {flag}: an experiment's trials are not streamed to a gatherer; leave it out"
                )));
            }
        }
        base.extend(overrides.run_flags.iter().cloned());
        let swarm_service = f
            .run
            .get("swarm_service")
            .or_else(|| f.run.get("swarm-service"))
            .and_then(toml::Value::as_str)
            .map(str::to_string);
        if swarm_service.is_none() {
            if let Some((a, _)) = axes.iter().find(|(a, _)| a.on_service()) {
                return Err(UsageError(format!(
                    "[matrix] {} (line {}): changes the service, so [run] needs swarm_service",
                    a.name(),
                    line_of(&text, Some("matrix"), a.name()).unwrap_or(0)
                )));
            }
        }
        let mut hypotheses = Vec::new();
        for (i, h) in f.hypothesis.iter().enumerate() {
            let slo: Slo = h
                .slo
                .parse()
                .map_err(|e| UsageError(format!("[[hypothesis]] {}: slo: {e}", i + 1)))?;
            let mut only = Vec::new();
            for (k, v) in &h.only {
                let axis = axes
                    .iter()
                    .map(|(a, _)| *a)
                    .find(|a| a.name() == k)
                    .ok_or_else(|| {
                        UsageError(format!(
                            "[[hypothesis]] {}: only.{k}: not an axis of the matrix",
                            i + 1
                        ))
                    })?;
                let v = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(UsageError(format!(
                            "[[hypothesis]] {}: only.{k}: a {} is not a setting",
                            i + 1,
                            other.type_str()
                        )))
                    }
                };
                only.push((axis, v));
            }
            hypotheses.push(Hypothesis {
                slo,
                on: h.on,
                only,
            });
        }
        let plan = Plan {
            name: f.name.trim().to_string(),
            description: f.description.trim().to_string(),
            file: path.to_path_buf(),
            cells: cells
                .into_iter()
                .enumerate()
                .map(|(index, settings)| Cell {
                    index,
                    settings,
                    fixed: axes
                        .iter()
                        .filter(|(_, v)| v.len() == 1)
                        .map(|(a, _)| *a)
                        .collect(),
                })
                .collect(),
            trials: trials.unwrap_or(f.trials),
            order: f.order,
            seed: f.seed,
            hypotheses,
            base,
            lines,
            swarm_service,
            run_length: None,
            rebalance: false,
        };
        if !(1..=1000).contains(&plan.trials) {
            return Err(UsageError(format!("--trials {}: 1 to 1,000", plan.trials)));
        }
        // Every cell's configuration, checked as a command line would be.
        let mut plan = plan;
        let mut node_faults = false;
        for p in plan.schedule().iter().filter(|p| p.trial == 1) {
            let config = plan.run_config(p, Path::new("."))?;
            plan.run_length = config.load.duration;
            node_faults |= config.faults.iter().any(|f| f.kind.kind().is_node());
        }
        plan.rebalance = f.rebalance.unwrap_or(node_faults);
        if plan.rebalance && plan.swarm_service.is_none() {
            return Err(UsageError(format!(
                "rebalance (line {}): spreading tasks needs [run] swarm_service",
                line_of(&text, None, "rebalance").unwrap_or(0)
            )));
        }
        // A hypothesis that fits no configuration would never be judged: said now.
        for (i, h) in plan.hypotheses.iter().enumerate() {
            if !plan.cells.iter().any(|c| h.applies_to(c)) {
                return Err(UsageError(format!(
                    "[[hypothesis]] {}: only = {{ {} }} matches no configuration (values as in [matrix], e.g. replicas = 5, rate = \"200\")",
                    i + 1,
                    h.only
                        .iter()
                        .map(|(a, v)| format!("{} = {v}", a.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(plan)
    }

    /// Every trial in the order they run: interleaved (each cell once, then again) or
    /// blocked (all of a cell's trials, then the next cell).
    pub fn schedule(&self) -> Vec<Planned> {
        let n = self.cells.len();
        let mut out = Vec::with_capacity(n * self.trials as usize);
        let one = |cell: usize, trial: u32| Planned {
            cell,
            trial,
            seed: mix(self.seed, cell, trial),
            dir: PathBuf::from("runs")
                .join(format!("cell-{:02}", cell + 1))
                .join(format!("trial-{trial:02}")),
        };
        match self.order {
            Order::Interleaved => {
                for t in 1..=self.trials {
                    for c in 0..n {
                        out.push(one(c, t));
                    }
                }
            }
            Order::Blocked => {
                for c in 0..n {
                    for t in 1..=self.trials {
                        out.push(one(c, t));
                    }
                }
            }
        }
        out
    }

    /// The run of one trial, checked as a command line is: `[run]`, then the cell's load
    /// and faults (each fault seeded with the trial's seed unless it names one), its label
    /// and directory.
    pub fn run_config(&self, p: &Planned, root: &Path) -> Result<RunConfig, UsageError> {
        let label = self.cells[p.cell].label();
        let argv = self.run_argv(p, root);
        let args = self.parse_run(&argv, &label)?;
        RunConfig::check(args, crate::config::redacted(argv))
            .map_err(|e| UsageError(format!("cell '{label}': {}", e.0)))
    }

    /// Whether its trials load from several vantage points (`vantage` other than local):
    /// their figures are then their merge's.
    pub fn coordinated(&self) -> bool {
        self.schedule()
            .first()
            .and_then(|p| self.run_config(p, Path::new(".")).ok())
            .is_some_and(|c| c.vantage.is_some())
    }

    /// The trial's `chaos-runner run` command line.
    fn run_argv(&self, p: &Planned, root: &Path) -> Vec<String> {
        let cell = &self.cells[p.cell];
        let mut argv: Vec<String> = vec!["chaos-runner".into(), "run".into()];
        let mut base = self.base.clone();
        if let Some(Setting::Faults { .. }) = cell.get(Axis::Faults) {
            // The cell's faults replace [run]'s.
            let mut kept = Vec::new();
            let mut it = base.into_iter();
            while let Some(a) = it.next() {
                if a == "--fault" {
                    it.next();
                } else {
                    kept.push(a);
                }
            }
            base = kept;
        }
        argv.extend(base);
        for (axis, s) in &cell.settings {
            match (axis, s) {
                (Axis::Replicas, Setting::Replicas(n)) => {
                    argv.extend(["--replicas".into(), n.to_string()])
                }
                (Axis::Rate, Setting::Rate(r)) => argv.extend(["--rate".into(), r.clone()]),
                (Axis::Timeout, Setting::Timeout(d)) => argv.extend([
                    "--timeout".into(),
                    humantime::format_duration(*d).to_string(),
                ]),
                (Axis::Faults, Setting::Faults { list, .. }) => {
                    for f in list {
                        argv.extend(["--fault".into(), f.clone()]);
                    }
                }
                _ => {}
            }
        }
        // Seed every fault that names none.
        let mut i = 0;
        while i < argv.len() {
            if argv[i] == "--fault" && i + 1 < argv.len() && !argv[i + 1].contains("seed=") {
                argv[i + 1] = format!("{},seed={}", argv[i + 1], p.seed);
            }
            i += 1;
        }
        argv.extend([
            "--label".into(),
            cell.label(),
            "--out".into(),
            root.join(&p.dir).display().to_string(),
            "--quiet".into(),
        ]);
        argv
    }

    /// A trial's command line parsed as `run`'s; an error names the file's field and line
    /// where clap names the flag.
    fn parse_run(&self, argv: &[String], label: &str) -> Result<RunArgs, UsageError> {
        let cli = Cli::try_parse_from(argv).map_err(|e| {
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            // The field it came from, and its line, where clap names the flag.
            let flag = match e.get(clap::error::ContextKind::InvalidArg) {
                Some(clap::error::ContextValue::String(a)) => a
                    .trim_start_matches("--")
                    .split([' ', '='])
                    .next()
                    .map(str::to_string),
                _ => None,
            };
            let field = flag
                .and_then(|f| self.lines.iter().find(|(l, _)| *l == f).cloned())
                .map_or(String::new(), |(f, line)| {
                    format!(" {} (line {line})", f.replace('-', "_"))
                });
            UsageError(format!("[run]{field} with cell '{label}': {first}"))
        })?;
        match cli.command {
            Command::Run(a) => Ok(*a),
            _ => Err(UsageError(format!(
                "cell '{label}': not a run's command line"
            ))),
        }
    }

    /// `--dry-run`: the cells, the order and how long it will take at least.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "experiment '{}' from {}: {} cell(s) x {} trial(s) = {} run(s), {}\n",
            self.name,
            self.file.display(),
            self.cells.len(),
            self.trials,
            self.cells.len() * self.trials as usize,
            match self.order {
                Order::Interleaved => "interleaved (every cell once, then again)",
                Order::Blocked => "blocked (all of a cell's trials, then the next)",
            }
        );
        for c in &self.cells {
            out.push_str(&format!("  cell {}: {}\n", c.index + 1, c.label()));
        }
        if self.rebalance {
            out.push_str(
                "before every trial: the service's tasks spread afresh (a forced update)\n",
            );
        }
        if self.coordinated() {
            out.push_str(
                "every trial loads from several nodes at once (vantage): its figures are their merge's, each vantage's availability kept\n",
            );
        }
        if let Some(len) = self.run_length {
            let total = len * (self.cells.len() as u32 * self.trials);
            out.push_str(&format!(
                "load: {} per run, {} in all, plus each run's convergence and restore\n",
                humantime::format_duration(len),
                humantime::format_duration(total)
            ));
        }
        for (i, p) in self.schedule().iter().enumerate().take(12) {
            out.push_str(&format!(
                "  {:>3}. cell {} trial {} seed {} -> {}\n",
                i + 1,
                p.cell + 1,
                p.trial,
                p.seed,
                p.dir.display()
            ));
        }
        let n = self.cells.len() * self.trials as usize;
        if n > 12 {
            out.push_str(&format!("  ... {} more\n", n - 12));
        }
        for h in &self.hypotheses {
            out.push_str(&format!(
                "hypothesis: {} on {}\n",
                h.slo.text,
                match h.on {
                    On::EveryTrial => "every trial",
                    On::Mean => "the mean (95 % interval)",
                }
            ));
        }
        out
    }
}
