//! The OAuth 2.0 authorization server: client-credentials tokens and what goes with them.
//!
//! | route                                       | RFC                          |
//! |---------------------------------------------|------------------------------|
//! | `POST /oauth/token`                         | RFC 6749 §4.4, §5, §2.3.1    |
//! | `POST /oauth/introspect`                    | RFC 7662                     |
//! | `POST /oauth/revoke`                        | RFC 7009                     |
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414                   |
//! | `GET /healthz`                              | liveness                     |
//!
//! Owns: routing, the endpoint handlers, client authentication with brute-force throttling,
//! and the token lifecycle. Submodules own the pieces: [`clients`] (registry and clients
//! file), [`credentials`] (finding credentials in a request), [`tokens`] (the store),
//! [`throttle`] (lockouts), [`error`] (error responses). Does not own: sockets, TLS or limits
//! (see [`crate::http`]).

pub mod clients;
pub mod credentials;
pub mod error;
pub mod throttle;
pub mod tokens;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use crate::form::Form;
use crate::http::{self as h, Body, Handler, LogLabel, Peer};
use crate::secret::{self, sha256};
use clients::{is_valid_scope_token, Client, ClientRegistry, Verdict};
use error::OAuthError;
use throttle::{Policy, Throttle};
use tokens::{Grant, MemoryTokenStore, TokenRecord, TokenStore};

pub const TOKEN_PATH: &str = "/oauth/token";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub const HEALTH_PATH: &str = "/healthz";

/// Settings of the authorization server.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// The issuer identifier (RFC 8414 §2), used byte for byte in metadata and introspection.
    pub issuer: String,
    /// Lifetime of issued access tokens.
    pub token_ttl: Duration,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// How often expired tokens are swept from the in-memory store.
    pub sweep_interval: Duration,
    pub client_throttle: Policy,
    pub address_throttle: Policy,
}

impl AuthConfig {
    pub fn new(issuer: impl Into<String>) -> Self {
        AuthConfig {
            issuer: issuer.into(),
            token_ttl: Duration::from_secs(3600),
            max_body_bytes: 16 * 1024,
            sweep_interval: Duration::from_secs(5),
            client_throttle: Policy::per_client(),
            address_throttle: Policy::per_address(),
        }
    }
}

/// The authorization server: a cheap handle shared by every connection.
pub struct AuthServer<S: TokenStore = MemoryTokenStore> {
    config: AuthConfig,
    registry: ClientRegistry,
    store: Arc<S>,
    client_throttle: Throttle,
    address_throttle: Throttle,
    /// The metadata document, rendered once: it never changes while the server runs.
    metadata: Bytes,
    /// One shared [`Grant`] per client and scope set, so tokens do not each carry copies.
    grants: RwLock<HashMap<GrantKey, Arc<Grant>>>,
    /// Client ids as shared strings, made once.
    client_ids: HashMap<String, Arc<str>>,
    /// Tokens issued since start, for operators and for tests that count token requests.
    tokens_issued: AtomicU64,
}

/// A client id and a granted scope string.
type GrantKey = (Arc<str>, Box<str>);

/// Most distinct grants interned; beyond it a grant is allocated per token.
const MAX_INTERNED_GRANTS: usize = 4096;

impl<S: TokenStore> std::fmt::Debug for AuthServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("issuer", &self.config.issuer)
            .field("clients", &self.registry.len())
            .finish_non_exhaustive()
    }
}

impl AuthServer<MemoryTokenStore> {
    /// An authorization server with the in-memory token store.
    pub fn new(registry: ClientRegistry, config: AuthConfig) -> Self {
        Self::with_store(registry, config, Arc::new(MemoryTokenStore::new()))
    }

    /// Sweeps expired tokens every `sweep_interval` until the returned task is aborted or the
    /// server is dropped.
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
                server.store.sweep(unix_now()).await;
            }
        })
    }
}

impl<S: TokenStore> AuthServer<S> {
    pub fn with_store(registry: ClientRegistry, config: AuthConfig, store: Arc<S>) -> Self {
        let metadata = render_metadata(&config.issuer, &registry);
        let client_ids = registry
            .all_ids()
            .map(|id| (id.to_owned(), Arc::from(id)))
            .collect();
        AuthServer {
            client_throttle: Throttle::new(config.client_throttle.clone()),
            address_throttle: Throttle::new(config.address_throttle.clone()),
            config,
            registry,
            store,
            metadata,
            grants: RwLock::new(HashMap::new()),
            client_ids,
            tokens_issued: AtomicU64::new(0),
        }
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Keys the brute-force limiters remember (per client id, per address): bounded by their
    /// policies' capacities however many ids an attacker invents.
    pub fn throttled_keys(&self) -> (usize, usize) {
        (self.client_throttle.len(), self.address_throttle.len())
    }

    /// Access tokens issued since the server started.
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::Relaxed)
    }

    /// Answers one request whose body has already been read. This is the whole server minus
    /// the network: benches and tests call it directly.
    pub async fn respond(&self, parts: &Parts, body: &[u8], peer: IpAddr) -> Response<Body> {
        let path = parts.uri.path();
        let is_post = parts.method == Method::POST;
        let result = match path {
            TOKEN_PATH | INTROSPECT_PATH | REVOKE_PATH if !is_post => {
                return h::method_not_allowed("POST")
            }
            TOKEN_PATH => self.token(parts, body, peer).await,
            INTROSPECT_PATH => self.introspect(parts, body, peer).await,
            REVOKE_PATH => self.revoke(parts, body, peer).await,
            METADATA_PATH | HEALTH_PATH
                if parts.method != Method::GET && parts.method != Method::HEAD =>
            {
                return h::method_not_allowed("GET, HEAD")
            }
            METADATA_PATH => return self.metadata_response(),
            HEALTH_PATH => return h::json_response(StatusCode::OK, &Health { status: "ok" }),
            _ => return h::not_found(),
        };
        result.unwrap_or_else(|e| e.to_response())
    }

    fn metadata_response(&self) -> Response<Body> {
        let mut response = Response::new(Body::new(self.metadata.clone()));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        response
    }

    /// Parses a POST body as a form, after checking its media type.
    fn form(parts: &Parts, body: &[u8]) -> Result<Form, OAuthError> {
        if !h::is_form_urlencoded(&parts.headers) {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Form::parse(body).map_err(|e| OAuthError::invalid_request(e.to_string()))
    }

    /// Authenticates the client of a request, with brute-force throttling per client id and
    /// per remote address.
    async fn authenticate(
        &self,
        parts: &Parts,
        form: &Form,
        peer: IpAddr,
    ) -> Result<&Client, OAuthError> {
        let presented = credentials::extract(&parts.headers, form, parts.uri.query())?;
        let challenge = presented.method == credentials::AuthMethod::Basic;
        let now = Instant::now();
        let address_key = peer_key(peer);
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

    async fn token(
        &self,
        parts: &Parts,
        body: &[u8],
        peer: IpAddr,
    ) -> Result<Response<Body>, OAuthError> {
        let form = Self::form(parts, body)?;
        match form.get("grant_type") {
            None => {
                return Err(OAuthError::invalid_request(
                    "the grant_type parameter is required",
                ))
            }
            Some("client_credentials") => {}
            Some(_) => return Err(OAuthError::UnsupportedGrantType),
        }
        let client = self.authenticate(parts, &form, peer).await?;
        let scope = granted_scope(client, form.get("scope"))?;
        let grant = self.grant(client, scope);

        let token = secret::random_secret()
            .map_err(|_| OAuthError::Unavailable("cannot make a token right now"))?;
        let iat = unix_now();
        let ttl = self.config.token_ttl.as_secs();
        let record = TokenRecord {
            grant: grant.clone(),
            iat,
            exp: iat.saturating_add(ttl),
        };
        self.store
            .insert(sha256(token.expose().as_bytes()), record)
            .await
            .map_err(|_| OAuthError::Unavailable("the token store is unavailable"))?;
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
        let mut response = h::json_response(
            StatusCode::OK,
            &TokenResponse {
                access_token: token.expose(),
                token_type: "Bearer",
                expires_in: ttl,
                scope: &grant.scope,
            },
        );
        label(&mut response, &client.id);
        Ok(response)
    }

    async fn introspect(
        &self,
        parts: &Parts,
        body: &[u8],
        peer: IpAddr,
    ) -> Result<Response<Body>, OAuthError> {
        let form = Self::form(parts, body)?;
        let caller = self.authenticate(parts, &form, peer).await?;
        if !caller.introspect {
            return Err(OAuthError::Forbidden(
                "this client is not allowed to introspect tokens",
            ));
        }
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("the token parameter is required"))?;
        let record = self
            .store
            .get(&sha256(token.as_bytes()), unix_now())
            .await
            .map_err(|_| OAuthError::Unavailable("the token store is unavailable"))?;
        let mut response = match record {
            Some(record) => h::json_response(
                StatusCode::OK,
                &ActiveToken {
                    active: true,
                    scope: &record.grant.scope,
                    client_id: &record.grant.client_id,
                    token_type: "Bearer",
                    exp: record.exp,
                    iat: record.iat,
                    iss: &self.config.issuer,
                },
            ),
            None => h::json_response(StatusCode::OK, &InactiveToken { active: false }),
        };
        label(&mut response, &caller.id);
        Ok(response)
    }

    async fn revoke(
        &self,
        parts: &Parts,
        body: &[u8],
        peer: IpAddr,
    ) -> Result<Response<Body>, OAuthError> {
        let form = Self::form(parts, body)?;
        let caller = self.authenticate(parts, &form, peer).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("the token parameter is required"))?;
        // RFC 7009 §2.2: the same answer whether or not anything was revoked, so the endpoint
        // tells nobody which tokens exist or whose they are.
        self.store
            .revoke(&sha256(token.as_bytes()), &caller.id)
            .await
            .map_err(|_| OAuthError::Unavailable("the token store is unavailable"))?;
        let mut response = Response::new(Body::default());
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        label(&mut response, &caller.id);
        Ok(response)
    }

    /// The shared grant for a client and scope string.
    fn grant(&self, client: &Client, scope: String) -> Arc<Grant> {
        let client_id = self
            .client_ids
            .get(&client.id)
            .cloned()
            .unwrap_or_else(|| Arc::from(client.id.as_str()));
        let key = (client_id, scope.into_boxed_str());
        if let Ok(grants) = self.grants.read() {
            if let Some(grant) = grants.get(&key) {
                return grant.clone();
            }
        }
        let grant = Arc::new(Grant {
            client_id: key.0.clone(),
            scope: key.1.clone(),
        });
        if let Ok(mut grants) = self.grants.write() {
            if grants.len() < MAX_INTERNED_GRANTS {
                return grants.entry(key).or_insert(grant).clone();
            }
        }
        grant
    }
}

impl<S: TokenStore> Handler for AuthServer<S> {
    async fn handle(&self, req: Request<Incoming>, peer: Peer) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = if parts.method == Method::POST {
            match h::read_body(body, self.config.max_body_bytes).await {
                Ok(body) => body,
                Err(e) => return h::body_error_response(e),
            }
        } else {
            Bytes::new()
        };
        self.respond(&parts, &body, peer.addr.ip()).await
    }
}

/// The scope to grant: the requested scopes (each of which the client must have), or all of
/// the client's scopes when none is requested. Listed in the client's registered order, so the
/// same set always reads the same.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client.scopes.join(" "));
    };
    let mut wanted: Vec<&str> = Vec::new();
    for token in requested.split(' ').filter(|t| !t.is_empty()) {
        if !is_valid_scope_token(token) {
            return Err(OAuthError::InvalidScope(
                "the scope parameter is malformed (RFC 6749 §3.3)".into(),
            ));
        }
        if !client.scopes.iter().any(|s| s == token) {
            return Err(OAuthError::InvalidScope(
                "a requested scope is not granted to this client".into(),
            ));
        }
        wanted.push(token);
    }
    if wanted.is_empty() {
        return Ok(client.scopes.join(" "));
    }
    Ok(client
        .scopes
        .iter()
        .filter(|s| wanted.contains(&s.as_str()))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" "))
}

/// The throttle key of a remote address. IPv6 clients usually own a whole /64, so that is
/// the unit; an IPv4-mapped address counts as its IPv4 address. The first byte tells the
/// families apart.
fn peer_key(peer: IpAddr) -> [u8; 9] {
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

fn label(response: &mut Response<Body>, client_id: &str) {
    response
        .extensions_mut()
        .insert(LogLabel(format!("client_id={client_id}")));
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    scope: &'a str,
}

#[derive(Serialize)]
struct ActiveToken<'a> {
    active: bool,
    scope: &'a str,
    client_id: &'a str,
    token_type: &'static str,
    exp: u64,
    iat: u64,
    iss: &'a str,
}

#[derive(Serialize)]
struct InactiveToken {
    active: bool,
}

#[derive(Serialize)]
struct Metadata<'a> {
    issuer: &'a str,
    token_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    response_types_supported: [&'static str; 0],
    grant_types_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 2],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    revocation_endpoint_auth_methods_supported: [&'static str; 2],
    scopes_supported: Vec<String>,
}

fn render_metadata(issuer: &str, registry: &ClientRegistry) -> Bytes {
    const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];
    let metadata = Metadata {
        issuer,
        token_endpoint: format!("{issuer}{TOKEN_PATH}"),
        introspection_endpoint: format!("{issuer}{INTROSPECT_PATH}"),
        revocation_endpoint: format!("{issuer}{REVOKE_PATH}"),
        response_types_supported: [],
        grant_types_supported: ["client_credentials"],
        token_endpoint_auth_methods_supported: AUTH_METHODS,
        introspection_endpoint_auth_methods_supported: AUTH_METHODS,
        revocation_endpoint_auth_methods_supported: AUTH_METHODS,
        scopes_supported: registry.all_scopes(),
    };
    Bytes::from(serde_json::to_vec(&metadata).unwrap_or_default())
}

/// Serves the authorization server on `listener` until `shutdown` resolves, sweeping expired
/// tokens in the background meanwhile.
pub async fn run(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: h::Limits,
    server: Arc<AuthServer>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let sweeper = server.spawn_sweeper();
    h::serve(listener, tls, limits, server, shutdown).await;
    sweeper.abort();
}
