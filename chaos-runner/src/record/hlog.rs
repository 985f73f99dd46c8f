//! `latency.hlog`: an HdrHistogram interval log (one ok and one failed histogram per
//! second, values in ms), written while the run goes, and read back by `report`.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use super::new_histogram;

/// The header HdrHistogram's own log writer puts first (format version, start and base
/// time, the column legend), so its log tools read the file unchanged.
pub(super) fn write_header<W: Write>(w: &mut W, start: SystemTime) -> std::io::Result<()> {
    let epoch = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    writeln!(
        w,
        "#[Logged with chaos-runner {}: tag ok = successes, tag failed = failures; values in microseconds, Interval_Max in milliseconds]",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(w, "#[Histogram log format version 1.3]")?;
    writeln!(
        w,
        "#[StartTime: {epoch:.3} (seconds since epoch), {}]",
        humantime::format_rfc3339_millis(start)
    )?;
    writeln!(w, "#[BaseTime: {epoch:.3} (seconds since epoch)]")?;
    writeln!(
        w,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )
}

/// A histogram as the interval log holds one: V2, deflated, base64.
pub fn encode(h: &Histogram<u64>) -> std::io::Result<String> {
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    Ok(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        bytes,
    ))
}

/// The histogram [`encode`] made.
pub fn decode(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text)
        .map_err(|e| anyhow::anyhow!("bad base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| anyhow::anyhow!("bad histogram: {e:?}"))
}

/// An interval log of whole-run totals: one `ok` and one `failed` interval (each when not
/// empty) from `start` for `length`, as a merge writes the merged histograms.
pub fn write_totals(
    path: &Path,
    start: SystemTime,
    length: std::time::Duration,
    ok: &Histogram<u64>,
    failed: &Histogram<u64>,
) -> std::io::Result<()> {
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    use hdrhistogram::serialization::V2DeflateSerializer;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    write_header(&mut file, start)?;
    let mut ser = V2DeflateSerializer::new();
    {
        let mut log = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut file, &mut ser)
            .map_err(std::io::Error::other)?;
        for (h, tag) in [(ok, "ok"), (failed, "failed")] {
            if !h.is_empty() {
                log.write_histogram(h, std::time::Duration::ZERO, length, Tag::new(tag))
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            }
        }
    }
    file.flush()
}

/// Totals of the ok and failed histograms in an interval log.
pub fn read_totals(path: &Path) -> anyhow::Result<(Histogram<u64>, Histogram<u64>)> {
    let (ok, failed, _) = read_intervals(path, None)?;
    Ok((ok, failed))
}

/// Totals of the intervals that end by `until` (from the log's start), of a log whose writer
/// may have been killed: a last line cut short is left out, and said (the `String`).
pub fn read_totals_until(
    path: &Path,
    until: std::time::Duration,
) -> anyhow::Result<(Histogram<u64>, Histogram<u64>, Option<String>)> {
    read_intervals(path, Some(until))
}

/// One interval's percentiles (ms), for the latency-over-time chart.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalPercentiles {
    /// From the log's start (s), and how long it covers.
    pub start_s: f64,
    pub length_s: f64,
    /// Successes' p50 and p99; failures' p99 (None when none of that kind).
    pub ok_p50_ms: Option<f64>,
    pub ok_p99_ms: Option<f64>,
    pub failed_p99_ms: Option<f64>,
}

/// Each interval of the log with its percentiles, ok and failed merged by start.
pub fn read_percentiles(path: &Path) -> anyhow::Result<Vec<IntervalPercentiles>> {
    let data = std::fs::read(path)?;
    let mut out: Vec<IntervalPercentiles> = Vec::new();
    for entry in IntervalLogIterator::new(&data) {
        let entry = entry
            .map_err(|e| anyhow::anyhow!("{}: malformed interval log: {e:?}", path.display()))?;
        let LogEntry::Interval(h) = entry else {
            continue;
        };
        let hist = decode(h.encoded_histogram())
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
        let q = |p: f64| (!hist.is_empty()).then(|| hist.value_at_quantile(p) as f64 / 1e3);
        let start_s = h.start_timestamp().as_secs_f64();
        let at = match out.iter().position(|i| (i.start_s - start_s).abs() < 1e-6) {
            Some(i) => i,
            None => {
                out.push(IntervalPercentiles {
                    start_s,
                    length_s: h.duration().as_secs_f64(),
                    ok_p50_ms: None,
                    ok_p99_ms: None,
                    failed_p99_ms: None,
                });
                out.len() - 1
            }
        };
        if h.tag().is_some_and(|t| t.as_str() == "failed") {
            out[at].failed_p99_ms = q(0.99);
        } else {
            out[at].ok_p50_ms = q(0.5);
            out[at].ok_p99_ms = q(0.99);
        }
    }
    out.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    Ok(out)
}

fn read_intervals(
    path: &Path,
    until: Option<std::time::Duration>,
) -> anyhow::Result<(Histogram<u64>, Histogram<u64>, Option<String>)> {
    let data = std::fs::read(path)?;
    let mut ok = new_histogram();
    let mut failed = new_histogram();
    let mut cut = None;
    for entry in IntervalLogIterator::new(&data) {
        let entry = match (entry, until) {
            (Ok(e), _) => e,
            (Err(e), Some(_)) => {
                cut = Some(format!(
                    "{}: a last line cut short ({e:?}) was left out",
                    path.display()
                ));
                break;
            }
            (Err(e), None) => {
                anyhow::bail!("{}: malformed interval log: {e:?}", path.display())
            }
        };
        if let LogEntry::Interval(h) = entry {
            if until.is_some_and(|u| {
                h.start_timestamp() + h.duration() > u + std::time::Duration::from_millis(1)
            }) {
                continue;
            }
            let hist = decode(h.encoded_histogram())
                .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
            let into = if h.tag().is_some_and(|t| t.as_str() == "failed") {
                &mut failed
            } else {
                &mut ok
            };
            into.add(&hist).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
    }
    Ok((ok, failed, cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_per_second_show_when_a_replica_was_slowed() {
        // The committed spectrum run: one of 3 replicas 300 ms slower from 5 s to 20 s.
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../results/failure-spectrum/slow/health-off/3-replicas/latency.hlog");
        let intervals = read_percentiles(&p).unwrap();
        assert!(intervals.len() >= 29, "{}", intervals.len());
        for i in &intervals {
            let p99 = i.ok_p99_ms.unwrap();
            let p50 = i.ok_p50_ms.unwrap();
            if i.start_s >= 6.0 && i.start_s + i.length_s <= 19.5 {
                assert!(p99 >= 300.0, "{i:?}");
            }
            if i.start_s + i.length_s <= 4.9 || i.start_s >= 21.0 {
                assert!(p99 < 100.0, "{i:?}");
            }
            assert!(
                p50 < 100.0,
                "a third of the answers slowed leaves the median: {i:?}"
            );
            assert_eq!(i.failed_p99_ms, None, "nothing failed: {i:?}");
        }
    }
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    use hdrhistogram::serialization::V2DeflateSerializer;
    use std::time::Duration;

    #[test]
    fn the_header_is_hdrhistograms_and_its_reader_takes_it() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_709_441_878);
        let mut buf = Vec::new();
        write_header(&mut buf, start).unwrap();
        let mut ser = V2DeflateSerializer::new();
        let mut h = new_histogram();
        h.record(1500).unwrap();
        {
            let mut log = IntervalLogWriterBuilder::new()
                .with_max_value_divisor(1000.0)
                .begin_log_with(&mut buf, &mut ser)
                .unwrap();
            log.write_histogram(&h, Duration::ZERO, Duration::from_secs(1), Tag::new("ok"))
                .unwrap();
        }
        let text = String::from_utf8(buf.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "#[Histogram log format version 1.3]");
        assert!(lines[2].starts_with("#[StartTime: 1795709441.878 (seconds since epoch), 2026-"));
        assert_eq!(
            lines[3],
            "#[BaseTime: 1795709441.878 (seconds since epoch)]"
        );
        assert_eq!(
            lines[4],
            r#""StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram""#
        );
        let entries: Vec<_> = IntervalLogIterator::new(&buf)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(matches!(entries[0], LogEntry::StartTime(_)));
        assert!(matches!(entries[1], LogEntry::BaseTime(_)));
        assert!(matches!(entries[2], LogEntry::Interval(_)));
    }
}
