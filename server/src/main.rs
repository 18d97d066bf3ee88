//! `dcr-server`: see `dcr-server --help`.

fn main() -> std::process::ExitCode {
    server::cli::main()
}
