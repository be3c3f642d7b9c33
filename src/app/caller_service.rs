//! `client2`'s handler: calls a protected resource with a token its [`TokenClient`] manages.
//!
//! | route          | answer                                                                |
//! |----------------|-----------------------------------------------------------------------|
//! | `GET /call`    | 200 with the resource's JSON; 503 when the authorization server cannot be reached or throttles (directly or as the resource's 503); 502 for any other failure |
//! | `GET /healthz` | 200 liveness                                                          |
//!
//! Error answers carry a fixed short reason and never the error's detail (peers' words, URLs,
//! the error chain), which goes to the log: the caller of `/call` is not authenticated. While
//! the token client waits out a failure of the authorization server's (see
//! [`crate::client`]), they carry `Retry-After`.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;

use super::{health, CALL_PATH};
use crate::access_log;
use crate::client::TokenClient;
use crate::http::{Body, Handler, Peer, Refusal, RequestBody};
use crate::oauth::{self, error_response, HEALTH_PATH};

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
            Err(e) => {
                // The detail is for the operator; the caller is not authenticated.
                access_log::event(format_args!("call: {e}"));
                let (status, code) = if e.is_auth_server_unavailable() {
                    (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
                } else {
                    (StatusCode::BAD_GATEWAY, "bad_gateway")
                };
                let mut response = error_response(status, code, e.reason());
                if let Some(wait) = self.client.retry_after() {
                    // Whole seconds, rounded up: asking sooner would meet the same failure.
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
                }
                return response;
            }
        };
        match answer.status {
            StatusCode::OK if serde_json::from_slice::<serde_json::Value>(&answer.body).is_ok() => {
                raw_json(answer.body)
            }
            StatusCode::OK => bad_gateway("the resource answered 200 with a body that is not JSON"),
            StatusCode::SERVICE_UNAVAILABLE => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the resource cannot reach the authorization server (it answered 503)",
            ),
            status => {
                access_log::event(format_args!(
                    "call: the resource answered {}",
                    status.as_u16()
                ));
                bad_gateway(&format!("the resource answered {}", status.as_u16()))
            }
        }
    }
}

/// 502: the resource answered, but not usably.
fn bad_gateway(description: &str) -> Response<Body> {
    error_response(StatusCode::BAD_GATEWAY, "bad_gateway", description)
}

impl Handler for CallerService {
    async fn handle(&self, req: Request<RequestBody>, _peer: Peer) -> Response<Body> {
        let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
        match req.uri().path() {
            CALL_PATH | HEALTH_PATH if !is_get => oauth::method_not_allowed("GET, HEAD"),
            CALL_PATH => self.call().await,
            HEALTH_PATH => health(self.client.discovered()),
            _ => oauth::not_found(),
        }
    }

    fn refuse(&self, refusal: Refusal) -> Response<Body> {
        oauth::refusal_response(refusal)
    }
}

/// A 200 JSON response with a body already serialised (relayed as received).
fn raw_json(body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
