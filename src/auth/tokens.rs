//! The token store: what the authorization server remembers about each access token it issued.
//!
//! Owns: the [`TokenStore`] trait (so a shared store on an existing engine can replace the
//! in-memory one when several replicas run) and [`MemoryTokenStore`] (in `memory`), which keeps a
//! SHA-256 hash of each token, never the token itself, in sharded maps: lookups on different shards
//! never contend, and one shard's lock is held only for a single insert, lookup or removal. Expired
//! entries are removed by [`MemoryTokenStore::sweep`], run in the background one shard at a time,
//! so memory stays bounded by the live tokens and requests never wait on a sweep of the whole
//! store. JWT access tokens are not stored at all: the store only remembers the ones revoked before
//! they expire (the denylist, [`TokenStore::deny`]), bounded by the live revoked tokens and swept
//! like the rest. A store is also the [`ReplayCache`] of client assertions (RFC 7523 §3 item 7:
//! each `jti` is accepted once), so whatever shares tokens between replicas shares the used
//! assertions too, and an assertion cannot be replayed at another replica. The in-memory store
//! remembers each used assertion until its `exp` (at most five minutes ahead: the cache is bounded
//! by the live assertions, swept with the rest); only verified assertions reach it, and beyond
//! [`MAX_REMEMBERED_ASSERTIONS`] live ones new assertions are refused (503) rather than accepted
//! unremembered.
//!
//! A store also counts failed client authentications ([`FailureCounters`] is a supertrait), so that
//! replicas sharing a store throttle as one, and runs each request's store operation ([`StoreOp`])
//! together with its client's admission ([`TokenStore::admit_then`]): one step in memory, one round
//! trip to a shared store. Does not own: making tokens or deciding who may see them (see `auth`),
//! checking assertions (see `assertion`), the shared store itself (see `redis_store`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

mod chosen;
mod memory;
mod op;

pub use chosen::ChosenStore;
pub use memory::MemoryTokenStore;
pub use op::{StoreAnswer, StoreOp};

use super::throttle::{Attempt, FailureCounters};

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
    /// over a connection that presented one. Boxed: most tokens are unbound, and a record
    /// stays 8 bytes larger rather than 40 (a million live tokens: 8 MB, not 80).
    pub cnf: Option<Box<[u8; 32]>>,
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
