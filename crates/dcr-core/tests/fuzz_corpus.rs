//! Replays the corpus of each `cargo fuzz` target kept in `fuzz/corpus/<target>/` through the
//! harness that target runs (`dcr_core::fuzzing`), so that `cargo test` checks every input the
//! fuzzer kept, including those that once found a bug. No fuzzer or nightly toolchain needed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use dcr_core::fuzzing;

/// Runs `harness` on every file of the target's corpus; fails on the first input that panics,
/// naming it, and when the corpus is missing or empty.
fn replay(target: &str, harness: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} cannot be read: {e}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| harness(&data))).is_err() {
            panic!("the fuzz input {} fails", path.display());
        }
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus {} is empty", dir.display());
}

#[test]
fn jose_corpus_replays() {
    replay("jose", fuzzing::jose);
}

#[test]
fn ssa_request_corpus_replays() {
    replay("ssa_request", fuzzing::ssa_request);
}

#[test]
fn metadata_corpus_replays() {
    replay("metadata", fuzzing::metadata);
}

#[test]
fn token_form_corpus_replays() {
    replay("token_form", fuzzing::token_form);
}

#[test]
fn forwarded_cert_corpus_replays() {
    replay("forwarded_cert", fuzzing::forwarded_cert);
}
