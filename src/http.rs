//! The transport: TLS, HTTP/1.1 and HTTP/2 serving, limits and timers, graceful shutdown,
//! request bodies, responses that know HTTP only, and the outgoing HTTPS client.
//!
//! This is the bottom layer (docs/ARCHITECTURE.md): it knows nothing of OAuth and imports no
//! module above it, only the [`access_log`](crate::access_log) and [`metrics`](crate::metrics)
//! leaves. A service is a
//! [`Handler`]: it gets each request with the [`Peer`] it came from and returns a complete
//! response. Requests the transport refuses before any handler sees them (a bad `Host`, an
//! unsupported coding, a head too large) are rendered by the handler's [`Handler::refuse`],
//! so the transport decides *that* a request is refused and the service decides how the error
//! body reads.
//!
//! Parts:
//! - [`tls`]: PEM loading (one loader for both directions), the server and client
//!   configurations, ring as the one crypto provider.
//! - `client_cert`: client certificates, asked for and never required: the listener's
//!   verifier, [`ClientCertificate`] (a request extension on every request of a connection
//!   that presented one) and [`ClientCa`] (does a chain lead to a given CA).
//! - `server`: binding, the accept loop with the connection caps, the shutdown signal and drain.
//! - `per_address`: live connections per remote address, and [`address_key`], the key an
//!   address counts under (also the authorization server's throttle key).
//! - `conn`: one connection: HTTP/1.1 or HTTP/2 by ALPN, the head, body and idle timers, the
//!   checks made before a request reaches the handler.
//! - `clock`: a connection's clock, and the evidence of a pipelined head in hyper's buffer.
//! - [`Limits`]: every bound the transport enforces, as plain data.
//! - `body`: [`RequestBody`] (a request's body with its deadline), and reading a whole body
//!   under a size limit, for requests and answers alike.
//! - `response`: small response helpers (JSON, `Allow`, the form media type check).
//! - [`outbound`]: the pooled HTTPS client services use to call each other.
//! - `request_metrics`: [`ServerMetrics`], the requests, durations and connections every
//!   service counts; `metrics_endpoint`: the plain-HTTP `/metrics` listener.
//! - `server_cert`: [`ServerCertificate`], the certificate and key a server presents, swapped
//!   whole when they are re-read (SIGHUP).

mod body;
mod client_cert;
mod clock;
mod conn;
mod limits;
mod metrics_endpoint;
pub mod outbound;
mod per_address;
mod request_metrics;
mod response;
mod server;
mod server_cert;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;

pub use body::{read_body, read_limited, BodyError, RequestBody, RequestBodyError};
pub use client_cert::{ClientCa, ClientCertificate};
pub use limits::Limits;
pub use metrics_endpoint::{serve_metrics, METRICS_PATH};
pub use outbound::{Answer, Outbound, OutboundError};
pub use per_address::address_key;
pub use request_metrics::{ServerMetrics, OTHER_ROUTE};
pub use response::{is_form_urlencoded, json_response, json_text_response, with_allow};
pub use server::{bind, serve, shutdown_signal};
pub use server_cert::ServerCertificate;
pub use tls::TlsSetupError;
pub use tls::{
    crypto_provider, server_tls, server_tls_config, server_tls_config_with, ClientIdentity,
};

/// The one response body type of every tollgate service: responses are small and complete.
pub type Body = Full<Bytes>;

/// What a service needs to know about the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
}

/// A request handler: one per server, shared by all connections.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `req`. Its body fails with [`RequestBodyError::TimedOut`] (read as
    /// [`BodyError::TimedOut`]) once it is overdue: answer 408, and the transport closes an
    /// HTTP/1 connection after it. A handler that never reads the body is not held up by it.
    fn handle(
        &self,
        req: Request<RequestBody>,
        peer: Peer,
    ) -> impl Future<Output = Response<Body>> + Send;

    /// The answer to a request the transport refused before [`Handler::handle`]; by default a
    /// plain-text body naming the reason.
    fn refuse(&self, refusal: Refusal) -> Response<Body> {
        response::plain_refusal(refusal)
    }

    /// Where the transport counts this service's requests and connections; by default
    /// nowhere.
    fn metrics(&self) -> Option<&ServerMetrics> {
        None
    }
}

/// A request the transport refuses on its own, whatever the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An HTTP/1.1 request without exactly one valid `Host` (RFC 9112 §3.2): 400.
    BadHost,
    /// A transfer coding other than `chunked`: 400. hyper frames by the final `chunked` and
    /// would hand the handler bytes still encoded.
    TransferCoding,
    /// A content coding: 415. Every endpoint here takes plain bodies.
    ContentCoding,
    /// A request head over [`Limits::max_head_bytes`] (HTTP/2 heads; HTTP/1 heads are cut by
    /// hyper's buffer limit): 431.
    HeadTooLarge,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::BadHost | Refusal::TransferCoding => StatusCode::BAD_REQUEST,
            Refusal::ContentCoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    /// A sentence for the error body; fixed text, never an echo of the request.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BadHost => "an HTTP/1.1 request needs exactly one valid Host header",
            Refusal::TransferCoding => "only the chunked transfer coding is supported",
            Refusal::ContentCoding => "content codings are not supported; send the body as it is",
            Refusal::HeadTooLarge => "Request Header Fields Too Large",
        }
    }
}
