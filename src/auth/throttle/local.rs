//! The failure counters of one process: the in-memory store's.
//!
//! Owns: [`LocalCounters`], a [`Lockouts`] and a [`Budgets`] table behind [`FailureCounters`],
//! on the process's monotonic clock (`tokio::time::Instant`, so tests can pause it), and their
//! sweep. Does not own: the tables or policies themselves (see the parent).

use super::{Admission, Attempt, BudgetPolicy, Budgets, FailureCounters, Lockouts, Policy};
use crate::auth::tokens::StoreUnavailable;

/// Lockouts per (client id, source) and budgets per source, in this process.
#[derive(Debug)]
pub struct LocalCounters {
    lockouts: Lockouts,
    budgets: Budgets,
}

impl Default for LocalCounters {
    fn default() -> Self {
        LocalCounters::new(Policy::per_client(), BudgetPolicy::per_address())
    }
}

impl LocalCounters {
    pub fn new(lockout: Policy, budget: BudgetPolicy) -> Self {
        LocalCounters {
            lockouts: Lockouts::new(lockout),
            budgets: Budgets::new(budget),
        }
    }

    /// Keys remembered: (per client id and source, per source).
    pub fn len(&self) -> (usize, usize) {
        (self.lockouts.len(), self.budgets.len())
    }

    /// Forgets every key that says nothing any more.
    pub fn sweep(&self) {
        let now = tokio::time::Instant::now();
        self.lockouts.sweep(now);
        self.budgets.sweep(now);
    }

    /// Refused while either counter refuses; the longer wait wins.
    fn refusal(&self, attempt: &Attempt<'_>) -> (Admission, super::Key, super::Key) {
        let now = tokio::time::Instant::now();
        let pair = self.lockouts.key((attempt.address, attempt.client_id));
        let address = self.budgets.key(attempt.address);
        let waits = [
            self.lockouts.check(pair, now),
            self.budgets.check(address, now),
        ];
        let wait = waits.into_iter().filter_map(Result::err).max();
        (wait.map_or(Ok(()), Err), pair, address)
    }
}

impl FailureCounters for LocalCounters {
    // In memory nothing waits: each call is done when its future is first polled.
    async fn admit(&self, attempt: Attempt<'_>) -> Result<Admission, StoreUnavailable> {
        // No failure remembered anywhere (the usual state): nothing can refuse the attempt or
        // needs clearing, so neither key is hashed. A failure counted meanwhile by another
        // request is one this attempt came before.
        if self.len() == (0, 0) {
            return Ok(Ok(()));
        }
        let (admission, pair, _) = self.refusal(&attempt);
        if admission.is_ok() {
            self.lockouts.record_success(pair);
        }
        Ok(admission)
    }

    async fn count_failure(&self, attempt: Attempt<'_>) -> Result<Admission, StoreUnavailable> {
        let (admission, pair, address) = self.refusal(&attempt);
        if admission.is_ok() {
            let now = tokio::time::Instant::now();
            self.lockouts.record_failure(pair, now);
            self.budgets.record_failure(address, now);
        }
        Ok(admission)
    }
}
