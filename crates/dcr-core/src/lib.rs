//! Protocol and domain rules for the Data Holder side of the Consumer Data Right's
//! Dynamic Client Registration (CDS v1.36.0, RFC 7591, RFC 7592, RFC 8705).
//!
//! This crate does no I/O: no sockets, no database, no files. Everything that decides whether a
//! request is valid lives here and takes the time, the keys and the policy as arguments.
//!
//! Module map:
//! - [`clock`]: injected time.
//! - [`jose`]: compact JWS, JWK sets, `PS256`/`ES256` only, signing keys, RFC 8705 thumbprints.
//! - [`ids`]: `ClientId`, `SoftwareId`.
//! - [`forwarded_cert`]: the client certificate a TLS-terminating gateway forwards in a header.
//! - [`ssa`]: verifying the Register's Software Statement Assertion.
//! - [`registration`]: the registration request pipeline, stored metadata, response, errors.
//! - [`token`]: `client_credentials` + `private_key_jwt` for `cdr:registration`, access tokens.
//! - `testutil` (feature `test-util`): builders for valid SSAs, requests and assertions.
//! - `fuzzing` (feature `fuzzing`): the harnesses of the `cargo fuzz` targets in `fuzz/`.
//!
//! A POST /register handler runs: [`registration::parse_request`] →
//! [`ssa::verify_ssa`] (Register JWK set; refetch once if
//! [`RegistrationError::is_unknown_kid`]) → fetch the ADR JWK set from
//! [`ssa::VerifiedSsa::jwks_uri`] → [`registration::verify_request`] → `jti` replay check →
//! [`registration::check_sector_identifier`] if the SSA has one →
//! [`registration::validate_metadata`] → duplicate check → persist →
//! [`registration::registration_response`].

mod claims;
pub mod clock;
pub mod forwarded_cert;
pub mod ids;
pub mod jose;
pub mod registration;
pub mod ssa;
pub mod token;
pub mod totp;

#[cfg(any(test, feature = "test-util"))]
pub mod testutil;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use clock::UnixTime;
pub use ids::{ClientId, SoftwareId};
pub use registration::{RegistrationError, RegistrationErrorCode};
