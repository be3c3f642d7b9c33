//! `client2`: the demo's caller, `GET /call` calls a protected resource with a managed token.
//! Parses flags and runs [`tollgate::app::CallerService`].
//!
//! ```text
//! client2 [--listen ADDR] [--cert F] [--key F] --auth-server URL --ca F --client-id ID
//!         --resource URL [--scope S] [--client-secret-file F]
//!         [--assertion-key F [--assertion-kid KID]] [--client-cert F --client-key F]
//!         [limit flags]
//! ```
//! The client authenticates with a secret (`OAUTH_CLIENT_SECRET` or the file), a
//! private_key_jwt assertion (`--assertion-key`), or its TLS client certificate alone.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Arc;

use ::http::Uri;
use common::{BoxError, Flags, ServiceFlags};
use tollgate::app::CallerService;
use tollgate::client::{ClientCredentials, TokenClient, TokenClientConfig};
use tollgate::oauth::jose::SigningKey;

const USAGE: &str = "usage:
  client2 [--listen ADDR] [--cert FILE] [--key FILE] --auth-server URL --ca FILE --client-id ID
          --resource URL [--scope SCOPE] [--audience URI] [--client-secret-file FILE]
          [--assertion-key FILE [--assertion-kid KID]] [--client-cert FILE --client-key FILE]
          [limit flags]
defaults: --listen 127.0.0.1:5005 --cert certs/server.pem --key certs/server.key
          no --scope: the token carries all the client's scopes
--audience URI: ask for tokens meant for URI only (RFC 8707 resource=URI)
--assertion-key FILE: authenticate with private_key_jwt (RFC 7523) instead of a secret: a PKCS#8
          PEM key (ES256, EdDSA or RS256) signs a fresh assertion for each token request;
          --assertion-kid names the key in the assertion's header
--client-cert FILE --client-key FILE: present this certificate (PEM) to the authorization
          server and the resource (RFC 8705); with no secret and no --assertion-key it is how
          client2 authenticates, and tokens are bound to it";

fn main() -> ExitCode {
    common::service_main("client2", USAGE, 5005, run)
}

fn run(mut flags: Flags, mut service: ServiceFlags) -> Result<(), BoxError> {
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
    let assertion_key = flags.path("--assertion-key");
    let assertion_kid = flags.value("--assertion-kid")?;
    let client_cert = flags.path("--client-cert");
    let client_key = flags.path("--client-key");
    flags.finish()?;
    service.client_certificate = match (client_cert, client_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--client-cert and --client-key go together".into()),
    };
    if assertion_kid.is_some() && assertion_key.is_none() {
        return Err("--assertion-kid needs --assertion-key".into());
    }
    let credentials = match (assertion_key, service.client_secret.clone()) {
        (Some(_), Some(_)) => {
            return Err("give a client secret or --assertion-key, not both".into());
        }
        (Some(path), None) => {
            let pem = std::fs::read(&path)
                .map_err(|e| format!("cannot read --assertion-key {}: {e}", path.display()))?;
            let key = SigningKey::from_pem(&pem)
                .map_err(|e| format!("--assertion-key {}: {e}", path.display()))?;
            ClientCredentials::Assertion {
                key: Arc::new(key),
                kid: assertion_kid,
            }
        }
        (None, Some(secret)) => ClientCredentials::Secret(secret),
        (None, None) if service.client_certificate.is_some() => ClientCredentials::Certificate,
        (None, None) => {
            return Err(format!(
                "client2 needs a way to authenticate: set {} or pass --client-secret-file FILE, \
             --assertion-key FILE, or --client-cert FILE --client-key FILE",
                common::SECRET_ENV
            )
            .into())
        }
    };
    let client_id = service
        .client_id
        .clone()
        .ok_or("--client-id ID is required")?;

    common::run_service("client2", service, |discovered, outbound, _identity| {
        let config = TokenClientConfig {
            client_id,
            credentials,
            scope,
            audience,
        };
        let client = TokenClient::new(config, discovered, outbound);
        let detail = format!(", resource {resource}");
        (Arc::new(CallerService::new(client, resource)), detail)
    })
}
