//! `timeline.csv`: one row per bucket, enough to re-render every chart and recompute every
//! figure (`chaos-runner report DIR` reads it back). Written and read through one list of
//! columns, [`COLUMNS`]: each knows its name, how it is written and how it is read back.

use std::io::{self, BufRead, Write};

use super::bucket::NONE;
use super::{Bucket, Class};

/// One column of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// The bucket's start (s).
    Time,
    /// Attempts sent (the sum of the class columns, checked on reading).
    Sent,
    Class(Class),
    Dropped,
    Late,
    OkMeanMs,
    OkMaxMs,
    FirstOkUs,
    LastOkUs,
    FirstMissUs,
    LastMissUs,
    FailedBeforeOk,
    DroppedBeforeOk,
    FailedAfterOk,
    DroppedAfterOk,
    FirstMissAfterOkUs,
    /// How many replicas answered (derived from the next column; not read back).
    Replicas,
    /// `index:answers` pairs, space-separated.
    PerInstance,
}

const COLUMNS: [Column; 25] = [
    Column::Time,
    Column::Sent,
    Column::Class(Class::ALL[0]),
    Column::Class(Class::ALL[1]),
    Column::Class(Class::ALL[2]),
    Column::Class(Class::ALL[3]),
    Column::Class(Class::ALL[4]),
    Column::Class(Class::ALL[5]),
    Column::Class(Class::ALL[6]),
    Column::Class(Class::ALL[7]),
    Column::Dropped,
    Column::Late,
    Column::OkMeanMs,
    Column::OkMaxMs,
    Column::FirstOkUs,
    Column::LastOkUs,
    Column::FirstMissUs,
    Column::LastMissUs,
    Column::FailedBeforeOk,
    Column::DroppedBeforeOk,
    Column::FailedAfterOk,
    Column::DroppedAfterOk,
    Column::FirstMissAfterOkUs,
    Column::Replicas,
    Column::PerInstance,
];

fn opt(v: Option<u64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Time => "t_s",
            Column::Sent => "sent",
            Column::Class(c) => c.name(),
            Column::Dropped => "dropped",
            Column::Late => "late",
            Column::OkMeanMs => "ok_mean_ms",
            Column::OkMaxMs => "ok_max_ms",
            Column::FirstOkUs => "first_ok_us",
            Column::LastOkUs => "last_ok_us",
            Column::FirstMissUs => "first_miss_us",
            Column::LastMissUs => "last_miss_us",
            Column::FailedBeforeOk => "failed_before_ok",
            Column::DroppedBeforeOk => "dropped_before_ok",
            Column::FailedAfterOk => "failed_after_ok",
            Column::DroppedAfterOk => "dropped_after_ok",
            Column::FirstMissAfterOkUs => "first_miss_after_ok_us",
            Column::Replicas => "replicas",
            Column::PerInstance => "per_instance",
        }
    }

    fn write(self, b: &Bucket, start_us: u64) -> String {
        match self {
            Column::Time => format!("{:.3}", start_us as f64 / 1e6),
            Column::Sent => b.sent().to_string(),
            Column::Class(c) => b.counts[c.index()].to_string(),
            Column::Dropped => b.dropped.to_string(),
            Column::Late => b.late.to_string(),
            Column::OkMeanMs => {
                let ok = b.ok();
                let mean = if ok > 0 {
                    b.ok_latency_sum_us as f64 / ok as f64 / 1000.0
                } else {
                    0.0
                };
                format!("{mean:.3}")
            }
            Column::OkMaxMs => format!("{:.3}", b.ok_latency_max_us as f64 / 1000.0),
            Column::FirstOkUs => opt(b.first_ok()),
            Column::LastOkUs => opt(b.last_ok()),
            Column::FirstMissUs => opt(b.first_fail()),
            Column::LastMissUs => opt(b.last_fail()),
            Column::FailedBeforeOk => b.edges.failed_before_ok.to_string(),
            Column::DroppedBeforeOk => b.edges.dropped_before_ok.to_string(),
            Column::FailedAfterOk => b.edges.failed_after_ok.to_string(),
            Column::DroppedAfterOk => b.edges.dropped_after_ok.to_string(),
            Column::FirstMissAfterOkUs => opt(b.edges.first_miss_after_ok_us),
            Column::Replicas => b.per_instance.len().to_string(),
            Column::PerInstance => b
                .per_instance
                .iter()
                .map(|(id, n)| format!("{id}:{n}"))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// Reads the column's text into `b` (the class columns come before those that need
    /// them; `sent` is read last, as a check).
    fn read(self, f: &str, b: &mut Bucket) -> Result<(), String> {
        let num = || f.parse::<u64>().map_err(|_| "is not a count".to_string());
        let float = || f.parse::<f64>().map_err(|_| "is not a number".to_string());
        let opt = |slot: &mut u64, none: u64| -> Result<(), String> {
            *slot = if f.is_empty() { none } else { num()? };
            Ok(())
        };
        match self {
            Column::Time | Column::Replicas => {}
            Column::Sent => {
                if num()? != b.sent() {
                    return Err("is not the sum of the class columns".into());
                }
            }
            Column::Class(c) => b.counts[c.index()] = num()?,
            Column::Dropped => b.dropped = num()?,
            Column::Late => b.late = num()?,
            Column::OkMeanMs => {
                b.ok_latency_sum_us = (float()? * 1000.0 * b.ok() as f64).round() as u64;
            }
            Column::OkMaxMs => b.ok_latency_max_us = (float()? * 1000.0).round() as u64,
            Column::FirstOkUs => opt(&mut b.first_ok_us, NONE)?,
            Column::LastOkUs => opt(&mut b.last_ok_us, 0)?,
            Column::FirstMissUs => opt(&mut b.first_fail_us, NONE)?,
            Column::LastMissUs => opt(&mut b.last_fail_us, 0)?,
            Column::FailedBeforeOk => b.edges.failed_before_ok = num()?,
            Column::DroppedBeforeOk => b.edges.dropped_before_ok = num()?,
            Column::FailedAfterOk => b.edges.failed_after_ok = num()?,
            Column::DroppedAfterOk => b.edges.dropped_after_ok = num()?,
            Column::FirstMissAfterOkUs => {
                b.edges.first_miss_after_ok_us = if f.is_empty() { None } else { Some(num()?) };
            }
            Column::PerInstance => {
                for pair in f.split_whitespace() {
                    let (id, n) = pair.split_once(':').ok_or("has a bad index:count pair")?;
                    b.per_instance.push((
                        id.parse().map_err(|_| "has a bad instance index")?,
                        n.parse().map_err(|_| "has a bad instance count")?,
                    ));
                }
            }
        }
        Ok(())
    }
}

pub fn header() -> String {
    COLUMNS.map(Column::name).join(",")
}

/// A whole timeline, header first.
pub fn write<W: Write>(mut w: W, timeline: &[Bucket], bucket_us: u64) -> io::Result<()> {
    writeln!(w, "{}", header())?;
    for (i, b) in timeline.iter().enumerate() {
        write_row(&mut w, i, b, bucket_us)?;
    }
    Ok(())
}

/// One bucket's row (after the header).
pub fn write_row<W: Write>(mut w: W, i: usize, b: &Bucket, bucket_us: u64) -> io::Result<()> {
    let row: Vec<String> = COLUMNS
        .iter()
        .map(|c| c.write(b, i as u64 * bucket_us))
        .collect();
    writeln!(w, "{}", row.join(","))
}

#[derive(Debug, thiserror::Error)]
#[error("timeline.csv line {line}: {detail}")]
pub struct ReadError {
    pub line: usize,
    pub detail: String,
}

/// Reads a timeline written by [`write`].
pub fn read<R: BufRead>(r: R) -> Result<Vec<Bucket>, ReadError> {
    let header = header();
    let mut out = Vec::new();
    for (n, line) in r.lines().enumerate() {
        let err = |detail: String| ReadError {
            line: n + 1,
            detail,
        };
        let line = line.map_err(|e| err(e.to_string()))?;
        if n == 0 {
            if line.trim() != header {
                return Err(err(
                    "unexpected header (not a chaos-runner timeline?)".into()
                ));
            }
            continue;
        }
        out.push(parse_row(&line).map_err(err)?);
    }
    Ok(out)
}

/// One row (after the header) back into its bucket.
pub fn parse_row(line: &str) -> Result<Bucket, String> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() != COLUMNS.len() {
        return Err(format!("expected {} columns", COLUMNS.len()));
    }
    let mut b = Bucket::default();
    let mut sent = "";
    for (col, f) in COLUMNS.iter().zip(&fields) {
        if *col == Column::Sent {
            // Checked against the classes once they are read.
            sent = f;
            continue;
        }
        col.read(f, &mut b)
            .map_err(|d| format!("column {} {d}", col.name()))?;
    }
    Column::Sent
        .read(sent, &mut b)
        .map_err(|d| format!("column sent {d}"))?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut tl = vec![Bucket::default(); 3];
        tl[0].add(Class::Ok, 10, 1500, Some(0));
        tl[0].add(Class::Refused, 20, 300, None);
        tl[2].add(Class::Ok, 200_010, 2000, Some(1));
        tl[2].add_dropped(200_020);
        tl[1].add(Class::Timeout, 100_500, 1000, None);
        tl.iter_mut().for_each(Bucket::settle);
        let mut buf = Vec::new();
        write(&mut buf, &tl, 100_000).unwrap();
        let back = read(buf.as_slice()).unwrap();
        assert_eq!(back, tl);
    }

    #[test]
    fn rejects_foreign_files() {
        assert!(read("a,b\n1,2\n".as_bytes()).is_err());
    }
}
