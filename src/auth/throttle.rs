//! Brute-force defence (RFC 6749 §2.3.1): whether a presented secret may be checked at all.
//!
//! Owns the two counters of failed client authentications and the bounded table both live in:
//! - [`Lockouts`], per (client id, source address): after [`Policy::free_failures`] failures in
//!   a row the pair is locked out for [`Policy::first_lockout`], doubling with each further
//!   failure up to [`Policy::max_lockout`]; a success clears it. This bounds how fast one source
//!   can guess one client's secret.
//! - [`Budgets`], per source address: a token bucket of [`BudgetPolicy::burst`] failures that
//!   refills one failure every [`BudgetPolicy::refill_every`]. It bounds how fast one source can
//!   guess across ids (or invent them), ages out so that a steady trickle of mistakes never
//!   adds up, and stays far above what a misconfigured deployment or a test run produces.
//!
//! Why per (id, source) and not per id: client ids are not secret, so a lockout per id alone
//! lets anyone lock any client out from anywhere, while the secrets are 256 random bits, so the
//! lockout protects nothing that the count per (id, source) does not: a distributed attacker
//! with N addresses gets N times the guesses of one, which against 2^256 is still nothing. A
//! refused attempt is answered 429 before its secret is checked, so it teaches nothing and
//! costs almost nothing; no request ever sleeps.
//!
//! Memory is bounded: keys are stored as 64-bit keyed hashes (SipHash with a per-process random
//! key, so nobody can aim collisions; a rare collision only shares a counter) in a fixed number
//! of entries; when the table is full, entries that no longer say anything go first, then the
//! one nearest to saying nothing, and an entry that is refusing right now goes last, so a flood
//! of invented ids or addresses can neither grow the table nor lift a refusal. Unknown ids are
//! tracked exactly like known ones. An empty table (the usual state) is seen without a lock.
//! Does not own: checking secrets, or which address a key stands for (see `authenticate`).

mod budget;
mod lockout;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::time::Instant;

pub use budget::{BudgetPolicy, Budgets};
pub use lockout::{Lockouts, Policy};

/// A raw key (an address, an id and an address) as the tables store it: its keyed hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(u64);

/// What an entry of a [`Table`] must tell for the table to stay bounded.
trait Entry: Copy {
    /// Whether the entry says nothing any more, so dropping it changes no answer.
    fn is_spent(&self, now: Instant) -> bool;
    /// Whether the entry refuses attempts right now: such entries give way last.
    fn is_refusing(&self, now: Instant) -> bool;
    /// Among entries alike, the one with the smallest rank gives way first.
    fn rank(&self) -> Instant;
}

const SHARDS: usize = 16;

/// A sharded map from [`Key`] to `E` holding at most `capacity` entries.
struct Table<E> {
    key_hasher: RandomState,
    shard_capacity: usize,
    shards: Box<[Mutex<HashMap<Key, E>>]>,
    /// Entries in all shards, kept under the shards' locks and read without one, so that a
    /// lookup in an empty table takes no lock at all.
    entries: AtomicUsize,
}

impl<E: Entry> Table<E> {
    fn new(capacity: usize) -> Self {
        Table {
            key_hasher: RandomState::new(),
            shard_capacity: (capacity / SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            entries: AtomicUsize::new(0),
        }
    }

    fn key(&self, raw: impl Hash) -> Key {
        Key(self.key_hasher.hash_one(raw))
    }

    fn shard(&self, key: Key) -> &Mutex<HashMap<Key, E>> {
        &self.shards[(key.0 >> 56) as usize % SHARDS]
    }

    fn len(&self) -> usize {
        self.entries.load(Ordering::Acquire)
    }

    /// The entry of `key`, if any. A poisoned shard reads as empty: the lock is only ever held
    /// for map operations that cannot panic halfway through a decision.
    fn get(&self, key: Key) -> Option<E> {
        if self.len() == 0 {
            return None;
        }
        self.shard(key).lock().ok()?.get(&key).copied()
    }

    /// Changes the entry of `key` (starting from `fresh` when there is none) and returns what
    /// `change` returns, making room first when the shard is full.
    fn update<R>(
        &self,
        key: Key,
        now: Instant,
        fresh: E,
        change: impl FnOnce(&mut E) -> R,
    ) -> Option<R> {
        let mut map = self.shard(key).lock().ok()?;
        let before = map.len();
        if !map.contains_key(&key) && before >= self.shard_capacity {
            self.make_room(&mut map, now);
        }
        let result = change(map.entry(key).or_insert(fresh));
        self.count(before, map.len());
        Some(result)
    }

    /// Forgets `key`.
    fn remove(&self, key: Key) {
        if self.len() == 0 {
            return;
        }
        if let Ok(mut map) = self.shard(key).lock() {
            let before = map.len();
            map.remove(&key);
            self.count(before, map.len());
        }
    }

    fn count(&self, before: usize, after: usize) {
        if after > before {
            self.entries.fetch_add(after - before, Ordering::AcqRel);
        } else if before > after {
            self.entries.fetch_sub(before - after, Ordering::AcqRel);
        }
    }

    /// Frees entries in a full shard: first the spent ones, else the one that gives way first.
    fn make_room(&self, map: &mut HashMap<Key, E>, now: Instant) {
        map.retain(|_, entry| !entry.is_spent(now));
        if map.len() >= self.shard_capacity {
            let weakest = map
                .iter()
                .min_by_key(|(_, entry)| (entry.is_refusing(now), entry.rank()))
                .map(|(key, _)| *key);
            if let Some(key) = weakest {
                map.remove(&key);
            }
        }
    }
}
