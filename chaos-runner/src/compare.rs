//! `chaos-runner compare DIR DIR...`: runs side by side (compare.md, compare.html,
//! compare.json), e.g. 1 replica against 5.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::report::tables::{headline_row, opt_secs, Section, Table, HEADLINE_HEAD};
use crate::report::{self, charts, read_summary, read_timeline};
use crate::summary::Summary;

#[derive(Debug, Serialize)]
struct Comparison<'a> {
    schema_version: u32,
    runs: Vec<ComparedRun<'a>>,
}

#[derive(Debug, Serialize)]
struct ComparedRun<'a> {
    dir: String,
    label: &'a str,
    access_path: &'a str,
    availability_requests: Option<f64>,
    availability_scheduled: Option<f64>,
    availability_time: Option<f64>,
    downtime_s: f64,
    downtime_windows: usize,
    mttr_s: Option<f64>,
    faults: usize,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    sent: u64,
    failed: u64,
    restarts_seen: u64,
}

/// The access path, said once when every run shares it, else per run.
fn access_paths(runs: &[&Summary]) -> String {
    if runs.iter().all(|s| s.access_path == runs[0].access_path) {
        format!("Access path (every run): {}.", runs[0].access_path)
    } else {
        let each: Vec<String> = runs
            .iter()
            .map(|s| format!("{}: {}", s.run.setup.label, s.access_path))
            .collect();
        format!("Access paths: {}.", each.join("; "))
    }
}

/// `to` as seen from directory `from` (both made absolute), `/`-separated: how a page in
/// `from` links to a file in `to`.
pub(crate) fn relative(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (abs(from), abs(to));
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let ups = from.components().count() - common;
    let mut parts: Vec<String> = vec!["..".into(); ups];
    parts.extend(
        to.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

/// What each run did and what happened, then which did best, in words.
fn story(runs: &[&Summary]) -> Section {
    use crate::report::story;
    let mut lines: Vec<String> = runs
        .iter()
        .map(|s| {
            let done = story::done(s);
            let done = done.strip_prefix("What was done: ").unwrap_or(&done);
            let happened = story::happened(s).join(" ");
            format!("`{}`: {done} {happened}", s.run.setup.label)
        })
        .collect();
    let failed = |s: &&&Summary| s.counts.failed;
    if let (Some(best), Some(worst)) = (
        runs.iter().min_by_key(failed),
        runs.iter().max_by_key(failed),
    ) {
        if runs.len() > 1 && best.counts.failed != worst.counts.failed {
            lines.push(format!(
                "In short: `{}` lost the fewest requests ({} failed, {} of those scheduled succeeded), `{}` the most ({} failed, {}).",
                best.run.setup.label,
                best.counts.failed,
                crate::report::tables::pct(best.availability.scheduled),
                worst.run.setup.label,
                worst.counts.failed,
                crate::report::tables::pct(worst.availability.scheduled),
            ));
        }
    }
    Section {
        title: "What was compared, what happened".into(),
        lines,
        ..Default::default()
    }
}

pub fn compare(dirs: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for d in dirs {
        let (mut s, timeline) = (read_summary(d)?, read_timeline(d)?);
        report::brought_up_to_date(&mut s, &timeline);
        runs.push((d.clone(), s, timeline));
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let summaries: Vec<&Summary> = runs.iter().map(|r| &r.1).collect();
    let series: Vec<_> = runs
        .iter()
        .map(|(_, s, tl)| {
            (
                s.run.setup.label.clone(),
                tl.clone(),
                (s.run.setup.bucket_ms * 1000.0).round() as u64,
                charts::Marks::of(s),
            )
        })
        .collect();
    let svg = charts::compare_availability(&series).map_err(anyhow::Error::msg)?;
    let runs_section = Section {
        title: "Runs".into(),
        lines: vec![
            format!(
                "Runs: {}.",
                runs.iter()
                    .map(|(d, s, _)| format!("{} ({})", s.run.setup.label, d.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("Machine: {}.", summaries[0].run.setup.host),
            access_paths(&summaries),
        ]
        .into_iter()
        .chain(summaries.iter().filter_map(|s| {
            s.incomplete.as_ref().map(|i| {
                format!(
                    "INCOMPLETE: {}: {} (rebuilt from its journal).",
                    s.run.setup.label,
                    i.describe()
                )
            })
        }))
        .collect(),
        table: Some(Table {
            head: HEADLINE_HEAD.iter().map(|s| s.to_string()).collect(),
            rows: summaries.iter().map(|s| headline_row(s)).collect(),
        }),
        figures: vec![(
            "Each run's share of scheduled requests that succeeded, per bucket, with its own faults (lines), faults in force (band along the top), outages (shaded) and the swarm's own states (band along the bottom: a node down, the managers' API lost, an update or rollback under way; named on each run's page)".into(),
            svg,
        )],
        ..Default::default()
    };
    let recovery = Section {
        title: "Recovery".into(),
        table: Some(recovery_table(&summaries)),
        ..Default::default()
    };
    report::write_page(
        out,
        "compare",
        "chaos-runner comparison",
        &[
            Section {
                links: runs
                    .iter()
                    .map(|(d, s, _)| {
                        (
                            format!("{}: its report", s.run.setup.label),
                            relative(out, &d.join("report.html")),
                        )
                    })
                    .collect(),
                ..story(&summaries)
            },
            runs_section,
            recovery,
        ],
    )?;

    let cmp = Comparison {
        schema_version: 1,
        runs: runs
            .iter()
            .map(|(d, s, _)| ComparedRun {
                dir: d.display().to_string(),
                label: &s.run.setup.label,
                access_path: &s.access_path,
                availability_requests: s.availability.requests,
                availability_scheduled: s.availability.scheduled,
                availability_time: s.availability.time,
                downtime_s: s.downtime.total_s,
                downtime_windows: s.downtime.windows.len(),
                mttr_s: s.mttr_s,
                faults: s.faults.len(),
                p50_ms: s.latency_ms.p50,
                p99_ms: s.latency_ms.p99,
                sent: s.counts.sent,
                failed: s.counts.failed,
                restarts_seen: s.restarts_seen,
            })
            .collect(),
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("compare.json"))?);
    serde_json::to_writer_pretty(&mut f, &cmp)?;
    writeln!(f)?;
    f.flush()?;
    Ok(())
}

/// Outages, MTTR and the swarm's medians, one row per run.
fn recovery_table(summaries: &[&Summary]) -> Table {
    Table {
        head: [
            "run",
            "faults",
            "outages",
            "MTTR (s)",
            "swarm: median died (s)",
            "median started (s)",
            "median healthy (s)",
            "node faults: median down after (s)",
            "median replacement answered (s)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: summaries
            .iter()
            .map(|s| {
                let median = |mut v: Vec<f64>| {
                    v.sort_by(f64::total_cmp);
                    (!v.is_empty()).then(|| v[v.len() / 2])
                };
                // Container events of a node fault are its old tasks' clean-up: node faults
                // are read from the managers' view instead.
                let med = |f: &dyn Fn(&crate::summary::SwarmRecovery) -> Option<f64>| {
                    median(
                        s.faults
                            .iter()
                            .filter(|x| x.node.is_none())
                            .filter_map(|x| x.swarm.as_ref().and_then(f))
                            .collect(),
                    )
                };
                let node = |f: &dyn Fn(&crate::analysis::nodes::NodeRecovery) -> Option<f64>| {
                    median(
                        s.faults
                            .iter()
                            .filter_map(|x| x.node.as_ref().and_then(f))
                            .collect(),
                    )
                };
                vec![
                    s.run.setup.label.clone(),
                    s.faults.len().to_string(),
                    s.faults
                        .iter()
                        .filter(|f| f.outage && !f.in_earlier_outage)
                        .count()
                        .to_string(),
                    opt_secs(s.mttr_s),
                    opt_secs(med(&|r| r.died_s)),
                    opt_secs(med(&|r| r.started_s)),
                    opt_secs(med(&|r| r.healthy_s)),
                    opt_secs(node(&|n| n.down_s)),
                    opt_secs(node(&|n| n.replacement_answered_s)),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod recovery_tests {
    use super::*;

    #[test]
    fn each_run_is_linked_relative_to_the_comparison() {
        assert_eq!(
            relative(
                Path::new("results/multi-node/compare-replicas"),
                Path::new("results/multi-node/1-replica/report.html")
            ),
            "../1-replica/report.html"
        );
        assert_eq!(
            relative(Path::new("/tmp/a/b"), Path::new("/tmp/c/report.html")),
            "../../c/report.html"
        );
    }

    #[test]
    fn a_node_faults_recovery_is_the_managers_view_not_the_old_tasks_clean_up() {
        let p: Summary = serde_json::from_str(include_str!(
            "../../results/multi-node/partition/summary.json"
        ))
        .unwrap();
        let t = recovery_table(&[&p]);
        let col = |name: &str| t.head.iter().position(|h| h == name).unwrap();
        let row = &t.rows[0];
        // Its container deaths (about 42 s: node-1's old tasks removed when it came back).
        assert_eq!(row[col("swarm: median died (s)")], "-");
        let n = p.faults[0].node.as_ref().unwrap();
        assert_eq!(
            row[col("node faults: median down after (s)")],
            opt_secs(n.down_s)
        );
        assert_eq!(
            row[col("median replacement answered (s)")],
            opt_secs(n.replacement_answered_s)
        );
    }
}
