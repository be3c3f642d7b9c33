//! Calling protected APIs with a managed token: [`TokenClient`] (RFC 6749 §4.4, RFC 6750).
//!
//! Owns: getting an access token with client credentials (client_secret_basic, id and secret
//! form-encoded before base64 as RFC 6749 §2.3.1 says; a fresh private_key_jwt assertion for
//! each request; or the TLS client certificate of the connections: see `credentials`), keeping it, renewing it before it
//! expires, sharing one token request among every caller that needs a token at the same time,
//! retrying token-endpoint failures with a bounded backoff, and sending requests with the token,
//! retrying once with a new token when the resource says `invalid_token`. The wire details
//! (the token request, its answer, the bearer header) are in `token_request`; when a failed
//! request allows the next one (backoff, `Retry-After`) is in `gate`. Does not own: the
//! connections (see [`crate::http::outbound`]) or finding the token endpoint (see
//! [`crate::discovery`]).
//!
//! Timing: a token of lifetime `L` is used until `L - 2 s` after it was requested (the
//! issuer's timestamps are whole seconds and hosts' clocks differ a little; at least `L / 2`),
//! and renewed from `min(60 s, L / 10)` before that. Renewal inside that margin runs in the
//! background while callers keep using the current token, so in the steady state no call
//! waits for a token. When no usable token is left, one caller fetches and the others wait for
//! that fetch; if it fails they all get its error instead of queueing one 2-second attempt each
//! behind it, so an outage never holds later calls up and the first call after it recovers at
//! once.
//!
//! `L` comes from `expires_in` (RFC 6749 §5.1), read so that no value makes the client renew in
//! a loop or panic: absent (or `null`) means 60 s; a whole number of at least 1 is taken, and a
//! fractional one of at least 1 rounded down; any value is capped at a day
//! (`MAX_LIFETIME_SECS`), so `1e20` means a day. Zero, a negative number, a number below 1,
//! a string or any other JSON type is an unusable answer, as a malformed body is. Since the
//! shortest lifetime is 1 s, a token lives at least 0.4 s before its renewal: renewals are at
//! most a few a second, one at a time.
//!
//! Failures: a failure the authorization server answered (400 or 401, an unusable answer, 429
//! or 5xx) is not retried within the call, and closes the gate in front of the token endpoint
//! for at least a second, doubling with each such failure in a row up to 30 s, and for at least
//! the answer's `Retry-After` (at most 60 s); while it is closed, calls that need a token get
//! the last failure at once and renewals wait. So a refusing or throttling server sees a
//! handful of token requests however many calls arrive. Only a server that cannot be reached
//! (or does not answer) is retried within a call, every 50 ms doubling to 1 s for at most 2 s.
//! A token the resource refuses as `invalid_token` is replaced at once (the server may have
//! restarted and forgotten it), but at most once every [`MIN_REPLACEMENT_INTERVAL`]: a
//! resource that refuses every token (it trusts another server) must not turn each call into a
//! token request; within the interval the resource's refusal is the call's answer. Calls that
//! were refused with a token already replaced retry with the new one.
//!
//! The secret and tokens are [`SecretString`]s; no `Debug` output or log line shows them.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

mod credentials;
mod errors;
mod gate;
mod layer;
mod token_request;

use bytes::Bytes;
use http::Request;
use tokio::time::Instant;

use crate::access_log;
use crate::discovery::Discovered;
use crate::http::{Answer, Outbound};
use crate::metrics::{Exposition, Outcomes};
use crate::secret::SecretString;
use credentials::Authentication;
use gate::{random_fraction, Failed, Gate};
use token_request::{says_invalid_token, with_bearer};

pub use credentials::{ClientCredentials, ASSERTION_LIFETIME_SECS};
pub use errors::{CallError, TokenError};
pub use gate::{FIRST_GATE, MAX_GATE, MAX_RETRY_AFTER};
pub use layer::{BearerLayer, WithToken, WithTokenError, WithTokenFuture};

/// Longest wait between two token requests within one call (to a server that does not answer).
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Shortest time between two replacements of a token the resource refused.
pub const MIN_REPLACEMENT_INTERVAL: Duration = Duration::from_secs(1);
/// Longest time one call spends getting a token.
pub const TOKEN_BUDGET: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest renewal margin, and the allowance for whole-second timestamps and clock skew.
const MAX_MARGIN: Duration = Duration::from_secs(60);
const SKEW: Duration = Duration::from_secs(2);
/// Longest lifetime believed: a token is renewed at least daily, and a huge `expires_in` from a
/// confused server cannot overflow a deadline.
pub(crate) const MAX_LIFETIME_SECS: u64 = 86_400;

/// Settings of a [`TokenClient`]. `Debug` is safe: no secret or key is shown.
#[derive(Clone, Debug)]
pub struct TokenClientConfig {
    pub client_id: String,
    /// How the client authenticates at the token endpoint.
    pub credentials: ClientCredentials,
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
    /// How token requests are authenticated (the Basic header made once).
    authentication: Authentication,
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
    /// When the next token request may be sent, after answered failures.
    gate: Mutex<Gate>,
    /// A background renewal is under way.
    renewing: AtomicBool,
    /// When a token the resource refused was last replaced.
    last_replacement: Mutex<Option<Instant>>,
    /// Tokens received, numbering them so that a stale token is never forgotten twice.
    generations: AtomicU64,
    /// Requests sent to the token endpoint, for operators and tests.
    token_requests: AtomicU64,
    /// Token requests by outcome (`ok`: a usable token; `error`: anything else), counted
    /// when they end.
    fetch_outcomes: Outcomes<2>,
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
        let authentication = Authentication::new(&config.client_id, config.credentials);
        TokenClient {
            inner: Arc::new(Inner {
                client_id: config.client_id,
                authentication,
                scope: config.scope,
                audience: config.audience,
                discovered,
                outbound,
                current: RwLock::new(None),
                fetching: tokio::sync::Mutex::new(()),
                fetches_finished: AtomicU64::new(0),
                last_failure: Mutex::new(None),
                gate: Mutex::new(Gate::default()),
                renewing: AtomicBool::new(false),
                last_replacement: Mutex::new(None),
                generations: AtomicU64::new(0),
                token_requests: AtomicU64::new(0),
                fetch_outcomes: Outcomes::new(token_request::OUTCOMES),
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

    /// Writes `tollgate_token_fetches_total{outcome}`.
    pub fn write_metrics(&self, out: &mut Exposition) {
        self.inner.fetch_outcomes.write(
            out,
            "tollgate_token_fetches_total",
            "Token requests sent to the authorization server, by outcome.",
        );
    }

    /// How long until a token request may be sent again, while failures the authorization
    /// server answered keep the gate closed (see the module doc); `None` when one may be sent.
    pub fn retry_after(&self) -> Option<Duration> {
        self.closed_gate().map(|(wait, _)| wait)
    }

    fn closed_gate(&self) -> Option<(Duration, TokenError)> {
        self.inner.gate.lock().ok()?.closed(Instant::now())
    }

    /// A usable access token, fetched if need be.
    pub async fn token(&self) -> Result<SecretString, TokenError> {
        Ok(self.usable_token().await?.value.clone())
    }

    /// Sends `request` with the managed token and returns the resource's answer, whatever its
    /// status. A 401 `invalid_token` answer drops the token and the call is made once more
    /// with a new one, unless a refused token was replaced less than
    /// [`MIN_REPLACEMENT_INTERVAL`] ago.
    pub async fn call(&self, request: Request<Bytes>) -> Result<Answer, CallError> {
        let (parts, body) = request.into_parts();
        let mut retried = false;
        loop {
            let token = self.usable_token().await?;
            let outgoing = with_bearer(&parts, &body, &token)?;
            let answer = self
                .inner
                .outbound
                .send(outgoing)
                .await
                .map_err(CallError::ResourceFailed)?;
            if !retried
                && says_invalid_token(answer.status, &answer.headers)
                && self.replace_refused(&token)
            {
                retried = true;
                continue;
            }
            return Ok(answer);
        }
    }

    /// After the resource refused `token` as `invalid_token`: whether to send the request
    /// again with a new token (see the module doc). Revoked, or issued by an authorization
    /// server that has since forgotten it; another call may have replaced it already, and then
    /// the new one is used at no cost.
    fn replace_refused(&self, token: &Token) -> bool {
        replace_refused(
            &self.inner.current,
            &self.inner.last_replacement,
            token,
            Instant::now(),
        )
    }

    fn current(&self) -> Option<Arc<Token>> {
        self.inner.current.read().ok().and_then(|t| t.clone())
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
        // A closed gate answers at once: no fetch is under way to wait for.
        if let Some((_, failure)) = self.closed_gate() {
            return Err(failure);
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
        if self.closed_gate().is_some() || self.inner.renewing.swap(true, Ordering::SeqCst) {
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

    /// Fetches a token (the caller holds `fetching`) and makes it current; while the gate is
    /// closed, sends nothing and fails with the failure that closed it.
    async fn fetch_and_store(&self) -> Result<Arc<Token>, TokenError> {
        if let Some((_, failure)) = self.closed_gate() {
            return Err(failure);
        }
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
                let gate = match self.retry_after() {
                    Some(wait) => format!("; no token request for {} ms", wait.as_millis()),
                    None => String::new(),
                };
                access_log::event(format_args!(
                    "token request for client {} ({}) failed: {e}{gate}",
                    self.inner.client_id,
                    self.inner.authentication.method()
                ));
                if let Ok(mut last) = self.inner.last_failure.lock() {
                    *last = Some(e.clone());
                }
            }
        }
        self.inner.fetches_finished.fetch_add(1, Ordering::SeqCst);
        result
    }

    /// One token request, and more within [`TOKEN_BUDGET`] only while the server does not
    /// answer; every failure goes through the gate.
    async fn fetch_with_retries(&self) -> Result<Arc<Token>, TokenError> {
        let deadline = Instant::now() + TOKEN_BUDGET;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let failed = match tokio::time::timeout_at(deadline, self.fetch_once()).await {
                Err(_elapsed) => Failed::unanswered(TokenError::AuthServerUnavailable(format!(
                    "no token within {TOKEN_BUDGET:?}"
                ))),
                Ok(Ok(token)) => {
                    if let Ok(mut gate) = self.inner.gate.lock() {
                        gate.after_success();
                    }
                    return Ok(token);
                }
                Ok(Err(failed)) => failed,
            };
            if let Ok(mut gate) = self.inner.gate.lock() {
                gate.after_failure(&failed, Instant::now());
            }
            let wait = jittered(backoff);
            if failed.answered || Instant::now() + wait >= deadline {
                return Err(failed.error);
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

/// [`TokenClient::replace_refused`]: whether a call refused with `token` sends its request
/// again. Yes if `token` was already replaced (or dropped, a new one on its way); else only if
/// no refused token was replaced within [`MIN_REPLACEMENT_INTERVAL`], and then `token` is
/// dropped. The check and the drop happen under `last_replacement`'s lock: a call that looked
/// between another call's replacement and its drop would see the token still current and the
/// interval just begun, and answer its caller with the refusal (50 concurrent calls after a
/// restart showed it).
fn replace_refused(
    current: &RwLock<Option<Arc<Token>>>,
    last_replacement: &Mutex<Option<Instant>>,
    token: &Token,
    now: Instant,
) -> bool {
    let Ok(mut last) = last_replacement.lock() else {
        return false;
    };
    let Ok(mut current) = current.write() else {
        return false;
    };
    let still_current = current
        .as_ref()
        .is_some_and(|t| t.generation == token.generation);
    if !still_current {
        return true;
    }
    if last.is_some_and(|at| now < at + MIN_REPLACEMENT_INTERVAL) {
        return false;
    }
    *last = Some(now);
    *current = None;
    true
}

/// `wait` scaled by a random factor in [0.5, 1): callers that failed together do not retry
/// together.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(0.5 + random_fraction() / 2.0)
}

#[cfg(test)]
mod tests;
