//! OAuth error responses (RFC 6749 §5.2, RFC 7662 §2.3, RFC 7009 §2.2.1), made in one place.
//!
//! Owns: the one error enum of the authorization server, whose variants are the error codes
//! it answers with, and their status, headers, JSON body and, for refused client
//! authentications, the access-log label naming the peer and the id tried. Descriptions are
//! fixed texts: they never echo a token or a secret.

use std::borrow::Cow;
use std::time::Duration;

use http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Response, StatusCode};

use super::tokens::StoreUnavailable;
use crate::access_log::LogLabel;
use crate::http::Body;
use crate::oauth::error_response as json_error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    /// 400 `invalid_request`.
    InvalidRequest(Cow<'static, str>),
    /// 401 `invalid_client`, always with the `WWW-Authenticate: Basic` challenge: RFC 9110
    /// §15.5.2 requires one on every 401, whichever method the client tried (RFC 6749 §5.2
    /// names only the Basic case). `log` names the peer and the id tried.
    InvalidClient {
        description: &'static str,
        log: LogLabel,
    },
    /// 400 `unsupported_grant_type`.
    UnsupportedGrantType,
    /// 400 `invalid_scope`.
    InvalidScope(Cow<'static, str>),
    /// 400 `invalid_target` (RFC 8707 §2): a `resource` the client may not ask for.
    InvalidTarget(&'static str),
    /// 403: authenticated, but this client may not use the endpoint.
    Forbidden(&'static str),
    /// 429 with `Retry-After`: too many failed authentications. `log` names the peer and the
    /// id tried.
    Throttled {
        retry_after: Duration,
        log: LogLabel,
    },
    /// 503 `temporarily_unavailable` with `Retry-After: 1`: a dependency (random source, token
    /// store) failed.
    Unavailable(&'static str),
}

/// A store that fails is answered 503 (and never with a guess); its detail is for the log.
impl From<StoreUnavailable> for OAuthError {
    fn from(_: StoreUnavailable) -> Self {
        OAuthError::Unavailable("the token store is unavailable")
    }
}

impl OAuthError {
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        OAuthError::InvalidRequest(description.into())
    }

    pub fn to_response(&self) -> Response<Body> {
        match self {
            OAuthError::InvalidRequest(description) => {
                json_error(StatusCode::BAD_REQUEST, "invalid_request", description)
            }
            OAuthError::InvalidClient { description, log } => {
                let mut response =
                    json_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"tollgate\""),
                );
                response.extensions_mut().insert(log.clone());
                response
            }
            OAuthError::UnsupportedGrantType => json_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            ),
            OAuthError::InvalidScope(description) => {
                json_error(StatusCode::BAD_REQUEST, "invalid_scope", description)
            }
            OAuthError::InvalidTarget(description) => {
                json_error(StatusCode::BAD_REQUEST, "invalid_target", description)
            }
            OAuthError::Forbidden(description) => {
                json_error(StatusCode::FORBIDDEN, "unauthorized_client", description)
            }
            OAuthError::Throttled { retry_after, log } => {
                // Round up: a client that waits the advertised time must not be refused again.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                let mut response = json_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    "too many failed authentications; retry later",
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
                response.extensions_mut().insert(log.clone());
                response
            }
            OAuthError::Unavailable(description) => {
                let mut response = json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    description,
                );
                // A store comes back within a second or two of its engine (see redis_store).
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        }
    }
}
