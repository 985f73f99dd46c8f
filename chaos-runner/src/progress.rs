//! Live progress: a bar with counts, the rate of the last second and the time left on a
//! terminal (failures in red), a plain line every 5 s otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use crate::record::Live;

/// The figures shown, and the rate since the previous look.
struct Reading {
    at: Duration,
    sent: u64,
}

fn line(live: &Live, e: Duration, planned: Option<Duration>, rate: f64, colour: bool) -> String {
    let failed = Live::get(&live.failed);
    let dropped = Live::get(&live.dropped);
    let red = |s: String| {
        if colour {
            format!("\x1b[1;31m{s}\x1b[0m")
        } else {
            s
        }
    };
    let failed = if failed > 0 {
        red(format!("failed {failed}"))
    } else {
        format!("failed {failed}")
    };
    let dropped = if dropped > 0 {
        red(format!("dropped {dropped}"))
    } else {
        format!("dropped {dropped}")
    };
    let left = planned.map_or(String::new(), |p| {
        format!(", {:.0}s left", p.saturating_sub(e).as_secs_f64().ceil())
    });
    format!(
        "{:>6.1}s{left} | {rate:>8.0} req/s | sent {} ok {} {failed} {dropped} | faults {} | replicas seen {}",
        e.as_secs_f64(),
        Live::get(&live.sent),
        Live::get(&live.ok),
        Live::get(&live.faults),
        Live::get(&live.instances),
    )
}

pub fn spawn(
    live: Arc<Live>,
    start: Instant,
    planned: Option<Duration>,
    quiet: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if quiet {
            return;
        }
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        let bar = terminal.then(|| match planned {
            Some(p) => ProgressBar::new(p.as_millis() as u64).with_style(
                ProgressStyle::with_template("{bar:30} {msg}").expect("valid template"),
            ),
            None => ProgressBar::new_spinner(),
        });
        let mut last = Reading {
            at: Duration::ZERO,
            sent: 0,
        };
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let e = start.elapsed();
            let sent = Live::get(&live.sent);
            let rate = (sent - last.sent.min(sent)) as f64 / (e - last.at).as_secs_f64().max(1e-3);
            last = Reading { at: e, sent };
            let text = line(&live, e, planned, rate, terminal);
            match &bar {
                Some(b) => {
                    b.set_position(e.as_millis() as u64);
                    b.set_message(text);
                }
                None => eprintln!("chaos-runner: {text}"),
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_stand_out_and_time_left_is_shown() {
        let live = Live::default();
        Live::bump(&live.sent);
        Live::bump(&live.failed);
        let l = line(
            &live,
            Duration::from_secs(3),
            Some(Duration::from_secs(10)),
            99.6,
            true,
        );
        assert!(l.contains("7s left"), "{l}");
        assert!(l.contains("100 req/s"), "{l}");
        assert!(l.contains("\x1b[1;31mfailed 1\x1b[0m"), "{l}");
        let plain = line(&live, Duration::from_secs(3), None, 0.0, false);
        assert!(
            !plain.contains('\x1b') && !plain.contains("left"),
            "{plain}"
        );
    }
}
