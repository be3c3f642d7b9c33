//! tollgate: a small, fast OAuth 2.0 client-credentials stack on hyper and rustls.
//!
//! # Layout
//! - [`http`]: TLS listener, HTTP/1.1 and HTTP/2 serving, limits, graceful shutdown, response
//!   helpers. Knows nothing of OAuth.
//! - [`auth`]: the authorization server (token, introspection, revocation, metadata).
//! - [`resource`]: the bearer-token guard any hyper service can put in front of its routes.
//! - [`client`]: a client that gets, caches and renews its own token to call protected APIs.
//! - [`discovery`]: an authorization server's endpoints from its issuer URL (RFC 8414).
//! - [`outbound`]: the pooled HTTPS client for calls between services.
//! - [`services`]: the demo's resource server (`client1`) and caller (`client2`).
//! - [`demo`]: the all-in-one `tollgate` command: every service in one process.
//! - [`form`]: strict `application/x-www-form-urlencoded` parsing.
//! - [`secret`]: random secrets and tokens, hashes, and a string type that never prints.
//! - [`access_log`]: one line per request on stderr, off the request path.
//! - [`certs`]: development certificates (a CA and a server certificate it signs).
//! - [`cli`]: the small flag parser the binaries share.
//!
//! The binaries in `src/bin/` only parse flags, bind, and call into these modules.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod access_log;
pub mod auth;
pub mod certs;
pub mod cli;
pub mod client;
pub mod demo;
pub mod discovery;
pub mod form;
pub mod http;
pub mod jose;
pub mod outbound;
pub mod resource;
pub mod secret;
pub mod services;
