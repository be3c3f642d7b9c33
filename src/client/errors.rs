//! Why a [`TokenClient`](super::TokenClient) got no token, or a call no answer.
//!
//! Owns: the two error enums, split by what a caller does about them: retry later (the
//! authorization server is unavailable), fix the configuration (refused, misconfigured), or
//! look at the resource. Texts never hold a token or a secret.

use std::fmt;

use crate::http::OutboundError;

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The authorization server could not be reached, or answered 5xx or 429, until the time
    /// for this call ran out.
    AuthServerUnavailable(String),
    /// The authorization server refused the request (wrong credentials or scope): retrying
    /// does not help until the configuration is fixed.
    Refused { status: u16, error: String },
    /// The authorization server is not the one configured, or its answers are unusable.
    Misconfigured(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::AuthServerUnavailable(detail) => {
                write!(f, "authorization server unavailable: {detail}")
            }
            TokenError::Refused { status, error } => {
                write!(
                    f,
                    "the authorization server refused a token ({status} {error})"
                )
            }
            TokenError::Misconfigured(detail) => write!(f, "authorization server: {detail}"),
        }
    }
}

impl std::error::Error for TokenError {}

/// Why a call got no answer from the resource.
#[derive(Debug)]
pub enum CallError {
    Token(TokenError),
    /// The resource could not be reached, did not answer in time, or answered unreadably.
    ResourceFailed(OutboundError),
}

impl CallError {
    /// Whether the authorization server being unreachable is the reason.
    pub fn is_auth_server_unavailable(&self) -> bool {
        matches!(self, CallError::Token(TokenError::AuthServerUnavailable(_)))
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Token(e) => e.fmt(f),
            CallError::ResourceFailed(e) => write!(f, "resource: {e}"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Token(e) => Some(e),
            CallError::ResourceFailed(e) => Some(e),
        }
    }
}

impl From<TokenError> for CallError {
    fn from(e: TokenError) -> Self {
        CallError::Token(e)
    }
}
