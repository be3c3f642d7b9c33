//! `POST /oauth/introspect`: token introspection (RFC 7662), for opaque tokens and for the
//! JWTs this server signed.
//!
//! Owns: who may introspect (clients registered with `introspect`), and the §2.2 answer:
//! `{"active": false}` alone for any token that is unknown, expired or revoked, so the answer
//! tells nothing more; the active answer with scope, client, type, times, issuer and audience
//! (`aud`, a string or an array, whenever the token has one), the certificate a bound token is
//! bound to (`cnf` with `x5t#S256`, RFC 8705 §3.2), plus `sub` and `jti` for a JWT.

use http::{Response, StatusCode};
use serde::Serialize;

use super::error::OAuthError;
use super::token::Confirmation;
use super::tokens::{StoreAnswer, StoreOp, TokenStore};
use super::{label, AuthServer, Call};
use crate::http::{json_response, Body};
use crate::oauth::audience::Audience;
use crate::oauth::{unix_now, INTROSPECT_PATH};
use crate::secret::sha256;

#[derive(Serialize)]
struct ActiveToken<'a> {
    active: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    client_id: &'a str,
    token_type: &'static str,
    exp: u64,
    iat: u64,
    iss: &'a str,
    #[serde(skip_serializing_if = "Audience::is_empty")]
    aud: Audience<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
}

#[derive(Serialize)]
struct InactiveToken {
    active: bool,
}

impl<S: TokenStore> AuthServer<S> {
    pub(super) async fn introspect(&self, call: &Call<'_>) -> Result<Response<Body>, OAuthError> {
        let now = unix_now();
        let (caller, answer, jwt) = self
            .authenticate(call, INTROSPECT_PATH, |caller| {
                if !caller.introspect {
                    return Err(OAuthError::Forbidden(
                        "this client is not allowed to introspect tokens",
                    ));
                }
                let token = call.token_parameter()?;
                let hash = sha256(token.as_bytes());
                Ok(match self.own_jwt(token) {
                    Some(jwt) => (StoreOp::IsDenied(hash, now), Some(jwt)),
                    None => (StoreOp::Get(hash, now), None),
                })
            })
            .await?;
        let inactive = || json_response(StatusCode::OK, &InactiveToken { active: false });
        let mut response = match (jwt, answer) {
            (Some(jwt), StoreAnswer::Flag(denied)) if jwt.exp > now && !denied => json_response(
                StatusCode::OK,
                &ActiveToken {
                    active: true,
                    scope: &jwt.scope,
                    client_id: &jwt.client_id,
                    token_type: "Bearer",
                    exp: jwt.exp,
                    iat: jwt.iat,
                    iss: &self.config.issuer,
                    aud: Audience(&jwt.aud),
                    sub: Some(&jwt.sub),
                    jti: Some(&jwt.jti),
                    cnf: jwt.cnf.clone().map(|x5t_s256| Confirmation { x5t_s256 }),
                },
            ),
            (None, StoreAnswer::Record(Some(record))) => json_response(
                StatusCode::OK,
                &ActiveToken {
                    active: true,
                    scope: &record.grant.scope,
                    client_id: &record.grant.client_id,
                    token_type: "Bearer",
                    exp: record.exp,
                    iat: record.iat,
                    iss: &self.config.issuer,
                    aud: Audience(&record.grant.audience),
                    sub: None,
                    jti: None,
                    cnf: record.cnf.as_deref().map(Confirmation::of),
                },
            ),
            _ => inactive(),
        };
        label(&mut response, &caller.id);
        Ok(response)
    }
}
