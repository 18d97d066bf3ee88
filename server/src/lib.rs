//! The Data Holder's DCR server: the composition root of the API listener (mTLS), the admin
//! portal and the command line. Nothing depends on this crate.

pub mod adr;
pub mod cli;
pub mod config;
pub mod devcerts;
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
pub mod register_sim;
pub mod register_sync;
pub mod seed;
pub mod session_store;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;
pub mod token_cache;
