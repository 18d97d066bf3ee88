//! Compact JWS and JWK sets: decoding, registration request parsing, verification with fixed keys.
//! The harness and its properties: `dcr_core::fuzzing::jose`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dcr_core::fuzzing::jose(data));
