//! The experiment file (TOML): what to measure (`[run]`, the same fields as `chaos-runner
//! run`'s flags), what to vary (`[matrix]`), how often (`trials`) and what must hold
//! (`[[hypothesis]]`). Read into typed settings here; nothing is sent.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::settings::{Health, Setting, UpdateSettings};
use crate::exit::UsageError;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    /// A short name (reports, the default output directory).
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Trials per cell (1 to 1,000).
    #[serde(default = "one")]
    pub trials: u32,
    /// `interleaved` (every cell once, then again; the default) or `blocked`.
    #[serde(default)]
    pub order: Order,
    /// Seeds every trial's faults (each trial's seed is derived from it and recorded).
    #[serde(default)]
    pub seed: u64,
    /// Spread the service's tasks afresh (a forced update) before every trial. By default
    /// when a configuration has a node fault: swarm never moves tasks back to a node that
    /// returns, so without it a trial after a node fault finds that node empty.
    #[serde(default)]
    pub rebalance: Option<bool>,
    /// The run every cell starts from: `chaos-runner run`'s flags as fields.
    pub run: toml::Table,
    #[serde(default)]
    pub matrix: Matrix,
    #[serde(default)]
    pub hypothesis: Vec<HypothesisSpec>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Interleaved,
    Blocked,
}

/// What varies: each axis a list of values; the cells are every combination.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    pub replicas: Option<Vec<u64>>,
    /// Requests per second, as `--rate` takes them (`200`, `"1k"`).
    pub rate: Option<Vec<toml::Value>>,
    /// Each variant: one fault spec, a list of them (`[]`: no fault), or a named list
    /// (`{ name = "start-first", faults = [...] }`).
    pub faults: Option<Vec<FaultsVariant>>,
    /// The service's environment variables set in each variant (others left as found).
    pub env: Option<Vec<BTreeMap<String, String>>>,
    /// `off`, or `interval=1s;retries=2;timeout=1s[;start_period=0s]`.
    pub health: Option<Vec<String>>,
    /// The service's restart delay (`0s`, `5s`).
    pub restart_delay: Option<Vec<String>>,
    /// The service's update config: `order=start-first;parallelism=1;delay=0s;failure=pause;monitor=5s`.
    pub update: Option<Vec<String>>,
    /// The service's memory limit: `none`, or a size (`64MiB`, `1GiB`).
    pub memory: Option<Vec<String>>,
    /// The client's timeout per request, as `--timeout` takes it (`1s`, `250ms`).
    pub timeout: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FaultsVariant {
    One(String),
    Many(Vec<String>),
    /// `{ name = "start-first", faults = [...] }`: the name is the cell's label.
    Named {
        name: String,
        faults: Vec<String>,
    },
}

/// `[[hypothesis]]`: an objective in `--slo` syntax, held on every trial or on the mean's
/// interval, for every cell or those named in `only`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypothesisSpec {
    pub slo: String,
    #[serde(default)]
    pub on: On,
    /// Only cells with these settings (`{ replicas = 5 }`).
    #[serde(default)]
    pub only: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum On {
    /// Every trial of the cell meets it.
    #[default]
    EveryTrial,
    /// The mean meets it with 95 % confidence (the interval's worse end does).
    Mean,
}

impl ExperimentFile {
    /// Reads and checks the file's own shape (unknown fields, types), naming the line.
    pub fn parse(text: &str, path: &str) -> Result<Self, UsageError> {
        let f: Self = toml::from_str(text).map_err(|e| UsageError(format!("{path}: {e}")))?;
        if !(1..=1000).contains(&f.trials) {
            return Err(UsageError(format!(
                "{path}: trials = {}: 1 to 1,000 (line {})",
                f.trials,
                line_of(text, None, "trials").unwrap_or(0)
            )));
        }
        if f.name.trim().is_empty() || f.name.len() > 80 {
            return Err(UsageError(format!("{path}: name: 1 to 80 characters")));
        }
        Ok(f)
    }

    /// The axes with their values in file order (axes in a fixed order), each value typed.
    pub fn axes(&self, text: &str) -> Result<Vec<(Axis, Vec<Setting>)>, UsageError> {
        let m = &self.matrix;
        let mut out = Vec::new();
        let bad = |axis: Axis, i: usize, e: String| {
            UsageError(format!(
                "[matrix] {} (line {}), value {}: {e}",
                axis.name(),
                line_of(text, Some("matrix"), axis.name()).unwrap_or(0),
                i + 1
            ))
        };
        if let Some(v) = &m.replicas {
            let mut s = Vec::new();
            for (i, n) in v.iter().enumerate() {
                crate::parse::replicas(&n.to_string())
                    .map_err(|e| bad(Axis::Replicas, i, e.to_string()))?;
                s.push(Setting::Replicas(*n));
            }
            out.push((Axis::Replicas, s));
        }
        if let Some(v) = &m.rate {
            let mut s = Vec::new();
            for (i, r) in v.iter().enumerate() {
                let text = match r {
                    toml::Value::String(t) => t.clone(),
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    other => {
                        return Err(bad(
                            Axis::Rate,
                            i,
                            format!("a {} is not a rate", other.type_str()),
                        ))
                    }
                };
                crate::parse::rate(&text).map_err(|e| bad(Axis::Rate, i, e.to_string()))?;
                s.push(Setting::Rate(text));
            }
            out.push((Axis::Rate, s));
        }
        if let Some(v) = &m.faults {
            let mut s = Vec::new();
            for (i, f) in v.iter().enumerate() {
                let (name, list) = match f {
                    FaultsVariant::One(one) => (None, vec![one.clone()]),
                    FaultsVariant::Many(many) => (None, many.clone()),
                    FaultsVariant::Named { name, faults } => {
                        if name.trim().is_empty() || name.len() > 60 {
                            return Err(bad(Axis::Faults, i, "name: 1 to 60 characters".into()));
                        }
                        (Some(name.trim().to_string()), faults.clone())
                    }
                };
                for spec in &list {
                    crate::cli::parse_fault(spec).map_err(|e| bad(Axis::Faults, i, e))?;
                }
                s.push(Setting::Faults { name, list });
            }
            out.push((Axis::Faults, s));
        }
        if let Some(v) = &m.env {
            let mut s = Vec::new();
            for (i, e) in v.iter().enumerate() {
                if let Some(k) = e.keys().find(|k| k.is_empty() || k.contains('=')) {
                    return Err(bad(Axis::Env, i, format!("'{k}' is not a variable name")));
                }
                s.push(Setting::Env(e.clone()));
            }
            out.push((Axis::Env, s));
        }
        if let Some(v) = &m.health {
            let mut s = Vec::new();
            for (i, h) in v.iter().enumerate() {
                s.push(Setting::Health(
                    h.parse::<Health>().map_err(|e| bad(Axis::Health, i, e))?,
                ));
            }
            out.push((Axis::Health, s));
        }
        if let Some(v) = &m.restart_delay {
            let mut s = Vec::new();
            for (i, d) in v.iter().enumerate() {
                let d: Duration = crate::parse::duration(d)
                    .map_err(|e| bad(Axis::RestartDelay, i, e.to_string()))?;
                s.push(Setting::RestartDelay(d));
            }
            out.push((Axis::RestartDelay, s));
        }
        if let Some(v) = &m.update {
            let mut s = Vec::new();
            for (i, u) in v.iter().enumerate() {
                s.push(Setting::Update(
                    u.parse::<UpdateSettings>()
                        .map_err(|e| bad(Axis::Update, i, e))?,
                ));
            }
            out.push((Axis::Update, s));
        }
        if let Some(v) = &m.memory {
            let mut s = Vec::new();
            for (i, t) in v.iter().enumerate() {
                s.push(Setting::Memory(
                    super::settings::memory_limit(t).map_err(|e| bad(Axis::Memory, i, e))?,
                ));
            }
            out.push((Axis::Memory, s));
        }
        if let Some(v) = &m.timeout {
            let mut s = Vec::new();
            for (i, t) in v.iter().enumerate() {
                let d = crate::parse::short_duration(t)
                    .map_err(|e| bad(Axis::Timeout, i, e.to_string()))?;
                s.push(Setting::Timeout(d));
            }
            out.push((Axis::Timeout, s));
        }
        for (axis, values) in &out {
            if values.is_empty() {
                return Err(UsageError(format!(
                    "[matrix] {} (line {}): give at least one value",
                    axis.name(),
                    line_of(text, Some("matrix"), axis.name()).unwrap_or(0)
                )));
            }
        }
        Ok(out)
    }
}

/// What a matrix varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    Replicas,
    Rate,
    Faults,
    Env,
    Health,
    RestartDelay,
    Update,
    Memory,
    Timeout,
}

impl Axis {
    pub fn name(self) -> &'static str {
        match self {
            Axis::Replicas => "replicas",
            Axis::Rate => "rate",
            Axis::Faults => "faults",
            Axis::Env => "env",
            Axis::Health => "health",
            Axis::RestartDelay => "restart_delay",
            Axis::Update => "update",
            Axis::Memory => "memory",
            Axis::Timeout => "timeout",
        }
    }

    /// Axes carried out by changing the service's spec through the swarm API.
    pub fn on_service(self) -> bool {
        matches!(
            self,
            Axis::Replicas
                | Axis::Env
                | Axis::Health
                | Axis::RestartDelay
                | Axis::Update
                | Axis::Memory
        )
    }
}

/// The line (1-based) where `key = ` is set, inside `[section]` (None: the top level).
pub fn line_of(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[') {
            current = Some(
                h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .trim()
                    .to_string(),
            );
            continue;
        }
        let here = current.as_deref() == section;
        if here {
            if let Some((k, _)) = t.split_once('=') {
                let k = k.trim().trim_matches('"');
                if k == key || k.replace('-', "_") == key.replace('-', "_") {
                    return Some(i + 1);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_a_field_in_its_section() {
        let text = "name = \"x\"\ntrials = 3\n[run]\nrate = 200\n[matrix]\nrate = [1, 2]\n";
        assert_eq!(line_of(text, None, "trials"), Some(2));
        assert_eq!(line_of(text, Some("run"), "rate"), Some(4));
        assert_eq!(line_of(text, Some("matrix"), "rate"), Some(6));
        assert_eq!(line_of(text, Some("run"), "duration"), None);
    }

    #[test]
    fn unknown_fields_and_bad_values_name_the_field_and_line() {
        let e = ExperimentFile::parse(
            "name = \"x\"\n[run]\nurl = \"http://a/\"\n[matrix]\nreplica = [1]\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("replica") && e.contains("line 5"), "{e}");
        let text = "name = \"x\"\n[run]\nurl = \"http://a/\"\n[matrix]\nhealth = [\"off\", \"interval=1s;retries=x\"]\n";
        let f = ExperimentFile::parse(text, "f.toml").unwrap();
        let e = f.axes(text).unwrap_err().to_string();
        assert!(e.contains("[matrix] health (line 5), value 2"), "{e}");
        let e = ExperimentFile::parse("name = \"x\"\ntrials = 0\n[run]\nurl = \"u\"\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("trials = 0") && e.contains("line 2"), "{e}");
    }
}
