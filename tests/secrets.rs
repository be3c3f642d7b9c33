//! No client secret and no access token may appear in a log line or in `Debug` output.
//! One test in this file: log capture is process-wide.

mod stack;

use std::time::Duration;

use http::{Method, StatusCode, Version};
use stack::{Env, Https};
use tollgate::client::TokenClientConfig;
use tollgate::resource::GuardConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_appears_in_logs_or_debug_output() {
    tollgate::access_log::start_capture();
    let env = Env::new();
    let auth = env.start_auth(0, Duration::from_secs(3600)).await;
    let client1 = env
        .start_client1(&auth.issuer(), Duration::from_secs(30))
        .await;
    let client2 = env
        .start_client2(&auth.issuer(), &client1.url("/api/resource"))
        .await;
    let https = Https::new(&env.ca, Version::HTTP_2);

    // The happy path, a token in a query string, a revoked token, and the error paths that log.
    assert_eq!(
        https.get(&client2.url("/call")).await.status,
        StatusCode::OK
    );
    let token = https.token(&auth.issuer(), "svc", &env.secret("svc")).await;
    let url = client1.url("/api/resource");
    assert_eq!(https.get_bearer(&url, &token).await.status, StatusCode::OK);
    let in_query = format!("{url}?access_token={token}");
    assert_eq!(https.get(&in_query).await.status, StatusCode::UNAUTHORIZED);
    let managed = client2.service.client().token().await.unwrap();
    https
        .revoke(&auth.issuer(), "svc", &env.secret("svc"), &token)
        .await;
    let bad_basic = stack::basic("c2", &tollgate::secret::SecretString::new("wrong".into()));
    let reply = https
        .send(
            Method::POST,
            &format!("{}/oauth/token", auth.issuer()),
            &[
                ("authorization", &bad_basic),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"grant_type=client_credentials",
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let fresh = https.token(&auth.issuer(), "svc", &env.secret("svc")).await;
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
        format!("{:?}", GuardConfig::new("rs", env.secret("rs"))),
        format!(
            "{:?}",
            TokenClientConfig {
                client_id: "c2".into(),
                client_secret: env.secret("c2"),
                scope: None,
            }
        ),
        format!("{managed:?}"),
    ]
    .concat();
    assert!(debug.contains("TokenGuard") && debug.contains("[redacted]"));

    let mut secrets: Vec<String> = env
        .secrets
        .values()
        .map(|s| s.expose().to_owned())
        .collect();
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
