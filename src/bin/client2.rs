//! `client2`: the demo's caller, `GET /call` calls a protected resource with a managed token.
//! Parses flags and runs [`tollgate::app::CallerService`].
//!
//! ```text
//! client2 [--listen ADDR] [--cert F] [--key F] --auth-server URL --ca F --client-id ID
//!         --resource URL [--scope S] [--client-secret-file F] [limit flags]
//! ```
//! The client secret comes from `OAUTH_CLIENT_SECRET` or the file.

#[path = "common/mod.rs"]
mod common;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use ::http::Uri;
use common::{BoxError, Flags, ServiceFlags, LIMIT_FLAGS_HELP, SECRET_ENV};
use tollgate::app::CallerService;
use tollgate::client::{TokenClient, TokenClientConfig};

const USAGE: &str = "usage:
  client2 [--listen ADDR] [--cert FILE] [--key FILE] --auth-server URL --ca FILE --client-id ID
          --resource URL [--scope SCOPE] [--client-secret-file FILE] [limit flags]
the client secret comes from OAUTH_CLIENT_SECRET or --client-secret-file (not both)
defaults: --listen 127.0.0.1:5005 --cert certs/server.pem --key certs/server.key
          no --scope: the token carries all the client's scopes
limit flags:";

fn main() -> ExitCode {
    common::main("client2", &format!("{USAGE}\n{LIMIT_FLAGS_HELP}"), run)
}

fn run(args: Vec<OsString>) -> Result<(), BoxError> {
    let mut flags = Flags::parse(args, &[])?;
    let service = ServiceFlags::take(
        &mut flags,
        SocketAddr::from(([127, 0, 0, 1], 5005)),
        std::env::var_os(SECRET_ENV),
    )?;
    let resource = flags
        .value("--resource")?
        .ok_or("--resource URL (the full URL to call) is required")?;
    let resource: Uri = resource
        .parse()
        .ok()
        .filter(|u: &Uri| u.scheme_str() == Some("https") && u.host().is_some())
        .ok_or_else(|| format!("--resource {resource:?} is not an absolute https URL"))?;
    let scope = flags.value("--scope")?.filter(|s| !s.trim().is_empty());
    flags.finish()?;

    common::run_service("client2", service, |discovered, outbound, identity| {
        let config = TokenClientConfig {
            client_id: identity.client_id,
            client_secret: identity.client_secret,
            scope,
        };
        let client = TokenClient::new(config, discovered, outbound);
        let detail = format!(", resource {resource}");
        (Arc::new(CallerService::new(client, resource)), detail)
    })
}
