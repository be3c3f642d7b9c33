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
use crate::http::{json_response, json_text_response, Body};
use crate::json::JsonObject;
use crate::oauth::audience::Audience;
use crate::oauth::{unix_now, INTROSPECT_PATH};
use crate::secret::sha256;

/// What an active token's answer says (RFC 7662 §2.2), whichever kind of token it is.
struct ActiveToken<'a> {
    scope: &'a str,
    client_id: &'a str,
    exp: u64,
    iat: u64,
    iss: &'a str,
    aud: &'a [Box<str>],
    /// A JWT's own `sub` and `jti`; an opaque token has neither.
    sub_jti: Option<(&'a str, &'a str)>,
    /// `x5t#S256`, base64url of the bound certificate's SHA-256.
    cnf: Option<String>,
}

impl ActiveToken<'_> {
    /// The answer's JSON, written straight into its buffer (fewer instructions than serde's
    /// generic map path and a regrowing buffer; docs/BENCHMARKS.md, issue 14).
    fn to_json(&self) -> Vec<u8> {
        let mut answer = JsonObject::with_capacity(160 + self.scope.len() + self.iss.len());
        answer.boolean("active", true);
        if !self.scope.is_empty() {
            answer.string("scope", self.scope);
        }
        answer
            .string("client_id", self.client_id)
            .string("token_type", "Bearer")
            .number("exp", self.exp)
            .number("iat", self.iat)
            .string("iss", self.iss);
        Audience(self.aud).write_to(&mut answer, "aud");
        if let Some((sub, jti)) = self.sub_jti {
            answer.string("sub", sub).string("jti", jti);
        }
        if let Some(x5t_s256) = &self.cnf {
            answer.object("cnf", |cnf| {
                cnf.string("x5t#S256", x5t_s256);
            });
        }
        answer.finish()
    }
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
            (Some(jwt), StoreAnswer::Flag(denied)) if jwt.exp > now && !denied => {
                let active = ActiveToken {
                    scope: &jwt.scope,
                    client_id: &jwt.client_id,
                    exp: jwt.exp,
                    iat: jwt.iat,
                    iss: &self.config.issuer,
                    aud: &jwt.aud,
                    sub_jti: Some((&jwt.sub, &jwt.jti)),
                    cnf: jwt.cnf.clone(),
                };
                json_text_response(StatusCode::OK, active.to_json())
            }
            (None, StoreAnswer::Record(Some(record))) => {
                let active = ActiveToken {
                    scope: &record.grant.scope,
                    client_id: &record.grant.client_id,
                    exp: record.exp,
                    iat: record.iat,
                    iss: &self.config.issuer,
                    aud: &record.grant.audience,
                    sub_jti: None,
                    cnf: record.cnf.as_deref().map(|c| Confirmation::of(c).x5t_s256),
                };
                json_text_response(StatusCode::OK, active.to_json())
            }
            _ => inactive(),
        };
        label(&mut response, &caller.id);
        Ok(response)
    }
}
