//! The bounded table both throttles keep their keys in.
//!
//! Owns: a sharded map from [`Key`] to an entry, at most a fixed number of entries, that makes
//! room by dropping spent entries first, then the one that gives way first, refusing entries
//! last; a count of each shard's entries read without a lock, so that a lookup in an empty
//! shard (the usual state: no failures lately) takes none; and the sweep that drops spent
//! entries, so shards empty again once failures stop. Does not own: what an entry means (see
//! the policies).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use super::Key;

/// What an entry of a [`Table`] must tell for the table to stay bounded.
pub trait Entry: Copy {
    /// Whether the entry says nothing any more, so dropping it changes no answer.
    fn is_spent(&self, now: Instant) -> bool;
    /// Whether the entry refuses attempts right now: such entries give way last.
    fn is_refusing(&self, now: Instant) -> bool;
    /// Among entries alike, the one with the smallest rank gives way first.
    fn rank(&self) -> Instant;
}

const SHARDS: usize = 16;

/// A sharded map from [`Key`] to `E` holding at most `capacity` entries.
pub(super) struct Table<E> {
    key_hasher: RandomState,
    shard_capacity: usize,
    shards: Box<[Shard<E>]>,
}

struct Shard<E> {
    map: Mutex<HashMap<Key, E>>,
    /// The map's length, kept under the lock and read without it: a lookup in an empty shard
    /// takes no lock at all.
    len: AtomicUsize,
}

impl<E> Shard<E> {
    /// The map, also after a panic elsewhere while it was held: every change to it is a single
    /// map operation, so it is never left half-made, and the counts must go on (fail closed).
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, E>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    fn recount(&self, map: &HashMap<Key, E>) {
        self.len.store(map.len(), Ordering::Release);
    }
}

impl<E: Entry> Table<E> {
    pub(super) fn new(capacity: usize) -> Self {
        let shard = || Shard {
            map: Mutex::new(HashMap::new()),
            len: AtomicUsize::new(0),
        };
        Table {
            key_hasher: RandomState::new(),
            shard_capacity: (capacity / SHARDS).max(1),
            shards: (0..SHARDS).map(|_| shard()).collect(),
        }
    }

    pub(super) fn key(&self, raw: impl Hash) -> Key {
        Key(self.key_hasher.hash_one(raw))
    }

    fn shard(&self, key: Key) -> &Shard<E> {
        &self.shards[(key.0 >> 56) as usize % SHARDS]
    }

    /// Entries in all shards.
    pub(super) fn len(&self) -> usize {
        let lens = self.shards.iter().map(|s| s.len.load(Ordering::Acquire));
        lens.sum()
    }

    /// The entry of `key`, if any.
    pub(super) fn get(&self, key: Key) -> Option<E> {
        let shard = self.shard(key);
        if shard.is_empty() {
            return None;
        }
        shard.lock().get(&key).copied()
    }

    /// Changes the entry of `key` (starting from `fresh` when there is none) and returns what
    /// `change` returns, making room first when the shard is full.
    pub(super) fn update<R>(
        &self,
        key: Key,
        now: Instant,
        fresh: E,
        change: impl FnOnce(&mut E) -> R,
    ) -> R {
        let shard = self.shard(key);
        let mut map = shard.lock();
        if !map.contains_key(&key) && map.len() >= self.shard_capacity {
            self.make_room(&mut map, now);
        }
        let result = change(map.entry(key).or_insert(fresh));
        shard.recount(&map);
        result
    }

    /// Forgets `key`.
    pub(super) fn remove(&self, key: Key) {
        let shard = self.shard(key);
        if shard.is_empty() {
            return;
        }
        let mut map = shard.lock();
        if map.remove(&key).is_some() {
            shard.recount(&map);
        }
    }

    /// Drops every spent entry, one shard at a time.
    pub(super) fn sweep(&self, now: Instant) {
        for shard in self.shards.iter().filter(|s| !s.is_empty()) {
            let mut map = shard.lock();
            map.retain(|_, entry| !entry.is_spent(now));
            shard.recount(&map);
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
