//! The guard's memory of introspection answers.
//!
//! Owns: a bounded map from token hash to verdict and the time it stops being trusted. When
//! full it first drops expired entries, then the tenth that would expire soonest, so the next
//! tenth of inserts need no scan. Also here: the guard's look-up and remembering (`cached`,
//! `remember`), which say how long a verdict is trusted: until the token expires, at most the
//! cache TTL for introspection answers, the negative TTL for inactive ones, never for no answer.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::{TokenGuard, Verdict};
use crate::oauth::unix_now;

pub(super) struct CacheEntry {
    pub(super) verdict: Verdict,
    pub(super) until: Instant,
}

#[derive(Default)]
pub(super) struct Cache {
    entries: HashMap<[u8; 32], CacheEntry>,
}

impl Cache {
    pub(super) fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<Verdict> {
        match self.entries.get(key) {
            Some(entry) if entry.until > now => Some(entry.verdict.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub(super) fn insert(&mut self, key: [u8; 32], entry: CacheEntry, max: usize, now: Instant) {
        if max == 0 {
            return;
        }
        if self.entries.len() >= max && !self.entries.contains_key(&key) {
            self.entries.retain(|_, e| e.until > now);
            if self.entries.len() >= max {
                // Still full of live entries: drop the tenth that would expire soonest, so
                // the next 10% of inserts need no scan.
                let mut untils: Vec<Instant> = self.entries.values().map(|e| e.until).collect();
                let cut = (max / 10).max(1).min(untils.len() - 1);
                let (_, &mut threshold, _) = untils.select_nth_unstable(cut);
                self.entries.retain(|_, e| e.until > threshold);
            }
        }
        self.entries.insert(key, entry);
    }
}

impl TokenGuard {
    pub(super) fn cached(&self, key: &[u8; 32]) -> Option<Verdict> {
        let mut cache = self.inner.cache.lock().ok()?;
        let verdict = cache.get(key, Instant::now())?;
        self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(verdict)
    }

    /// Remembers an introspection answer, at most the cache TTL.
    pub(super) fn remember(&self, key: [u8; 32], verdict: &Verdict) {
        self.remember_for(key, verdict, Some(self.inner.config.cache_ttl));
    }

    /// Remembers a verdict until the token expires, and no longer than `cap` when given.
    pub(super) fn remember_for(&self, key: [u8; 32], verdict: &Verdict, cap: Option<Duration>) {
        let config = &self.inner.config;
        let cap = cap.unwrap_or(Duration::MAX);
        let lifetime = match verdict {
            Verdict::Active(caller) => match caller.exp {
                Some(exp) => Duration::from_secs(exp.saturating_sub(unix_now())).min(cap),
                None => cap.min(config.cache_ttl),
            },
            Verdict::Inactive => config.negative_ttl,
            Verdict::Unavailable => return,
        };
        if lifetime.is_zero() {
            return;
        }
        let now = Instant::now();
        if let Ok(mut cache) = self.inner.cache.lock() {
            let entry = CacheEntry {
                verdict: verdict.clone(),
                until: now + lifetime,
            };
            cache.insert(key, entry, config.max_cache_entries, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_cache_drops_expired_then_soonest_expiring_entries() {
        let now = Instant::now();
        let mut cache = Cache::default();
        let entry = |secs| CacheEntry {
            verdict: Verdict::Inactive,
            until: now + Duration::from_secs(secs),
        };
        for i in 0..10u8 {
            cache.insert([i; 32], entry(u64::from(i) + 1), 10, now);
        }
        assert_eq!(cache.entries.len(), 10);
        cache.insert([99; 32], entry(100), 10, now);
        assert!(cache.entries.len() <= 10);
        assert!(cache.entries.contains_key(&[99; 32]));
        assert!(
            !cache.entries.contains_key(&[0; 32]),
            "soonest expiry goes first"
        );
        assert!(cache.entries.contains_key(&[9; 32]));
    }

    #[tokio::test(start_paused = true)]
    async fn entries_are_trusted_until_their_time_only() {
        let mut cache = Cache::default();
        let now = Instant::now();
        let entry = CacheEntry {
            verdict: Verdict::Inactive,
            until: now + Duration::from_secs(3),
        };
        cache.insert([1; 32], entry, 10, now);
        tokio::time::advance(Duration::from_millis(2999)).await;
        assert!(cache.get(&[1; 32], Instant::now()).is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(cache.get(&[1; 32], Instant::now()).is_none());
        assert!(
            cache.entries.is_empty(),
            "an expired entry is dropped when met"
        );
    }
}
