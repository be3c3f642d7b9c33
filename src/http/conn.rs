//! One connection: HTTP/1.1 or HTTP/2 by the ALPN result, its timers, and the checks made
//! before a request reaches the handler.
//!
//! Owns:
//! - the head timer: HTTP/1 request heads are bounded in time ([`Limits::head_timeout`]).
//!   hyper has a header-read timeout, but its timer also runs while a keep-alive connection
//!   waits for its next request, which would cap keep-alive at the head timeout; so the timer
//!   here starts at the first byte of a request and stops when hyper hands the request over;
//! - the idle timer: a connection with no request in flight closes after
//!   [`Limits::idle_timeout`]; HTTP/2 also sends keep-alive pings so dead peers are noticed;
//! - size bounds on heads and HTTP/2 streams (431 beyond), and the [`Refusal`]s;
//! - the access-log line of every request, and HEAD answers without a body on HTTP/2.
//!
//! Time is tokio's clock, like every timer in the crate. Does not own: accepting or the
//! connection cap (`server`), what a request means (the [`Handler`]).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{CONTENT_ENCODING, HOST, TRANSFER_ENCODING};
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Body, Handler, Limits, Peer, Refusal};
use crate::access_log;

/// Per-connection clock shared by the IO wrapper, the service wrapper and the watcher loop.
struct ConnClock {
    origin: Instant,
    /// Requests handed to the service and not yet answered.
    in_flight: AtomicU32,
    /// When the last request was answered (ms since `origin`): the start of idleness.
    last_done_ms: AtomicU64,
    /// When the first byte of a not-yet-complete HTTP/1 request head arrived, or `NO_HEAD`.
    head_started_ms: AtomicU64,
    /// Wakes the connection's watcher when a head starts, so it arms the head timer at once
    /// instead of at its next idle deadline.
    head_started: tokio::sync::Notify,
}

const NO_HEAD: u64 = u64::MAX;

impl ConnClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

/// Decrements the in-flight count when a request's future ends, answered or dropped.
struct InFlight(Arc<ConnClock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .last_done_ms
            .store(self.0.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) async fn serve_connection<H: Handler>(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    is_h2: bool,
    peer: Peer,
    limits: Arc<Limits>,
    handler: Arc<H>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let clock = Arc::new(ConnClock {
        origin: Instant::now(),
        in_flight: AtomicU32::new(0),
        last_done_ms: AtomicU64::new(0),
        head_started_ms: AtomicU64::new(NO_HEAD),
        head_started: tokio::sync::Notify::new(),
    });
    let io = TokioIo::new(ClockedIo {
        inner: tls,
        clock: clock.clone(),
        track_heads: !is_h2,
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
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        service_clock.in_flight.fetch_add(1, Ordering::Relaxed);
        service_clock
            .head_started_ms
            .store(NO_HEAD, Ordering::Relaxed);
        let guard = InFlight(service_clock.clone());
        let handler = handler.clone();
        async move {
            let _guard = guard;
            let started = Instant::now();
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let mut response = match refusal_of(&req, max_head) {
                Some(refusal) => handler.refuse(refusal),
                None => handler.handle(req, peer).await,
            };
            access_log::request(&method, &path, &response, started.elapsed());
            if method == http::Method::HEAD {
                // hyper drops a HEAD response's body on HTTP/1 but would send it on HTTP/2,
                // where DATA frames after a HEAD are a protocol error.
                *response.body_mut() = Body::default();
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });

    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    let mut stop_seen = false;
    let head_timeout_ms = limits.head_timeout.as_millis() as u64;
    let idle_timeout_ms = limits.idle_timeout.as_millis() as u64;
    loop {
        let now = clock.now_ms();
        let head_started = clock.head_started_ms.load(Ordering::Relaxed);
        let deadline_ms = if closing {
            // A connection asked to close gets a short while to flush, then is cut.
            now + 5_000
        } else if head_started != NO_HEAD {
            head_started + head_timeout_ms
        } else if clock.in_flight.load(Ordering::Relaxed) == 0 {
            clock.last_done_ms.load(Ordering::Relaxed) + idle_timeout_ms
        } else {
            now + idle_timeout_ms
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
                if head_started != NO_HEAD && now >= head_started + head_timeout_ms {
                    // A request head that does not arrive in time: a slow or stuck client.
                    return;
                }
                let idle_since = clock.last_done_ms.load(Ordering::Relaxed);
                if head_started == NO_HEAD
                    && clock.in_flight.load(Ordering::Relaxed) == 0
                    && now >= idle_since + idle_timeout_ms
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

/// The TLS stream, noting when an HTTP/1 request head starts arriving.
struct ClockedIo<T> {
    inner: T,
    clock: Arc<ConnClock>,
    track_heads: bool,
}

impl<T: AsyncRead + Unpin> AsyncRead for ClockedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.track_heads
            && buf.filled().len() > before
            && self.clock.in_flight.load(Ordering::Relaxed) == 0
            && self.clock.head_started_ms.load(Ordering::Relaxed) == NO_HEAD
        {
            let now = self.clock.now_ms();
            self.clock.head_started_ms.store(now, Ordering::Relaxed);
            self.clock.head_started.notify_one();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ClockedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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
