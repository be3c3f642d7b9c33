//! TLS and HTTP plumbing shared by every tollgate service; nothing here knows OAuth.
//!
//! Owns: loading the server certificate, the TLS listener (TLS 1.2 and 1.3, ALPN `h2` and
//! `http/1.1`), serving HTTP/1.1 or HTTP/2 through hyper-util according to the ALPN result, the
//! per-connection limits and timers, graceful shutdown, the access log hook, and small helpers
//! for bodies and responses. Does not own: routing or any endpoint's meaning (the services do),
//! nor outgoing requests (see [`crate::outbound`]).
//!
//! Limits and why they exist:
//! - TLS handshake bounded ([`Limits::handshake_timeout`]), and the connection cap counts
//!   handshaking connections too, so half-open connections cannot exhaust it.
//! - HTTP/1 request head bounded in time ([`Limits::head_timeout`]). hyper has a header-read
//!   timeout, but its timer also runs while a keep-alive connection waits for its next request,
//!   which would cap keep-alive at the head timeout; so the head timer here starts at the first
//!   byte of a request and stops when hyper hands the request to the service.
//! - Idle connections (no request in flight) close after [`Limits::idle_timeout`]; HTTP/2 also
//!   sends keep-alive pings so dead peers are noticed.
//! - Heads, HTTP/2 streams and bodies are bounded in size (431 and 413 beyond).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::access_log;

/// The one response body type of every tollgate service: responses are small and complete.
pub type Body = Full<Bytes>;

/// What a service needs to know about the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
}

/// A request handler: one per server, shared by all connections.
pub trait Handler: Send + Sync + 'static {
    fn handle(
        &self,
        req: Request<Incoming>,
        peer: Peer,
    ) -> impl Future<Output = Response<Body>> + Send;
}

/// A short label a handler attaches to a response (as an extension) for the access log, such
/// as the authenticated client id. It must never hold a secret or a token.
#[derive(Clone, Debug)]
pub struct LogLabel(pub String);

/// Server limits; every one has a default and a command-line flag (see [`Limits::parse_flag`]).
#[derive(Clone, Debug)]
pub struct Limits {
    pub handshake_timeout: Duration,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_body_bytes: usize,
    pub max_head_bytes: usize,
    pub h2_max_streams: u32,
    pub h2_max_header_bytes: u32,
    /// How long in-flight requests may run after a shutdown signal before connections are cut.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(5),
            head_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_body_bytes: 16 * 1024,
            max_head_bytes: 16 * 1024,
            h2_max_streams: 128,
            h2_max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The flags [`Limits::parse_flag`] understands, for usage texts.
    pub const FLAGS_HELP: &'static str =
        "  --handshake-timeout SECS  (5)   --head-timeout SECS (5)   --idle-timeout SECS (60)
  --max-connections N (4096)     --max-body-bytes N (16384) --max-head-bytes N (16384)
  --h2-max-streams N (128)       --h2-max-header-bytes N (16384)  --shutdown-grace SECS (10)";

    /// Applies one limit flag; `Ok(false)` when the flag is not a limit flag.
    pub fn parse_flag(&mut self, flag: &str, value: &str) -> Result<bool, String> {
        let secs = || parse_number(flag, value).map(Duration::from_secs);
        match flag {
            "--handshake-timeout" => self.handshake_timeout = secs()?,
            "--head-timeout" => self.head_timeout = secs()?,
            "--idle-timeout" => self.idle_timeout = secs()?,
            "--shutdown-grace" => self.shutdown_grace = secs()?,
            "--max-connections" => self.max_connections = parse_number(flag, value)? as usize,
            "--max-body-bytes" => self.max_body_bytes = parse_number(flag, value)? as usize,
            "--max-head-bytes" => {
                // hyper refuses a read buffer below 8 KiB.
                self.max_head_bytes = (parse_number(flag, value)? as usize).max(8192)
            }
            "--h2-max-streams" => self.h2_max_streams = parse_u32(flag, value)?,
            "--h2-max-header-bytes" => self.h2_max_header_bytes = parse_u32(flag, value)?,
            _ => return Ok(false),
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        Ok(true)
    }
}

fn parse_number(flag: &str, value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .map_err(|_| format!("{flag} takes a non-negative whole number, not {value:?}"))
}

fn parse_u32(flag: &str, value: &str) -> Result<u32, String> {
    value
        .parse::<u32>()
        .map_err(|_| format!("{flag} takes a whole number up to 4294967295, not {value:?}"))
}

/// Failures to set up TLS, with the file they concern.
#[derive(Debug)]
pub enum TlsSetupError {
    Read { path: String, detail: String },
    NoCertificate { path: String },
    Rustls(rustls::Error),
}

impl std::fmt::Display for TlsSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsSetupError::Read { path, detail } => write!(f, "cannot read {path}: {detail}"),
            TlsSetupError::NoCertificate { path } => {
                write!(f, "{path} holds no PEM certificate")
            }
            TlsSetupError::Rustls(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

impl std::error::Error for TlsSetupError {}

/// The crypto provider of every TLS configuration in tollgate: ring, chosen explicitly so that
/// no second provider can be compiled in or picked by default.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM certificate chain and private key into a server configuration offering TLS 1.3
/// and 1.2 and ALPN `h2`, `http/1.1`.
pub fn server_tls_config(
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let read_err = |path: &Path, e: rustls::pki_types::pem::Error| TlsSetupError::Read {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| read_err(cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_err(cert_path, e))?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate {
            path: cert_path.display().to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| read_err(key_path, e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsSetupError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsSetupError::Rustls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Binds a listening socket. Rust's listener sets `SO_REUSEADDR`, so a restarted server can
/// bind the same port at once even while old connections sit in TIME_WAIT.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves `handler` on `listener` over TLS until `shutdown` resolves, then stops accepting,
/// lets in-flight requests finish for at most [`Limits::shutdown_grace`], cuts the rest, and
/// returns. Accept errors (EMFILE and the like) are retried with backoff, never fatal.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: Limits,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut accept_backoff = Duration::from_millis(5);
    tokio::pin!(shutdown);

    loop {
        // Reap finished connection tasks so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        // The permit is taken before accept: at the cap, new connections wait in the kernel's
        // backlog instead of costing memory here.
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed; stop rather than spin
            },
        };
        let (tcp, addr) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    accept_backoff = Duration::from_millis(5);
                    accepted
                }
                Err(e) => {
                    access_log::event(format_args!("accept failed: {e}; retrying in {accept_backoff:?}"));
                    tokio::time::sleep(accept_backoff).await;
                    accept_backoff = (accept_backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let limits = limits.clone();
        let handler = handler.clone();
        let stop_rx = stop_rx.clone();
        connections.spawn(async move {
            let _permit = permit;
            let tls =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    // A failed or slow handshake is the peer's problem; nothing to answer.
                    Ok(Err(_)) | Err(_) => return,
                };
            let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            serve_connection(tls, is_h2, Peer { addr }, limits, handler, stop_rx).await;
        });
    }

    // Stop accepting at once, so that a restarted server can bind the port.
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        access_log::event(format_args!(
            "shutdown: {} connection(s) still busy after {:?}; closing them",
            connections.len(),
            limits.shutdown_grace
        ));
        connections.shutdown().await;
    }
    access_log::flush();
}

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

async fn serve_connection<H: Handler>(
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
        .max_buf_size(limits.max_head_bytes);
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
            let mut response = if head_size(&req) > max_head {
                // HTTP/2 heads are bounded by the header-list limit; this covers the rest.
                status_response(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            } else if let Some(refusal) = refuse_message(&req) {
                refusal
            } else {
                handler.handle(req, peer).await
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
    loop {
        let now = clock.now_ms();
        let head_started = clock.head_started_ms.load(Ordering::Relaxed);
        let deadline_ms = if closing {
            // A connection asked to close gets a short while to flush, then is cut.
            now + 5_000
        } else if head_started != NO_HEAD {
            head_started + limits.head_timeout.as_millis() as u64
        } else if clock.in_flight.load(Ordering::Relaxed) == 0 {
            clock.last_done_ms.load(Ordering::Relaxed) + limits.idle_timeout.as_millis() as u64
        } else {
            now + limits.idle_timeout.as_millis() as u64
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
                if head_started != NO_HEAD
                    && now >= head_started + limits.head_timeout.as_millis() as u64
                {
                    // A request head that does not arrive in time: a slow or stuck client.
                    return;
                }
                let idle_since = clock.last_done_ms.load(Ordering::Relaxed);
                if head_started == NO_HEAD
                    && clock.in_flight.load(Ordering::Relaxed) == 0
                    && now >= idle_since + limits.idle_timeout.as_millis() as u64
                {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// Requests no tollgate service can read correctly, refused before any handler sees them:
/// an HTTP/1.1 request without exactly one valid Host (RFC 9112 §3.2 requires 400), a transfer
/// coding other than chunked (hyper frames by the final `chunked` and would hand the handler
/// bytes still encoded), or a content coding (our endpoints take plain forms only).
fn refuse_message<B>(req: &Request<B>) -> Option<Response<Body>> {
    use http::header::{CONTENT_ENCODING, HOST, TRANSFER_ENCODING};
    let bad_request = |description| {
        Some(json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            description,
        ))
    };
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
            return bad_request("an HTTP/1.1 request needs exactly one valid Host header");
        }
    }
    let codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty());
    for coding in codings {
        if !coding.eq_ignore_ascii_case("chunked") {
            return bad_request("only the chunked transfer coding is supported");
        }
    }
    let encoded = headers.get_all(CONTENT_ENCODING).iter().any(|v| {
        !v.to_str()
            .is_ok_and(|e| e.trim().eq_ignore_ascii_case("identity"))
    });
    if encoded {
        return Some(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "content codings are not supported; send the body as it is",
        ));
    }
    None
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

/// Why a request body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit: answer 413.
    TooLarge,
    /// The peer broke off or sent a malformed body: answer 400.
    Unreadable,
}

/// Reads a whole request body of at most `limit` bytes, refusing early when the declared length
/// is already too large.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

/// True when the request declares `application/x-www-form-urlencoded`, compared
/// case-insensitively with any parameters (such as `charset`) ignored.
pub fn is_form_urlencoded(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// A JSON response. Every JSON answer of tollgate is marked `no-store`: token responses must
/// be (RFC 6749 §5.1), and nothing else here is worth caching either.
pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A JSON `{"error": ..., "error_description": ...}` response.
pub fn json_error(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    #[derive(serde::Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    json_response(
        status,
        &ErrorBody {
            error,
            error_description: description,
        },
    )
}

/// A response with a status and a JSON error named after it.
pub fn status_response(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("error");
    let code = reason.to_ascii_lowercase().replace(' ', "_");
    json_error(status, &code, reason)
}

/// 404 for a path no route matches.
pub fn not_found() -> Response<Body> {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// 405 with the `Allow` header listing the methods the path accepts.
pub fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("this endpoint accepts {allow}"),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// The response for a body that could not be read.
pub fn body_error_response(error: BodyError) -> Response<Body> {
    match error {
        BodyError::TooLarge => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large",
        ),
        BodyError::Unreadable => json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request body could not be read",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_with(content_types: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in content_types {
            headers.append(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn form_media_type_ignores_case_and_parameters() {
        assert!(is_form_urlencoded(&headers_with(&[
            "application/x-www-form-urlencoded"
        ])));
        assert!(is_form_urlencoded(&headers_with(&[
            "Application/X-WWW-Form-URLEncoded;charset=UTF-8"
        ])));
        assert!(is_form_urlencoded(&headers_with(&[
            " application/x-www-form-urlencoded ; charset=utf-8"
        ])));
    }

    #[test]
    fn other_or_missing_or_repeated_media_types_are_not_forms() {
        assert!(!is_form_urlencoded(&headers_with(&[])));
        assert!(!is_form_urlencoded(&headers_with(&["application/json"])));
        assert!(!is_form_urlencoded(&headers_with(&["multipart/form-data"])));
        assert!(!is_form_urlencoded(&headers_with(&[
            "application/x-www-form-urlencodedx"
        ])));
        assert!(!is_form_urlencoded(&headers_with(&[
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded"
        ])));
    }

    #[test]
    fn limit_flags_parse_and_reject_garbage() {
        let mut limits = Limits::default();
        assert_eq!(limits.parse_flag("--max-connections", "10"), Ok(true));
        assert_eq!(limits.max_connections, 10);
        assert_eq!(limits.parse_flag("--head-timeout", "2"), Ok(true));
        assert_eq!(limits.head_timeout, Duration::from_secs(2));
        assert!(limits.parse_flag("--max-connections", "-1").is_err());
        assert!(limits.parse_flag("--max-connections", "0").is_err());
        assert_eq!(limits.parse_flag("--listen", "x"), Ok(false));
    }
}
