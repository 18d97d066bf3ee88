//! The Data Holder's DCR server: the composition root of the API listener (mTLS), the admin
//! portal and the command line. Nothing depends on this crate.

pub mod cli;
pub mod config;
pub mod devcerts;
pub mod http;
pub mod jwks;
pub mod keys;
pub mod outbound;
pub mod password;
pub mod portal;
pub mod register_sync;
pub mod session_store;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tls;
