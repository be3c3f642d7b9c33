//! `oauth-server`: the authorization server command. Parses flags, loads files, binds, and
//! calls [`tollgate::auth::run`].
//!
//! ```text
//! oauth-server gen-certs --out DIR [--force] [--client ID]...
//! oauth-server add-client --clients FILE --id ID [--scope "read write"] [--introspect]
//!                         [--audience URI]...
//!                         [--jwks FILE | --tls-subject-dn DN | --self-signed-cert FILE]
//! oauth-server gen-signing-key --keys DIR [--alg ES256|EdDSA]
//! oauth-server [serve] [--listen ADDR] [--cert FILE] [--key FILE] [--clients FILE]
//!                      [--token-ttl SECS] [--issuer URL] [--token-format opaque|jwt]
//!                      [--signing-keys DIR] [--default-audience URI] [--client-ca FILE]
//!                      [--store memory|redis://HOST:PORT[/DB]|rediss://HOST:PORT[/DB]]
//!                      [--store-prefix P] [--metrics-listen ADDR] [--log-format text|json]
//!                      [limit flags]
//! ```
//! SIGHUP re-reads the clients file, the TLS certificate and key, the signing keys directory
//! and the client CA file, each on its own: one that fails to load keeps what is in use, and
//! one log line says why.

#[path = "common/mod.rs"]
mod common;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use common::operations::{self, OperationsFlags};
use common::{BoxError, Flags, LIMIT_FLAGS_HELP, OPERATIONS_FLAGS_HELP};
use tollgate::auth::clients::ClientRegistry;
use tollgate::auth::clients_file::{self, Proof, Registration};
use tollgate::auth::signing_keys::{self, SigningKeys};
use tollgate::auth::tokens::{ChosenStore, MemoryTokenStore, TokenStore};
use tollgate::auth::{AuthConfig, AuthServer, TokenFormat};
use tollgate::oauth::jose::Algorithm;
use tollgate::oauth::scope::parse_scope_list;
use tollgate::oauth::Issuer;
use tollgate::{access_log, certs, http};

const USAGE: &str = "usage:
  oauth-server gen-certs --out DIR [--force] [--client ID]...
  oauth-server add-client --clients FILE --id ID [--scope \"read write\"] [--introspect]
                          [--audience URI]...
                          [--jwks FILE | --tls-subject-dn DN | --self-signed-cert FILE]
  oauth-server gen-signing-key --keys DIR [--alg ES256|EdDSA]
  oauth-server [serve] [--listen ADDR] [--cert FILE] [--key FILE] [--clients FILE]
                       [--token-ttl SECS] [--issuer URL] [--token-format opaque|jwt]
                       [--signing-keys DIR] [--default-audience URI] [--client-ca FILE]
                       [--store memory|redis://HOST:PORT[/DB]|rediss://HOST:PORT[/DB]]
                       [--store-prefix P] [--metrics-listen ADDR] [--log-format text|json]
                       [limit flags]
defaults: --listen 127.0.0.1:5003 --cert certs/server.pem --key certs/server.key
          --clients clients.json --token-ttl 3600 --issuer https://localhost:PORT
          --token-format opaque --signing-keys keys --default-audience (the issuer)
          --store memory --store-prefix tollgate:
Replicas that share the clients file, the signing keys and a Redis --store act as one
server (redis://user:password@host:port works; the password is never logged).
SIGHUP re-reads the clients file, the TLS certificate and key, the signing keys and the
client CA (--client-ca); one that fails to load is kept as it was.
add-client registers a secret (printed once) unless given the client's JWK Set (--jwks:
private_key_jwt), its certificate's subject (--tls-subject-dn: tls_client_auth, the certificate
must chain to serve's --client-ca) or its self-signed certificate (--self-signed-cert).
--client-ca FILE: ask every client for a certificate (never require one); tokens issued over a
connection with one are bound to it (RFC 8705). gen-certs --client ID writes DIR/ID.pem and
DIR/ID.key, a client certificate (CN=ID) signed by the development CA in DIR.
--issuer is an https URL with no query or fragment; with a path (https://host/tenant) the
endpoints are served under it and the metadata at /.well-known/oauth-authorization-server/tenant
limit flags:";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let first = args.first().map(|a| a.to_string_lossy().into_owned());
    let command = match first.as_deref() {
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}\n{LIMIT_FLAGS_HELP}\noperations flags:\n{OPERATIONS_FLAGS_HELP}");
            return ExitCode::SUCCESS;
        }
        Some(first) if !first.starts_with('-') => {
            args.remove(0);
            first.to_owned()
        }
        _ => "serve".to_owned(),
    };
    let result = match command.as_str() {
        "gen-certs" => gen_certs(args),
        "add-client" => add_client(args),
        "gen-signing-key" => gen_signing_key(args),
        "serve" => serve(args),
        other => Err(format!("unknown command {other:?}\n{USAGE}").into()),
    };
    common::exit_with("oauth-server", result)
}

fn gen_certs(args: Vec<OsString>) -> Result<(), BoxError> {
    let mut flags = Flags::parse_with(args, &["--force"], &["--client"])?;
    let out = flags.path("--out").ok_or("gen-certs needs --out DIR")?;
    let force = flags.switch("--force");
    let clients = flags.values("--client")?;
    flags.finish()?;
    // With --client alone, a directory that has its CA already only gains client certificates.
    if clients.is_empty() || force || !certs::exist(&out) {
        certs::generate(&out, force)?;
        let shown = out.display();
        eprintln!(
            "wrote {shown}/ca.pem, {shown}/ca.key, {shown}/server.pem and {shown}/server.key"
        );
    }
    for client in &clients {
        let (cert, key) = certs::generate_client(&out, client, force)?;
        eprintln!(
            "wrote {} and {} (subject CN={client})",
            cert.display(),
            key.display()
        );
    }
    Ok(())
}

fn add_client(args: Vec<OsString>) -> Result<(), BoxError> {
    let mut flags = Flags::parse_with(args, &["--introspect"], &["--audience"])?;
    let file = flags
        .path("--clients")
        .ok_or("add-client needs --clients FILE")?;
    let id = flags.value("--id")?.ok_or("add-client needs --id ID")?;
    let scopes = parse_scope_list(&flags.value("--scope")?.unwrap_or_default())?;
    let introspect = flags.switch("--introspect");
    let audiences = flags.values("--audience")?;
    let jwks = flags.path("--jwks");
    let subject = flags.value("--tls-subject-dn")?;
    let self_signed = flags.path("--self-signed-cert");
    flags.finish()?;
    let proof = match (jwks, subject, self_signed) {
        (None, None, None) => Proof::Secret,
        (Some(jwks), None, None) => {
            let text = std::fs::read(&jwks)
                .map_err(|e| format!("cannot read --jwks {}: {e}", jwks.display()))?;
            let keys = clients_file::client_jwks(&text)
                .map_err(|e| format!("--jwks {}: {e}", jwks.display()))?;
            Proof::Jwks(keys)
        }
        (None, Some(subject), None) => Proof::TlsSubjectDn(subject),
        (None, None, Some(cert)) => {
            let chain = http::tls::load_certificates(&cert)?;
            Proof::SelfSignedCert(tollgate::secret::sha256(chain[0].as_ref()))
        }
        _ => {
            return Err(
                "give at most one of --jwks, --tls-subject-dn and --self-signed-cert".into(),
            )
        }
    };
    let registration = Registration::new(&id, scopes, introspect)
        .with_audiences(audiences)
        .with_proof(proof);
    let line = match clients_file::register(&file, &registration)? {
        // The only place a client secret is ever shown.
        Some(secret) => serde_json::json!({ "client_id": id, "client_secret": secret.expose() }),
        None => serde_json::json!({ "client_id": id }),
    };
    println!("{line}");
    Ok(())
}

fn gen_signing_key(args: Vec<OsString>) -> Result<(), BoxError> {
    let mut flags = Flags::parse(args, &[])?;
    let dir = flags
        .path("--keys")
        .ok_or("gen-signing-key needs --keys DIR")?;
    let alg = match flags.value("--alg")?.as_deref() {
        None | Some("ES256") => Algorithm::ES256,
        Some("EdDSA") => Algorithm::EdDSA,
        Some(other) => return Err(format!("--alg takes ES256 or EdDSA, not {other:?}").into()),
    };
    flags.finish()?;
    let key = signing_keys::generate(&dir, alg)?;
    // One JSON line, like add-client's; the private key stays in the file.
    let line = serde_json::json!({ "kid": key.kid, "alg": key.alg.name() });
    println!("{line}");
    Ok(())
}

fn serve(args: Vec<OsString>) -> Result<(), BoxError> {
    let mut flags = Flags::parse(args, &[])?;
    let server = flags.server(SocketAddr::from(([127, 0, 0, 1], 5003)))?;
    let clients_file = flags
        .path("--clients")
        .unwrap_or_else(|| PathBuf::from("clients.json"));
    let token_ttl: u64 = flags
        .parsed("--token-ttl", "a whole number of seconds")?
        .unwrap_or(3600);
    if token_ttl == 0 {
        return Err("--token-ttl must be at least 1 second".into());
    }
    let issuer = flags.value("--issuer")?;
    let token_format = match flags.value("--token-format")?.as_deref() {
        None | Some("opaque") => TokenFormat::Opaque,
        Some("jwt") => TokenFormat::Jwt,
        Some(other) => {
            return Err(format!("--token-format takes opaque or jwt, not {other:?}").into())
        }
    };
    let keys_given = flags.path("--signing-keys");
    let default_audience = flags.resource_indicator("--default-audience")?;
    let client_ca = flags.path("--client-ca");
    let store = flags
        .value("--store")?
        .unwrap_or_else(|| "memory".to_owned());
    let store_prefix = flags
        .value("--store-prefix")?
        .unwrap_or_else(|| "tollgate:".to_owned());
    if store != "memory" && !is_redis_url(&store) {
        return Err(
            "--store takes memory, redis://HOST:PORT[/DB] or rediss://HOST:PORT[/DB]".into(),
        );
    }
    let mut limits = flags.limits()?;
    let ops = OperationsFlags::take(&mut flags)?;
    flags.finish()?;
    ops.apply_log_format();
    // Checked before anything is bound: metadata naming URLs nobody serves is worse than none.
    if let Some(issuer) = &issuer {
        Issuer::parse(issuer).map_err(|e| format!("--issuer: {e}"))?;
    }
    common::fit_open_file_limit("oauth-server", &mut limits, 1);

    let registry = ClientRegistry::load(&clients_file)?;
    // Keys are read for the JWT format, or when a directory is named (so JWTs issued before a
    // switch back to opaque tokens still introspect until they expire).
    let keys_dir = keys_given.clone().unwrap_or_else(|| PathBuf::from("keys"));
    let with_keys = token_format == TokenFormat::Jwt || keys_given.is_some();
    let keys = if with_keys {
        SigningKeys::load(&keys_dir)?
    } else {
        SigningKeys::none()
    };
    let client_ca_file = client_ca;
    let client_ca = client_ca_file
        .as_deref()
        .map(http::ClientCa::load)
        .transpose()?;
    let (certificate, tls) =
        operations::server_certificate(&server.cert, &server.key, client_ca.is_some())?;
    let listen = server.listen;
    common::runtime()?.block_on(async move {
        let listener = http::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        // With port 0 the kernel picks the port: log and use the address actually bound.
        let bound = listener.local_addr().unwrap_or(listen);
        let issuer = issuer.unwrap_or_else(|| format!("https://localhost:{}", bound.port()));
        let mut config = AuthConfig::new(issuer.clone());
        config.token_ttl = Duration::from_secs(token_ttl);
        config.max_body_bytes = limits.max_body_bytes;
        config.token_format = token_format;
        config.default_audience = default_audience;
        config.client_ca = client_ca;
        let clients = registry.len();
        let key_count = keys.published().len();
        let about =
            format!("issuer {issuer}, {clients} client(s), {key_count} signing key(s), store");
        let run = Running {
            listener,
            tls,
            limits,
            bound,
            keys_dir: with_keys.then_some(keys_dir),
            certificate,
            clients_file,
            client_ca_file,
            ops,
        };
        // One store type whichever is chosen, so the request paths are compiled once.
        let (chosen, about) = if store == "memory" {
            let memory = MemoryTokenStore::with_policies(
                config.client_lockout.clone(),
                config.address_budget.clone(),
            );
            (ChosenStore::Memory(memory), format!("{about} memory"))
        } else {
            let (shared, location) = redis_store(&config, &store, &store_prefix)?;
            (
                shared,
                format!("{about} {location} (prefix {store_prefix})"),
            )
        };
        let server = AuthServer::with_store(registry, config, Arc::new(chosen));
        run.serve(server.with_signing_keys(keys), about).await
    })
}

/// The Redis store at `url`, and where that is (without credentials).
#[cfg(feature = "redis")]
fn redis_store(
    config: &AuthConfig,
    url: &str,
    prefix: &str,
) -> Result<(ChosenStore, String), BoxError> {
    use tollgate::auth::redis_store::RedisStore;
    let store = RedisStore::open(url, prefix, &config.client_lockout, &config.address_budget)?;
    let location = store.location().to_owned();
    Ok((ChosenStore::Redis(store), location))
}

#[cfg(not(feature = "redis"))]
fn redis_store(_: &AuthConfig, _: &str, _: &str) -> Result<(ChosenStore, String), BoxError> {
    Err("--store redis:// needs a build with the redis feature (the default)".into())
}

#[cfg(feature = "redis")]
use tollgate::auth::redis_store::is_redis_url;

#[cfg(not(feature = "redis"))]
fn is_redis_url(store: &str) -> bool {
    store.starts_with("redis://") || store.starts_with("rediss://")
}

/// What `serve` has bound and read, whichever store it serves with.
struct Running {
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: http::Limits,
    bound: SocketAddr,
    /// The keys directory to re-read on SIGHUP, when keys are in use.
    keys_dir: Option<PathBuf>,
    /// The TLS certificate and key, re-read on SIGHUP.
    certificate: Arc<http::ServerCertificate>,
    /// The clients file, re-read on SIGHUP.
    clients_file: PathBuf,
    /// The client CA file (`--client-ca`), re-read on SIGHUP.
    client_ca_file: Option<PathBuf>,
    ops: OperationsFlags,
}

impl Running {
    async fn serve<S: TokenStore>(
        self,
        server: AuthServer<S>,
        about: String,
    ) -> Result<(), BoxError> {
        let server = Arc::new(server);
        let bound = self.bound;
        access_log::event(format_args!("oauth-server listening on {bound} ({about})"));
        let metrics = self
            .ops
            .start_metrics("oauth-server", server.clone())
            .await?;
        let reloading = server.clone();
        let (keys_dir, certificate, clients_file, client_ca_file) = (
            self.keys_dir,
            self.certificate,
            self.clients_file,
            self.client_ca_file,
        );
        let reloader = operations::on_hangup(move || {
            reload_clients(&reloading, &clients_file);
            operations::reload_certificate(&certificate);
            if let Some(dir) = &keys_dir {
                reload_keys(&reloading, dir);
            }
            if let Some(file) = &client_ca_file {
                reload_client_ca(&reloading, file);
            }
        });
        let (listener, tls, limits) = (self.listener, self.tls, self.limits);
        tollgate::auth::run(listener, tls, limits, server, http::shutdown_signal()).await;
        reloader.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        access_log::event(format_args!("oauth-server stopped"));
        access_log::flush();
        Ok(())
    }
}

/// Re-reads the clients file (on SIGHUP): added clients authenticate from the next request,
/// removed ones are refused, and tokens already issued stay valid. A file that does not load
/// (missing, not JSON, an invalid entry) leaves the registry in use as it was.
fn reload_clients<S: TokenStore>(server: &AuthServer<S>, file: &Path) {
    match ClientRegistry::load(file) {
        Ok(registry) => {
            let count = registry.len();
            server.replace_clients(registry);
            access_log::event(format_args!(
                "SIGHUP: {count} client(s) loaded from {}",
                file.display()
            ));
        }
        Err(e) => access_log::event(format_args!("SIGHUP: clients kept: {e}")),
    }
}

/// Re-reads the signing keys (on SIGHUP): the new set is published and signs at once; a
/// directory that does not load leaves the keys in use as they were.
fn reload_keys<S: TokenStore>(server: &AuthServer<S>, dir: &Path) {
    match SigningKeys::load(dir) {
        Ok(keys) => {
            let count = keys.published().len();
            server.replace_signing_keys(keys);
            access_log::event(format_args!(
                "SIGHUP: {count} signing key(s) loaded from {}",
                dir.display()
            ));
        }
        Err(e) => access_log::event(format_args!("SIGHUP: signing keys kept: {e}")),
    }
}

/// Re-reads the client CA (on SIGHUP): `tls_client_auth` certificates must chain to the new
/// one from the next request; a file that does not load leaves the CA in use as it was.
fn reload_client_ca<S: TokenStore>(server: &AuthServer<S>, file: &Path) {
    match http::ClientCa::load(file) {
        Ok(ca) => {
            server.replace_client_ca(ca);
            access_log::event(format_args!(
                "SIGHUP: client CA loaded from {}",
                file.display()
            ));
        }
        Err(e) => access_log::event(format_args!("SIGHUP: client CA kept: {e}")),
    }
}
