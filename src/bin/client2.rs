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

use std::process::ExitCode;
use std::sync::Arc;

use ::http::Uri;
use common::{BoxError, Flags, ServiceFlags};
use tollgate::app::CallerService;
use tollgate::client::{TokenClient, TokenClientConfig};
use tollgate::secret::SecretString;

const USAGE: &str = "usage:
  client2 [--listen ADDR] [--cert FILE] [--key FILE] --auth-server URL --ca FILE --client-id ID
          --resource URL [--scope SCOPE] [--audience URI] [--client-secret-file FILE]
          [limit flags]
defaults: --listen 127.0.0.1:5005 --cert certs/server.pem --key certs/server.key
          no --scope: the token carries all the client's scopes
--audience URI: ask for tokens meant for URI only (RFC 8707 resource=URI)";

fn main() -> ExitCode {
    common::service_main("client2", USAGE, 5005, run)
}

fn run(mut flags: Flags, service: ServiceFlags) -> Result<(), BoxError> {
    let resource = flags
        .value("--resource")?
        .ok_or("--resource URL (the full URL to call) is required")?;
    let resource: Uri = resource
        .parse()
        .ok()
        .filter(|u: &Uri| u.scheme_str() == Some("https") && u.host().is_some())
        .ok_or_else(|| format!("--resource {resource:?} is not an absolute https URL"))?;
    let scope = flags.value("--scope")?.filter(|s| !s.trim().is_empty());
    let audience = flags.resource_indicator("--audience")?;
    flags.finish()?;
    service.require_identity()?;

    common::run_service("client2", service, |discovered, outbound, identity| {
        let config = TokenClientConfig {
            client_id: identity.client_id.unwrap_or_default(),
            client_secret: identity
                .client_secret
                .unwrap_or_else(|| SecretString::new(String::new())),
            scope,
            audience,
        };
        let client = TokenClient::new(config, discovered, outbound);
        let detail = format!(", resource {resource}");
        (Arc::new(CallerService::new(client, resource)), detail)
    })
}
