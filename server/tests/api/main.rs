//! API integration tests: one binary, real TLS and mTLS on loopback, SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod foundation;
mod gateway;
mod hygiene;
mod management;
mod register;
mod token;
