//! The image's multi-call binary: one file for both programs (they share most of their
//! dependencies, which keeps the image under 5.5 MB). Dispatches on the name it was called
//! by (`crashserver`, `chaos-runner`, through symlinks) or on its first argument.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let called = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match called.as_str() {
        "crashserver" => return crashserver::entry::main(),
        "chaos-runner" => return chaos_runner::entry::main(),
        _ => {}
    }
    // `crashlab crashserver ...` / `crashlab chaos-runner ...`: the rest is the program's.
    match args.get(1).and_then(|a| a.to_str()) {
        Some("crashserver") => {
            args.remove(0);
            crashserver::entry::run(args)
        }
        Some("chaos-runner") => {
            args.remove(0);
            chaos_runner::entry::run(args)
        }
        _ => {
            eprintln!("usage: crashlab crashserver [ARGS...] | crashlab chaos-runner [ARGS...] (or call it through a symlink of either name)");
            ExitCode::from(2)
        }
    }
}
