//! `report.md`: tables a student can paste into coursework.

use std::io::{self, Write};

use super::tables::{Section, Table};

/// A table cell as text, whatever it holds (replica ids, versions and outcomes come from
/// the servers and commands measured): no HTML, no link, no code span, no column break.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '|' | '[' | ']' | '`' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn table<W: Write>(w: &mut W, t: &Table) -> io::Result<()> {
    let esc = |s: &str| cell(s);
    writeln!(
        w,
        "| {} |",
        t.head
            .iter()
            .map(|h| esc(h))
            .collect::<Vec<_>>()
            .join(" | ")
    )?;
    writeln!(w, "|{}", t.head.iter().map(|_| "---|").collect::<String>())?;
    for r in &t.rows {
        writeln!(
            w,
            "| {} |",
            r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
        )?;
    }
    Ok(())
}

pub fn write<W: Write>(mut w: W, title: &str, sections: &[Section]) -> io::Result<()> {
    writeln!(w, "# {title}\n")?;
    for s in sections {
        writeln!(w, "## {}\n", s.title)?;
        if !s.tiles.is_empty() {
            let (names, values): (Vec<String>, Vec<String>) = s.tiles.iter().cloned().unzip();
            table(
                &mut w,
                &Table {
                    head: names,
                    rows: vec![values],
                },
            )?;
            writeln!(w)?;
        }
        for l in &s.lines {
            writeln!(w, "{l}\n")?;
        }
        for (text, href) in &s.links {
            // A Markdown page links to the Markdown beside the HTML it names.
            let href = href
                .strip_suffix(".html")
                .map_or_else(|| href.clone(), |h| format!("{h}.md"));
            writeln!(w, "- [{}]({})", cell(text), href.replace(' ', "%20"))?;
        }
        if !s.links.is_empty() {
            writeln!(w)?;
        }
        if let Some(t) = &s.table {
            table(&mut w, t)?;
            writeln!(w)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_strings_stay_text() {
        assert_eq!(
            cell("<img src=x onerror=alert(1)>|[a](b)`c`\nd"),
            "&lt;img src=x onerror=alert(1)>\\|\\[a\\](b)\\`c\\` d"
        );
        assert_eq!(cell("vm-e6a9fce1"), "vm-e6a9fce1");
    }
}
