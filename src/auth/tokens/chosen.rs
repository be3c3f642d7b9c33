//! [`ChosenStore`]: the store a server picks when it starts (`--store memory` or a Redis URL),
//! as one type. `AuthServer<S>` and the whole connection stack under it are generic over the
//! store, so a binary that can run on either would otherwise carry every request path twice
//! (106 KB of the static `oauth-server`, which must stay under 3 MiB). Each call is one
//! `match`; the Redis arm's future is boxed, so the in-memory arm's future stays as small as
//! the in-memory store's own (the Redis call waits on the network anyway). Does not own: what
//! either store does (see [`super::memory`], [`crate::auth::redis_store`]).

use std::time::Duration;

use super::{
    AssertionKey, MemoryTokenStore, ReplayCache, StoreAnswer, StoreOp, StoreUnavailable, TokenHash,
    TokenRecord, TokenStore,
};
use crate::auth::throttle::{Admission, Attempt, FailureCounters};

/// The in-memory store or, with the `redis` feature, the shared one.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once at start and kept behind an Arc: never moved on a request"
)]
pub enum ChosenStore {
    Memory(MemoryTokenStore),
    #[cfg(feature = "redis")]
    Redis(crate::auth::redis_store::RedisStore),
}

/// Runs `$call` on whichever store `$self` holds; the Redis future boxed (see the module doc).
macro_rules! on_store {
    ($self:expr, $store:ident => $call:expr) => {
        match $self {
            ChosenStore::Memory($store) => $call.await,
            #[cfg(feature = "redis")]
            ChosenStore::Redis($store) => Box::pin($call).await,
        }
    };
}

impl ReplayCache for ChosenStore {
    async fn first_use(
        &self,
        key: AssertionKey,
        exp: u64,
        now: u64,
    ) -> Result<bool, StoreUnavailable> {
        on_store!(self, s => s.first_use(key, exp, now))
    }
}

impl FailureCounters for ChosenStore {
    async fn admit(&self, attempt: Attempt<'_>) -> Result<Admission, StoreUnavailable> {
        on_store!(self, s => s.admit(attempt))
    }

    async fn count_failure(&self, attempt: Attempt<'_>) -> Result<Admission, StoreUnavailable> {
        on_store!(self, s => s.count_failure(attempt))
    }
}

impl TokenStore for ChosenStore {
    async fn insert(&self, hash: TokenHash, record: TokenRecord) -> Result<(), StoreUnavailable> {
        on_store!(self, s => s.insert(hash, record))
    }

    async fn get(
        &self,
        hash: &TokenHash,
        now: u64,
    ) -> Result<Option<TokenRecord>, StoreUnavailable> {
        on_store!(self, s => s.get(hash, now))
    }

    async fn revoke(&self, hash: &TokenHash, client_id: &str) -> Result<bool, StoreUnavailable> {
        on_store!(self, s => s.revoke(hash, client_id))
    }

    async fn deny(&self, hash: TokenHash, exp: u64) -> Result<(), StoreUnavailable> {
        on_store!(self, s => s.deny(hash, exp))
    }

    async fn is_denied(&self, hash: &TokenHash, now: u64) -> Result<bool, StoreUnavailable> {
        on_store!(self, s => s.is_denied(hash, now))
    }

    // Delegated, not left to the default: the shared store does both in one round trip.
    async fn admit_then(
        &self,
        attempt: Attempt<'_>,
        op: StoreOp<'_>,
    ) -> Result<Result<StoreAnswer, Duration>, StoreUnavailable> {
        on_store!(self, s => s.admit_then(attempt, op))
    }

    async fn readiness(&self) -> Result<(), StoreUnavailable> {
        on_store!(self, s => s.readiness())
    }

    fn live_tokens(&self) -> Option<usize> {
        match self {
            ChosenStore::Memory(s) => s.live_tokens(),
            #[cfg(feature = "redis")]
            ChosenStore::Redis(s) => s.live_tokens(),
        }
    }

    async fn maintain(&self, now: u64) {
        on_store!(self, s => s.maintain(now))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::tokens::Grant;
    use crate::secret::sha256;

    fn record(exp: u64) -> TokenRecord {
        TokenRecord {
            grant: Arc::new(Grant {
                client_id: "a".into(),
                scope: "read".into(),
                audience: Box::new([]),
            }),
            iat: 100,
            exp,
            cnf: None,
        }
    }

    #[tokio::test]
    async fn the_memory_choice_is_the_memory_store() {
        let store = ChosenStore::Memory(MemoryTokenStore::new());
        let (short, long) = (sha256(b"short"), sha256(b"long"));
        store.insert(short, record(200)).await.unwrap();
        store.insert(long, record(900)).await.unwrap();
        assert_eq!(store.get(&short, 150).await.unwrap(), Some(record(200)));
        assert_eq!(store.live_tokens(), Some(2));
        // The sweep reaches the store: the expired token is gone, the live one stays.
        store.maintain(300).await;
        assert_eq!(store.live_tokens(), Some(1));
        assert!(!store.revoke(&long, "b").await.unwrap(), "not its owner");
        assert!(store.revoke(&long, "a").await.unwrap());
        assert_eq!(store.get(&long, 300).await.unwrap(), None);
        store.deny(sha256(b"jwt"), 900).await.unwrap();
        assert!(store.is_denied(&sha256(b"jwt"), 300).await.unwrap());
        assert!(store.readiness().await.is_ok());
    }
}
