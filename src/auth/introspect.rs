//! `POST /oauth/introspect`: token introspection (RFC 7662).
//!
//! Owns: who may introspect (clients registered with `introspect`), and the §2.2 answer:
//! `{"active": false}` alone for any token that is unknown, expired or revoked, so the answer
//! tells nothing more; the active answer with scope, client, type, times and issuer.

use http::{Response, StatusCode};
use serde::Serialize;

use super::error::OAuthError;
use super::tokens::TokenStore;
use super::{label, AuthServer, Call};
use crate::http::{json_response, Body};
use crate::oauth::unix_now;
use crate::secret::sha256;

#[derive(Serialize)]
struct ActiveToken<'a> {
    active: bool,
    /// Absent when nothing was granted, as in the token response.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    client_id: &'a str,
    token_type: &'static str,
    exp: u64,
    iat: u64,
    iss: &'a str,
}

#[derive(Serialize)]
struct InactiveToken {
    active: bool,
}

impl<S: TokenStore> AuthServer<S> {
    pub(super) async fn introspect(&self, call: &Call<'_>) -> Result<Response<Body>, OAuthError> {
        let caller = self.authenticate(call)?;
        if !caller.introspect {
            return Err(OAuthError::Forbidden(
                "this client is not allowed to introspect tokens",
            ));
        }
        let token = call.token_parameter()?;
        let record = self
            .store
            .get(&sha256(token.as_bytes()), unix_now())
            .await
            .map_err(OAuthError::from)?;
        let mut response = match record {
            Some(record) => json_response(
                StatusCode::OK,
                &ActiveToken {
                    active: true,
                    scope: Some(&*record.grant.scope).filter(|s| !s.is_empty()),
                    client_id: &record.grant.client_id,
                    token_type: "Bearer",
                    exp: record.exp,
                    iat: record.iat,
                    iss: &self.config.issuer,
                },
            ),
            None => json_response(StatusCode::OK, &InactiveToken { active: false }),
        };
        label(&mut response, &caller.id);
        Ok(response)
    }
}
