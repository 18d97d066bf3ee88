//! Development tools for the Data Holder's DCR server, kept out of the product binary
//! (`dcr-server`): a CDR Register simulator, a data recipient in a box, development
//! certificates, synthetic registrations, and the load benchmark. The `dcr-dev` binary runs them.
#![deny(missing_docs)]

pub mod adr;
pub mod bench;
pub mod cli;
pub mod devcerts;
pub mod register_sim;
pub mod seed;
