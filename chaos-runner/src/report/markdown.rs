//! `report.md`: tables a student can paste into coursework.

use std::io::{self, Write};

use super::tables::{Section, Table};

pub fn table<W: Write>(w: &mut W, t: &Table) -> io::Result<()> {
    let esc = |s: &str| s.replace('|', "\\|");
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
        for l in &s.lines {
            writeln!(w, "{l}\n")?;
        }
        if let Some(t) = &s.table {
            table(&mut w, t)?;
            writeln!(w)?;
        }
    }
    Ok(())
}
