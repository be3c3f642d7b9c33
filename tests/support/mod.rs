//! The one harness of the integration tests (`mod support;` in each test file).
//!
//! - [`certs`]: the test binary's certificates, made once; fresh temporary directories; client
//!   certificates, CA-issued or self-signed.
//! - [`https`]: the one test [`Client`] (HTTPS over HTTP/1.1 or HTTP/2, or straight into
//!   `AuthServer::respond`), the one [`Reply`], `basic()`.
//! - [`servers`]: in-process services on listeners the test binds: the authorization server,
//!   client1, client2, and any `Handler` on the library's TLS stack.
//! - [`child`]: the binaries as child processes, with the address they bound read from their
//!   log, stderr kept for inspection, killed on drop.
//! - [`raw`]: raw TLS and hand-written HTTP/1.1; HTTP/2 requests whose bodies stall.
//! - [`delay`]: a loopback TCP proxy that puts a peer a fixed delay away.
//! - [`metrics`]: `GET /metrics` over plain HTTP and a strict parser of the Prometheus text
//!   format.
//! - [`fake_auth`]: a stand-in authorization server whose token and introspection answers a
//!   test chooses (refusals, `Retry-After`, odd `expires_in`, no answer at all).
//! - [`redis_server`]: a `redis-server` of the test's own (free port, no persistence), stopped,
//!   restarted and paused by its process id; skipped with a line when there is none.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod certs;
pub mod child;
pub mod delay;
pub mod fake_auth;
pub mod https;
pub mod metrics;
pub mod raw;
#[cfg(feature = "redis")]
pub mod redis_server;
pub mod servers;

use std::time::Duration;

pub use certs::{certs, self_signed, temp_dir, Certs, ClientCert};
pub use delay::{delay_proxy, DelayProxy};
pub use fake_auth::{start_fake_auth, FakeAuth, TokenAnswer};
pub use https::{
    assert_invalid_client, basic, basic_raw, both, http, http_from, http_presenting, http_trusting,
    http_with_tls, Client, Proto, Reply, BOTH,
};
pub use raw::{
    h1_get_status, h2_connection, raw_tls, raw_tls_with, raw_tls_with_ca, read_h1_response,
    time_until_closed, write_all, PartBody,
};
pub use servers::{
    auth, auth_on, client, default_clients, limits, loopback, rebind, start_auth, start_client1,
    start_client1_on, start_client1_with, start_client2, start_client2_with, start_handler, Auth,
    AuthOptions, ClientSpec, Clients, Reserved, Running,
};

/// The longest any single step of a test (one request, one stop) may take before the test
/// fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(15);
