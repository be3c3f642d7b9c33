//! Failure budgets per source address: a token bucket that bounds how fast one source can
//! guess across client ids, and that ages out.
//!
//! Owns: the bucket arithmetic. Each address may fail [`BudgetPolicy::burst`] times at once,
//! and earns one failure back every [`BudgetPolicy::refill_every`]; an address that has spent
//! its budget is refused until it has earned one back. Kept as one instant per address (the
//! generic cell rate algorithm): the time at which its bucket is full again, so no timer runs
//! and an address whose bucket is full again is the same as one never seen. Does not own: what
//! an address key is (see `authenticate`) or the table's bounds (see the parent).

use std::time::Duration;

use tokio::time::Instant;

use super::{Budgets, Entry, Key, Rule};

/// How large an address's failure budget is and how fast it comes back.
#[derive(Clone, Debug)]
pub struct BudgetPolicy {
    /// Failures one address may make at once.
    pub burst: u32,
    /// One failure comes back this often.
    pub refill_every: Duration,
    /// Most addresses remembered at once.
    pub capacity: usize,
}

impl BudgetPolicy {
    /// Per source address: 100 failures at once, five more each second. A deployment that gets
    /// its secrets wrong, or a test run, makes a few dozen failures in a burst: answered 401,
    /// never refused. A steady trickle below five a second (two wrong secrets a second, for
    /// ever) never empties it. A source failing hundreds of times a second is held to five
    /// checked secrets a second across all ids, each id also locked out after five failures.
    pub fn per_address() -> Self {
        BudgetPolicy {
            burst: 100,
            refill_every: Duration::from_millis(200),
            capacity: 64 * 1024,
        }
    }

    /// How far ahead of `now` a bucket's full time may be while one more failure still fits.
    fn tolerance(&self) -> Duration {
        self.refill_every
            .saturating_mul(self.burst.saturating_sub(1))
    }
}

impl Rule for BudgetPolicy {
    type Entry = Spent;

    fn capacity(&self) -> usize {
        self.capacity
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Spent {
    /// When the bucket is full again.
    full_at: Instant,
    /// Copied from the policy so the table can tell a refusing entry by itself.
    tolerance: Duration,
}

impl Entry for Spent {
    fn is_spent(&self, now: Instant) -> bool {
        self.full_at <= now
    }

    fn is_refusing(&self, now: Instant) -> bool {
        self.full_at.saturating_duration_since(now) > self.tolerance
    }

    /// The bucket nearest to full gives way first: forgetting it forgives the least.
    fn rank(&self) -> Instant {
        self.full_at
    }
}

/// Failure budgets per key.
impl Budgets {
    /// `Err(wait)` while `key` has no failure left to spend: `wait` is the time until one
    /// comes back.
    pub fn check(&self, key: Key, now: Instant) -> Result<(), Duration> {
        let Some(spent) = self.table.get(key) else {
            return Ok(());
        };
        let ahead = spent.full_at.saturating_duration_since(now);
        match ahead.checked_sub(self.policy.tolerance()) {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(()),
        }
    }

    /// Spends one failure of `key`.
    pub fn record_failure(&self, key: Key, now: Instant) {
        let tolerance = self.policy.tolerance();
        let fresh = Spent {
            full_at: now,
            tolerance,
        };
        let refill_every = self.policy.refill_every;
        self.table.update(key, now, fresh, |spent| {
            spent.full_at = spent.full_at.max(now) + refill_every;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BudgetPolicy {
        BudgetPolicy {
            burst: 10,
            refill_every: Duration::from_millis(100),
            capacity: 64,
        }
    }

    #[test]
    fn a_burst_fits_then_one_failure_per_refill() {
        let budgets = Budgets::new(policy());
        let (a, b) = (budgets.key(1u8), budgets.key(2u8));
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(budgets.check(a, t0).is_ok());
            budgets.record_failure(a, t0);
        }
        let wait = budgets.check(a, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        assert!(budgets.check(b, t0).is_ok());
        let later = t0 + wait;
        assert!(budgets.check(a, later).is_ok());
        budgets.record_failure(a, later);
        assert!(budgets.check(a, later).is_err());
    }

    #[test]
    fn a_trickle_below_the_refill_rate_never_empties_it() {
        let budgets = Budgets::new(policy());
        let a = budgets.key(1u8);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let now = t0 + Duration::from_millis(150) * i;
            assert!(budgets.check(a, now).is_ok(), "failure {i} refused");
            budgets.record_failure(a, now);
        }
    }
}
