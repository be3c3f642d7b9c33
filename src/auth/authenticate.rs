//! Client authentication with brute-force throttling (RFC 6749 §2.3.1), for every endpoint
//! that checks client credentials.
//!
//! Owns: the order of the steps (find the credentials; check the secret; then, in one step of
//! the store, ask the failure counters and run the endpoint's store operation: a (client id,
//! source) pair that is locked out or a source that has spent its failure budget is refused
//! 429 whether its secret was right or wrong, a wrong secret is counted, a right one clears its
//! pair and runs the operation) and the log label of every refusal (peer and id tried). Does
//! not own: the counters (see [`super::throttle`] and the store), the registry, or the key of
//! an address ([`address_key`], the transport's, so connections and failures count alike).

use super::clients::{Client, Verdict};
use super::credentials::{self, NotPresented};
use super::error::OAuthError;
use super::throttle::Attempt;
use super::tokens::{StoreAnswer, StoreOp, TokenStore};
use super::{AuthServer, Call};
use crate::access_log::LogLabel;
use crate::http::address_key;

impl<S: TokenStore> AuthServer<S> {
    /// The authenticated client of a request, throttled per (client id, source address) and
    /// per source address, and the answer of the store operation `then` chose for it (with
    /// what else `then` made). When `then` fails, the client is still admitted or refused
    /// first, so a locked-out pair is answered 429 whatever else is wrong with its request.
    pub(super) async fn authenticate<'s, T>(
        &'s self,
        call: &Call<'_>,
        then: impl FnOnce(&'s Client) -> Result<(StoreOp<'s>, T), OAuthError>,
    ) -> Result<(&'s Client, StoreAnswer, T), OAuthError> {
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
        let id = presented.client_id.as_str();
        let attempt = Attempt {
            address: address_key(call.peer),
            client_id: id,
        };
        let throttled = |retry_after| OAuthError::Throttled {
            retry_after,
            log: LogLabel::refused(Some(id), call.peer),
        };
        let client = match self.registry.verify(id, presented.secret.expose()) {
            Verdict::Authenticated(client) => client,
            Verdict::Refused => {
                self.store
                    .count_failure(attempt)
                    .await?
                    .map_err(throttled)?;
                return Err(OAuthError::InvalidClient {
                    description: "client authentication failed",
                    log: LogLabel::refused(Some(id), call.peer),
                });
            }
        };
        match then(client) {
            Ok((op, made)) => {
                let answer = self.store.admit_then(attempt, op).await?;
                Ok((client, answer.map_err(throttled)?, made))
            }
            Err(e) => {
                let admitted = self.store.admit_then(attempt, StoreOp::Nothing).await?;
                admitted.map_err(throttled)?;
                Err(e)
            }
        }
    }
}
