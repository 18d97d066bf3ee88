//! API integration tests: one binary, real TLS and mTLS on loopback, SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod downstream_as;
mod helpers;
mod identity_provider;

mod cli;
mod connections;
mod export;
mod foundation;
mod gateway;
mod hygiene;
mod key_rotation;
mod management;
mod metrics;
mod multi_instance;
mod openapi;
mod ops_cli;
mod overview;
mod people;
mod portal;
mod portal_auth;
mod portal_pages;
mod provisioning;
mod rate_limit;
mod register;
mod register_sync;
mod second_factor;
mod second_factor_passkey;
mod sso;
mod token;
mod webhooks;
