//! The guard as tower middleware: [`TokenGuardLayer`] wraps any
//! `tower::Service<http::Request<B>>` (an axum router, a hyper service) in [`Guarded`].
//!
//! A request without a valid token for the required scope is answered by the guard itself,
//! exactly as [`TokenGuard::authorize`] answers it (401, 400, 403, 503, with their
//! `WWW-Authenticate`), and never reaches the inner service. A request that passes reaches it
//! with the [`Caller`] (client id, scopes, audiences, `exp`) in its extensions, for the
//! handler to read (`Extension<Caller>` in axum).
//!
//! The caller's address, which the guard shares its introspections out by, is read from the
//! request's extensions: tollgate's [`Peer`], a [`SocketAddr`], or what the function given to
//! [`TokenGuardLayer::with_peer`] finds (axum's `ConnectInfo`, say). A request whose address is
//! not known counts under one shared unknown address, so unknown callers together hold at most
//! one address's places and never the whole guard.
//!
//! A certificate-bound token (RFC 8705) passes only with the connection's certificate as a
//! [`ClientCertificate`] in the request's extensions, as tollgate's transport puts it; behind
//! another server's TLS it is refused, never accepted unbound.
//!
//! Owns: the layer and its service. Does not own: the decision (the guard).

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Extensions, Request, Response};
use http_body_util::Either;
use tower_layer::Layer;
use tower_service::Service;

use super::{Caller, TokenGuard};
use crate::http::ClientCertificate;
use crate::http::{Body, Peer};

/// Finds a request's remote address in its extensions.
pub type PeerOf = fn(&Extensions) -> Option<IpAddr>;

/// A [`tower_layer::Layer`] that puts a [`TokenGuard`] in front of a service, requiring
/// `required_scope` (space-separated; every scope in it) of each request's token.
#[derive(Clone)]
pub struct TokenGuardLayer {
    guard: TokenGuard,
    required_scope: Arc<str>,
    peer_of: PeerOf,
}

impl fmt::Debug for TokenGuardLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGuardLayer")
            .field("guard", &self.guard)
            .field("required_scope", &self.required_scope)
            .finish_non_exhaustive()
    }
}

/// tollgate's [`Peer`], else a [`SocketAddr`], from a request's extensions.
fn peer_in_extensions(extensions: &Extensions) -> Option<IpAddr> {
    let peer = extensions.get::<Peer>().map(|peer| peer.addr.ip());
    peer.or_else(|| extensions.get::<SocketAddr>().map(SocketAddr::ip))
}

impl TokenGuardLayer {
    pub fn new(guard: TokenGuard, required_scope: impl Into<String>) -> Self {
        TokenGuardLayer {
            guard,
            required_scope: required_scope.into().into(),
            peer_of: peer_in_extensions,
        }
    }

    /// Reads the caller's address with `peer_of` instead of looking for a [`Peer`] or a
    /// [`SocketAddr`] in the extensions.
    pub fn with_peer(mut self, peer_of: PeerOf) -> Self {
        self.peer_of = peer_of;
        self
    }
}

impl<S> Layer<S> for TokenGuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service behind a [`TokenGuard`] (made by [`TokenGuardLayer`]).
#[derive(Clone, Debug)]
pub struct Guarded<S> {
    inner: S,
    layer: TokenGuardLayer,
}

/// The future of a [`Guarded`] service's answer.
pub type GuardedFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for Guarded<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    /// The guard's own answers are tollgate bodies; the inner service's pass through as they are.
    type Response = Response<Either<Body, ResBody>>;
    type Error = S::Error;
    type Future = GuardedFuture<Either<Body, ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The service polled ready is the one that must take the call: keep it, leave a clone.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let layer = self.layer.clone();
        Box::pin(async move {
            let unknown = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
            let peer = (layer.peer_of)(req.extensions()).unwrap_or(unknown);
            // A certificate-bound token needs the connection's certificate: tollgate's transport
            // puts it in the extensions; without one, a bound token is refused (fail closed).
            let certificate = req.extensions().get::<ClientCertificate>();
            let verdict = layer
                .guard
                .authorize_on(req.headers(), &layer.required_scope, peer, certificate)
                .await;
            match verdict {
                Ok(caller) => {
                    req.extensions_mut().insert::<Caller>(caller);
                    let response = inner.call(req).await?;
                    Ok(response.map(Either::Right))
                }
                Err(refusal) => Ok(refusal.map(Either::Left)),
            }
        })
    }
}
