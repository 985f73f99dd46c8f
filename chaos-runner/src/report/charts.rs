//! Charts as SVG (plotters): throughput and failures over time with fault markers and
//! downtime shaded, replicas answering over time, latency by percentile, and the
//! comparison of several runs.

use hdrhistogram::Histogram;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::record::Bucket;

pub use super::marks::Marks;

const W: u32 = 960;
const H: u32 = 320;
const OK: RGBColor = RGBColor(46, 139, 87);
const FAIL: RGBColor = RGBColor(200, 40, 40);
const FAULT: RGBColor = RGBColor(40, 40, 40);
/// The swarm's own states on the comparison's panels (one colour: each run's page names them).
const STATE: RGBColor = RGBColor(120, 60, 20);
/// The band of a fault in force (from firing to being put back).
const HELD: RGBColor = RGBColor(120, 120, 200);
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Res = Result<String, String>;

/// Tick labels and axis names, readable at 100 % zoom on a page as wide as the chart.
const TICKS: (&str, u32) = ("sans-serif", 15);
const AXIS: (&str, u32) = ("sans-serif", 15);
const CAPTION: (&str, u32) = ("sans-serif", 18);

/// A tick value without a trailing `.0`: whole seconds and counts as integers.
fn tick(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{:.0}", v)
    } else {
        format!("{v:.1}")
    }
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// A bucket's value held flat over the bucket (a step line): a change shows where its bucket
/// starts, never before. Buckets where `f` gives nothing are left out.
fn steps(timeline: &[Bucket], bs: f64, f: &dyn Fn(&Bucket) -> Option<f64>) -> Vec<(f64, f64)> {
    steps_from(timeline, 0.0, bs, f)
}

fn steps_from(
    timeline: &[Bucket],
    from_s: f64,
    bs: f64,
    f: &dyn Fn(&Bucket) -> Option<f64>,
) -> Vec<(f64, f64)> {
    timeline
        .iter()
        .enumerate()
        .filter_map(|(i, b)| f(b).map(|v| (from_s + i as f64 * bs, v)))
        .flat_map(|(t, v)| [(t, v), (t + bs, v)])
        .collect()
}

/// Which figure of an interval a line of the percentiles chart draws.
type Pick = dyn Fn(&crate::record::hlog::IntervalPercentiles) -> Option<f64>;

/// p50 and p99 of the successes and p99 of the failures, per interval of the latency log
/// (one second), from each request's intended send time: when answers slowed, and how long
/// failures took to fail.
pub fn percentiles_over_time(
    m: &Marks,
    intervals: &[crate::record::hlog::IntervalPercentiles],
) -> Res {
    let x_min = m.from_s;
    let x_max = intervals
        .iter()
        .map(|i| i.start_s + i.length_s)
        .fold(m.until_s, f64::max)
        .max(x_min + 1.0);
    let y_max = intervals
        .iter()
        .flat_map(|i| [i.ok_p99_ms, i.failed_p99_ms])
        .flatten()
        .fold(1.0, f64::max)
        * 1.1;
    // Each interval's value held over it; an interval without that kind is a gap.
    let lines = |f: &Pick| step_segments(intervals.iter().map(|i| (i.start_s, i.length_s, f(i))));
    let series: [(&str, RGBColor, u32, &Pick); 3] = [
        ("failures p99", FAIL, 1, &|i| i.failed_p99_ms),
        ("successes p99", PALETTE[0], 2, &|i| i.ok_p99_ms),
        ("successes p50", OK, 2, &|i| i.ok_p50_ms),
    ];
    let drawn: Vec<_> = series
        .into_iter()
        .map(|(name, colour, width, f)| (name, colour, width, lines(f)))
        .filter(|(_, _, _, segs)| !segs.is_empty())
        .collect();
    let mut keys = band_keys(m, false);
    keys.extend(drawn.iter().map(|(name, colour, width, _)| {
        (name.to_string(), Swatch::Line(colour.to_rgba(), *width))
    }));
    keys.push(("fault".into(), Swatch::Tick(FAULT.to_rgba())));
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (W, H + key_height(&keys))).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let body = with_key(
            &root,
            "Latency over time, per second (from intended send time)",
            &keys,
        )?;
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc("ms")
            .label_style(TICKS)
            .axis_desc_style(AXIS)
            .x_label_formatter(&tick)
            .draw()
            .map_err(err)?;
        held_bands(&mut chart, m, x_min, y_max)?;
        for (_, colour, width, segs) in drawn {
            chart
                .draw_series(
                    segs.into_iter()
                        .map(move |s| PathElement::new(s, colour.stroke_width(width))),
                )
                .map_err(err)?;
        }
        fault_lines(&mut chart, m, x_min, y_max)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// [`steps_from`] cut where `f` gives nothing: one step line per stretch of buckets with a value.
fn segments(
    timeline: &[Bucket],
    from_s: f64,
    bs: f64,
    f: &dyn Fn(&Bucket) -> Option<f64>,
) -> Vec<Vec<(f64, f64)>> {
    step_segments(
        timeline
            .iter()
            .enumerate()
            .map(|(i, b)| (from_s + i as f64 * bs, bs, f(b))),
    )
}

/// Values held flat over their spans (start, length, value), one line per stretch of spans
/// with a value: a span without one is a gap, not a line drawn across it.
fn step_segments(spans: impl Iterator<Item = (f64, f64, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (t, len, v) in spans {
        match v {
            Some(v) => {
                current.push((t, v));
                current.push((t + len, v));
            }
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Where a time chart's x axis ends: the timeline's end or the run's, at least a second in.
fn x_end(m: &Marks, timeline: &[Bucket], bs: f64) -> f64 {
    (m.from_s + timeline.len() as f64 * bs)
        .max(m.until_s)
        .max(m.from_s + 1.0)
}

/// A line at each fault's firing, across the chart.
fn fault_lines<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    m: &Marks,
    x_min: f64,
    y_top: f64,
) -> Result<(), String> {
    chart
        .draw_series(
            m.faults
                .iter()
                .filter(|t| **t >= x_min)
                .map(|&t| PathElement::new(vec![(t, 0.0), (t, y_top)], FAULT.stroke_width(1))),
        )
        .map_err(err)?;
    Ok(())
}

/// Requests per second that succeeded and failed, per bucket.
pub fn throughput(m: &Marks, timeline: &[Bucket], bucket_us: u64) -> Res {
    let bs = bucket_us as f64 / 1e6;
    let x_min = m.from_s;
    let x_max = x_end(m, timeline, bs);
    let y_max = timeline
        .iter()
        .map(|b| b.sent() + b.dropped)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        / bs
        * 1.1;
    let mut keys = band_keys(m, true);
    keys.push(("ok/s".into(), Swatch::Line(OK.to_rgba(), 2)));
    keys.push(("failed/s".into(), Swatch::Line(FAIL.to_rgba(), 2)));
    if timeline.iter().any(|b| b.dropped > 0) {
        keys.push(("dropped/s".into(), Swatch::Line(FAIL.mix(0.5), 1)));
    }
    if !m.windows.is_empty() {
        keys.push(("outage".into(), Swatch::Band(FAIL.mix(0.12))));
    }
    keys.push(("fault".into(), Swatch::Tick(FAULT.to_rgba())));
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (W, H + key_height(&keys))).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let body = with_key(&root, &format!(
                    "Requests per second over {:.0} ms buckets: succeeded and failed (faults marked, downtime shaded)",
                    bs * 1e3
                ), &keys)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc("requests/s")
            .label_style(TICKS)
            .axis_desc_style(AXIS)
            .x_label_formatter(&tick)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(m.windows.iter().map(|&(a, b)| {
                Rectangle::new([(a.max(x_min), 0.0), (b, y_max)], FAIL.mix(0.12).filled())
            }))
            .map_err(err)?;
        held_bands(&mut chart, m, x_min, y_max)?;
        state_bands(&mut chart, m, x_min, y_max)?;
        let pts = |f: &dyn Fn(&Bucket) -> u64| {
            steps_from(timeline, x_min, bs, &|b| Some(f(b) as f64 / bs))
        };
        chart
            .draw_series(LineSeries::new(pts(&|b| b.ok()), OK.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(pts(&|b| b.failed()), FAIL.stroke_width(2)))
            .map_err(err)?;
        if timeline.iter().any(|b| b.dropped > 0) {
            chart
                .draw_series(LineSeries::new(
                    pts(&|b| b.dropped),
                    FAIL.mix(0.5).stroke_width(1),
                ))
                .map_err(err)?;
        }
        fault_lines(&mut chart, m, x_min, y_max)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Failed requests per second by class, per bucket: what kind of failure, when.
pub fn failures_by_class(m: &Marks, timeline: &[Bucket], bucket_us: u64) -> Res {
    use crate::record::class::Class;
    let bs = bucket_us as f64 / 1e6;
    let x_min = m.from_s;
    let x_max = x_end(m, timeline, bs);
    let classes: Vec<Class> = Class::ALL
        .into_iter()
        .filter(|c| !c.is_ok() && timeline.iter().any(|b| b.counts[c.index()] > 0))
        .collect();
    let y_max = timeline
        .iter()
        .flat_map(|b| classes.iter().map(|c| b.counts[c.index()]))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        / bs
        * 1.1;
    let mut keys = band_keys(m, false);
    keys.extend(classes.iter().enumerate().map(|(i, c)| {
        (
            c.name().to_string(),
            Swatch::Line(PALETTE[i % PALETTE.len()].to_rgba(), 2),
        )
    }));
    keys.push(("fault".into(), Swatch::Tick(FAULT.to_rgba())));
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (W, H + key_height(&keys))).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let body = with_key(
            &root,
            &format!(
                "Failed requests per second by class, over {:.0} ms buckets",
                bs * 1e3
            ),
            &keys,
        )?;
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc("failed/s")
            .label_style(TICKS)
            .axis_desc_style(AXIS)
            .x_label_formatter(&tick)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(err)?;
        held_bands(&mut chart, m, x_min, y_max)?;
        for (i, c) in classes.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let pts = steps_from(timeline, x_min, bs, &|b| {
                Some(b.counts[c.index()] as f64 / bs)
            });
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(err)?;
        }
        fault_lines(&mut chart, m, x_min, y_max)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// The mean and the slowest latency of the successes in each bucket (ms): when answers
/// slowed down.
pub fn latency_over_time(m: &Marks, timeline: &[Bucket], bucket_us: u64) -> Res {
    let bs = bucket_us as f64 / 1e6;
    let x_min = m.from_s;
    let x_max = x_end(m, timeline, bs);
    let mean = |b: &Bucket| (b.ok() > 0).then(|| b.ok_latency_sum_us as f64 / b.ok() as f64 / 1e3);
    let max = |b: &Bucket| (b.ok() > 0).then(|| b.ok_latency_max_us as f64 / 1e3);
    let y_max = timeline.iter().filter_map(max).fold(1.0, f64::max) * 1.1;
    let mut keys = band_keys(m, false);
    keys.push(("slowest".into(), Swatch::Line(FAIL.mix(0.6), 1)));
    keys.push(("mean".into(), Swatch::Line(OK.to_rgba(), 2)));
    keys.push(("fault".into(), Swatch::Tick(FAULT.to_rgba())));
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (W, H + key_height(&keys))).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let body = with_key(&root, &format!("Latency of successes over {:.0} ms buckets: mean and slowest (from intended send time)", bs * 1e3), &keys)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_min..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc("ms")
            .label_style(TICKS)
            .axis_desc_style(AXIS)
            .x_label_formatter(&tick)
            .draw()
            .map_err(err)?;
        held_bands(&mut chart, m, x_min, y_max)?;
        // Buckets without a success are gaps, not lines drawn across them.
        chart
            .draw_series(
                segments(timeline, x_min, bs, &max)
                    .into_iter()
                    .map(|seg| PathElement::new(seg, FAIL.mix(0.6).stroke_width(1))),
            )
            .map_err(err)?;
        chart
            .draw_series(
                segments(timeline, x_min, bs, &mean)
                    .into_iter()
                    .map(|seg| PathElement::new(seg, OK.stroke_width(2))),
            )
            .map_err(err)?;
        fault_lines(&mut chart, m, x_min, y_max)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// How a key entry is drawn.
#[derive(Debug, Clone, Copy)]
enum Swatch {
    Line(RGBAColor, u32),
    Band(RGBAColor),
    Tick(RGBAColor),
}

/// The key's rows: entries laid out left to right, wrapping at the chart's width.
fn key_rows(keys: &[(String, Swatch)]) -> Vec<Vec<(i32, usize)>> {
    let mut rows: Vec<Vec<(i32, usize)>> = vec![Vec::new()];
    let mut x = 80;
    for (i, (label, _)) in keys.iter().enumerate() {
        let w = 40 + 9 * label.chars().count() as i32;
        if x + w > W as i32 - 10 && !rows.last().is_some_and(Vec::is_empty) {
            rows.push(Vec::new());
            x = 80;
        }
        rows.last_mut().expect("a row").push((x, i));
        x += w;
    }
    rows
}

const KEY_LINE: u32 = 22;

fn key_height(keys: &[(String, Swatch)]) -> u32 {
    if keys.is_empty() {
        0
    } else {
        KEY_LINE * key_rows(keys).len() as u32 + 4
    }
}

/// The caption, then the key in rows of its own, then the area for the chart: a key never
/// covers the data.
fn with_key<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    keys: &[(String, Swatch)],
) -> Result<DrawingArea<DB, plotters::coord::Shift>, String> {
    let below = root
        .margin(10, 0, 0, 0)
        .titled(caption, CAPTION)
        .map_err(err)?;
    let (key, body) = below.split_vertically(key_height(keys));
    for (row, entries) in key_rows(keys).into_iter().enumerate() {
        let y = 6 + KEY_LINE as i32 * row as i32;
        for (x, i) in entries {
            let (label, swatch) = &keys[i];
            match *swatch {
                Swatch::Line(c, w) => key.draw(&PathElement::new(
                    vec![(x, y + 6), (x + 18, y + 6)],
                    c.stroke_width(w),
                )),
                Swatch::Band(c) => {
                    key.draw(&Rectangle::new([(x, y + 1), (x + 18, y + 11)], c.filled()))
                }
                Swatch::Tick(c) => key.draw(&PathElement::new(
                    vec![(x + 9, y - 1), (x + 9, y + 13)],
                    c.stroke_width(1),
                )),
            }
            .map_err(err)?;
            key.draw(&Text::new(label.clone(), (x + 24, y - 2), AXIS))
                .map_err(err)?;
        }
    }
    Ok(body)
}

/// The key entries of the bands a time chart draws: faults in force, and (where drawn) the
/// swarm's own states that occurred.
fn band_keys(m: &Marks, states: bool) -> Vec<(String, Swatch)> {
    use super::marks::SwarmState;
    let mut keys = Vec::new();
    if !m.held.is_empty() {
        keys.push(("fault in force".to_string(), Swatch::Band(HELD.mix(0.6))));
    }
    if states {
        for st in SwarmState::ALL {
            if m.states.iter().any(|s| s.2 == st) {
                keys.push((
                    st.name().to_string(),
                    Swatch::Band(state_colour(st).mix(0.7)),
                ));
            }
        }
    }
    keys
}

/// Each swarm state's colour on a run's time charts.
fn state_colour(st: super::marks::SwarmState) -> RGBColor {
    use super::marks::SwarmState;
    match st {
        SwarmState::NodeDown => RGBColor(120, 60, 20),
        SwarmState::ControlPlaneLost => RGBColor(200, 0, 120),
        SwarmState::Updating => RGBColor(0, 140, 160),
        SwarmState::RollingBack => RGBColor(220, 150, 0),
        SwarmState::Unhealthy => RGBColor(230, 90, 0),
    }
}

/// Bands along the bottom of the chart for the swarm's own states (a node down, the
/// managers' API lost, an update or a rollback under way), one colour and legend entry each.
fn state_bands<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    m: &Marks,
    x_min: f64,
    y_top: f64,
) -> Result<(), String> {
    use super::marks::SwarmState;
    let colour = state_colour;
    for st in SwarmState::ALL {
        let bands: Vec<_> = m.states.iter().filter(|s| s.2 == st).collect();
        if bands.is_empty() {
            continue;
        }
        let c = colour(st);
        chart
            .draw_series(bands.iter().map(|&&(a, b, _)| {
                Rectangle::new(
                    [(a.max(x_min), 0.0), (b, y_top * 0.04)],
                    c.mix(0.7).filled(),
                )
            }))
            .map_err(err)?;
    }
    Ok(())
}

/// A band along the top of the chart for each fault in force (firing to put back), labelled.
fn held_bands<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    m: &Marks,
    x_min: f64,
    y_top: f64,
) -> Result<(), String> {
    if m.held.is_empty() {
        return Ok(());
    }
    let y_band = y_top * 0.96;
    chart
        .draw_series(m.held.iter().map(|&(a, b)| {
            Rectangle::new([(a.max(x_min), y_band), (b, y_top)], HELD.mix(0.6).filled())
        }))
        .map_err(err)?;
    Ok(())
}

/// One lane per replica id, filled where it answered: restarts show as a lane ending and a
/// new one starting.
/// Lanes are coloured by the version the replica reported.
pub fn replicas(m: &Marks, timeline: &[Bucket], bucket_us: u64) -> Res {
    let bs = bucket_us as f64 / 1e6;
    let x_min = m.from_s;
    let x_max = x_end(m, timeline, bs);
    let n = m.lane_versions.len().max(1);
    let colour = |idx: u32| {
        let v = m
            .lane_versions
            .get(idx as usize)
            .map(String::as_str)
            .unwrap_or("");
        let pos = m.versions.iter().position(|x| x == v).unwrap_or(0);
        PALETTE[pos % PALETTE.len()]
    };
    // The versions' key is a row of its own between the caption and the lanes: a legend
    // inside the chart would cover the lanes' first seconds.
    const KEY_ROW: u32 = 26;
    let height = (110 + KEY_ROW + 24 * n as u32).min(1000 + KEY_ROW);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let below = root
            .margin(10, 0, 0, 0)
            .titled(
                "Which replica answered, over time (a lane per process start, coloured by version)",
                CAPTION,
            )
            .map_err(err)?;
        let (key, body) = below.split_vertically(KEY_ROW);
        // Room for the longest lane name (`#12 node-1, slot 3`) beside the axis title.
        let longest = m
            .lane_labels
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(3);
        let label_w = (40 + 9 * longest as u32).max(70);
        let mut chart = ChartBuilder::on(&body)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(label_w)
            .build_cartesian_2d(x_min..x_max, -0.5f64..n as f64 - 0.5)
            .map_err(err)?;
        // One label per lane, on its centre (every few lanes past 40).
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc("replica")
            .label_style(TICKS)
            .axis_desc_style(AXIS)
            .x_label_formatter(&tick)
            .y_labels((n + 1).min(41))
            .y_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-6 && *v >= 0.0 {
                    let i = v.round() as usize;
                    m.lane_labels
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("#{}", i + 1))
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(err)?;
        let mut rects = Vec::new();
        for (i, b) in timeline.iter().enumerate() {
            for &(id, _) in &b.per_instance {
                let c = colour(id);
                let y = id as f64;
                rects.push(Rectangle::new(
                    [
                        (x_min + i as f64 * bs, y - 0.35),
                        (x_min + (i + 1) as f64 * bs, y + 0.35),
                    ],
                    c.filled(),
                ));
            }
        }
        chart.draw_series(rects).map_err(err)?;
        chart
            .draw_series(m.faults.iter().filter(|t| **t >= x_min).map(|&t| {
                PathElement::new(vec![(t, -0.5), (t, n as f64 - 0.5)], FAULT.stroke_width(1))
            }))
            .map_err(err)?;
        let (mut x, y) = (80, 8);
        for (i, v) in m.versions.iter().enumerate() {
            let c = PALETTE[i % PALETTE.len()];
            let label = if v.is_empty() {
                "(no version)".to_string()
            } else {
                format!("version {v}")
            };
            key.draw(&Rectangle::new([(x, y), (x + 14, y + 10)], c.filled()))
                .map_err(err)?;
            key.draw(&Text::new(label.clone(), (x + 20, y - 2), AXIS))
                .map_err(err)?;
            x += 40 + 9 * label.chars().count() as i32;
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Latency of successes by percentile (x: 0, 90, 99, 99.9 ... %).
pub fn percentiles(h: &Histogram<u64>) -> Res {
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        if q >= 1.0 {
            break;
        }
        pts.push((-(1.0 - q).log10(), v.value_iterated_to() as f64 / 1000.0));
    }
    if let Some(&(x, _)) = pts.last() {
        pts.push((x + 0.5, h.max() as f64 / 1000.0));
    }
    let x_max = pts.last().map_or(3.0, |p| p.0.max(3.0));
    let y_max = (h.max() as f64 / 1000.0 * 1.1).max(0.1);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Latency of successful requests by percentile (from intended send time)",
                CAPTION,
            )
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("ms")
            .label_style(TICKS)
            .axis_desc_style(AXIS)
            .x_labels(x_max.ceil() as usize + 1)
            .x_label_formatter(&|x| {
                let p = 100.0 * (1.0 - 10f64.powf(-x));
                if *x < 0.5 {
                    "0%".into()
                } else {
                    format!("{p:.*}%", (x.round() as usize).saturating_sub(2))
                }
            })
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(pts, PALETTE[0].stroke_width(2)))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Small multiples, one panel per run with its own faults, faults in force and outages: the
/// share of scheduled requests that succeeded per bucket, on an axis that starts just below
/// the run's lowest bucket so the action fills the panel.
pub fn compare_availability(runs: &[(String, Vec<Bucket>, u64, Marks)]) -> Res {
    const PANEL: u32 = 170;
    let x_max = runs
        .iter()
        .map(|(_, tl, bu, m)| (tl.len() as f64 * *bu as f64 / 1e6).max(m.until_s))
        .fold(1.0, f64::max);
    let bucket_ms = runs.first().map_or(100.0, |r| r.2 as f64 / 1e3);
    let height = 40 + PANEL * runs.len().max(1) as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let body = root
            .margin(10, 0, 0, 0)
            .titled(
                &format!("Share of scheduled requests that succeeded, per {bucket_ms:.0} ms bucket: one panel per run, each with its own faults"),
                CAPTION,
            )
            .map_err(err)?;
        let panels = body.split_evenly((runs.len().max(1), 1));
        for (i, ((label, tl, bucket_us, m), area)) in runs.iter().zip(panels.iter()).enumerate() {
            let bs = *bucket_us as f64 / 1e6;
            let share = |b: &Bucket| {
                (b.scheduled() > 0).then(|| 100.0 * b.ok() as f64 / b.scheduled() as f64)
            };
            let lowest = tl.iter().filter_map(share).fold(100.0, f64::min);
            let y_lo = ((lowest / 10.0).floor() * 10.0 - 5.0).clamp(-5.0, 90.0);
            let c = PALETTE[i % PALETTE.len()];
            let mut chart = ChartBuilder::on(area)
                .caption(label, AXIS)
                .margin(6)
                .x_label_area_size(30)
                .y_label_area_size(70)
                .build_cartesian_2d(0f64..x_max, y_lo..101f64)
                .map_err(err)?;
            chart
                .configure_mesh()
                .y_desc("% ok")
                .label_style(TICKS)
                .axis_desc_style(AXIS)
                .x_label_formatter(&tick)
                .y_labels(4)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .draw()
                .map_err(err)?;
            chart
                .draw_series(m.windows.iter().map(|&(a, b)| {
                    Rectangle::new([(a, y_lo), (b, 101.0)], FAIL.mix(0.12).filled())
                }))
                .map_err(err)?;
            chart
                .draw_series(
                    m.held.iter().map(|&(a, b)| {
                        Rectangle::new([(a, 99.0), (b, 101.0)], HELD.mix(0.6).filled())
                    }),
                )
                .map_err(err)?;
            let band = (101.0 - y_lo) * 0.05;
            chart
                .draw_series(m.states.iter().map(|&(a, b, _)| {
                    Rectangle::new([(a, y_lo), (b, y_lo + band)], STATE.mix(0.7).filled())
                }))
                .map_err(err)?;
            chart
                .draw_series(
                    m.faults.iter().map(|&t| {
                        PathElement::new(vec![(t, y_lo), (t, 101.0)], FAULT.stroke_width(1))
                    }),
                )
                .map_err(err)?;
            let pts: Vec<(f64, f64)> = steps(tl, bs, &|b| share(b).map(|v| v.max(y_lo)));
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_without_a_value_cut_the_line() {
        let tl: Vec<Bucket> = (0..5).map(|_| Bucket::default()).collect();
        // Values in buckets 0, 1 and 4: two stretches.
        let f = |b: &Bucket| Some(b.late as f64);
        let mut tl2 = tl.clone();
        tl2[2].late = 7;
        tl2[3].late = 7;
        let g = |b: &Bucket| (b.late == 0).then_some(1.0);
        let segs = segments(&tl2, 0.0, 0.1, &g);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].len(), 4);
        assert!((segs[1][0].0 - 0.4).abs() < 1e-9);
        assert_eq!(segments(&tl, 0.0, 0.1, &f).len(), 1);
    }
}
