//! `dcr-server`: see `dcr-server --help`.

/// mimalloc: glibc's allocator was a tenth of the request path's CPU under load (arena locks and
/// consolidation across tokio's worker threads), measured with `scripts/bench.sh`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    server::cli::main()
}
