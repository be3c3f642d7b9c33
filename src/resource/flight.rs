//! One introspection under way, shared by every request that needs its answer.
//!
//! Owns: the in-flight map's entry of an introspection (taken out however the introspection
//! ends, so a token can never be left waiting on a task that is gone) and the task that runs
//! it: bounded by [`INTROSPECTION_BUDGET`], its answer cached and handed to every waiting
//! request, cancelled as soon as no request waits. Does not own: the single-flight lookup
//! (the guard) or the introspection request (`introspection`).

use std::collections::HashMap;
use std::sync::Arc;

use super::slots::Slot;
use super::{TokenGuard, Verdict, VerdictSender, INTROSPECTION_BUDGET};
use crate::secret::SecretString;

/// An introspection's entry in the in-flight map, taken out when the introspection finishes,
/// is cancelled or panics, so a token can never be left waiting on a task that is gone.
pub(super) struct InFlightEntry {
    pub(super) guard: TokenGuard,
    pub(super) key: [u8; 32],
    pub(super) sender: Arc<VerdictSender>,
}

impl InFlightEntry {
    /// Whether no request waits for the answer any more; if so the entry is taken out, under
    /// the lock that joining requests subscribe under, so none can join an abandoned one.
    fn abandoned(&self) -> bool {
        let Ok(mut in_flight) = self.guard.inner.in_flight.lock() else {
            return true;
        };
        if self.sender.receiver_count() > 0 {
            return false;
        }
        self.remove_from(&mut in_flight);
        true
    }

    /// Removes this entry, and never a newer one for the same token.
    fn remove_from(&self, in_flight: &mut HashMap<[u8; 32], Arc<VerdictSender>>) {
        if in_flight
            .get(&self.key)
            .is_some_and(|sender| Arc::ptr_eq(sender, &self.sender))
        {
            in_flight.remove(&self.key);
        }
    }
}

impl Drop for InFlightEntry {
    fn drop(&mut self) {
        if let Ok(mut in_flight) = self.guard.inner.in_flight.lock() {
            self.remove_from(&mut in_flight);
        }
    }
}

/// One introspection, in a task of its own (see the module doc): bounded by
/// [`INTROSPECTION_BUDGET`], cached and handed to every waiting request, or cancelled as soon
/// as no request waits for it. `_slot` is its place, held until the task ends.
pub(super) async fn run_introspection(entry: InFlightEntry, token: SecretString, _slot: Slot) {
    let guard = entry.guard.clone();
    let introspection = tokio::time::timeout(INTROSPECTION_BUDGET, guard.introspect(&token));
    tokio::pin!(introspection);
    let verdict = loop {
        tokio::select! {
            result = &mut introspection => break result.unwrap_or(Verdict::Unavailable),
            () = entry.sender.closed() => {
                // A request may have joined since the last one left: look again under the
                // lock joiners take, and go on for it.
                if entry.abandoned() {
                    return;
                }
            }
        }
    };
    guard.remember(entry.key, &verdict);
    let sender = entry.sender.clone();
    drop(entry);
    let _ = sender.send(Some(verdict));
}
