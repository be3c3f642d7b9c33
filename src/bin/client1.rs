//! `client1`: the demo's resource server, `GET /api/resource` behind a bearer-token guard.
//! Parses flags and runs [`tollgate::app::ResourceService`].
//!
//! ```text
//! client1 [--listen ADDR] [--cert F] [--key F] --auth-server URL --ca F --client-id ID
//!         [--cache-ttl SECS] [--required-scope S] [--client-secret-file F] [limit flags]
//! ```
//! The client secret (for introspection) comes from `OAUTH_CLIENT_SECRET` or the file.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use common::{BoxError, Flags, ServiceFlags};
use tollgate::app::ResourceService;
use tollgate::oauth::scope::parse_scope_list;
use tollgate::resource::{GuardConfig, TokenGuard, MAX_CACHE_TTL};

const USAGE: &str = "usage:
  client1 [--listen ADDR] [--cert FILE] [--key FILE] --auth-server URL --ca FILE --client-id ID
          [--cache-ttl SECS] [--required-scope SCOPE] [--client-secret-file FILE] [limit flags]
defaults: --listen 127.0.0.1:5004 --cert certs/server.pem --key certs/server.key
          --cache-ttl 30 (at most 30) --required-scope read";

fn main() -> ExitCode {
    common::service_main("client1", USAGE, 5004, run)
}

fn run(mut flags: Flags, service: ServiceFlags) -> Result<(), BoxError> {
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
    flags.finish()?;

    common::run_service("client1", service, |discovered, outbound, identity| {
        let mut config = GuardConfig::new(identity.client_id, identity.client_secret);
        // "At most 30 s": a longer setting is lowered, not refused.
        config.cache_ttl = Duration::from_secs(cache_ttl).min(MAX_CACHE_TTL);
        let guard = TokenGuard::new(config, discovered, outbound);
        let handler = Arc::new(ResourceService::new(guard, required_scope));
        (handler, String::new())
    })
}
