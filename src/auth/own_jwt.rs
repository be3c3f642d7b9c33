//! Recognising the JWT access tokens this server signed, for introspection and revocation.
//!
//! Owns: the checks that make a token one of ours: a compact JWS verified by one of the
//! published keys with that key's algorithm, `typ: at+jwt`, `iss` equal to our issuer, and the
//! claims every token we sign carries (`client_id`, `jti`, integer `exp` and `iat`). Whether it
//! is still alive (expiry, the denylist) is the caller's question. Does not own: JWS (see
//! [`crate::oauth::jose`]).

use super::tokens::TokenStore;
use super::AuthServer;
use crate::oauth::jose::{self, DEFAULT_MAX_LEN};

/// What a JWT this server signed says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OwnJwt {
    pub client_id: String,
    pub sub: String,
    /// The audiences, as signed.
    pub aud: Vec<Box<str>>,
    pub scope: String,
    pub jti: String,
    pub iat: u64,
    pub exp: u64,
    /// The `x5t#S256` of its `cnf`, for a certificate-bound token (RFC 8705 §3.1).
    pub cnf: Option<String>,
}

impl<S: TokenStore> AuthServer<S> {
    /// `token` as one of our JWTs, or `None` for anything else (an opaque token, a JWT of
    /// another issuer or key, a forgery).
    pub(super) fn own_jwt(&self, token: &str) -> Option<OwnJwt> {
        // Opaque tokens are base64url: no dots. Only a three-part token is worth a signature.
        if token.bytes().filter(|&b| b == b'.').count() != 2 {
            return None;
        }
        let keys = self.signing_keys();
        if keys.is_empty() {
            return None;
        }
        let verified = jose::verify(token, keys.published(), DEFAULT_MAX_LEN).ok()?;
        if !verified.header.typ_is("at+jwt") {
            return None;
        }
        let claims = verified.claims().ok()?;
        if claims.iss.as_deref() != Some(self.config.issuer.as_str()) {
            return None;
        }
        let text = |name: &str| claims.members.get(name)?.as_str().map(str::to_owned);
        let time = |value: Option<i64>| value.and_then(|t| u64::try_from(t).ok());
        Some(OwnJwt {
            client_id: text("client_id")?,
            sub: claims.sub.clone()?,
            aud: claims.aud.iter().map(|a| a.as_str().into()).collect(),
            scope: text("scope").unwrap_or_default(),
            jti: claims.jti.clone()?,
            iat: time(claims.iat)?,
            exp: time(claims.exp)?,
            cnf: claims
                .members
                .get("cnf")
                .and_then(|cnf| cnf.get("x5t#S256"))
                .and_then(|x5t| x5t.as_str())
                .map(str::to_owned),
        })
    }
}
