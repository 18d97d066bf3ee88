//! `dcr-dev`: see `dcr-dev --help`.

/// mimalloc, as in `dcr-server`: the benchmark runs the server in this process and should
/// measure it with the product's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    dcr_devtools::cli::main()
}
