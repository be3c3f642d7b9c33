//! Test harness: the real services on 127.0.0.1 ephemeral ports over real TLS, with
//! certificates and clients in a temporary directory, and an HTTPS client pinned to HTTP/1.1
//! or HTTP/2 that trusts only the test CA.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use tollgate::app::{self, CallerService, ResourceService};
use tollgate::auth::{clients::ClientRegistry, clients_file as clients};
use tollgate::auth::{AuthConfig, AuthServer};
use tollgate::client::{TokenClient, TokenClientConfig};
use tollgate::discovery::{Discovered, DiscoveryError};
use tollgate::http::Outbound;
use tollgate::http::{self as h, Limits};
use tollgate::resource::{GuardConfig, TokenGuard};
use tollgate::secret::SecretString;

/// The longest any single test step may take before the test fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(20);

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// Limits for test servers: a short grace so stopping a server is quick.
pub fn limits() -> Limits {
    Limits {
        shutdown_grace: Duration::from_millis(500),
        ..Limits::default()
    }
}

/// Certificates and registered clients in a fresh temporary directory.
pub struct Env {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub clients_file: PathBuf,
    pub tls: Arc<rustls::ServerConfig>,
    pub secrets: HashMap<&'static str, SecretString>,
}

/// Registered clients: `rs` is client1's identity (may introspect), `c2` client2's, `svc` a
/// plain caller with read and write, `writer` a caller without `read`.
const CLIENTS: [(&str, &[&str], bool); 4] = [
    ("rs", &["read"], true),
    ("c2", &["read"], false),
    ("svc", &["read", "write"], false),
    ("writer", &["write"], false),
];

impl Env {
    pub fn new() -> Env {
        // Hundreds of requests per test binary: keep cargo test's output readable.
        tollgate::access_log::discard_output();
        let dir = std::env::temp_dir().join(format!(
            "tollgate-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        tollgate::certs::generate(&dir, false).unwrap();
        let clients_file = dir.join("clients.json");
        let mut secrets = HashMap::new();
        for (id, scopes, introspect) in CLIENTS {
            let scopes = scopes.iter().map(|s| s.to_string()).collect();
            let secret = clients::add_client(
                &clients_file,
                &tollgate::auth::clients_file::Registration::new(id, scopes, introspect),
            )
            .unwrap();
            secrets.insert(id, secret);
        }
        let tls = h::server_tls_config(&dir.join("server.pem"), &dir.join("server.key")).unwrap();
        Env {
            ca: dir.join("ca.pem"),
            dir,
            clients_file,
            tls,
            secrets,
        }
    }

    pub fn secret(&self, id: &str) -> SecretString {
        self.secrets[id].clone()
    }

    pub fn outbound(&self) -> Outbound {
        Outbound::new(&self.ca).unwrap()
    }

    /// Starts the authorization server on `port` (0: any), issuing tokens of `token_ttl`.
    pub async fn start_auth(&self, port: u16, token_ttl: Duration) -> Running<AuthServer> {
        let listener = h::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("https://localhost:{}", addr.port());
        let mut config = AuthConfig::new(issuer);
        config.token_ttl = token_ttl;
        let registry = ClientRegistry::load(&self.clients_file).unwrap();
        let server = Arc::new(AuthServer::new(registry, config));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tollgate::auth::run(
            listener,
            self.tls.clone(),
            limits(),
            server.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Running {
            service: server,
            addr,
            stop: Some(stop),
            task: Some(tokio::spawn(async move {
                let _ = task.await;
                Ok(())
            })),
        }
    }

    /// Starts client1 (identity `rs`, requiring scope `read`) against `issuer`.
    pub async fn start_client1(
        &self,
        issuer: &str,
        cache_ttl: Duration,
    ) -> Running<ResourceService> {
        self.start_client1_at(0, issuer, cache_ttl).await
    }

    /// [`Env::start_client1`] on a given port (0: any), for restarts on the same address.
    pub async fn start_client1_at(
        &self,
        port: u16,
        issuer: &str,
        cache_ttl: Duration,
    ) -> Running<ResourceService> {
        let outbound = self.outbound();
        let discovered = Arc::new(Discovered::new(issuer, outbound.clone()));
        let mut config = GuardConfig::new("rs", self.secret("rs"));
        config.cache_ttl = cache_ttl;
        let guard = TokenGuard::new(config, discovered.clone(), outbound);
        let service = Arc::new(ResourceService::new(guard, "read"));
        self.serve(port, service, discovered).await
    }

    /// Starts client2 (identity `c2`) calling `resource`.
    pub async fn start_client2(&self, issuer: &str, resource: &str) -> Running<CallerService> {
        let outbound = self.outbound();
        let discovered = Arc::new(Discovered::new(issuer, outbound.clone()));
        let client = TokenClient::new(
            TokenClientConfig {
                client_id: "c2".into(),
                client_secret: self.secret("c2"),
                scope: None,
            },
            discovered.clone(),
            outbound,
        );
        let service = Arc::new(CallerService::new(client, resource.parse().unwrap()));
        self.serve(0, service, discovered).await
    }

    async fn serve<H: h::Handler>(
        &self,
        port: u16,
        service: Arc<H>,
        discovered: Arc<Discovered>,
    ) -> Running<H> {
        let listener = h::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::run(
            listener,
            self.tls.clone(),
            limits(),
            service.clone(),
            discovered,
            async {
                let _ = stopped.await;
            },
        ));
        Running {
            service,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A service running in this process; stopped when dropped.
pub struct Running<S> {
    pub service: Arc<S>,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), DiscoveryError>>>,
}

impl<S> Running<S> {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    pub fn issuer(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// Stops the service and waits until it has let go of its port.
    pub async fn stop(mut self) -> Result<(), DiscoveryError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(STEP, task)
                .await
                .expect("service stops in time")
                .expect("service task"),
            None => Ok(()),
        }
    }

    /// Waits for the service's `run` to end by itself (a fatal start-up error).
    pub async fn ended(mut self) -> Result<(), DiscoveryError> {
        let task = self.task.take().expect("running");
        tokio::time::timeout(STEP, task)
            .await
            .expect("service ends in time")
            .expect("service task")
    }
}

impl<S> Drop for Running<S> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An HTTPS client for tests, speaking exactly one HTTP version.
#[derive(Clone)]
pub struct Https {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    version: Version,
}

/// An answer as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

impl Https {
    pub fn new(ca: &Path, version: Version) -> Https {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let tls = rustls::ClientConfig::builder_with_provider(h::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let connector = if version == Version::HTTP_2 {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.enable_http1().wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .http2_only(version == Version::HTTP_2)
            .build(connector);
        Https { client, version }
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        self.try_send(method, url, headers, body)
            .await
            .unwrap_or_else(|e| panic!("no answer from {url}: {e}"))
    }

    /// Like [`Https::send`], but a connection failure is an `Err`, not a panic.
    pub async fn try_send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, String> {
        let mut request = Request::new(Full::new(Bytes::copy_from_slice(body)));
        *request.method_mut() = method;
        *request.uri_mut() = url.parse().unwrap();
        for (name, value) in headers {
            request.headers_mut().append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let response = tokio::time::timeout(STEP, self.client.request(request))
            .await
            .map_err(|_| "no answer in time".to_owned())?
            .map_err(|e| format!("{e:?}"))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Reply {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body: String::from_utf8(body.to_vec()).unwrap(),
        })
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.send(Method::GET, url, &[], b"").await
    }

    pub async fn get_bearer(&self, url: &str, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.send(Method::GET, url, &[("authorization", &auth)], b"")
            .await
    }

    /// A token for `id` from the authorization server at `issuer` (client_secret_basic).
    pub async fn token(&self, issuer: &str, id: &str, secret: &SecretString) -> String {
        let basic = basic(id, secret);
        let reply = self
            .send(
                Method::POST,
                &format!("{issuer}/oauth/token"),
                &[
                    ("authorization", &basic),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                b"grant_type=client_credentials",
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// Revokes `token` as its owner `id`.
    pub async fn revoke(&self, issuer: &str, id: &str, secret: &SecretString, token: &str) {
        let basic = basic(id, secret);
        let body = format!("token={}", tollgate::form::encode_form_component(token));
        let reply = self
            .send(
                Method::POST,
                &format!("{issuer}/oauth/revoke"),
                &[
                    ("authorization", &basic),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                body.as_bytes(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

pub fn basic(id: &str, secret: &SecretString) -> String {
    tollgate::oauth::basic_authorization(id, secret)
        .expose()
        .to_owned()
}

/// Both HTTP versions, for tests that must hold for each.
pub fn both_versions(ca: &Path) -> [Https; 2] {
    [
        Https::new(ca, Version::HTTP_11),
        Https::new(ca, Version::HTTP_2),
    ]
}

impl Https {
    pub fn version(&self) -> Version {
        self.version
    }
}
