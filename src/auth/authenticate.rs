//! Client authentication with brute-force throttling (RFC 6749 §2.3.1), for every endpoint
//! that checks client credentials.
//!
//! Owns: the order of the checks (find the credentials, refuse a locked-out id or address
//! without looking at the secret, check the secret, count the outcome). Does not own: the
//! counters (see [`super::throttle`]), the registry, or the key of an address
//! ([`address_key`], the transport's, so connections and failures count alike).

use tokio::time::Instant;

use super::clients::{Client, Verdict};
use super::credentials::{self, AuthMethod};
use super::error::OAuthError;
use super::tokens::TokenStore;
use super::{AuthServer, Call};
use crate::http::address_key;

impl<S: TokenStore> AuthServer<S> {
    /// The authenticated client of a request, throttled per client id and per remote address.
    pub(super) fn authenticate(&self, call: &Call<'_>) -> Result<&Client, OAuthError> {
        let parts = call.parts;
        let presented = credentials::extract(&parts.headers, &call.form, parts.uri.query())?;
        let challenge = presented.method == AuthMethod::Basic;
        let now = Instant::now();
        let address_key = address_key(call.peer);
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
