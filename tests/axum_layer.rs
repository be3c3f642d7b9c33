//! The guard and the renewing client as tower middleware, in the axum example
//! (`examples/axum_guard.rs`, compiled in here as it is) against a real authorization server
//! over TLS: the guard answers 401, 403 and 503 itself and hands the caller to the handler;
//! the client layer adds the bearer token, reuses it, and replaces a refused one once.

mod support;

#[path = "../examples/axum_guard.rs"]
#[allow(dead_code)]
mod example;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use tower_layer::Layer;
use tower_service::Service;

use support::{auth, certs, http, loopback, Clients, Proto, Reserved};
use tollgate::client::{BearerLayer, ClientCredentials, TokenClient, TokenClientConfig, WithToken};
use tollgate::discovery::Discovered;
use tollgate::http::Outbound;
use tollgate::resource::{GuardConfig, TokenGuard};

/// The example app on a loopback port, its guard introspecting at `issuer` with no cache (so
/// a revoked token is refused at once).
async fn app(issuer: &str) -> SocketAddr {
    let outbound = Outbound::new(&certs().ca()).unwrap();
    let discovered = Arc::new(Discovered::new(issuer, outbound.clone()));
    let mut config = GuardConfig::new("rs", Clients::shared().secret_string("rs"));
    config.cache_ttl = Duration::ZERO;
    let guard = TokenGuard::new(config, discovered, outbound);
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example::serve(listener, guard));
    addr
}

/// `GET http://addr/hello` with an optional bearer token: the status, `WWW-Authenticate`, body.
async fn hello(addr: SocketAddr, token: Option<&str>) -> (StatusCode, String, String) {
    let client = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::get(format!("http://{addr}/hello"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(request.body(Full::default()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        challenge,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn the_guard_layer_answers_refusals_itself_and_hands_the_caller_to_the_handler() {
    let server = auth().await;
    let addr = app(&server.issuer).await;
    let h = http(Proto::H1);

    let (status, challenge, _) = hello(addr, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with("Bearer realm=\"tollgate\""),
        "{challenge}"
    );

    let (status, challenge, _) = hello(addr, Some("made-up")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    let writer = h.token(&server, "writer").await;
    let (status, challenge, _) = hello(addr, Some(&writer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    let svc = h.token(&server, "svc").await;
    let (status, _, body) = hello(addr, Some(&svc)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "hello, svc (scope read write)");
}

#[tokio::test]
async fn the_guard_layer_answers_503_while_the_authorization_server_cannot_be_reached() {
    let reserved = Reserved::new();
    let addr = app(&format!("https://localhost:{}", reserved.port())).await;
    let (status, _, _) = hello(addr, Some("some-token")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _, _) = hello(addr, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no token: nothing to ask about"
    );
}

#[tokio::test]
async fn the_client_layer_sends_the_token_reuses_it_and_replaces_a_refused_one_once() {
    let server = auth().await;
    let addr = app(&server.issuer).await;
    let outbound = Outbound::new(&certs().ca()).unwrap();
    let discovered = Arc::new(Discovered::new(&server.issuer, outbound.clone()));
    let config = TokenClientConfig {
        client_id: "c2".into(),
        credentials: ClientCredentials::Secret(Clients::shared().secret_string("c2")),
        scope: None,
        audience: None,
    };
    let client = TokenClient::new(config, discovered, outbound);
    type Plain = HyperClient<HttpConnector, Full<Bytes>>;
    let plain: Plain = HyperClient::builder(TokioExecutor::new()).build_http();
    let mut service = BearerLayer::new(client.clone()).layer(plain);
    let call = |service: &mut WithToken<Plain>| {
        let request = Request::get(format!("http://{addr}/hello"))
            .body(Bytes::new())
            .unwrap();
        let answer = service.call(request);
        async move {
            let response = answer.await.expect("an answer");
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };

    for _ in 0..2 {
        let (status, body) = call(&mut service).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "hello, c2 (scope read)")
        );
    }
    assert_eq!(client.token_requests(), 1, "one token for both calls");

    // The resource refuses the revoked token: a new one is fetched and the call made again.
    let token = client.token().await.unwrap();
    let revoked = http(Proto::H1).revoke(&server, "c2", token.expose()).await;
    assert_eq!(revoked.status, StatusCode::OK);
    let (status, _) = call(&mut service).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(client.token_requests(), 2, "one replacement");
    assert_ne!(client.token().await.unwrap().expose(), token.expose());
}
