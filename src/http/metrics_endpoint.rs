//! The metrics listener (`--metrics-listen`): plain HTTP/1.1 for a scraper on loopback or a
//! private network, `GET /metrics` in the Prometheus text format, anything else 404.
//!
//! Owns: accepting scrapers (at most [`MAX_SCRAPERS`] connections at once, each head within
//! 5 s and each connection closed after 30 s, so the port cannot be used to hold the process'
//! files; a scraper simply connects again), the one route, and stopping with the service. No TLS: what it serves is counts, no
//! secret, and Prometheus scrapes plain HTTP by default. Does not own: the families (the
//! service's [`Source`]).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::Body;
use crate::metrics::{self, Exposition, Source};

/// Scraper connections served at once; more wait in the kernel's backlog.
pub const MAX_SCRAPERS: usize = 16;
/// The one path served.
pub const METRICS_PATH: &str = "/metrics";
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// Serves `source`'s metrics on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    source: Arc<dyn Source>,
    shutdown: impl Future<Output = ()>,
) {
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_SCRAPERS {
            // Full: the next scraper waits in the backlog until one of these ends.
            tokio::select! {
                _ = &mut shutdown => break,
                _ = connections.join_next() => continue,
            }
        }
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _)) = accepted else {
            // EMFILE and the like: the scraper retries; never spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let source = source.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = answer(&req, &*source);
                async move { Ok::<_, Infallible>(response) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(tcp), service);
            // However it is used, a connection ends after a while; a scraper reconnects.
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
        });
    }
    connections.shutdown().await;
}

/// The answer to one request on the metrics listener.
fn answer<B>(req: &Request<B>, source: &dyn Source) -> Response<Body> {
    let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
    if !is_get || req.uri().path() != METRICS_PATH {
        let mut response = Response::new(Body::new(Bytes::from_static(b"not found\n")));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let mut out = Exposition::new();
    source.write_metrics(&mut out);
    let mut response = Response::new(Body::new(Bytes::from(out.finish())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}
