//! What the client sends and reads: the token request and its answer (RFC 6749 §4.4.2,
//! §5.1, §5.2), the bearer header of a call (RFC 6750 §2.1), and the resource's
//! `invalid_token` challenge (RFC 6750 §3).
//!
//! Owns: strict reading of the token endpoint's answer (a bearer token that fits in a header,
//! `expires_in` capped at a day) and sorting failures into retry-later and refused. Does not
//! own: when to ask (see the client) or the connection (see [`crate::http::outbound`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use tokio::time::Instant;

use super::{schedule, Token, TokenClient, TokenError, MAX_LIFETIME_SECS};
use crate::discovery::DiscoveryError;
use crate::form::encode_form_component;
use crate::http::Answer;
use crate::oauth::form_post;
use crate::secret::SecretString;

impl TokenClient {
    /// One token request (RFC 6749 §4.4.2).
    pub(super) async fn fetch_once(&self) -> Result<Arc<Token>, TokenError> {
        let metadata = self
            .inner
            .discovered
            .get_or_fetch()
            .await
            .map_err(|e| match e {
                DiscoveryError::Unreachable(_) | DiscoveryError::Status { .. } => {
                    TokenError::AuthServerUnavailable(e.to_string())
                }
                fatal => TokenError::Misconfigured(fatal.to_string()),
            })?;
        let mut form = String::from("grant_type=client_credentials");
        if let Some(scope) = &self.inner.scope {
            form.push_str("&scope=");
            form.push_str(&encode_form_component(scope));
        }
        if let Some(audience) = &self.inner.audience {
            form.push_str("&resource=");
            form.push_str(&encode_form_component(audience));
        }
        let request = form_post(
            metadata.token_endpoint.clone(),
            Bytes::from(form),
            &self.inner.basic,
        )
        .map_err(|e| TokenError::Misconfigured(e.to_string()))?;

        let requested_at = Instant::now();
        self.inner.token_requests.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .inner
            .outbound
            .send_repeatable(request)
            .await
            .map_err(|e| TokenError::AuthServerUnavailable(e.to_string()))?;
        if answer.status.is_server_error() || answer.status == StatusCode::TOO_MANY_REQUESTS {
            return Err(TokenError::AuthServerUnavailable(format!(
                "the token endpoint answered {}",
                answer.status.as_u16()
            )));
        }
        if answer.status != StatusCode::OK {
            #[derive(Deserialize)]
            struct ErrorBody {
                error: String,
            }
            let error = serde_json::from_slice::<ErrorBody>(&answer.body)
                .map(|b| b.error.chars().take(64).collect())
                .unwrap_or_else(|_| "no error code".into());
            return Err(TokenError::Refused {
                status: answer.status.as_u16(),
                error,
            });
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: String,
            token_type: String,
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&answer.body).map_err(|_| {
            TokenError::Misconfigured("the token endpoint answered malformed JSON".into())
        })?;
        if !parsed.token_type.eq_ignore_ascii_case("Bearer") {
            return Err(TokenError::Misconfigured(
                "the token endpoint answered a token that is not a bearer token".into(),
            ));
        }
        let access_token = SecretString::new(parsed.access_token);
        if bearer_header(&access_token).is_err() {
            return Err(TokenError::Misconfigured(
                "the token endpoint answered a token that cannot be sent in a header".into(),
            ));
        }
        // RFC 6749 §5.1 only recommends expires_in; without it, renew every minute.
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60).min(MAX_LIFETIME_SECS));
        let (renew_after, usable_for) = schedule(lifetime);
        Ok(Arc::new(Token {
            value: access_token,
            generation: self.inner.generations.fetch_add(1, Ordering::Relaxed),
            renew_at: requested_at + renew_after,
            usable_until: requested_at + usable_for,
        }))
    }
}

/// The `Authorization: Bearer` value of `token`, marked sensitive (hyper keeps it out of
/// HPACK tables and debug output).
pub(super) fn bearer_header(token: &SecretString) -> Result<HeaderValue, TokenError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        TokenError::Misconfigured("the access token cannot be sent in a header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Whether the answer is RFC 6750's 401 with `error="invalid_token"`.
pub(super) fn says_invalid_token(answer: &Answer) -> bool {
    answer.status == StatusCode::UNAUTHORIZED && challenges_invalid_token(&answer.headers)
}

fn challenges_invalid_token(headers: &HeaderMap) -> bool {
    headers.get_all(WWW_AUTHENTICATE).iter().any(|value| {
        let Ok(text) = value.to_str() else {
            return false;
        };
        let lower = text.to_ascii_lowercase();
        lower.trim_start().starts_with("bearer")
            && (lower.contains("error=\"invalid_token\"") || lower.contains("error=invalid_token"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_invalid_token_challenges_count() {
        let mut headers = HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"x\", error=\"invalid_token\""),
        );
        assert!(challenges_invalid_token(&headers));
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"x\", error=\"insufficient_scope\""),
        );
        assert!(!challenges_invalid_token(&headers));
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"x\""),
        );
        assert!(!challenges_invalid_token(&headers));
    }
}
