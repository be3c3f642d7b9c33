//! Brute-force defence (RFC 6749 §2.3.1): whether a presented secret may be checked at all.
//!
//! Owns the two counters of failed client authentications ([`Throttle`]: a policy and the
//! bounded table of its keys, see `table`):
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
//! refused attempt is answered 429 whether its secret was right or wrong, so it teaches
//! nothing (the secret is hashed first, a microsecond, so that a shared store is asked once per
//! request); no request ever sleeps.
//!
//! Memory is bounded: keys are stored as 64-bit keyed hashes (SipHash with a per-process random
//! key, so nobody can aim collisions; a rare collision only shares a counter) in a fixed number
//! of entries; when the table is full, entries that no longer say anything go first, then the
//! one nearest to saying nothing, and an entry that is refusing right now goes last, so a flood
//! of invented ids or addresses can neither grow the table nor lift a refusal. Unknown ids are
//! tracked exactly like known ones. An empty shard of a table (the usual state) is seen without
//! a lock, and [`Throttle::sweep`] empties the tables again once failures stop.
//!
//! Both counters sit behind [`FailureCounters`], so that replicas sharing a store count one
//! brute force together: [`LocalCounters`] keeps them in this process (the in-memory store's),
//! a shared store keeps them beside its tokens (the Redis store's, with expiries instead of a
//! sweep). Does not own: checking secrets, or which address a key stands for (see
//! `authenticate`).

mod budget;
mod local;
mod lockout;
mod table;

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use super::tokens::StoreUnavailable;
use table::{Entry, Table};

pub use budget::BudgetPolicy;
pub use local::LocalCounters;
pub use lockout::Policy;

/// One client authentication to count: where it came from and the id it tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// The source: an IPv4 address or an IPv6 /64 (`crate::http::address_key`).
    pub address: [u8; 9],
    pub client_id: &'a str,
}

/// `Ok(())`: the attempt goes on; `Err(wait)`: it is refused (429) for `wait`.
pub type Admission = Result<(), Duration>;

/// Where failed client authentications are counted, per (client id, source) (the lockouts) and
/// per source (the budgets). An attempt is refused while either refuses it, whatever its
/// secret, so a refusal tells nothing about the secret. Implementations must count atomically
/// with respect to each other: two replicas failing at once both count.
pub trait FailureCounters: Send + Sync + 'static {
    /// An attempt whose secret was right: refused while its pair is locked out or its source
    /// has spent its budget; otherwise the pair's failures are cleared.
    fn admit(
        &self,
        attempt: Attempt<'_>,
    ) -> impl Future<Output = Result<Admission, StoreUnavailable>> + Send;

    /// An attempt whose secret was wrong: refused like [`FailureCounters::admit`] (and then not
    /// counted: a refused guess teaches nothing), otherwise counted against its pair and its
    /// source.
    fn count_failure(
        &self,
        attempt: Attempt<'_>,
    ) -> impl Future<Output = Result<Admission, StoreUnavailable>> + Send;
}

/// Lockouts per (client id, source address).
pub type Lockouts = Throttle<Policy>;
/// Failure budgets per source address.
pub type Budgets = Throttle<BudgetPolicy>;

/// A raw key (an address, an id and an address) as the tables store it: its keyed hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(u64);

/// A policy: what its table holds and how many keys it may remember.
pub trait Rule: Clone + fmt::Debug {
    type Entry: Entry;
    fn capacity(&self) -> usize;
}

/// One counter of failures: a policy and the bounded table of the keys it has seen. What it
/// counts and refuses is its policy's (see [`Lockouts`], [`Budgets`]).
pub struct Throttle<P: Rule> {
    policy: P,
    table: Table<P::Entry>,
}

impl<P: Rule> fmt::Debug for Throttle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("policy", &self.policy)
            .field("keys", &self.len())
            .finish()
    }
}

impl<P: Rule> Throttle<P> {
    pub fn new(policy: P) -> Self {
        Throttle {
            table: Table::new(policy.capacity()),
            policy,
        }
    }

    /// The key of a raw value: an address key, or the pair of an address key and a client id.
    pub fn key(&self, raw: impl Hash) -> Key {
        self.table.key(raw)
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key that no longer says anything at `now`: run now and then, so the
    /// tables empty again once failures stop, and requests take no lock to find them empty.
    pub fn sweep(&self, now: tokio::time::Instant) {
        self.table.sweep(now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;

    #[test]
    fn memory_stays_bounded_under_a_flood_of_keys_and_refusals_outlive_it() {
        let lockouts = Lockouts::new(Policy {
            capacity: 64,
            ..Policy::per_client()
        });
        let budgets = Budgets::new(BudgetPolicy {
            burst: 10,
            capacity: 64,
            ..BudgetPolicy::per_address()
        });
        let t0 = Instant::now();
        let (locked, greedy) = (lockouts.key("locked"), budgets.key("greedy"));
        for _ in 0..20 {
            lockouts.record_failure(locked, t0);
            budgets.record_failure(greedy, t0);
        }
        for i in 0..10_000u32 {
            let at = t0 + Duration::from_micros(u64::from(i));
            lockouts.record_failure(lockouts.key(i), at);
            budgets.record_failure(budgets.key(i), at);
        }
        assert!(lockouts.len() <= 64, "{} keys kept", lockouts.len());
        assert!(budgets.len() <= 64, "{} keys kept", budgets.len());
        let later = t0 + Duration::from_millis(500);
        assert!(
            lockouts.check(locked, later).is_err(),
            "the flood lifted a lockout"
        );
        assert!(
            budgets.check(greedy, later).is_err(),
            "the flood refilled a budget"
        );
    }

    #[test]
    fn a_sweep_forgets_exactly_what_says_nothing_any_more() {
        let lockouts = Lockouts::new(Policy::per_client());
        let budgets = Budgets::new(BudgetPolicy::per_address());
        let t0 = Instant::now();
        let (locked, once) = (lockouts.key("locked"), lockouts.key("once"));
        for _ in 0..6 {
            lockouts.record_failure(locked, t0);
        }
        lockouts.record_failure(once, t0);
        budgets.record_failure(budgets.key("a"), t0);
        lockouts.sweep(t0 + Duration::from_secs(299));
        budgets.sweep(t0 + Duration::from_millis(199));
        assert_eq!((lockouts.len(), budgets.len()), (2, 1), "swept too early");
        lockouts.sweep(t0 + Duration::from_secs(300));
        budgets.sweep(t0 + Duration::from_millis(200));
        assert!(
            lockouts.is_empty() && budgets.is_empty(),
            "spent entries kept"
        );
    }
}
