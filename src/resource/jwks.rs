//! The authorization server's signing keys, as the guard knows them (JWT validation).
//!
//! Owns: fetching the JWK Set from the discovered `jwks_uri` (once at start, in the
//! background), keeping it, refreshing it in the background no more often than its `max-age`
//! says (at most [`MAX_REFRESH`], at least [`MIN_REFRESH`]), and refetching when a token names
//! a `kid` we do not know (or no set could be fetched yet) — at most once per
//! [`UNKNOWN_KID_REFETCH`], shared by every request that needs it meanwhile (single flight),
//! so a flood of tokens with made-up kids costs the authorization server one request per 10 s,
//! not one per token (the refetch storms of envoy gateway #4180 and smallrye-jwt #228). Only
//! unknown-kid fetches count toward that limit, so a key rotated in right after start-up or a
//! refresh is trusted at its first token. A failing fetch keeps the keys already held: once keys are known, validation goes on
//! with the authorization server down. Keys of types or uses we do not verify with are
//! skipped, not fatal. Does not own: verifying tokens (see `jwt`) or JWS (see
//! [`crate::oauth::jose`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use tokio::time::Instant;

use crate::access_log;
use crate::discovery::Discovered;
use crate::http::Outbound;
use crate::oauth::jose::{JwksMode, VerifyingKeySet};

/// At most one fetch for unknown kids per this long.
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(10);
/// Background refreshes follow the set's `max-age`, within these bounds.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
pub const MAX_REFRESH: Duration = Duration::from_secs(300);

/// The keys held and when to look again.
#[derive(Default)]
struct Held {
    keys: Option<Arc<VerifyingKeySet>>,
    /// Fetches finished (success or not), so a request that waited for the single flight can
    /// tell that one ran meanwhile.
    generation: u64,
    /// When the last fetch for an unknown kid began: the rate limit counts from it.
    last_kid_fetch: Option<Instant>,
    /// When the held keys are due for a background refresh.
    refresh_at: Option<Instant>,
}

/// The guard's copy of the authorization server's JWK Set. Cheap to share (`Arc`).
pub(super) struct JwksCache {
    discovered: Arc<Discovered>,
    outbound: Outbound,
    held: RwLock<Held>,
    /// The single flight: held while a fetch is under way.
    flight: tokio::sync::Mutex<()>,
    /// A background refresh is under way (so requests start at most one).
    refreshing: AtomicBool,
    /// JWK Set requests sent, for operators and tests.
    fetches: AtomicU64,
}

impl JwksCache {
    pub(super) fn new(discovered: Arc<Discovered>, outbound: Outbound) -> Self {
        JwksCache {
            discovered,
            outbound,
            held: RwLock::new(Held::default()),
            flight: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
        }
    }

    /// Fetches the set in the background now, so the first token finds it (needs a tokio
    /// runtime; without one the first token fetches it).
    pub(super) fn prefetch(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let cache = self.clone();
        runtime.spawn(async move {
            let _flight = cache.flight.lock().await;
            if cache.held_keys().is_none() {
                cache.fetch().await;
            }
        });
    }

    /// JWK Set requests sent so far.
    pub(super) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn held_keys(&self) -> Option<Arc<VerifyingKeySet>> {
        self.held.read().ok().and_then(|held| held.keys.clone())
    }

    /// The keys to check a token naming `kid` with: the held set when it knows the kid (or the
    /// token names none), else the set after a refetch if one is allowed now, else the held
    /// set (the token is then refused). `None` while no set was ever fetched.
    pub(super) async fn keys_for(
        self: &Arc<Self>,
        kid: Option<&str>,
    ) -> Option<Arc<VerifyingKeySet>> {
        let held = self.held_keys();
        let known = |keys: &VerifyingKeySet| kid.is_none_or(|kid| keys.contains_kid(kid));
        if let Some(keys) = held.as_ref().filter(|keys| known(keys)) {
            self.refresh_if_due();
            return Some(keys.clone());
        }
        // An unknown kid, or no keys yet: join the fetch under way, or start one if the last
        // unknown-kid fetch began long enough ago; otherwise answer with what we hold.
        let generation = |cache: &Self| cache.held.read().map_or(0, |h| h.generation);
        let before = generation(self);
        let _flight = self.flight.lock().await;
        if generation(self) != before {
            // A fetch ran while we waited for the flight: its result is ours too.
            return self.held_keys();
        }
        let now = Instant::now();
        let last = self.held.read().ok().and_then(|h| h.last_kid_fetch);
        if last.is_some_and(|last| now < last + UNKNOWN_KID_REFETCH) {
            return self.held_keys();
        }
        if let Ok(mut held) = self.held.write() {
            held.last_kid_fetch = Some(now);
        }
        self.fetch().await;
        self.held_keys()
    }

    /// Whether the held keys are past their max-age.
    fn refresh_due(&self) -> bool {
        let refresh_at = self.held.read().ok().and_then(|h| h.refresh_at);
        refresh_at.is_some_and(|at| Instant::now() >= at)
    }

    /// Starts a background refresh when the held keys are past their max-age.
    fn refresh_if_due(self: &Arc<Self>) {
        if !self.refresh_due() || self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let cache = self.clone();
        tokio::spawn(async move {
            {
                let _flight = cache.flight.lock().await;
                if cache.refresh_due() {
                    cache.fetch().await;
                }
            }
            cache.refreshing.store(false, Ordering::Release);
        });
    }

    /// One fetch (the caller holds the flight); keeps the held keys when it fails.
    async fn fetch(&self) {
        let result = self.fetch_set().await;
        let Ok(mut held) = self.held.write() else {
            return;
        };
        held.generation += 1;
        match result {
            Ok((keys, max_age)) => {
                held.keys = Some(Arc::new(keys));
                held.refresh_at = Some(Instant::now() + max_age);
            }
            Err(reason) => {
                access_log::event(format_args!("JWK Set not refreshed: {reason}"));
                // Try again no sooner than an unknown kid would.
                held.refresh_at = Some(Instant::now() + UNKNOWN_KID_REFETCH);
            }
        }
    }

    async fn fetch_set(&self) -> Result<(VerifyingKeySet, Duration), String> {
        let metadata = self
            .discovered
            .get_or_fetch()
            .await
            .map_err(|e| e.to_string())?;
        let uri = metadata
            .jwks_uri
            .clone()
            .ok_or("the authorization server advertises no jwks_uri")?;
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = uri;
        request.headers_mut().insert(
            ACCEPT,
            HeaderValue::from_static("application/jwk-set+json, application/json"),
        );
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let answer = self
            .outbound
            .send(request)
            .await
            .map_err(|e| e.to_string())?;
        if answer.status != StatusCode::OK {
            return Err(format!("the JWK Set answered {}", answer.status.as_u16()));
        }
        let keys = VerifyingKeySet::from_jwks(&answer.body, JwksMode::SkipUnusable)
            .map_err(|e| format!("the JWK Set is unusable: {e}"))?;
        if keys.is_empty() {
            return Err("the JWK Set holds no key we can verify with".into());
        }
        Ok((keys, max_age(&answer.headers)))
    }
}

/// The refresh interval a JWK Set's `Cache-Control: max-age` asks for, within bounds.
fn max_age(headers: &HeaderMap) -> Duration {
    let secs = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|directive| directive.trim().strip_prefix("max-age="))
        .find_map(|secs| secs.trim().parse::<u64>().ok());
    secs.map_or(MAX_REFRESH, Duration::from_secs)
        .clamp(MIN_REFRESH, MAX_REFRESH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_and_bounded() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
            max_age(&headers)
        };
        assert_eq!(with("public, max-age=120"), Duration::from_secs(120));
        assert_eq!(with("max-age=1"), MIN_REFRESH);
        assert_eq!(with("max-age=86400"), MAX_REFRESH);
        assert_eq!(with("no-cache"), MAX_REFRESH);
        assert_eq!(max_age(&HeaderMap::new()), MAX_REFRESH);
    }
}
