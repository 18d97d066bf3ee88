//! The token endpoint's form body: decoding (32-parameter cap, no repeats) and reading.
//! The harness and its properties: `dcr_core::fuzzing::token_form`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dcr_core::fuzzing::token_form(data));
