//! `oauth-server`: the authorization server command. Parses flags, loads files, binds, and
//! calls [`tollgate::auth::run`].
//!
//! ```text
//! oauth-server gen-certs --out DIR [--force]
//! oauth-server add-client --clients FILE --id ID [--scope "read write"] [--introspect]
//!                         [--audience URI]...
//! oauth-server gen-signing-key --keys DIR [--alg ES256|EdDSA]
//! oauth-server [serve] [--listen ADDR] [--cert FILE] [--key FILE] [--clients FILE]
//!                      [--token-ttl SECS] [--issuer URL] [--token-format opaque|jwt]
//!                      [--signing-keys DIR] [--default-audience URI]
//!                      [--store memory|redis://HOST:PORT[/DB]|rediss://HOST:PORT[/DB]]
//!                      [--store-prefix P] [limit flags]
//! ```
//! SIGHUP re-reads the signing keys directory (a directory that fails to load keeps the keys
//! in use, and the log says why).

#[path = "common/mod.rs"]
mod common;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use common::{BoxError, Flags, LIMIT_FLAGS_HELP};
use tollgate::auth::clients::ClientRegistry;
use tollgate::auth::clients_file::{self, Registration};
use tollgate::auth::signing_keys::{self, SigningKeys};
use tollgate::auth::tokens::TokenStore;
use tollgate::auth::{AuthConfig, AuthServer, TokenFormat};
use tollgate::oauth::jose::Algorithm;
use tollgate::oauth::scope::parse_scope_list;
use tollgate::oauth::Issuer;
use tollgate::{access_log, certs, http};

const USAGE: &str = "usage:
  oauth-server gen-certs --out DIR [--force]
  oauth-server add-client --clients FILE --id ID [--scope \"read write\"] [--introspect]
                          [--audience URI]...
  oauth-server gen-signing-key --keys DIR [--alg ES256|EdDSA]
  oauth-server [serve] [--listen ADDR] [--cert FILE] [--key FILE] [--clients FILE]
                       [--token-ttl SECS] [--issuer URL] [--token-format opaque|jwt]
                       [--signing-keys DIR] [--default-audience URI]
                       [--store memory|redis://HOST:PORT[/DB]|rediss://HOST:PORT[/DB]]
                       [--store-prefix P] [limit flags]
defaults: --listen 127.0.0.1:5003 --cert certs/server.pem --key certs/server.key
          --clients clients.json --token-ttl 3600 --issuer https://localhost:PORT
          --token-format opaque --signing-keys keys --default-audience (the issuer)
          --store memory --store-prefix tollgate:
Replicas that share the clients file, the signing keys and a Redis --store act as one
server (redis://user:password@host:port works; the password is never logged).
SIGHUP re-reads the signing keys.
--issuer is an https URL with no query or fragment; with a path (https://host/tenant) the
endpoints are served under it and the metadata at /.well-known/oauth-authorization-server/tenant
limit flags:";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let first = args.first().map(|a| a.to_string_lossy().into_owned());
    let command = match first.as_deref() {
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}\n{LIMIT_FLAGS_HELP}");
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
    let mut flags = Flags::parse(args, &["--force"])?;
    let out = flags.path("--out").ok_or("gen-certs needs --out DIR")?;
    let force = flags.switch("--force");
    flags.finish()?;
    certs::generate(&out, force)?;
    let out = out.display();
    eprintln!("wrote {out}/ca.pem, {out}/server.pem and {out}/server.key");
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
    flags.finish()?;
    let registration = Registration::new(&id, scopes, introspect).with_audiences(audiences);
    let secret = clients_file::add_client(&file, &registration)?;
    // The only place a client secret is ever shown.
    let line = serde_json::json!({ "client_id": id, "client_secret": secret.expose() });
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
    flags.finish()?;
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
    let tls = http::server_tls_config(&server.cert, &server.key)?;
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
        };
        if store == "memory" {
            let server = AuthServer::new(registry, config).with_signing_keys(keys);
            return run.serve(server, format!("{about} memory")).await;
        }
        let (server, location) = redis_server(registry, config, &store, &store_prefix)?;
        let about = format!("{about} {location} (prefix {store_prefix})");
        run.serve(server.with_signing_keys(keys), about).await
    })
}

/// A server on the Redis store `url`, and where that is (without credentials).
#[cfg(feature = "redis")]
fn redis_server(
    registry: ClientRegistry,
    config: AuthConfig,
    url: &str,
    prefix: &str,
) -> Result<(AuthServer<tollgate::auth::redis_store::RedisStore>, String), BoxError> {
    use tollgate::auth::redis_store::RedisStore;
    let store = RedisStore::open(url, prefix, &config.client_lockout, &config.address_budget)?;
    let location = store.location().to_owned();
    Ok((
        AuthServer::with_store(registry, config, Arc::new(store)),
        location,
    ))
}

#[cfg(not(feature = "redis"))]
fn redis_server(
    _: ClientRegistry,
    _: AuthConfig,
    _: &str,
    _: &str,
) -> Result<(AuthServer, String), BoxError> {
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
        let reloader = self
            .keys_dir
            .map(|dir| tokio::spawn(reload_keys_on_sighup(server.clone(), dir)));
        let (listener, tls, limits) = (self.listener, self.tls, self.limits);
        tollgate::auth::run(listener, tls, limits, server, http::shutdown_signal()).await;
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        access_log::event(format_args!("oauth-server stopped"));
        access_log::flush();
        Ok(())
    }
}

/// On every SIGHUP, re-reads the signing keys: the new set is published and signs at once;
/// a directory that does not load leaves the keys in use as they were.
async fn reload_keys_on_sighup<S: TokenStore>(server: Arc<AuthServer<S>>, dir: PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        access_log::event(format_args!(
            "SIGHUP cannot be watched; keys reload disabled"
        ));
        return;
    };
    while hangups.recv().await.is_some() {
        match SigningKeys::load(&dir) {
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
}
