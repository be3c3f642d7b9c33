//! Services running inside the test process, each on a listener the test bound (port 0 unless
//! it passes its own), stopped deterministically by the test or when dropped: the
//! authorization server ([`start_auth`]), client1 and client2 ([`start_client1`],
//! [`start_client2`]), and any [`Handler`] on the library's TLS stack ([`start_handler`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use tollgate::app::{CallerService, ResourceService};
use tollgate::auth::signing_keys::SigningKeys;
use tollgate::auth::{clients::ClientRegistry, clients_file::add_client};
use tollgate::auth::{AuthConfig, AuthServer, TokenFormat};
use tollgate::client::{ClientCredentials, TokenClient, TokenClientConfig};
use tollgate::discovery::{Discovered, DiscoveryError};
use tollgate::http::Outbound;
use tollgate::http::{Handler, Limits};
use tollgate::resource::{GuardConfig, TokenGuard};
use tollgate::secret::SecretString;

use super::certs::{certs, temp_dir, Certs};
use super::https::Client;
use super::STEP;

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

/// The clients every server of a test binary knows unless a test registers its own:
/// - `svc` (read write), `other` (read): plain callers;
/// - `rs` (may introspect): client1's identity;
/// - `c2` (read): client2's identity;
/// - `writer` (write): a caller without `read`, which client1 requires;
/// - `svc.one_x-2` (read): an id with every allowed punctuation character.
pub fn default_clients() -> Vec<ClientSpec> {
    vec![
        client("svc", "read write", false),
        client("other", "read", false),
        client("rs", "introspect", true),
        client("c2", "read", false),
        client("writer", "write", false),
        client("svc.one_x-2", "read", false),
    ]
}

/// A clients file and the secrets `add-client` gave for it.
#[derive(Clone, Debug)]
pub struct Clients {
    pub file: PathBuf,
    pub secrets: HashMap<String, String>,
}

impl Clients {
    /// Registers `specs` in a new clients file.
    pub fn register(specs: &[ClientSpec]) -> Clients {
        let file = temp_dir("clients").join("clients.json");
        let mut secrets = HashMap::new();
        for spec in specs {
            let scopes = spec.scopes.split(' ').filter(|s| !s.is_empty());
            let secret = add_client(
                &file,
                &tollgate::auth::clients_file::Registration::new(
                    &spec.id,
                    scopes.map(str::to_owned).collect(),
                    spec.introspect,
                ),
            )
            .expect("add client");
            secrets.insert(spec.id.clone(), secret.expose().to_owned());
        }
        Clients { file, secrets }
    }

    /// [`default_clients`], registered once per test binary. Servers only read the file.
    pub fn shared() -> &'static Clients {
        static SHARED: OnceLock<Clients> = OnceLock::new();
        SHARED.get_or_init(|| Clients::register(&default_clients()))
    }

    pub fn secret(&self, id: &str) -> &str {
        self.secrets
            .get(id)
            .unwrap_or_else(|| panic!("no client {id}"))
    }

    /// The secret as the library's type, for its client configurations.
    pub fn secret_string(&self, id: &str) -> SecretString {
        SecretString::new(self.secret(id).to_owned())
    }
}

/// Limits of test servers: the library's defaults with a short shutdown grace, so stopping a
/// server with a busy connection is quick.
pub fn limits() -> Limits {
    Limits {
        shutdown_grace: Duration::from_secs(2),
        ..Limits::default()
    }
}

/// Binds `127.0.0.1:0`.
pub async fn loopback() -> TcpListener {
    tollgate::http::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1:0")
}

/// A loopback port that is bound but not listening: connections to it are refused until
/// [`Reserved::listen`], and no other process can take it meanwhile.
pub struct Reserved(tokio::net::TcpSocket);

impl Reserved {
    pub fn new() -> Reserved {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1:0");
        Reserved(socket)
    }

    pub fn addr(&self) -> SocketAddr {
        self.0.local_addr().expect("local address")
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    pub fn listen(self) -> TcpListener {
        self.0.listen(1024).expect("listen")
    }
}

/// A service running in this process; stopped when dropped.
pub struct Running<S> {
    pub service: Arc<S>,
    pub addr: SocketAddr,
    /// `https://localhost:PORT`
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), DiscoveryError>>>,
}

impl<S> Running<S> {
    fn new(
        service: Arc<S>,
        addr: SocketAddr,
        run: impl FnOnce(oneshot::Receiver<()>) -> JoinHandle<Result<(), DiscoveryError>>,
    ) -> Running<S> {
        let (stop, stopped) = oneshot::channel();
        Running {
            service,
            addr,
            base: format!("https://localhost:{}", addr.port()),
            stop: Some(stop),
            task: Some(run(stopped)),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
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

    /// Signals shutdown and waits until the service's `run` has returned (and so let go of
    /// its port); panics when that takes longer than [`STEP`].
    pub async fn stop(mut self) -> Result<(), DiscoveryError> {
        self.signal_stop();
        self.ended().await
    }

    /// Waits for the service's `run` to end by itself (a fatal start-up error, or after
    /// [`Running::signal_stop`]).
    pub async fn ended(mut self) -> Result<(), DiscoveryError> {
        let task = self.task.take().expect("running");
        tokio::time::timeout(STEP, task)
            .await
            .unwrap_or_else(|_| panic!("the service did not stop within {STEP:?}"))
            .expect("service task")
    }
}

impl<S> Drop for Running<S> {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// Serves `handler` with the library's TLS stack ([`tollgate::http::serve`]) on `listener`.
pub fn start_handler<H: Handler>(
    handler: Arc<H>,
    limits: Limits,
    listener: TcpListener,
) -> Running<H> {
    let addr = listener.local_addr().expect("local address");
    let service = handler.clone();
    Running::new(service, addr, move |stopped| {
        tokio::spawn(async move {
            tollgate::http::serve(listener, certs().server_tls(), limits, handler, async {
                let _ = stopped.await;
            })
            .await;
            Ok(())
        })
    })
}

/// How to start an authorization server.
pub struct AuthOptions {
    /// `None`: [`Clients::shared`].
    pub clients: Option<Clients>,
    /// `None`: `https://localhost:PORT`.
    pub issuer: Option<String>,
    pub token_ttl: Duration,
    pub limits: Limits,
    /// `None`: a fresh `127.0.0.1:0`.
    pub listener: Option<TcpListener>,
    /// How often expired tokens are swept (`None`: the server's default).
    pub sweep_interval: Option<Duration>,
    /// `None`: [`certs`].
    pub certs: Option<Certs>,
    /// The CA of `tls_client_auth` certificates: with it the listener asks every client for a
    /// certificate (RFC 8705).
    pub client_ca: Option<PathBuf>,
    /// Signing keys: JWT access tokens signed with them (`None`: opaque tokens).
    pub signing_keys: Option<SigningKeys>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            clients: None,
            issuer: None,
            token_ttl: Duration::from_secs(3600),
            limits: limits(),
            listener: None,
            sweep_interval: None,
            certs: None,
            client_ca: None,
            signing_keys: None,
        }
    }
}

/// A running authorization server and what a test needs to talk to it.
pub struct Auth {
    pub running: Running<AuthServer>,
    pub issuer: String,
    pub clients: Clients,
}

impl std::ops::Deref for Auth {
    type Target = Running<AuthServer>;
    fn deref(&self) -> &Running<AuthServer> {
        &self.running
    }
}

impl std::ops::DerefMut for Auth {
    fn deref_mut(&mut self) -> &mut Running<AuthServer> {
        &mut self.running
    }
}

impl Auth {
    pub fn secret(&self, id: &str) -> &str {
        self.clients.secret(id)
    }

    /// A client that calls this server's [`AuthServer::respond`] with no socket.
    pub fn direct(&self) -> Client {
        Client::direct(&self.service)
    }

    pub async fn stop(self) -> Result<(), DiscoveryError> {
        self.running.stop().await
    }
}

/// The authorization server with [`AuthOptions::default`].
pub async fn auth() -> Auth {
    start_auth(AuthOptions::default()).await
}

/// The authorization server ([`tollgate::auth::run`]) with the given options.
pub async fn start_auth(options: AuthOptions) -> Auth {
    let clients = options.clients.unwrap_or_else(|| Clients::shared().clone());
    let registry = ClientRegistry::load(&clients.file).expect("load clients");
    let listener = match options.listener {
        Some(listener) => listener,
        None => loopback().await,
    };
    let addr = listener.local_addr().expect("local address");
    let issuer = options
        .issuer
        .unwrap_or_else(|| format!("https://localhost:{}", addr.port()));
    let mut config = AuthConfig::new(issuer.clone());
    config.token_ttl = options.token_ttl;
    config.max_body_bytes = options.limits.max_body_bytes;
    if let Some(interval) = options.sweep_interval {
        config.sweep_interval = interval;
    }
    let certs = options.certs.unwrap_or_else(|| certs().clone());
    let tls = match &options.client_ca {
        Some(ca) => {
            config.client_ca = Some(tollgate::http::ClientCa::load(ca).expect("client CA"));
            tollgate::http::server_tls_config_with(&certs.cert(), &certs.key(), true)
                .expect("server TLS asking for client certificates")
        }
        None => certs.server_tls(),
    };
    let server = match options.signing_keys {
        Some(keys) => {
            config.token_format = TokenFormat::Jwt;
            AuthServer::new(registry, config).with_signing_keys(keys)
        }
        None => AuthServer::new(registry, config),
    };
    let server = Arc::new(server);
    let limits = options.limits;
    let service = server.clone();
    let running = Running::new(server, addr, move |stopped| {
        tokio::spawn(async move {
            tollgate::auth::run(listener, tls, limits, service, async {
                let _ = stopped.await;
            })
            .await;
            Ok(())
        })
    });
    Auth {
        running,
        issuer,
        clients,
    }
}

/// The outgoing client of the services, trusting the test CA.
pub fn outbound() -> Outbound {
    Outbound::new(&certs().ca()).expect("outbound client")
}

/// client1 (identity `rs`, requiring scope `read`) against `issuer`, on `127.0.0.1:0`.
pub async fn start_client1(issuer: &str, cache_ttl: Duration) -> Running<ResourceService> {
    start_client1_on(loopback().await, issuer, cache_ttl)
}

/// [`start_client1`] on a given listener (for a restart on the same port).
pub fn start_client1_on(
    listener: TcpListener,
    issuer: &str,
    cache_ttl: Duration,
) -> Running<ResourceService> {
    let outbound = outbound();
    let discovered = Arc::new(Discovered::new(issuer, outbound.clone()));
    let mut config = GuardConfig::new("rs", Clients::shared().secret_string("rs"));
    config.cache_ttl = cache_ttl;
    let guard = TokenGuard::new(config, discovered.clone(), outbound);
    let service = Arc::new(ResourceService::new(guard, "read"));
    serve_service(listener, service, discovered)
}

/// client1 with `config` against `issuer`, requiring scope `read`, on `127.0.0.1:0`; with
/// `ask_client_certificates` its listener asks callers for a certificate (`--client-ca`).
pub async fn start_client1_with(
    issuer: &str,
    config: GuardConfig,
    ask_client_certificates: bool,
) -> Running<ResourceService> {
    let outbound = outbound();
    let discovered = Arc::new(Discovered::new(issuer, outbound.clone()));
    let guard = TokenGuard::new(config, discovered.clone(), outbound);
    let service = Arc::new(ResourceService::new(guard, "read"));
    let tls = if ask_client_certificates {
        let certs = certs();
        tollgate::http::server_tls_config_with(&certs.cert(), &certs.key(), true)
            .expect("server TLS asking for client certificates")
    } else {
        certs().server_tls()
    };
    serve_service_with(loopback().await, service, discovered, tls)
}

/// client2 (identity `c2`) calling `resource`, on `127.0.0.1:0`.
pub async fn start_client2(issuer: &str, resource: &str) -> Running<CallerService> {
    let config = TokenClientConfig {
        client_id: "c2".into(),
        credentials: ClientCredentials::Secret(Clients::shared().secret_string("c2")),
        scope: None,
        audience: None,
    };
    start_client2_with(issuer, resource, config, outbound()).await
}

/// client2 with `config`, its connections made by `outbound` (which may present a client
/// certificate), calling `resource`, on `127.0.0.1:0`.
pub async fn start_client2_with(
    issuer: &str,
    resource: &str,
    config: TokenClientConfig,
    outbound: Outbound,
) -> Running<CallerService> {
    let discovered = Arc::new(Discovered::new(issuer, outbound.clone()));
    let client = TokenClient::new(config, discovered.clone(), outbound);
    let service = Arc::new(CallerService::new(
        client,
        resource.parse().expect("resource URL"),
    ));
    serve_service(loopback().await, service, discovered)
}

fn serve_service<H: Handler>(
    listener: TcpListener,
    service: Arc<H>,
    discovered: Arc<Discovered>,
) -> Running<H> {
    serve_service_with(listener, service, discovered, certs().server_tls())
}

fn serve_service_with<H: Handler>(
    listener: TcpListener,
    service: Arc<H>,
    discovered: Arc<Discovered>,
    tls: Arc<rustls::ServerConfig>,
) -> Running<H> {
    let addr = listener.local_addr().expect("local address");
    let handler = service.clone();
    Running::new(service, addr, move |stopped| {
        tokio::spawn(tollgate::app::run(
            listener,
            tls,
            limits(),
            handler,
            discovered,
            async {
                let _ = stopped.await;
            },
        ))
    })
}

/// Binds `addr` again, for a service restarted on the port it had.
pub async fn rebind(addr: SocketAddr) -> TcpListener {
    tollgate::http::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot bind {addr} again: {e}"))
}

/// The authorization server on `listener` (for a start on a reserved or a restart on the same
/// port), otherwise as [`auth`].
pub async fn auth_on(listener: TcpListener) -> Auth {
    start_auth(AuthOptions {
        listener: Some(listener),
        ..AuthOptions::default()
    })
    .await
}
