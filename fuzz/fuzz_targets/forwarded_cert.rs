//! The client certificate header a TLS-terminating gateway forwards.
//! The harness and its properties: `dcr_core::fuzzing::forwarded_cert`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dcr_core::fuzzing::forwarded_cert(data));
