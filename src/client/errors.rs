//! Why a [`TokenClient`](super::TokenClient) got no token, or a call no answer.
//!
//! Owns: the two error enums, split by what a caller does about them: retry later (the
//! authorization server is unavailable), fix the configuration (refused, misconfigured), or
//! look at the resource. Texts never hold a token or a secret.

use crate::http::OutboundError;

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The authorization server could not be reached, or answered 5xx or 429, until the time
    /// for this call ran out.
    #[error("authorization server unavailable: {0}")]
    AuthServerUnavailable(String),
    /// The authorization server refused the request (wrong credentials or scope): retrying
    /// does not help until the configuration is fixed.
    #[error("the authorization server refused a token ({status} {error})")]
    Refused { status: u16, error: String },
    /// The authorization server is not the one configured, or its answers are unusable.
    #[error("authorization server: {0}")]
    Misconfigured(String),
}

/// Why a call got no answer from the resource.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The resource could not be reached, did not answer in time, or answered unreadably.
    #[error("resource: {0}")]
    ResourceFailed(#[source] OutboundError),
}

impl CallError {
    /// Whether the authorization server being unreachable (or throttling) is the reason.
    pub fn is_auth_server_unavailable(&self) -> bool {
        matches!(self, CallError::Token(TokenError::AuthServerUnavailable(_)))
    }

    /// A short fixed reason, safe to show to anyone: no detail of the peers or the error
    /// chain (which belong in the log).
    pub fn reason(&self) -> &'static str {
        match self {
            CallError::Token(TokenError::AuthServerUnavailable(_)) => {
                "the authorization server cannot be reached or is refusing requests for now"
            }
            CallError::Token(TokenError::Refused { .. }) => {
                "the authorization server refused this service a token"
            }
            CallError::Token(TokenError::Misconfigured(_)) => {
                "the authorization server's answer could not be used"
            }
            CallError::ResourceFailed(_) => "the resource could not be reached",
        }
    }
}
