//! What operators need of the authorization server beyond the endpoints: readiness, the
//! metric families, and replacing the clients registry and the client CA while it serves.
//!
//! | route          | answer                                                               |
//! |----------------|----------------------------------------------------------------------|
//! | `GET /readyz`  | 200 `{"status":"ready"}` while the token store answers, else 503     |
//!
//! Owns: `/readyz` (the store's [`TokenStore::readiness`]: the in-memory store is always
//! ready, a shared store says when its engine is unreachable), the families the server adds to
//! the transport's (`tollgate_tokens_issued_total`, `tollgate_client_auth_failures_total`,
//! `tollgate_throttled_total`, `tollgate_live_tokens`), and [`AuthServer::replace_clients`]:
//! a newly read registry is swapped in whole, so a request sees either the old clients or the
//! new ones, never a mix, and tokens already issued are untouched (the store keeps them until
//! they expire or are revoked); [`AuthServer::replace_client_ca`] likewise for the CA of
//! `tls_client_auth` certificates. Does not own: reading the files (`clients_file`,
//! `http::ClientCa`) or when they are read (the binary, on SIGHUP).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{Response, StatusCode};
use serde::Serialize;

use super::clients::ClientRegistry;
use super::error::OAuthError;
use super::tokens::TokenStore;
use super::AuthServer;
use crate::access_log;
use crate::http::{json_response, Body, ClientCa, ServerMetrics};
use crate::metrics::{Counter, Exposition, Source};

/// Outcomes of client authentication the metrics count.
#[derive(Debug, Default)]
pub(super) struct AuthCounters {
    /// Requests refused `invalid_client` (wrong, unknown or unreadable credentials).
    pub(super) client_auth_failures: Counter,
    /// Requests refused 429 by the brute-force throttle.
    pub(super) throttled: Counter,
}

/// Each client id as a shared string, for the grants of its tokens.
pub(super) fn interned_ids(registry: &ClientRegistry) -> HashMap<String, Arc<str>> {
    registry
        .all_ids()
        .map(|id| (id.to_owned(), Arc::from(id)))
        .collect()
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
}

impl<S: TokenStore> AuthServer<S> {
    /// The clients registered now.
    pub fn registry(&self) -> Arc<ClientRegistry> {
        match self.registry.read() {
            Ok(registry) => registry.clone(),
            // A panic while swapping cannot leave half a registry: the old or the new one.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a newly read clients registry (on SIGHUP): from the next request on, added
    /// clients authenticate, removed ones are refused, and a changed secret is the only one
    /// that works. Tokens already issued stay valid until they expire or are revoked.
    pub fn replace_clients(&self, registry: ClientRegistry) {
        let ids = Arc::new(interned_ids(&registry));
        let registry = Arc::new(registry);
        match self.registry.write() {
            Ok(mut current) => *current = registry,
            Err(poisoned) => *poisoned.into_inner() = registry,
        }
        match self.client_ids.write() {
            Ok(mut current) => *current = ids,
            Err(poisoned) => *poisoned.into_inner() = ids,
        }
        self.render_metadata();
    }

    /// Swaps in a newly read client CA (on SIGHUP): from the next request on, `tls_client_auth`
    /// certificates must chain to it, and those of the CA it replaces no longer authenticate.
    /// Tokens already bound to a certificate stay bound to it. For a server that asks for
    /// client certificates (it was given a CA at start); one that does not never sees any.
    pub fn replace_client_ca(&self, ca: ClientCa) {
        let ca = Some(Arc::new(ca));
        match self.client_ca.write() {
            Ok(mut current) => *current = ca,
            Err(poisoned) => *poisoned.into_inner() = ca,
        }
        self.render_metadata();
    }

    /// The client CA in use now, if certificates are asked for.
    pub(super) fn client_ca(&self) -> Option<Arc<ClientCa>> {
        match self.client_ca.read() {
            Ok(ca) => ca.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The shared form of a registered client id, if it is one.
    pub(super) fn interned_id(&self, id: &str) -> Option<Arc<str>> {
        let ids = self.client_ids.read().ok()?;
        ids.get(id).cloned()
    }

    /// Requests refused `invalid_client` since the server started.
    pub fn client_auth_failures(&self) -> u64 {
        self.counters.client_auth_failures.get()
    }

    /// Requests refused 429 since the server started.
    pub fn throttled(&self) -> u64 {
        self.counters.throttled.get()
    }

    /// The transport's counts of this server's requests and connections.
    pub fn server_metrics(&self) -> &ServerMetrics {
        &self.metrics
    }

    /// `GET /readyz`: whether the store can be used now.
    pub(super) async fn readiness_response(&self) -> Response<Body> {
        match self.store.readiness().await {
            Ok(()) => json_response(StatusCode::OK, &Readiness { status: "ready" }),
            Err(e) => {
                access_log::event(format_args!("not ready: {e}"));
                OAuthError::Unavailable("the token store cannot be reached").to_response()
            }
        }
    }
}

impl<S: TokenStore> Source for AuthServer<S> {
    fn write_metrics(&self, out: &mut Exposition) {
        self.metrics.write(out);
        out.counter(
            "tollgate_tokens_issued_total",
            "Access tokens issued.",
            self.tokens_issued.load(Ordering::Relaxed),
        );
        out.counter(
            "tollgate_client_auth_failures_total",
            "Requests refused invalid_client: wrong, unknown or unreadable client credentials.",
            self.client_auth_failures(),
        );
        out.counter(
            "tollgate_throttled_total",
            "Requests refused 429 by the brute-force throttle.",
            self.throttled(),
        );
        if let Some(live) = self.store.live_tokens() {
            out.gauge(
                "tollgate_live_tokens",
                "Tokens in the in-memory store (expired ones until the next sweep).",
                i64::try_from(live).unwrap_or(i64::MAX),
            );
        }
    }
}
