//! client1 validating JWT access tokens locally (`--validation jwt`), against the real binaries
//! over real TLS: what it accepts, every tampered token it refuses, the JWK Set fetched once and
//! refetched for an unknown `kid` at most once per 10 s in a single flight (counted at the
//! authorization server), validation going on with the authorization server stopped, key
//! rotation, and the verified-token cache.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::StatusCode;
use serde_json::{json, Value};
use support::child::{add_client_cli, run, Service, CLIENT1, OAUTH_SERVER};
use support::*;
use tollgate::oauth::jose::{self, Algorithm, HeaderParams, SigningKey};

const AUDIENCE: &str = "https://client1.example";

fn gen_key(dir: &Path, alg: &str) {
    let output = run(
        Command::new(OAUTH_SERVER)
            .args(["gen-signing-key", "--alg", alg, "--keys"])
            .arg(dir),
        Duration::from_secs(10),
    );
    assert!(output.status.success(), "{output:?}");
}

/// The authorization server's key created last, as the test's own signer (to make tokens the
/// server would never make: expired, for another audience, with another `typ`).
fn server_key(keys: &Path) -> (SigningKey, String) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let path = files.last().unwrap();
    let key = SigningKey::from_pem(&std::fs::read(path).unwrap()).unwrap();
    let kid = key.thumbprint();
    (key, kid)
}

struct Stack {
    dir: PathBuf,
    clients: PathBuf,
    keys: PathBuf,
    server: Option<Service>,
    client1: Service,
    svc: String,
    reader: String,
    issuer: String,
}

fn serve_as(clients: &Path, keys: &Path, listen: &str) -> Service {
    let certs = certs();
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args([
            "serve",
            "--listen",
            listen,
            "--token-format",
            "jwt",
            "--clients",
        ])
        .arg(clients)
        .arg("--signing-keys")
        .arg(keys)
        .arg("--cert")
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key());
    Service::start(command)
}

/// An authorization server issuing JWTs (`svc` for client1's audience with scope `read`,
/// `reader` for it without scopes) and client1 validating them locally.
fn stack(label: &str) -> Stack {
    let dir = temp_dir(label);
    let keys = dir.join("keys");
    gen_key(&keys, "ES256");
    let clients = dir.join("clients.json");
    let svc = add_client_cli(
        &clients,
        "svc",
        &["--scope", "read", "--audience", AUDIENCE],
    );
    let reader = add_client_cli(&clients, "reader", &["--audience", AUDIENCE]);
    let server = serve_as(&clients, &keys, "127.0.0.1:0");
    let issuer = server.base.clone();
    let certs = certs();
    let mut command = Command::new(CLIENT1);
    command
        .args(["--listen", "127.0.0.1:0", "--cert"])
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key())
        .args(["--auth-server", &issuer, "--ca"])
        .arg(certs.ca())
        .args(["--validation", "jwt", "--audience", AUDIENCE])
        .env_remove("OAUTH_CLIENT_SECRET");
    Stack {
        dir,
        clients,
        keys,
        server: Some(server),
        client1: Service::start(command),
        svc,
        reader,
        issuer,
    }
}

impl Stack {
    fn server(&self) -> &Service {
        self.server.as_ref().expect("the authorization server runs")
    }

    async fn token(&self, h: &Client, id: &str) -> String {
        let secret = if id == "svc" { &self.svc } else { &self.reader };
        let reply = h.token_basic(&self.server().base, id, secret, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, h: &Client, token: &str) -> Reply {
        h.get_bearer(&self.client1.url("/api/resource"), token)
            .await
    }

    /// Claims as the server would sign them, for tokens the test makes itself.
    fn claims(&self) -> Value {
        let now = tollgate::oauth::unix_now();
        json!({
            "iss": self.issuer, "exp": now + 600, "aud": AUDIENCE, "sub": "svc",
            "client_id": "svc", "iat": now, "jti": "test-made-token-0001", "scope": "read"
        })
    }

    /// How many JWK Set requests the authorization server has logged.
    async fn jwks_requests(&self) -> usize {
        // The access log is written in batches every 50 ms.
        tokio::time::sleep(Duration::from_millis(150)).await;
        self.server().log().matches("GET /oauth/jwks ").count()
    }
}

fn sign(key: &SigningKey, kid: Option<&str>, typ: Option<&str>, claims: &Value) -> String {
    let header = HeaderParams { kid, typ };
    jose::sign(key, &header, claims.to_string().as_bytes()).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn assert_invalid_token(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        reply.text()
    );
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{what}: {challenge}"
    );
}

#[test]
fn jwt_validation_needs_an_audience() {
    let certs = certs();
    let output = run(
        Command::new(CLIENT1)
            .args(["--listen", "127.0.0.1:0", "--cert"])
            .arg(certs.cert())
            .arg("--key")
            .arg(certs.key())
            .args(["--auth-server", "https://localhost:1", "--ca"])
            .arg(certs.ca())
            .args(["--validation", "jwt"]),
        Duration::from_secs(10),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--audience"));
}

#[tokio::test]
async fn valid_tokens_pass_and_a_token_without_the_scope_is_forbidden() {
    let stack = stack("guard-valid");
    for h in both() {
        let token = stack.token(&h, "svc").await;
        let reply = stack.get(&h, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["client_id"], "svc");
        let unscoped = stack.token(&h, "reader").await;
        let reply = stack.get(&h, &unscoped).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("insufficient_scope"));
    }
}

#[tokio::test]
async fn tampered_forged_and_foreign_tokens_are_invalid_tokens_never_5xx() {
    let stack = stack("guard-tampered");
    let h = http(Proto::H2);
    let good = stack.token(&h, "svc").await;
    assert_eq!(stack.get(&h, &good).await.status, StatusCode::OK);
    let (key, kid) = server_key(&stack.keys);
    let claims = stack.claims();
    let parts: Vec<&str> = good.split('.').collect();
    let now = tollgate::oauth::unix_now();

    let mut changed = parts.clone();
    let mut more = claims.clone();
    more["scope"] = json!("read write admin");
    let more = b64(&more);
    changed[1] = &more;

    let header_none = b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid}));
    // HMAC with the published public key as the secret (the classic key-confusion attack).
    let jwks = h.get(&format!("{}/oauth/jwks", stack.issuer)).await.body;
    let header_hs = b64(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}));
    let signing_input = format!("{header_hs}.{}", b64(&claims));
    let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &jwks);
    let hmac = ring::hmac::sign(&hmac_key, signing_input.as_bytes());

    let mut expired = claims.clone();
    expired["exp"] = json!(now - 120);
    expired["iat"] = json!(now - 720);
    let mut other_aud = claims.clone();
    other_aud["aud"] = json!("https://elsewhere.example");
    let mut no_aud = claims.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut other_iss = claims.clone();
    other_iss["iss"] = json!("https://evil.example");
    let mut future = claims.clone();
    future["nbf"] = json!(now + 600);
    let mut float_exp = claims.clone();
    float_exp["exp"] = json!(now as f64 + 600.5);
    let foreign = SigningKey::generate(Algorithm::ES256).unwrap();

    let cases: Vec<(String, &str)> = vec![
        (changed.join("."), "a changed payload"),
        (
            format!("{header_none}.{}.", b64(&claims)),
            "alg none, no signature",
        ),
        (
            format!("{header_none}.{}.{}", b64(&claims), parts[2]),
            "alg none with a signature",
        ),
        (
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(hmac.as_ref())),
            "HS256 with the public key as secret",
        ),
        (sign(&key, Some(&kid), Some("at+jwt"), &expired), "expired"),
        (
            sign(&key, Some(&kid), Some("at+jwt"), &other_aud),
            "another audience",
        ),
        (
            sign(&key, Some(&kid), Some("at+jwt"), &no_aud),
            "no audience",
        ),
        (
            sign(&key, Some(&kid), Some("at+jwt"), &other_iss),
            "another issuer",
        ),
        (
            sign(&key, Some(&kid), Some("at+jwt"), &future),
            "not valid before later",
        ),
        (
            sign(&key, Some(&kid), Some("at+jwt"), &float_exp),
            "a float exp",
        ),
        (sign(&key, Some(&kid), Some("JWT"), &claims), "typ JWT"),
        (sign(&key, Some(&kid), None, &claims), "no typ"),
        (
            sign(&key, Some("no-such-kid"), Some("at+jwt"), &claims),
            "an unknown kid",
        ),
        (
            sign(&foreign, Some(&kid), Some("at+jwt"), &claims),
            "a foreign key under our kid",
        ),
        (
            sign(&foreign, None, Some("at+jwt"), &claims),
            "a foreign key, no kid",
        ),
        (format!("{good}x"), "a changed signature"),
        ("a.b.c".into(), "three parts of nothing"),
        (format!("{}.{}", parts[0], parts[1]), "two parts"),
        (format!("{good}{}", "A".repeat(5000)), "too long"),
    ];
    for h in both() {
        for (token, what) in &cases {
            assert_invalid_token(&stack.get(&h, token).await, what);
        }
    }
    // The server's own key with the right claims passes (the cases differ in one thing each).
    let made = sign(&key, Some(&kid), Some("application/at+jwt"), &claims);
    assert_eq!(stack.get(&h, &made).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_kids_cost_one_jwks_fetch_per_ten_seconds_shared_by_all() {
    let stack = stack("guard-kids");
    let h = http(Proto::H2);
    let token = stack.token(&h, "svc").await;
    assert_eq!(stack.get(&h, &token).await.status, StatusCode::OK);
    assert_eq!(stack.jwks_requests().await, 1, "fetched once");
    let (key, _) = server_key(&stack.keys);
    let claims = stack.claims();
    // 200 requests with made-up kids, 50 at a time.
    let made: Vec<String> = (0..200)
        .map(|i| sign(&key, Some(&format!("made-up-{i}")), Some("at+jwt"), &claims))
        .collect();
    for batch in made.chunks(50) {
        let replies = futures_join(batch.iter().map(|t| stack.get(&h, t))).await;
        for reply in replies {
            assert_invalid_token(&reply, "an unknown kid");
        }
    }
    assert_eq!(
        stack.jwks_requests().await,
        2,
        "one refetch for all 200 unknown kids"
    );
    // Known tokens are not held up meanwhile.
    assert_eq!(stack.get(&h, &token).await.status, StatusCode::OK);
}

/// Runs the futures concurrently (the harness has no futures crate).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    let mut pending: Vec<_> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut left = false;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => {
                        results[i] = Some(value);
                        *slot = None;
                    }
                    std::task::Poll::Pending => left = true,
                }
            }
        }
        if left {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(results.into_iter().flatten());
    out
}

#[tokio::test]
async fn validation_goes_on_with_the_authorization_server_stopped() {
    let mut stack = stack("guard-as-down");
    let h = http(Proto::H1);
    let token = stack.token(&h, "svc").await;
    assert_eq!(stack.get(&h, &token).await.status, StatusCode::OK);
    let (key, kid) = server_key(&stack.keys);
    let fresh = sign(&key, Some(&kid), Some("at+jwt"), &stack.claims());
    drop(stack.server.take());
    for h in both() {
        // A cached verdict, and a token never seen but signed by a known key.
        assert_eq!(stack.get(&h, &token).await.status, StatusCode::OK);
        assert_eq!(stack.get(&h, &fresh).await.status, StatusCode::OK);
        // An unknown kid while the JWK Set cannot be fetched: refused, never 503.
        let unknown = sign(&key, Some("rotated-away"), Some("at+jwt"), &stack.claims());
        assert_invalid_token(&stack.get(&h, &unknown).await, "unknown kid, server down");
    }
}

#[tokio::test]
async fn a_key_added_and_published_with_sighup_is_trusted_at_its_first_token() {
    let stack = stack("guard-rotate");
    let h = http(Proto::H2);
    let old = stack.token(&h, "svc").await;
    assert_eq!(stack.get(&h, &old).await.status, StatusCode::OK);
    gen_key(&stack.keys, "EdDSA");
    let status = Command::new("kill")
        .args(["-HUP", &stack.server().pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let new = loop {
        let token = stack.token(&h, "svc").await;
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        if header["alg"] == "EdDSA" {
            break token;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "no rotation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // client1 has never seen the new kid: one refetch, and the token passes; the old one too.
    assert_eq!(stack.get(&h, &new).await.status, StatusCode::OK);
    assert_eq!(stack.get(&h, &old).await.status, StatusCode::OK);
    let _ = (&stack.dir, &stack.clients);
}

#[tokio::test]
async fn a_repeated_token_is_judged_from_the_verified_token_cache() {
    // In-process client1, to read its counters.
    let stack = stack("guard-cache");
    let outbound = support::servers::outbound();
    let discovered = Arc::new(tollgate::discovery::Discovered::new(
        stack.issuer.clone(),
        outbound.clone(),
    ));
    let mut config = tollgate::resource::GuardConfig::new(
        "",
        tollgate::secret::SecretString::new(String::new()),
    );
    config.validation = tollgate::resource::Validation::Jwt;
    config.audience = Some(AUDIENCE.into());
    let guard = tollgate::resource::TokenGuard::new(config, discovered.clone(), outbound);
    let service = Arc::new(tollgate::app::ResourceService::new(guard.clone(), "read"));
    let listener = loopback().await;
    let url = format!(
        "https://localhost:{}/api/resource",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(tollgate::app::run(
        listener,
        certs().server_tls(),
        limits(),
        service,
        discovered,
        std::future::pending(),
    ));
    let h = http(Proto::H2);
    let token = stack.token(&h, "svc").await;
    for _ in 0..5 {
        assert_eq!(h.get_bearer(&url, &token).await.status, StatusCode::OK);
    }
    assert_eq!(
        guard.cache_hits(),
        4,
        "one signature check, four cache hits"
    );
    assert_eq!(guard.jwks_fetches(), 1);
    assert_eq!(guard.introspections(), 0);
}
