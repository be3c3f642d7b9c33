//! The in-memory token store: tokens in 64 sharded maps keyed by their hash, the JWT denylist
//! and the used client assertions as [`ExpiringKeys`], the failure counters of this process,
//! all swept in the background. A live token costs one 40-byte map entry ([`Entry`] beside
//! half its hash), the grant being shared. Does not own: the traits it implements (see the
//! parent).

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use super::super::expiring::{ExpiringKeys, KeysUnavailable};
use super::super::throttle::{
    Admission, Attempt, BudgetPolicy, FailureCounters, LocalCounters, Policy,
};
use super::{
    AssertionKey, Grant, ReplayCache, StoreUnavailable, TokenHash, TokenRecord, TokenStore,
    MAX_REMEMBERED_ASSERTIONS,
};

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
        // eight bytes seen, which are bytes 8..16 of the hash.
        for &b in bytes {
            self.0 = self.0 << 8 | u64::from(b);
        }
    }
}

/// The first 128 bits of a token's SHA-256: the map key. Two live tokens sharing them is a
/// 2^-128 event per pair; a made-up token that lands on one of N live tokens' keys takes about
/// 2^(128 - log2 N) guesses, each one a request (the hashes are never shown): for any N this
/// store can hold, out of reach, in half the bytes of the whole hash.
type Key = [u8; 16];

fn key(hash: &TokenHash) -> Key {
    let mut key = [0; 16];
    key.copy_from_slice(&hash[..16]);
    key
}

/// A live token as this store keeps it (24 bytes; a [`TokenRecord`] is 32): times in `u32`
/// seconds, which reach February 2106. A time beyond is kept as that last second: the token
/// of a lifetime of more than eighty years expires then.
#[derive(Clone)]
struct Entry {
    grant: Arc<Grant>,
    iat: u32,
    exp: u32,
    cnf: Option<Box<[u8; 32]>>,
}

impl Entry {
    fn of(record: TokenRecord) -> Entry {
        let seconds = |t: u64| u32::try_from(t).unwrap_or(u32::MAX);
        Entry {
            grant: record.grant,
            iat: seconds(record.iat),
            exp: seconds(record.exp),
            cnf: record.cnf,
        }
    }

    fn record(&self) -> TokenRecord {
        TokenRecord {
            grant: self.grant.clone(),
            iat: u64::from(self.iat),
            exp: u64::from(self.exp),
            cnf: self.cnf.clone(),
        }
    }

    fn is_live(&self, now: u64) -> bool {
        u64::from(self.exp) > now
    }
}

type Shard = RwLock<HashMap<Key, Entry, BuildHasherDefault<TokenHashHasher>>>;

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
        // The first byte picks the shard, bytes 8..16 the bucket: independent bits.
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
                map.retain(|_, entry| entry.is_live(now));
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
        map.insert(key(&hash), Entry::of(record));
        Ok(())
    }

    fn get_now(&self, hash: &TokenHash, now: u64) -> Result<Option<TokenRecord>, StoreUnavailable> {
        let map = self.shard(hash).read().map_err(poisoned)?;
        let entry = map.get(&key(hash)).filter(|e| e.is_live(now));
        Ok(entry.map(Entry::record))
    }

    fn revoke_now(&self, hash: &TokenHash, client_id: &str) -> Result<bool, StoreUnavailable> {
        let mut map = self.shard(hash).write().map_err(poisoned)?;
        let key = key(hash);
        let owned = map
            .get(&key)
            .is_some_and(|e| &*e.grant.client_id == client_id);
        if owned {
            map.remove(&key);
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

    #[test]
    fn an_entry_stays_small_whether_or_not_it_is_bound() {
        // The store holds one per live token: a million tokens are a million of these.
        assert!(std::mem::size_of::<(Key, Entry)>() <= 40);
    }

    #[tokio::test]
    async fn a_record_reads_back_as_it_was_stored() {
        let store = MemoryTokenStore::new();
        let hash = sha256(b"bound");
        let mut bound = record("a", 1_700_000_000, 1_700_003_600);
        bound.cnf = Some(Box::new([9; 32]));
        store.insert(hash, bound.clone()).await.unwrap();
        assert_eq!(store.get(&hash, 1_700_000_001).await.unwrap(), Some(bound));
        // A lifetime beyond 2106 ends at the last second a u32 holds.
        let far = sha256(b"far");
        store.insert(far, record("a", 100, u64::MAX)).await.unwrap();
        let read = store.get(&far, 1_700_000_000).await.unwrap().unwrap();
        assert_eq!(read.exp, u64::from(u32::MAX));
    }

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
