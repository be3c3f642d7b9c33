//! `client1`'s handler: a protected resource behind a [`TokenGuard`].
//!
//! | route               | answer                                                          |
//! |---------------------|-----------------------------------------------------------------|
//! | `GET /api/resource` | 200 `{"client_id", "scope", "exp", "message"}` of the caller, or the guard's RFC 6750 error (a certificate-bound token only with its certificate) |
//! | `GET /healthz`      | 200 liveness, with whether the authorization server is known yet |
//! | `GET /readyz`       | 200 once the authorization server's metadata is known, else 503 |

use http::{Method, Request, Response, StatusCode};

use super::{health, label, readiness, RESOURCE_PATH};
use crate::http::{
    json_text_response, Body, ClientCertificate, Handler, Peer, Refusal, RequestBody, ServerMetrics,
};
use crate::json::JsonObject;
use crate::metrics::{Exposition, Source};
use crate::oauth::{self, HEALTH_PATH, READY_PATH};
use crate::resource::{Caller, TokenGuard};

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
        let certificate = req.extensions().get::<ClientCertificate>();
        match self
            .guard
            .authorize_shared(
                req.headers(),
                &self.required_scope,
                peer.addr.ip(),
                certificate,
            )
            .await
        {
            Ok(caller) => {
                let mut response = json_text_response(StatusCode::OK, resource_body(&caller));
                label(&mut response, &caller.client_id);
                response
            }
            Err(refusal) => refusal,
        }
    }
}

/// The resource's answer: `{"client_id", "scope", "exp", "message"}` (`exp` null when the
/// token's lifetime is not known), written straight into its buffer.
fn resource_body(caller: &Caller) -> Vec<u8> {
    let scope = caller.scope();
    let mut body = JsonObject::with_capacity(
        64 + RESOURCE_MESSAGE.len() + caller.client_id.len() + scope.len(),
    );
    body.string("client_id", &caller.client_id)
        .string("scope", &scope)
        .number_or_null("exp", caller.exp)
        .string("message", RESOURCE_MESSAGE);
    body.finish()
}

const RESOURCE_MESSAGE: &str = "hello from the protected resource";

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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the answer was before it was written by hand: serde's output of the same members.
    #[derive(serde::Serialize)]
    struct Resource<'a> {
        client_id: &'a str,
        scope: String,
        exp: Option<u64>,
        message: &'static str,
    }

    #[test]
    fn the_resource_answer_is_what_serde_writes_for_it() {
        for (client_id, scopes, exp) in [
            ("svc", vec!["read"], Some(1_796_160_878)),
            ("a\"b\\c\u{1}\u{e9}", vec!["read", "write"], None),
            ("", vec![], Some(0)),
        ] {
            let caller = Caller {
                client_id: client_id.into(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                exp,
                audiences: vec!["https://client1.example".into()],
                certificate_sha256: None,
            };
            let serde = serde_json::to_vec(&Resource {
                client_id,
                scope: caller.scope(),
                exp,
                message: RESOURCE_MESSAGE,
            })
            .unwrap();
            assert_eq!(
                String::from_utf8(resource_body(&caller)).unwrap(),
                String::from_utf8(serde).unwrap()
            );
        }
    }
}
