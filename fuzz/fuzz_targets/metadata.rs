//! Registration metadata: validation, stored metadata, sector identifier documents, scopes.
//! The harness and its properties: `dcr_core::fuzzing::metadata`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dcr_core::fuzzing::metadata(data));
