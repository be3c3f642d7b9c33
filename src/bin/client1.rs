//! `client1`: the demo's resource server, `GET /api/resource` behind a bearer-token guard.
//! Parses flags and runs [`tollgate::app::ResourceService`].
//!
//! ```text
//! client1 [--listen ADDR] [--cert F] [--key F] --auth-server URL --ca F [--client-id ID]
//!         [--validation introspect|jwt] [--audience URI] [--clock-leeway SECS]
//!         [--cache-ttl SECS] [--required-scope S] [--client-secret-file F] [--client-ca F]
//!         [limit flags]
//! ```
//! The client id and secret (for introspection; `jwt` validation needs neither) come from
//! `--client-id` and `OAUTH_CLIENT_SECRET` or the file.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use common::{BoxError, Flags, ServiceFlags};
use tollgate::app::ResourceService;
use tollgate::oauth::scope::parse_scope_list;
use tollgate::resource::{
    GuardConfig, TokenGuard, Validation, DEFAULT_CLOCK_LEEWAY, MAX_CACHE_TTL,
};
use tollgate::secret::SecretString;

const USAGE: &str = "usage:
  client1 [--listen ADDR] [--cert FILE] [--key FILE] --auth-server URL --ca FILE
          [--client-id ID] [--validation introspect|jwt] [--audience URI] [--clock-leeway SECS]
          [--cache-ttl SECS] [--required-scope SCOPE] [--client-secret-file FILE]
          [--client-ca FILE] [limit flags]
defaults: --listen 127.0.0.1:5004 --cert certs/server.pem --key certs/server.key
          --validation introspect (needs --client-id and a secret) --clock-leeway 30
          --cache-ttl 30 (at most 30) --required-scope read
--audience URI: refuse tokens not meant for URI (RFC 8707); required with --validation jwt
--client-ca FILE: ask callers for a TLS client certificate, never require one; a token bound to
          a certificate (RFC 8705) is accepted only over a connection presenting it";

fn main() -> ExitCode {
    common::service_main("client1", USAGE, 5004, run)
}

fn run(mut flags: Flags, mut service: ServiceFlags) -> Result<(), BoxError> {
    let cache_ttl: u64 = flags
        .parsed("--cache-ttl", "a whole number of seconds")?
        .unwrap_or(MAX_CACHE_TTL.as_secs());
    let required_scope = flags
        .value("--required-scope")?
        .unwrap_or_else(|| "read".into());
    // An empty scope would let every valid token in, whatever it was granted for.
    let required = parse_scope_list(&required_scope)?;
    if required.is_empty() {
        return Err("--required-scope needs at least one scope".into());
    }
    let required_scope = required.join(" ");
    let validation = match flags.value("--validation")?.as_deref() {
        None | Some("introspect") => Validation::Introspect,
        Some("jwt") => Validation::Jwt,
        Some(other) => {
            return Err(format!("--validation takes introspect or jwt, not {other:?}").into())
        }
    };
    let audience = flags.resource_indicator("--audience")?;
    let leeway: u64 = flags
        .parsed("--clock-leeway", "a whole number of seconds")?
        .unwrap_or(DEFAULT_CLOCK_LEEWAY.as_secs());
    // The binding check needs only the certificate's thumbprint; the file is read to refuse a
    // wrong path at start, and names the CA whose clients are expected.
    if let Some(client_ca) = flags.path("--client-ca") {
        tollgate::http::ClientCa::load(&client_ca)?;
        service.ask_client_certificates = true;
    }
    flags.finish()?;
    match validation {
        Validation::Introspect => service.require_identity()?,
        Validation::Jwt if audience.is_none() => {
            return Err("--validation jwt needs --audience URI (this resource server)".into())
        }
        Validation::Jwt => {}
    }

    common::run_service("client1", service, |discovered, outbound, identity| {
        let client_id = identity.client_id.unwrap_or_default();
        let secret = identity
            .client_secret
            .unwrap_or_else(|| SecretString::new(String::new()));
        let mut config = GuardConfig::new(client_id, secret);
        // "At most 30 s": a longer setting is lowered, not refused.
        config.cache_ttl = Duration::from_secs(cache_ttl).min(MAX_CACHE_TTL);
        config.validation = validation;
        config.audience = audience;
        config.clock_leeway = Duration::from_secs(leeway);
        let guard = TokenGuard::new(config, discovered, outbound);
        let handler = Arc::new(ResourceService::new(guard, required_scope));
        (handler, String::new())
    })
}
