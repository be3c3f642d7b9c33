//! tollgate: a small, fast OAuth 2.0 client-credentials stack on hyper and rustls.
//!
//! # Layout
//! - [`http`]: TLS listener, HTTP/1.1 and HTTP/2 serving, limits, graceful shutdown, response
//!   helpers. Knows nothing of OAuth.
//! - [`auth`]: the authorization server (token, introspection, revocation, metadata).
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
pub mod form;
pub mod http;
pub mod secret;
