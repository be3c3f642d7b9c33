//! `client1`: the demo's resource server, `GET /api/resource` behind a bearer-token guard.
//! Parses flags, binds, and calls [`tollgate::services::run`].
//!
//! ```text
//! client1 [--listen ADDR] [--cert F] [--key F] --auth-server URL --ca F --client-id ID
//!         [--cache-ttl SECS] [--required-scope S] [--client-secret-file F] [limit flags]
//! ```
//! The client secret (for introspection) comes from `OAUTH_CLIENT_SECRET` or the file.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tollgate::access_log;
use tollgate::cli::Flags;
use tollgate::discovery::Discovered;
use tollgate::http;
use tollgate::outbound::Outbound;
use tollgate::resource::{GuardConfig, TokenGuard, MAX_CACHE_TTL};
use tollgate::services::{self, ResourceService, ServiceFlags, SECRET_ENV};

const USAGE: &str = "usage:
  client1 [--listen ADDR] [--cert FILE] [--key FILE] --auth-server URL --ca FILE --client-id ID
          [--cache-ttl SECS] [--required-scope SCOPE] [--client-secret-file FILE] [limit flags]
the client secret comes from OAUTH_CLIENT_SECRET or --client-secret-file (not both)
defaults: --listen 127.0.0.1:5004 --cert certs/server.pem --key certs/server.key
          --cache-ttl 30 (at most 30) --required-scope read
limit flags:";

fn main() -> ExitCode {
    tollgate::cli::service_main("client1", USAGE, run)
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut flags = Flags::parse(args, &[])?;
    let common = ServiceFlags::take(
        &mut flags,
        SocketAddr::from(([127, 0, 0, 1], 5004)),
        std::env::var(SECRET_ENV).ok(),
    )?;
    let cache_ttl: u64 = flags
        .parsed("--cache-ttl", "a whole number of seconds")?
        .unwrap_or(MAX_CACHE_TTL.as_secs());
    let required_scope = flags
        .value("--required-scope")
        .unwrap_or_else(|| "read".into());
    // An empty scope would let every valid token in, whatever it was granted for.
    let required = tollgate::auth::clients::parse_scope_list(&required_scope)?;
    if required.is_empty() {
        return Err("--required-scope needs at least one scope".into());
    }
    let required_scope = required.join(" ");
    flags.finish()?;

    let tls = http::server_tls_config(&common.cert, &common.key).map_err(|e| e.to_string())?;
    let outbound = Outbound::new(&common.ca).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = http::bind(common.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", common.listen))?;
        // With port 0 the kernel picks the port: log the address actually bound.
        let bound = listener.local_addr().unwrap_or(common.listen);
        let discovered = Arc::new(Discovered::new(
            common.auth_server.clone(),
            outbound.clone(),
        ));
        let mut config = GuardConfig::new(common.client_id, common.client_secret);
        // "At most 30 s": a longer setting is lowered, not refused.
        config.cache_ttl = Duration::from_secs(cache_ttl).min(MAX_CACHE_TTL);
        let guard = TokenGuard::new(config, discovered.clone(), outbound);
        let service = Arc::new(ResourceService::new(guard, required_scope));
        access_log::event(format_args!(
            "client1 listening on {bound} (authorization server {})",
            common.auth_server
        ));
        let result = services::run(
            listener,
            tls,
            common.limits,
            service,
            discovered,
            http::shutdown_signal(),
        )
        .await;
        access_log::event(format_args!("client1 stopped"));
        access_log::flush();
        result.map_err(|e| e.to_string())
    })
}
