//! `client2`: the demo's caller, `GET /call` calls a protected resource with a managed token.
//! Parses flags, binds, and calls [`tollgate::services::run`].
//!
//! ```text
//! client2 [--listen ADDR] [--cert F] [--key F] --auth-server URL --ca F --client-id ID
//!         --resource URL [--scope S] [--client-secret-file F] [limit flags]
//! ```
//! The client secret comes from `OAUTH_CLIENT_SECRET` or the file.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use ::http::Uri;
use tollgate::access_log;
use tollgate::cli::Flags;
use tollgate::client::{TokenClient, TokenClientConfig};
use tollgate::discovery::Discovered;
use tollgate::http;
use tollgate::outbound::Outbound;
use tollgate::services::{self, CallerService, ServiceFlags, SECRET_ENV};

const USAGE: &str = "usage:
  client2 [--listen ADDR] [--cert FILE] [--key FILE] --auth-server URL --ca FILE --client-id ID
          --resource URL [--scope SCOPE] [--client-secret-file FILE] [limit flags]
the client secret comes from OAUTH_CLIENT_SECRET or --client-secret-file (not both)
defaults: --listen 127.0.0.1:5005 --cert certs/server.pem --key certs/server.key
          no --scope: the token carries all the client's scopes
limit flags:";

fn main() -> ExitCode {
    tollgate::cli::service_main("client2", USAGE, run)
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut flags = Flags::parse(args, &[])?;
    let common = ServiceFlags::take(
        &mut flags,
        SocketAddr::from(([127, 0, 0, 1], 5005)),
        std::env::var(SECRET_ENV).ok(),
    )?;
    let resource = flags
        .value("--resource")
        .ok_or("--resource URL (the full URL to call) is required")?;
    let resource: Uri = resource
        .parse()
        .ok()
        .filter(|u: &Uri| u.scheme_str() == Some("https") && u.host().is_some())
        .ok_or_else(|| format!("--resource {resource:?} is not an absolute https URL"))?;
    let scope = flags.value("--scope").filter(|s| !s.trim().is_empty());
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
        let client = TokenClient::new(
            TokenClientConfig {
                client_id: common.client_id,
                client_secret: common.client_secret,
                scope,
            },
            discovered.clone(),
            outbound,
        );
        let service = Arc::new(CallerService::new(client, resource.clone()));
        access_log::event(format_args!(
            "client2 listening on {bound} (authorization server {}, resource {resource})",
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
        access_log::event(format_args!("client2 stopped"));
        access_log::flush();
        result.map_err(|e| e.to_string())
    })
}
