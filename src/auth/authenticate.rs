//! Client authentication with brute-force throttling (RFC 6749 §2.3.1), for every endpoint
//! that checks client credentials.
//!
//! Owns: the order of the checks (find the credentials; refuse, without looking at the
//! secret, a (client id, source) pair that is locked out or a source that has spent its
//! failure budget; check the secret; count the outcome) and the log label of every refusal
//! (peer and id tried). Does not own: the counters (see [`super::throttle`]), the registry,
//! or the key of an address ([`address_key`], the transport's, so connections and failures
//! count alike).

use std::sync::Arc;

use tokio::time::Instant;

use super::clients::{Client, Verdict};
use super::credentials::{self, NotPresented};
use super::error::OAuthError;
use super::tokens::TokenStore;
use super::{AuthServer, Call};
use crate::access_log::LogLabel;
use crate::http::address_key;

impl<S: TokenStore> AuthServer<S> {
    /// The authenticated client of a request, throttled per (client id, source address) and
    /// per source address; checked against the registry in place when the request came.
    pub(super) fn authenticate(&self, call: &Call<'_>) -> Result<Arc<Client>, OAuthError> {
        let result = self.authenticate_with(call);
        match &result {
            Err(OAuthError::InvalidClient { .. }) => self.counters.client_auth_failures.inc(),
            Err(OAuthError::Throttled { .. }) => self.counters.throttled.inc(),
            _ => {}
        }
        result
    }

    fn authenticate_with(&self, call: &Call<'_>) -> Result<Arc<Client>, OAuthError> {
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
        let address_key = address_key(call.peer);
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
        match self.registry().verify(id, presented.secret.expose()) {
            Verdict::Authenticated(client) => {
                self.lockouts.record_success(pair);
                Ok(client.clone())
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
