//! Live progress: a bar with counts on a terminal, a plain line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use crate::record::Live;

pub fn spawn(
    live: Arc<Live>,
    start: Instant,
    planned: Option<Duration>,
    quiet: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if quiet {
            return;
        }
        let line = |e: Duration| {
            format!(
                "{:>6.1}s sent {} ok {} failed {} dropped {} faults {} replicas seen {}",
                e.as_secs_f64(),
                Live::get(&live.sent),
                Live::get(&live.ok),
                Live::get(&live.failed),
                Live::get(&live.dropped),
                Live::get(&live.faults),
                Live::get(&live.instances),
            )
        };
        if std::io::stderr().is_terminal() {
            let bar = match planned {
                Some(p) => ProgressBar::new(p.as_millis() as u64).with_style(
                    ProgressStyle::with_template("{bar:30} {msg}").expect("valid template"),
                ),
                None => ProgressBar::new_spinner(),
            };
            loop {
                let e = start.elapsed();
                bar.set_position(e.as_millis() as u64);
                bar.set_message(line(e));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } else {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!("chaos-runner: {}", line(start.elapsed()));
            }
        }
    })
}
