//! Replays the corpus of the `portal_query` `cargo fuzz` target kept in
//! `fuzz/corpus/portal_query/` through its harness (`app::fuzzing::portal_query`), so that
//! `cargo test` checks every input the fuzzer kept, including those that once found a bug.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

#[test]
fn portal_query_corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/portal_query");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} cannot be read: {e}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| app::fuzzing::portal_query(&data))).is_err() {
            panic!("the fuzz input {} fails", path.display());
        }
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus {} is empty", dir.display());
}
