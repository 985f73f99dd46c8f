//! Reading a journal back: the report of a run whose runner died, rebuilt from what it had
//! put on disk, covering the run up to its last committed second. Anything written after
//! that commit (a second cut short) is left out, so every figure covers the same span.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;

use super::{Begin, Change, Entry, InstanceEntry, Second, Started, BUCKETS, DIR, ENTRIES};
use crate::exit::UsageError;
use crate::fault::exec::FaultEvent;
use crate::record::instances::{InstanceSeen, InstanceStats};
use crate::record::{new_histogram, timeline_csv, Bucket, Recorded};
use crate::summary::{self, Incomplete, Summary, SwarmInfo};
use crate::swarm::events::SwarmEvent;
use crate::swarm::nodes::NodesSeen;
use crate::swarm::update::UpdateStatusEvent;

/// Everything a journal holds, in the order it was written.
#[derive(Debug)]
pub struct Replayed {
    pub begin: Option<Begin>,
    pub started: Option<Started>,
    /// Changes made to the swarm, and those undone, in order.
    pub changes: Vec<Change>,
    pub undone: Vec<Change>,
    /// The service put back by the run or by `restore`.
    pub service_restored: Option<String>,
    pub instances: BTreeMap<u32, InstanceEntry>,
    /// Fault firings, the latest version of each.
    pub faults: Vec<FaultEvent>,
    pub containers: Vec<SwarmEvent>,
    pub nodes: NodesSeen,
    pub updates: Vec<UpdateStatusEvent>,
    pub last_second: Option<Second>,
    /// The most attempts in flight at any commit.
    pub peak_in_flight: u64,
    pub lateness: Histogram<u64>,
    /// A last line cut short by the runner's death, left out.
    pub cut: Vec<String>,
}

impl Replayed {
    /// Reads `dir/journal/run.jsonl`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(DIR).join(ENTRIES);
        let bytes = std::fs::read(&path)
            .map_err(|e| UsageError(format!("{}: {e} (no journal here)", path.display())))?;
        // Lossy: a line cut inside a character is a line cut short like any other.
        let lines: Vec<String> = String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect();
        Self::read_lines(&lines).with_context(|| path.display().to_string())
    }

    /// The entries of a journal's lines; a last line cut short is left out and said.
    fn read_lines(lines: &[String]) -> anyhow::Result<Self> {
        let mut r = Replayed {
            begin: None,
            started: None,
            changes: Vec::new(),
            undone: Vec::new(),
            service_restored: None,
            instances: BTreeMap::new(),
            faults: Vec::new(),
            containers: Vec::new(),
            nodes: NodesSeen::default(),
            updates: Vec::new(),
            last_second: None,
            peak_in_flight: 0,
            lateness: new_histogram(),
            cut: Vec::new(),
        };
        for (n, line) in lines.iter().enumerate() {
            // Through a Value, as summary.json is read: one deserialiser for both.
            let entry = serde_json::from_str::<serde_json::Value>(line)
                .and_then(serde_json::from_value::<Entry>);
            let entry: Entry = match entry {
                Ok(e) => e,
                Err(_) if n + 1 == lines.len() => {
                    r.cut.push("the journal's last line was cut short".into());
                    break;
                }
                Err(e) => return Err(UsageError(format!("line {}: {e}", n + 1)).into()),
            };
            r.take(entry).with_context(|| format!("line {}", n + 1))?;
        }
        Ok(r)
    }

    fn take(&mut self, e: Entry) -> anyhow::Result<()> {
        match e {
            Entry::Begin(b) => self.begin = Some(*b),
            Entry::Started(s) => self.started = Some(*s),
            Entry::Change(c) => self.changes.push(c),
            Entry::Undone(c) => self.undone.push(c),
            Entry::ServiceRestored { detail } => self.service_restored = Some(detail),
            Entry::Instance(i) => {
                self.instances.insert(i.index, i);
            }
            Entry::Fault(f) => match self
                .faults
                .iter_mut()
                .find(|g| g.fault == f.fault && g.at_s == f.at_s)
            {
                Some(g) => *g = f,
                None => self.faults.push(f),
            },
            Entry::Container(c) => self.containers.push(c),
            Entry::Node(n) => self.nodes.nodes.push(n),
            Entry::Task(t) => self.nodes.tasks.push(t),
            Entry::ControlPlane(c) => self.nodes.control_plane.push(c),
            Entry::Update(u) => self.updates.push(u),
            Entry::Second(s) => {
                if let Some(l) = &s.lateness {
                    let h = crate::record::hlog::decode(l)?;
                    self.lateness
                        .add(&h)
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                }
                self.peak_in_flight = self.peak_in_flight.max(s.started - s.ended.min(s.started));
                self.last_second = Some(s);
            }
            // That the run wrote its reports is what summary.json already says.
            Entry::End(_) => {}
        }
        Ok(())
    }

    /// Node, container and load-service changes made and not (yet) undone, in the order
    /// they were made.
    pub fn not_undone(&self) -> Vec<Change> {
        let mut undone = self.undone.clone();
        let mut out = Vec::new();
        for c in self.changes.iter().filter(|c| {
            matches!(
                c,
                Change::Node { .. } | Change::Container { .. } | Change::LoadService { .. }
            )
        }) {
            match undone.iter().position(|u| u == c) {
                Some(i) => {
                    undone.remove(i);
                }
                None => out.push(c.clone()),
            }
        }
        out
    }
}

/// The buckets committed by `rows`, by index (the last row of each wins).
fn read_buckets(
    dir: &Path,
    rows: u64,
    cut: &mut Vec<String>,
) -> anyhow::Result<BTreeMap<usize, Bucket>> {
    let path = dir.join(DIR).join(BUCKETS);
    let f =
        std::fs::File::open(&path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let mut out = BTreeMap::new();
    let mut lines = std::io::BufReader::new(f).lines();
    let header = format!("bucket,{}", timeline_csv::header());
    if lines.next().transpose()?.as_deref() != Some(header.as_str()) {
        return Err(UsageError(format!("{}: not a chaos-runner journal", path.display())).into());
    }
    for (n, line) in lines.take(rows as usize).enumerate() {
        let line = line?;
        let parsed = line
            .split_once(',')
            .ok_or_else(|| "no bucket index".to_string())
            .and_then(|(i, row)| {
                let i: usize = i.parse().map_err(|e| format!("bucket index: {e}"))?;
                Ok((i, timeline_csv::parse_row(row)?))
            });
        match parsed {
            Ok((i, b)) => {
                out.insert(i, b);
            }
            Err(e) if n + 1 == rows as usize => {
                cut.push(format!(
                    "{}: its last row was cut short ({e})",
                    path.display()
                ));
            }
            Err(e) => {
                return Err(UsageError(format!("{} line {}: {e}", path.display(), n + 2)).into())
            }
        }
    }
    Ok(out)
}

/// The summary and recordings of a run that did not finish, from its journal: covering the
/// run from its start to the last second committed, and marked incomplete.
pub fn rebuild(dir: &Path) -> anyhow::Result<(Summary, Recorded)> {
    let mut r = Replayed::read(dir)?;
    let started = r.started.clone().ok_or_else(|| {
        UsageError(format!(
            "{}: the run stopped before its load started: nothing was measured",
            dir.display()
        ))
    })?;
    let second = r.last_second.clone().unwrap_or(Second {
        at_us: 0,
        started: 0,
        ended: 0,
        buckets: 0,
        lateness: None,
    });
    let end_us = second.at_us;
    let bucket_us = (started.setup.bucket_ms * 1000.0).round().max(1.0) as u64;
    let buckets = read_buckets(dir, second.buckets, &mut r.cut)?;
    let covered = end_us.div_ceil(bucket_us) as usize;
    let mut timeline = vec![Bucket::default(); covered];
    for (i, b) in buckets {
        if let Some(slot) = timeline.get_mut(i) {
            *slot = b;
        }
    }
    let (ok, failed, cut) = match crate::record::hlog::read_totals_until(
        &dir.join("latency.hlog"),
        Duration::from_micros(end_us),
    ) {
        Ok(t) => t,
        Err(e) => {
            r.cut
                .push(format!("{e:#}: the latency figures are left empty"));
            (new_histogram(), new_histogram(), None)
        }
    };
    r.cut.extend(cut);
    let recorded = Recorded {
        bucket_us,
        timeline,
        ok,
        failed,
        lateness: r.lateness.clone(),
    };
    let end_s = end_us as f64 / 1e6;
    let instances = r
        .instances
        .values()
        .map(|i| {
            let stats = Arc::new(InstanceStats::default());
            stats.last_us.store(i.last_seen_us, Ordering::Relaxed);
            InstanceSeen {
                id: i.id.clone(),
                version: i.version.clone(),
                first_seen_us: i.first_seen_us,
                stats,
            }
        })
        .collect();
    let faults: Vec<FaultEvent> = r
        .faults
        .iter()
        .filter(|f| f.at_s <= end_s)
        .cloned()
        .collect();
    let swarm = r.begin.as_ref().and_then(|b| b.swarm.as_ref()).map(|sw| SwarmInfo {
        service: sw.service.clone(),
        replicas: started.replicas,
        converge_s: started.converge_s,
        answering: started.answering.clone(),
        restore: Some(r.service_restored.clone().unwrap_or_else(|| {
            "not restored: the runner stopped first (`chaos-runner restore DIR` puts it back)".into()
        })),
        events: r.containers.iter().filter(|e| e.at_s <= end_s).cloned().collect(),
        updates: r.updates.iter().filter(|e| e.at_s <= end_s).cloned().collect(),
        engines: sw.engine_names.clone(),
        node_driver: sw.node_driver.clone(),
        nodes: NodesSeen {
            nodes: r.nodes.nodes.iter().filter(|e| e.at_s <= end_s).cloned().collect(),
            tasks: r.nodes.tasks.iter().filter(|e| e.at_s <= end_s).cloned().collect(),
            control_plane: r
                .nodes
                .control_plane
                .iter()
                .filter(|e| e.at_s <= end_s)
                .cloned()
                .collect(),
        },
    });
    let slo = started
        .slo
        .as_deref()
        .map(str::parse::<crate::slo::Slo>)
        .transpose()
        .map_err(|e| UsageError(format!("the journal's --slo: {e}")))?;
    let mut setup = started.setup.clone();
    setup.elapsed_s = end_s;
    setup.peak_in_flight = r.peak_in_flight;
    let mut s = summary::build(summary::Inputs {
        setup,
        access_path: started.access_path.clone(),
        recorded: &recorded,
        instances,
        faults,
        swarm,
        run_end_us: end_us,
        bucket_threshold: started.bucket_threshold,
        min_window_us: started.min_window_us,
        interrupted: false,
        malformed: Default::default(),
        slo: slo.as_ref(),
    });
    s.incomplete = Some(Incomplete {
        stopped_at_s: end_s,
        planned_s: started.setup.planned_s,
        in_flight: second.started.saturating_sub(second.ended),
        notes: r.cut.clone(),
    });
    Ok((s, recorded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Kind;
    use std::io::Write;

    fn node(kind: Kind, n: &str) -> Change {
        Change::Node {
            kind,
            node: n.into(),
        }
    }

    #[test]
    fn node_changes_not_undone_are_those_left_once_each() {
        let mut r = Replayed::read_lines(&[]).unwrap();
        r.changes = vec![
            Change::Scale { replicas: 3 },
            node(Kind::NodeStop, "node-1"),
            node(Kind::Partition, "node-2"),
            node(Kind::NodeStop, "node-1"),
        ];
        r.undone = vec![node(Kind::NodeStop, "node-1")];
        assert_eq!(
            r.not_undone(),
            vec![
                node(Kind::Partition, "node-2"),
                node(Kind::NodeStop, "node-1")
            ]
        );
    }

    #[test]
    fn a_last_line_cut_short_is_left_out_and_said_any_other_is_an_error() {
        let second =
            r#"{"second":{"at_us":1000000,"started":10,"ended":9,"buckets":3,"lateness":null}}"#;
        let r = Replayed::read_lines(&[second.into(), r#"{"second":{"at_"#.into()]).unwrap();
        assert_eq!(r.last_second.as_ref().map(|s| s.at_us), Some(1_000_000));
        assert_eq!(r.peak_in_flight, 1);
        assert_eq!(r.cut.len(), 1);
        assert!(Replayed::read_lines(&["{".into(), second.into()]).is_err());
    }

    #[test]
    fn buckets_past_the_last_commit_are_left_out_and_the_last_row_wins() {
        let dir = std::env::temp_dir().join(format!("journal-replay-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(DIR)).unwrap();
        let mut f = std::fs::File::create(dir.join(DIR).join(BUCKETS)).unwrap();
        writeln!(f, "bucket,{}", timeline_csv::header()).unwrap();
        let row = |i: usize, oks: u64| {
            let mut b = Bucket::default();
            for n in 0..oks {
                b.add(crate::record::Class::Ok, i as u64 * 100_000 + n, 10, None);
            }
            b.settle();
            let mut line = format!("{i},").into_bytes();
            timeline_csv::write_row(&mut line, i, &b, 100_000).unwrap();
            line
        };
        for (i, oks) in [(0, 1), (1, 2), (0, 5), (1, 7)] {
            f.write_all(&row(i, oks)).unwrap();
        }
        drop(f);
        let mut cut = Vec::new();
        let b = read_buckets(&dir, 3, &mut cut).unwrap();
        assert_eq!(
            (b[&0].ok(), b[&1].ok()),
            (5, 2),
            "the fourth row was never committed"
        );
        assert!(cut.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
