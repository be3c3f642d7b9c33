//! The token store: what the authorization server remembers about each access token it issued.
//!
//! Owns: the [`TokenStore`] trait (so a shared store on an existing engine can replace the
//! in-memory one when several replicas run) and [`MemoryTokenStore`], which keeps a SHA-256
//! hash of each token, never the token itself, in sharded maps: lookups on different shards
//! never contend, and one shard's lock is held only for a single insert, lookup or removal.
//! Expired entries are removed by [`MemoryTokenStore::sweep`], run in the background one shard
//! at a time, so memory stays bounded by the live tokens and requests never wait on a sweep of
//! the whole store. JWT access tokens are not stored at all: the store only remembers the ones
//! revoked before they expire (the denylist, [`TokenStore::deny`]), bounded by the live revoked
//! tokens and swept like the rest. A store is also the [`ReplayCache`] of client assertions
//! (RFC 7523 §3 item 7: each `jti` is accepted once), so whatever shares tokens between
//! replicas shares the used assertions too, and an assertion cannot be replayed at another
//! replica. The in-memory store remembers each used assertion until its `exp` (at most five
//! minutes ahead: the cache is bounded by the live assertions, swept with the rest); only
//! verified assertions reach it, and beyond [`MAX_REMEMBERED_ASSERTIONS`] live ones new
//! assertions are refused (503) rather than accepted unremembered.
//!
//! A store also counts failed client authentications ([`FailureCounters`] is a supertrait), so
//! that replicas sharing a store throttle as one, and runs each request's store operation
//! ([`StoreOp`]) together with its client's admission ([`TokenStore::admit_then`]): one step
//! in memory, one round trip to a shared store. Does not own: making tokens or deciding who
//! may see them (see `auth`), checking assertions (see `assertion`), the shared store itself
//! (see `redis_store`).

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};
use std::time::Duration;

mod op;

pub use op::{StoreAnswer, StoreOp};

use super::throttle::{Admission, Attempt, BudgetPolicy, FailureCounters, LocalCounters, Policy};

use super::expiring::{ExpiringKeys, KeysUnavailable};

/// The SHA-256 of an access token: the only form in which tokens are stored.
pub type TokenHash = [u8; 32];

/// Who a token was issued to and what it allows; shared between the tokens of one grant.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Grant {
    pub client_id: Arc<str>,
    /// The granted scopes, space-separated.
    pub scope: Box<str>,
    /// The resources the token is for (RFC 8707); empty: no audience restriction.
    pub audience: Box<[Box<str>]>,
}

/// What is known about one live token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub grant: Arc<Grant>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, seconds since the Unix epoch; the token is dead from this second on.
    pub exp: u64,
    /// SHA-256 of the client certificate the token is bound to (RFC 8705 §3), if it was issued
    /// over a connection that presented one.
    pub cnf: Option<[u8; 32]>,
}

/// The store failed (a shared store's engine is down): answer 503, never guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token store unavailable: {0}")]
pub struct StoreUnavailable(pub String);

/// What the replay cache remembers of an assertion: SHA-256 over its client id and `jti`, so
/// `jti`s of different clients never collide and no assertion content is kept.
pub type AssertionKey = [u8; 32];

/// Most live client assertions the in-memory store remembers (about 80 MB at most).
pub const MAX_REMEMBERED_ASSERTIONS: usize = 1 << 20;

/// Where used client assertions are remembered, of the same kind as [`TokenStore`] (which
/// requires it). Implementations must make the check and the record one atomic step (two
/// replicas given the same assertion at once: one wins), and treat an entry whose `exp` is not
/// after `now` as absent.
pub trait ReplayCache: Send + Sync + 'static {
    /// Records `key` as used until `exp` (seconds since the epoch): `Ok(true)` when it was not
    /// in use, `Ok(false)` for a replay.
    fn first_use(
        &self,
        key: AssertionKey,
        exp: u64,
        now: u64,
    ) -> impl Future<Output = Result<bool, StoreUnavailable>> + Send;
}

/// Where issued tokens live, the used client assertions and the failed authentications.
/// Implementations must be safe under concurrency and must treat a record whose `exp` is not
/// after `now` as absent.
pub trait TokenStore: ReplayCache + FailureCounters {
    fn insert(
        &self,
        hash: TokenHash,
        record: TokenRecord,
    ) -> impl Future<Output = Result<(), StoreUnavailable>> + Send;

    fn get(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> impl Future<Output = Result<Option<TokenRecord>, StoreUnavailable>> + Send;

    /// Removes the token if it was issued to `client_id`; returns whether it was removed.
    fn revoke(
        &self,
        hash: &TokenHash,
        client_id: &str,
    ) -> impl Future<Output = Result<bool, StoreUnavailable>> + Send;

    /// Remembers a self-contained token (a JWT) as revoked until `exp`, when it dies anyway.
    fn deny(
        &self,
        hash: TokenHash,
        exp: u64,
    ) -> impl Future<Output = Result<(), StoreUnavailable>> + Send;

    /// Whether a self-contained token was revoked (and has not expired since).
    fn is_denied(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> impl Future<Output = Result<bool, StoreUnavailable>> + Send;

    /// Admits an authenticated attempt ([`FailureCounters::admit`]) and, unless it is refused,
    /// runs `op`. A shared store overrides this to do both in one round trip.
    fn admit_then(
        &self,
        attempt: Attempt<'_>,
        op: StoreOp<'_>,
    ) -> impl Future<Output = Result<Result<StoreAnswer, Duration>, StoreUnavailable>> + Send {
        async move {
            if let Err(wait) = self.admit(attempt).await? {
                return Ok(Err(wait));
            }
            op.run_in(self).await.map(Ok)
        }
    }

    /// `Err` while the store cannot serve (`/readyz` answers 503). In memory: always ready; a
    /// shared store checks its engine.
    fn readiness(&self) -> impl Future<Output = Result<(), StoreUnavailable>> + Send {
        async { Ok(()) }
    }

    /// How many tokens the store holds, when it can say cheaply (`tollgate_live_tokens`).
    fn live_tokens(&self) -> Option<usize> {
        None
    }

    /// Housekeeping run every `sweep_interval`: the in-memory store drops what expired; a
    /// store whose engine expires keys by itself does nothing.
    fn maintain(&self, _now: u64) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Token hashes are SHA-256 outputs of server-made random values, so their bytes are already
/// uniformly spread and cannot be steered by a client: eight of them are a good map hash.
#[derive(Default)]
struct TokenHashHasher(u64);

impl Hasher for TokenHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Arrays hash their length first (a usize) and then their bytes; keep the last
        // eight bytes seen, which are bytes 24..32 of the hash.
        for &b in bytes {
            self.0 = self.0 << 8 | u64::from(b);
        }
    }
}

type Shard = RwLock<HashMap<TokenHash, TokenRecord, BuildHasherDefault<TokenHashHasher>>>;

const SHARDS: usize = 64;
/// Revoked JWTs are few (revocation is rare), so their map needs fewer shards.
const DENY_SHARDS: usize = 8;
/// One assertion per token request of an assertion client.
const ASSERTION_SHARDS: usize = 16;

/// The in-memory token store.
pub struct MemoryTokenStore {
    shards: Box<[Shard]>,
    /// Revoked self-contained tokens, by hash, until the `exp` after which they are dead anyway.
    denied: ExpiringKeys,
    /// The client assertions used and not expired yet.
    assertions: ExpiringKeys,
    /// Failed client authentications, counted in this process.
    counters: LocalCounters,
}

impl Default for MemoryTokenStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTokenStore")
            .field("tokens", &self.len())
            .finish()
    }
}

impl MemoryTokenStore {
    /// A store with the default throttling policies.
    pub fn new() -> Self {
        Self::with_policies(Policy::per_client(), BudgetPolicy::per_address())
    }

    /// A store whose failure counters follow these policies.
    pub fn with_policies(lockout: Policy, budget: BudgetPolicy) -> Self {
        MemoryTokenStore {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            // Bounded by the live revoked tokens, which only their owners can add.
            denied: ExpiringKeys::new(DENY_SHARDS, usize::MAX),
            assertions: ExpiringKeys::new(ASSERTION_SHARDS, MAX_REMEMBERED_ASSERTIONS),
            counters: LocalCounters::new(lockout, budget),
        }
    }

    /// Keys the failure counters remember: (per client id and source, per source).
    pub fn throttled_keys(&self) -> (usize, usize) {
        self.counters.len()
    }

    fn shard(&self, hash: &TokenHash) -> &Shard {
        // The first byte picks the shard, the last eight the bucket: independent bits.
        &self.shards[usize::from(hash[0]) % SHARDS]
    }

    /// Live and not yet swept tokens.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map_or(0, |m| m.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Revoked self-contained tokens not yet swept.
    pub fn denied_len(&self) -> usize {
        self.denied.len()
    }

    /// Used client assertions not swept yet.
    pub fn assertions_len(&self) -> usize {
        self.assertions.len()
    }

    /// Removes every token (and denylist and assertion entry) expired at `now`, one shard at
    /// a time, yielding between shards so the sweep never holds a worker thread for long.
    /// Returns how many tokens were removed.
    pub async fn sweep(&self, now: u64) -> usize {
        self.assertions.sweep(now);
        self.denied.sweep(now);
        let mut removed = 0;
        for shard in self.shards.iter() {
            if let Ok(mut map) = shard.write() {
                let before = map.len();
                map.retain(|_, record| record.exp > now);
                removed += before - map.len();
                // Give memory back once a burst of tokens has expired.
                if map.capacity() > 64 && map.len() < map.capacity() / 4 {
                    map.shrink_to_fit();
                }
            }
            tokio::task::yield_now().await;
        }
        removed
    }

    fn insert_now(&self, hash: TokenHash, record: TokenRecord) -> Result<(), StoreUnavailable> {
        let mut map = self.shard(&hash).write().map_err(poisoned)?;
        map.insert(hash, record);
        Ok(())
    }

    fn get_now(&self, hash: &TokenHash, now: u64) -> Result<Option<TokenRecord>, StoreUnavailable> {
        let map = self.shard(hash).read().map_err(poisoned)?;
        Ok(map.get(hash).filter(|r| r.exp > now).cloned())
    }

    fn revoke_now(&self, hash: &TokenHash, client_id: &str) -> Result<bool, StoreUnavailable> {
        let mut map = self.shard(hash).write().map_err(poisoned)?;
        let owned = map
            .get(hash)
            .is_some_and(|r| &*r.grant.client_id == client_id);
        if owned {
            map.remove(hash);
        }
        Ok(owned)
    }
}

/// A lock some thread panicked while holding: the store cannot be trusted, so it is "down".
fn poisoned<T>(_: T) -> StoreUnavailable {
    StoreUnavailable("a store shard was poisoned".into())
}

/// A denylist or assertion shard that cannot be trusted: the store is "down"; a full
/// assertion record refuses new assertions.
fn keys_unavailable(e: KeysUnavailable) -> StoreUnavailable {
    StoreUnavailable(
        match e {
            KeysUnavailable::Poisoned => "a store shard was poisoned",
            KeysUnavailable::Full => "too many live client assertions are remembered",
        }
        .into(),
    )
}

impl ReplayCache for MemoryTokenStore {
    async fn first_use(
        &self,
        key: AssertionKey,
        exp: u64,
        now: u64,
    ) -> Result<bool, StoreUnavailable> {
        self.assertions
            .first_use(key, exp, now)
            .map_err(keys_unavailable)
    }
}

impl TokenStore for MemoryTokenStore {
    // In memory nothing waits: each call is done when its future is first polled.
    async fn insert(&self, hash: TokenHash, record: TokenRecord) -> Result<(), StoreUnavailable> {
        self.insert_now(hash, record)
    }

    async fn get(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreUnavailable> {
        self.get_now(hash, now)
    }

    async fn revoke(&self, hash: &TokenHash, client_id: &str) -> Result<bool, StoreUnavailable> {
        self.revoke_now(hash, client_id)
    }

    async fn deny(&self, hash: TokenHash, exp: u64) -> Result<(), StoreUnavailable> {
        self.denied.insert(hash, exp).map_err(keys_unavailable)
    }

    async fn is_denied(&self, hash: &TokenHash, now: u64) -> Result<bool, StoreUnavailable> {
        self.denied.contains(hash, now).map_err(keys_unavailable)
    }

    fn live_tokens(&self) -> Option<usize> {
        Some(self.len())
    }

    async fn maintain(&self, now: u64) {
        self.sweep(now).await;
        self.counters.sweep();
    }
}

impl FailureCounters for MemoryTokenStore {
    fn admit(
        &self,
        attempt: Attempt<'_>,
    ) -> impl Future<Output = Result<Admission, StoreUnavailable>> + Send {
        self.counters.admit(attempt)
    }

    fn count_failure(
        &self,
        attempt: Attempt<'_>,
    ) -> impl Future<Output = Result<Admission, StoreUnavailable>> + Send {
        self.counters.count_failure(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::sha256;

    fn record(client: &str, iat: u64, exp: u64) -> TokenRecord {
        TokenRecord {
            grant: Arc::new(Grant {
                client_id: client.into(),
                scope: "read".into(),
                audience: Box::new([]),
            }),
            iat,
            exp,
            cnf: None,
        }
    }

    #[tokio::test]
    async fn a_token_is_found_until_it_expires() {
        let store = MemoryTokenStore::new();
        let hash = sha256(b"token");
        store.insert(hash, record("a", 100, 200)).await.unwrap();
        assert!(store.get(&hash, 199).await.unwrap().is_some());
        assert!(store.get(&hash, 200).await.unwrap().is_none());
        assert!(store.get(&sha256(b"other"), 150).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn only_the_owner_revokes() {
        let store = MemoryTokenStore::new();
        let hash = sha256(b"token");
        store.insert(hash, record("a", 100, 200)).await.unwrap();
        assert!(!store.revoke(&hash, "b").await.unwrap());
        assert!(store.get(&hash, 150).await.unwrap().is_some());
        assert!(store.revoke(&hash, "a").await.unwrap());
        assert!(store.get(&hash, 150).await.unwrap().is_none());
        assert!(!store.revoke(&hash, "a").await.unwrap());
    }

    #[tokio::test]
    async fn sweep_removes_exactly_the_expired() {
        let store = MemoryTokenStore::new();
        for i in 0..1000u32 {
            let exp = if i % 2 == 0 { 150 } else { 250 };
            store
                .insert(sha256(&i.to_le_bytes()), record("a", 100, exp))
                .await
                .unwrap();
        }
        assert_eq!(store.len(), 1000);
        assert_eq!(store.sweep(200).await, 500);
        assert_eq!(store.len(), 500);
        assert!(store
            .get(&sha256(&1u32.to_le_bytes()), 200)
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn denied_tokens_stay_denied_until_they_expire_and_are_then_swept() {
        let store = MemoryTokenStore::new();
        let hash = sha256(b"a.jwt.token");
        assert!(!store.is_denied(&hash, 100).await.unwrap());
        store.deny(hash, 200).await.unwrap();
        assert!(store.is_denied(&hash, 199).await.unwrap());
        assert!(!store.is_denied(&hash, 200).await.unwrap());
        assert_eq!(store.denied_len(), 1);
        store.sweep(150).await;
        assert_eq!(store.denied_len(), 1, "not expired yet");
        store.sweep(200).await;
        assert_eq!(store.denied_len(), 0, "bounded by the live revoked tokens");
    }
}
