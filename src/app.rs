//! The two demo services as library handlers, so that their binaries (`client1`, `client2`),
//! the all-in-one demo and in-process tests all run the same code.
//!
//! - [`ResourceService`] (`client1`): `GET /api/resource` behind a [`TokenGuard`].
//! - [`CallerService`] (`client2`): `GET /call` calls a protected resource with a token its
//!   [`TokenClient`] manages.
//!
//! Both also serve `GET /healthz` (liveness) and `GET /readyz` (200 once the authorization
//! server's metadata is known, 503 before), and count their requests for the metrics.
//! Other paths are 404, other methods 405 with `Allow`; errors are RFC 6749 §5.2 bodies.
//! Owns: these routes and [`run`] (serving a service while its authorization server's metadata
//! is discovered, stopping on a discovery error that retrying cannot fix). Does not own: tokens
//! (see [`crate::resource`], [`crate::client`]), serving (see [`crate::http`]), nor anything
//! of start-up (flags, secrets: the binaries').
//!
//! [`TokenGuard`]: crate::resource::TokenGuard
//! [`TokenClient`]: crate::client::TokenClient

mod caller_service;
mod resource_service;

use std::future::Future;
use std::sync::Arc;

use http::{Response, StatusCode};
use serde::Serialize;

use crate::access_log::{self, LogLabel};
use crate::discovery::{Discovered, DiscoveryError};
use crate::http::{self as h, json_response, Body, Handler, Limits};

pub use caller_service::CallerService;
pub use resource_service::ResourceService;

pub const RESOURCE_PATH: &str = "/api/resource";
pub const CALL_PATH: &str = "/call";

fn health(discovered: &Discovered) -> Response<Body> {
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
        authorization_server: &'static str,
    }
    let authorization_server = if discovered.get().is_some() {
        "discovered"
    } else {
        "not reached yet"
    };
    json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            authorization_server,
        },
    )
}

/// `GET /readyz`: a service that calls the authorization server can do its job once it knows
/// the server's endpoints.
fn readiness(discovered: &Discovered) -> Response<Body> {
    #[derive(Serialize)]
    struct Readiness {
        status: &'static str,
    }
    if discovered.get().is_some() {
        json_response(StatusCode::OK, &Readiness { status: "ready" })
    } else {
        crate::oauth::error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the authorization server's metadata is not known yet",
        )
    }
}

fn label(response: &mut Response<Body>, client_id: &str) {
    response
        .extensions_mut()
        .insert(LogLabel::client(client_id));
}

/// Serves `handler` until `shutdown` resolves, while the authorization server's metadata is
/// discovered. A discovery error that retrying cannot fix (the issuer does not match) is
/// returned: at once if the server answers at start, or after stopping the service if it
/// answers later. While the server is unreachable, discovery is retried in the background
/// and requests that need it get 503.
pub async fn run<H: Handler>(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: Limits,
    handler: Arc<H>,
    discovered: Arc<Discovered>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DiscoveryError> {
    let background = match discovered.get_or_fetch().await {
        Ok(_) => None,
        Err(e) if e.is_fatal() => return Err(e),
        Err(e) => {
            access_log::event(format_args!(
                "{e}; retrying in the background, answering 503 meanwhile"
            ));
            let discovered = discovered.clone();
            Some(tokio::spawn(
                async move { discovered.until_discovered().await },
            ))
        }
    };
    // The background discovery's fatal error, kept for the caller; the channel only says
    // that there is one, to stop serving.
    let fatal: Arc<std::sync::Mutex<Option<DiscoveryError>>> = Arc::default();
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = background.map(|task| {
        let fatal = fatal.clone();
        tokio::spawn(async move {
            if let Ok(Err(e)) = task.await {
                access_log::event(format_args!("{e}; stopping"));
                if let Ok(mut slot) = fatal.lock() {
                    *slot = Some(e);
                }
                let _ = fatal_tx.send(());
            }
        })
    });
    let stop = async {
        tokio::select! {
            _ = shutdown => {}
            // A dropped sender (discovery succeeded) does not match: keep serving.
            Ok(()) = fatal_rx => {}
        }
    };
    h::serve(listener, tls, limits, handler, stop).await;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    let fatal = fatal.lock().ok().and_then(|mut slot| slot.take());
    match fatal {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
