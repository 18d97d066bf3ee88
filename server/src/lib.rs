//! The Data Holder's DCR server: the composition root of the API listener (mTLS), the admin
//! portal and the command line. Only the development tools (`crates/dcr-devtools`) and the
//! tests depend on this crate.

pub mod cli;
pub mod config;
pub mod http;
pub mod jwks;
pub mod keys;
pub mod metrics;
pub mod ops_cli;
pub mod outbound;
pub mod password;
pub mod portal;
pub mod portal_admin;
pub mod portal_auth;
pub mod rate_limit;
pub mod register_sync;
pub mod session_store;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod token_cache;
