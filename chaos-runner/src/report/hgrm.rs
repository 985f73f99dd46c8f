//! `latency.hgrm`: the HdrHistogram percentile distribution text format (as wrk2 and
//! HdrHistogram's outputPercentileDistribution print it), values in milliseconds.

use std::io::{self, Write};

use hdrhistogram::Histogram;

pub fn write<W: Write>(mut w: W, h: &Histogram<u64>) -> io::Result<()> {
    writeln!(
        w,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if h.is_empty() {
        return writeln!(w, "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]\n#[Max     = {:>12.3}, Total count    = {:>12}]", 0.0, 0.0, 0.0, 0);
    }
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value_ms = v.value_iterated_to() as f64 / 1000.0;
        if q < 1.0 {
            writeln!(
                w,
                "{:>12.3} {:>14.12} {:>10} {:>14.2}",
                value_ms,
                q,
                total,
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(w, "{:>12.3} {:>14.12} {:>10}", value_ms, q, total)?;
        }
    }
    writeln!(
        w,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    )?;
    writeln!(
        w,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / 1000.0,
        h.len()
    )?;
    writeln!(
        w,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_at_the_total_count_and_max() {
        let mut h = crate::record::new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 100).unwrap();
        }
        let mut out = Vec::new();
        write(&mut out, &h).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        let last_row = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap();
        let cols: Vec<&str> = last_row.split_whitespace().collect();
        assert_eq!(cols[2], "1000");
        assert!(text.contains("Total count    =         1000"));
    }
}
