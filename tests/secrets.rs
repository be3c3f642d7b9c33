//! No client secret and no access token may appear in a log line or in `Debug` output.
//! One test in this file: log capture is process-wide.

mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use support::*;
use tollgate::client::{ClientCredentials, TokenClientConfig};
use tollgate::resource::GuardConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_appears_in_logs_or_debug_output() {
    tollgate::access_log::start_capture();
    let auth = auth().await;
    let clients = auth.clients.clone();
    let client1 = start_client1(&auth.issuer, Duration::from_secs(30)).await;
    let client2 = start_client2(&auth.issuer, &client1.url("/api/resource")).await;
    let https = http(Proto::H2);

    // The happy path, a token in a query string, a revoked token, and the error paths that log.
    assert_eq!(
        https.get(&client2.url("/call")).await.status,
        StatusCode::OK
    );
    let token = https.token(&auth, "svc").await;
    let url = client1.url("/api/resource");
    assert_eq!(https.get_bearer(&url, &token).await.status, StatusCode::OK);
    let in_query = format!("{url}?access_token={token}");
    assert_eq!(https.get(&in_query).await.status, StatusCode::UNAUTHORIZED);
    let managed = client2.service.client().token().await.unwrap();
    // The guard's verdict and a failed call, as a library user would print them.
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    let guard = client1.service.guard();
    let caller = guard
        .authorize(&headers, "read", [127, 0, 0, 1].into())
        .await;
    let caller = format!("{:?}", caller.expect("the token is valid"));
    let mut call = http::Request::new(bytes::Bytes::new());
    *call.uri_mut() = "https://localhost:1/api/resource".parse().unwrap();
    let call_error = format!(
        "{:?}",
        client2.service.client().call(call).await.unwrap_err()
    );
    assert_eq!(
        https.revoke(&auth, "svc", &token).await.status,
        StatusCode::OK
    );
    let bad_basic = basic("c2", "wrong");
    let reply = https
        .request(
            Method::POST,
            &format!("{}/oauth/token", auth.issuer),
            &[
                ("authorization", &bad_basic),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"grant_type=client_credentials",
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let fresh = https.token(&auth, "svc").await;
    auth.stop().await.unwrap();
    assert_eq!(
        https.get_bearer(&url, &fresh).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let logs = tollgate::access_log::captured().concat();
    // The log did record these requests: the test looks at real lines.
    assert!(logs.contains("GET /call 200"), "{logs}");
    assert!(logs.contains("GET /api/resource 503"), "{logs}");
    assert!(logs.contains("introspection failed"), "{logs}");

    let debug = [
        format!("{:?}", client1.service),
        format!("{:?}", client2.service),
        format!("{:?}", client2.service.client()),
        format!("{:?}", client1.service.guard()),
        format!("{:?}", GuardConfig::new("rs", clients.secret_string("rs"))),
        format!(
            "{:?}",
            TokenClientConfig {
                client_id: "c2".into(),
                credentials: ClientCredentials::Secret(clients.secret_string("c2")),
                scope: None,
                audience: None,
            }
        ),
        format!("{managed:?}"),
        caller,
        call_error,
    ]
    .concat();
    assert!(debug.contains("TokenGuard") && debug.contains("[redacted]"));
    assert!(debug.contains("client_id: \"svc\"") && debug.contains("ResourceFailed"));

    let mut secrets: Vec<String> = clients.secrets.values().cloned().collect();
    secrets.extend([token, fresh, managed.expose().to_owned()]);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret or token is in the log"
        );
        assert!(
            !debug.contains(secret.as_str()),
            "a secret or token is in Debug output"
        );
    }
}
