//! JWT benchmarks: the JOSE primitives and a whole token issue in each format.
//!
//! - `jose/*`: signing and verifying a typical access token (ES256, EdDSA), and parsing a JWK
//!   Set of two keys — the costs an RFC 9068 token adds beyond an opaque one.
//! - `issue/*`: `POST /oauth/token` through `AuthServer::respond` (form parse, client
//!   authentication, the token, JSON; no network): `opaque` (a random value recorded in the
//!   store) against `jwt_es256` and `jwt_eddsa` (signed claims, nothing stored).
//! - `validate/*`: what client1 spends on a JWT it has not seen: `verify_and_claims` is the
//!   signature check plus the claims reading that local validation does.
//!
//! Run with `cargo bench --bench jwt`; reports land in `target/criterion/report/index.html`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::{Request, StatusCode};
use serde_json::json;
use tollgate::auth::clients::ClientRegistry;
use tollgate::auth::clients_file::{add_client, Registration};
use tollgate::auth::signing_keys::{self, SigningKeys};
use tollgate::auth::{AuthConfig, AuthServer, TokenFormat};
use tollgate::oauth::jose::{
    self, Algorithm, HeaderParams, JwksMode, SigningKey, VerifyingKeySet, DEFAULT_MAX_LEN,
};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn claims() -> Vec<u8> {
    let now = tollgate::oauth::unix_now();
    json!({
        "iss": "https://localhost:5003", "exp": now + 3600, "aud": "https://localhost:5004",
        "sub": "svc", "client_id": "svc", "iat": now,
        "jti": "Z4FAwz6JOfJ7hVPAqVIjUyMqf-XhDPxis2TG0SiKbQ4", "scope": "read"
    })
    .to_string()
    .into_bytes()
}

fn jose_primitives(c: &mut Criterion) {
    let mut group = c.benchmark_group("jose");
    group.throughput(Throughput::Elements(1));
    let payload = claims();
    let mut keys = Vec::new();
    for (name, alg) in [("es256", Algorithm::ES256), ("eddsa", Algorithm::EdDSA)] {
        let key = SigningKey::generate(alg).expect("key");
        let kid = key.thumbprint();
        let header = HeaderParams {
            kid: Some(&kid),
            typ: Some("at+jwt"),
        };
        group.bench_function(format!("sign_{name}"), |b| {
            b.iter(|| jose::sign(&key, &header, &payload).expect("signed"))
        });
        let token = jose::sign(&key, &header, &payload).expect("signed");
        let set =
            VerifyingKeySet::new(vec![key.verifying_key().with_kid(kid.clone())]).expect("a set");
        group.bench_function(format!("verify_{name}"), |b| {
            b.iter(|| jose::verify(&token, &set, DEFAULT_MAX_LEN).expect("verified"))
        });
        group.bench_function(format!("verify_and_claims_{name}"), |b| {
            b.iter(|| {
                jose::verify(&token, &set, DEFAULT_MAX_LEN)
                    .expect("verified")
                    .claims()
                    .expect("claims")
            })
        });
        keys.push(key.verifying_key().with_kid(kid));
    }
    let jwks = VerifyingKeySet::new(keys).expect("a set").to_jwks_json();
    group.bench_function("parse_jwks_2_keys", |b| {
        b.iter(|| VerifyingKeySet::from_jwks(jwks.as_bytes(), JwksMode::SkipUnusable).expect("set"))
    });
    group.finish();
}

fn token_issue(c: &mut Criterion) {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tollgate-bench-jwt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let clients = dir.join("clients.json");
    let registration = Registration::new("svc", vec!["read".into()], false)
        .with_audiences(vec!["https://localhost:5004".into()]);
    let secret = add_client(&clients, &registration).expect("add svc");
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("svc:{}", secret.expose()))
    );
    let parts = Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", authorization)
        .body(())
        .expect("request")
        .into_parts()
        .0;
    let body = b"grant_type=client_credentials&scope=read";
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("issue");
    group.throughput(Throughput::Elements(1));
    for (name, format, alg) in [
        ("opaque", TokenFormat::Opaque, None),
        ("jwt_es256", TokenFormat::Jwt, Some(Algorithm::ES256)),
        ("jwt_eddsa", TokenFormat::Jwt, Some(Algorithm::EdDSA)),
    ] {
        let mut config = AuthConfig::new("https://localhost:5003");
        config.token_format = format;
        let registry = ClientRegistry::load(&clients).expect("registry");
        let mut server = AuthServer::new(registry, config);
        if let Some(alg) = alg {
            let keys_dir = dir.join(name);
            signing_keys::generate(&keys_dir, alg).expect("key");
            server = server.with_signing_keys(SigningKeys::load(&keys_dir).expect("keys"));
        }
        let first = rt.block_on(server.respond(&parts, body, PEER));
        assert_eq!(first.status(), StatusCode::OK);
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| server.respond(&parts, body, PEER))
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, jose_primitives, token_issue);
criterion_main!(benches);
