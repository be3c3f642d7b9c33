//! Raw TLS and hand-written HTTP/1.1, for what a well-behaved client cannot send: invalid
//! bytes, half-sent heads, silent connections; and an HTTP/2 connection whose request bodies
//! may stop short ([`h2_connection`], [`PartBody`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::certs::certs;

/// The TLS client configuration of the tests: ring, the safe default protocol versions,
/// trusting only `ca`, offering `alpn`.
pub fn client_tls_config(ca: &Path, alpn: &[&[u8]]) -> rustls::ClientConfig {
    client_tls_config_with(ca, alpn, rustls::DEFAULT_VERSIONS)
}

/// [`client_tls_config`] limited to the given TLS versions.
pub fn client_tls_config_with(
    ca: &Path,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read ca.pem") {
        roots.add(cert.expect("CA certificate")).expect("add CA");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(tollgate::http::crypto_provider())
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// [`client_tls_config`] presenting the certificate chain in `cert` (PEM, leaf first) with the
/// private key in `key` to a server that asks for one.
pub fn client_tls_config_presenting(
    ca: &Path,
    alpn: &[&[u8]],
    cert: &Path,
    key: &Path,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read ca.pem") {
        roots.add(cert.expect("CA certificate")).expect("add CA");
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .expect("read the client certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("client certificate");
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).expect("client key");
    let mut config = rustls::ClientConfig::builder_with_provider(tollgate::http::crypto_provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate and key");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A TLS connection to `localhost` at `addr` with the given ALPN offer, trusting the test CA.
pub async fn raw_tls(addr: SocketAddr, alpn: &[&[u8]]) -> std::io::Result<TlsStream<TcpStream>> {
    raw_tls_with(addr, localhost(), client_tls_config(&certs().ca(), alpn)).await
}

/// A TLS connection that checks the certificate for `name` against `ca`.
pub async fn raw_tls_with_ca(
    addr: SocketAddr,
    name: ServerName<'static>,
    alpn: &[&[u8]],
    ca: &Path,
) -> std::io::Result<TlsStream<TcpStream>> {
    raw_tls_with(addr, name, client_tls_config(ca, alpn)).await
}

/// A TLS connection with any client configuration.
pub async fn raw_tls_with(
    addr: SocketAddr,
    name: ServerName<'static>,
    config: rustls::ClientConfig,
) -> std::io::Result<TlsStream<TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    connector.connect(name, tcp).await
}

pub fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("server name")
}

/// One HTTP/1.1 response: status, head (status line and headers) and body.
pub type H1Response = (u16, String, Vec<u8>);

/// Reads one HTTP/1.1 response (head and a Content-Length body) from a raw stream.
/// `Ok(None)` when the server closed the connection before sending anything.
pub async fn read_h1_response<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<Option<H1Response>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // rustls reports a peer that closes without close_notify as UnexpectedEof.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && buf.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed inside a response head",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        assert!(buf.len() < 1 << 20, "response head too large");
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((status, head, body)))
}

/// Sends `GET path` on a raw HTTP/1.1 stream and returns the status (panics on a close).
pub async fn h1_get_status<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, path: &str) -> u16 {
    write_all(
        stream,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
    )
    .await;
    read_h1_response(stream)
        .await
        .expect("read")
        .expect("a response, not a close")
        .0
}

/// Waits (bounded) until the peer closes the stream; returns how long that took, or `None`
/// when it stayed open for all of `limit`. Any data that arrives is discarded.
pub async fn time_until_closed<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        let remaining = limit.checked_sub(started.elapsed())?;
        match tokio::time::timeout(remaining, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

/// Writes `bytes` and flushes.
pub async fn write_all<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
    stream.flush().await.expect("flush");
}

/// A request body for HTTP/2 tests: some bytes, then either the end of the stream or nothing
/// more, ever, as from a client that stalls (an empty stalled body is HEADERS without
/// END_STREAM).
pub struct PartBody {
    data: Option<Bytes>,
    ends: bool,
}

impl PartBody {
    pub fn complete(data: &[u8]) -> PartBody {
        PartBody {
            data: (!data.is_empty()).then(|| Bytes::copy_from_slice(data)),
            ends: true,
        }
    }

    pub fn stalled(data: &[u8]) -> PartBody {
        PartBody {
            ends: false,
            ..PartBody::complete(data)
        }
    }
}

impl hyper::body::Body for PartBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.data.take() {
            Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
            None if self.ends => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.ends
    }
}

/// An HTTP/2 connection to `localhost` at `addr` (hyper's client over TLS, trusting the test
/// CA) for requests with a [`PartBody`]; URLs must be absolute. Ends when the handle and its
/// clones are dropped.
pub async fn h2_connection(addr: SocketAddr) -> SendRequest<PartBody> {
    let tls = raw_tls(addr, &[b"h2"]).await.expect("TLS connection");
    let (send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    send
}
