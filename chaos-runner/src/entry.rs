//! The chaos-runner program itself (the binary and the image's multi-call binary call this).

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::exit::{self, UsageError};
use clap::Parser;

/// The whole program with this process's arguments.
pub fn main() -> ExitCode {
    run(std::env::args_os().collect())
}

/// The whole program: parse `args` (the first is the program name), run, return the exit code.
pub fn run(args: Vec<std::ffi::OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };

    let _ = tracing_subscriber::fmt()
        .with_max_level(crashlab_common::log::level_from_env())
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    // On one core a work-stealing runtime only adds cost: its one worker still pays for
    // the cross-thread machinery.
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chaos-runner: cannot start the runtime: {e:#}");
            return ExitCode::from(exit::RUNTIME);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run_checked(*args).await.map(|o| {
                print_outcome(&o);
                if o.summary.interrupted {
                    exit::INTERRUPTED
                } else if o.summary.slo.as_ref().is_some_and(|s| !s.passed) {
                    exit::SLO_VIOLATED
                } else if let Some(code) = o.vantages_exit.filter(|c| *c != exit::OK) {
                    code
                } else {
                    exit::OK
                }
            }),
            Command::Probe { timeout, urls } => {
                Ok(crate::probe::first_answering(&urls, timeout).await)
            }
            Command::Report { dir } => {
                crate::report::rerender(&dir).map(|incomplete| match incomplete {
                    Some(i) => {
                        println!(
                            "rebuilt {} from its journal: INCOMPLETE: {}",
                            dir.display(),
                            i.describe()
                        );
                        for n in &i.notes {
                            println!("note: {n}");
                        }
                        exit::INCOMPLETE
                    }
                    None => {
                        println!("re-rendered {}", dir.display());
                        exit::OK
                    }
                })
            }
            Command::Restore {
                dir,
                node_token,
                converge_timeout,
            } => crate::journal::restore::restore(&dir, node_token, converge_timeout)
                .await
                .map(|r| {
                    for d in &r.done {
                        println!("restored: {d}");
                    }
                    for a in &r.already {
                        println!("as found: {a}");
                    }
                    for f in &r.failed {
                        println!("FAILED: {f}");
                    }
                    if r.failed.is_empty() {
                        exit::OK
                    } else {
                        exit::RUNTIME
                    }
                }),
            Command::NodeAgent {
                listen,
                driver,
                nodes,
                token,
            } => crate::node::agent::run(
                listen,
                crate::node::agent::AgentConfig {
                    driver,
                    nodes,
                    token,
                },
            )
            .await
            .map(|()| exit::OK),
            Command::Netem { action } => Ok(crate::netem::applet(&action)),
            Command::Experiment {
                file,
                out,
                trials,
                dry_run,
                resume,
                force,
                converge_timeout,
                url,
                swarm_service,
                access_path,
                run_flags,
            } => crate::experiment::execute(crate::experiment::ExperimentArgs {
                file,
                out,
                trials,
                dry_run,
                resume,
                force,
                converge_timeout,
                overrides: crate::experiment::Overrides {
                    url,
                    swarm_service,
                    access_path,
                    run_flags,
                },
            })
            .await
            .map(|o| experiment_outcome(&o)),
            Command::Merge { dirs, out, force } => crate::merge::merge(&dirs, &out, force)
                .map(|m| crate::merge::print_outcome(&m, &out)),
            Command::Gather {
                listen,
                out,
                expect,
                lost_after,
                deadline,
                token,
            } => {
                let config = crate::stream::gather::GatherConfig {
                    out: out.clone(),
                    token,
                    expect: usize::from(expect),
                    lost_after,
                    deadline,
                };
                crate::stream::gather::merge_arrived(
                    &crate::stream::gather::gather(listen, config).await?,
                    None,
                    &out,
                )
            }
            Command::Compare { dirs, out } => crate::compare::compare(&dirs, &out).map(|()| {
                println!(
                    "wrote {}/compare.md, compare.html, compare.json",
                    out.display()
                );
                exit::OK
            }),
        }
    });
    // Do not wait for stragglers (a hung fault command, a Docker event stream).
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("chaos-runner: {e:#}");
            if e.downcast_ref::<crate::signals::Interrupted>().is_some() {
                ExitCode::from(exit::INTERRUPTED)
            } else if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::from(exit::RUNTIME)
            }
        }
    }
}

/// Prints where the experiment's results are and what they say; its exit code.
/// `run`: the command line checked into a run's configuration, then run.
async fn run_checked(mut args: crate::cli::RunArgs) -> anyhow::Result<crate::run::Outcome> {
    as_node_s_task(&mut args, std::env::var(crate::vantage::NODE_ENV).ok())?;
    let ship = ship_config(&args)?;
    let out = args.out.clone();
    let config = crate::config::RunConfig::check(args, crate::config::redacted(std::env::args()))?;
    match (ship, out) {
        (Some(ship), Some(out)) => crate::stream::ship::run_streamed(config, ship, &out).await,
        _ => crate::run::execute(config).await,
    }
}

/// A coordinator's load task (`--shares-by-node`): the share of the node it runs on
/// (`node`, from CRASHLAB_NODE), that node's name as its vantage name, "from NODE" as its
/// label, and the coordinator's access path seen from that node.
fn as_node_s_task(
    args: &mut crate::cli::RunArgs,
    node: Option<String>,
) -> Result<(), exit::UsageError> {
    let Some(table) = &args.shares_by_node else {
        return Ok(());
    };
    let node = node.filter(|n| !n.is_empty()).ok_or_else(|| {
        exit::UsageError(format!(
            "--shares-by-node: {} names no node (the coordinator's service sets it)",
            crate::vantage::NODE_ENV
        ))
    })?;
    let share = table.of(&node).ok_or_else(|| {
        exit::UsageError(format!(
            "--shares-by-node: this node ({node}) has no share of the run ({table})"
        ))
    })?;
    args.share = Some(share);
    args.label.get_or_insert_with(|| format!("from {node}"));
    if let Some(p) = &mut args.access_path {
        p.push_str(&format!(" (from {node})"));
    }
    args.stream_name = Some(node);
    Ok(())
}

/// Where the run sends its data, if anywhere: `--stream-to` with a token and a name.
fn ship_config(
    args: &crate::cli::RunArgs,
) -> Result<Option<crate::stream::ship::ShipConfig>, exit::UsageError> {
    let Some((host, port)) = args.stream_to.clone() else {
        return Ok(None);
    };
    let token = args.stream_token.clone().unwrap_or_default();
    if token.len() < crate::stream::MIN_TOKEN {
        return Err(exit::UsageError(format!(
            "--stream-to needs the run's token (--stream-token or {}), at least {} characters",
            crate::stream::TOKEN_ENV,
            crate::stream::MIN_TOKEN
        )));
    }
    let name = match &args.stream_name {
        Some(n) => n.clone(),
        None => args
            .out
            .as_deref()
            .and_then(|o| o.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if !crate::stream::valid_name(&name) {
        return Err(exit::UsageError(format!(
            "vantage name '{name}' (--stream-name, else --out's last part): 1 to 64 of A-Z a-z 0-9 . _ -"
        )));
    }
    Ok(Some(crate::stream::ship::ShipConfig {
        host,
        port,
        name,
        token,
        lost_after: args.stream_lost_after,
    }))
}

fn experiment_outcome(o: &crate::experiment::ExperimentOutcome) -> u8 {
    use crate::experiment::TrialStatus;
    let (Some(r), Some(out)) = (&o.result, &o.out) else {
        return exit::OK;
    };
    let count = |s: TrialStatus| r.trials.iter().filter(|t| t.status == s).count();
    println!(
        "experiment '{}': {} of {} trials done, {} failed, {} pending; results in {}/experiment.html",
        r.name,
        count(TrialStatus::Done),
        r.trials.len(),
        count(TrialStatus::Failed),
        count(TrialStatus::Pending) + count(TrialStatus::Interrupted),
        out.display()
    );
    for v in r.hypotheses.iter() {
        println!(
            "hypothesis {} on cell {}: {} ({})",
            v.slo,
            v.cell,
            match v.passed {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not judged",
            },
            v.detail
        );
    }
    if let Some(s) = &r.service {
        println!("service: {s}");
    }
    if r.interrupted {
        println!("interrupted: `--resume` with the same file and --out runs the rest");
        exit::INTERRUPTED
    } else if count(TrialStatus::Failed) > 0 {
        exit::RUNTIME
    } else if r.missed() {
        exit::SLO_VIOLATED
    } else {
        exit::OK
    }
}

fn print_outcome(o: &crate::run::Outcome) {
    let s = &o.summary;
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.3}%", v * 100.0));
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} ms"));
    let c = &s.counts;
    println!(
        "{}: scheduled {} sent {} ok {} failed {} dropped {}; availability {} (time {}); downtime {:.3} s in {} window(s); MTTR {}; p50 {} p99 {}; {} replica id(s) seen, {} after faults{}",
        s.run.setup.label,
        c.scheduled,
        c.sent,
        c.ok,
        c.failed,
        c.dropped,
        pct(s.availability.scheduled),
        pct(s.availability.time),
        s.downtime.total_s,
        s.downtime.windows.len(),
        crate::report::tables::mttr(s),
        ms(s.latency_ms.p50),
        ms(s.latency_ms.p99),
        s.instances.len(),
        s.restarts_seen,
        if s.interrupted { "; INTERRUPTED" } else { "" }
    );
    if c.dropped > 0 && !s.interrupted {
        println!(
            "WARNING: {} scheduled requests were never sent: every one of the {} connections allowed by --max-in-flight was busy. They count as unanswered; raise or drop --max-in-flight to measure them.",
            c.dropped, s.run.setup.max_in_flight
        );
    }
    if let Some(w) = s.downtime.windows.iter().find(|w| w.open) {
        println!(
            "WARNING: the target was still down when the run ended (since {:.3} s): that outage has no recovery time.",
            w.start_s
        );
    }
    if let Some(slo) = &s.slo {
        println!(
            "SLO {}: {}",
            slo.spec,
            if slo.passed { "met" } else { "MISSED" }
        );
    }
    println!("reports in {}", o.out.display());
}
