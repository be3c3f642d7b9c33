//! Replicas that act as one server: authorization-server processes sharing a clients file,
//! signing keys and a Redis store (`--store redis://`), each a separate `oauth-server` on a
//! `redis-server` of the test's own. What an operator running replicas behind a load
//! balancer relies on: every replica knows every token, revocation and failed login; tokens
//! survive a replica's restart; prefixes keep stores apart; an outage is 503 with
//! `Retry-After` (never a guess) and is over, with no restart, within 2 s of Redis coming back.
//! Skipped, with a line saying why, where no `redis-server` is installed (`.ci/run` installs
//! it and makes the skip a failure).
#![cfg(feature = "redis")]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use http::StatusCode;
use support::child::{Service, OAUTH_SERVER};
use support::redis_server::RedisServer;
use support::*;
use tollgate::form::encode_form_component;
use tollgate::secret::sha256;

/// Every replica names the same issuer, as replicas behind one load balancer do.
const ISSUER: &str = "https://auth.tollgate.test";

fn replica_command(store: &str, extra: &[&str]) -> Command {
    let certs = certs();
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--issuer", ISSUER])
        .arg("--cert")
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key())
        .arg("--clients")
        .arg(&Clients::shared().file)
        .args(["--store", store])
        .args(extra);
    command
}

fn replica(redis: &RedisServer, extra: &[&str]) -> Service {
    Service::start(replica_command(&redis.url(), extra))
}

fn secret(id: &str) -> &'static str {
    Clients::shared().secret(id)
}

/// A token request for `id` at `at`, with `secret`.
async fn token_reply(at: &Service, id: &str, secret: &str) -> Reply {
    http(Proto::H1).token_basic(&at.base, id, secret, "").await
}

/// A fresh token for `id` from `at`.
async fn token(at: &Service, id: &str) -> String {
    let reply = token_reply(at, id, secret(id)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}: {}",
        reply.text(),
        at.log()
    );
    reply.json()["access_token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

/// Introspection of `token` at `at` by `rs`, or the transport's failure.
async fn try_introspect(at: &Service, token: &str) -> Result<Reply, String> {
    let body = format!("token={}", encode_form_component(token));
    let auth = basic("rs", secret("rs"));
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    http(Proto::H1)
        .try_request(
            http::Method::POST,
            &at.url("/oauth/introspect"),
            &headers,
            body.as_bytes(),
        )
        .await
}

/// Whether `token` is active at `at` (panics on anything but a 200 answer).
async fn active(at: &Service, token: &str) -> bool {
    let reply = try_introspect(at, token).await.expect("introspection");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["active"] == true
}

async fn revoke(at: &Service, id: &str, token: &str) {
    let body = format!("token={}", encode_form_component(token));
    let reply = http(Proto::H1)
        .post_form(
            &at.url("/oauth/revoke"),
            &body,
            Some(&basic(id, secret(id))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[tokio::test]
async fn an_opaque_token_from_any_of_three_replicas_is_active_at_the_others_and_revoked_at_one_is_inactive_at_all_at_once(
) {
    let Some(redis) = RedisServer::start("replicas::three_replicas") else {
        return;
    };
    let replicas = [
        replica(&redis, &[]),
        replica(&redis, &[]),
        replica(&redis, &[]),
    ];
    for (i, issuer) in replicas.iter().enumerate() {
        let token = token(issuer, "svc").await;
        for at in &replicas {
            assert!(
                active(at, &token).await,
                "token of replica {i} inactive at {}",
                at.base
            );
        }
        let revoker = &replicas[(i + 1) % 3];
        revoke(revoker, "svc", &token).await;
        for at in &replicas {
            assert!(
                !active(at, &token).await,
                "revoked at {}, active at {}",
                revoker.base,
                at.base
            );
        }
    }
}

#[tokio::test]
async fn a_jwt_revoked_at_replica_a_is_inactive_at_replica_b() {
    let Some(redis) = RedisServer::start("replicas::jwt_revocation") else {
        return;
    };
    let keys = temp_dir("replica-keys").join("keys");
    let made = Command::new(OAUTH_SERVER)
        .args(["gen-signing-key", "--keys"])
        .arg(&keys)
        .output()
        .expect("gen-signing-key");
    assert!(made.status.success(), "{made:?}");
    let keys = keys.to_str().expect("a UTF-8 path");
    let jwt = ["--token-format", "jwt", "--signing-keys", keys];
    let (a, b) = (replica(&redis, &jwt), replica(&redis, &jwt));
    let token = token(&a, "svc").await;
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    assert!(active(&b, &token).await);
    revoke(&a, "svc", &token).await;
    assert!(
        !active(&b, &token).await,
        "a JWT revoked at A is active at B"
    );
    assert!(!active(&a, &token).await);
}

#[tokio::test]
async fn failed_authentications_spread_over_replicas_are_throttled_as_one() {
    let Some(redis) = RedisServer::start("replicas::brute_force") else {
        return;
    };
    let replicas = [
        replica(&redis, &[]),
        replica(&redis, &[]),
        replica(&redis, &[]),
    ];
    // Per (client id, source): five failures, one more that starts a lockout, spread round
    // the replicas; then every replica refuses the pair, its right secret included.
    for i in 0..6 {
        let reply = token_reply(&replicas[i % 3], "svc", "wrong").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "failure {i}");
    }
    for at in &replicas {
        let reply = token_reply(at, "svc", secret("svc")).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{}", at.base);
        assert!(reply.header("retry-after").is_some());
    }
    // Another source is never locked out by them.
    let elsewhere = http_from(Proto::H1, [127, 0, 0, 2].into());
    let reply = elsewhere
        .token_basic(&replicas[1].base, "svc", secret("svc"), "")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    // Per source, across ids: the budget (100 at once, 5 more a second) is one for all
    // replicas. 300 failures for invented ids from 127.0.0.3, 100 at each replica: one shared
    // budget lets about 100 be checked (plus 5 a second), budgets per replica would let 300.
    let guesser = http_from(Proto::H1, [127, 0, 0, 3].into());
    let started = Instant::now();
    let mut checked = 0u64;
    for i in 0..300 {
        let at = &replicas[i % 3];
        let reply = guesser
            .token_basic(&at.base, &format!("id{i}"), "wrong", "")
            .await;
        match reply.status {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("a guess answered {other}"),
        }
    }
    let refilled = 5 * started.elapsed().as_secs() + 5;
    assert!(
        checked <= 100 + refilled,
        "{checked} of 300 guesses spread over three replicas were checked, not about 100"
    );
}

#[tokio::test]
async fn opaque_tokens_survive_a_restart_of_any_replica() {
    let Some(redis) = RedisServer::start("replicas::restart") else {
        return;
    };
    let (a, b) = (replica(&redis, &[]), replica(&redis, &[]));
    let from_a = token(&a, "svc").await;
    let from_b = token(&b, "svc").await;
    let exited = a.signal("-TERM").await;
    assert!(exited.status.success(), "{}", exited.log);
    let a = replica(&redis, &[]);
    assert!(
        active(&a, &from_a).await,
        "its own token, lost in a restart"
    );
    assert!(active(&a, &from_b).await);
    drop(b.signal("-KILL").await);
    let b = replica(&redis, &[]);
    assert!(active(&b, &from_a).await && active(&b, &from_b).await);
}

#[tokio::test]
async fn stores_with_different_prefixes_on_one_redis_never_see_each_others_keys() {
    let Some(redis) = RedisServer::start("replicas::prefixes") else {
        return;
    };
    let alpha = replica(&redis, &["--store-prefix", "alpha:"]);
    let beta = replica(&redis, &["--store-prefix", "beta:"]);
    let token = token(&alpha, "svc").await;
    assert!(active(&alpha, &token).await);
    assert!(!active(&beta, &token).await, "beta sees alpha's token");
    for _ in 0..6 {
        token_reply(&alpha, "other", "wrong").await;
    }
    assert_eq!(
        token_reply(&alpha, "other", secret("other")).await.status,
        429
    );
    let reply = token_reply(&beta, "other", secret("other")).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "alpha's lockout counts at beta"
    );
    revoke(&beta, "svc", &token).await;
    assert!(active(&alpha, &token).await, "beta revoked alpha's token");
    let keys = redis.keys();
    assert!(
        keys.iter().any(|k| k.starts_with(b"alpha:"))
            && keys.iter().any(|k| k.starts_with(b"beta:"))
    );
    for key in keys {
        assert!(
            key.starts_with(b"alpha:") || key.starts_with(b"beta:"),
            "a key under neither prefix: {}",
            String::from_utf8_lossy(&key)
        );
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn every_key_starts_with_the_prefix_holds_only_hashes_and_expires() {
    let Some(redis) = RedisServer::start("replicas::keys") else {
        return;
    };
    let a = replica(
        &redis,
        &["--store-prefix", "tg-test:", "--token-ttl", "600"],
    );
    let tokens = [token(&a, "svc").await, token(&a, "other").await];
    revoke(&a, "other", &tokens[1]).await;
    token_reply(&a, "svc", "a-wrong-secret").await;
    let keys = redis.keys();
    assert_eq!(keys.len(), 3, "a token, a lockout, a budget: {keys:?}");
    let mut token_key = b"tg-test:t".to_vec();
    token_key.extend_from_slice(&sha256(tokens[0].as_bytes()));
    assert!(
        keys.contains(&token_key),
        "the token is not kept by its SHA-256"
    );
    let secrets = [secret("svc"), secret("other"), "a-wrong-secret"];
    for key in &keys {
        assert!(
            key.starts_with(b"tg-test:"),
            "{}",
            String::from_utf8_lossy(key)
        );
        let ttl = redis.pttl(key);
        assert!(
            ttl > 0 && ttl <= 600_000,
            "a key without a bounded expiry ({ttl} ms)"
        );
        let value = redis.get(key).unwrap_or_default();
        for text in tokens.iter().map(String::as_str).chain(secrets) {
            assert!(!contains(key, text.as_bytes()) && !contains(&value, text.as_bytes()));
        }
    }
    let record = redis.get(&token_key).expect("the record");
    assert!(
        record.len() < 64,
        "{} bytes for one token's record",
        record.len()
    );
}

/// One token request and one introspection, each timed, with what they answered.
struct Probe {
    token: Result<Reply, String>,
    introspection: Result<Reply, String>,
    slowest: Duration,
}

async fn probe(a: &Service, b: &Service, live: &str) -> Probe {
    let started = Instant::now();
    let token = http(Proto::H1)
        .try_request(
            http::Method::POST,
            &a.url("/oauth/token"),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &basic("svc", secret("svc"))),
            ],
            b"grant_type=client_credentials",
        )
        .await;
    let took = started.elapsed();
    let started = Instant::now();
    let introspection = try_introspect(b, live).await;
    Probe {
        token,
        introspection,
        slowest: took.max(started.elapsed()),
    }
}

/// A 503 with `Retry-After`, as every answer must be while the store is out.
fn assert_unavailable(reply: &Result<Reply, String>, what: &str) {
    let reply = reply
        .as_ref()
        .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        reply.text()
    );
    assert!(
        reply.header("retry-after").is_some(),
        "{what}: 503 without Retry-After"
    );
}

/// Probes until both answer 200 again (at most 5 s); how long that took.
async fn until_recovered(a: &Service, b: &Service) -> Duration {
    let started = Instant::now();
    loop {
        let live = token_reply(a, "svc", secret("svc")).await;
        if live.status == StatusCode::OK {
            let live = live.json()["access_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let answer = try_introspect(b, &live).await;
            if answer.is_ok_and(|r| r.status == StatusCode::OK && r.json()["active"] == true) {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no recovery within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_redis_stopped_mid_load_is_503_with_retry_after_within_2s_and_recovered_within_2s_of_its_restart(
) {
    let Some(mut redis) = RedisServer::start("replicas::outage") else {
        return;
    };
    let (a, b) = (replica(&redis, &[]), replica(&redis, &[]));
    let live = token(&a, "svc").await;
    for _ in 0..20 {
        let p = probe(&a, &b, &live).await;
        assert_eq!(p.token.map(|r| r.status), Ok(StatusCode::OK));
        assert_eq!(
            p.introspection.map(|r| r.json()["active"] == true),
            Ok(true)
        );
    }
    redis.stop();
    let stopped = Instant::now();
    // Every request started after the outage: 503 with Retry-After, within 2 s (never a
    // token others will not know, never "inactive" for a token that may be live).
    let mut probes = 0;
    while stopped.elapsed() < Duration::from_secs(3) {
        let p = probe(&a, &b, &live).await;
        assert!(
            p.slowest <= Duration::from_secs(2),
            "a request took {:?}",
            p.slowest
        );
        assert_unavailable(&p.token, "a token request during the outage");
        assert_unavailable(&p.introspection, "an introspection during the outage");
        probes += 1;
    }
    assert!(probes >= 3, "only {probes} probes in 3 s");
    redis.restart();
    let took = until_recovered(&a, &b).await;
    assert!(
        took <= Duration::from_secs(2),
        "recovered {took:?} after Redis came back"
    );
}

#[tokio::test]
async fn a_redis_that_stops_answering_is_503_within_2s_per_request_and_recovered_within_2s() {
    let Some(redis) = RedisServer::start("replicas::hung") else {
        return;
    };
    let (a, b) = (replica(&redis, &[]), replica(&redis, &[]));
    let live = token(&a, "svc").await;
    redis.signal("-STOP");
    for _ in 0..3 {
        let p = probe(&a, &b, &live).await;
        assert!(
            p.slowest <= Duration::from_secs(2),
            "a request took {:?}",
            p.slowest
        );
        assert_unavailable(&p.token, "a token request while Redis hangs");
        assert_unavailable(&p.introspection, "an introspection while Redis hangs");
    }
    redis.signal("-CONT");
    let took = until_recovered(&a, &b).await;
    assert!(
        took <= Duration::from_secs(2),
        "recovered {took:?} after Redis resumed"
    );
    assert!(active(&b, &live).await, "the token from before the hang");
}

/// `/readyz`'s status at `at`.
async fn readyz(at: &Service) -> StatusCode {
    http(Proto::H1).get(&at.url("/readyz")).await.status
}

/// Polls `/readyz` every 50 ms until it answers `want` (at most 5 s); how long that took.
async fn until_ready_is(at: &Service, want: StatusCode) -> Duration {
    let started = Instant::now();
    while readyz(at).await != want {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "/readyz never {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn readyz_turns_503_within_2s_of_an_outage_with_no_other_traffic_and_200_after_while_healthz_stays_200(
) {
    let Some(mut redis) = RedisServer::start("replicas::readyz") else {
        return;
    };
    let a = replica(&redis, &[]);
    assert_eq!(readyz(&a).await, StatusCode::OK);
    redis.stop();
    let took = until_ready_is(&a, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        took <= Duration::from_secs(2),
        "/readyz 503 only after {took:?}"
    );
    assert_eq!(
        http(Proto::H1).get(&a.url("/healthz")).await.status,
        StatusCode::OK
    );
    redis.restart();
    let took = until_ready_is(&a, StatusCode::OK).await;
    assert!(
        took <= Duration::from_secs(2),
        "/readyz 200 again only after {took:?}"
    );
    // A replica started while Redis is down starts, and is ready once Redis is.
    redis.stop();
    let late = replica(&redis, &[]);
    assert_eq!(readyz(&late).await, StatusCode::SERVICE_UNAVAILABLE);
    redis.restart();
    assert!(until_ready_is(&late, StatusCode::OK).await <= Duration::from_secs(2));
    token(&late, "svc").await;
}

#[tokio::test]
async fn credentials_in_the_store_url_are_used_and_never_logged() {
    let password = "s3cret-redis-pass";
    let Some(redis) =
        RedisServer::start_with("replicas::credentials", &["--requirepass", password])
    else {
        return;
    };
    let url = format!("redis://default:{password}@127.0.0.1:{}", redis.port);
    let a = Service::start(replica_command(&url, &[]));
    let b = Service::start(replica_command(&url, &[]));
    let token = token(&a, "svc").await;
    assert!(active(&b, &token).await);
    let wrong = format!("redis://default:not-{password}@127.0.0.1:{}", redis.port);
    let refused = Service::start(replica_command(&wrong, &[]));
    assert_eq!(
        token_reply(&refused, "svc", secret("svc")).await.status,
        503
    );
    assert_eq!(readyz(&refused).await, StatusCode::SERVICE_UNAVAILABLE);
    for service in [&a, &b, &refused] {
        let log = service.log();
        assert!(log.contains(&format!("127.0.0.1:{}", redis.port)), "{log}");
        assert!(!log.contains(password), "the password is in the log: {log}");
    }
}

#[test]
fn a_store_that_is_neither_memory_nor_redis_is_refused_at_start() {
    for store in ["postgres://localhost/x", "redis:/nohost", ""] {
        let output = child::run(&mut replica_command(store, &[]), Duration::from_secs(10));
        assert!(!output.status.success(), "--store {store:?} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--store"), "{stderr}");
    }
    let output = child::run(
        &mut replica_command("redis://127.0.0.1:1", &["--store-prefix", ""]),
        Duration::from_secs(10),
    );
    assert!(!output.status.success());
}

#[tokio::test]
async fn an_assertion_jti_used_through_one_replicas_store_is_refused_through_anothers() {
    use tollgate::auth::redis_store::RedisStore;
    use tollgate::auth::throttle::{BudgetPolicy, Policy};
    let Some(redis) = RedisServer::start("replicas::jti") else {
        return;
    };
    let open = |prefix| {
        let (lockout, budget) = (Policy::per_client(), BudgetPolicy::per_address());
        RedisStore::open(&redis.url(), prefix, &lockout, &budget).expect("open the store")
    };
    let (at_a, at_b, elsewhere) = (open("tollgate:"), open("tollgate:"), open("other:"));
    let jti = sha256(b"an assertion's jti");
    let exp = tollgate::oauth::unix_now() + 120;
    assert_eq!(at_a.use_once(&jti, exp).await, Ok(true), "first use");
    assert_eq!(
        at_b.use_once(&jti, exp).await,
        Ok(false),
        "replayed at another replica"
    );
    assert_eq!(
        at_a.use_once(&jti, exp).await,
        Ok(false),
        "replayed at the same one"
    );
    assert_eq!(
        elsewhere.use_once(&jti, exp).await,
        Ok(true),
        "another prefix"
    );
    let mut key = b"tollgate:j".to_vec();
    key.extend_from_slice(&jti);
    let ttl = redis.pttl(&key);
    let margin = tollgate::auth::redis_store::CLOCK_SKEW_MARGIN_SECS as i64 * 1000;
    assert!(
        ttl > 100_000 + margin && ttl <= 120_000 + margin,
        "the jti is kept until exp and the clock-skew margin: {ttl} ms"
    );
}
