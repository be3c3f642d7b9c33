//! Calling protected APIs with a managed token: [`TokenClient`] (RFC 6749 §4.4, RFC 6750).
//!
//! Owns: getting an access token with client credentials (client_secret_basic, id and secret
//! form-encoded before base64 as RFC 6749 §2.3.1 says), keeping it, renewing it before it
//! expires, sharing one token request among every caller that needs a token at the same time,
//! retrying token-endpoint failures with a bounded backoff, and sending requests with the token,
//! retrying once with a new token when the resource says `invalid_token`. The wire details
//! (the token request, its answer, the bearer header) are in `token_request`. Does not own:
//! the connections (see [`crate::http::outbound`]) or finding the token endpoint (see
//! [`crate::discovery`]).
//!
//! Timing: a token of lifetime `L` (`expires_in`, at most a day) is used until `L - 2 s` after it was
//! requested (the issuer's timestamps are whole seconds and hosts' clocks differ a little; at
//! least `L / 2`), and renewed from `min(60 s, L / 10)` before that. Renewal inside that margin
//! runs in the background while callers keep using the current token, so in the steady state
//! no call waits for a token. When no usable token is left, one caller fetches and the others
//! wait for that fetch; if it fails they all get its error instead of queueing one 2-second
//! attempt each behind it, so an outage never holds later calls up and the first call after
//! it recovers at once.
//!
//! The secret and tokens are [`SecretString`]s; no `Debug` output or log line shows them.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

mod errors;
mod token_request;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::Request;
use http_body_util::Full;
use tokio::time::Instant;

use crate::access_log;
use crate::discovery::Discovered;
use crate::http::{Answer, Outbound};
use crate::oauth::basic_authorization;
use crate::secret::SecretString;
use token_request::{bearer_header, says_invalid_token};

pub use errors::{CallError, TokenError};

/// Longest wait between two token requests within one call.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Longest time one call spends getting a token.
pub const TOKEN_BUDGET: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest renewal margin, and the allowance for whole-second timestamps and clock skew.
const MAX_MARGIN: Duration = Duration::from_secs(60);
const SKEW: Duration = Duration::from_secs(2);
/// Longest lifetime believed: a token is renewed at least daily, and a huge `expires_in` from a
/// confused server cannot overflow a deadline.
pub(crate) const MAX_LIFETIME_SECS: u64 = 86_400;

/// Settings of a [`TokenClient`]. `Debug` is safe: the secret prints as `[redacted]`.
#[derive(Clone, Debug)]
pub struct TokenClientConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// The scope to ask for; `None` asks for none, which gets all the client's scopes.
    pub scope: Option<String>,
    /// The resource to ask a token for (RFC 8707 `resource`); `None`: the client's default.
    pub audience: Option<String>,
}

/// A client that manages its own access token. Cheap to clone: clones share the token.
#[derive(Clone)]
pub struct TokenClient {
    inner: Arc<Inner>,
}

struct Inner {
    client_id: String,
    /// `Authorization` value for the token endpoint, made once.
    basic: SecretString,
    scope: Option<String>,
    audience: Option<String>,
    discovered: Arc<Discovered>,
    outbound: Outbound,
    current: RwLock<Option<Arc<Token>>>,
    /// Held while a token request is under way: the single flight.
    fetching: tokio::sync::Mutex<()>,
    /// Token fetches finished (each one a whole retry loop), so a caller that waited on
    /// `fetching` can tell that a fetch ended while it waited.
    fetches_finished: AtomicU64,
    /// The error of the last failed fetch, handed to the callers that waited on it.
    last_failure: Mutex<Option<TokenError>>,
    /// A background renewal is under way.
    renewing: AtomicBool,
    /// Tokens received, numbering them so that a stale token is never forgotten twice.
    generations: AtomicU64,
    /// Requests sent to the token endpoint, for operators and tests.
    token_requests: AtomicU64,
}

struct Token {
    value: SecretString,
    generation: u64,
    renew_at: Instant,
    usable_until: Instant,
}

impl fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenClient")
            .field("client_id", &self.inner.client_id)
            .field("issuer", &self.inner.discovered.issuer())
            .field("scope", &self.inner.scope)
            .field("has_token", &self.current().is_some())
            .finish_non_exhaustive()
    }
}

impl TokenClient {
    pub fn new(config: TokenClientConfig, discovered: Arc<Discovered>, outbound: Outbound) -> Self {
        let basic = basic_authorization(&config.client_id, &config.client_secret);
        TokenClient {
            inner: Arc::new(Inner {
                client_id: config.client_id,
                basic,
                scope: config.scope,
                audience: config.audience,
                discovered,
                outbound,
                current: RwLock::new(None),
                fetching: tokio::sync::Mutex::new(()),
                fetches_finished: AtomicU64::new(0),
                last_failure: Mutex::new(None),
                renewing: AtomicBool::new(false),
                generations: AtomicU64::new(0),
                token_requests: AtomicU64::new(0),
            }),
        }
    }

    /// The authorization server's metadata holder this client uses.
    pub fn discovered(&self) -> &Arc<Discovered> {
        &self.inner.discovered
    }

    /// Requests sent to the token endpoint since the client was made.
    pub fn token_requests(&self) -> u64 {
        self.inner.token_requests.load(Ordering::Relaxed)
    }

    /// A usable access token, fetched if need be.
    pub async fn token(&self) -> Result<SecretString, TokenError> {
        Ok(self.usable_token().await?.value.clone())
    }

    /// Sends `request` with the managed token and returns the resource's answer, whatever its
    /// status. A 401 `invalid_token` answer drops the token and the call is made once more
    /// with a new one.
    pub async fn call(&self, request: Request<Bytes>) -> Result<Answer, CallError> {
        let (parts, body) = request.into_parts();
        let mut retried = false;
        loop {
            let token = self.usable_token().await?;
            let mut outgoing = Request::new(Full::new(body.clone()));
            *outgoing.method_mut() = parts.method.clone();
            *outgoing.uri_mut() = parts.uri.clone();
            *outgoing.headers_mut() = parts.headers.clone();
            outgoing
                .headers_mut()
                .insert(AUTHORIZATION, bearer_header(&token.value)?);
            let answer = self
                .inner
                .outbound
                .send(outgoing)
                .await
                .map_err(CallError::ResourceFailed)?;
            if !retried && says_invalid_token(&answer) {
                // Revoked, or issued by an authorization server that has since forgotten it.
                self.forget(&token);
                retried = true;
                continue;
            }
            return Ok(answer);
        }
    }

    fn current(&self) -> Option<Arc<Token>> {
        self.inner.current.read().ok().and_then(|t| t.clone())
    }

    /// Drops `token` if it is still the current one.
    fn forget(&self, token: &Token) {
        if let Ok(mut current) = self.inner.current.write() {
            if current
                .as_ref()
                .is_some_and(|t| t.generation == token.generation)
            {
                *current = None;
            }
        }
    }

    async fn usable_token(&self) -> Result<Arc<Token>, TokenError> {
        if let Some(token) = self.current() {
            let now = Instant::now();
            if now < token.renew_at {
                return Ok(token);
            }
            if now < token.usable_until {
                self.renew_in_background();
                return Ok(token);
            }
        }
        let seen = self.inner.fetches_finished.load(Ordering::SeqCst);
        let _flight = self.inner.fetching.lock().await;
        if let Some(token) = self.current() {
            if Instant::now() < token.usable_until {
                return Ok(token);
            }
        }
        if self.inner.fetches_finished.load(Ordering::SeqCst) != seen {
            let failure = self.inner.last_failure.lock().ok().and_then(|f| f.clone());
            if let Some(failure) = failure {
                return Err(failure);
            }
        }
        self.fetch_and_store().await
    }

    fn renew_in_background(&self) {
        if self.inner.renewing.swap(true, Ordering::SeqCst) {
            return;
        }
        /// Clears `renewing` however the renewal ends, so a failed one never stops the next.
        struct Renewing(TokenClient);
        impl Drop for Renewing {
            fn drop(&mut self) {
                self.0.inner.renewing.store(false, Ordering::SeqCst);
            }
        }
        let renewing = Renewing(self.clone());
        tokio::spawn(async move {
            let client = &renewing.0;
            {
                let _flight = client.inner.fetching.lock().await;
                let still_due = client
                    .current()
                    .is_none_or(|t| Instant::now() >= t.renew_at);
                if still_due {
                    // On failure the current token stays in use until it expires.
                    let _ = client.fetch_and_store().await;
                }
            }
        });
    }

    /// Fetches a token (the caller holds `fetching`) and makes it current.
    async fn fetch_and_store(&self) -> Result<Arc<Token>, TokenError> {
        let result = self.fetch_with_retries().await;
        match &result {
            Ok(token) => {
                if let Ok(mut current) = self.inner.current.write() {
                    *current = Some(token.clone());
                }
                if let Ok(mut last) = self.inner.last_failure.lock() {
                    *last = None;
                }
            }
            Err(e) => {
                access_log::event(format_args!(
                    "token request for client {} failed: {e}",
                    self.inner.client_id
                ));
                if let Ok(mut last) = self.inner.last_failure.lock() {
                    *last = Some(e.clone());
                }
            }
        }
        self.inner.fetches_finished.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn fetch_with_retries(&self) -> Result<Arc<Token>, TokenError> {
        let deadline = Instant::now() + TOKEN_BUDGET;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let error = match tokio::time::timeout_at(deadline, self.fetch_once()).await {
                Err(_elapsed) => {
                    return Err(TokenError::AuthServerUnavailable(format!(
                        "no token within {TOKEN_BUDGET:?}"
                    )))
                }
                Ok(Ok(token)) => return Ok(token),
                Ok(Err(e @ (TokenError::Refused { .. } | TokenError::Misconfigured(_)))) => {
                    return Err(e)
                }
                Ok(Err(e)) => e,
            };
            let wait = jittered(backoff);
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// When to renew a token of `lifetime` and until when to use it, counted from its request.
fn schedule(lifetime: Duration) -> (Duration, Duration) {
    let usable = lifetime.saturating_sub(SKEW).max(lifetime / 2);
    let margin = (lifetime / 10).min(MAX_MARGIN);
    (usable.saturating_sub(margin), usable)
}

/// `wait` scaled by a random factor in [0.5, 1): callers that failed together do not retry
/// together.
fn jittered(wait: Duration) -> Duration {
    let mut bytes = [0u8; 2];
    let fraction = match getrandom::getrandom(&mut bytes) {
        Ok(()) => f64::from(u16::from_le_bytes(bytes)) / 65536.0,
        Err(_) => 0.5,
    };
    wait.mul_f64(0.5 + fraction / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        let (renew, usable) = schedule(Duration::from_secs(3600));
        assert_eq!(usable, Duration::from_secs(3598));
        assert_eq!(renew, Duration::from_secs(3538));
        let (renew, usable) = schedule(Duration::from_secs(2));
        assert_eq!(usable, Duration::from_secs(1));
        assert!(renew < usable && renew > Duration::ZERO);
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        for _ in 0..100 {
            let wait = jittered(Duration::from_millis(100));
            assert!(wait >= Duration::from_millis(50) && wait < Duration::from_millis(100));
        }
    }
}
