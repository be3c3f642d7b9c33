//! The two demo services around the authorization server, and what their binaries share.
//!
//! [`ResourceService`] (the `client1` binary), a resource server protected by a
//! [`TokenGuard`]:
//!
//! | route               | answer                                                          |
//! |---------------------|-----------------------------------------------------------------|
//! | `GET /api/resource` | 200 `{"client_id", "scope", "exp", "message"}` of the caller, or the guard's RFC 6750 error |
//! | `GET /healthz`      | 200 liveness, with whether the authorization server is known yet |
//!
//! [`CallerService`] (the `client2` binary), which calls a protected resource with a token its
//! [`TokenClient`] manages:
//!
//! | route          | answer                                                                |
//! |----------------|-----------------------------------------------------------------------|
//! | `GET /call`    | 200 with the resource's JSON; 503 when the authorization server cannot be reached (directly or as the resource's 503); 502 for any other failure |
//! | `GET /healthz` | 200 liveness                                                          |
//!
//! Other paths are 404, other methods 405 with `Allow`. Owns: these routes, [`run`] (serving a
//! service while its authorization server's metadata is discovered, stopping on a discovery
//! error that retrying cannot fix), and the start-up inputs both binaries share
//! ([`ServiceFlags`], [`load_client_secret`]). Does not own: tokens (see [`crate::resource`],
//! [`crate::client`]) or serving (see [`crate::http`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Serialize;

use crate::access_log;
use crate::cli::Flags;
use crate::client::TokenClient;
use crate::discovery::{Discovered, DiscoveryError};
use crate::http::{self as h, Body, Handler, Limits, LogLabel, Peer};
use crate::resource::TokenGuard;
use crate::secret::SecretString;

pub const RESOURCE_PATH: &str = "/api/resource";
pub const CALL_PATH: &str = "/call";
pub const HEALTH_PATH: &str = "/healthz";
/// The environment variable a service's client secret may come from.
pub const SECRET_ENV: &str = "OAUTH_CLIENT_SECRET";

/// The protected resource of the demo (`client1`).
#[derive(Debug)]
pub struct ResourceService {
    guard: TokenGuard,
    required_scope: String,
}

impl ResourceService {
    pub fn new(guard: TokenGuard, required_scope: impl Into<String>) -> Self {
        ResourceService {
            guard,
            required_scope: required_scope.into(),
        }
    }

    pub fn guard(&self) -> &TokenGuard {
        &self.guard
    }

    async fn resource(&self, req: &Request<Incoming>) -> Response<Body> {
        #[derive(Serialize)]
        struct Resource<'a> {
            client_id: &'a str,
            scope: String,
            exp: Option<u64>,
            message: &'static str,
        }
        match self
            .guard
            .authorize(req.headers(), &self.required_scope)
            .await
        {
            Ok(caller) => {
                let mut response = h::json_response(
                    StatusCode::OK,
                    &Resource {
                        client_id: &caller.client_id,
                        scope: caller.scope(),
                        exp: caller.exp,
                        message: "hello from the protected resource",
                    },
                );
                label(&mut response, &caller.client_id);
                response
            }
            Err(refusal) => refusal,
        }
    }
}

impl Handler for ResourceService {
    async fn handle(&self, req: Request<Incoming>, _peer: Peer) -> Response<Body> {
        let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
        match req.uri().path() {
            RESOURCE_PATH | HEALTH_PATH if !is_get => h::method_not_allowed("GET, HEAD"),
            RESOURCE_PATH => self.resource(&req).await,
            HEALTH_PATH => health(self.guard.discovered()),
            _ => h::not_found(),
        }
    }
}

/// The calling service of the demo (`client2`).
#[derive(Debug)]
pub struct CallerService {
    client: TokenClient,
    resource: Uri,
}

impl CallerService {
    pub fn new(client: TokenClient, resource: Uri) -> Self {
        CallerService { client, resource }
    }

    pub fn client(&self) -> &TokenClient {
        &self.client
    }

    async fn call(&self) -> Response<Body> {
        let mut request = Request::new(Bytes::new());
        *request.uri_mut() = self.resource.clone();
        request.headers_mut().insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let answer = match self.client.call(request).await {
            Ok(answer) => answer,
            Err(e) if e.is_auth_server_unavailable() => {
                access_log::event(format_args!("call: {e}"));
                return h::json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the authorization server cannot be reached",
                );
            }
            Err(e) => {
                access_log::event(format_args!("call: {e}"));
                return h::json_error(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    &format!("the call failed: {e}"),
                );
            }
        };
        match answer.status {
            StatusCode::OK if serde_json::from_slice::<serde_json::Value>(&answer.body).is_ok() => {
                raw_json(answer.body)
            }
            StatusCode::OK => h::json_error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the resource answered 200 with a body that is not JSON",
            ),
            StatusCode::SERVICE_UNAVAILABLE => h::json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the resource cannot reach the authorization server (it answered 503)",
            ),
            status => {
                access_log::event(format_args!(
                    "call: the resource answered {}",
                    status.as_u16()
                ));
                h::json_error(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    &format!("the resource answered {}", status.as_u16()),
                )
            }
        }
    }
}

impl Handler for CallerService {
    async fn handle(&self, req: Request<Incoming>, _peer: Peer) -> Response<Body> {
        let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
        match req.uri().path() {
            CALL_PATH | HEALTH_PATH if !is_get => h::method_not_allowed("GET, HEAD"),
            CALL_PATH => self.call().await,
            HEALTH_PATH => health(self.client.discovered()),
            _ => h::not_found(),
        }
    }
}

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
    h::json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            authorization_server,
        },
    )
}

/// A 200 JSON response with a body already serialised (relayed as received).
fn raw_json(body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn label(response: &mut Response<Body>, client_id: &str) {
    response
        .extensions_mut()
        .insert(LogLabel(format!("client_id={client_id}")));
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

/// The flags `client1` and `client2` share.
#[derive(Debug)]
pub struct ServiceFlags {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The authorization server's issuer URL.
    pub auth_server: String,
    pub ca: PathBuf,
    pub client_id: String,
    pub client_secret: SecretString,
    pub limits: Limits,
}

impl ServiceFlags {
    /// The shared flags, taken from `flags`; the secret comes from `secret_env` (the value of
    /// [`SECRET_ENV`]) or `--client-secret-file`.
    pub fn take(
        flags: &mut Flags,
        default_listen: SocketAddr,
        secret_env: Option<String>,
    ) -> Result<ServiceFlags, String> {
        let server = flags.server(default_listen)?;
        let auth_server = flags
            .value("--auth-server")
            .ok_or("--auth-server URL (the authorization server's issuer) is required")?;
        let ca = flags
            .value("--ca")
            .ok_or("--ca FILE (the CA certificate to trust) is required")?;
        let client_id = flags
            .value("--client-id")
            .ok_or("--client-id ID is required")?;
        let secret_file = flags.value("--client-secret-file");
        let client_secret = load_client_secret(secret_file.as_deref().map(Path::new), secret_env)?;
        let mut limits = Limits::default();
        flags.limits(&mut limits)?;
        Ok(ServiceFlags {
            listen: server.listen,
            cert: server.cert,
            key: server.key,
            auth_server,
            ca: ca.into(),
            client_id,
            client_secret,
            limits,
        })
    }
}

/// The client secret from the environment variable's value or from a file (one trailing
/// newline stripped), never both, never empty.
pub fn load_client_secret(
    file: Option<&Path>,
    env_value: Option<String>,
) -> Result<SecretString, String> {
    let env_value = env_value.map(SecretString::new);
    let secret = match (file, env_value) {
        (Some(file), Some(_)) => {
            return Err(format!(
                "both {SECRET_ENV} and --client-secret-file {} are given; use one of them",
                file.display()
            ))
        }
        (None, None) => {
            return Err(format!(
                "a client secret is needed: set {SECRET_ENV} or pass --client-secret-file FILE"
            ))
        }
        (None, Some(value)) => value,
        (Some(file), None) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read --client-secret-file {}: {e}", file.display()))?;
            let text = SecretString::new(text);
            let value = text.expose();
            let value = value
                .strip_suffix("\r\n")
                .or_else(|| value.strip_suffix('\n'))
                .unwrap_or(value);
            SecretString::new(value.to_owned())
        }
    };
    if secret.expose().is_empty() {
        return Err(match file {
            Some(file) => format!("--client-secret-file {} is empty", file.display()),
            None => format!("{SECRET_ENV} is empty"),
        });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tollgate-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_secret_file_loses_one_trailing_newline() {
        let path = temp_file("one", "s3cret\n\n");
        assert_eq!(
            load_client_secret(Some(&path), None).unwrap().expose(),
            "s3cret\n"
        );
        let path = temp_file("two", "s3cret");
        assert_eq!(
            load_client_secret(Some(&path), None).unwrap().expose(),
            "s3cret"
        );
    }

    #[test]
    fn empty_missing_or_doubled_secrets_are_refused() {
        let path = temp_file("empty", "\n");
        assert!(load_client_secret(Some(&path), None)
            .unwrap_err()
            .contains("empty"));
        let both = load_client_secret(Some(&path), Some("x".into())).unwrap_err();
        assert!(both.contains(SECRET_ENV) && both.contains("--client-secret-file"));
        assert!(load_client_secret(None, None).is_err());
        assert!(load_client_secret(None, Some(String::new())).is_err());
    }
}
