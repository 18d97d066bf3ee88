//! Development tools for the Data Holder's DCR server, kept out of the product binary
//! (`dcr-server`): a CDR Register simulator, a data recipient in a box, development
//! certificates, synthetic registrations, the load benchmark, and the abuse and soak tests of a
//! running server. The `dcr-dev` binary runs them.
#![deny(missing_docs)]

pub mod abuse;
pub mod adr;
pub mod audit_bench;
pub mod bench;
pub mod cli;
pub mod devcerts;
pub mod overview_bench;
pub mod register_sim;
pub mod seed;
pub mod soak;
pub mod wire;
