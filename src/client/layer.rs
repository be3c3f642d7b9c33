//! The self-renewing client as tower middleware for outgoing requests: [`BearerLayer`] wraps
//! any HTTP client service (`tower::Service<http::Request<Full<Bytes>>>`, such as
//! hyper-util's client) in [`WithToken`].
//!
//! Each request gets `Authorization: Bearer` with the [`TokenClient`]'s token, which is
//! fetched, shared and renewed before expiry exactly as for [`TokenClient::call`]; a 401 with
//! `error="invalid_token"` from the resource drops that token and sends the request once more
//! with a new one (at most once per request, and a refused token is replaced at most once a
//! second across all requests). Requests carry their body as [`Bytes`] so that the one retry
//! can send it again.
//!
//! Owns: the layer and its service. Does not own: the token (the client).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower_layer::Layer;
use tower_service::Service;

use super::token_request::{says_invalid_token, with_bearer};
use super::{TokenClient, TokenError};

/// A [`tower_layer::Layer`] that sends every request with a [`TokenClient`]'s token.
#[derive(Clone, Debug)]
pub struct BearerLayer {
    client: TokenClient,
}

impl BearerLayer {
    pub fn new(client: TokenClient) -> Self {
        BearerLayer { client }
    }
}

impl<S> Layer<S> for BearerLayer {
    type Service = WithToken<S>;

    fn layer(&self, inner: S) -> WithToken<S> {
        WithToken {
            inner,
            client: self.client.clone(),
        }
    }
}

/// An HTTP client service whose requests carry a managed token (made by [`BearerLayer`]).
#[derive(Clone, Debug)]
pub struct WithToken<S> {
    inner: S,
    client: TokenClient,
}

/// Why a request through [`WithToken`] got no answer.
#[derive(Debug, thiserror::Error)]
pub enum WithTokenError<E> {
    /// No token could be had (see [`TokenError`]).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The inner service failed.
    #[error("the request failed: {0}")]
    Inner(#[source] E),
}

/// The future of a [`WithToken`] service's answer.
pub type WithTokenFuture<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<B>, WithTokenError<E>>> + Send>>;

impl<S, ResBody> Service<Request<Bytes>> for WithToken<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = WithTokenError<S::Error>;
    type Future = WithTokenFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(WithTokenError::Inner)
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        // The service polled ready takes the first send; a clone stays for the next call.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let client = self.client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut retried = false;
            loop {
                let token = client.usable_token().await?;
                let outgoing = with_bearer(&parts, &body, &token)?;
                if retried {
                    std::future::poll_fn(|cx| inner.poll_ready(cx))
                        .await
                        .map_err(WithTokenError::Inner)?;
                }
                let response = inner.call(outgoing).await.map_err(WithTokenError::Inner)?;
                if !retried
                    && says_invalid_token(response.status(), response.headers())
                    && client.replace_refused(&token)
                {
                    retried = true;
                    continue;
                }
                return Ok(response);
            }
        })
    }
}
