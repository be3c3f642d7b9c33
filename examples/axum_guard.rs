//! One protected axum route behind tollgate's guard, as tower middleware.
//!
//! ```text
//! OAUTH_CLIENT_SECRET=$RS_SECRET cargo run --example axum_guard -- \
//!     https://localhost:5003 certs/ca.pem rs 127.0.0.1:8080
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/hello
//! ```
//! `GET /hello` needs a token with scope `read` (the guard answers 401, 403 or 503 itself);
//! the handler reads the caller from the request's extensions. `GET /healthz` is open.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::{Extension, Router};
use tollgate::discovery::Discovered;
use tollgate::http::Outbound;
use tollgate::resource::{Caller, GuardConfig, TokenGuard, TokenGuardLayer};
use tollgate::secret::SecretString;

/// The app: `/hello` behind the guard, `/healthz` in front of it.
pub fn router(guard: TokenGuard) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route_layer(TokenGuardLayer::new(guard, "read").with_peer(connect_info))
        .route("/healthz", get(|| async { "ok" }))
}

async fn hello(Extension(caller): Extension<Caller>) -> String {
    format!("hello, {} (scope {})", caller.client_id, caller.scope())
}

/// The caller's address, as axum's `into_make_service_with_connect_info` records it: the
/// guard shares its introspections out by it.
fn connect_info(extensions: &http::Extensions) -> Option<IpAddr> {
    let info = extensions.get::<ConnectInfo<SocketAddr>>()?;
    Some(info.0.ip())
}

/// A guard that introspects with the authorization server at `issuer`, trusting `ca`.
pub fn guard(issuer: &str, ca: &std::path::Path, id: &str, secret: SecretString) -> TokenGuard {
    let outbound = Outbound::new(ca).expect("the CA file loads");
    let discovered = Arc::new(Discovered::new(issuer, outbound.clone()));
    TokenGuard::new(GuardConfig::new(id, secret), discovered, outbound)
}

/// Serves the app on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, guard: TokenGuard) -> std::io::Result<()> {
    let app = router(guard).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, ca, id, listen] = <[String; 4]>::try_from(args)
        .map_err(|_| "usage: axum_guard ISSUER CA_FILE CLIENT_ID LISTEN_ADDR")?;
    let secret = std::env::var("OAUTH_CLIENT_SECRET").map_err(|_| "set OAUTH_CLIENT_SECRET")?;
    let guard = guard(&issuer, ca.as_ref(), &id, SecretString::new(secret));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, guard).await?;
    Ok(())
}
