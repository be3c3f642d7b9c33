//! Client authentication with brute-force throttling (RFC 6749 §2.3.1), for every endpoint
//! that checks client credentials.
//!
//! Owns: the order of the checks (find the credentials, refuse a locked-out id or address
//! without looking at the secret, check the secret, count the outcome) and the throttle key of
//! an address. Does not own: the counters (see [`super::throttle`]) or the registry.

use std::net::IpAddr;

use tokio::time::Instant;

use super::clients::{Client, Verdict};
use super::credentials::{self, AuthMethod};
use super::error::OAuthError;
use super::tokens::TokenStore;
use super::{AuthServer, Call};

impl<S: TokenStore> AuthServer<S> {
    /// The authenticated client of a request, throttled per client id and per remote address.
    pub(super) fn authenticate(&self, call: &Call<'_>) -> Result<&Client, OAuthError> {
        let parts = call.parts;
        let presented = credentials::extract(&parts.headers, &call.form, parts.uri.query())?;
        let challenge = presented.method == AuthMethod::Basic;
        let now = Instant::now();
        let address_key = peer_key(call.peer);
        let id_key = presented.client_id.as_bytes();
        let wait = [
            self.client_throttle.check(id_key, now),
            self.address_throttle.check(&address_key, now),
        ];
        if let Some(retry_after) = wait.into_iter().filter_map(Result::err).max() {
            return Err(OAuthError::Throttled { retry_after });
        }
        match self
            .registry
            .verify(&presented.client_id, presented.secret.expose())
        {
            Verdict::Authenticated(client) => {
                self.client_throttle.record_success(id_key);
                Ok(client)
            }
            Verdict::Refused => {
                self.client_throttle.record_failure(id_key, now);
                self.address_throttle.record_failure(&address_key, now);
                Err(OAuthError::InvalidClient {
                    description: "client authentication failed",
                    challenge,
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
