//! The portal's list and audit queries (`ListParams` and `AuditParams::from_query`).
//! The harness and its properties: `app::fuzzing::portal_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| app::fuzzing::portal_query(data));
