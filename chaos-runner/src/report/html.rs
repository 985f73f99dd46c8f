//! `report.html`: one self-contained page (inline CSS and SVG charts, no scripts, no fetches).

use std::io::{self, Write};

use super::tables::{Section, Table};

use crashlab_common::html::escape;

/// Inline code spans (`x`) to <code>, after escaping (the only markup the sections use).
fn inline(s: &str) -> String {
    let e = escape(s);
    let mut out = String::new();
    for (i, part) in e.split('`').enumerate() {
        if i % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3;font-size:13px}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}code{background:#f3f3f3;padding:0 3px}\
.wide{overflow-x:auto}figure{margin:1em 0}svg{width:100%;height:auto}.missed{color:#b00}\
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin:.5em 0 1em}.tile{border:1px solid #ccc;border-radius:4px;padding:6px 12px;min-width:8em}\
.tile b{display:block;font-size:22px;font-variant-numeric:tabular-nums}.tile span{font-size:13px;color:#555}\
@media print{body{max-width:none;margin:0;font-size:12px}.wide{overflow:visible}table{font-size:10px;width:100%;table-layout:auto}\
th,td{padding:2px 4px}td{overflow-wrap:anywhere}td.n{white-space:normal}h2{break-after:avoid}figure,tr,.tiles{break-inside:avoid}}\
@page{size:A4 portrait;margin:12mm}";

/// Whether a cell holds a figure (right-aligned) rather than text (left-aligned): a
/// number, perhaps with a sign or bound before it and a unit after it.
fn is_figure(c: &str) -> bool {
    let c = c.trim();
    if c == "n/a" || c == "-" {
        return true;
    }
    let c = [">= ", "<= ", "~"]
        .iter()
        .find_map(|p| c.strip_prefix(p))
        .unwrap_or(c);
    let c = ["%", " s", " ms", " req/s", "x"]
        .iter()
        .find_map(|u| c.strip_suffix(u))
        .unwrap_or(c);
    c.replace(',', "").parse::<f64>().is_ok_and(f64::is_finite)
}

/// What a column means, shown on hover (the glossary at the end of the page says it too).
fn definition(head: &str) -> Option<&'static str> {
    Some(match head {
        "availability" => "ok / scheduled: the share of the requests the schedule asked for that succeeded",
        "availability (time)" => "the share of buckets in which at least the threshold of scheduled requests succeeded",
        "downtime (s)" | "downtime" => "the total length of the outages: stretches in which no request succeeded",
        "outages" => "stretches in which no request succeeded (shorter ones are glitches)",
        "MTTR (s)" | "MTTR" => "mean time from a fault to the first success that ended its outage; only outages that ended",
        "p50 (ms)" => "the latency half of the successes beat, from the intended send time",
        "p99 (ms)" | "p99 latency" => "the latency 99 % of the successes beat, from the intended send time",
        "restarts seen" => "replicas that first answered after the first fault, in containers started after it",
        "degraded" => "time in buckets in which some requests failed and some succeeded",
        "recovery (s)" => "from the fault to the first success that ended its outage",
        "last failure (s)" => "from the fault to the last request it made fail",
        "swarm: noticed (s)" => "from the fault to the engine's first sign: unhealthy, out of memory or a death",
        "late" => "sent more than 1 ms after the intended time",
        "dropped" => "never sent",
        _ => return None,
    })
}

fn table<W: Write>(w: &mut W, t: &Table) -> io::Result<()> {
    write!(w, "<div class=\"wide\"><table><thead><tr>")?;
    for h in &t.head {
        match definition(h) {
            Some(d) => write!(w, "<th title=\"{}\">{}</th>", escape(d), escape(h))?,
            None => write!(w, "<th>{}</th>", escape(h))?,
        }
    }
    writeln!(w, "</tr></thead><tbody>")?;
    for r in &t.rows {
        write!(w, "<tr>")?;
        for c in r {
            let class = if is_figure(c) { " class=\"n\"" } else { "" };
            write!(w, "<td{class}>{}</td>", escape(c))?;
        }
        writeln!(w, "</tr>")?;
    }
    writeln!(w, "</tbody></table></div>")
}

pub fn write<W: Write>(mut w: W, title: &str, sections: &[Section]) -> io::Result<()> {
    writeln!(
        w,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>",
        t = escape(title)
    )?;
    for s in sections {
        writeln!(w, "<h2>{}</h2>", escape(&s.title))?;
        if !s.tiles.is_empty() {
            write!(w, "<div class=\"tiles\">")?;
            for (name, value) in &s.tiles {
                let tip = definition(name)
                    .map(|d| format!(" title=\"{}\"", escape(d)))
                    .unwrap_or_default();
                write!(
                    w,
                    "<div class=\"tile\"{tip}><b>{}</b><span>{}</span></div>",
                    escape(value),
                    escape(name)
                )?;
            }
            writeln!(w, "</div>")?;
        }
        for l in &s.lines {
            writeln!(w, "<p>{}</p>", inline(l))?;
        }
        if !s.links.is_empty() {
            write!(w, "<ul>")?;
            for (text, href) in &s.links {
                write!(
                    w,
                    "<li><a href=\"{}\">{}</a></li>",
                    escape(href),
                    escape(text)
                )?;
            }
            writeln!(w, "</ul>")?;
        }
        if let Some(t) = &s.table {
            table(&mut w, t)?;
        }
        for (caption, svg) in &s.figures {
            writeln!(
                w,
                "<figure>{svg}<figcaption>{}</figcaption></figure>",
                escape(caption)
            )?;
        }
    }
    writeln!(w, "</body></html>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headline_columns_say_what_they_mean_on_hover() {
        let t = Table {
            head: crate::report::tables::HEADLINE_HEAD
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rows: vec![],
        };
        let mut out = Vec::new();
        table(&mut out, &t).unwrap();
        let html = String::from_utf8(out).unwrap();
        // Every figure's column but the run's label, the counts and the failures.
        for h in [
            "availability",
            "outages",
            "MTTR (s)",
            "p99 (ms)",
            "restarts seen",
        ] {
            assert!(
                html.contains(&format!("\">{h}</th>")) && html.contains("title="),
                "{h}: {html}"
            );
        }
    }

    #[test]
    fn figures_go_right_and_text_left() {
        for f in ["12", "99.967%", "0.703", "n/a", "-", ">= 3.2 s", "-1.5"] {
            assert!(is_figure(f), "{f}");
        }
        for t in [
            "1 replica",
            "docker:SIGKILL,every=10s",
            "killed vm-1",
            "not recovered",
            "inf",
        ] {
            assert!(!is_figure(t), "{t}");
        }
    }
}
