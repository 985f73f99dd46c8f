//! netem: a task's network degraded from inside its own network namespace (delay with
//! jitter, loss, a rate limit), as Pumba does it, with no registry and no tool on the host:
//! chaos-runner starts a short-lived helper container from the task's own image, in the
//! task's network namespace with `NET_ADMIN` only, running this applet
//! (`chaos-runner netem set|clear|show`), which sets the root qdisc of every interface but
//! loopback over netlink; a second helper clears it when the fault is undone.

mod spec;

#[cfg(target_os = "linux")]
mod qdisc;

pub use spec::{NetemSpec, NetemSpecError};

/// What the applet is asked.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum NetemAction {
    /// Set netem as the root qdisc of every interface but loopback: SPEC is
    /// `delay=200ms;jitter=20ms;loss=5%;rate=1mbit` (any of them).
    Set {
        #[arg(value_parser = parse_spec)]
        spec: NetemSpec,
    },
    /// Remove the netem root qdiscs (the kernel's default comes back).
    Clear,
    /// Print each interface's netem qdisc, as read back from the kernel.
    Show,
}

fn parse_spec(s: &str) -> Result<NetemSpec, String> {
    s.parse().map_err(|e: NetemSpecError| e.to_string())
}

/// Runs the applet: 0 done, 1 a netlink error (said), 2 not on Linux.
pub fn applet(action: &NetemAction) -> u8 {
    #[cfg(target_os = "linux")]
    {
        match qdisc::apply(action) {
            Ok(lines) => {
                for l in lines {
                    println!("{l}");
                }
                crate::exit::OK
            }
            Err(e) => {
                eprintln!("chaos-runner netem: {e}");
                crate::exit::RUNTIME
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = action;
        eprintln!("chaos-runner netem: only on Linux (it runs inside a task's container)");
        crate::exit::USAGE
    }
}
