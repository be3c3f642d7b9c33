//! Brute-force throttling (RFC 6749 §2.3.1) as issue 9 asks for it: failed client
//! authentications count per (client id, source address) and per source address, so nobody
//! can lock a client out from elsewhere, one source guessing one id is still stopped after a
//! handful of failures, and one source's budget of failures ages out.
//!
//! The timing rules run through `AuthServer::respond` on tokio's paused clock (the throttle
//! runs on it), with peers chosen per request: no real waiting. What an attacker sees on the
//! wire runs over real TLS against the server and client1, from two loopback addresses
//! (127.0.0.1 and 127.0.0.2).

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http::StatusCode;
use tollgate::auth::clients::ClientRegistry;
use tollgate::auth::{AuthConfig, AuthServer};

use support::*;

/// A token request with `client_secret_basic`.
fn token_request(id: &str, secret: &str) -> http::request::Parts {
    http::Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", basic(id, secret))
        .body(())
        .expect("request")
        .into_parts()
        .0
}

/// The authorization server alone, on the shared clients, for the paused-clock tests.
fn direct_server() -> AuthServer {
    let registry = ClientRegistry::load(&Clients::shared().file).expect("registry");
    AuthServer::new(registry, AuthConfig::new("https://localhost:1"))
}

/// What one token request from `peer` got: its status and `Retry-After`.
async fn attempt(server: &AuthServer, peer: &str, id: &str, secret: &str) -> (u16, Option<u64>) {
    let peer: IpAddr = peer.parse().expect("address");
    let response = server
        .respond(
            &token_request(id, secret),
            b"grant_type=client_credentials",
            peer,
        )
        .await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"));
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        assert!(
            retry_after.is_some_and(|s| s >= 1),
            "429 without Retry-After >= 1"
        );
    }
    (response.status().as_u16(), retry_after)
}

fn right(id: &str) -> &'static str {
    Clients::shared().secret(id)
}

fn can_bind(ip: IpAddr) -> bool {
    std::net::TcpListener::bind(SocketAddr::new(ip, 0)).is_ok()
}

const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

#[tokio::test(start_paused = true)]
async fn a_right_secret_from_another_address_is_never_refused_while_one_address_guesses_it() {
    let server = direct_server();
    let mut checked = 0;
    // Twenty guesses a second for a minute from one address, the victim's right secret from
    // another address between every two of them.
    for step in 0..1200 {
        let (status, _) = attempt(&server, "10.0.0.1", "svc", "guess").await;
        assert!(status == 401 || status == 429, "guess {step}: {status}");
        checked += usize::from(status == 401);
        let (status, _) = attempt(&server, "10.0.0.2", "svc", right("svc")).await;
        assert_eq!(status, 200, "the victim was refused at step {step}");
        tokio::time::advance(Duration::from_millis(50)).await;
    }
    // The guessing address had a handful of guesses checked, then one per lockout
    // (1, 2, 4, 8, then 15 s): about 13 in the minute.
    assert!(
        (6..=16).contains(&checked),
        "{checked} guesses were checked in a minute"
    );
    // And it is still locked out for that id, even with the right secret.
    let (status, _) = attempt(&server, "10.0.0.1", "svc", right("svc")).await;
    assert_eq!(status, 429);
}

#[tokio::test(start_paused = true)]
async fn one_id_failing_from_one_address_is_locked_out_after_five_failures_for_1_s_doubling_to_15_s(
) {
    let server = direct_server();
    for failure in 1..=5 {
        let (status, _) = attempt(&server, "10.0.0.1", "svc", "guess").await;
        assert_eq!(status, 401, "failure {failure} is answered, not refused");
    }
    let mut waits = Vec::new();
    for _ in 0..7 {
        let (status, _) = attempt(&server, "10.0.0.1", "svc", "guess").await;
        assert_eq!(status, 401, "the first attempt after a lockout is checked");
        // Refused before the secret is looked at: the right one is refused too.
        let (status, wait) = attempt(&server, "10.0.0.1", "svc", right("svc")).await;
        assert_eq!(status, 429);
        let wait = wait.expect("Retry-After");
        waits.push(wait);
        // Just before the advertised time: still refused; at it: checked again.
        tokio::time::advance(Duration::from_millis(wait * 1000 - 10)).await;
        assert_eq!(attempt(&server, "10.0.0.1", "svc", "guess").await.0, 429);
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    assert_eq!(waits, [1, 2, 4, 8, 15, 15, 15]);
    // A success clears the count: one more mistake is a mistake, not a lockout.
    assert_eq!(
        attempt(&server, "10.0.0.1", "svc", right("svc")).await.0,
        200
    );
    assert_eq!(attempt(&server, "10.0.0.1", "svc", "guess").await.0, 401);
    assert_eq!(
        attempt(&server, "10.0.0.1", "svc", right("svc")).await.0,
        200
    );
}

#[tokio::test(start_paused = true)]
async fn two_failures_a_second_for_a_minute_never_refuse_the_right_secrets_in_between() {
    let server = direct_server();
    // 120 failures, more than the burst an address may make at once, but slower than its
    // budget comes back: never throttled.
    for i in 0..120 {
        let id = format!("ghost-{i}");
        assert_eq!(
            attempt(&server, "10.0.0.1", &id, "guess").await.0,
            401,
            "{i}"
        );
        let (id, secret) = if i % 2 == 0 {
            ("svc", right("svc"))
        } else {
            ("other", right("other"))
        };
        assert_eq!(attempt(&server, "10.0.0.1", id, secret).await.0, 200, "{i}");
        tokio::time::advance(Duration::from_millis(500)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn hundreds_of_failures_a_second_from_one_address_are_throttled_and_other_addresses_are_not()
{
    let server = direct_server();
    let mut statuses = Vec::new();
    for i in 0..400 {
        statuses.push(
            attempt(&server, "10.0.0.1", &format!("ghost-{i}"), "guess")
                .await
                .0,
        );
        tokio::time::advance(Duration::from_micros(2500)).await;
    }
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(checked + refused, 400, "{statuses:?}");
    // A burst of 100, then five a second.
    assert!(
        (100..=106).contains(&checked),
        "{checked} of 400 failures in a second were checked"
    );
    assert_eq!(
        attempt(&server, "10.0.0.2", "svc", right("svc")).await.0,
        200
    );
    // The budget comes back with time: five a second, all of it in 20 s.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        attempt(&server, "10.0.0.1", "ghost-x", "guess").await.0,
        401
    );
    tokio::time::advance(Duration::from_secs(20)).await;
    for i in 0..100 {
        let id = format!("later-{i}");
        assert_eq!(
            attempt(&server, "10.0.0.1", &id, "guess").await.0,
            401,
            "{i}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_ipv6_source_counts_by_its_64_and_an_ipv4_mapped_one_as_its_ipv4_address() {
    let server = direct_server();
    for _ in 0..6 {
        attempt(&server, "2001:db8:1:2::1", "svc", "guess").await;
        attempt(&server, "::ffff:10.0.0.9", "other", "guess").await;
    }
    let same_64 = attempt(&server, "2001:db8:1:2:ffff::9", "svc", right("svc")).await;
    assert_eq!(same_64.0, 429);
    let other_64 = attempt(&server, "2001:db8:1:3::1", "svc", right("svc")).await;
    assert_eq!(other_64.0, 200);
    assert_eq!(
        attempt(&server, "10.0.0.9", "other", right("other"))
            .await
            .0,
        429
    );
    assert_eq!(
        attempt(&server, "10.0.0.10", "other", right("other"))
            .await
            .0,
        200
    );
}

/// Over the wire, both versions: a deployment that gets its secrets wrong for a while (a few
/// dozen failures spread over several ids, known and unknown) gets 401 for each, never 429,
/// and its right secrets keep working.
#[tokio::test]
async fn a_burst_of_dozens_of_failures_over_several_ids_is_401_never_429_and_right_secrets_work() {
    for proto in BOTH {
        // A server of its own per version: each burst starts from a full budget.
        let server = auth().await;
        let h = http(proto);
        let ids = [
            "other",
            "rs",
            "c2",
            "writer",
            "svc.one_x-2",
            "typo-1",
            "typo-2",
        ];
        for round in 0..5 {
            for id in ids
                .iter()
                .chain(&["typo-3", "typo-4", "typo-5", "typo-6", "typo-7"])
            {
                let reply = h.token_basic(&server.base, id, "stale-secret", "").await;
                assert_eq!(
                    reply.status,
                    401,
                    "{proto:?} round {round} {id}: {}",
                    reply.text()
                );
            }
            let reply = h
                .token_basic(&server.base, "svc", server.secret("svc"), "")
                .await;
            assert_eq!(reply.status, 200, "{proto:?} after round {round}");
        }
        // Sixty failures later, another id that has not been failing is served at once.
        let reply = http(proto)
            .token_post(&server.base, "svc", server.secret("svc"), "")
            .await;
        assert_eq!(reply.status, 200, "{proto:?}");
    }
}

/// The second attack of issue 9: client ids are not secret, and locking client1's id at the
/// authorization server made every uncached token at client1 answer 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_client1s_secret_from_another_address_never_makes_client1_refuse_a_fresh_token() {
    if !can_bind(ATTACKER) {
        eprintln!("cannot bind {ATTACKER}: skipped");
        return;
    }
    let server = auth().await;
    let client1 = start_client1(&server.issuer, Duration::from_secs(5)).await;
    let mut locked = [false; 2];
    for (i, proto) in BOTH.into_iter().enumerate() {
        let attacker = http_from(proto, ATTACKER);
        for _ in 0..20 {
            let reply = introspect_as(&attacker, &server, "rs", "guess", "x").await;
            locked[i] |= reply.status == StatusCode::TOO_MANY_REQUESTS;
        }
    }
    assert_eq!(locked, [true, true], "the attacker was never locked out");
    for proto in BOTH {
        let h = http(proto);
        for _ in 0..3 {
            let token = h.token(&server, "svc").await;
            let reply = h.get_bearer(&client1.url("/api/resource"), &token).await;
            assert_eq!(reply.status, StatusCode::OK, "{proto:?}: {}", reply.text());
        }
    }
    // The attacker's address stays locked out for client1's id, even with the right secret.
    let attacker = http_from(Proto::H1, ATTACKER);
    let reply = introspect_as(&attacker, &server, "rs", server.secret("rs"), "x").await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

/// Introspection of `token` with any credentials, for the attack above.
async fn introspect_as(h: &Client, server: &Auth, id: &str, secret: &str, token: &str) -> Reply {
    h.post_form(
        &server.url("/oauth/introspect"),
        &format!("token={token}"),
        Some(&basic(id, secret)),
    )
    .await
}
