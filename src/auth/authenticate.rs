//! Client authentication with brute-force throttling (RFC 6749 §2.3.1), for every endpoint
//! that checks client credentials.
//!
//! Owns: the order of the checks (find the credentials; refuse, without looking at the
//! secret, a (client id, source) pair that is locked out or a source that has spent its
//! failure budget; check the secret; count the outcome), the throttle key of an address, and
//! the log label of every refusal (peer and id tried). Does not own: the counters (see
//! [`super::throttle`]) or the registry.

use std::net::IpAddr;

use tokio::time::Instant;

use super::clients::{Client, Verdict};
use super::credentials::{self, NotPresented};
use super::error::OAuthError;
use super::tokens::TokenStore;
use super::{AuthServer, Call};
use crate::access_log::LogLabel;

impl<S: TokenStore> AuthServer<S> {
    /// The authenticated client of a request, throttled per (client id, source address) and
    /// per source address.
    pub(super) fn authenticate(&self, call: &Call<'_>) -> Result<&Client, OAuthError> {
        let parts = call.parts;
        let presented = credentials::extract(&parts.headers, &call.form, parts.uri.query())
            .map_err(|e| match e {
                NotPresented::Invalid(e) => e,
                NotPresented::Unreadable {
                    description,
                    client_id,
                } => OAuthError::InvalidClient {
                    description,
                    log: LogLabel::refused(client_id.as_deref(), call.peer),
                },
            })?;
        let now = Instant::now();
        let address_key = peer_key(call.peer);
        let id = presented.client_id.as_str();
        let pair = self.lockouts.key((address_key, id));
        let address = self.budgets.key(address_key);
        let wait = [
            self.lockouts.check(pair, now),
            self.budgets.check(address, now),
        ];
        if let Some(retry_after) = wait.into_iter().filter_map(Result::err).max() {
            return Err(OAuthError::Throttled {
                retry_after,
                log: LogLabel::refused(Some(id), call.peer),
            });
        }
        match self.registry.verify(id, presented.secret.expose()) {
            Verdict::Authenticated(client) => {
                self.lockouts.record_success(pair);
                Ok(client)
            }
            Verdict::Refused => {
                self.lockouts.record_failure(pair, now);
                self.budgets.record_failure(address, now);
                Err(OAuthError::InvalidClient {
                    description: "client authentication failed",
                    log: LogLabel::refused(Some(id), call.peer),
                })
            }
        }
    }
}

/// The throttle key of a remote address. IPv6 clients usually own a whole /64, so that is
/// the unit; an IPv4-mapped address counts as its IPv4 address. The first byte tells the
/// families apart.
pub(super) fn peer_key(peer: IpAddr) -> [u8; 9] {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_key_by_ipv4_or_ipv6_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(peer_key(a), peer_key(b));
        assert_ne!(peer_key(a), peer_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(peer_key(mapped), peer_key(v4));
    }
}
