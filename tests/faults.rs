//! Faults with the three real services: the authorization server killed under load and
//! restarted (every token forgotten), client1 killed and restarted, and an `add-client` whose
//! write cannot succeed.

mod support;

use std::time::{Duration, Instant};

use http::StatusCode;
use support::*;

/// One observed answer: when (since the start of the run) and what.
type Observation = (Duration, StatusCode, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auth_server_killed_under_load_client1_fails_closed_client2_never_fakes_success_and_all_recover_within_a_second(
) {
    let auth = auth().await;
    let addr = auth.addr;
    let issuer = auth.issuer.clone();
    let client1 = start_client1(&issuer, Duration::from_secs(1)).await;
    let client2 = start_client2(&issuer, &client1.url("/api/resource")).await;
    let https = http(Proto::H2);
    assert_eq!(
        https.get(&client2.url("/call")).await.status,
        StatusCode::OK
    );

    // Tokens issued now but shown to client1 only during the outage: it cannot have them cached.
    let mut unseen_tokens = Vec::new();
    for _ in 0..40 {
        unseen_tokens.push(https.token(&auth, "svc").await);
    }

    let started = Instant::now();
    let run_for = Duration::from_millis(4500);
    let call_url = client2.url("/call");
    let caller = {
        let https = http(Proto::H1);
        tokio::spawn(async move {
            let mut seen: Vec<Observation> = Vec::new();
            while started.elapsed() < run_for {
                let reply = https.get(&call_url).await;
                seen.push((started.elapsed(), reply.status, reply.text()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            seen
        })
    };

    tokio::time::sleep(Duration::from_millis(1000)).await;
    auth.stop().await.expect("authorization server stops");
    let killed_at = started.elapsed();

    // During the outage every unseen token gets 503 from client1: never 200.
    let resource = client1.url("/api/resource");
    for token in unseen_tokens.iter().take(20) {
        let reply = https.get_bearer(&resource, token).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "an unvalidated token got {}: {}",
            reply.status,
            reply.text()
        );
    }
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(started.elapsed() - killed_at))
        .await;

    let restarted = auth_on(rebind(addr).await).await;
    let back_at = started.elapsed();
    let fresh = https.token(&restarted, "svc").await;
    loop {
        let reply = https.get_bearer(&resource, &fresh).await;
        if reply.status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() - back_at < Duration::from_secs(1),
            "client1 still answers {} a second after the authorization server came back",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The new server forgot the old tokens: client1 must now say so, not serve them.
    let forgotten = https.get_bearer(&resource, &unseen_tokens[30]).await;
    assert_eq!(forgotten.status, StatusCode::UNAUTHORIZED);

    let seen = caller.await.expect("caller task");
    for (at, status, body) in &seen {
        assert!(
            [
                StatusCode::OK,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(status),
            "client2 answered {status} at {at:?}: {body}"
        );
        if *status == StatusCode::OK {
            let json: serde_json::Value = serde_json::from_str(body).expect("client2 relays JSON");
            assert_eq!(
                json["client_id"], "c2",
                "a 200 without client1's answer: {body}"
            );
        } else {
            assert!(
                serde_json::from_str::<serde_json::Value>(body).is_ok(),
                "{body}"
            );
        }
    }
    let failures_after_recovery: Vec<_> = seen
        .iter()
        .filter(|(at, status, _)| {
            *at > back_at + Duration::from_secs(1) && *status != StatusCode::OK
        })
        .collect();
    assert!(
        failures_after_recovery.is_empty(),
        "client2 still failing more than a second after recovery: {failures_after_recovery:?}"
    );
    assert!(
        seen.iter()
            .any(|(at, _, _)| *at > back_at + Duration::from_secs(1)),
        "the run ended before recovery could be observed"
    );
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client1_killed_and_restarted_client2_recovers_by_itself() {
    let auth = auth().await;
    let issuer = auth.issuer.clone();
    let client1 = start_client1(&issuer, Duration::from_secs(5)).await;
    let client1_addr = client1.addr;
    let resource = client1.url("/api/resource");
    let client2 = start_client2(&issuer, &resource).await;
    let https = http(Proto::H1);
    let call = client2.url("/call");
    assert_eq!(https.get(&call).await.status, StatusCode::OK);

    client1.stop().await.expect("client1 stops");
    let down = https.get(&call).await;
    assert_eq!(down.status, StatusCode::BAD_GATEWAY, "{}", down.text());
    assert!(serde_json::from_slice::<serde_json::Value>(&down.body).is_ok());

    let _client1 = start_client1_on(rebind(client1_addr).await, &issuer, Duration::from_secs(5));
    let back = Instant::now();
    loop {
        let reply = https.get(&call).await;
        if reply.status == StatusCode::OK {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "client2 still answers {} after client1 came back",
            reply.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(auth.service.tokens_issued(), 1, "the same token serves on");
}

#[test]
fn add_client_into_a_path_under_a_file_fails_clearly_and_touches_nothing() {
    let clients = Clients::register(&[client("svc", "read", false)]);
    let before = std::fs::read(&clients.file).expect("clients file");
    // A parent "directory" that is a regular file: no permission can make that work.
    let bogus = clients.file.join("clients.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-server"))
        .args(["add-client", "--id", "new", "--clients"])
        .arg(&bogus)
        .output()
        .expect("run oauth-server");
    assert!(!output.status.success());
    assert!(
        output.stdout.is_empty(),
        "no secret printed for a failed add"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot") && stderr.contains("clients.json"),
        "unclear error: {stderr}"
    );
    assert_eq!(std::fs::read(&clients.file).expect("clients file"), before);
}
