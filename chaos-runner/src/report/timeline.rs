//! `timeline.csv`: one row per bucket, enough to re-render every chart and recompute every
//! figure (`chaos-runner report DIR` reads it back).

use std::io::{self, BufRead, Write};

use crate::record::bucket::Edges;
use crate::record::{Bucket, Class};

const FIXED: [&str; 8] = [
    "t_s", "sent", "ok", "http_4xx", "http_5xx", "refused", "reset", "timeout",
];

pub fn header() -> String {
    let mut cols: Vec<&str> = FIXED.to_vec();
    cols.extend([
        "dns",
        "other",
        "dropped",
        "late",
        "ok_mean_ms",
        "ok_max_ms",
        "first_ok_us",
        "last_ok_us",
        "first_miss_us",
        "last_miss_us",
        "failed_before_ok",
        "dropped_before_ok",
        "failed_after_ok",
        "dropped_after_ok",
        "first_miss_after_ok_us",
        "replicas",
        "per_instance",
    ]);
    cols.join(",")
}

pub fn write<W: Write>(mut w: W, timeline: &[Bucket], bucket_us: u64) -> io::Result<()> {
    writeln!(w, "{}", header())?;
    for (i, b) in timeline.iter().enumerate() {
        write_row(&mut w, i, b, bucket_us)?;
    }
    Ok(())
}

/// One bucket's row (after the header).
pub fn write_row<W: Write>(mut w: W, i: usize, b: &Bucket, bucket_us: u64) -> io::Result<()> {
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    {
        let ok = b.ok();
        let mean = if ok > 0 {
            b.ok_latency_sum_us as f64 / ok as f64 / 1000.0
        } else {
            0.0
        };
        let per: Vec<String> = b
            .per_instance
            .iter()
            .map(|(id, n)| format!("{id}:{n}"))
            .collect();
        write!(w, "{:.3},{}", (i as u64 * bucket_us) as f64 / 1e6, b.sent())?;
        for c in Class::ALL {
            write!(w, ",{}", b.counts[c.index()])?;
        }
        writeln!(
            w,
            ",{},{},{:.3},{:.3},{},{},{},{},{},{},{},{},{},{},{}",
            b.dropped,
            b.late,
            mean,
            b.ok_latency_max_us as f64 / 1000.0,
            opt(b.first_ok()),
            opt(b.last_ok()),
            opt(b.first_fail()),
            opt(b.last_fail()),
            b.edges.failed_before_ok,
            b.edges.dropped_before_ok,
            b.edges.failed_after_ok,
            b.edges.dropped_after_ok,
            opt(b.edges.first_miss_after_ok_us),
            b.per_instance.len(),
            per.join(" ")
        )?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("timeline.csv line {line}: {detail}")]
pub struct ReadError {
    pub line: usize,
    pub detail: String,
}

/// Reads a timeline written by [`write`].
pub fn read<R: BufRead>(r: R) -> Result<Vec<Bucket>, ReadError> {
    let mut out = Vec::new();
    for (n, line) in r.lines().enumerate() {
        let line = line.map_err(|e| ReadError {
            line: n + 1,
            detail: e.to_string(),
        })?;
        if n == 0 {
            if line.trim() != header() {
                return Err(ReadError {
                    line: 1,
                    detail: "unexpected header (not a chaos-runner timeline?)".into(),
                });
            }
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let err = |d: &str| ReadError {
            line: n + 1,
            detail: d.into(),
        };
        let columns = header().split(',').count();
        if f.len() != columns {
            return Err(err(&format!("expected {columns} columns")));
        }
        let num = |i: usize| {
            f[i].parse::<u64>()
                .map_err(|_| err(&format!("column {} is not a count", i + 1)))
        };
        let float = |i: usize| {
            f[i].parse::<f64>()
                .map_err(|_| err(&format!("column {} is not a number", i + 1)))
        };
        let opt = |i: usize| {
            if f[i].is_empty() {
                Ok(None)
            } else {
                num(i).map(Some)
            }
        };
        let mut b = Bucket::default();
        for c in Class::ALL {
            b.counts[c.index()] = num(2 + c.index())?;
        }
        if b.sent() != num(1)? {
            return Err(err("sent is not the sum of the classes"));
        }
        b.dropped = num(10)?;
        b.late = num(11)?;
        let ok = b.ok();
        b.ok_latency_sum_us = (float(12)? * 1000.0 * ok as f64).round() as u64;
        b.ok_latency_max_us = (float(13)? * 1000.0).round() as u64;
        if let Some(v) = opt(14)? {
            b.first_ok_us = v;
        }
        if let Some(v) = opt(15)? {
            b.last_ok_us = v;
        }
        if let Some(v) = opt(16)? {
            b.first_fail_us = v;
        }
        if let Some(v) = opt(17)? {
            b.last_fail_us = v;
        }
        b.edges = Edges {
            failed_before_ok: num(18)?,
            dropped_before_ok: num(19)?,
            failed_after_ok: num(20)?,
            dropped_after_ok: num(21)?,
            first_miss_after_ok_us: opt(22)?,
        };
        for pair in f[24].split_whitespace() {
            let (id, cnt) = pair
                .split_once(':')
                .ok_or_else(|| err("bad per_instance entry"))?;
            b.per_instance.push((
                id.parse().map_err(|_| err("bad instance index"))?,
                cnt.parse().map_err(|_| err("bad instance count"))?,
            ));
        }
        out.push(b);
    }
    Ok(out)
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
