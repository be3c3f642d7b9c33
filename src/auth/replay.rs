//! The replay cache of client assertions (RFC 7523 §3 item 7, RFC 7521 §5.2): each `jti` a
//! client signs is accepted once.
//!
//! Owns: the [`ReplayCache`] trait, of the same kind as the token store's (every
//! [`TokenStore`](super::tokens::TokenStore) is one, so a store shared between replicas shares
//! the used `jti`s too and an assertion cannot be replayed at another replica), and
//! [`MemoryReplayCache`]. An entry is remembered until its assertion's `exp`, which the
//! authorization server accepts at most five minutes ahead, so the cache holds at most the
//! assertions still alive: its entries are swept with the tokens, and a lookup treats an expired
//! one as absent. Only verified assertions (a client's key signed them) reach the cache, so
//! nobody else can fill it; beyond [`MAX_REMEMBERED`] live entries new assertions are refused
//! (503) rather than accepted unremembered: fail closed. Does not own: checking assertions
//! (see `assertion`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use super::tokens::StoreUnavailable;

/// What the cache remembers of an assertion: SHA-256 over its client id and `jti`, so `jti`s
/// of different clients never collide and no assertion content is kept.
pub type AssertionKey = [u8; 32];

/// Most live assertions remembered at once (about 80 MB at most).
pub const MAX_REMEMBERED: usize = 1 << 20;

const SHARDS: usize = 16;

/// Where used assertions are remembered. Implementations must be safe under concurrency, make
/// the check and the record one atomic step (two replicas given the same assertion at once:
/// one wins), and treat an entry whose `exp` is not after `now` as absent.
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

/// The in-memory replay cache, sharded so concurrent assertions seldom wait on each other.
pub struct MemoryReplayCache {
    shards: Box<[Mutex<HashMap<AssertionKey, u64>>]>,
    per_shard: usize,
}

impl Default for MemoryReplayCache {
    fn default() -> Self {
        Self::with_capacity(MAX_REMEMBERED)
    }
}

impl std::fmt::Debug for MemoryReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryReplayCache")
            .field("remembered", &self.len())
            .finish()
    }
}

impl MemoryReplayCache {
    /// A cache of at most `capacity` live entries.
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryReplayCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// Entries not swept yet.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry whose assertion has expired at `now`.
    pub fn sweep(&self, now: u64) {
        for shard in self.shards.iter() {
            if let Ok(mut map) = shard.lock() {
                map.retain(|_, exp| *exp > now);
            }
        }
    }

    fn first_use_now(
        &self,
        key: AssertionKey,
        exp: u64,
        now: u64,
    ) -> Result<bool, StoreUnavailable> {
        let shard = &self.shards[usize::from(key[0]) % SHARDS];
        let mut map = shard
            .lock()
            .map_err(|_| StoreUnavailable("a replay cache shard was poisoned".into()))?;
        if map.get(&key).is_some_and(|used_until| *used_until > now) {
            return Ok(false);
        }
        if map.len() >= self.per_shard {
            map.retain(|_, until| *until > now);
            if map.len() >= self.per_shard {
                return Err(StoreUnavailable("the replay cache is full".into()));
            }
        }
        map.insert(key, exp);
        Ok(true)
    }
}

impl ReplayCache for MemoryReplayCache {
    async fn first_use(
        &self,
        key: AssertionKey,
        exp: u64,
        now: u64,
    ) -> Result<bool, StoreUnavailable> {
        self.first_use_now(key, exp, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_assertion_is_used_once_until_it_expires_and_is_then_swept() {
        let cache = MemoryReplayCache::default();
        let key = [7; 32];
        assert!(cache.first_use(key, 200, 100).await.unwrap());
        assert!(!cache.first_use(key, 200, 150).await.unwrap(), "a replay");
        assert!(cache.first_use([8; 32], 200, 150).await.unwrap());
        cache.sweep(199);
        assert_eq!(cache.len(), 2);
        cache.sweep(200);
        assert!(cache.is_empty(), "bounded by the live assertions");
    }

    #[tokio::test]
    async fn a_full_cache_makes_room_from_the_expired_and_otherwise_refuses() {
        let cache = MemoryReplayCache::with_capacity(SHARDS);
        // Keys with the same first byte share a shard of one entry.
        assert!(cache.first_use([1; 32], 110, 100).await.unwrap());
        let mut other = [1; 32];
        other[31] = 2;
        assert!(cache.first_use(other, 200, 105).await.is_err(), "full");
        assert!(
            cache.first_use(other, 200, 110).await.unwrap(),
            "room again"
        );
    }
}
