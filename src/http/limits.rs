//! The bounds the transport enforces on every connection, as plain data.
//!
//! Owns: the numbers and their defaults, and why each exists. Does not own: how they are set
//! (the binaries' flags), nor enforcing them (`server` and `conn`).

use std::time::Duration;

/// Server limits. Every one has a default and a command-line flag in the binaries.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest TLS handshake; a slow or stuck one is cut, and since the connection cap counts
    /// handshaking connections too, half-open connections cannot exhaust it.
    pub handshake_timeout: Duration,
    /// Longest time from the first byte of an HTTP/1 request head to its end.
    pub head_timeout: Duration,
    /// Longest time from a request's head being handed to the service to the end of its body
    /// (408 beyond): with the head timeout, this bounds the time to read a whole request, so
    /// a client that stops sending a body cannot hold its connection or stream.
    pub body_timeout: Duration,
    /// Idle connections (no request in flight) close after this.
    pub idle_timeout: Duration,
    /// Most connections served at once; beyond, new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Most connections served at once from one address (an IPv6 address counts by its /64);
    /// beyond, new ones from it are closed at once, before the TLS handshake, so one host
    /// cannot take the whole of [`Limits::max_connections`].
    pub max_connections_per_address: usize,
    /// Largest request body a service reads (413 beyond).
    pub max_body_bytes: usize,
    /// Largest request head (431 beyond). hyper refuses a read buffer below 8 KiB.
    pub max_head_bytes: usize,
    /// Most concurrent HTTP/2 streams per connection.
    pub h2_max_streams: u32,
    /// Largest HTTP/2 header list.
    pub h2_max_header_bytes: u32,
    /// How long in-flight requests may run after a shutdown signal before connections are cut.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(5),
            head_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_connections_per_address: 512,
            max_body_bytes: 16 * 1024,
            max_head_bytes: 16 * 1024,
            h2_max_streams: 128,
            h2_max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The smallest head limit hyper accepts for its read buffer.
    pub const MIN_HEAD_BYTES: usize = 8192;
}
