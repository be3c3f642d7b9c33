//! The single flight of introspections: one introspection per token at a time, shared by
//! every request that asks meanwhile, in a task of its own, cancelled when nobody waits.
//!
//! Owns: the in-flight map's entries ([`InFlightEntry`], taken out however the introspection
//! ends), joining an introspection under way or starting one in a place of the caller
//! address's ([`TokenGuard::verdict`]), and the task ([`run_introspection`]). Does not own:
//! the introspection itself (`introspection`), the cache or the places (`cache`, `slots`).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::slots::{AddressKey, Slot};
use super::{TokenGuard, Verdict, INTROSPECTION_BUDGET};
use crate::secret::{sha256, SecretString};

pub(super) type VerdictSender = watch::Sender<Option<Verdict>>;

/// An introspection's entry in the in-flight map, taken out when the introspection finishes,
/// is cancelled or panics, so a token can never be left waiting on a task that is gone.
struct InFlightEntry {
    guard: TokenGuard,
    key: [u8; 32],
    sender: Arc<VerdictSender>,
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

impl TokenGuard {
    /// The cached verdict on `token`, or the answer of one introspection shared by every
    /// request that asks meanwhile; a new introspection takes a place of `peer`'s.
    pub(super) async fn verdict(&self, token: &str, peer: AddressKey) -> Verdict {
        let key = sha256(token.as_bytes());
        let mut receiver = {
            let Ok(mut in_flight) = self.inner.in_flight.lock() else {
                return Verdict::Unavailable;
            };
            // Looked up under the in-flight lock: the introspection task caches its answer
            // before it leaves the in-flight map, so no answer can slip between the two.
            if let Some(verdict) = self.cached(&key) {
                return verdict;
            }
            match in_flight.get(&key) {
                Some(sender) => sender.subscribe(),
                None => {
                    let Some(slot) = self.inner.slots.try_take(peer) else {
                        return Verdict::Unavailable;
                    };
                    let (sender, receiver) = watch::channel(None);
                    let sender = Arc::new(sender);
                    in_flight.insert(key, sender.clone());
                    let entry = InFlightEntry {
                        guard: self.clone(),
                        key,
                        sender,
                    };
                    tokio::spawn(run_introspection(
                        entry,
                        SecretString::new(token.to_owned()),
                        slot,
                    ));
                    receiver
                }
            }
        };
        // A dropped request drops its receiver here: that is how the task learns it may stop.
        let verdict = match receiver.wait_for(Option::is_some).await {
            Ok(verdict) => verdict.clone().unwrap_or(Verdict::Unavailable),
            // The task ended without an answer (it panicked): fail closed.
            Err(_) => Verdict::Unavailable,
        };
        verdict
    }
}

/// One introspection, in a task of its own (see the module doc): bounded by
/// [`INTROSPECTION_BUDGET`], cached and handed to every waiting request, or cancelled as soon
/// as no request waits for it. `_slot` is its place, held until the task ends.
async fn run_introspection(entry: InFlightEntry, token: SecretString, _slot: Slot) {
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
