//! Brute-force defence: escalating, capped lockouts after repeated failed authentications.
//!
//! Owns: counting consecutive failures per key (a client id, or a remote address) and deciding
//! whether the next attempt may be checked at all. RFC 6749 §2.3.1 requires protection against
//! brute force at every endpoint that checks client passwords. A key that fails more than
//! [`Policy::free_failures`] times in a row is locked out for [`Policy::first_lockout`],
//! doubling with every further failure up to [`Policy::max_lockout`]; a success clears it, and
//! a key that stops failing is forgotten after [`Policy::forget_after`]. Attempts during a
//! lockout are answered 429 without checking the secret, so they teach an attacker nothing and
//! cost almost nothing. No request ever sleeps.
//!
//! Memory is bounded: keys are stored as 64-bit keyed hashes (SipHash with a per-process random
//! key, so nobody can aim collisions; a rare collision only shares a counter) in a fixed number
//! of entries; when the table is full the stalest entry gives way, so a flood of random unknown
//! ids cannot grow it.
//! Unknown ids are tracked exactly like known ones. Does not own: checking secrets.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How a throttle escalates.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Failures allowed in a row before the first lockout.
    pub free_failures: u32,
    pub first_lockout: Duration,
    pub max_lockout: Duration,
    /// A key with no failure for this long starts again from zero.
    pub forget_after: Duration,
    /// Most keys remembered at once.
    pub capacity: usize,
}

impl Policy {
    /// Per client id: a few mistakes are fine, a guessing run is slowed to a crawl, and once it
    /// stops the right secret works again within `max_lockout` (15 s).
    pub fn per_client() -> Self {
        Policy {
            free_failures: 5,
            first_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(15),
            forget_after: Duration::from_secs(300),
            capacity: 64 * 1024,
        }
    }

    /// Per remote address: far above the per-client limit, so one host's mistakes never lock
    /// it out, but one host guessing across many ids is stopped.
    pub fn per_address() -> Self {
        Policy {
            free_failures: 100,
            first_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(15),
            forget_after: Duration::from_secs(300),
            capacity: 64 * 1024,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    consecutive: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

const SHARDS: usize = 16;

type Key = u64;

/// Failure counts for one kind of key.
pub struct Throttle {
    policy: Policy,
    /// Turns raw keys (client ids, addresses) into map keys.
    key_hasher: RandomState,
    shards: Box<[Mutex<HashMap<Key, Failures>>]>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("policy", &self.policy)
            .field("keys", &self.len())
            .finish()
    }
}

impl Throttle {
    pub fn new(policy: Policy) -> Self {
        Throttle {
            policy,
            key_hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<HashMap<Key, Failures>> {
        &self.shards[(*key >> 56) as usize % SHARDS]
    }

    /// Keys currently remembered.
    pub(crate) fn len(&self) -> usize {
        let shards = self.shards.iter().filter_map(|s| s.lock().ok());
        shards.map(|map| map.len()).sum()
    }

    /// `Err(wait)` while `raw_key` is locked out.
    pub fn check(&self, raw_key: &[u8], now: Instant) -> Result<(), Duration> {
        let key = self.key_hasher.hash_one(raw_key);
        let Ok(map) = self.shard(&key).lock() else {
            return Ok(());
        };
        match map.get(&key).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication; returns the lockout it starts, if any.
    pub fn record_failure(&self, raw_key: &[u8], now: Instant) -> Option<Duration> {
        let key = self.key_hasher.hash_one(raw_key);
        let Ok(mut map) = self.shard(&key).lock() else {
            return None;
        };
        let shard_capacity = (self.policy.capacity / SHARDS).max(1);
        if !map.contains_key(&key) && map.len() >= shard_capacity {
            self.make_room(&mut map, now);
        }
        let entry = map.entry(key).or_insert(Failures {
            consecutive: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(entry.last_failure) >= self.policy.forget_after {
            entry.consecutive = 0;
        }
        entry.consecutive = entry.consecutive.saturating_add(1);
        entry.last_failure = now;
        let over = entry.consecutive.checked_sub(self.policy.free_failures)?;
        if over == 0 {
            return None;
        }
        let doublings = (over - 1).min(16);
        let lockout = self
            .policy
            .first_lockout
            .saturating_mul(1 << doublings)
            .min(self.policy.max_lockout);
        entry.locked_until = Some(now + lockout);
        Some(lockout)
    }

    /// Clears the failures of a key that just authenticated.
    pub fn record_success(&self, raw_key: &[u8]) {
        let key = self.key_hasher.hash_one(raw_key);
        if let Ok(mut map) = self.shard(&key).lock() {
            map.remove(&key);
        }
    }

    /// Frees entries in a full shard: first the stale ones, else the one idle longest.
    fn make_room(&self, map: &mut HashMap<Key, Failures>, now: Instant) {
        let forget_after = self.policy.forget_after;
        map.retain(|_, f| {
            now.duration_since(f.last_failure) < forget_after
                || f.locked_until.is_some_and(|until| until > now)
        });
        let shard_capacity = (self.policy.capacity / SHARDS).max(1);
        if map.len() >= shard_capacity {
            // A locked-out key gives way last, so a flood of fresh keys cannot lift a lockout.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, f)| (f.locked_until.is_some_and(|u| u > now), f.last_failure))
                .map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            free_failures: 3,
            first_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(8),
            forget_after: Duration::from_secs(60),
            capacity: 64,
        }
    }

    #[test]
    fn lockouts_start_after_the_free_failures_and_double_to_the_cap() {
        let throttle = Throttle::new(policy());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.record_failure(b"svc", t0), None);
            assert!(throttle.check(b"svc", t0).is_ok());
        }
        let lockouts: Vec<_> = (0..6)
            .map(|_| throttle.record_failure(b"svc", t0).unwrap().as_secs())
            .collect();
        assert_eq!(lockouts, [1, 2, 4, 8, 8, 8]);
        assert!(throttle.check(b"svc", t0).is_err());
        assert!(throttle.check(b"other", t0).is_ok());
        assert!(throttle.check(b"svc", t0 + Duration::from_secs(8)).is_ok());
    }

    #[test]
    fn success_and_time_clear_failures() {
        let throttle = Throttle::new(policy());
        let t0 = Instant::now();
        for _ in 0..5 {
            throttle.record_failure(b"svc", t0);
        }
        throttle.record_success(b"svc");
        assert!(throttle.check(b"svc", t0).is_ok());
        assert_eq!(throttle.record_failure(b"svc", t0), None);
        for _ in 0..3 {
            throttle.record_failure(b"x", t0);
        }
        let later = t0 + Duration::from_secs(61);
        assert_eq!(throttle.record_failure(b"x", later), None);
    }

    #[test]
    fn memory_stays_bounded_under_random_keys() {
        let throttle = Throttle::new(policy());
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            throttle.record_failure(&i.to_le_bytes(), t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(throttle.len() <= 64, "{} keys kept", throttle.len());
    }
}
