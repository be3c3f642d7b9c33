//! `client1`'s handler: a protected resource behind a [`TokenGuard`].
//!
//! | route               | answer                                                          |
//! |---------------------|-----------------------------------------------------------------|
//! | `GET /api/resource` | 200 `{"client_id", "scope", "exp", "message"}` of the caller, or the guard's RFC 6750 error (a certificate-bound token only with its certificate) |
//! | `GET /healthz`      | 200 liveness, with whether the authorization server is known yet |
//! | `GET /readyz`       | 200 once the authorization server's metadata is known, else 503 |

use http::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::{health, label, readiness, RESOURCE_PATH};
use crate::http::{
    json_response, Body, ClientCertificate, Handler, Peer, Refusal, RequestBody, ServerMetrics,
};
use crate::metrics::{Exposition, Source};
use crate::oauth::{self, HEALTH_PATH, READY_PATH};
use crate::resource::TokenGuard;

/// The protected resource of the demo (`client1`).
#[derive(Debug)]
pub struct ResourceService {
    guard: TokenGuard,
    required_scope: String,
    metrics: ServerMetrics,
}

impl ResourceService {
    pub fn new(guard: TokenGuard, required_scope: impl Into<String>) -> Self {
        ResourceService {
            guard,
            required_scope: required_scope.into(),
            metrics: ServerMetrics::new([RESOURCE_PATH, HEALTH_PATH, READY_PATH]),
        }
    }

    pub fn guard(&self) -> &TokenGuard {
        &self.guard
    }

    async fn resource(&self, req: &Request<RequestBody>, peer: Peer) -> Response<Body> {
        #[derive(Serialize)]
        struct Resource<'a> {
            client_id: &'a str,
            scope: String,
            exp: Option<u64>,
            message: &'static str,
        }
        let certificate = req.extensions().get::<ClientCertificate>();
        match self
            .guard
            .authorize_on(
                req.headers(),
                &self.required_scope,
                peer.addr.ip(),
                certificate,
            )
            .await
        {
            Ok(caller) => {
                let mut response = json_response(
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
    async fn handle(&self, req: Request<RequestBody>, peer: Peer) -> Response<Body> {
        let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
        match req.uri().path() {
            RESOURCE_PATH | HEALTH_PATH | READY_PATH if !is_get => {
                oauth::method_not_allowed("GET, HEAD")
            }
            RESOURCE_PATH => self.resource(&req, peer).await,
            HEALTH_PATH => health(self.guard.discovered()),
            READY_PATH => readiness(self.guard.discovered()),
            _ => oauth::not_found(),
        }
    }

    fn refuse(&self, refusal: Refusal) -> Response<Body> {
        oauth::refusal_response(refusal)
    }

    fn metrics(&self) -> Option<&ServerMetrics> {
        Some(&self.metrics)
    }
}

impl Source for ResourceService {
    fn write_metrics(&self, out: &mut Exposition) {
        self.metrics.write(out);
        self.guard.write_metrics(out);
    }
}
