//! The Data Holder's DCR server: the composition root of the API listener (mTLS), the admin
//! portal and the command line. Only the development tools (`crates/dcr-devtools`) and the
//! tests depend on this crate.

pub mod api;
pub mod cdr_register;
pub mod checkpoints;
pub mod cli;
pub mod config;
pub mod export;
pub mod jwks;
pub mod keys;
pub mod listen;
pub mod metrics;
pub mod outbound;
pub mod portal;
pub mod provisioning;
pub mod rate_limit;
pub mod sector;
pub mod startup;
pub mod state;
pub mod stats;
pub mod telemetry;
pub mod tls;
pub mod token_cache;
pub mod webhooks;
