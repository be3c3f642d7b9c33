//! What the client sends and reads: the token request and its answer (RFC 6749 §4.4.2,
//! §5.1, §5.2), the bearer header of a call (RFC 6750 §2.1), and the resource's
//! `invalid_token` challenge (RFC 6750 §3).
//!
//! Owns: strict reading of the token endpoint's answer (a bearer token that fits in a header,
//! `expires_in` as the client's doc says), its `Retry-After` (delta-seconds or an HTTP-date,
//! RFC 9110 §10.2.3), and sorting failures into retry-later and refused, answered or not.
//! Does not own: when to ask (see the client and its gate) or the connection (see
//! [`crate::http::outbound`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use tokio::time::Instant;

use super::gate::Failed;
use super::{schedule, Token, TokenClient, TokenError, MAX_LIFETIME_SECS};
use crate::discovery::DiscoveryError;
use crate::form::encode_form_component;
use crate::http::Answer;
use crate::oauth::form_post;
use crate::secret::SecretString;

/// The outcomes `tollgate_token_fetches_total` counts: a usable token, or anything else.
pub(super) const OUTCOMES: [&str; 2] = ["ok", "error"];
const FETCH_OK: usize = 0;
const FETCH_ERROR: usize = 1;

impl TokenClient {
    /// One token request (RFC 6749 §4.4.2).
    pub(super) async fn fetch_once(&self) -> Result<Arc<Token>, Failed> {
        let metadata = self
            .inner
            .discovered
            .get_or_fetch()
            .await
            .map_err(|e| match e {
                DiscoveryError::Unreachable(_) => {
                    Failed::unanswered(TokenError::AuthServerUnavailable(e.to_string()))
                }
                DiscoveryError::Status { .. } => {
                    Failed::answered(TokenError::AuthServerUnavailable(e.to_string()), None)
                }
                fatal => Failed::answered(TokenError::Misconfigured(fatal.to_string()), None),
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
        let authentication = &self.inner.authentication;
        authentication
            .add_to_form(&mut form, &self.inner.client_id, &metadata.issuer)
            .map_err(|error| Failed::answered(error, None))?;
        let request = form_post(
            metadata.token_endpoint.clone(),
            Bytes::from(form),
            authentication.header(),
        )
        .map_err(|e| Failed::answered(TokenError::Misconfigured(e.to_string()), None))?;

        let requested_at = Instant::now();
        self.inner.token_requests.fetch_add(1, Ordering::Relaxed);
        // Counted however it ends, a timeout of the caller's budget included.
        let mut outcome = self.inner.fetch_outcomes.begin(FETCH_ERROR);
        let token = self.send_token_request(request, requested_at).await;
        if token.is_ok() {
            outcome.settle(FETCH_OK);
        }
        token
    }

    /// Sends a token request and reads the answer.
    async fn send_token_request(
        &self,
        request: http::Request<http_body_util::Full<Bytes>>,
        requested_at: Instant,
    ) -> Result<Arc<Token>, Failed> {
        let answer = self
            .inner
            .outbound
            .send_repeatable(request)
            .await
            .map_err(|e| {
                let error = TokenError::AuthServerUnavailable(e.to_string());
                if e.is_unreachable() {
                    Failed::unanswered(error)
                } else {
                    // An answer came, but too large or broken off: the server did answer.
                    Failed::answered(error, None)
                }
            })?;
        if answer.status.is_server_error() || answer.status == StatusCode::TOO_MANY_REQUESTS {
            let error = TokenError::AuthServerUnavailable(format!(
                "the token endpoint answered {}",
                answer.status.as_u16()
            ));
            return Err(Failed::answered(error, retry_after(&answer.headers)));
        }
        self.read_token(&answer, requested_at)
            .map_err(|error| Failed::answered(error, None))
    }

    /// The token of a token endpoint's answer that is not 5xx or 429 (RFC 6749 §5.1, §5.2).
    fn read_token(&self, answer: &Answer, requested_at: Instant) -> Result<Arc<Token>, TokenError> {
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
            expires_in: Option<serde_json::Value>,
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
        let lifetime = lifetime(parsed.expires_in.as_ref()).ok_or_else(|| {
            TokenError::Misconfigured(
                "the token endpoint answered an expires_in that is not a number of seconds \
                 of at least 1"
                    .into(),
            )
        })?;
        let (renew_after, usable_for) = schedule(lifetime);
        Ok(Arc::new(Token {
            value: access_token,
            generation: self.inner.generations.fetch_add(1, Ordering::Relaxed),
            renew_at: requested_at + renew_after,
            usable_until: requested_at + usable_for,
        }))
    }
}

/// A token's lifetime from its `expires_in` (see the client's doc): `None` when unusable.
fn lifetime(expires_in: Option<&serde_json::Value>) -> Option<Duration> {
    let seconds = match expires_in {
        // RFC 6749 §5.1 only recommends expires_in; without it, renew every minute.
        None | Some(serde_json::Value::Null) => 60,
        Some(serde_json::Value::Number(number)) => match number.as_u64() {
            Some(whole) => whole,
            // Negative, fractional or beyond u64: the float, rounded down, saturating.
            None => number
                .as_f64()
                .filter(|f| *f >= 1.0)
                .map_or(0, |f| f as u64),
        },
        Some(_) => 0,
    };
    (seconds >= 1).then(|| Duration::from_secs(seconds.min(MAX_LIFETIME_SECS)))
}

/// The wait an answer's `Retry-After` asks for (RFC 9110 §10.2.3): delta-seconds, or an
/// HTTP-date (a date past is no wait). `None` when absent or unreadable.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is a very long wait: the gate caps it anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(SystemTime::now()).unwrap_or_default())
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
pub(super) fn says_invalid_token(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::UNAUTHORIZED && challenges_invalid_token(headers)
}

/// The request of a call, as sent with `token`.
pub(super) fn with_bearer(
    parts: &http::request::Parts,
    body: &Bytes,
    token: &Token,
) -> Result<http::Request<http_body_util::Full<Bytes>>, TokenError> {
    let mut outgoing = http::Request::new(http_body_util::Full::new(body.clone()));
    *outgoing.method_mut() = parts.method.clone();
    *outgoing.uri_mut() = parts.uri.clone();
    *outgoing.headers_mut() = parts.headers.clone();
    outgoing
        .headers_mut()
        .insert(http::header::AUTHORIZATION, bearer_header(&token.value)?);
    Ok(outgoing)
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
    fn expires_in_is_a_positive_number_of_seconds_capped_at_a_day() {
        let read = |json: &str| lifetime(Some(&serde_json::from_str(json).unwrap()));
        assert_eq!(lifetime(None), Some(Duration::from_secs(60)));
        assert_eq!(read("null"), Some(Duration::from_secs(60)));
        assert_eq!(read("2"), Some(Duration::from_secs(2)));
        assert_eq!(read("3600.9"), Some(Duration::from_secs(3600)));
        let day = Some(Duration::from_secs(MAX_LIFETIME_SECS));
        for huge in ["1e20", "18446744073709551616", "86401"] {
            assert_eq!(read(huge), day, "{huge}");
        }
        for unusable in ["0", "-1", "-1e20", "0.5", "\"3600\"", "true", "[]", "{}"] {
            assert_eq!(read(unusable), None, "{unusable}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            retry_after(&headers)
        };
        assert_eq!(with("3"), Some(Duration::from_secs(3)));
        let forever = Some(Duration::from_secs(u64::MAX));
        assert_eq!(with("99999999999999999999999"), forever);
        assert_eq!(with("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = with(&soon).unwrap();
        assert!(wait > Duration::from_secs(27) && wait <= Duration::from_secs(30));
        for bad in ["", "-1", "1.5", "soon"] {
            assert_eq!(with(bad), None, "{bad:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

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
