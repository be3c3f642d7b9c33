//! A stand-in authorization server whose answers a test chooses, to see how client1 and client2
//! behave when the real one would never answer so: a token endpoint that refuses, throttles
//! (`429` with `Retry-After`), fails, or sends a strange `expires_in`; an introspection
//! endpoint that never answers. It serves its RFC 8414 metadata, counts what it is asked and
//! when, and runs on the library's own TLS stack ([`start_handler`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;

use tollgate::http::{Body, Handler, Peer};

use super::servers::{limits, loopback, start_handler, Running};

/// What the token endpoint answers.
#[derive(Clone, Debug)]
pub enum TokenAnswer {
    /// 200 with a bearer token and this `expires_in` member (`None`: no member).
    Token(Option<serde_json::Value>),
    /// An error status with an RFC 6749 §5.2 body, and `Retry-After` if given.
    Error {
        status: u16,
        error: &'static str,
        retry_after: Option<&'static str>,
    },
    /// 200 with a body that is not a token response.
    Garbage,
}

impl TokenAnswer {
    pub fn refused(status: u16, error: &'static str) -> TokenAnswer {
        TokenAnswer::Error {
            status,
            error,
            retry_after: None,
        }
    }
}

/// The stand-in server's state; the test changes `token_answer` at will.
pub struct FakeAuth {
    pub issuer: String,
    pub token_answer: Mutex<TokenAnswer>,
    /// When each token request arrived.
    token_requests: Mutex<Vec<Instant>>,
    /// Introspection requests received, and those whose handler is still running (they never
    /// answer: they end only when the caller gives up and the stream or connection goes).
    introspections: AtomicU64,
    introspections_pending: Arc<AtomicUsize>,
    tokens_issued: AtomicU64,
}

impl FakeAuth {
    pub fn token_requests(&self) -> Vec<Instant> {
        self.token_requests.lock().unwrap().clone()
    }

    pub fn token_request_count(&self) -> usize {
        self.token_requests.lock().unwrap().len()
    }

    pub fn introspections(&self) -> u64 {
        self.introspections.load(Ordering::SeqCst)
    }

    pub fn introspections_pending(&self) -> usize {
        self.introspections_pending.load(Ordering::SeqCst)
    }

    pub fn answer_with(&self, answer: TokenAnswer) {
        *self.token_answer.lock().unwrap() = answer;
    }

    fn metadata(&self) -> Response<Body> {
        json_answer(
            StatusCode::OK,
            json!({
                "issuer": self.issuer,
                "token_endpoint": format!("{}/oauth/token", self.issuer),
                "introspection_endpoint": format!("{}/oauth/introspect", self.issuer),
            }),
        )
    }

    fn token(&self) -> Response<Body> {
        self.token_requests.lock().unwrap().push(Instant::now());
        let answer = self.token_answer.lock().unwrap().clone();
        match answer {
            TokenAnswer::Token(expires_in) => {
                let n = self.tokens_issued.fetch_add(1, Ordering::SeqCst);
                let mut body = json!({
                    "access_token": format!("fake-token-{n}"),
                    "token_type": "Bearer",
                });
                if let Some(expires_in) = expires_in {
                    body["expires_in"] = expires_in;
                }
                json_answer(StatusCode::OK, body)
            }
            TokenAnswer::Error {
                status,
                error,
                retry_after,
            } => {
                let status = StatusCode::from_u16(status).expect("status");
                let mut response = json_answer(status, json!({ "error": error }));
                if let Some(value) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", value.parse().expect("Retry-After value"));
                }
                response
            }
            TokenAnswer::Garbage => json_answer(StatusCode::OK, json!({ "hello": "world" })),
        }
    }

    async fn introspect_never(&self) -> Response<Body> {
        /// Counts a handler as pending until its future ends, answered or dropped.
        struct Pending(Arc<AtomicUsize>);
        impl Drop for Pending {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.introspections.fetch_add(1, Ordering::SeqCst);
        self.introspections_pending.fetch_add(1, Ordering::SeqCst);
        let _pending = Pending(self.introspections_pending.clone());
        tokio::time::sleep(Duration::from_secs(60)).await;
        json_answer(StatusCode::OK, json!({ "active": false }))
    }
}

impl Handler for FakeAuth {
    async fn handle(&self, req: Request<Incoming>, _peer: Peer) -> Response<Body> {
        match req.uri().path() {
            "/.well-known/oauth-authorization-server" => self.metadata(),
            "/oauth/token" => self.token(),
            "/oauth/introspect" => self.introspect_never().await,
            _ => json_answer(StatusCode::NOT_FOUND, json!({ "error": "not_found" })),
        }
    }
}

fn json_answer(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("media type"),
    );
    response
}

/// The stand-in server on `127.0.0.1:0`, issuer `https://localhost:PORT`, answering token
/// requests with `answer` until told otherwise.
pub async fn start_fake_auth(answer: TokenAnswer) -> Running<FakeAuth> {
    let listener = loopback().await;
    let port = listener.local_addr().expect("local address").port();
    let fake = Arc::new(FakeAuth {
        issuer: format!("https://localhost:{port}"),
        token_answer: Mutex::new(answer),
        token_requests: Mutex::new(Vec::new()),
        introspections: AtomicU64::new(0),
        introspections_pending: Arc::new(AtomicUsize::new(0)),
        tokens_issued: AtomicU64::new(0),
    });
    start_handler(fake, limits(), listener)
}
