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

/// Totals of the ok and failed histograms in an interval log.
pub fn read_totals(path: &Path) -> anyhow::Result<(Histogram<u64>, Histogram<u64>)> {
    let data = std::fs::read(path)?;
    let mut ok = new_histogram();
    let mut failed = new_histogram();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(&data) {
        let entry = entry
            .map_err(|e| anyhow::anyhow!("{}: malformed interval log: {e:?}", path.display()))?;
        if let LogEntry::Interval(h) = entry {
            let bytes = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                h.encoded_histogram(),
            )
            .map_err(|e| anyhow::anyhow!("{}: bad base64 in interval log: {e}", path.display()))?;
            let hist: Histogram<u64> = de
                .deserialize(&mut std::io::Cursor::new(bytes))
                .map_err(|e| anyhow::anyhow!("{}: bad histogram: {e:?}", path.display()))?;
            let into = if h.tag().is_some_and(|t| t.as_str() == "failed") {
                &mut failed
            } else {
                &mut ok
            };
            into.add(&hist).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
    }
    Ok((ok, failed))
}

#[cfg(test)]
mod tests {
    use super::*;
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
