//! client2 against an authorization server that refuses, throttles, fails or answers oddly: it
//! waits out `Retry-After`, backs off after refusals and unusable answers so the server sees a
//! handful of token requests however many calls arrive, never renews in a loop whatever
//! `expires_in` says, and tells its unauthenticated callers a short fixed reason only. Against
//! a stand-in server (`support::fake_auth`) over real TLS; every loop is bounded in count and
//! time.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::json;
use support::child::{Service, CLIENT2};
use support::*;
use tollgate::app::CallerService;

/// A resource nobody listens on: the calls below fail before they would reach it.
const NO_RESOURCE: &str = "https://localhost:1/api/resource";

/// Calls `url` from `loops` concurrent loops, alternately over HTTP/1.1 and HTTP/2, every
/// 25 ms for `run_for` (at most 200 calls a loop); every answer's status and body.
async fn calls(url: &str, loops: usize, run_for: Duration) -> Vec<(StatusCode, serde_json::Value)> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..loops)
        .map(|i| {
            let https = http(BOTH[i % 2]);
            let url = url.to_owned();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..200 {
                    if started.elapsed() >= run_for {
                        break;
                    }
                    let reply = https.get(&url).await;
                    seen.push((reply.status, reply.json()));
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(tokio::time::timeout(STEP, task).await.unwrap().unwrap());
    }
    all
}

/// The gaps between the token requests a server saw.
fn gaps(requests: &[Instant]) -> Vec<Duration> {
    requests.windows(2).map(|w| w[1] - w[0]).collect()
}

/// 3.5 seconds of calls from four loops against a server that always answers `answer`:
/// every call gets `status` with `code` and a fixed reason, and the server sees two or three
/// token requests, a second and then two seconds apart at least.
async fn a_handful_of_token_requests(answer: TokenAnswer, status: StatusCode, code: &str) {
    let fake = start_fake_auth(answer.clone()).await;
    let client2 = start_client2(&fake.service.issuer, NO_RESOURCE).await;
    let seen = calls(&client2.url("/call"), 4, Duration::from_millis(3500)).await;
    assert!(seen.len() > 100, "only {} calls", seen.len());
    for (got, body) in &seen {
        assert_eq!(
            (*got, body["error"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        let reason = body["error_description"].as_str().unwrap();
        for detail in [
            "localhost",
            "https:",
            "invalid",
            "401",
            "400",
            "503",
            "JSON",
        ] {
            assert!(
                !reason.contains(detail),
                "{answer:?}: the reason {reason:?} tells too much"
            );
        }
    }
    let requests = fake.service.token_requests();
    assert!(
        (2..=3).contains(&requests.len()),
        "{answer:?}: {} token requests for {} calls",
        requests.len(),
        seen.len()
    );
    let gaps = gaps(&requests);
    assert!(gaps[0] >= Duration::from_secs(1), "{answer:?}: {gaps:?}");
    if let Some(second) = gaps.get(1) {
        assert!(*second >= Duration::from_secs(2), "{answer:?}: {gaps:?}");
    }
    assert_eq!(
        client2.service.client().token_requests(),
        requests.len() as u64
    );
    assert_eq!(
        http(Proto::H2).get(&client2.url("/healthz")).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refusals_unusable_answers_and_503s_are_asked_again_after_one_then_two_seconds_not_per_call(
) {
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    tokio::join!(
        a_handful_of_token_requests(
            TokenAnswer::refused(401, "invalid_client"),
            StatusCode::BAD_GATEWAY,
            "bad_gateway"
        ),
        a_handful_of_token_requests(
            TokenAnswer::refused(400, "invalid_scope"),
            StatusCode::BAD_GATEWAY,
            "bad_gateway"
        ),
        a_handful_of_token_requests(TokenAnswer::Garbage, StatusCode::BAD_GATEWAY, "bad_gateway"),
        a_handful_of_token_requests(
            TokenAnswer::refused(503, "temporarily_unavailable"),
            unavailable,
            "temporarily_unavailable"
        ),
    );
}

/// The server answers `status` with `Retry-After: 2`, then tokens: calls get 503 (with
/// `Retry-After`) and send nothing for two seconds, then a token comes at the first request.
async fn retry_after_is_waited_out(status: u16) {
    let fake = start_fake_auth(TokenAnswer::Error {
        status,
        error: "temporarily_unavailable",
        retry_after: Some("2"),
    })
    .await;
    let client2 = start_client2(&fake.service.issuer, NO_RESOURCE).await;
    let https = http(Proto::H2);
    let first = https.get(&client2.url("/call")).await;
    assert_eq!(
        first.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        first.text()
    );
    assert_eq!(first.header("retry-after"), Some("2"));
    let seen = calls(&client2.url("/call"), 4, Duration::from_millis(1500)).await;
    assert!(seen
        .iter()
        .all(|(status, _)| *status == StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(
        fake.service.token_request_count(),
        1,
        "nothing sent meanwhile"
    );

    fake.service
        .answer_with(TokenAnswer::Token(Some(json!(3600))));
    let client = client2.service.client();
    let started = Instant::now();
    while client.token().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no token after Retry-After"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = fake.service.token_requests();
    assert_eq!(requests.len(), 2, "one request once the wait was over");
    assert!(
        gaps(&requests)[0] >= Duration::from_secs(2),
        "{:?}",
        gaps(&requests)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_a_429_or_a_503_is_waited_out_before_the_next_token_request() {
    tokio::join!(
        retry_after_is_waited_out(429),
        retry_after_is_waited_out(503)
    );
}

/// Asks client2 for a token every 10 ms for 3 s against a server whose tokens carry
/// `expires_in` (`None`: no member); whether each ask succeeded, and the requests sent.
async fn tokens_with(expires_in: Option<serde_json::Value>) -> (Vec<bool>, usize) {
    let fake = start_fake_auth(TokenAnswer::Token(expires_in)).await;
    let client2: Running<CallerService> = start_client2(&fake.service.issuer, NO_RESOURCE).await;
    let client = client2.service.client();
    let started = Instant::now();
    let mut got = Vec::new();
    while started.elapsed() < Duration::from_secs(3) && got.len() < 300 {
        got.push(client.token().await.is_ok());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        http(Proto::H1).get(&client2.url("/healthz")).await.status,
        StatusCode::OK
    );
    (got, fake.service.token_request_count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_expires_in_makes_client2_renew_in_a_loop_or_panic() {
    let cases = [
        // Unusable: refused like a malformed answer, and backed off (at 0 s, 1 s, 3 s).
        (Some(json!(0)), false, 1..=3),
        (Some(json!(-5)), false, 1..=3),
        (Some(json!(0.5)), false, 1..=3),
        (Some(json!("3600")), false, 1..=3),
        (Some(json!(true)), false, 1..=3),
        // A day at most, or a minute when absent: one request serves the whole run.
        (Some(json!(1e20)), true, 1..=1),
        (Some(json!(u64::MAX)), true, 1..=1),
        (Some(json!(3600.5)), true, 1..=1),
        (None, true, 1..=1),
        (Some(serde_json::Value::Null), true, 1..=1),
        // Short lifetimes are renewed in time, in the background, a bounded number of times.
        (Some(json!(2)), true, 2..=5),
        (Some(json!(1)), true, 3..=9),
    ];
    let runs: Vec<_> = cases
        .iter()
        .map(|(expires_in, _, _)| tokio::spawn(tokens_with(expires_in.clone())))
        .collect();
    for ((expires_in, usable, expected), run) in cases.into_iter().zip(runs) {
        let (got, requests) = run.await.unwrap();
        assert!(got.len() > 100, "{expires_in:?}: only {} asks", got.len());
        assert!(
            got.iter().all(|ok| *ok == usable),
            "{expires_in:?}: usable {usable} expected, got {got:?}"
        );
        assert!(
            expected.contains(&requests),
            "{expires_in:?}: {requests} token requests"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client2_binary_starts_and_serves_healthz_while_every_token_request_is_refused() {
    let fake = start_fake_auth(TokenAnswer::refused(401, "invalid_client")).await;
    let certs = certs();
    let mut command = Command::new(CLIENT2);
    command
        .args(["--listen", "127.0.0.1:0", "--client-id", "c2"])
        .args([
            "--resource",
            NO_RESOURCE,
            "--auth-server",
            &fake.service.issuer,
        ])
        .arg("--cert")
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key())
        .arg("--ca")
        .arg(certs.ca())
        .env("OAUTH_CLIENT_SECRET", "not-the-secret");
    let client2 = Service::start(command);
    for https in both() {
        assert_eq!(
            https.get(&client2.url("/healthz")).await.status,
            StatusCode::OK
        );
    }
    let seen = calls(&client2.url("/call"), 6, Duration::from_millis(2500)).await;
    assert!(seen.len() > 60, "only {} calls", seen.len());
    assert!(
        seen.iter()
            .all(|(status, body)| *status == StatusCode::BAD_GATEWAY
                && body["error"] == "bad_gateway")
    );
    let requests = fake.service.token_request_count();
    assert!(
        (1..=2).contains(&requests),
        "{requests} token requests for {} calls, start-up included",
        seen.len()
    );
    let log = client2.log();
    assert!(
        log.contains("refused a token (401 invalid_client)"),
        "{log}"
    );
    for https in both() {
        assert_eq!(
            https.get(&client2.url("/healthz")).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_errors_tell_the_caller_a_short_fixed_reason_and_no_detail() {
    let auth = auth().await;
    let https = http(Proto::H1);
    let gone = start_client2(&auth.issuer, NO_RESOURCE).await;
    let reply = https.get(&gone.url("/call")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json()["error_description"],
        "the resource could not be reached"
    );

    let client2 = start_client2(&auth.issuer, NO_RESOURCE).await;
    auth.stop().await.unwrap();
    let reply = https.get(&client2.url("/call")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let reason = reply.json()["error_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with("the authorization server") && !reason.contains("localhost"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_that_refuses_every_token_does_not_turn_each_call_into_a_token_request() {
    // client1 trusts another authorization server than client2: every token is invalid there.
    let trusted_by_client2 = auth().await;
    let trusted_by_client1 = auth().await;
    let client1 = start_client1(&trusted_by_client1.issuer, Duration::from_secs(30)).await;
    let client2 = start_client2(&trusted_by_client2.issuer, &client1.url("/api/resource")).await;
    let seen = calls(&client2.url("/call"), 4, Duration::from_millis(2500)).await;
    assert!(seen.len() > 60, "only {} calls", seen.len());
    assert!(seen
        .iter()
        .all(|(status, body)| *status == StatusCode::BAD_GATEWAY
            && body["error_description"] == "the resource answered 401"));
    let issued = trusted_by_client2.service.tokens_issued();
    assert!(
        (2..=4).contains(&issued),
        "{issued} tokens for {} calls: at most one replacement a second",
        seen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_restart_concurrent_calls_refused_with_the_old_token_all_succeed_on_one_new_one() {
    let auth = auth().await;
    let (addr, issuer) = (auth.addr, auth.issuer.clone());
    let client1 = start_client1(&issuer, Duration::from_secs(1)).await;
    let client2 = start_client2(&issuer, &client1.url("/api/resource")).await;
    let url = client2.url("/call");
    assert_eq!(http(Proto::H1).get(&url).await.status, StatusCode::OK);
    // A new server forgets the token; client1 forgets its answer about it after a second.
    auth.stop().await.unwrap();
    let restarted = auth_on(rebind(addr).await).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let https = http(Proto::H2);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let (https, url) = (https.clone(), url.clone());
            tokio::spawn(async move { https.get(&url).await })
        })
        .collect();
    for call in calls {
        let reply = tokio::time::timeout(STEP, call).await.unwrap().unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    assert_eq!(restarted.service.tokens_issued(), 1);
}
