//! What a portal server function can fail with, in words an administrator can act on. No
//! database or transport text ever reaches the browser: the server logs the cause and sends one
//! of these.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A portal error. Serialised as `{"error": "<kind>", ...}`, the same shape the portal's
/// session gate answers with, so a request refused by the gate decodes as
/// [`AdminError::Unauthenticated`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AdminError {
    /// No valid session (never signed in, signed out, or timed out).
    #[error("Your session has ended. Sign in again to continue.")]
    Unauthenticated,
    /// The thing asked for does not exist.
    #[error("Nothing was found at this address.")]
    NotFound,
    /// The signed-in person's role does not allow it (the attempt is in the audit log).
    #[error("Your role does not allow this. Ask an administrator if you need it.")]
    Forbidden,
    /// The request cannot be carried out as asked.
    #[error("{message}")]
    Invalid {
        /// What to change, in plain words.
        message: String,
    },
    /// The store or another service failed; the details are in the server log.
    #[error("Something went wrong on the server. Try again in a moment; if it persists, check the server log.")]
    Unavailable,
}

impl AdminError {
    fn invalid_arguments() -> Self {
        Self::Invalid {
            message: "The request's arguments are not valid.".into(),
        }
    }
}

impl FromServerFnError for AdminError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // A request the browser could not send or whose answer it could not read.
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => Self::Invalid {
                message: "The portal could not be reached. Check your connection and try again."
                    .into(),
            },
            // On the server: arguments missing or not of their type, which the portal's own
            // pages never send.
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                Self::invalid_arguments()
            }
            // On the server, a request body that is not text. (In the browser the same error is
            // an answer that cannot be read, the server's fault: unavailable, below.)
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(_) => Self::invalid_arguments(),
            _ => Self::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gates_refusal_decodes_as_unauthenticated() {
        let body = br#"{"error":"unauthenticated","error_description":"Sign in first."}"#;
        let e: AdminError = serde_json::from_slice(body).unwrap();
        assert_eq!(e, AdminError::Unauthenticated);
    }

    #[test]
    fn errors_round_trip_and_read_as_sentences() {
        for e in [
            AdminError::Unauthenticated,
            AdminError::NotFound,
            AdminError::Forbidden,
            AdminError::Invalid {
                message: "Give a reason.".into(),
            },
            AdminError::Unavailable,
        ] {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<AdminError>(&json).unwrap(), e);
            assert!(e.to_string().ends_with('.'), "{e}");
        }
    }

    #[test]
    fn arguments_that_do_not_decode_are_invalid_without_detail() {
        for e in [
            ServerFnErrorErr::Args("invalid digit found in string".into()),
            ServerFnErrorErr::MissingArg("page".into()),
        ] {
            let e = AdminError::from_server_fn_error(e);
            assert!(matches!(e, AdminError::Invalid { .. }), "{e:?}");
            assert!(!e.to_string().contains("digit") && !e.to_string().contains("page"));
        }
    }

    #[test]
    fn anything_else_is_unavailable_without_detail() {
        let e = AdminError::from_server_fn_error(ServerFnErrorErr::ServerError(
            "relation \"registration\" does not exist".into(),
        ));
        assert_eq!(e, AdminError::Unavailable);
        assert!(!e.to_string().contains("relation"));
    }
}
