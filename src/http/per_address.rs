//! Connections counted per remote address, and the key an address counts under.
//!
//! Owns: [`address_key`] (an IPv4 address, or the /64 of an IPv6 one, which a single host
//! usually owns whole; an IPv4-mapped IPv6 address counts as its IPv4 address), and
//! [`AddressCounts`], the live connections of each key under
//! [`Limits::max_connections_per_address`](super::Limits). A connection holds an
//! [`AddressSlot`] for its whole life; dropping it gives the slot back and forgets a key with
//! no connection left, so memory follows the live connections (themselves capped by
//! `max_connections`). One short lock when a connection is accepted and one when it ends;
//! nothing per request. Does not own: what to do with a refused connection (`server`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The key of a remote address, for anything counted per address. The first byte tells the
/// families apart.
pub fn address_key(peer: IpAddr) -> [u8; 9] {
    let mut key = [0u8; 9];
    let v4 = match peer {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    match (v4, peer) {
        (Some(v4), _) => {
            key[0] = 4;
            key[1..5].copy_from_slice(&v4.octets());
        }
        (None, IpAddr::V6(v6)) => {
            key[0] = 6;
            key[1..9].copy_from_slice(&v6.octets()[..8]);
        }
        (None, IpAddr::V4(_)) => {}
    }
    key
}

/// Live connections per address key, at most `cap` each.
pub(super) struct AddressCounts {
    cap: usize,
    live: Mutex<HashMap<[u8; 9], usize>>,
}

/// One connection's place in its address's count, given back on drop.
pub(super) struct AddressSlot {
    counts: Arc<AddressCounts>,
    key: [u8; 9],
}

impl AddressCounts {
    pub(super) fn new(cap: usize) -> Arc<Self> {
        Arc::new(AddressCounts {
            // At least one: then a key at its cap always has a live connection to remove it.
            cap: cap.max(1),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `peer`, or `None` when its address is at the cap.
    pub(super) fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<AddressSlot> {
        let key = address_key(peer);
        // The map is never left half-updated, so a poisoned lock still holds true counts.
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let count = live.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: self.clone(),
            key,
        })
    }

    /// How many addresses have live connections.
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut live = self
            .counts
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = live.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                live.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_key_by_ipv4_or_ipv6_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), address_key(v4));
    }

    #[test]
    fn each_address_gets_cap_slots_given_back_on_drop_and_forgotten_at_zero() {
        let counts = AddressCounts::new(2);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let same_64: [IpAddr; 2] = [
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        ];
        let first = counts.admit(one).expect("first");
        let second = counts.admit(one).expect("second");
        assert!(
            counts.admit(one).is_none(),
            "a third connection from one address"
        );
        let v6 = [counts.admit(same_64[0]), counts.admit(same_64[1])];
        assert!(v6.iter().all(Option::is_some));
        assert!(
            counts.admit(same_64[0]).is_none(),
            "a /64 counts as one address"
        );
        drop(first);
        let third = counts.admit(one).expect("a slot given back is free again");
        drop((second, third, v6));
        assert_eq!(
            counts.addresses(),
            0,
            "addresses with no connection are forgotten"
        );
    }
}
