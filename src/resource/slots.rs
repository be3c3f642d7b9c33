//! The guard's capacity for introspections under way, shared fairly between caller addresses.
//!
//! Owns: counting the introspections under way, in all and per caller address (an IPv6
//! address counts by its /64, which one host usually owns whole; an IPv4-mapped IPv6 address
//! as its IPv4 address), the two caps, and [`Slot`], one place held until it is dropped. An
//! address at its cap cannot take a place that another address needs: with the defaults one
//! address holds at most 16 of the 96. Memory is bounded by the global cap: an address has an
//! entry only while it has an introspection under way. Does not own: what runs in a place
//! (the guard) nor what a request without one gets (the guard answers 503 at once, failing
//! closed, rather than queueing requests that a flood would keep growing).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Whom a place is counted against: an IPv4 address, or the /64 network of an IPv6 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum AddressKey {
    V4(u32),
    V6Network(u64),
}

impl AddressKey {
    pub(super) fn of(address: IpAddr) -> AddressKey {
        match address {
            IpAddr::V4(v4) => AddressKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(u32::from(v4)),
                // The upper half of the address is its /64 network.
                None => AddressKey::V6Network((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// The places for introspections, and who holds them.
pub(super) struct Slots {
    total_cap: usize,
    per_address_cap: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    /// Only addresses holding at least one place.
    by_address: HashMap<AddressKey, usize>,
}

/// One introspection's place, given back when dropped (finished, cancelled or panicked).
pub(super) struct Slot {
    slots: Arc<Slots>,
    address: AddressKey,
}

impl Slots {
    pub(super) fn new(total_cap: usize, per_address_cap: usize) -> Slots {
        Slots {
            total_cap,
            per_address_cap: per_address_cap.min(total_cap),
            held: Mutex::new(Held::default()),
        }
    }

    /// A place for an introspection asked for by `address`, if both caps allow one.
    pub(super) fn try_take(self: &Arc<Self>, address: AddressKey) -> Option<Slot> {
        let mut held = self.held.lock().ok()?;
        let mine = held.by_address.get(&address).copied().unwrap_or(0);
        if held.total >= self.total_cap || mine >= self.per_address_cap {
            return None;
        }
        held.by_address.insert(address, mine + 1);
        held.total += 1;
        Some(Slot {
            slots: self.clone(),
            address,
        })
    }

    /// Places held now.
    pub(super) fn held(&self) -> usize {
        self.held.lock().map(|held| held.total).unwrap_or(0)
    }

    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.held.lock().map(|h| h.by_address.len()).unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Ok(mut held) = self.slots.held.lock() else {
            return;
        };
        held.total = held.total.saturating_sub(1);
        if let Some(mine) = held.by_address.get_mut(&self.address) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                held.by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> AddressKey {
        AddressKey::of(text.parse().unwrap())
    }

    #[test]
    fn one_address_at_its_cap_leaves_the_other_places_to_others() {
        let slots = Arc::new(Slots::new(6, 2));
        let flooder: Vec<Slot> = (0..10)
            .filter_map(|_| slots.try_take(key("192.0.2.1")))
            .collect();
        assert_eq!(flooder.len(), 2);
        let others: Vec<Slot> = ["192.0.2.2", "192.0.2.3"]
            .iter()
            .flat_map(|a| [slots.try_take(key(a)), slots.try_take(key(a))])
            .flatten()
            .collect();
        assert_eq!(others.len(), 4);
        assert!(
            slots.try_take(key("192.0.2.4")).is_none(),
            "the global cap holds"
        );
        drop(flooder);
        assert!(slots.try_take(key("192.0.2.4")).is_some());
    }

    #[test]
    fn places_come_back_and_idle_addresses_take_no_memory() {
        let slots = Arc::new(Slots::new(96, 16));
        let taken: Vec<Slot> = (0..50u8)
            .filter_map(|i| slots.try_take(AddressKey::V4(u32::from(i))))
            .collect();
        assert_eq!((slots.held(), slots.addresses()), (50, 50));
        drop(taken);
        assert_eq!((slots.held(), slots.addresses()), (0, 0));
        let none = Arc::new(Slots::new(96, 0));
        assert!(none.try_take(AddressKey::V4(1)).is_none());
        assert_eq!(none.addresses(), 0);
    }

    #[test]
    fn ipv6_counts_by_its_slash_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::2"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
    }
}
