//! The OAuth 2.0 authorization server: client-credentials tokens and what goes with them.
//!
//! | route                                              | file            | RFC                       |
//! |----------------------------------------------------|-----------------|---------------------------|
//! | `POST PATH/oauth/token`                            | `token.rs`      | RFC 6749 §4.4, §5, §2.3.1 |
//! | `POST PATH/oauth/introspect`                       | `introspect.rs` | RFC 7662                  |
//! | `POST PATH/oauth/revoke`                           | `revoke.rs`     | RFC 7009                  |
//! | `GET /.well-known/oauth-authorization-server PATH` | `metadata.rs`   | RFC 8414 §3.1             |
//! | `GET PATH/oauth/jwks`                              | `metadata.rs`   | RFC 7517 (JWT format)     |
//! | `GET /healthz`                                     | here            | liveness                  |
//! | `GET /readyz`                                      | `operations.rs` | readiness (the store)     |
//!
//! `PATH` is the issuer's path (`https://host/tenant` → `/tenant`), empty for an issuer
//! without one: the endpoints live under it and the metadata where RFC 8414 §3.1 puts it, so
//! the metadata never names a URL that is not served. `/healthz` and `/readyz` are always at
//! the root: `/readyz` is 503 while the token store cannot serve (a shared store's engine is
//! unreachable; the store caches its probe for at most a second), `/healthz` only says the
//! process answers.
//!
//! Owns: routing (here; the route table in `routes`), one file per endpoint, client authentication with brute-force
//! throttling (`authenticate`), and the token lifecycle. The other
//! parts: [`clients`] (the registry) and [`clients_file`] (its file and `add-client`'s atomic
//! update), `credentials` (finding credentials in a request), `assertion` (`private_key_jwt`
//! assertions), [`dn`] (certificate subjects for `tls_client_auth`), [`tokens`] (the store, the
//! JWT denylist, the used assertions and the failure counters; `expiring` keeps the denylist
//! and the assertions), [`signing_keys`] (the keys directory), `own_jwt` (recognising the JWTs
//! this server signed), [`throttle`] (lockouts and failure budgets), [`redis_store`] (the store
//! replicas share, behind the `redis` feature), `error` (the error enum and its responses),
//! `operations` (readiness, the metric families, replacing the clients registry on reload).
//! Does not own: sockets, TLS or limits (see [`crate::http`]), nor the wire
//! shapes it shares with the other roles (see [`crate::oauth`]).

mod assertion;
mod authenticate;
pub mod clients;
pub mod clients_file;
mod credentials;
pub mod dn;
mod error;
mod expiring;
mod introspect;
mod metadata;
mod operations;
mod own_jwt;
#[cfg(feature = "redis")]
pub mod redis_store;
mod revoke;
mod routes;
pub mod signing_keys;
pub mod throttle;
mod token;
pub mod tokens;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use serde::Serialize;

use crate::access_log::LogLabel;
use crate::form::Form;
use crate::http::{self as h, Body, Handler, Peer, Refusal, RequestBody, ServerMetrics};
use crate::oauth::{self, Issuer};
use clients::ClientRegistry;
use error::OAuthError;
use routes::{Route, Routes};
use signing_keys::SigningKeys;
use throttle::{BudgetPolicy, Policy};
use tokens::{Grant, MemoryTokenStore, TokenStore};

/// Settings of the authorization server.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The issuer identifier (RFC 8414 §2), used byte for byte in metadata and introspection.
    /// It should pass [`Issuer::parse`] (`oauth-server` refuses to start otherwise); one that
    /// does not is served as an issuer without a path.
    pub issuer: String,
    /// Lifetime of issued access tokens.
    pub token_ttl: Duration,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// How often expired tokens are swept from the in-memory store.
    pub sweep_interval: Duration,
    /// Lockouts per (client id, source address), for the store [`AuthServer::new`] makes (a
    /// store made elsewhere is given its policies by its maker).
    pub client_lockout: Policy,
    /// Failure budgets per source address, likewise.
    pub address_budget: BudgetPolicy,
    pub token_format: TokenFormat,
    /// The `aud` of a JWT whose client has no registered audience and asked for none; `None`:
    /// the issuer.
    pub default_audience: Option<String>,
    /// The CA of `tls_client_auth` clients' certificates (RFC 8705 §2.1), when the listener
    /// asks for client certificates ([`h::server_tls_config_with`]); the metadata then offers
    /// the two mTLS methods and certificate-bound tokens. The server's is replaced with
    /// [`AuthServer::replace_client_ca`].
    pub client_ca: Option<h::ClientCa>,
}

/// What an access token is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenFormat {
    /// A 256-bit random value; the server remembers it (the store) and resource servers ask
    /// about it (introspection).
    #[default]
    Opaque,
    /// An RFC 9068 JWT signed with the current signing key: resource servers validate it
    /// themselves; the server keeps no state for it but the denylist of revoked ones.
    Jwt,
}

impl AuthConfig {
    pub fn new(issuer: impl Into<String>) -> Self {
        AuthConfig {
            issuer: issuer.into(),
            token_ttl: Duration::from_secs(3600),
            max_body_bytes: 16 * 1024,
            sweep_interval: Duration::from_secs(5),
            client_lockout: Policy::per_client(),
            address_budget: BudgetPolicy::per_address(),
            token_format: TokenFormat::Opaque,
            default_audience: None,
            client_ca: None,
        }
    }

    /// The audience of JWTs that name no other.
    pub fn default_audience(&self) -> &str {
        self.default_audience.as_deref().unwrap_or(&self.issuer)
    }
}

/// The authorization server: one value shared by every connection.
pub struct AuthServer<S: TokenStore = MemoryTokenStore> {
    config: AuthConfig,
    /// The registered clients, swapped whole when the clients file is re-read; each request
    /// reads it once.
    registry: RwLock<Arc<ClientRegistry>>,
    /// The tokens, the JWT denylist, the used assertions and the failure counters.
    store: Arc<S>,
    /// The paths served, under the issuer's path.
    routes: Routes,
    /// The metadata document, rendered again only when the signing keys change (its
    /// `jwks_uri` is there only while keys are loaded).
    metadata: RwLock<Bytes>,
    /// The signing keys, swapped whole when the keys directory is re-read.
    signing: RwLock<Arc<SigningKeys>>,
    /// One shared [`Grant`] per client and scope set, so tokens do not each carry copies.
    grants: RwLock<HashMap<token::GrantKey, Arc<Grant>>>,
    /// Client ids as shared strings, made again with each registry.
    client_ids: RwLock<Arc<HashMap<String, Arc<str>>>>,
    /// The CA of `tls_client_auth` certificates, swapped whole when its file is re-read (taken
    /// from the config at start, which keeps none).
    client_ca: RwLock<Option<Arc<h::ClientCa>>>,
    /// Tokens issued since start, for operators and for tests that count token requests.
    tokens_issued: AtomicU64,
    /// Refused authentications and throttled requests, for the metrics.
    counters: operations::AuthCounters,
    /// Requests, durations and connections, counted by the transport.
    metrics: ServerMetrics,
}

impl<S: TokenStore> std::fmt::Debug for AuthServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("issuer", &self.config.issuer)
            .field("clients", &self.registry().len())
            .finish_non_exhaustive()
    }
}

impl AuthServer<MemoryTokenStore> {
    /// An authorization server with the in-memory token store.
    pub fn new(registry: ClientRegistry, config: AuthConfig) -> Self {
        let store = MemoryTokenStore::with_policies(
            config.client_lockout.clone(),
            config.address_budget.clone(),
        );
        Self::with_store(registry, config, Arc::new(store))
    }

    /// Keys the brute-force limiters remember (per client id and address, per address):
    /// bounded by their policies' capacities however many ids or addresses an attacker invents.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn throttled_keys(&self) -> (usize, usize) {
        self.store.throttled_keys()
    }
}

impl<S: TokenStore> AuthServer<S> {
    /// Runs the store's housekeeping (the in-memory store sweeps expired tokens and throttle
    /// entries that say nothing any more) every `sweep_interval` until the returned task is
    /// aborted or the server is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let server = Arc::downgrade(self);
        let interval = self.config.sweep_interval;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(server) = server.upgrade() else {
                    return;
                };
                server.store.maintain(oauth::unix_now()).await;
            }
        })
    }

    pub fn with_store(registry: ClientRegistry, mut config: AuthConfig, store: Arc<S>) -> Self {
        let issuer = Issuer::parse(&config.issuer).ok();
        let routes = Routes::new(issuer.as_ref());
        let client_ca = config.client_ca.take().map(Arc::new);
        let mtls = client_ca.is_some();
        let metadata = metadata::render(&config.issuer, issuer.as_ref(), &registry, false, mtls);
        let client_ids = operations::interned_ids(&registry);
        let metrics = ServerMetrics::new(routes.all());
        AuthServer {
            config,
            registry: RwLock::new(Arc::new(registry)),
            store,
            routes,
            metadata: RwLock::new(metadata),
            signing: RwLock::new(Arc::new(SigningKeys::none())),
            grants: RwLock::new(HashMap::new()),
            client_ids: RwLock::new(Arc::new(client_ids)),
            client_ca: RwLock::new(client_ca),
            tokens_issued: AtomicU64::new(0),
            counters: operations::AuthCounters::default(),
            metrics,
        }
    }

    /// The server with `keys` loaded: it publishes them and, in the JWT format, signs with the
    /// one created last.
    pub fn with_signing_keys(self, keys: SigningKeys) -> Self {
        self.replace_signing_keys(keys);
        self
    }

    /// Swaps in a newly read keys directory (on SIGHUP): tokens are signed with its current
    /// key from now on, and the JWK Set and metadata publish exactly its keys.
    pub fn replace_signing_keys(&self, keys: SigningKeys) {
        if let Ok(mut signing) = self.signing.write() {
            *signing = Arc::new(keys);
        }
        self.render_metadata();
    }

    /// Renders the metadata document again from the clients and keys in use.
    fn render_metadata(&self) {
        let issuer = Issuer::parse(&self.config.issuer).ok();
        let has_keys = !self.signing_keys().is_empty();
        let rendered = metadata::render(
            &self.config.issuer,
            issuer.as_ref(),
            &self.registry(),
            has_keys,
            self.client_ca().is_some(),
        );
        if let Ok(mut metadata) = self.metadata.write() {
            *metadata = rendered;
        }
    }

    /// The signing keys in use now.
    pub fn signing_keys(&self) -> Arc<SigningKeys> {
        self.signing
            .read()
            .map(|keys| keys.clone())
            .unwrap_or_else(|_| Arc::new(SigningKeys::none()))
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The configuration the server was made with, less its `client_ca`: the server keeps that
    /// apart, since SIGHUP replaces it (see [`AuthServer::replace_client_ca`]).
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Access tokens issued since the server started.
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::Relaxed)
    }

    /// Answers one request whose body has already been read. This is the whole server minus
    /// the network: benches and tests call it directly.
    pub async fn respond(&self, parts: &Parts, body: &[u8], peer: IpAddr) -> Response<Body> {
        let route = self.routes.find(parts.uri.path());
        let is_get = parts.method == Method::GET || parts.method == Method::HEAD;
        let result = match route {
            Some(Route::Token | Route::Introspect | Route::Revoke)
                if parts.method != Method::POST =>
            {
                return oauth::method_not_allowed("POST")
            }
            Some(Route::Metadata | Route::Jwks | Route::Health | Route::Ready) if !is_get => {
                return oauth::method_not_allowed("GET, HEAD")
            }
            Some(Route::Metadata) => return self.metadata_response(),
            Some(Route::Jwks) => return self.jwks_response(),
            Some(Route::Health) => {
                return h::json_response(StatusCode::OK, &Health { status: "ok" })
            }
            Some(Route::Ready) => return self.readiness_response().await,
            None => return oauth::not_found(),
            Some(endpoint) => match Call::parse(parts, body, peer, endpoint) {
                Err(e) => Err(e),
                Ok(call) if endpoint == Route::Token => self.token(&call).await,
                Ok(call) if endpoint == Route::Introspect => self.introspect(&call).await,
                Ok(call) => self.revoke(&call).await,
            },
        };
        result.unwrap_or_else(|e| e.to_response())
    }
}

impl<S: TokenStore> Handler for AuthServer<S> {
    async fn handle(&self, req: Request<RequestBody>, peer: Peer) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = if parts.method == Method::POST {
            match h::read_body(body, self.config.max_body_bytes).await {
                Ok(body) => body,
                Err(e) => return oauth::body_error_response(e),
            }
        } else {
            Bytes::new()
        };
        self.respond(&parts, &body, peer.addr.ip()).await
    }

    fn refuse(&self, refusal: Refusal) -> Response<Body> {
        oauth::refusal_response(refusal)
    }

    fn metrics(&self) -> Option<&ServerMetrics> {
        Some(&self.metrics)
    }
}

/// A POST to one of the form endpoints, its body parsed.
struct Call<'a> {
    parts: &'a Parts,
    form: Form,
    peer: IpAddr,
}

impl<'a> Call<'a> {
    /// Parses the body as a form, after checking its media type. Only the token endpoint's
    /// `resource` may repeat (RFC 8707 §2); every other parameter appears at most once.
    fn parse(
        parts: &'a Parts,
        body: &[u8],
        peer: IpAddr,
        endpoint: Route,
    ) -> Result<Self, OAuthError> {
        if !h::is_form_urlencoded(&parts.headers) {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let repeatable: &[&str] = if endpoint == Route::Token {
            &["resource"]
        } else {
            &[]
        };
        let form = Form::parse_repeatable(body, repeatable)
            .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
        Ok(Call { parts, form, peer })
    }

    /// The `token` parameter of introspection and revocation.
    fn token_parameter(&self) -> Result<&str, OAuthError> {
        self.form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("the token parameter is required"))
    }
}

/// Marks a response with the client id for its access-log line.
fn label(response: &mut Response<Body>, client_id: &str) {
    response
        .extensions_mut()
        .insert(LogLabel::client(client_id));
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// Serves the authorization server on `listener` until `shutdown` resolves, sweeping expired
/// tokens in the background meanwhile.
pub async fn run<S: TokenStore>(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: h::Limits,
    server: Arc<AuthServer<S>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let sweeper = server.spawn_sweeper();
    h::serve(listener, tls, limits, server, shutdown).await;
    sweeper.abort();
}
