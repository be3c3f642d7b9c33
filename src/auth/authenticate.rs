//! Client authentication with brute-force throttling (RFC 6749 §2.3.1, RFC 7523 §2.2,
//! RFC 8705 §2), for every endpoint that checks client credentials.
//!
//! Owns: the order of the steps (find the credentials; check them: a secret, an assertion, or
//! the certificate of the connection; then, in one step of the store, ask the failure counters
//! and run the endpoint's store operation: a (client id, source) pair that is locked out or a
//! source that has spent its failure budget is refused 429 whether its credentials were right
//! or wrong, a failure is counted, a success clears its pair and runs the operation; every
//! method alike) and the log label of every refusal (peer and id tried, never a secret or an
//! assertion). A client registered with one method is refused whatever other method it tries.
//! The certificate checks: `tls_client_auth` wants a chain to the client CA and the registered
//! subject; `self_signed_tls_client_auth` wants the registered certificate. Does not own: the
//! counters (see [`super::throttle`] and the store), the registry, the assertion checks (see
//! `assertion`), or the key of an address ([`address_key`], the transport's, so connections
//! and failures count alike).

use std::sync::Arc;

use http::request::Parts;

use super::assertion;
use super::clients::{same_certificate, Client, ClientAuth, ClientRegistry, Verdict};
use super::credentials::{self, NotPresented, Presented};
use super::error::OAuthError;
use super::throttle::Attempt;
use super::tokens::{StoreAnswer, StoreOp, TokenStore};
use super::{AuthServer, Call};
use crate::access_log::LogLabel;
use crate::http::{address_key, ClientCertificate};
use crate::oauth::{unix_now, Issuer};

/// What checking presented credentials found.
enum Checked<'a> {
    Authenticated(&'a Arc<Client>),
    Refused,
}

impl<S: TokenStore> AuthServer<S> {
    /// The authenticated client of a request to the endpoint at `endpoint_path` (under the
    /// issuer's path: `/oauth/token`), throttled per (client id, source address) and per
    /// source address and checked against the registry in place when the request came, with
    /// the answer of the store operation `then` chose for it (and what else `then` made).
    /// When `then` fails, the client is still admitted or refused first, so a locked-out pair
    /// is answered 429 whatever else is wrong with its request.
    pub(super) async fn authenticate<T>(
        &self,
        call: &Call<'_>,
        endpoint_path: &str,
        then: impl FnOnce(&Client) -> Result<(StoreOp<'_>, T), OAuthError>,
    ) -> Result<(Arc<Client>, StoreAnswer, T), OAuthError> {
        let result = self.authenticate_with(call, endpoint_path, then).await;
        match &result {
            Err(OAuthError::InvalidClient { .. }) => self.counters.client_auth_failures.inc(),
            Err(OAuthError::Throttled { .. }) => self.counters.throttled.inc(),
            _ => {}
        }
        result
    }

    async fn authenticate_with<T>(
        &self,
        call: &Call<'_>,
        endpoint_path: &str,
        then: impl FnOnce(&Client) -> Result<(StoreOp<'_>, T), OAuthError>,
    ) -> Result<(Arc<Client>, StoreAnswer, T), OAuthError> {
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
        // An assertion names its client in `iss`; a `client_id` beside it must agree.
        let (id, claimed) = match &presented {
            Presented::Secret { client_id, .. } | Presented::ClientId { client_id } => {
                (client_id.clone(), None)
            }
            Presented::Assertion {
                assertion,
                client_id,
            } => {
                let claimed = assertion::claimed(assertion.expose());
                let issuer = claimed.as_ref().map(|c| c.issuer.clone());
                let named = client_id.clone().or(issuer.clone()).unwrap_or_default();
                let agree = client_id.is_none() || issuer.is_none() || *client_id == issuer;
                (named, claimed.filter(|_| agree))
            }
        };
        let attempt = Attempt {
            address: address_key(call.peer),
            client_id: id.as_str(),
        };
        let throttled = |retry_after| OAuthError::Throttled {
            retry_after,
            log: LogLabel::refused(Some(&id), call.peer),
        };
        let registry = self.registry();
        let checked = match presented {
            Presented::Secret { client_id, secret } => {
                match registry.verify(&client_id, secret.expose()) {
                    Verdict::Authenticated(client) => Checked::Authenticated(client),
                    Verdict::Refused => Checked::Refused,
                }
            }
            Presented::Assertion { .. } => match claimed {
                Some(claimed) => {
                    self.check_assertion(&registry, &id, claimed, endpoint_path)
                        .await?
                }
                None => Checked::Refused,
            },
            Presented::ClientId { client_id } => {
                let cert = parts.extensions.get::<ClientCertificate>();
                self.check_certificate(&registry, &client_id, cert)
            }
        };
        let client = match checked {
            Checked::Authenticated(client) => client.clone(),
            Checked::Refused => {
                self.store
                    .count_failure(attempt)
                    .await?
                    .map_err(throttled)?;
                return Err(OAuthError::InvalidClient {
                    description: "client authentication failed",
                    log: LogLabel::refused(Some(&id), call.peer),
                });
            }
        };
        match then(&client) {
            Ok((op, made)) => {
                let answer = self.store.admit_then(attempt, op).await?;
                let answer = answer.map_err(throttled)?;
                Ok((client, answer, made))
            }
            Err(e) => {
                let admitted = self.store.admit_then(attempt, StoreOp::Nothing).await?;
                admitted.map_err(throttled)?;
                Err(e)
            }
        }
    }

    /// `private_key_jwt`: the assertion's checks, then the replay cache. A store that fails
    /// is a 503 (never a guess), counted as nothing.
    async fn check_assertion<'r>(
        &self,
        registry: &'r ClientRegistry,
        client_id: &str,
        claimed: assertion::Claimed,
        endpoint_path: &str,
    ) -> Result<Checked<'r>, OAuthError> {
        let Some(client) = registry.get(client_id) else {
            return Ok(Checked::Refused);
        };
        let ClientAuth::PrivateKeyJwt(keys) = &client.auth else {
            return Ok(Checked::Refused);
        };
        let endpoint = self.endpoint_url(endpoint_path);
        let audiences = [self.config.issuer.as_str(), endpoint.as_str()];
        let now = unix_now();
        let now_signed = i64::try_from(now).unwrap_or(i64::MAX);
        let Some(accepted) = assertion::verify(claimed, client_id, keys, &audiences, now_signed)
        else {
            return Ok(Checked::Refused);
        };
        let first = self
            .store
            .first_use(accepted.key, accepted.exp, now)
            .await
            .map_err(|_| OAuthError::Unavailable("the assertion replay cache is unavailable"))?;
        Ok(if first {
            Checked::Authenticated(client)
        } else {
            Checked::Refused
        })
    }

    /// `tls_client_auth` and `self_signed_tls_client_auth`: the certificate of the connection.
    fn check_certificate<'r>(
        &self,
        registry: &'r ClientRegistry,
        client_id: &str,
        cert: Option<&ClientCertificate>,
    ) -> Checked<'r> {
        let (Some(client), Some(cert)) = (registry.get(client_id), cert) else {
            return Checked::Refused;
        };
        let accepted = match &client.auth {
            ClientAuth::TlsClientAuth(subject) => {
                self.client_ca().is_some_and(|ca| ca.issued(cert))
                    && subject.matches_certificate(cert.leaf().as_ref())
            }
            ClientAuth::SelfSignedTlsClientAuth { cert_sha256 } => {
                same_certificate(cert_sha256, cert.leaf_sha256())
            }
            ClientAuth::Secret { .. } | ClientAuth::PrivateKeyJwt(_) => false,
        };
        if accepted {
            Checked::Authenticated(client)
        } else {
            Checked::Refused
        }
    }

    /// The URL of the endpoint served at `path` under the issuer (an assertion's `aud` may
    /// name it).
    fn endpoint_url(&self, path: &str) -> String {
        match Issuer::parse(&self.config.issuer) {
            Ok(issuer) => issuer.endpoint_url(path),
            Err(_) => format!("{}{path}", self.config.issuer.trim_end_matches('/')),
        }
    }
}

/// The certificate a request came with, if any: tokens issued to it are bound to it.
pub(super) fn presented_certificate(parts: &Parts) -> Option<&ClientCertificate> {
    parts.extensions.get::<ClientCertificate>()
}
