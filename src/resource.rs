//! Protecting a hyper service with bearer tokens: [`TokenGuard`] (RFC 6750, RFC 7662).
//!
//! A service hands the guard a request's headers and the scope the route needs, and gets
//! either the [`Caller`] or a finished error response:
//!
//! | situation                                           | answer                                     |
//! |-----------------------------------------------------|--------------------------------------------|
//! | no bearer token in `Authorization` (§2.1, §3.1)      | 401, `WWW-Authenticate: Bearer realm=".."` |
//! | malformed `Authorization: Bearer ...` (§3.1)         | 400 `invalid_request`                      |
//! | token unknown, expired or revoked (§3.1)             | 401 `error="invalid_token"`                |
//! | token valid without the needed scope (§3.1)          | 403 `error="insufficient_scope"`, `scope`  |
//! | authorization server unreachable, token not cached  | 503 with `Retry-After`, never a guess      |
//!
//! Tokens are read from the `Authorization` header only: one in the query or the body is
//! ignored (the request counts as having none), so tokens stay out of URLs and logs. The
//! scheme name is case-insensitive.
//!
//! Owns: reading the header, validating tokens by introspection (authenticated with the
//! resource server's own client credentials, client_secret_basic), the cache of introspection
//! answers and the single-flight of concurrent introspections of the same token, and the
//! RFC 6750 error responses. Does not own: discovering the endpoints (see
//! [`crate::discovery`]), connections (see [`crate::outbound`]), or routing (the service).
//!
//! The cache is keyed by SHA-256 of the token, so no token is kept in memory beyond the
//! request. An entry lives at most `min(token exp, cache TTL)`; "inactive" answers live a few
//! seconds so a flood of bad tokens is not a flood of introspections; only definite answers
//! (a 200 with a well-formed body) are cached, never a timeout, a refused connection or a 5xx.
//! Revocation therefore takes effect within the cache TTL.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use tokio::sync::watch;

use crate::access_log;
use crate::auth::unix_now;
use crate::discovery::Discovered;
use crate::form::encode_form_component;
use crate::http::{json_error, Body};
use crate::outbound::Outbound;
use crate::secret::{sha256, SecretString};

/// The longest cache TTL accepted; larger settings are lowered to it.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(30);
/// How long an "inactive" answer is remembered.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(3);
/// Most cached introspection answers.
pub const MAX_CACHE_ENTRIES: usize = 100_000;
/// Longest token looked at; longer ones are not ours and are refused without introspection.
const MAX_TOKEN_LEN: usize = 4096;
/// Most introspections under way at once. Beyond it a request with an uncached token gets 503
/// at once: a flood of distinct made-up tokens must not become a flood of introspection calls
/// that would crowd out the real ones at the authorization server.
pub const MAX_CONCURRENT_INTROSPECTIONS: usize = 256;
/// Longest time one introspection may take, discovery included. Shorter than a caller's
/// whole-request timeout (2 s), so a hanging authorization server reaches the caller as this
/// service's 503 rather than as the caller's own timeout.
pub const INTROSPECTION_BUDGET: Duration = Duration::from_millis(1500);

/// Settings of a [`TokenGuard`].
#[derive(Clone)]
pub struct GuardConfig {
    /// The `realm` of every challenge.
    pub realm: String,
    /// The resource server's own client id, for introspection.
    pub client_id: String,
    pub client_secret: SecretString,
    /// Longest time an introspection answer is trusted; at most [`MAX_CACHE_TTL`].
    pub cache_ttl: Duration,
    pub negative_ttl: Duration,
    pub max_cache_entries: usize,
}

impl GuardConfig {
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        GuardConfig {
            realm: "tollgate".into(),
            client_id: client_id.into(),
            client_secret,
            cache_ttl: MAX_CACHE_TTL,
            negative_ttl: NEGATIVE_TTL,
            max_cache_entries: MAX_CACHE_ENTRIES,
        }
    }
}

impl fmt::Debug for GuardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardConfig")
            .field("realm", &self.realm)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("max_cache_entries", &self.max_cache_entries)
            .finish()
    }
}

/// Who is calling, as the authorization server described the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client_id: String,
    pub scopes: Vec<String>,
    /// When the token expires, seconds since the Unix epoch, if the server said.
    pub exp: Option<u64>,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The scopes space-separated, as in OAuth messages.
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }
}

/// The bearer-token guard. Cheap to clone: clones share the cache and the connections.
#[derive(Clone)]
pub struct TokenGuard {
    inner: Arc<Inner>,
}

struct Inner {
    config: GuardConfig,
    /// `Authorization` value for introspection requests, made once.
    basic: SecretString,
    discovered: Arc<Discovered>,
    outbound: Outbound,
    cache: Mutex<Cache>,
    /// Introspections under way, by token hash: later requests for the same token wait on the
    /// first one's answer instead of asking again.
    in_flight: Mutex<HashMap<[u8; 32], watch::Receiver<Option<Verdict>>>>,
    /// Introspection requests sent, for operators and tests.
    introspections: AtomicU64,
    /// Bounds the introspections under way (see [`MAX_CONCURRENT_INTROSPECTIONS`]).
    introspection_slots: Arc<tokio::sync::Semaphore>,
}

/// Takes a finished (or panicked) introspection out of the in-flight map, so a token can never
/// be left waiting on a task that is gone.
struct InFlightEntry {
    guard: TokenGuard,
    key: [u8; 32],
}

impl Drop for InFlightEntry {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.guard.inner.in_flight.lock() {
            in_flight.remove(&self.key);
        }
    }
}

impl fmt::Debug for TokenGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGuard")
            .field("issuer", &self.inner.discovered.issuer())
            .field("config", &self.inner.config)
            .field("introspections", &self.introspections())
            .finish_non_exhaustive()
    }
}

/// What introspection said about a token.
#[derive(Clone, Debug)]
enum Verdict {
    Active(Arc<Caller>),
    Inactive,
    /// No definite answer: the server could not be reached or answered an error.
    Unavailable,
}

struct CacheEntry {
    verdict: Verdict,
    until: Instant,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<[u8; 32], CacheEntry>,
}

impl Cache {
    fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<Verdict> {
        match self.entries.get(key) {
            Some(entry) if entry.until > now => Some(entry.verdict.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: [u8; 32], entry: CacheEntry, max: usize, now: Instant) {
        if max == 0 {
            return;
        }
        if self.entries.len() >= max && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| e.until > now);
            if self.entries.len() >= max {
                // Still full of live entries: drop the tenth that would expire soonest, so
                // the next 10% of inserts need no scan.
                let mut untils: Vec<Instant> = self.entries.values().map(|e| e.until).collect();
                let cut = (max / 10).max(1).min(untils.len() - 1);
                let (_, &mut threshold, _) = untils.select_nth_unstable(cut);
                self.entries.retain(|_, e| e.until > threshold);
            }
        }
        self.entries.insert(key, entry);
    }
}

/// Why a request was refused, as RFC 6750 §3.1 names it.
enum Refusal {
    NoToken,
    InvalidRequest(&'static str),
    InvalidToken,
    InsufficientScope(String),
    Unavailable,
}

impl TokenGuard {
    /// A guard validating tokens with the authorization server `discovered` names.
    pub fn new(config: GuardConfig, discovered: Arc<Discovered>, outbound: Outbound) -> Self {
        let mut config = config;
        config.cache_ttl = config.cache_ttl.min(MAX_CACHE_TTL);
        config.negative_ttl = config.negative_ttl.min(config.cache_ttl);
        let basic = basic_authorization(&config.client_id, &config.client_secret);
        TokenGuard {
            inner: Arc::new(Inner {
                config,
                basic,
                discovered,
                outbound,
                cache: Mutex::new(Cache::default()),
                in_flight: Mutex::new(HashMap::new()),
                introspections: AtomicU64::new(0),
                introspection_slots: Arc::new(tokio::sync::Semaphore::new(
                    MAX_CONCURRENT_INTROSPECTIONS,
                )),
            }),
        }
    }

    /// The authorization server's metadata holder this guard waits on.
    pub fn discovered(&self) -> &Arc<Discovered> {
        &self.inner.discovered
    }

    /// Introspection requests sent since the guard was made.
    pub fn introspections(&self) -> u64 {
        self.inner.introspections.load(Ordering::Relaxed)
    }

    /// The caller of a request whose token is valid and carries every scope of
    /// `required_scope` (space-separated), or the response to send instead.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        required_scope: &str,
    ) -> Result<Caller, Response<Body>> {
        self.check(headers, required_scope)
            .await
            .map_err(|refusal| self.refusal_response(refusal))
    }

    async fn check(&self, headers: &HeaderMap, required_scope: &str) -> Result<Caller, Refusal> {
        let token = bearer_token(headers)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(Refusal::InvalidToken);
        }
        let caller = match self.verdict(token).await {
            Verdict::Active(caller) => caller,
            Verdict::Inactive => return Err(Refusal::InvalidToken),
            Verdict::Unavailable => return Err(Refusal::Unavailable),
        };
        // An entry may outlive the token by less than a second of rounding; never the token.
        if caller.exp.is_some_and(|exp| exp <= unix_now()) {
            return Err(Refusal::InvalidToken);
        }
        let missing = required_scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .any(|s| !caller.has_scope(s));
        if missing {
            return Err(Refusal::InsufficientScope(required_scope.to_owned()));
        }
        Ok(Caller::clone(&caller))
    }

    /// The cached verdict on `token`, or the answer of one introspection shared by every
    /// request that asks meanwhile.
    async fn verdict(&self, token: &str) -> Verdict {
        let key = sha256(token.as_bytes());
        let mut receiver = {
            let Ok(mut in_flight) = self.inner.in_flight.lock() else {
                return Verdict::Unavailable;
            };
            // Looked up under the in-flight lock: the introspection task caches its answer
            // before it leaves the in-flight map, so no answer can slip between the two.
            if let Some(verdict) = self.cached(&key) {
                return verdict;
            }
            match in_flight.get(&key) {
                Some(receiver) => receiver.clone(),
                None => {
                    let Ok(slot) = self.inner.introspection_slots.clone().try_acquire_owned()
                    else {
                        return Verdict::Unavailable;
                    };
                    let (sender, receiver) = watch::channel(None);
                    in_flight.insert(key, receiver.clone());
                    // A task of its own, so that the introspection finishes (and is cached)
                    // even when the request that started it is dropped.
                    let entry = InFlightEntry {
                        guard: self.clone(),
                        key,
                    };
                    let token = SecretString::new(token.to_owned());
                    tokio::spawn(async move {
                        let _slot = slot;
                        let guard = &entry.guard;
                        let verdict =
                            tokio::time::timeout(INTROSPECTION_BUDGET, guard.introspect(&token))
                                .await
                                .unwrap_or(Verdict::Unavailable);
                        guard.remember(key, &verdict);
                        drop(entry);
                        let _ = sender.send(Some(verdict));
                    });
                    receiver
                }
            }
        };
        let verdict = match receiver.wait_for(Option::is_some).await {
            Ok(verdict) => verdict.clone().unwrap_or(Verdict::Unavailable),
            // The task ended without an answer (it panicked): fail closed.
            Err(_) => Verdict::Unavailable,
        };
        verdict
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Verdict> {
        let mut cache = self.inner.cache.lock().ok()?;
        cache.get(key, Instant::now())
    }

    fn remember(&self, key: [u8; 32], verdict: &Verdict) {
        let config = &self.inner.config;
        let lifetime = match verdict {
            Verdict::Active(caller) => match caller.exp {
                Some(exp) => {
                    Duration::from_secs(exp.saturating_sub(unix_now())).min(config.cache_ttl)
                }
                None => config.cache_ttl,
            },
            Verdict::Inactive => config.negative_ttl,
            Verdict::Unavailable => return,
        };
        if lifetime.is_zero() {
            return;
        }
        let now = Instant::now();
        if let Ok(mut cache) = self.inner.cache.lock() {
            let entry = CacheEntry {
                verdict: verdict.clone(),
                until: now + lifetime,
            };
            cache.insert(key, entry, config.max_cache_entries, now);
        }
    }

    /// Asks the authorization server about `token` (RFC 7662).
    async fn introspect(&self, token: &SecretString) -> Verdict {
        // Not discovered yet (the server was down at start): try now rather than wait for the
        // background retry, so the first request after the server is back is served.
        let metadata = match self.inner.discovered.get_or_fetch().await {
            Ok(metadata) => metadata,
            Err(e) => {
                access_log::event(format_args!("introspection impossible: {e}"));
                return Verdict::Unavailable;
            }
        };
        let Some(endpoint) = metadata.introspection_endpoint.clone() else {
            access_log::event(format_args!(
                "introspection: the authorization server advertises no introspection endpoint"
            ));
            return Verdict::Unavailable;
        };
        let body = format!("token={}", encode_form_component(token.expose()));
        let body = SecretString::new(body);
        let mut request = Request::new(Full::new(Bytes::copy_from_slice(body.expose().as_bytes())));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = endpoint;
        let headers = request.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        match HeaderValue::from_str(self.inner.basic.expose()) {
            Ok(mut value) => {
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            Err(_) => return Verdict::Unavailable,
        }
        self.inner.introspections.fetch_add(1, Ordering::Relaxed);
        let answer = match self.inner.outbound.send_repeatable(request).await {
            Ok(answer) => answer,
            Err(e) => {
                access_log::event(format_args!("introspection failed: {e}"));
                return Verdict::Unavailable;
            }
        };
        if answer.status != StatusCode::OK {
            // 401/403 mean our own credentials are wrong: an operator must see it.
            access_log::event(format_args!(
                "introspection answered {}; the token is not judged",
                answer.status.as_u16()
            ));
            return Verdict::Unavailable;
        }
        self.parse_introspection(&answer.body)
    }

    fn parse_introspection(&self, body: &[u8]) -> Verdict {
        #[derive(Deserialize)]
        struct Introspection {
            active: bool,
            client_id: Option<String>,
            scope: Option<String>,
            exp: Option<u64>,
            iss: Option<String>,
        }
        let Ok(parsed) = serde_json::from_slice::<Introspection>(body) else {
            access_log::event(format_args!(
                "introspection answered a body that is not RFC 7662 JSON"
            ));
            return Verdict::Unavailable;
        };
        if !parsed.active {
            return Verdict::Inactive;
        }
        if parsed
            .iss
            .as_deref()
            .is_some_and(|iss| iss != self.inner.discovered.issuer())
        {
            return Verdict::Inactive;
        }
        // A caller nobody can name cannot be served.
        let Some(client_id) = parsed.client_id else {
            return Verdict::Inactive;
        };
        let scopes = parsed
            .scope
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Verdict::Active(Arc::new(Caller {
            client_id,
            scopes,
            exp: parsed.exp,
        }))
    }

    fn refusal_response(&self, refusal: Refusal) -> Response<Body> {
        let realm = quoted(&self.inner.config.realm);
        let (status, challenge, error, description) = match refusal {
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                Some(format!("Bearer realm={realm}")),
                "unauthorized",
                "a bearer token in the Authorization header is required".to_owned(),
            ),
            Refusal::InvalidRequest(description) => (
                StatusCode::BAD_REQUEST,
                Some(format!(
                    "Bearer realm={realm}, error=\"invalid_request\", error_description={}",
                    quoted(description)
                )),
                "invalid_request",
                description.to_owned(),
            ),
            Refusal::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some(format!(
                    "Bearer realm={realm}, error=\"invalid_token\", \
                     error_description=\"the access token is invalid, expired or revoked\""
                )),
                "invalid_token",
                "the access token is invalid, expired or revoked".to_owned(),
            ),
            Refusal::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                Some(format!(
                    "Bearer realm={realm}, error=\"insufficient_scope\", scope={}",
                    quoted(&scope)
                )),
                "insufficient_scope",
                format!("the access token lacks scope {scope:?}"),
            ),
            Refusal::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "temporarily_unavailable",
                "the authorization server cannot be reached to check the token".to_owned(),
            ),
        };
        let mut response = json_error(status, error, &description);
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The bearer token of a request (RFC 6750 §2.1), or why there is none.
/// The bearer token of a request's `Authorization` header (RFC 6750 §2.1): `Ok(None)` when
/// there is none (no header, or another scheme), `Err` with the reason when the header is
/// malformed. This is the parser [`TokenGuard::authorize`] uses, public for tests and fuzzing.
pub fn parse_bearer(headers: &HeaderMap) -> Result<Option<&str>, &'static str> {
    match bearer_token(headers) {
        Ok(token) => Ok(Some(token)),
        Err(Refusal::NoToken) => Ok(None),
        Err(Refusal::InvalidRequest(reason)) => Err(reason),
        Err(_) => Err("refused"),
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<&str, Refusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refusal::NoToken);
    };
    if values.next().is_some() {
        return Err(Refusal::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let Ok(value) = value.to_str() else {
        return Err(Refusal::InvalidRequest(
            "the Authorization header is not visible ASCII",
        ));
    };
    let mut parts = value.split([' ', '\t']).filter(|p| !p.is_empty());
    let Some(scheme) = parts.next() else {
        return Err(Refusal::NoToken);
    };
    if !scheme.eq_ignore_ascii_case("Bearer") {
        // Another scheme (Basic, say): no bearer token, so the §3.1 answer without an error.
        return Err(Refusal::NoToken);
    }
    let Some(token) = parts.next() else {
        return Err(Refusal::InvalidRequest("the Bearer scheme needs a token"));
    };
    if parts.next().is_some() {
        return Err(Refusal::InvalidRequest(
            "the Authorization header holds more than one token",
        ));
    }
    if !is_b64token(token) {
        return Err(Refusal::InvalidRequest(
            "the bearer token has characters RFC 6750 section 2.1 does not allow",
        ));
    }
    Ok(token)
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// A quoted-string with `"` and `\` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `Basic` credentials as RFC 6749 §2.3.1 wants them: id and secret form-encoded first.
pub fn basic_authorization(client_id: &str, secret: &SecretString) -> SecretString {
    let pair = SecretString::new(format!(
        "{}:{}",
        encode_form_component(client_id),
        encode_form_component(secret.expose())
    ));
    SecretString::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.expose())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn kind(result: Result<&str, Refusal>) -> &'static str {
        match result {
            Ok(_) => "token",
            Err(Refusal::NoToken) => "none",
            Err(Refusal::InvalidRequest(_)) => "invalid_request",
            Err(_) => "other",
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let map = headers(&[&format!("{scheme} abc.DEF-123_~+/==")]);
            assert_eq!(bearer_token(&map).ok(), Some("abc.DEF-123_~+/=="));
        }
    }

    #[test]
    fn missing_or_foreign_credentials_count_as_no_token() {
        assert_eq!(kind(bearer_token(&headers(&[]))), "none");
        assert_eq!(kind(bearer_token(&headers(&["Basic YTpi"]))), "none");
    }

    #[test]
    fn malformed_bearer_headers_are_invalid_requests() {
        for bad in [
            "Bearer",
            "Bearer   ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ===",
        ] {
            assert_eq!(
                kind(bearer_token(&headers(&[bad]))),
                "invalid_request",
                "{bad}"
            );
        }
        assert_eq!(
            kind(bearer_token(&headers(&["Bearer a", "Bearer b"]))),
            "invalid_request"
        );
    }

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        let value = basic_authorization("a b", &SecretString::new("p:w%".into()));
        let encoded = value.expose().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"a%20b:p%3Aw%25");
    }

    #[test]
    fn a_full_cache_drops_expired_then_soonest_expiring_entries() {
        let now = Instant::now();
        let mut cache = Cache::default();
        let entry = |secs| CacheEntry {
            verdict: Verdict::Inactive,
            until: now + Duration::from_secs(secs),
        };
        for i in 0..10u8 {
            cache.insert([i; 32], entry(u64::from(i) + 1), 10, now);
        }
        assert_eq!(cache.entries.len(), 10);
        cache.insert([99; 32], entry(100), 10, now);
        assert!(cache.entries.len() <= 10);
        assert!(cache.entries.contains_key(&[99; 32]));
        assert!(
            !cache.entries.contains_key(&[0; 32]),
            "soonest expiry goes first"
        );
        assert!(cache.entries.contains_key(&[9; 32]));
    }
}
