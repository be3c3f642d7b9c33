//! client1's introspections under attack: a flood of made-up tokens from one address must not
//! take the capacity another address's valid token needs, nor leave work behind when it stops.
//! The authorization server is put 150 ms away each way (a loopback delay proxy), so that each
//! introspection holds its place for a realistic time; every flood is bounded in count and time.

mod support;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use support::*;
use tollgate::app::ResourceService;
use tollgate::resource::{INTROSPECTION_BUDGET, MAX_INTROSPECTIONS_PER_ADDRESS};

const FAR: Duration = Duration::from_millis(150);
const CACHE: Duration = Duration::from_secs(30);

fn flooder() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn victim() -> IpAddr {
    IpAddr::from([127, 0, 0, 2])
}

/// An authorization server reached through a proxy `FAR` away each way: its issuer (and so every
/// endpoint client1 discovers) names the proxy, while the test's own requests go straight to it.
/// And client1 in front of it, with discovery done and its connection to the server pooled.
async fn far_auth_and_client1() -> (Auth, DelayProxy, Running<ResourceService>) {
    let listener = loopback().await;
    let proxy = delay_proxy(listener.local_addr().unwrap(), FAR).await;
    let auth = start_auth(AuthOptions {
        listener: Some(listener),
        issuer: Some(format!("https://localhost:{}", proxy.addr.port())),
        ..AuthOptions::default()
    })
    .await;
    let client1 = start_client1(&auth.issuer, CACHE).await;
    let https = http(Proto::H2);
    let warm = https.token(&auth, "svc").await;
    let reply = https.get_bearer(&client1.url("/api/resource"), &warm).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    (auth, proxy, client1)
}

/// Answers seen by a flood.
#[derive(Debug, Default)]
struct Seen {
    unauthorized: usize,
    unavailable: usize,
    other: usize,
}

/// `connections` HTTP/2 connections from `from`, each with `streams` concurrent loops asking
/// client1 about made-up tokens until `stop` (at most 100 requests each, at most 10 s). A loop
/// told 503 pauses 200 ms before its next request, as a client that honours `Retry-After` a
/// little: the flood is about capacity, not CPU.
fn flood(
    url: &str,
    from: IpAddr,
    connections: usize,
    streams: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    let started = Instant::now();
    let mut loops = Vec::new();
    for c in 0..connections {
        let https = http_from(Proto::H2, from);
        for s in 0..streams {
            let (https, url, stop) = (https.clone(), url.to_owned(), stop.clone());
            loops.push(tokio::spawn(async move {
                let mut seen = Seen::default();
                for n in 0..100 {
                    if stop.load(Ordering::SeqCst) || started.elapsed() > Duration::from_secs(10) {
                        break;
                    }
                    // Opaque made-up tokens, shaped like real ones: 43 URL-safe characters.
                    let token = format!("{c:03}x{s:03}x{n:03}x{}", "A".repeat(31));
                    let auth = format!("Bearer {token}");
                    let headers = [("authorization", auth.as_str())];
                    match https.try_request(Method::GET, &url, &headers, b"").await {
                        Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => {
                            seen.unauthorized += 1
                        }
                        Ok(reply) if reply.status == StatusCode::SERVICE_UNAVAILABLE => {
                            seen.unavailable += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        _ => seen.other += 1,
                    }
                }
                seen
            }));
        }
    }
    loops
}

/// Polls `done` every 5 ms; fails the test after 3 s.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(3), "never {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn total(loops: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
    let mut all = Seen::default();
    for seen in loops {
        let seen = tokio::time::timeout(STEP, seen).await.unwrap().unwrap();
        all.unauthorized += seen.unauthorized;
        all.unavailable += seen.unavailable;
        all.other += seen.other;
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_made_up_tokens_from_one_address_does_not_delay_another_addresss_valid_token() {
    let (auth, _proxy, client1) = far_auth_and_client1().await;
    let url = client1.url("/api/resource");
    let direct = http(Proto::H2);
    let victim = http_from(Proto::H2, victim());

    // 300 requests at once, more than the 256 introspections the guard allowed before in all.
    let stop = Arc::new(AtomicBool::new(false));
    let loops = flood(&url, flooder(), 3, 100, &stop);
    tokio::time::sleep(Duration::from_millis(800)).await;

    for attempt in 0..3 {
        let fresh = direct.token(&auth, "svc").await;
        let started = Instant::now();
        let reply = victim.get_bearer(&url, &fresh).await;
        let took = started.elapsed();
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "fresh token {attempt} during the flood: {}",
            reply.text()
        );
        assert!(
            took < Duration::from_secs(2),
            "fresh token {attempt} waited {took:?}"
        );
    }
    stop.store(true, Ordering::SeqCst);
    let seen = total(loops).await;
    assert!(
        seen.unauthorized > 0 && seen.unavailable > 0 && seen.other == 0,
        "the flood was judged (401) up to its share and refused (503) beyond it: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_introspection_goes_on_for_the_requests_still_waiting() {
    let (auth, _proxy, client1) = far_auth_and_client1().await;
    let url = client1.url("/api/resource");
    let direct = http(Proto::H2);
    let before = client1.service.guard().introspections();

    // Two requests with one new token; the first gives up while the introspection is under way.
    let token = direct.token(&auth, "svc").await;
    let first = {
        let (https, url, token) = (http_from(Proto::H2, flooder()), url.clone(), token.clone());
        tokio::spawn(async move { https.get_bearer(&url, &token).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = {
        let (https, url, token) = (http_from(Proto::H1, victim()), url.clone(), token.clone());
        tokio::spawn(async move { https.get_bearer(&url, &token).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    first.abort();
    let reply = tokio::time::timeout(STEP, second).await.unwrap().unwrap();
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(client1.service.guard().introspections(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspections_no_request_waits_for_are_cancelled_at_once_and_free_their_places() {
    // A server whose introspection endpoint never answers: each introspection would otherwise
    // hold its place for the whole budget.
    let fake = start_fake_auth(TokenAnswer::Token(None)).await;
    let client1 = start_client1(&fake.service.issuer, CACHE).await;
    let url = client1.url("/api/resource");
    let guard = client1.service.guard();
    let pending = || fake.service.introspections_pending();
    // Discovery first, so that every introspection below starts at once.
    assert_eq!(
        http(Proto::H1).get(&client1.url("/healthz")).await.json()["authorization_server"],
        "discovered"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let loops = flood(&url, flooder(), 1, 40, &stop);
    wait_until("16 introspections", || {
        pending() >= MAX_INTROSPECTIONS_PER_ADDRESS
    })
    .await;
    let flood_started = Instant::now();
    // One address holds no more than its share; another address still gets a place at once.
    let victim = {
        let (https, url) = (http_from(Proto::H2, victim()), url.clone());
        tokio::spawn(async move { https.get_bearer(&url, "victims-own-token").await.status })
    };
    wait_until("the victim's introspection", || {
        pending() == MAX_INTROSPECTIONS_PER_ADDRESS + 1
    })
    .await;
    assert_eq!(guard.introspections_under_way(), pending());

    // The flood hangs up: its introspections stop, long before their budget would end them.
    stop.store(true, Ordering::SeqCst);
    for task in &loops {
        task.abort();
    }
    wait_until("the flood's introspections cancelled", || pending() == 1).await;
    let cancelled_after = flood_started.elapsed();
    assert!(
        cancelled_after < INTROSPECTION_BUDGET,
        "cancelled only after {cancelled_after:?}"
    );
    assert_eq!(guard.introspections_under_way(), 1);
    // The victim's still waits, and gets 503 at its budget, never a guess.
    let status = tokio::time::timeout(STEP, victim).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    wait_until("every place given back", || {
        guard.introspections_under_way() == 0
    })
    .await;
}
