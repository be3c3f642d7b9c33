//! tollgate: a small, fast OAuth 2.0 client-credentials stack on hyper and rustls.
//!
//! # Layout
//! The layers, top to bottom (docs/ARCHITECTURE.md has the picture and the rules); a module
//! uses only modules below it, and the three OAuth roles never use each other:
//! - [`app`]: the demo services' handlers (`client1`'s resource, `client2`'s caller), shared
//!   by their binaries, the all-in-one demo and the tests.
//! - The roles, siblings: [`auth`] (the authorization server: token, introspection,
//!   revocation, metadata), [`resource`] (the bearer-token guard any hyper service can put in
//!   front of its routes), [`client`] (gets, caches and renews its own token to call
//!   protected APIs).
//! - What the roles share: [`oauth`] (wire shapes: error bodies, Basic credentials, the scope
//!   grammar, paths, the metadata document, the clock, JWS/JWK) and [`discovery`] (an authorization
//!   server's endpoints from its issuer URL, RFC 8414).
//! - [`http`]: the transport: TLS, HTTP/1.1 and HTTP/2 serving, limits, timers, shutdown,
//!   bodies, and the outgoing HTTPS client. Knows nothing of OAuth.
//! - Leaves, used by any layer: [`form`] (strict form parsing), [`json`] (JSON objects written
//!   straight into a buffer, for the hot answers), [`secret`] (random values,
//!   hashes, a string that never prints), [`certs`] (development certificates), [`files`]
//!   (files created and replaced without writing through a planted link), [`access_log`]
//!   (one line per request on stderr, text or JSON, off the request path), [`metrics`]
//!   (lock-free counters and histograms, the Prometheus text format).
//!
//! The binaries in `src/bin/` parse flags, load files, bind, and call into these modules.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod access_log;
pub mod app;
pub mod auth;
pub mod certs;
pub mod client;
pub mod discovery;
pub mod files;
pub mod form;
pub mod http;
pub mod json;
pub mod metrics;
pub mod oauth;
pub mod resource;
pub mod secret;
