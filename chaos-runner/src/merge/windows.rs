//! Downtime of the merged load: the times when no vantage point got an answer. A merged
//! window is where every vantage that was measuring then was inside one of its own downtime
//! windows, so it is the intersection of the vantages' windows on the merged time line
//! (a vantage that had not started yet, or was lost, does not count against it).
//!
//! Its end is exact: each vantage's window ends at its first success, and the earliest of
//! them is the merged load's first success. Its start is each vantage's first miss, and the
//! latest of them: at most one of a vantage's ticks (plus its send lateness) after the
//! merged load's first miss. Windows shorter than the runs' shortest window are glitches,
//! as in each run; a vantage's own glitches cannot make a longer merged window.

use serde::{Deserialize, Serialize};

/// One vantage's part: its windows and when it measured, all in µs on the merged time line.
pub(super) struct Seen {
    /// Its downtime windows: start, end, and whether it was still failing when it stopped.
    pub(super) windows: Vec<(u64, u64, bool)>,
    /// When it started and stopped measuring (its run's end, or its loss).
    pub(super) from_us: u64,
    pub(super) to_us: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedWindow {
    pub start_s: f64,
    pub end_s: f64,
    pub duration_s: f64,
    /// No vantage got an answer again before every vantage had stopped.
    pub open: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedDowntime {
    pub windows: Vec<MergedWindow>,
    pub total_s: f64,
    /// Mean length of the windows that ended (time to restore); none when none ended.
    pub mttr_s: Option<f64>,
    pub min_window_ms: f64,
    /// How late a window's start can be, at most (ms): the longest time between two of one
    /// vantage's scheduled requests. None for closed-loop runs, which have no schedule.
    pub start_late_by_at_most_ms: Option<f64>,
}

/// Where no vantage that was measuring got an answer, longer than `min_us`.
pub(super) fn merged_windows(seen: &[Seen], min_us: u64, tick_ms: Option<f64>) -> MergedDowntime {
    let end_us = seen.iter().map(|s| s.to_us).max().unwrap_or(0);
    // Per vantage, where it saw no answer or was not measuring, as sorted disjoint spans.
    let mut down: Option<Vec<(u64, u64)>> = None;
    for s in seen {
        let mut spans = vec![(0, s.from_us)];
        spans.extend(s.windows.iter().map(|&(a, b, open)| {
            // Still failing when it stopped: down until the end of everything.
            (a, if open { end_us } else { b })
        }));
        spans.push((s.to_us, end_us));
        let spans = union(spans);
        down = Some(match down {
            None => spans,
            Some(d) => intersect(&d, &spans),
        });
    }
    let windows: Vec<MergedWindow> = down
        .unwrap_or_default()
        .into_iter()
        // Before the first vantage started nothing was measured, so nothing was down.
        .filter(|&(a, b)| b > a && b - a >= min_us.max(1) && !seen.iter().all(|s| a < s.from_us))
        .map(|(a, b)| MergedWindow {
            start_s: a as f64 / 1e6,
            end_s: b as f64 / 1e6,
            duration_s: (b - a) as f64 / 1e6,
            open: b >= end_us,
        })
        .collect();
    let closed: Vec<f64> = windows
        .iter()
        .filter(|w| !w.open)
        .map(|w| w.duration_s)
        .collect();
    MergedDowntime {
        // Folded from +0.0: an empty f64 sum is -0.0.
        total_s: windows.iter().fold(0.0, |t, w| t + w.duration_s),
        mttr_s: (!closed.is_empty()).then(|| closed.iter().sum::<f64>() / closed.len() as f64),
        windows,
        min_window_ms: min_us as f64 / 1e3,
        start_late_by_at_most_ms: tick_ms,
    }
}

/// The union of spans, as sorted disjoint spans (touching ones joined; empty ones dropped).
fn union(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.retain(|&(a, b)| b > a);
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The intersection of two sets of sorted disjoint spans.
fn intersect(x: &[(u64, u64)], y: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < x.len() && j < y.len() {
        let (a, b) = (x[i].0.max(y[j].0), x[i].1.min(y[j].1));
        if a < b {
            out.push((a, b));
        }
        if x[i].1 < y[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn seen(windows: &[(u64, u64, bool)], from_us: u64, to_us: u64) -> Seen {
        Seen {
            windows: windows.to_vec(),
            from_us,
            to_us,
        }
    }

    fn spans(d: &MergedDowntime) -> Vec<(f64, f64, bool)> {
        d.windows
            .iter()
            .map(|w| (w.start_s, w.end_s, w.open))
            .collect()
    }

    #[test]
    fn a_window_is_where_every_vantage_saw_none_and_ends_at_the_first_answer() {
        // One vantage down 10-15 s, another 10.02-14.5 s and 16-17 s, a third never.
        let d = merged_windows(
            &[
                seen(&[(10 * S, 15 * S, false)], 0, 30 * S),
                seen(
                    &[(10_020_000, 14_500_000, false), (16 * S, 17 * S, false)],
                    0,
                    30 * S,
                ),
            ],
            0,
            Some(20.0),
        );
        assert_eq!(spans(&d), vec![(10.02, 14.5, false)]);
        assert_eq!(d.mttr_s, Some(4.48));
        let d = merged_windows(
            &[
                seen(&[(10 * S, 15 * S, false)], 0, 30 * S),
                seen(&[(10_020_000, 14_500_000, false)], 0, 30 * S),
                seen(&[], 0, 30 * S),
            ],
            0,
            None,
        );
        assert!(d.windows.is_empty(), "a vantage always answered: {d:?}");
        assert_eq!((d.total_s, d.mttr_s), (0.0, None));
        assert!(d.total_s.is_sign_positive(), "written 0.0, not -0.0");
    }

    #[test]
    fn a_lost_vantage_stops_counting_and_a_window_open_everywhere_gets_no_mttr() {
        // Lost at 12 s, before the other's window ended: from then only the other counts.
        let d = merged_windows(
            &[
                seen(&[(11 * S, 11_500_000, false)], 0, 12 * S),
                seen(&[(11 * S, 20 * S, false)], 0, 30 * S),
            ],
            0,
            None,
        );
        assert_eq!(spans(&d), vec![(11.0, 11.5, false), (12.0, 20.0, false)]);
        // Both still failing when they stopped: open, and no time to restore.
        let d = merged_windows(
            &[
                seen(&[(25 * S, 30 * S, true)], 0, 30 * S),
                seen(&[(26 * S, 29 * S, true)], 0, 29 * S),
            ],
            0,
            None,
        );
        assert_eq!(spans(&d), vec![(26.0, 30.0, true)]);
        assert_eq!(d.mttr_s, None);
        assert_eq!(d.total_s, 4.0);
    }

    #[test]
    fn glitches_stay_glitches_and_late_starters_do_not_count_before_they_start() {
        let d = merged_windows(
            &[
                seen(
                    &[(5 * S, 5_100_000, false), (8 * S, 9 * S, false)],
                    0,
                    10 * S,
                ),
                seen(
                    &[(5 * S, 6 * S, false), (8_950_000, 9_500_000, false)],
                    0,
                    10 * S,
                ),
            ],
            200_000,
            None,
        );
        assert!(d.windows.is_empty(), "{d:?}");
        // The second started at 2 s: before that the first's window is the merged one.
        let d = merged_windows(
            &[
                seen(&[(S, 3 * S, false)], 0, 10 * S),
                seen(&[(2 * S, 4 * S, false)], 2 * S, 10 * S),
            ],
            0,
            None,
        );
        assert_eq!(spans(&d), vec![(1.0, 3.0, false)]);
        // Nothing measured before any run started: no window there.
        let d = merged_windows(&[seen(&[], S, 10 * S), seen(&[], 2 * S, 10 * S)], 0, None);
        assert!(d.windows.is_empty(), "{d:?}");
    }
}
