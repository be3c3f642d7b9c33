//! The whole chain over real TLS: authorization server, client1 (resource server guarded by
//! introspection) and client2 (token-managing caller), each started in-process on an ephemeral
//! port. Every test is bounded in time.

mod support;

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use support::*;

const CACHE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client2_call_returns_client1_json_through_the_chain_over_http1_and_http2() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let client2 = start_client2(&auth.issuer, &client1.url("/api/resource")).await;
    for https in both() {
        let reply = https.get(&client2.url("/call")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(Some(reply.version), https.proto().map(Proto::version));
        let json = reply.json();
        assert_eq!(json["client_id"], "c2");
        assert_eq!(json["scope"], "read");
        assert_eq!(
            https.get(&client2.url("/healthz")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            https.get(&client1.url("/healthz")).await.status,
            StatusCode::OK
        );
    }
    // Both calls used one token, validated once.
    assert_eq!(auth.service.tokens_issued(), 1);
    assert_eq!(client1.service.guard().introspections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client1_serves_the_caller_of_a_valid_token_with_any_scheme_case() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    for https in both() {
        let token = https.token(&auth, "svc").await;
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let auth_header = format!("{scheme} {token}");
            let reply = https
                .request(
                    Method::GET,
                    &client1.url("/api/resource"),
                    &[("authorization", &auth_header)],
                    b"",
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{scheme}: {}", reply.text());
            assert_eq!(reply.json()["client_id"], "svc");
            assert_eq!(reply.json()["scope"], "read write");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6750_no_token_is_401_with_a_challenge_and_no_error_code() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let https = http(Proto::H2);
    let token = https.token(&auth, "svc").await;
    let query = format!("{}?access_token={token}", client1.url("/api/resource"));
    let form = format!("access_token={token}");
    let attempts = [
        https.get(&client1.url("/api/resource")).await,
        // §2.1: only the Authorization header counts; a token in the query or body is ignored.
        https.get(&query).await,
        https
            .request(
                Method::GET,
                &client1.url("/api/resource"),
                &[("content-type", "application/x-www-form-urlencoded")],
                form.as_bytes(),
            )
            .await,
        // Another scheme carries no bearer token.
        https
            .request(
                Method::GET,
                &client1.url("/api/resource"),
                &[("authorization", "Basic c3ZjOng=")],
                b"",
            )
            .await,
    ];
    for reply in attempts {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
        let challenge = reply.header("www-authenticate").unwrap();
        assert_eq!(challenge, "Bearer realm=\"tollgate\"");
    }
    assert_eq!(client1.service.guard().introspections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6750_malformed_authorization_is_400_invalid_request() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let https = http(Proto::H1);
    for header in ["Bearer", "Bearer ", "Bearer abc def", "Bearer a,b"] {
        let reply = https
            .request(
                Method::GET,
                &client1.url("/api/resource"),
                &[("authorization", header)],
                b"",
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{header:?}");
        let challenge = reply.header("www-authenticate").unwrap();
        assert!(
            challenge.contains("error=\"invalid_request\""),
            "{challenge}"
        );
        assert_eq!(reply.json()["error"], "invalid_request");
    }
    let reply = https
        .request(
            Method::GET,
            &client1.url("/api/resource"),
            &[
                ("authorization", "Bearer abc"),
                ("authorization", "Bearer def"),
            ],
            b"",
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6750_unknown_token_is_401_invalid_token() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let https = http(Proto::H2);
    let reply = https
        .get_bearer(&client1.url("/api/resource"), "not-a-token-anyone-issued")
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer realm=\"tollgate\""),
        "{challenge}"
    );
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(reply.json()["error"], "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6750_missing_scope_is_403_insufficient_scope_naming_the_scope() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let https = http(Proto::H1);
    let token = https.token(&auth, "writer").await;
    let reply = https
        .get_bearer(&client1.url("/api/resource"), &token)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"read\""), "{challenge}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_takes_effect_at_client1_within_its_cache_ttl() {
    let ttl = Duration::from_secs(1);
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, ttl).await;
    let https = http(Proto::H2);
    let token = https.token(&auth, "svc").await;
    let url = client1.url("/api/resource");
    assert_eq!(https.get_bearer(&url, &token).await.status, StatusCode::OK);

    assert_eq!(
        https.revoke(&auth, "svc", &token).await.status,
        StatusCode::OK
    );
    let revoked_at = Instant::now();
    loop {
        let reply = https.get_bearer(&url, &token).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            assert!(reply
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token"));
            break;
        }
        assert_eq!(reply.status, StatusCode::OK);
        // The cached answer may be used for at most the TTL (plus request time).
        assert!(
            revoked_at.elapsed() < ttl + Duration::from_millis(500),
            "still accepted {:?} after revocation",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_auth_server_stopped_client1_answers_503_for_an_uncached_token() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let https = http(Proto::H1);
    let used = https.token(&auth, "svc").await;
    let unused = https.token(&auth, "svc").await;
    let url = client1.url("/api/resource");
    assert_eq!(https.get_bearer(&url, &used).await.status, StatusCode::OK);
    auth.stop().await.unwrap();

    let started = Instant::now();
    let reply = https.get_bearer(&url, &unused).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    assert!(started.elapsed() < Duration::from_secs(3), "fails fast");
    // Not cached: asked again, it is still 503, never 200.
    assert_eq!(
        https.get_bearer(&url, &unused).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // A token validated before the outage is still served from the cache.
    assert_eq!(https.get_bearer(&url, &used).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_second_tokens_five_seconds_of_calls_to_client2_all_succeed() {
    let auth = start_auth(AuthOptions {
        token_ttl: Duration::from_secs(2),
        ..AuthOptions::default()
    })
    .await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let client2 = start_client2(&auth.issuer, &client1.url("/api/resource")).await;
    let https = http(Proto::H2);
    let url = client2.url("/call");
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let reply = https.get(&url).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "call {calls} at {:?}: {}",
            started.elapsed(),
            reply.text()
        );
        calls += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(calls > 50, "only {calls} calls");
    // Tokens lasting 2 s over 5 s: renewed several times, not once per call.
    let issued = auth.service.tokens_issued();
    assert!((3..=12).contains(&issued), "{issued} tokens issued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_an_auth_server_restart_client2_recovers_with_no_failed_call() {
    let auth = auth().await;
    let addr = auth.addr;
    let issuer = auth.issuer.clone();
    let client1 = start_client1(&issuer, Duration::from_secs(1)).await;
    let client2 = start_client2(&issuer, &client1.url("/api/resource")).await;
    let https = http(Proto::H1);
    let url = client2.url("/call");
    for _ in 0..5 {
        assert_eq!(https.get(&url).await.status, StatusCode::OK);
    }
    assert_eq!(auth.service.tokens_issued(), 1);

    // A new server on the same port: every token issued before is forgotten, and every pooled
    // connection to the old one is dead.
    auth.stop().await.unwrap();
    let restarted = auth_on(rebind(addr).await).await;
    assert_eq!(restarted.issuer, issuer);

    // Calls for longer than client1's cache TTL, so client1 must ask the new server about the
    // old token, hear "inactive", and client2 must fetch a new token and retry.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        let reply = https.get(&url).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "at {:?} after the restart: {}",
            started.elapsed(),
            reply.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(restarted.service.tokens_issued(), 1, "one new token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_calls_on_a_cold_client2_cause_one_token_request() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let client2 = start_client2(&auth.issuer, &client1.url("/api/resource")).await;
    let https = http(Proto::H2);
    let url = client2.url("/call");
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let https = https.clone();
            let url = url.clone();
            tokio::spawn(async move { https.get(&url).await.status })
        })
        .collect();
    for call in calls {
        let status = tokio::time::timeout(STEP, call).await.unwrap().unwrap();
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(auth.service.tokens_issued(), 1);
    assert_eq!(client2.service.client().token_requests(), 1);
    assert_eq!(client1.service.guard().introspections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_uncached_token_cause_one_introspection() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let https = http(Proto::H2);
    let good = https.token(&auth, "svc").await;
    let url = client1.url("/api/resource");
    for (token, expected, introspections) in [
        (good.as_str(), StatusCode::OK, 1),
        // Negative answers are cached too: a flood of one bad token is one introspection.
        ("bad-token", StatusCode::UNAUTHORIZED, 2),
    ] {
        let requests: Vec<_> = (0..50)
            .map(|_| {
                let https = https.clone();
                let url = url.clone();
                let token = token.to_owned();
                tokio::spawn(async move { https.get_bearer(&url, &token).await.status })
            })
            .collect();
        for request in requests {
            assert_eq!(request.await.unwrap(), expected);
        }
        assert_eq!(client1.service.guard().introspections(), introspections);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client2_answers_503_without_the_auth_server_and_502_without_client1() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let https = http(Proto::H1);

    // client1 is gone: a failure that is not the authorization server's.
    let gone = start_client2(&auth.issuer, "https://localhost:1/api/resource").await;
    let reply = https.get(&gone.url("/call")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
    assert_eq!(reply.json()["error"], "bad_gateway");

    // The authorization server is gone before client2 got a token.
    let client2 = start_client2(&auth.issuer, &client1.url("/api/resource")).await;
    auth.stop().await.unwrap();
    let started = Instant::now();
    let reply = https.get(&client2.url("/call")).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(reply.json()["error"], "temporarily_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client1_started_before_the_auth_server_answers_503_then_recovers() {
    // The port is reserved, not listening: connections to it are refused until it listens.
    let reserved = Reserved::new();
    let issuer = format!("https://localhost:{}", reserved.port());
    let client1 = start_client1(&issuer, CACHE).await;
    let https = http(Proto::H2);
    let url = client1.url("/api/resource");
    let reply = https.get_bearer(&url, "some-token").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        https.get(&client1.url("/healthz")).await.status,
        StatusCode::OK
    );

    let auth = auth_on(reserved.listen()).await;
    assert_eq!(auth.issuer, issuer);
    let token = https.token(&auth, "svc").await;
    let started = Instant::now();
    loop {
        let status = https.get_bearer(&url, &token).await.status;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(auth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_mismatch_stops_the_service_with_a_clear_error() {
    let auth = auth().await;
    // The same server under another name: its metadata names https://localhost:PORT.
    let other_name = format!("https://127.0.0.1:{}", auth.port());
    let client1 = start_client1(&other_name, CACHE).await;
    let error = client1.ended().await.unwrap_err();
    let message = error.to_string();
    assert!(message.contains("must match exactly"), "{message}");
    assert!(message.contains(&other_name), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_and_other_methods_405_with_allow() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let client2 = start_client2(&auth.issuer, &client1.url("/api/resource")).await;
    let https = http(Proto::H1);
    assert_eq!(
        https.get(&client1.url("/nope")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        https.get(&client2.url("/nope")).await.status,
        StatusCode::NOT_FOUND
    );
    for url in [client1.url("/api/resource"), client2.url("/call")] {
        let reply = https.request(Method::POST, &url, &[], b"").await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_mismatch_found_after_start_up_also_stops_the_service() {
    // Nothing answers yet (the port is reserved, not listening): client1 starts and keeps
    // trying in the background.
    let reserved = Reserved::new();
    let other_name = format!("https://127.0.0.1:{}", reserved.port());
    let client1 = start_client1(&other_name, CACHE).await;
    let https = http(Proto::H1);
    assert_eq!(
        https.get(&client1.url("/healthz")).await.status,
        StatusCode::OK
    );
    // Then a server answers whose metadata names https://localhost:PORT.
    let _auth = auth_on(reserved.listen()).await;
    let error = client1.ended().await.unwrap_err();
    assert!(error.to_string().contains("must match exactly"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_fails_waiting_calls_together_and_recovery_is_immediate() {
    let auth = auth().await;
    let addr = auth.addr;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let client2 = start_client2(&auth.issuer, &client1.url("/api/resource")).await;
    auth.stop().await.unwrap();

    // 20 calls that all need a token while the authorization server is down: one fetch with
    // its 2-second budget, whose failure they share, not 20 budgets one after another.
    let https = http(Proto::H2);
    let url = client2.url("/call");
    let started = Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let https = https.clone();
            let url = url.clone();
            tokio::spawn(async move { https.get(&url).await.status })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // Back up: the very next call succeeds, with no waiting out a backoff.
    let _auth = auth_on(rebind(addr).await).await;
    let started = Instant::now();
    let reply = https.get(&url).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(started.elapsed() < Duration::from_secs(1));
}
