//! Validating JWT access tokens (RFC 9068) locally, with the authorization server's keys.
//!
//! Owns: the RFC 9068 §4 checks, strictly: a compact JWS verified by a key of the JWK Set
//! with that key's own algorithm (ES256, EdDSA or RS256; never `none` or HMAC — the key type
//! decides, see [`crate::oauth::jose`]); `typ` `at+jwt` (or `application/at+jwt`); `iss`
//! equal to the discovered issuer; `exp` (required), `nbf` and `iat` within the clock leeway;
//! `aud` containing this resource server's audience; a `client_id`; a `cnf` this guard can
//! check, when there is one (see `binding`). What fails is refused as
//! `invalid_token`; nothing a token holds can make the guard answer 5xx. Does not own: the
//! keys (see `jwks`), caching verdicts or scopes (the guard).

use std::sync::Arc;
use std::time::Duration;

use super::binding::read_cnf;
use super::jwks::JwksCache;
use super::{Caller, Verdict};
use crate::oauth::jose::{Claims, JwsError, UnverifiedJws};
use crate::oauth::scope::scope_tokens;

/// What local validation checks a token against.
pub(super) struct JwtValidator {
    pub(super) keys: Arc<JwksCache>,
    pub(super) issuer: String,
    pub(super) audience: String,
    pub(super) leeway: Duration,
}

/// Why a JWT is refused; only [`Refused::UnknownKid`] is not remembered, since the next
/// refetch of the JWK Set may know the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    UnknownKid,
    Invalid,
}

impl JwtValidator {
    /// The caller a valid token names, or why it is refused.
    pub(super) async fn validate(&self, token: &str, max_len: usize) -> Result<Caller, Refused> {
        let parsed = UnverifiedJws::parse(token, max_len).map_err(|_| Refused::Invalid)?;
        let keys = self
            .keys
            .keys_for(parsed.header().kid.as_deref())
            .await
            .ok_or(Refused::UnknownKid)?;
        let verified = parsed.verify(&keys).map_err(|e| match e {
            JwsError::UnknownKid => Refused::UnknownKid,
            _ => Refused::Invalid,
        })?;
        if !verified.header.typ_is("at+jwt") {
            return Err(Refused::Invalid);
        }
        let claims = verified.claims().map_err(|_| Refused::Invalid)?;
        self.check_claims(&claims)?;
        let text = |name: &str| claims.members.get(name).and_then(|v| v.as_str());
        let client_id = text("client_id").ok_or(Refused::Invalid)?.to_owned();
        let scopes = scope_tokens(text("scope").unwrap_or_default())
            .map(str::to_owned)
            .collect();
        let certificate_sha256 =
            read_cnf(claims.members.get("cnf")).map_err(|_| Refused::Invalid)?;
        Ok(Caller {
            client_id,
            scopes,
            exp: claims.exp.and_then(|exp| u64::try_from(exp).ok()),
            audiences: claims.aud.clone(),
            certificate_sha256,
        })
    }

    fn check_claims(&self, claims: &Claims) -> Result<(), Refused> {
        if claims.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(Refused::Invalid);
        }
        let now = crate::oauth::jose::unix_now();
        claims
            .check_times(now, self.leeway.as_secs())
            .map_err(|_| Refused::Invalid)?;
        if !claims.has_audience(&self.audience) {
            return Err(Refused::Invalid);
        }
        Ok(())
    }
}

impl From<Result<Caller, Refused>> for Verdict {
    fn from(result: Result<Caller, Refused>) -> Self {
        match result {
            Ok(caller) => Verdict::Active(Arc::new(caller)),
            Err(_) => Verdict::Inactive,
        }
    }
}
