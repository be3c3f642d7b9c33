//! `POST /oauth/token`: the client credentials grant (RFC 6749 §4.4, §5).
//!
//! Owns: the grant's parameters (`grant_type`, `scope`), the scope granted, the token and its
//! record in the store, and the §5.1 answer. Does not own: authenticating the client (see
//! `authenticate`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{Response, StatusCode};
use serde::Serialize;

use super::clients::Client;
use super::error::OAuthError;
use super::tokens::{Grant, TokenRecord, TokenStore};
use super::{label, AuthServer, Call};
use crate::http::{json_response, Body};
use crate::oauth::scope::parse_scope_parameter;
use crate::oauth::unix_now;
use crate::secret::{self, sha256};

/// A client id and a granted scope string.
pub(super) type GrantKey = (Arc<str>, Box<str>);

/// Most distinct grants interned; beyond it a grant is allocated per token.
const MAX_INTERNED_GRANTS: usize = 4096;

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    /// Absent when nothing is granted: `"scope": ""` would break the §3.3 grammar, which has
    /// no empty scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

impl<S: TokenStore> AuthServer<S> {
    pub(super) async fn token(&self, call: &Call<'_>) -> Result<Response<Body>, OAuthError> {
        match call.form.get("grant_type") {
            None => {
                return Err(OAuthError::invalid_request(
                    "the grant_type parameter is required",
                ))
            }
            Some("client_credentials") => {}
            Some(_) => return Err(OAuthError::UnsupportedGrantType),
        }
        let client = self.authenticate(call)?;
        let scope = granted_scope(client, call.form.get("scope"))?;
        let grant = self.grant(client, scope);

        let token = secret::random_secret()
            .map_err(|_| OAuthError::Unavailable("cannot make a token right now"))?;
        let iat = unix_now();
        let ttl = self.config.token_ttl.as_secs();
        let record = TokenRecord {
            grant: grant.clone(),
            iat,
            exp: iat.saturating_add(ttl),
        };
        self.store
            .insert(sha256(token.expose().as_bytes()), record)
            .await
            .map_err(OAuthError::from)?;
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
        let mut response = json_response(
            StatusCode::OK,
            &TokenResponse {
                access_token: token.expose(),
                token_type: "Bearer",
                expires_in: ttl,
                scope: Some(&*grant.scope).filter(|s| !s.is_empty()),
            },
        );
        label(&mut response, &client.id);
        Ok(response)
    }

    /// The shared grant for a client and scope string.
    fn grant(&self, client: &Client, scope: String) -> Arc<Grant> {
        let client_id = self
            .client_ids
            .get(&client.id)
            .cloned()
            .unwrap_or_else(|| Arc::from(client.id.as_str()));
        let key = (client_id, scope.into_boxed_str());
        if let Ok(grants) = self.grants.read() {
            if let Some(grant) = grants.get(&key) {
                return grant.clone();
            }
        }
        let grant = Arc::new(Grant {
            client_id: key.0.clone(),
            scope: key.1.clone(),
        });
        if let Ok(mut grants) = self.grants.write() {
            if grants.len() < MAX_INTERNED_GRANTS {
                return grants.entry(key).or_insert(grant).clone();
            }
        }
        grant
    }
}

/// The scope to grant: the requested scopes (each of which the client must have), or all of
/// the client's scopes when none is requested (an empty parameter is none, RFC 6749 §3.2).
/// Listed in the client's registered order, so the same set always reads the same.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested.filter(|r| !r.is_empty()) else {
        return Ok(client.scopes.join(" "));
    };
    let wanted = parse_scope_parameter(requested)
        .map_err(|e| OAuthError::InvalidScope(e.to_string().into()))?;
    if wanted.iter().any(|w| !client.scopes.iter().any(|s| s == w)) {
        return Err(OAuthError::InvalidScope(
            "a requested scope is not granted to this client".into(),
        ));
    }
    Ok(client
        .scopes
        .iter()
        .filter(|s| wanted.contains(&s.as_str()))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" "))
}
