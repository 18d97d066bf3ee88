//! SSA and registration request claims, checked as after their signatures.
//! The harness and its properties: `dcr_core::fuzzing::ssa_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dcr_core::fuzzing::ssa_request(data));
