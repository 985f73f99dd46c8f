//! `chaos-runner experiment FILE`: repeated trials over a matrix of configurations, with
//! statistics. [`plan`] reads the file into cells and trials, each trial's run configuration
//! checked as a command line would be; [`Conductor`] runs them in order (interleaved by
//! default), makes each cell's service settings through the swarm API and puts the service
//! back as found at the end; [`results`] turns the trials into statistics, differences and
//! verdicts; [`pages`] writes `experiment.md` and `experiment.html`.
//!
//! The unit of replication is a trial: one whole run. Every run keeps its own directory
//! (`runs/cell-NN/trial-NN`) and reports; a finished run is never redone by `--resume`.

#[cfg(test)]
mod equivalence;
mod file;
mod pages;
mod plan;
mod results;
mod service;
mod settings;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::exit::UsageError;
use crate::journal::{Begin, Change, End, Entry, Journal, SwarmStart};
use crate::swarm::restore::Baseline;
use crate::swarm::Swarm;
pub use plan::Plan;
use plan::Planned;
pub use results::{ExperimentResult, Status as TrialStatus};
use results::{Status, Trial, TrialRun};

/// The copy of the experiment file kept in its directory (what `--resume` compares).
const FILE_COPY: &str = "experiment.toml";

/// What `chaos-runner experiment` was asked.
#[derive(Debug, Clone)]
pub struct ExperimentArgs {
    pub file: PathBuf,
    pub out: Option<PathBuf>,
    pub trials: Option<u32>,
    pub dry_run: bool,
    pub resume: bool,
    pub force: bool,
    pub converge_timeout: Duration,
    pub overrides: Overrides,
}

/// `[run]` fields given on the command line instead (the same file against another
/// deployment).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub url: Option<String>,
    pub swarm_service: Option<String>,
    pub access_path: Option<String>,
    /// `run` flags added to every trial (after `[run]`'s).
    pub run_flags: Vec<String>,
}

/// How the experiment ended.
#[derive(Debug)]
pub struct ExperimentOutcome {
    pub result: Option<ExperimentResult>,
    pub out: Option<PathBuf>,
}

/// Plans, runs every trial not yet done, restores the service, writes the results.
pub async fn execute(a: ExperimentArgs) -> anyhow::Result<ExperimentOutcome> {
    let plan = Plan::read(&a.file, a.trials, &a.overrides)?;
    if a.dry_run {
        print!("{}", plan.describe());
        return Ok(ExperimentOutcome {
            result: None,
            out: None,
        });
    }
    let out = prepare_dir(&a, &plan)?;
    let interrupt = crate::signals::install();
    // Trials finished by an earlier invocation (`--resume`), each read once. With every
    // trial done, only the results are made again.
    let coordinated = plan.coordinated();
    let before: Vec<Option<Trial>> = plan
        .schedule()
        .iter()
        .map(|p| done_before(p, &out.join(&p.dir), coordinated))
        .collect();
    let todo = before.iter().any(Option::is_none);
    let mut c = Conductor::connect(&plan, &out, interrupt, a.converge_timeout, todo).await?;
    let trials = c.run_all(before).await;
    // Made again without touching the service: what the experiment did to it, as it said.
    let service = match c.restore().await {
        Some(s) => Some(s),
        None => said_before(&out),
    };
    let interrupted = *c.interrupt.borrow();
    let result = ExperimentResult::of(&plan, trials, interrupted, service);
    result.write(&out)?;
    pages::write(&out, &plan, &result)?;
    c.end();
    Ok(ExperimentOutcome {
        result: Some(result),
        out: Some(out),
    })
}

/// Removes what `dir` holds, not `dir` itself: it may be a mount point (the scripts mount
/// the output directory into chaos-runner's container), which cannot be removed.
fn clear(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// `--out` (default `results/experiment-NAME`): new, or with `--resume` the same
/// experiment's, or with `--force` an earlier experiment's (removed first). Never another
/// directory's files.
fn prepare_dir(a: &ExperimentArgs, plan: &Plan) -> Result<PathBuf, UsageError> {
    let out = a.out.clone().unwrap_or_else(|| {
        let slug: String = plan
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        PathBuf::from("results").join(format!("experiment-{slug}"))
    });
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| UsageError(format!("{}: {e}", a.file.display())))?;
    let holds_files = std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_some());
    let ours = out.join(FILE_COPY).exists();
    let stamp = format!("# trials = {}\n", plan.trials);
    if holds_files {
        if a.resume {
            let kept = std::fs::read_to_string(out.join(FILE_COPY)).unwrap_or_default();
            if kept != format!("{stamp}{text}") {
                return Err(UsageError(format!(
                    "--resume: {} holds {}, which differs from {} (or --trials changed): resume with the file and trials it began with",
                    out.display(),
                    if ours { "another experiment file" } else { "no experiment" },
                    a.file.display()
                )));
            }
            return Ok(out);
        }
        if !a.force || !ours {
            return Err(UsageError(format!(
                "--out {} already holds files: --resume continues the experiment there, --force writes over an earlier experiment, or choose another directory",
                out.display()
            )));
        }
        clear(&out)
            .map_err(|e| UsageError(format!("--force: cannot clear {}: {e}", out.display())))?;
    } else if a.resume {
        return Err(UsageError(format!(
            "--resume: {} holds no experiment to continue",
            out.display()
        )));
    }
    std::fs::create_dir_all(&out)
        .and_then(|()| std::fs::write(out.join(FILE_COPY), format!("{stamp}{text}")))
        .map_err(|e| UsageError(format!("cannot write into {}: {e}", out.display())))?;
    Ok(out)
}

/// Runs the trials, one after another, and owns the service's settings between them.
struct Conductor<'a> {
    plan: &'a Plan,
    out: &'a Path,
    interrupt: watch::Receiver<bool>,
    timeout: Duration,
    /// The service, its spec as found, and the experiment's own journal of what it changed.
    swarm: Option<(Arc<Swarm>, Baseline, Journal)>,
    /// The cell whose settings the service has now.
    applied: Option<usize>,
}

impl<'a> Conductor<'a> {
    /// Connects to the swarm when a cell changes the service, and writes its spec as found
    /// to the experiment's journal before anything changes (`chaos-runner restore DIR`).
    async fn connect(
        plan: &'a Plan,
        out: &'a Path,
        interrupt: watch::Receiver<bool>,
        timeout: Duration,
        todo: bool,
    ) -> anyhow::Result<Self> {
        let mut c = Conductor {
            plan,
            out,
            interrupt,
            timeout,
            swarm: None,
            applied: None,
        };
        if !todo || !(plan.rebalance || plan.cells.iter().any(service::changes_service)) {
            return Ok(c);
        }
        let Some(name) = &plan.swarm_service else {
            return Ok(c);
        };
        let first = plan.run_config(&plan.schedule()[0], out)?;
        let engines = first.swarm.map(|s| s.engines).unwrap_or_default();
        let sw = Swarm::connect(name, &engines)
            .await
            .map_err(|e| UsageError(format!("{e:#}")))?;
        let entries = out.join(crate::journal::DIR).join(crate::journal::ENTRIES);
        let unwritable =
            |e: std::io::Error| UsageError(format!("cannot write into {}: {e}", out.display()));
        let now = sw.baseline().await.context("reading the service's spec")?;
        let before = match entries.exists() {
            true => Some(found_before(&entries)?),
            false => None,
        };
        let id = |b: &Baseline| b.to_json().get("ID").cloned();
        let (base, journal) = if let Some(before) = before.filter(|b| id(b) == id(&now)) {
            // Resumed on the same service: as the experiment first found it, not as it is
            // now (a killed runner may have left it in a configuration's settings).
            (before, Journal::append(out).map_err(unwritable)?)
        } else {
            // New, or the service was created anew since (a script deploys it again): as
            // found now.
            let base = now;
            let journal = Journal::create(out).map_err(unwritable)?;
            journal
                .commit(&Entry::Begin(Box::new(Begin {
                    version: crate::journal::VERSION,
                    command: crate::config::redacted(std::env::args()),
                    swarm: Some(SwarmStart {
                        service: sw.service.clone(),
                        engines,
                        engine_names: sw.engines.iter().map(|e| e.name.clone()).collect(),
                        node_driver: None,
                        spec: base.to_json(),
                    }),
                })))
                .map_err(unwritable)?;
            (base, journal)
        };
        c.swarm = Some((Arc::new(sw), base, journal));
        Ok(c)
    }

    /// Every trial in the plan's order: those done before (`--resume`, as `before` read
    /// them, one per scheduled trial) kept, the rest run; stops at an interruption (the rest
    /// stay pending).
    async fn run_all(&mut self, before: Vec<Option<Trial>>) -> Vec<Trial> {
        let schedule = self.plan.schedule();
        let total = schedule.len();
        debug_assert_eq!(before.len(), total);
        let mut out = Vec::with_capacity(total);
        for ((i, p), earlier) in schedule.iter().enumerate().zip(before) {
            let dir = self.out.join(&p.dir);
            if let Some(t) = earlier {
                out.push(t);
                continue;
            }
            if *self.interrupt.borrow() {
                out.push(Trial::of(p, Status::Pending, None, None));
                continue;
            }
            let label = self.plan.cells[p.cell].label();
            eprintln!(
                "chaos-runner: experiment {}/{total}: cell {} ({label}), trial {} of {}",
                i + 1,
                p.cell + 1,
                p.trial,
                self.plan.trials
            );
            let t = self.run_one(p, &dir).await;
            out.push(t);
            // What is known so far, on disk after every trial.
            let partial =
                ExperimentResult::of(self.plan, with_pending(&out, &schedule), false, None);
            if let Err(e) = partial.write(self.out) {
                eprintln!("chaos-runner: {e:#}");
            }
        }
        out
    }

    async fn run_one(&mut self, p: &Planned, dir: &Path) -> Trial {
        if let Err(e) = clear_unfinished(dir).await {
            return Trial::of(p, Status::Failed, Some(format!("{e:#}")), None);
        }
        if let Err(e) = self.apply(p.cell).await {
            return Trial::of(p, Status::Failed, Some(format!("{e:#}")), None);
        }
        let config = match self.plan.run_config(p, self.out) {
            Ok(c) => c,
            Err(e) => return Trial::of(p, Status::Failed, Some(e.0), None),
        };
        let coordinated = config.vantage.is_some();
        match crate::run::execute_with(config, self.interrupt.clone()).await {
            Ok(o) if o.summary.interrupted => Trial::of(
                p,
                Status::Interrupted,
                None,
                Some(TrialRun::alone(&o.summary)),
            ),
            Ok(o) if coordinated => match merged(dir) {
                Ok(m) => {
                    let run = TrialRun {
                        summary: &o.summary,
                        merged: Some(&m),
                    };
                    Trial::of(p, Status::Done, None, Some(run))
                }
                Err(e) => Trial::of(p, Status::Failed, Some(format!("{e:#}")), None),
            },
            Ok(o) => Trial::of(p, Status::Done, None, Some(TrialRun::alone(&o.summary))),
            Err(e) if e.downcast_ref::<crate::signals::Interrupted>().is_some() => {
                Trial::of(p, Status::Interrupted, None, None)
            }
            Err(e) => {
                eprintln!(
                    "chaos-runner: trial {} of cell {} failed: {e:#}",
                    p.trial,
                    p.cell + 1
                );
                Trial::of(p, Status::Failed, Some(format!("{e:#}")), None)
            }
        }
    }

    /// Gives the service the cell's settings (from the spec as found), written down first.
    async fn apply(&mut self, cell: usize) -> anyhow::Result<()> {
        let Some((sw, base, journal)) = &self.swarm else {
            return Ok(());
        };
        if self.applied == Some(cell) && !self.plan.rebalance {
            return Ok(());
        }
        let c = &self.plan.cells[cell];
        journal
            .change(&Change::Service {
                what: format!("cell {}: {}", cell + 1, c.label()),
            })
            .await
            .map_err(anyhow::Error::msg)?;
        let (said, took) = tokio::select! {
            r = service::apply(sw, base, c, self.timeout, self.plan.rebalance) => r.with_context(|| format!("setting up cell {} ({})", cell + 1, c.label()))?,
            () = crate::signals::interrupted(self.interrupt.clone()) => return Err(crate::signals::Interrupted.into()),
        };
        if !said.is_empty() {
            eprintln!(
                "chaos-runner: {} set for cell {} ({}) and converged in {:.1} s",
                sw.service,
                cell + 1,
                c.label(),
                took.as_secs_f64()
            );
        }
        self.applied = Some(cell);
        Ok(())
    }

    /// Puts the service back as found, when a cell changed it.
    async fn restore(&self) -> Option<String> {
        let (sw, base, journal) = self.swarm.as_ref()?;
        Some(match sw.restore(base, self.timeout).await {
            Ok(changes) => {
                let said = if changes.is_empty() {
                    format!("{}: left as found", sw.service)
                } else {
                    format!("{} restored as found: {}", sw.service, changes.join("; "))
                };
                let _ = journal.commit(&Entry::ServiceRestored {
                    detail: said.clone(),
                });
                eprintln!("chaos-runner: {said}");
                said
            }
            Err(e) => {
                let said = format!(
                    "{}: NOT restored ({e:#}): `chaos-runner restore {}` puts it back",
                    sw.service,
                    self.out.display()
                );
                eprintln!("chaos-runner: {said}");
                said
            }
        })
    }

    fn end(&self) {
        if let Some((_, _, journal)) = &self.swarm {
            let _ = journal.commit(&Entry::End(End { reports: true }));
        }
    }
}

/// The service's spec as the experiment's journal says it first found it (its first
/// entry, read as plain JSON).
fn found_before(entries: &Path) -> anyhow::Result<Baseline> {
    let text = std::fs::read_to_string(entries)?;
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().unwrap_or_default()).unwrap_or_default();
    match first.pointer("/begin/swarm/spec") {
        Some(spec) => Ok(Baseline::from_json(spec.clone())?),
        None => anyhow::bail!(
            "{}: does not begin with the service as found",
            entries.display()
        ),
    }
}

/// What an earlier invocation's experiment.json says the end did to the service.
fn said_before(out: &Path) -> Option<String> {
    let text = std::fs::read(out.join("experiment.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v.get("service")?.as_str().map(str::to_string)
}

/// A trial finished by an earlier invocation (`--resume`): its figures, read back (those of
/// its merge when it was `coordinated`).
fn done_before(p: &Planned, dir: &Path, coordinated: bool) -> Option<Trial> {
    if !dir.join("summary.json").exists() {
        return None;
    }
    let s = crate::report::read_summary(dir).ok()?;
    if s.interrupted {
        return None;
    }
    let m = if coordinated {
        Some(merged(dir).ok()?)
    } else {
        None
    };
    let run = TrialRun {
        summary: &s,
        merged: m.as_ref(),
    };
    Some(Trial::of(p, Status::Done, None, Some(run)))
}

/// A coordinated trial's merge of its vantage points (`DIR/merged`): what its figures are.
fn merged(dir: &Path) -> anyhow::Result<crate::merge::Merged> {
    crate::merge::read(&dir.join("merged"))
        .context("the trial loaded from several vantage points, and their merge is not there")
}

/// A trial's directory left by a run that did not finish (interrupted, failed or killed):
/// what that run changed is put back from its journal, then the directory removed.
async fn clear_unfinished(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if crate::journal::unfinished(dir) {
        let r = crate::journal::restore::restore(dir, None, Duration::from_secs(120)).await?;
        if !r.failed.is_empty() {
            anyhow::bail!(
                "{}: an earlier attempt's changes could not be put back: {}",
                dir.display(),
                r.failed.join("; ")
            );
        }
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))
}

/// The trials so far, the rest of the schedule pending.
fn with_pending(done: &[Trial], schedule: &[Planned]) -> Vec<Trial> {
    let mut all = done.to_vec();
    all.extend(
        schedule[done.len()..]
            .iter()
            .map(|p| Trial::of(p, Status::Pending, None, None)),
    );
    all
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn clearing_keeps_the_directory_and_never_follows_a_link_out() {
        let root = std::env::temp_dir().join(format!("crashlab-clear-{}", std::process::id()));
        let (dir, outside) = (root.join("out"), root.join("outside"));
        std::fs::create_dir_all(dir.join("runs/cell-01")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(dir.join("experiment.toml"), "x").unwrap();
        std::fs::write(dir.join("runs/cell-01/summary.json"), "{}").unwrap();
        std::fs::write(outside.join("keep"), "y").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        super::clear(&dir).unwrap();
        assert!(
            dir.is_dir(),
            "the directory itself stays (it may be a mount point)"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        assert!(
            outside.join("keep").exists(),
            "a link is removed, not followed"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
