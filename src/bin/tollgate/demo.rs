//! The newcomer's command (`cargo run --release`): the whole stack in one process.
//!
//! Owns: first-run set-up (development certificates and a signing key if there are none, demo
//! clients with fresh secrets on every run), starting the authorization server, the resource
//! server (`client1`) and the caller (`client2`) on one runtime, one call through the whole
//! chain with a report of what happened, and the list of demo clients with commands to try
//! next. The demo runs the configuration we recommend: JWT access tokens (RFC 9068) restricted
//! to client1's audience (RFC 8707), validated by client1 locally with the authorization
//! server's published keys, client2 asking for exactly that audience. client2 has no secret:
//! it signs a fresh assertion for each token (private_key_jwt, RFC 7523) with a key made at
//! start, and presents a client certificate of the development CA, so its tokens are bound to
//! that certificate (RFC 8705) and client1 accepts them only from it. The report goes to
//! the writer it is given (stdout in the binary): with `add-client`'s output, the only place a
//! secret is ever printed; logs go to stderr as everywhere else. Does not own: any service's
//! behaviour (see `tollgate::auth` and `tollgate::app`).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Full;
use tokio::sync::watch;

use tollgate::app::{self, CallerService, ResourceService, CALL_PATH, RESOURCE_PATH};
use tollgate::auth::clients::ClientRegistry;
use tollgate::auth::clients_file::{self, Proof, Registration};
use tollgate::auth::signing_keys::{self, SigningKeys, SigningKeysError};
use tollgate::auth::{AuthConfig, AuthServer, TokenFormat};
use tollgate::certs;
use tollgate::client::{ClientCredentials, TokenClient, TokenClientConfig};
use tollgate::discovery::Discovered;
use tollgate::http::{self as h, ClientCa, ClientIdentity, Limits, Outbound};
use tollgate::oauth::jose::{Algorithm, SigningKey, VerifyingKeySet};
use tollgate::resource::{GuardConfig, TokenGuard, Validation};
use tollgate::secret::SecretString;

use crate::common::BoxError;

/// Where the demo keeps its files and which ports it serves on.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub certs_dir: PathBuf,
    pub clients_file: PathBuf,
    pub keys_dir: PathBuf,
    pub host: IpAddr,
    pub auth_port: u16,
    pub resource_port: u16,
    pub caller_port: u16,
    /// The limits of each of the three services.
    pub limits: Limits,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            certs_dir: PathBuf::from("certs"),
            clients_file: PathBuf::from("clients.json"),
            keys_dir: PathBuf::from("keys"),
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            auth_port: 5003,
            resource_port: 5004,
            caller_port: 5005,
            limits: Limits::default(),
        }
    }
}

/// A demo client with a secret: id, scopes, may it introspect. Every demo client may ask for
/// client1's audience.
const DEMO_CLIENTS: [(&str, &[&str], bool); 2] = [
    ("client1", &["read"], true),
    ("demo", &["read", "write"], false),
];

/// The client certificates of the development CA the demo uses: client2's (beside its
/// assertions), and `mtls`'s, a client that authenticates by its certificate alone.
const CLIENT_CERTS: [&str; 2] = ["client2", "mtls"];

/// What the chain call showed, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChainReport {
    pub status: u16,
    pub body: String,
    pub tokens_issued: u64,
    pub introspections: u64,
    pub jwks_fetches: u64,
}

/// Sets up, starts every service, makes one call through the chain, reports to `out`, and
/// serves until `shutdown` resolves.
pub async fn run(
    config: DemoConfig,
    out: &mut (dyn Write + Send),
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BoxError> {
    let ca_path = config.certs_dir.join(certs::CA_FILE);
    let has_ca_key = config.certs_dir.join(certs::CA_KEY_FILE).exists();
    if certs::exist(&config.certs_dir) && has_ca_key {
        say(
            out,
            format_args!("Using the certificates in {}/", config.certs_dir.display()),
        );
    } else {
        // A set made before client certificates has no ca.key to sign them with: replaced.
        certs::generate(&config.certs_dir, certs::exist(&config.certs_dir))?;
        say(
            out,
            format_args!(
                "Generated development certificates in {}/ (trust {} only)",
                config.certs_dir.display(),
                ca_path.display()
            ),
        );
    }
    let keys = match SigningKeys::load(&config.keys_dir) {
        Ok(keys) => {
            say(
                out,
                format_args!("Using the signing keys in {}/", config.keys_dir.display()),
            );
            keys
        }
        Err(SigningKeysError::NoKeys(_)) => {
            let key = signing_keys::generate(&config.keys_dir, Algorithm::ES256)?;
            say(
                out,
                format_args!(
                    "Generated an ES256 signing key in {}/ (kid {})",
                    config.keys_dir.display(),
                    key.kid
                ),
            );
            SigningKeys::load(&config.keys_dir)?
        }
        Err(e) => return Err(e.into()),
    };
    for client in CLIENT_CERTS {
        if !certs::client_exists(&config.certs_dir, client) {
            certs::generate_client(&config.certs_dir, client, true)?;
        }
    }
    let cert_file = config.certs_dir.join(certs::CERT_FILE);
    let key_file = config.certs_dir.join(certs::KEY_FILE);
    // The authorization server and client1 ask for client certificates; client2 does not.
    let tls_asking = h::server_tls_config_with(&cert_file, &key_file, true)?;
    let tls = h::server_tls_config(&cert_file, &key_file)?;
    let outbound = Outbound::new(&ca_path)?;
    let (client2_cert, client2_key) = certs::client_paths(&config.certs_dir, "client2");
    let client2_outbound = Outbound::with_identity(
        &ca_path,
        Some(ClientIdentity::load(&client2_cert, &client2_key)?),
    )?;

    let bind = |port: u16| async move {
        let addr = SocketAddr::new(config.host, port);
        h::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
    };
    let auth_listener = bind(config.auth_port).await?;
    let resource_listener = bind(config.resource_port).await?;
    let caller_listener = bind(config.caller_port).await?;
    let port = |l: &tokio::net::TcpListener| l.local_addr().map(|a| a.port()).unwrap_or(0);
    let (auth_port, resource_port, caller_port) = (
        port(&auth_listener),
        port(&resource_listener),
        port(&caller_listener),
    );
    let issuer = format!("https://localhost:{auth_port}");
    // client1's audience (RFC 8707): the resource server as a whole.
    let audience = format!("https://localhost:{resource_port}");
    let resource_url = format!("{audience}{RESOURCE_PATH}");
    let call_url = format!("https://localhost:{caller_port}{CALL_PATH}");

    let mut secrets: Vec<(&str, SecretString)> = Vec::new();
    for (id, scopes, introspect) in DEMO_CLIENTS {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        let registration =
            Registration::new(id, scopes, introspect).with_audiences(vec![audience.clone()]);
        let secret = clients_file::add_client(&config.clients_file, &registration)?;
        secrets.push((id, secret));
    }
    // client2: no secret; a new key on every run, registered by its public half.
    let client2_key = Arc::new(SigningKey::generate(Algorithm::ES256)?);
    let client2_keys = VerifyingKeySet::new(vec![client2_key.verifying_key()])?;
    let registration = Registration::new("client2", vec!["read".into()], false)
        .with_audiences(vec![audience.clone()])
        .with_proof(Proof::Jwks(client2_keys));
    clients_file::register(&config.clients_file, &registration)?;
    let registration = Registration::new("mtls", vec!["read".into()], false)
        .with_audiences(vec![audience.clone()])
        .with_proof(Proof::TlsSubjectDn("CN=mtls".into()));
    clients_file::register(&config.clients_file, &registration)?;
    let secret_of = |id: &str| {
        secrets
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| format!("no demo client {id}"))
    };
    let registry = ClientRegistry::load(&config.clients_file)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };

    let mut auth_config = AuthConfig::new(issuer.clone());
    auth_config.token_format = TokenFormat::Jwt;
    // The development CA signs the client certificates too.
    auth_config.client_ca = Some(ClientCa::load(&ca_path)?);
    let auth = Arc::new(AuthServer::new(registry, auth_config).with_signing_keys(keys));
    let auth_task = tokio::spawn(tollgate::auth::run(
        auth_listener,
        tls_asking.clone(),
        config.limits.clone(),
        auth.clone(),
        stopped(),
    ));

    let discovered = Arc::new(Discovered::new(issuer.clone(), outbound.clone()));
    let mut guard_config = GuardConfig::new("client1", secret_of("client1")?);
    guard_config.validation = Validation::Jwt;
    guard_config.audience = Some(audience.clone());
    let guard = TokenGuard::new(guard_config, discovered.clone(), outbound.clone());
    let resource = Arc::new(ResourceService::new(guard, "read"));
    let resource_task = tokio::spawn(app::run(
        resource_listener,
        tls_asking,
        config.limits.clone(),
        resource.clone(),
        discovered.clone(),
        stopped(),
    ));

    let resource_uri: Uri = resource_url
        .parse()
        .map_err(|_| format!("bad resource URL {resource_url}"))?;
    let token_client = TokenClient::new(
        TokenClientConfig {
            client_id: "client2".into(),
            credentials: ClientCredentials::Assertion {
                key: client2_key,
                kid: None,
            },
            scope: None,
            audience: Some(audience.clone()),
        },
        discovered.clone(),
        client2_outbound,
    );
    let caller = Arc::new(CallerService::new(token_client, resource_uri));
    let caller_task = tokio::spawn(app::run(
        caller_listener,
        tls,
        config.limits.clone(),
        caller,
        discovered,
        stopped(),
    ));

    let report = chain_call(&outbound, &call_url, &auth, &resource).await;
    say(
        out,
        format_args!("\nOne call through the chain: GET {call_url}"),
    );
    if report.status == 200 {
        say(
            out,
            format_args!(
                "  1. client2 got a JWT access token for {audience} from the authorization \
                 server at {issuer} (tokens issued: {}), with no secret: it signed an \
                 assertion (private_key_jwt) and presented its client certificate, so the \
                 token is bound to that certificate (cnf x5t#S256)",
                report.tokens_issued
            ),
        );
        say(
            out,
            format_args!(
                "  2. client2 called client1 ({resource_url}) with it over a connection \
                 presenting the same certificate; client1 checked the signature, audience, \
                 expiry and certificate binding itself with the server's published keys \
                 (key set fetches: {}, introspections: {})",
                report.jwks_fetches, report.introspections
            ),
        );
        say(out, format_args!("  3. client1 returned: {}", report.body));
        say(out, format_args!("  4. client2 answered 200 with it"));
    } else {
        say(
            out,
            format_args!(
                "  the call failed: client2 answered {} {}\n  (the services keep running; \
                 see the log on stderr)",
                report.status, report.body
            ),
        );
    }

    say(
        out,
        format_args!("\nDemo clients (fresh secrets on every run; shown only here):"),
    );
    for ((id, scopes, introspect), (_, secret)) in DEMO_CLIENTS.iter().zip(&secrets) {
        let role = if *introspect { ", may introspect" } else { "" };
        say(
            out,
            format_args!(
                "  {id:<8} secret {}  (scope \"{}\"{role})",
                secret.expose(),
                scopes.join(" ")
            ),
        );
    }
    say(
        out,
        format_args!(
            "  client2  no secret: private_key_jwt with a key made at start (scope \"read\")"
        ),
    );
    say(
        out,
        format_args!("  mtls     no secret: tls_client_auth, subject CN=mtls (scope \"read\")"),
    );
    let ca = ca_path.display();
    let demo_secret = secret_of("demo")?;
    let demo_secret = demo_secret.expose();
    let client1_secret = secret_of("client1")?;
    let client1_secret = client1_secret.expose();
    say(out, format_args!("\nTry next:"));
    say(
        out,
        format_args!(
            "  TOKEN=$(curl -s --cacert {ca} -u demo:{demo_secret} -d grant_type=client_credentials \
             {issuer}/oauth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
        ),
    );
    say(
        out,
        format_args!("  curl --cacert {ca} -H \"Authorization: Bearer $TOKEN\" {resource_url}"),
    );
    say(
        out,
        format_args!("  curl --cacert {ca} {resource_url}        # 401: no token"),
    );
    say(out, format_args!("  curl --cacert {ca} {call_url}"));
    say(
        out,
        format_args!(
            "  curl --cacert {ca} -u client1:{client1_secret} --data-urlencode \"token=$TOKEN\" \
             {issuer}/oauth/introspect"
        ),
    );
    say(
        out,
        format_args!(
            "  curl --cacert {ca} -u demo:{demo_secret} --data-urlencode \"token=$TOKEN\" \
             {issuer}/oauth/revoke   # introspection says inactive at once; client1, \
             validating locally, until the token expires"
        ),
    );
    say(
        out,
        format_args!("  curl --cacert {ca} {issuer}/oauth/jwks"),
    );
    let (mtls_cert, mtls_key) = certs::client_paths(&config.certs_dir, "mtls");
    say(
        out,
        format_args!(
            "  curl --cacert {ca} --cert {} --key {} -d grant_type=client_credentials \
             -d client_id=mtls {issuer}/oauth/token   # mTLS: a token bound to that certificate",
            mtls_cert.display(),
            mtls_key.display()
        ),
    );
    say(out, format_args!("\nServing until Ctrl-C."));
    let _ = out.flush();

    shutdown.await;
    let _ = stop_tx.send(true);
    let (auth_done, resource_done, caller_done) =
        tokio::join!(auth_task, resource_task, caller_task);
    let _ = auth_done;
    for done in [resource_done, caller_done] {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => return Err(format!("a service task failed: {e}").into()),
        }
    }
    Ok(())
}

async fn chain_call(
    outbound: &Outbound,
    call_url: &str,
    auth: &AuthServer,
    resource: &ResourceService,
) -> ChainReport {
    let get = |uri: &Uri| {
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = uri.clone();
        request
    };
    let (status, body) = match call_url.parse::<Uri>() {
        Ok(uri) => {
            // The listeners are bound before the services start, so connections queue until
            // they accept; a few retries cover a slow start all the same.
            let mut result = outbound.send(get(&uri)).await;
            for _ in 0..20 {
                if result.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                result = outbound.send(get(&uri)).await;
            }
            match result {
                Ok(answer) => (
                    answer.status.as_u16(),
                    String::from_utf8_lossy(&answer.body).into_owned(),
                ),
                Err(e) => (0, e.to_string()),
            }
        }
        Err(_) => (0, format!("bad URL {call_url}")),
    };
    ChainReport {
        status,
        body,
        tokens_issued: auth.tokens_issued(),
        introspections: resource.guard().introspections(),
        jwks_fetches: resource.guard().jwks_fetches(),
    }
}

fn say(out: &mut (dyn Write + Send), line: std::fmt::Arguments<'_>) {
    let _ = writeln!(out, "{line}");
}
