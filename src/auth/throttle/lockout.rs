//! Escalating lockouts per (client id, source address): the bound on how fast one source can
//! guess one client's secret.
//!
//! Owns: counting consecutive failures of a key and the lockout they earn. Does not own: what
//! a key stands for (see `authenticate`) or the table's bounds (see the parent).

use std::time::Duration;

use tokio::time::Instant;

use super::{Entry, Key, Lockouts, Rule};

/// How a lockout escalates.
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
    /// Per client id and source: a few mistakes are fine, a guessing run is slowed to one
    /// guess per 15 s, and once it stops the right secret works again within 15 s.
    pub fn per_client() -> Self {
        Policy {
            free_failures: 5,
            first_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(15),
            forget_after: Duration::from_secs(300),
            capacity: 64 * 1024,
        }
    }
}

impl Rule for Policy {
    fn capacity(&self) -> usize {
        self.capacity
    }

    type Entry = Failures;
}

#[derive(Clone, Copy, Debug)]
pub struct Failures {
    consecutive: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
    /// Copied from the policy so the table can tell a spent entry by itself.
    forget_after: Duration,
}

impl Entry for Failures {
    fn is_spent(&self, now: Instant) -> bool {
        now.duration_since(self.last_failure) >= self.forget_after && !self.is_refusing(now)
    }

    fn is_refusing(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    fn rank(&self) -> Instant {
        self.last_failure
    }
}

/// Consecutive failures per key, and the lockouts they earn.
impl Lockouts {
    /// `Err(wait)` while `key` is locked out.
    pub fn check(&self, key: Key, now: Instant) -> Result<(), Duration> {
        match self.table.get(key).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication; returns the lockout it starts, if any.
    pub fn record_failure(&self, key: Key, now: Instant) -> Option<Duration> {
        let fresh = Failures {
            consecutive: 0,
            last_failure: now,
            locked_until: None,
            forget_after: self.policy.forget_after,
        };
        let policy = &self.policy;
        self.table.update(key, now, fresh, |entry| {
            if now.duration_since(entry.last_failure) >= policy.forget_after {
                entry.consecutive = 0;
            }
            entry.consecutive = entry.consecutive.saturating_add(1);
            entry.last_failure = now;
            let over = entry.consecutive.checked_sub(policy.free_failures)?;
            if over == 0 {
                return None;
            }
            let doublings = (over - 1).min(16);
            let lockout = policy
                .first_lockout
                .saturating_mul(1 << doublings)
                .min(policy.max_lockout);
            entry.locked_until = Some(now + lockout);
            Some(lockout)
        })
    }

    /// Clears the failures of a key that just authenticated.
    pub fn record_success(&self, key: Key) {
        self.table.remove(key);
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

    /// Lockouts under [`policy`], two keys, and a start time.
    fn fixture() -> (Lockouts, Key, Key, Instant) {
        let lockouts = Lockouts::new(policy());
        let (a, b) = (lockouts.key("svc"), lockouts.key("other"));
        (lockouts, a, b, Instant::now())
    }

    #[test]
    fn lockouts_start_after_the_free_failures_and_double_to_the_cap() {
        let (lockouts, svc, other, t0) = fixture();
        for _ in 0..3 {
            assert_eq!(lockouts.record_failure(svc, t0), None);
            assert!(lockouts.check(svc, t0).is_ok());
        }
        let secs: Vec<_> = (0..6)
            .map(|_| lockouts.record_failure(svc, t0).unwrap().as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 8, 8]);
        assert!(lockouts.check(svc, t0).is_err());
        assert!(lockouts.check(other, t0).is_ok());
        assert!(lockouts.check(svc, t0 + Duration::from_secs(8)).is_ok());
    }

    #[test]
    fn success_and_time_clear_failures() {
        let (lockouts, svc, x, t0) = fixture();
        for _ in 0..5 {
            lockouts.record_failure(svc, t0);
        }
        lockouts.record_success(svc);
        assert!(lockouts.check(svc, t0).is_ok());
        assert_eq!(lockouts.record_failure(svc, t0), None);
        for _ in 0..3 {
            lockouts.record_failure(x, t0);
        }
        let later = t0 + Duration::from_secs(61);
        assert_eq!(lockouts.record_failure(x, later), None);
    }
}
