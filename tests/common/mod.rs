//! Shared harness for the integration tests: development certificates made once per test
//! binary, an authorization server on an ephemeral loopback port that each test owns and stops,
//! real HTTPS clients (HTTP/1.1 only and HTTP/2 only, trusting only the generated CA), and a raw
//! TLS stream for requests a well-behaved client cannot send.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;

use tollgate::auth::{clients::ClientRegistry, clients_file::add_client};
use tollgate::auth::{AuthConfig, AuthServer};
use tollgate::form::encode_form_component;
use tollgate::http::Limits;

/// Upper bound on any single request in the tests, so a hung server fails a test instead of
/// hanging the suite.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh, empty directory under the system temp dir, unique within this process.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tollgate-it-{}-{label}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The development certificates of this test binary, generated once.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        // Hundreds of requests per test binary: keep cargo test's output readable.
        tollgate::access_log::discard_output();
        let dir = temp_dir("certs");
        tollgate::certs::generate(&dir, false).expect("generate certificates");
        Certs { dir }
    })
}

/// A client to register: id, space-separated scopes, introspection right.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    pub id: String,
    pub scopes: String,
    pub introspect: bool,
}

pub fn client(id: &str, scopes: &str, introspect: bool) -> ClientSpec {
    ClientSpec {
        id: id.to_owned(),
        scopes: scopes.to_owned(),
        introspect,
    }
}

/// How to start a test server.
pub struct ServerOptions {
    pub clients: Vec<ClientSpec>,
    /// `None`: `https://localhost:PORT`.
    pub issuer: Option<String>,
    pub token_ttl: Duration,
    pub limits: Limits,
    /// Bind here instead of `127.0.0.1:0`.
    pub addr: Option<SocketAddr>,
    /// How often expired tokens are swept (`None`: the server's default).
    pub sweep_interval: Option<Duration>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            clients: default_clients(),
            issuer: None,
            token_ttl: Duration::from_secs(3600),
            limits: Limits::default(),
            addr: None,
            sweep_interval: None,
        }
    }
}

/// `svc` (read write), `other` (read), `rs` (introspect, resource server), `svc.one_x-2`
/// (read; an id with every allowed punctuation character).
pub fn default_clients() -> Vec<ClientSpec> {
    vec![
        client("svc", "read write", false),
        client("other", "read", false),
        client("rs", "introspect", true),
        client("svc.one_x-2", "read", false),
    ]
}

/// A running authorization server owned by one test.
pub struct TestServer {
    pub addr: SocketAddr,
    /// `https://localhost:PORT`
    pub base: String,
    pub issuer: String,
    pub secrets: HashMap<String, String>,
    pub server: Arc<AuthServer>,
    pub clients_file: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(options: ServerOptions) -> TestServer {
        let dir = temp_dir("server");
        let clients_file = dir.join("clients.json");
        let mut secrets = HashMap::new();
        for spec in &options.clients {
            let scopes = spec.scopes.split(' ').filter(|s| !s.is_empty());
            let secret = add_client(
                &clients_file,
                &tollgate::auth::clients_file::Registration::new(
                    &spec.id,
                    scopes.map(str::to_owned).collect(),
                    spec.introspect,
                ),
            )
            .expect("add client");
            secrets.insert(spec.id.clone(), secret.expose().to_owned());
        }
        Self::start_with_file(options, clients_file, secrets).await
    }

    pub async fn start_with_file(
        options: ServerOptions,
        clients_file: PathBuf,
        secrets: HashMap<String, String>,
    ) -> TestServer {
        let registry = ClientRegistry::load(&clients_file).expect("load clients");
        let listener = tollgate::http::bind(
            options
                .addr
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        )
        .await
        .expect("bind");
        let addr = listener.local_addr().unwrap();
        let base = format!("https://localhost:{}", addr.port());
        let issuer = options.issuer.clone().unwrap_or_else(|| base.clone());
        let mut config = AuthConfig::new(issuer.clone());
        config.token_ttl = options.token_ttl;
        config.max_body_bytes = options.limits.max_body_bytes;
        if let Some(interval) = options.sweep_interval {
            config.sweep_interval = interval;
        }
        let server = Arc::new(AuthServer::new(registry, config));
        let tls = tollgate::http::server_tls_config(&certs().cert(), &certs().key())
            .expect("server TLS config");
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(tollgate::auth::run(
            listener,
            tls,
            options.limits,
            server.clone(),
            async move {
                let _ = stop_rx.await;
            },
        ));
        TestServer {
            addr,
            base,
            issuer,
            secrets,
            server,
            clients_file,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    pub fn secret(&self, id: &str) -> &str {
        self.secrets
            .get(id)
            .unwrap_or_else(|| panic!("no client {id}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends the shutdown signal without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Signals shutdown and waits (bounded) for `run` to return; true when it did.
    pub async fn stop(mut self) -> bool {
        self.signal_stop();
        match self.task.take() {
            Some(task) => tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .is_ok(),
            None => true,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.signal_stop();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The TLS client configuration of the tests: ring, trusting only the generated CA.
pub fn client_tls_config(ca: &Path, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("read ca.pem") {
        roots.add(cert.expect("CA certificate")).expect("add CA");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(tollgate::http::crypto_provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// The HTTP versions every behaviour test runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

pub const BOTH: [Proto; 2] = [Proto::H1, Proto::H2];

impl Proto {
    pub fn version(self) -> Version {
        match self {
            Proto::H1 => Version::HTTP_11,
            Proto::H2 => Version::HTTP_2,
        }
    }
}

/// A real HTTPS client speaking exactly one HTTP version (chosen by ALPN).
pub struct Http {
    pub proto: Proto,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// A complete response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): status {} body {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field in {}", self.text()))
            .to_owned()
    }
}

pub fn http(proto: Proto) -> Http {
    http_trusting(proto, &certs().ca())
}

pub fn http_trusting(proto: Proto, ca: &Path) -> Http {
    http_with(proto, ca, None)
}

/// A client whose connections come from `local` (any 127.0.0.0/8 address is loopback on
/// Linux), to act as a different remote address.
pub fn http_from(proto: Proto, local: std::net::IpAddr) -> Http {
    http_with(proto, &certs().ca(), Some(local))
}

fn http_with(proto: Proto, ca: &Path, local: Option<std::net::IpAddr>) -> Http {
    let alpn: &[&[u8]] = match proto {
        Proto::H1 => &[b"http/1.1"],
        Proto::H2 => &[b"h2"],
    };
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_local_address(local);
    let connector = HttpsConnector::from((tcp, client_tls_config(ca, alpn)));
    let client = Client::builder(TokioExecutor::new())
        .http2_only(proto == Proto::H2)
        .build(connector);
    Http { proto, client }
}

impl Http {
    /// Sends a request and reads the whole response; panics on transport errors.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        self.try_send(request)
            .await
            .unwrap_or_else(|e| panic!("{:?} request failed: {e}", self.proto))
    }

    pub async fn try_send(&self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let fut = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("{e:?}"))?
                .to_bytes();
            Ok::<Reply, String>(Reply {
                status: parts.status,
                version: parts.version,
                headers: parts.headers,
                body,
            })
        };
        let reply: Reply = tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .map_err(|_| "request timed out".to_owned())??;
        assert_eq!(
            reply.version,
            self.proto.version(),
            "the server answered over the wrong HTTP version"
        );
        Ok(reply)
    }

    /// A request with any method, extra headers and body.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("request");
        self.send(request).await
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.request(Method::GET, url, &[], b"").await
    }

    /// POST of a form body with the standard media type and optional Authorization value.
    pub async fn post_form(&self, url: &str, body: &str, authorization: Option<&str>) -> Reply {
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        self.request(Method::POST, url, &headers, body.as_bytes())
            .await
    }

    /// A token request authenticated with `client_secret_basic`.
    pub async fn token_basic(&self, base: &str, id: &str, secret: &str, extra: &str) -> Reply {
        let body = format!("grant_type=client_credentials{extra}");
        self.post_form(
            &format!("{base}/oauth/token"),
            &body,
            Some(&basic(id, secret)),
        )
        .await
    }

    /// A token request authenticated with `client_secret_post`.
    pub async fn token_post(&self, base: &str, id: &str, secret: &str, extra: &str) -> Reply {
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}{extra}",
            encode_form_component(id),
            encode_form_component(secret)
        );
        self.post_form(&format!("{base}/oauth/token"), &body, None)
            .await
    }

    /// A fresh access token for `id` (panics unless the server issues one).
    pub async fn token(&self, server: &TestServer, id: &str) -> String {
        let reply = self
            .token_basic(&server.base, id, server.secret(id), "")
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Introspects `token` as client `caller` (Basic).
    pub async fn introspect(&self, server: &TestServer, caller: &str, token: &str) -> Reply {
        self.post_form(
            &server.url("/oauth/introspect"),
            &format!("token={}", encode_form_component(token)),
            Some(&basic(caller, server.secret(caller))),
        )
        .await
    }

    /// Revokes `token` as client `caller` (Basic).
    pub async fn revoke(&self, server: &TestServer, caller: &str, token: &str) -> Reply {
        self.post_form(
            &server.url("/oauth/revoke"),
            &format!("token={}", encode_form_component(token)),
            Some(&basic(caller, server.secret(caller))),
        )
        .await
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, as RFC 6749 §2.3.1 asks.
pub fn basic(id: &str, secret: &str) -> String {
    basic_raw(
        format!(
            "{}:{}",
            encode_form_component(id),
            encode_form_component(secret)
        )
        .as_bytes(),
    )
}

/// `Basic base64(raw)` with no encoding of the content.
pub fn basic_raw(raw: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A TLS connection with the given ALPN offer, for hand-written requests.
pub async fn raw_tls(addr: SocketAddr, alpn: &[&[u8]]) -> std::io::Result<TlsStream<TcpStream>> {
    raw_tls_named(addr, ServerName::try_from("localhost").unwrap(), alpn).await
}

pub async fn raw_tls_named(
    addr: SocketAddr,
    name: ServerName<'static>,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    raw_tls_with_ca(addr, name, alpn, &certs().ca()).await
}

pub async fn raw_tls_with_ca(
    addr: SocketAddr,
    name: ServerName<'static>,
    alpn: &[&[u8]],
    ca: &Path,
) -> std::io::Result<TlsStream<TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_tls_config(ca, alpn)));
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    connector.connect(name, tcp).await
}

/// Reads one HTTP/1.1 response (head and a Content-Length body) from a raw stream.
/// `Ok(None)` when the server closed the connection before sending anything.
pub async fn read_h1_response<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<Option<(u16, String, Vec<u8>)>> {
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

/// Waits (bounded) until the peer closes the stream; returns how long that took, or `None`
/// when it stayed open for all of `limit`. Any data that arrives is discarded.
pub async fn time_until_closed<S: tokio::io::AsyncRead + Unpin>(
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
pub async fn write_all<S: tokio::io::AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
    stream.flush().await.expect("flush");
}
