//! One connection: HTTP/1.1 or HTTP/2 by the ALPN result, its timers, and the checks made
//! before a request reaches the handler.
//!
//! Owns:
//! - the head timer: HTTP/1 request heads are bounded in time ([`Limits::head_timeout`]).
//!   hyper has a header-read timeout, but its timer also runs while a keep-alive connection
//!   waits for its next request, which would cap keep-alive at the head timeout; so the timer
//!   here starts at the first byte of a request (or when a request completes with a next
//!   head possibly in hyper's buffer, see `clock`) and stops when hyper hands the request over;
//! - the body deadline: each request's body is a [`RequestBody`] due
//!   [`Limits::body_timeout`] after its head was handed over; a 408 on HTTP/1 closes the
//!   connection;
//! - the idle timer: a connection with no request in flight closes after
//!   [`Limits::idle_timeout`]; HTTP/2 also sends keep-alive pings so dead peers are noticed;
//! - size bounds on heads and HTTP/2 streams (431 beyond), and the [`Refusal`]s;
//! - the access-log line and the metrics of every request, and HEAD answers without a body on
//!   HTTP/2;
//! - the connection's [`ClientCertificate`], if its peer presented one, as an extension of
//!   each of its requests.
//!
//! Time is tokio's clock, like every timer in the crate. Does not own: the clock's state and
//! the evidence of pipelined bytes (`clock`), accepting or the connection caps (`server`),
//! what a request means (the [`Handler`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, CONNECTION, CONTENT_ENCODING, HOST, TRANSFER_ENCODING};
use http::{Request, StatusCode};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::watch;
use tokio::time::Instant;

use super::clock::{ClockedIo, ConnClock, NO_HEAD};
use super::{Body, ClientCertificate, Handler, Limits, Peer, Refusal, RequestBody};
use crate::access_log;

pub(super) async fn serve_connection<H: Handler>(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    is_h2: bool,
    peer: Peer,
    client_cert: Option<ClientCertificate>,
    limits: Arc<Limits>,
    handler: Arc<H>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let clock = Arc::new(ConnClock::new(!is_h2));
    let io = TokioIo::new(ClockedIo {
        inner: tls,
        clock: clock.clone(),
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The head timeout is enforced below (see the module doc); hyper's own would also cut
        // idle keep-alive connections.
        .header_read_timeout(None)
        .max_buf_size(limits.max_head_bytes.max(Limits::MIN_HEAD_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_streams)
        .max_header_list_size(limits.h2_max_header_bytes)
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = if is_h2 {
        builder.http2_only()
    } else {
        builder.http1_only()
    };

    let service_clock = clock.clone();
    let max_head = limits.max_head_bytes;
    // Capped so that adding it to an instant cannot overflow, whatever the flag said.
    let body_timeout = limits
        .body_timeout
        .min(Duration::from_secs(365 * 24 * 3600));
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let started = Instant::now();
        let guard = service_clock.request_started(req.body().size_hint().exact());
        let mut req = req.map(|body| RequestBody::new(body, started + body_timeout));
        if let Some(cert) = &client_cert {
            req.extensions_mut().insert(cert.clone());
        }
        let handler = handler.clone();
        async move {
            let _guard = guard;
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let mut response = match refusal_of(&req, max_head) {
                Some(refusal) => handler.refuse(refusal),
                None => handler.handle(req, peer).await,
            };
            let elapsed = started.elapsed();
            access_log::request(&method, &path, &response, elapsed);
            if let Some(metrics) = handler.metrics() {
                metrics.observe(&path, response.status(), elapsed);
            }
            if method == http::Method::HEAD {
                // hyper drops a HEAD response's body on HTTP/1 but would send it on HTTP/2,
                // where DATA frames after a HEAD are a protocol error.
                *response.body_mut() = Body::default();
            }
            if !is_h2 && response.status() == StatusCode::REQUEST_TIMEOUT {
                // The rest of a late body would be read as the next request: close instead
                // (RFC 9110 §15.5.9). HTTP/2 has no such header; its stream simply ends.
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });

    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    let mut stop_seen = false;
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let head_timeout_ms = millis(limits.head_timeout);
    let idle_timeout_ms = millis(limits.idle_timeout);
    loop {
        let now = clock.now_ms();
        let head_started = clock.head_started_ms.load(Ordering::Relaxed);
        let deadline_ms = if closing {
            // A connection asked to close gets a short while to flush, then is cut.
            now + 5_000
        } else if head_started != NO_HEAD {
            head_started.saturating_add(head_timeout_ms)
        } else if clock.in_flight.load(Ordering::Relaxed) == 0 {
            clock
                .last_done_ms
                .load(Ordering::Relaxed)
                .saturating_add(idle_timeout_ms)
        } else {
            now.saturating_add(idle_timeout_ms)
        };
        let sleep = tokio::time::sleep(Duration::from_millis(deadline_ms.saturating_sub(now)));
        tokio::select! {
            _ = conn.as_mut() => return,
            // Re-plan the deadline: a request head has begun.
            _ = clock.head_started.notified() => {}
            changed = stop_rx.changed(), if !stop_seen => {
                stop_seen = true;
                if changed.is_ok() && !closing {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
            _ = sleep => {
                if closing {
                    return;
                }
                let now = clock.now_ms();
                let head_started = clock.head_started_ms.load(Ordering::Relaxed);
                if head_started != NO_HEAD && now >= head_started.saturating_add(head_timeout_ms) {
                    // A request head that does not arrive in time: a slow or stuck client.
                    return;
                }
                let idle_since = clock.last_done_ms.load(Ordering::Relaxed);
                if head_started == NO_HEAD
                    && clock.in_flight.load(Ordering::Relaxed) == 0
                    && now >= idle_since.saturating_add(idle_timeout_ms)
                {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Why no tollgate service could read this request correctly, if it cannot.
fn refusal_of<B>(req: &Request<B>, max_head: usize) -> Option<Refusal> {
    if head_size(req) > max_head {
        // HTTP/2 heads are bounded by the header-list limit; this covers the rest.
        return Some(Refusal::HeadTooLarge);
    }
    let headers = req.headers();
    if req.version() == http::Version::HTTP_11 {
        let mut hosts = headers.get_all(HOST).iter();
        let valid_host = match (hosts.next(), hosts.next()) {
            (Some(host), None) => host
                .to_str()
                .ok()
                .and_then(|h| h.parse::<http::uri::Authority>().ok())
                .is_some(),
            _ => false,
        };
        if !valid_host {
            return Some(Refusal::BadHost);
        }
    }
    let mut codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if codings.any(|coding| !coding.eq_ignore_ascii_case("chunked")) {
        return Some(Refusal::TransferCoding);
    }
    let encoded = headers.get_all(CONTENT_ENCODING).iter().any(|v| {
        !v.to_str()
            .is_ok_and(|e| e.trim().eq_ignore_ascii_case("identity"))
    });
    encoded.then_some(Refusal::ContentCoding)
}

/// An approximate size of a request head, for the HTTP/1 head limit on HTTP/2 requests.
fn head_size<B>(req: &Request<B>) -> usize {
    let uri = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + uri
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: http::Version, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().uri("/x").version(version);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn http11_needs_exactly_one_valid_host() {
        let v11 = http::Version::HTTP_11;
        assert_eq!(refusal_of(&request(v11, &[("host", "a")]), 16384), None);
        assert_eq!(
            refusal_of(&request(v11, &[]), 16384),
            Some(Refusal::BadHost)
        );
        assert_eq!(
            refusal_of(&request(v11, &[("host", "a"), ("host", "b")]), 16384),
            Some(Refusal::BadHost)
        );
        assert_eq!(
            refusal_of(&request(http::Version::HTTP_2, &[]), 16384),
            None
        );
    }

    #[test]
    fn codings_other_than_chunked_and_identity_are_refused() {
        let v2 = http::Version::HTTP_2;
        assert_eq!(
            refusal_of(
                &request(v2, &[("transfer-encoding", "gzip, chunked")]),
                16384
            ),
            Some(Refusal::TransferCoding)
        );
        assert_eq!(
            refusal_of(&request(v2, &[("content-encoding", "identity")]), 16384),
            None
        );
        assert_eq!(
            refusal_of(&request(v2, &[("content-encoding", "gzip")]), 16384),
            Some(Refusal::ContentCoding)
        );
        let big = "x".repeat(200);
        assert_eq!(
            refusal_of(&request(v2, &[("x-big", &big)]), 100),
            Some(Refusal::HeadTooLarge)
        );
    }
}
