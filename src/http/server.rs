//! Binding, the accept loop and graceful shutdown.
//!
//! Owns: the connection cap (a semaphore permit taken *before* accept, so at the cap new
//! connections wait in the kernel's backlog instead of costing memory here, and held through
//! the TLS handshake so half-open connections count), the cap per address (a connection from
//! an address already at [`Limits::max_connections_per_address`] is closed as soon as it is
//! accepted, before any TLS work, and its permit is free again at once; logged at most once a
//! second), the bounded handshake, accept errors retried with a backoff (EMFILE and the like
//! are never fatal), and the drain on shutdown: stop accepting, let requests in flight finish
//! for [`Limits::shutdown_grace`], cut the rest.
//! Does not own: what happens on a connection once its handshake is done (`conn`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use super::conn::serve_connection;
use super::per_address::AddressCounts;
use super::{ClientCertificate, Handler, Limits, Peer};
use crate::access_log;

/// Binds a listening socket. Rust's listener sets `SO_REUSEADDR`, so a restarted server can
/// bind the same port at once even while old connections sit in TIME_WAIT.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Connections closed at the per-address cap, logged at most once a second so that a flood of
/// them cannot become a flood of log lines.
#[derive(Default)]
struct Refusals {
    /// Closed since the last line.
    count: u64,
    last_logged: Option<tokio::time::Instant>,
}

impl Refusals {
    fn note(&mut self, peer: SocketAddr, cap: usize) {
        self.count += 1;
        let now = tokio::time::Instant::now();
        if self
            .last_logged
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            return;
        }
        access_log::event(format_args!(
            "closed {} connection(s) beyond the cap of {cap} per address, the last from {}",
            self.count,
            peer.ip()
        ));
        self.count = 0;
        self.last_logged = Some(now);
    }
}

/// Serves `handler` on `listener` over TLS until `shutdown` resolves, then stops accepting,
/// lets in-flight requests finish for at most [`Limits::shutdown_grace`], cuts the rest, and
/// returns.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: Limits,
    handler: Arc<H>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = AddressCounts::new(limits.max_connections_per_address);
    let mut refusals = Refusals::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut accept_backoff = Duration::from_millis(5);
    tokio::pin!(shutdown);

    loop {
        // Reap finished connection tasks so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // the semaphore is never closed; stop rather than spin
            },
        };
        let (tcp, addr) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    accept_backoff = Duration::from_millis(5);
                    accepted
                }
                Err(e) => {
                    access_log::event(format_args!("accept failed: {e}; retrying in {accept_backoff:?}"));
                    tokio::time::sleep(accept_backoff).await;
                    accept_backoff = (accept_backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let Some(address_slot) = per_address.admit(addr.ip()) else {
            // One host must not hold the whole cap: closed at once, the permit given back.
            drop(tcp);
            refusals.note(addr, limits.max_connections_per_address);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let limits = limits.clone();
        let handler = handler.clone();
        let stop_rx = stop_rx.clone();
        connections.spawn(async move {
            let _slots = (permit, address_slot);
            let counted = handler.clone();
            let _counted = counted.metrics().map(|metrics| metrics.connection());
            let tls =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    // A failed or slow handshake is the peer's problem; nothing to answer.
                    Ok(Err(_)) | Err(_) => return,
                };
            let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let client_cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| ClientCertificate::from_chain(chain.to_vec()));
            let peer = Peer { addr };
            serve_connection(tls, is_h2, peer, client_cert, limits, handler, stop_rx).await;
        });
    }

    // Stop accepting at once, so that a restarted server can bind the port.
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        access_log::event(format_args!(
            "shutdown: {} connection(s) still busy after {:?}; closing them",
            connections.len(),
            limits.shutdown_grace
        ));
        connections.shutdown().await;
    }
    access_log::flush();
}
