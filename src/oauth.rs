//! The OAuth 2.0 wire shapes every role shares: the authorization server ([`crate::auth`]),
//! the resource guard ([`crate::resource`]), the token client ([`crate::client`]) and
//! [`crate::discovery`] all speak through this module, so none of them imports another.
//!
//! Owns:
//! - the well-known paths of a tollgate authorization server and the health path every
//!   service serves;
//! - the RFC 6749 §5.2 error body `{"error", "error_description"}` and the answers built on it
//!   (404, 405, the transport's refusals, unreadable bodies): [`error_response`] and friends;
//! - HTTP Basic client credentials, both directions (RFC 6749 §2.3.1: id and secret are
//!   form-urlencoded before base64): [`basic`];
//! - the scope grammar (RFC 6749 §3.3): [`scope`]; resource indicators and the wire form of
//!   an audience list (RFC 8707, RFC 9068): [`audience`];
//! - the authorization server metadata document (RFC 8414) and its URL: [`metadata`];
//! - the form POST a client sends to the token and introspection endpoints: [`request`];
//! - signed tokens: compact JWS, JWK and JWK Sets, thumbprints, the registered JWT claims, on
//!   ring: [`jose`] (the server signs access tokens, the guard verifies them, a client signs
//!   assertions);
//! - the wall clock in the whole seconds OAuth messages use: [`unix_now`].
//!
//! Does not own: any endpoint's behaviour, sockets or TLS (see [`crate::http`]).

pub mod audience;
pub mod basic;
mod errors;
pub mod jose;
pub mod metadata;
pub mod request;
pub mod scope;

use std::time::{SystemTime, UNIX_EPOCH};

pub use basic::{basic_authorization, basic_client_id_hint, parse_basic, BasicError};
pub use errors::{
    body_error_response, error_response, method_not_allowed, not_found, refusal_response,
    status_error,
};
pub use metadata::{metadata_url, BadIssuer, Issuer, ServerMetadata};
pub use request::{form_post, UnsendableCredentials};

/// The token endpoint (RFC 6749 §3.2).
pub const TOKEN_PATH: &str = "/oauth/token";
/// The introspection endpoint (RFC 7662).
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
/// The revocation endpoint (RFC 7009).
pub const REVOKE_PATH: &str = "/oauth/revoke";
/// The authorization server's JWK Set (RFC 7517 §5), in the JWT token format.
pub const JWKS_PATH: &str = "/oauth/jwks";
/// Where an issuer's metadata lives (RFC 8414 §3), before any path of the issuer.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// Liveness, on every tollgate service.
pub const HEALTH_PATH: &str = "/healthz";
/// Readiness, on every tollgate service: 200 when the service can do its job, 503 otherwise.
pub const READY_PATH: &str = "/readyz";

/// Seconds since the Unix epoch: the unit of `exp` and `iat` (RFC 7662 §2.2).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
