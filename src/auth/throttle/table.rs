//! The bounded table both throttles keep their keys in.
//!
//! Owns: a sharded map from [`Key`] to an entry, at most a fixed number of entries, that makes
//! room by dropping spent entries first, then the one that gives way first, refusing entries
//! last; and a count of entries read without a lock, so that a lookup in an empty table (the
//! usual state) takes none. Does not own: what an entry means (see the policies).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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
    shards: Box<[Mutex<HashMap<Key, E>>]>,
    /// Entries in all shards, kept under the shards' locks and read without one, so that a
    /// lookup in an empty table takes no lock at all.
    entries: AtomicUsize,
}

impl<E: Entry> Table<E> {
    pub(super) fn new(capacity: usize) -> Self {
        Table {
            key_hasher: RandomState::new(),
            shard_capacity: (capacity / SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            entries: AtomicUsize::new(0),
        }
    }

    pub(super) fn key(&self, raw: impl Hash) -> Key {
        Key(self.key_hasher.hash_one(raw))
    }

    fn shard(&self, key: Key) -> &Mutex<HashMap<Key, E>> {
        &self.shards[(key.0 >> 56) as usize % SHARDS]
    }

    pub(super) fn len(&self) -> usize {
        self.entries.load(Ordering::Acquire)
    }

    /// The entry of `key`, if any. A poisoned shard reads as empty: the lock is only ever held
    /// for map operations that cannot panic halfway through a decision.
    pub(super) fn get(&self, key: Key) -> Option<E> {
        if self.len() == 0 {
            return None;
        }
        self.shard(key).lock().ok()?.get(&key).copied()
    }

    /// Changes the entry of `key` (starting from `fresh` when there is none) and returns what
    /// `change` returns, making room first when the shard is full.
    pub(super) fn update<R>(
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
    pub(super) fn remove(&self, key: Key) {
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
