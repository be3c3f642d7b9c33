//! Outgoing HTTPS requests: the one pooled client every tollgate service uses to call another.
//!
//! Owns: the TLS client configuration (ring, TLS 1.3 and 1.2, trusting exactly the CA it is
//! given and nothing else, presenting a client certificate when given one), the pooled keep-alive connections (hyper-util's legacy client over
//! hyper-rustls, ALPN `h2` and `http/1.1`), the time bounds (1 s to connect, 2 s for a whole
//! request including its one retry), the retry of a request that met a pooled connection the
//! peer had already closed (as after the peer restarted), and reading a bounded response body.
//! Errors say whether the peer could not be reached in time or answered something unusable;
//! an HTTP answer of any status is not an error here. Does not own: what requests mean (the
//! layers above), nor logging: error texts name the target URL without its query, never a
//! header or body, so they hold no token or secret; [`Answer`]'s `Debug` shows no body.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::time::Instant;

use super::body::{describe, read_limited, BodyError};
use super::tls::{client_tls_config, load_certificates, ClientIdentity, TlsSetupError};

/// Time allowed to open a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Time allowed for a whole request: connecting, TLS, sending, the answer and its body, and
/// the retry on a fresh connection if there is one.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response body read; the services here only ever get small JSON documents.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// How long an idle pooled connection is kept. Below the servers' 60 s idle timeout, so the
/// client usually closes first and seldom picks a connection the server is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pooled HTTPS client. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Outbound {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    request_timeout: Duration,
    max_response_bytes: usize,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("request_timeout", &self.request_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// A complete HTTP answer, whatever its status.
#[derive(Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The body may hold a token or a secret (a token response): `Debug` shows its length and the
/// header names only.
impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// No connection could be made or kept (refused, reset, TLS failure, name not resolved).
    #[error("{target} is unreachable: {detail}")]
    Unreachable { target: String, detail: String },
    /// The time for the whole request ran out.
    #[error("{target} did not answer within {REQUEST_TIMEOUT:?}")]
    TimedOut { target: String },
    /// The answer's body was larger than allowed.
    #[error("{target} answered with a body over {MAX_RESPONSE_BYTES} bytes")]
    TooLarge { target: String },
    /// The request could not be made (a URL that is not absolute `https`, for example).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl OutboundError {
    /// Whether the peer could not be reached at all, in time or at all (as opposed to an
    /// answer that could not be used).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            OutboundError::Unreachable { .. } | OutboundError::TimedOut { .. }
        )
    }
}

impl Outbound {
    /// A client trusting only the certificate(s) in the PEM file `ca_path`.
    pub fn new(ca_path: &Path) -> Result<Outbound, TlsSetupError> {
        Outbound::with_identity(ca_path, None)
    }

    /// [`Outbound::new`] presenting `identity`'s certificate to every server that asks.
    pub fn with_identity(
        ca_path: &Path,
        identity: Option<ClientIdentity>,
    ) -> Result<Outbound, TlsSetupError> {
        let certs = load_certificates(ca_path)?;
        Outbound::from_tls(client_tls_config(
            &ca_path.display().to_string(),
            certs,
            identity,
        )?)
    }

    /// A client trusting only `certs`; `origin` names where they came from in errors.
    pub fn with_ca_certificates(
        origin: &str,
        certs: Vec<CertificateDer<'static>>,
    ) -> Result<Outbound, TlsSetupError> {
        Outbound::from_tls(client_tls_config(origin, certs, None)?)
    }

    fn from_tls(tls: rustls::ClientConfig) -> Result<Outbound, TlsSetupError> {
        let mut http = HttpConnector::new();
        // The TLS layer above needs the connector to accept `https` URLs.
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(https);
        Ok(Outbound {
            client,
            request_timeout: REQUEST_TIMEOUT,
            max_response_bytes: MAX_RESPONSE_BYTES,
        })
    }

    /// Sends `request` and reads the whole answer, within [`REQUEST_TIMEOUT`]. When the
    /// connection taken from the pool turns out to be closed by the peer before an answer
    /// came, an idempotent request (GET, HEAD, PUT, DELETE, OPTIONS) is sent once more on a
    /// fresh connection, within the same time; any other is not, since the peer may have acted
    /// on it already (see [`Outbound::send_repeatable`]).
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Answer, OutboundError> {
        let repeatable = request.method().is_idempotent();
        self.send_with(request, repeatable).await
    }

    /// [`Outbound::send`] for a request that may be repeated whatever its method: its effect,
    /// if any, is harmless twice (an introspection, which changes nothing; a token request,
    /// whose second token merely replaces the first).
    pub async fn send_repeatable(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Answer, OutboundError> {
        self.send_with(request, true).await
    }

    async fn send_with(
        &self,
        request: Request<Full<Bytes>>,
        repeatable: bool,
    ) -> Result<Answer, OutboundError> {
        let (parts, body) = request.into_parts();
        let target = target_of(&parts.uri);
        if parts.uri.scheme_str() != Some("https") || parts.uri.host().is_none() {
            return Err(OutboundError::InvalidRequest(format!(
                "{target} is not an absolute https URL"
            )));
        }
        let deadline = Instant::now() + self.request_timeout;
        let rebuild = || {
            let mut request = Request::new(body.clone());
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = parts.uri.clone();
            *request.headers_mut() = parts.headers.clone();
            request
        };
        let attempt = |request| tokio::time::timeout_at(deadline, self.attempt(request, &target));
        let first = match attempt(rebuild()).await {
            Err(_elapsed) => return Err(OutboundError::TimedOut { target }),
            Ok(result) => result,
        };
        match first {
            Ok(answer) => Ok(answer),
            Err(Attempt::Failed(e)) => Err(e),
            Err(Attempt::StaleConnection(e)) if !repeatable => Err(e),
            Err(Attempt::StaleConnection(_)) => match attempt(rebuild()).await {
                Err(_elapsed) => Err(OutboundError::TimedOut { target }),
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(Attempt::Failed(e) | Attempt::StaleConnection(e))) => Err(e),
            },
        }
    }

    async fn attempt(
        &self,
        request: Request<Full<Bytes>>,
        target: &str,
    ) -> Result<Answer, Attempt> {
        let response = self.client.request(request).await.map_err(|e| {
            let failure = OutboundError::Unreachable {
                target: target.to_owned(),
                detail: describe(&e),
            };
            // A connect error means a fresh connection already failed: trying another at
            // once would fail the same way. Only a reused connection found dead is retried.
            if !e.is_connect() && is_closed_connection(&e) {
                Attempt::StaleConnection(failure)
            } else {
                Attempt::Failed(failure)
            }
        })?;
        let (parts, body) = response.into_parts();
        let body = read_limited(body, self.max_response_bytes)
            .await
            .map_err(|e| {
                Attempt::Failed(match e {
                    BodyError::TooLarge => OutboundError::TooLarge {
                        target: target.to_owned(),
                    },
                    BodyError::Unreadable(detail) => OutboundError::Unreachable {
                        target: target.to_owned(),
                        detail: format!("the answer broke off: {detail}"),
                    },
                    // Only request bodies have a deadline of their own; the request timeout
                    // bounds an answer.
                    BodyError::TimedOut => OutboundError::Unreachable {
                        target: target.to_owned(),
                        detail: "the answer did not arrive in time".to_owned(),
                    },
                })
            })?;
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

enum Attempt {
    /// Worth one more try on a fresh connection.
    StaleConnection(OutboundError),
    Failed(OutboundError),
}

/// Whether an error says the connection was closed or reset under the request: what a pooled
/// connection looks like when the peer went away (restarted, or closed it as idle) just as the
/// request was sent.
fn is_closed_connection(error: &(dyn StdError + 'static)) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(hyper_error) = e.downcast_ref::<hyper::Error>() {
            if hyper_error.is_incomplete_message()
                || hyper_error.is_canceled()
                || hyper_error.is_closed()
            {
                return true;
            }
        }
        if let Some(io_error) = e.downcast_ref::<io::Error>() {
            if matches!(
                io_error.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::NotConnected
            ) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// The URL to name in errors: scheme, authority and path, never the query.
fn target_of(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{}", uri.path()),
        _ => uri.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_never_carry_the_query() {
        let uri: Uri = "https://localhost:5004/api/resource?access_token=abc"
            .parse()
            .unwrap();
        assert_eq!(target_of(&uri), "https://localhost:5004/api/resource");
    }

    #[test]
    fn closed_connection_errors_are_recognised_through_the_chain() {
        #[derive(Debug)]
        struct Outer(io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("outer")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let reset = Outer(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(is_closed_connection(&reset));
        let refused = Outer(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(!is_closed_connection(&refused));
    }

    #[test]
    fn an_empty_ca_file_is_refused() {
        let err = Outbound::with_ca_certificates("none.pem", Vec::new()).unwrap_err();
        assert!(err.to_string().contains("none.pem"));
    }
}
