//! Protecting a hyper service with bearer tokens: [`TokenGuard`] (RFC 6750, RFC 7662).
//!
//! A service hands the guard a request's headers, the address it came from and the scope the
//! route needs, and gets either the [`Caller`] or a finished error response:
//!
//! | situation                                           | answer                                     |
//! |-----------------------------------------------------|--------------------------------------------|
//! | no bearer token in `Authorization` (§2.1, §3.1)      | 401, `WWW-Authenticate: Bearer realm=".."` |
//! | malformed `Authorization: Bearer ...` (§3.1)         | 400 `invalid_request`                      |
//! | token unknown, expired or revoked (§3.1)             | 401 `error="invalid_token"`                |
//! | token bound to another client certificate, or to one the connection lacks (RFC 8705 §3) | 401 `error="invalid_token"` |
//! | token valid without the needed scope (§3.1)          | 403 `error="insufficient_scope"`, `scope`  |
//! | authorization server unreachable, token not cached  | 503 with `Retry-After`, never a guess      |
//!
//! Tokens are read from the `Authorization` header only: one in the query or the body is
//! ignored (the request counts as having none), so tokens stay out of URLs and logs. The
//! scheme name is case-insensitive.
//!
//! Owns: the guard's decision for a request (here), with its parts: `bearer` (reading the
//! header, RFC 6750 answers), `introspection` (asking the authorization server, reading its
//! answer), `cache` (remembered answers), `binding` (certificate-bound tokens, checked on every
//! request, cache hits included), `slots` (the capacity for introspections under way,
//! shared fairly between caller addresses), `flight` (the single flight of concurrent
//! introspections of one token and their cancellation). Does not own: discovering the
//! endpoints (see [`crate::discovery`]), connections (see [`crate::http::outbound`]), or
//! routing (the service).
//!
//! Introspections under way are bounded twice (see `slots`): at most
//! [`MAX_INTROSPECTIONS_PER_ADDRESS`] (16 by default) for the requests of one caller address
//! (an IPv6 address by its /64) and [`MAX_INTROSPECTIONS`] (96) in all. A request with an uncached token
//! that finds no place gets 503 at once. So one address flooding made-up tokens holds at most
//! 16 places and another address's valid token finds one free; and since 96 is below the
//! authorization server's HTTP/2 stream limit (128 by default), no introspection waits behind
//! the flood's in the outgoing connection's stream queue either. Tokens are opaque (RFC 6749
//! §1.4): nothing about a token's length or form short-cuts the introspection, beyond refusing
//! one longer than 4 KiB.
//!
//! Each introspection runs in a task of its own, so that its answer is cached even when the
//! request that started it goes away while others wait; a shared introspection counts against
//! the address of the request that started it. When every request waiting on it has gone (its
//! caller hung up), it is cancelled and its place freed at once, so a flood that gives up
//! leaves no work behind.
//!
//! The cache is keyed by SHA-256 of the token, so no token is kept in memory beyond the
//! request. An entry lives at most `min(token exp, cache TTL)`; "inactive" answers live a few
//! seconds so a flood of bad tokens is not a flood of introspections; only definite answers
//! (a 200 with a well-formed body) are cached, never a timeout, a refused connection or a 5xx.
//! Revocation therefore takes effect within the cache TTL.

mod bearer;
mod binding;
mod cache;
mod flight;
mod introspection;
mod jwks;
mod jwt;
mod layer;
mod metrics;
mod slots;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, Response};

use crate::discovery::Discovered;
use crate::http::{Body, ClientCertificate, Outbound};
use crate::metrics::Outcomes;
use crate::oauth::{basic_authorization, unix_now};
use crate::secret::{sha256, SecretString};
use bearer::{bearer_token, refusal_response, Refusal};
use cache::Cache;
use flight::VerdictSender;
use jwks::JwksCache;
use jwt::JwtValidator;
use slots::{AddressKey, Slots};

pub use bearer::parse_bearer;
pub use layer::{Guarded, GuardedFuture, TokenGuardLayer};

/// The longest cache TTL accepted; larger settings are lowered to it.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(30);
/// How long an "inactive" answer is remembered.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(3);
/// Most cached introspection answers.
pub const MAX_CACHE_ENTRIES: usize = 100_000;
/// Longest token looked at; longer ones are not ours and are refused without introspection.
const MAX_TOKEN_LEN: usize = 4096;
/// Most introspections under way at once. Beyond it a request with an uncached token gets 503
/// at once: a flood of distinct made-up tokens must not become a flood of introspection calls
/// that would crowd out the real ones at the authorization server. Below the authorization
/// server's HTTP/2 stream limit (128 by default), so that hyper never queues an introspection
/// behind others on the pooled connection.
pub const MAX_INTROSPECTIONS: usize = 96;
/// Most introspections under way for the requests of one caller address (an IPv6 address by
/// its /64), so that one address cannot take the places another address's tokens need.
pub const MAX_INTROSPECTIONS_PER_ADDRESS: usize = 16;
/// Longest time one introspection may take, discovery included. Shorter than a caller's
/// whole-request timeout (2 s), so a hanging authorization server reaches the caller as this
/// service's 503 rather than as the caller's own timeout.
pub const INTROSPECTION_BUDGET: Duration = Duration::from_millis(1500);

/// Settings of a [`TokenGuard`]. `Debug` is safe: the secret prints as `[redacted]`.
#[derive(Clone, Debug)]
pub struct GuardConfig {
    /// The `realm` of every challenge.
    pub realm: String,
    /// The resource server's own client id, for introspection.
    pub client_id: String,
    pub client_secret: SecretString,
    /// Longest time an introspection answer is trusted; at most [`MAX_CACHE_TTL`].
    pub cache_ttl: Duration,
    pub negative_ttl: Duration,
    pub max_cache_entries: usize,
    /// How tokens are validated.
    pub validation: Validation,
    /// The audience (RFC 8707) this resource server is: a token must name it. With `None`
    /// tokens are not checked for an audience (introspection only: `jwt` validation refuses
    /// every token without one).
    pub audience: Option<String>,
    /// Clock skew allowed for `exp`, `nbf` and `iat` in `jwt` validation.
    pub clock_leeway: Duration,
    /// Most introspections under way in all ([`MAX_INTROSPECTIONS`]); keep it below the
    /// authorization server's HTTP/2 stream limit.
    pub max_introspections: usize,
    /// Most introspections under way per caller address ([`MAX_INTROSPECTIONS_PER_ADDRESS`]).
    pub max_introspections_per_address: usize,
}

/// How the guard validates a token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validation {
    /// Ask the authorization server (RFC 7662): sees revocation within the cache TTL.
    #[default]
    Introspect,
    /// Check the JWT's signature and claims locally (RFC 9068) with the keys of the
    /// discovered `jwks_uri`: keeps working while the authorization server is down, but sees
    /// revocation only when the token expires.
    Jwt,
}

/// Clock skew allowed by default (`--clock-leeway`).
pub const DEFAULT_CLOCK_LEEWAY: Duration = Duration::from_secs(30);

impl GuardConfig {
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        GuardConfig {
            realm: "tollgate".into(),
            client_id: client_id.into(),
            client_secret,
            cache_ttl: MAX_CACHE_TTL,
            negative_ttl: NEGATIVE_TTL,
            max_cache_entries: MAX_CACHE_ENTRIES,
            validation: Validation::Introspect,
            audience: None,
            clock_leeway: DEFAULT_CLOCK_LEEWAY,
            max_introspections: MAX_INTROSPECTIONS,
            max_introspections_per_address: MAX_INTROSPECTIONS_PER_ADDRESS,
        }
    }
}

/// Who is calling, as the authorization server described the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client_id: String,
    pub scopes: Vec<String>,
    /// When the token expires, seconds since the Unix epoch, if the server said.
    pub exp: Option<u64>,
    /// The resources the token is for (RFC 8707); empty: no audience restriction.
    pub audiences: Vec<String>,
    /// The SHA-256 of the client certificate the token is bound to (RFC 8705 §3), if it is.
    pub certificate_sha256: Option<[u8; 32]>,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The scopes space-separated, as in OAuth messages.
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }
}

/// The bearer-token guard. Cheap to clone: clones share the cache and the connections.
#[derive(Clone)]
pub struct TokenGuard {
    inner: Arc<Inner>,
}

struct Inner {
    config: GuardConfig,
    /// `Authorization` value for introspection requests, made once.
    basic: SecretString,
    discovered: Arc<Discovered>,
    outbound: Outbound,
    cache: Mutex<Cache>,
    /// Introspections under way, by token hash: later requests for the same token subscribe
    /// to the first one's answer instead of asking again. The map holds the sender, never a
    /// receiver, so the receivers are exactly the requests still waiting.
    in_flight: Mutex<HashMap<[u8; 32], Arc<VerdictSender>>>,
    /// Introspection requests answered or given up, by outcome (`active`, `inactive`,
    /// `error`), for operators and tests.
    introspections: Outcomes<3>,
    /// Requests answered from the cache (introspection answers or verified JWTs).
    cache_hits: AtomicU64,
    /// Local validation, in `jwt` mode; its JWK Set is fetched in either mode only when used.
    jwt: Option<JwtValidator>,
    /// The authorization server's keys (used by `jwt`), kept here so both modes can report
    /// their fetches.
    jwks: Arc<JwksCache>,
    /// Places for introspections under way, in all and per caller address.
    slots: Arc<Slots>,
}

impl fmt::Debug for TokenGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGuard")
            .field("issuer", &self.inner.discovered.issuer())
            .field("config", &self.inner.config)
            .field("introspections", &self.introspections())
            .field("introspections_under_way", &self.introspections_under_way())
            .finish_non_exhaustive()
    }
}

/// What introspection said about a token.
#[derive(Clone, Debug)]
enum Verdict {
    Active(Arc<Caller>),
    Inactive,
    /// No definite answer: the server could not be reached or answered an error.
    Unavailable,
}

impl TokenGuard {
    /// A guard validating tokens with the authorization server `discovered` names.
    pub fn new(config: GuardConfig, discovered: Arc<Discovered>, outbound: Outbound) -> Self {
        let mut config = config;
        config.cache_ttl = config.cache_ttl.min(MAX_CACHE_TTL);
        config.negative_ttl = config.negative_ttl.min(config.cache_ttl);
        let basic = basic_authorization(&config.client_id, &config.client_secret);
        let jwks = Arc::new(JwksCache::new(discovered.clone(), outbound.clone()));
        if config.validation == Validation::Jwt {
            jwks.prefetch();
        }
        let jwt = match (config.validation, &config.audience) {
            (Validation::Jwt, audience) => Some(JwtValidator {
                keys: jwks.clone(),
                issuer: discovered.issuer().to_owned(),
                // No audience configured: nothing can match, so every token is refused
                // (fail closed; the binary refuses to start that way).
                audience: audience.clone().unwrap_or_default(),
                leeway: config.clock_leeway,
            }),
            (Validation::Introspect, _) => None,
        };
        TokenGuard {
            inner: Arc::new(Inner {
                basic,
                discovered,
                outbound,
                cache: Mutex::new(Cache::default()),
                in_flight: Mutex::new(HashMap::new()),
                introspections: Outcomes::new(introspection::OUTCOMES),
                cache_hits: AtomicU64::new(0),
                slots: Arc::new(Slots::new(
                    config.max_introspections,
                    config.max_introspections_per_address,
                )),
                jwt,
                jwks,
                config,
            }),
        }
    }

    /// Requests whose token was judged from the cache, without asking anyone or checking a
    /// signature.
    pub fn cache_hits(&self) -> u64 {
        self.inner.cache_hits.load(Ordering::Relaxed)
    }

    /// JWK Set requests sent since the guard was made (`jwt` validation).
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.jwks.fetches()
    }

    /// The authorization server's metadata holder this guard waits on.
    pub fn discovered(&self) -> &Arc<Discovered> {
        &self.inner.discovered
    }

    /// Introspection requests sent since the guard was made (counted when they end).
    pub fn introspections(&self) -> u64 {
        self.inner.introspections.total()
    }

    /// Introspections under way now (each holding a place, see [`MAX_INTROSPECTIONS`]).
    pub fn introspections_under_way(&self) -> usize {
        self.inner.slots.held()
    }

    /// The caller of a request from `peer` whose token is valid and carries every scope of
    /// `required_scope` (space-separated), or the response to send instead. `peer` is the
    /// address the request came from: introspections are shared fairly between addresses.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        required_scope: &str,
        peer: IpAddr,
    ) -> Result<Caller, Response<Body>> {
        self.authorize_on(headers, required_scope, peer, None).await
    }

    /// [`TokenGuard::authorize`] for a request on a connection that presented `certificate`:
    /// a certificate-bound token is accepted only with the certificate it is bound to.
    pub async fn authorize_on(
        &self,
        headers: &HeaderMap,
        required_scope: &str,
        peer: IpAddr,
        certificate: Option<&ClientCertificate>,
    ) -> Result<Caller, Response<Body>> {
        self.authorize_shared(headers, required_scope, peer, certificate)
            .await
            .map(|caller| Caller::clone(&caller))
    }

    /// [`TokenGuard::authorize_on`] handing on the cached caller itself, for a handler that
    /// only reads it: no copy of its strings per request.
    pub(crate) async fn authorize_shared(
        &self,
        headers: &HeaderMap,
        required_scope: &str,
        peer: IpAddr,
        certificate: Option<&ClientCertificate>,
    ) -> Result<Arc<Caller>, Response<Body>> {
        let presented = certificate.map(ClientCertificate::leaf_sha256);
        self.check(headers, required_scope, AddressKey::of(peer), presented)
            .await
            .map_err(|refusal| refusal_response(refusal, &self.inner.config.realm))
    }

    async fn check(
        &self,
        headers: &HeaderMap,
        required_scope: &str,
        peer: AddressKey,
        certificate: Option<&[u8; 32]>,
    ) -> Result<Arc<Caller>, Refusal> {
        let token = bearer_token(headers)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(Refusal::InvalidToken);
        }
        let verdict = match &self.inner.jwt {
            Some(jwt) => self.local_verdict(jwt, token).await,
            None => self.verdict(token, peer).await,
        };
        let caller = match verdict {
            Verdict::Active(caller) => caller,
            Verdict::Inactive => return Err(Refusal::InvalidToken),
            Verdict::Unavailable => return Err(Refusal::Unavailable),
        };
        // RFC 8707: a token for other resources, or for none in particular, is not for us.
        if let Some(audience) = &self.inner.config.audience {
            if !caller.audiences.iter().any(|a| a == audience) {
                return Err(Refusal::InvalidToken);
            }
        }
        if !binding::holds(caller.certificate_sha256.as_ref(), certificate) {
            return Err(Refusal::InvalidToken);
        }
        // An entry may outlive the token by less than a second of rounding; never the token.
        if caller.exp.is_some_and(|exp| exp <= unix_now()) {
            return Err(Refusal::InvalidToken);
        }
        let missing = required_scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .any(|s| !caller.has_scope(s));
        if missing {
            return Err(Refusal::InsufficientScope(required_scope.to_owned()));
        }
        Ok(caller)
    }

    /// The verdict of local validation, cached by token hash: a repeated token costs a hash
    /// and a lookup, not a signature check. An unknown `kid` is never remembered (the next
    /// JWK Set may know it).
    async fn local_verdict(&self, jwt: &JwtValidator, token: &str) -> Verdict {
        let key = sha256(token.as_bytes());
        if let Some(verdict) = self.cached(&key) {
            return verdict;
        }
        let result = jwt.validate(token, MAX_TOKEN_LEN).await;
        let verdict = Verdict::from(result.clone());
        if result.err() != Some(jwt::Refused::UnknownKid) {
            self.remember_for(key, &verdict, None);
        }
        verdict
    }
}
