//! crashserver binary: a thin shell around [`crashserver::entry::main`].

fn main() -> std::process::ExitCode {
    crashserver::entry::main()
}
