//! chaos-runner binary: a thin shell around [`chaos_runner::entry::main`].

fn main() -> std::process::ExitCode {
    chaos_runner::entry::main()
}
