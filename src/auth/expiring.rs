//! Sets of SHA-256 keys, each remembered until an expiry in whole seconds: the store's denylist
//! of revoked JWTs and its record of used client assertions.
//!
//! Owns: the sharded map (a key's first byte picks its shard, so lookups of different keys
//! seldom wait on each other), lookups that treat an expired key as absent, the atomic first
//! use of a key, a bound on the live keys, and the sweep of the expired. A poisoned shard
//! (some thread panicked holding it) is an error, never an empty answer: fail closed. Does
//! not own: what the keys stand for (see `tokens`).

use std::collections::HashMap;
use std::sync::RwLock;

/// A shard that cannot be trusted, or, for [`ExpiringKeys::first_use`], no room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeysUnavailable {
    Poisoned,
    Full,
}

/// Keys and the second from which each is forgotten.
type Shard = RwLock<HashMap<[u8; 32], u64>>;

pub(super) struct ExpiringKeys {
    shards: Box<[Shard]>,
    /// Most live keys a shard holds.
    per_shard: usize,
}

impl ExpiringKeys {
    /// `shards` shards holding at most `capacity` live keys in all.
    pub(super) fn new(shards: usize, capacity: usize) -> ExpiringKeys {
        let shards = shards.max(1);
        ExpiringKeys {
            shards: (0..shards).map(|_| RwLock::default()).collect(),
            per_shard: capacity.div_ceil(shards).max(1),
        }
    }

    fn shard(&self, key: &[u8; 32]) -> &Shard {
        &self.shards[usize::from(key[0]) % self.shards.len()]
    }

    /// Remembers `key` until `exp`, however full the set is (the caller bounds what it adds).
    pub(super) fn insert(&self, key: [u8; 32], exp: u64) -> Result<(), KeysUnavailable> {
        let mut map = self
            .shard(&key)
            .write()
            .map_err(|_| KeysUnavailable::Poisoned)?;
        map.insert(key, exp);
        Ok(())
    }

    /// Whether `key` is remembered and its expiry is after `now`.
    pub(super) fn contains(&self, key: &[u8; 32], now: u64) -> Result<bool, KeysUnavailable> {
        let map = self
            .shard(key)
            .read()
            .map_err(|_| KeysUnavailable::Poisoned)?;
        Ok(map.get(key).is_some_and(|exp| *exp > now))
    }

    /// Remembers `key` until `exp` unless it is remembered and live already: `Ok(true)` for
    /// its first use, `Ok(false)` for a repeat, one atomic step. A full shard is first rid of
    /// its expired keys.
    pub(super) fn first_use(
        &self,
        key: [u8; 32],
        exp: u64,
        now: u64,
    ) -> Result<bool, KeysUnavailable> {
        let mut map = self
            .shard(&key)
            .write()
            .map_err(|_| KeysUnavailable::Poisoned)?;
        if map.get(&key).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        if map.len() >= self.per_shard {
            map.retain(|_, until| *until > now);
            if map.len() >= self.per_shard {
                return Err(KeysUnavailable::Full);
            }
        }
        map.insert(key, exp);
        Ok(true)
    }

    /// Forgets every key expired at `now`.
    pub(super) fn sweep(&self, now: u64) {
        for shard in self.shards.iter() {
            if let Ok(mut map) = shard.write() {
                map.retain(|_, exp| *exp > now);
            }
        }
    }

    /// Keys not swept yet.
    pub(super) fn len(&self) -> usize {
        let shards = self.shards.iter().filter_map(|s| s.read().ok());
        shards.map(|map| map.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_used_once_until_it_expires_and_is_then_swept() {
        let keys = ExpiringKeys::new(4, 100);
        assert_eq!(keys.first_use([7; 32], 200, 100), Ok(true));
        assert_eq!(keys.first_use([7; 32], 200, 150), Ok(false), "a repeat");
        assert_eq!(keys.contains(&[7; 32], 199), Ok(true));
        assert_eq!(keys.contains(&[7; 32], 200), Ok(false));
        assert_eq!(
            keys.first_use([7; 32], 300, 200),
            Ok(true),
            "expired: new again"
        );
        keys.insert([8; 32], 250).unwrap();
        keys.sweep(299);
        assert_eq!(keys.len(), 1);
        keys.sweep(300);
        assert_eq!(keys.len(), 0, "bounded by the live keys");
    }

    #[test]
    fn a_full_shard_makes_room_from_the_expired_and_otherwise_refuses() {
        let keys = ExpiringKeys::new(1, 1);
        assert_eq!(keys.first_use([1; 32], 110, 100), Ok(true));
        assert_eq!(
            keys.first_use([2; 32], 200, 105),
            Err(KeysUnavailable::Full)
        );
        assert_eq!(keys.first_use([2; 32], 200, 110), Ok(true), "room again");
    }
}
