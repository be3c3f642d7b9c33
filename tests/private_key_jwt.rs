//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9) over real TLS: clients
//! registered by their JWK Set get tokens with assertions an independent implementation
//! (jsonwebtoken's RustCrypto backend) signs with RS256, ES256 and EdDSA, at the token,
//! introspection and revocation endpoints; every refusal of the issue is a 401
//! `invalid_client` (an assertion beside a secret is a 400, before anything else); failures
//! count toward the brute-force throttle; the assertion is never logged; the replay cache is
//! bounded by the live assertions; and a stock client library (Python's authlib) fetches a
//! token with it.

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use http::StatusCode;
use jsonwebtoken as jwt;
use serde_json::{json, Value};
use support::*;
use tollgate::auth::clients_file::{register, Proof, Registration};
use tollgate::form::encode_form_component;
use tollgate::oauth::jose::{unix_now, Algorithm, SigningKey, VerifyingKeySet};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A fixed 2048-bit RSA key (PKCS#8 PEM), since ring cannot generate RSA keys.
const RSA_TEST_KEY_PEM: &[u8] = include_bytes!("data/rsa2048_test_key.pem");

/// A client's private key, as the other implementation holds it.
struct Key {
    alg: Algorithm,
    ours: SigningKey,
    theirs: jwt::EncodingKey,
}

impl Key {
    fn new(alg: Algorithm) -> Key {
        let ours = match alg {
            Algorithm::RS256 => SigningKey::from_pem(RSA_TEST_KEY_PEM).unwrap(),
            // A PKCS#8 v1 document (RFC 8410 §7): Python's cryptography does not read the v2
            // documents ring writes.
            Algorithm::EdDSA => SigningKey::from_pkcs8_der(&ed25519_v1()).unwrap(),
            alg => SigningKey::generate(alg).unwrap(),
        };
        let pem = ours.to_pem();
        let pem = pem.expose().as_bytes();
        let theirs = match alg {
            Algorithm::ES256 => jwt::EncodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => jwt::EncodingKey::from_ed_pem(pem),
            Algorithm::RS256 => jwt::EncodingKey::from_rsa_pem(pem),
        }
        .unwrap();
        Key { alg, ours, theirs }
    }

    /// The public JWK Set a client registers, its key under `kid`.
    fn jwks(&self, kid: &str) -> VerifyingKeySet {
        VerifyingKeySet::new(vec![self.ours.verifying_key().with_kid(kid)]).unwrap()
    }

    /// An assertion signed by jsonwebtoken, with `kid` in the header if given.
    fn sign(&self, claims: &Value, kid: Option<&str>) -> String {
        let alg = match self.alg {
            Algorithm::ES256 => jwt::Algorithm::ES256,
            Algorithm::EdDSA => jwt::Algorithm::EdDSA,
            Algorithm::RS256 => jwt::Algorithm::RS256,
        };
        let mut header = jwt::Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jwt::encode(&header, claims, &self.theirs).unwrap()
    }
}

/// A random Ed25519 key as a PKCS#8 v1 document.
fn ed25519_v1() -> Vec<u8> {
    use ring::rand::SecureRandom as _;
    let mut seed = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut seed).unwrap();
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    der
}

/// The claims of a good assertion from `id` for `aud`.
fn claims(id: &str, aud: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": id, "sub": id, "aud": aud, "iat": now, "exp": now + 60,
        "jti": format!("jti-{}", tollgate::secret::random_secret().unwrap().expose()),
    })
}

fn with(mut claims: Value, member: &str, value: Value) -> Value {
    claims[member] = value;
    claims
}

/// A server with `pkj-ES256`, `pkj-EdDSA`, `pkj-RS256` (each registered by its key's JWK Set
/// under kid `k1`, `pkj-ES256` may introspect), and the secret clients `sec` and `rs`.
struct Stack {
    auth: Auth,
    keys: Vec<(String, Key)>,
}

impl Stack {
    async fn start() -> Stack {
        let clients = register_clients("pkj");
        let keys = clients.1;
        let auth = start_auth(AuthOptions {
            clients: Some(clients.0),
            ..AuthOptions::default()
        })
        .await;
        Stack { auth, keys }
    }

    fn key(&self, alg: Algorithm) -> (&str, &Key) {
        let (id, key) = self.keys.iter().find(|(_, k)| k.alg == alg).unwrap();
        (id, key)
    }

    fn token_url(&self) -> String {
        self.auth.url("/oauth/token")
    }

    /// A token request authenticated by `assertion`, with `extra` form parameters.
    async fn token(&self, h: &Client, assertion: &str, extra: &str) -> Reply {
        let body = format!(
            "grant_type=client_credentials&client_assertion_type={}&client_assertion={}{extra}",
            encode_form_component(JWT_BEARER),
            encode_form_component(assertion)
        );
        h.post_form(&self.token_url(), &body, None).await
    }
}

/// A clients file with one `private_key_jwt` client per algorithm (`PREFIX-ALG`) and the
/// secret clients `sec` and `rs`; the keys.
fn register_clients(prefix: &str) -> (Clients, Vec<(String, Key)>) {
    let clients = Clients::register(&[client("sec", "read", false), client("rs", "read", true)]);
    let mut keys = Vec::new();
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let key = Key::new(alg);
        let id = format!("{prefix}-{alg}");
        let registration = Registration::new(&id, vec!["read".into()], alg == Algorithm::ES256)
            .with_proof(Proof::Jwks(key.jwks("k1")));
        assert!(register(&clients.file, &registration).unwrap().is_none());
        keys.push((id, key));
    }
    (clients, keys)
}

#[tokio::test]
async fn assertions_signed_with_rs256_es256_and_eddsa_by_an_independent_signer_get_tokens() {
    let stack = Stack::start().await;
    let issuer = stack.auth.issuer.clone();
    for h in both() {
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let (id, key) = stack.key(alg);
            // aud the issuer, kid named; aud an array with the token endpoint, no kid.
            let by_issuer = key.sign(&claims(id, &issuer), Some("k1"));
            let array = json!(["https://elsewhere.example", stack.token_url()]);
            let by_endpoint = key.sign(&with(claims(id, &issuer), "aud", array), None);
            for assertion in [by_issuer, by_endpoint] {
                let reply = stack.token(&h, &assertion, "").await;
                assert_eq!(
                    reply.status,
                    StatusCode::OK,
                    "{alg} {}: {}",
                    h.via(),
                    reply.text()
                );
                let token = reply.json()["access_token"].as_str().unwrap().to_owned();
                let introspected = h.introspect(&stack.auth, "rs", &token).await.json();
                assert_eq!(introspected["active"], true);
                assert_eq!(introspected["client_id"], id);
                assert!(
                    introspected.get("cnf").is_none(),
                    "no certificate, no binding"
                );
            }
            // A client_id beside the assertion is fine when it names the same client.
            let assertion = key.sign(&claims(id, &issuer), None);
            let reply = stack
                .token(&h, &assertion, &format!("&client_id={id}"))
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        }
    }
}

#[tokio::test]
async fn introspection_and_revocation_accept_assertions_for_the_issuer_or_their_own_url() {
    let stack = Stack::start().await;
    let h = http(Proto::H2);
    let (id, key) = stack.key(Algorithm::ES256);
    let issuer = stack.auth.issuer.clone();
    let token = h.token(&stack.auth, "sec").await;
    let form = |assertion: &str| {
        format!(
            "token={}&client_assertion_type={}&client_assertion={}",
            encode_form_component(&token),
            encode_form_component(JWT_BEARER),
            encode_form_component(assertion)
        )
    };
    let introspect = stack.auth.url("/oauth/introspect");
    for aud in [issuer.clone(), introspect.clone()] {
        let assertion = key.sign(&claims(id, &aud), None);
        let reply = h.post_form(&introspect, &form(&assertion), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["active"], true);
    }
    // The token endpoint's URL is the token endpoint's audience, not introspection's.
    let assertion = key.sign(&claims(id, &stack.token_url()), None);
    let reply = h.post_form(&introspect, &form(&assertion), None).await;
    assert_invalid_client(&reply, "introspection with aud = token endpoint");

    // Revocation by the token's owner, an assertion client.
    let assertion = key.sign(&claims(id, &issuer), None);
    let own = stack.token(&h, &assertion, "").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = stack.auth.url("/oauth/revoke");
    let assertion = key.sign(&claims(id, &revoke), None);
    let body = form(&assertion).replacen(&encode_form_component(&token), &own, 1);
    let reply = h.post_form(&revoke, &body, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let after = h.introspect(&stack.auth, "rs", &own).await.json();
    assert_eq!(after["active"], false, "revoked by its owner's assertion");
}

#[tokio::test]
async fn every_bad_assertion_is_401_invalid_client() {
    let stack = Stack::start().await;
    let issuer = stack.auth.issuer.clone();
    let (id, key) = stack.key(Algorithm::ES256);
    let now = unix_now();
    let good = || claims(id, &issuer);
    let mut cases: Vec<(&str, String, String)> = vec![
        (
            "expired",
            key.sign(&with(good(), "exp", json!(now - 1)), None),
            String::new(),
        ),
        (
            "exp ten minutes ahead",
            key.sign(&with(good(), "exp", json!(now + 600)), None),
            String::new(),
        ),
        (
            "exp missing",
            key.sign(&without(good(), "exp"), None),
            String::new(),
        ),
        (
            "nbf two minutes ahead",
            key.sign(&with(good(), "nbf", json!(now + 120)), None),
            String::new(),
        ),
        (
            "iat two minutes ahead",
            key.sign(&with(good(), "iat", json!(now + 120)), None),
            String::new(),
        ),
        (
            "jti missing",
            key.sign(&without(good(), "jti"), None),
            String::new(),
        ),
        (
            "wrong aud",
            key.sign(&with(good(), "aud", json!("https://other.example")), None),
            String::new(),
        ),
        (
            "iss differs from sub",
            key.sign(&with(good(), "sub", json!("pkj-EdDSA")), None),
            String::new(),
        ),
        ("unknown kid", key.sign(&good(), Some("k2")), String::new()),
        (
            "mismatching client_id",
            key.sign(&good(), None),
            "&client_id=pkj-EdDSA".into(),
        ),
        (
            "unknown client",
            key.sign(
                &with(with(good(), "iss", json!("nobody")), "sub", json!("nobody")),
                None,
            ),
            String::new(),
        ),
        ("garbage", "not.a.jws".into(), String::new()),
    ];
    // A key the client never registered (another client's, in fact).
    let (_, other_key) = stack.key(Algorithm::EdDSA);
    cases.push((
        "unregistered key",
        other_key.sign(&good(), None),
        String::new(),
    ));
    // alg none, and HS256 keyed with the client's public key.
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&good()));
    cases.push(("alg none", none.clone(), String::new()));
    cases.push((
        "alg none with a signature",
        format!("{none}AAAA"),
        String::new(),
    ));
    let public = key.jwks("k1").to_jwks_json();
    let hs256 = jwt::encode(
        &jwt::Header::new(jwt::Algorithm::HS256),
        &good(),
        &jwt::EncodingKey::from_secret(public.as_bytes()).unwrap(),
    )
    .unwrap();
    cases.push(("HS256 with the public key", hs256, String::new()));
    // A secret client cannot use an assertion (it has no keys)...
    let sec_assertion = key.sign(
        &with(with(good(), "iss", json!("sec")), "sub", json!("sec")),
        None,
    );
    cases.push(("a secret client's assertion", sec_assertion, String::new()));
    // Each case from an address of its own: five failures in a row would lock the next out.
    let mut addresses = (10u8..).map(|n| IpAddr::from([127, 0, 1, n]));
    let mut fresh = || http_from(Proto::H1, addresses.next().unwrap());
    for (what, assertion, extra) in &cases {
        let reply = stack.token(&fresh(), assertion, extra).await;
        assert_invalid_client(&reply, what);
    }
    // ... and an assertion client cannot use a secret, whatever it tries.
    for secret in ["", "k1", &key.jwks("k1").to_jwks_json()] {
        let reply = fresh().token_basic(&stack.auth.base, id, secret, "").await;
        assert_invalid_client(&reply, "Basic for a --jwks client");
        let reply = fresh().token_post(&stack.auth.base, id, secret, "").await;
        assert_invalid_client(&reply, "client_secret_post for a --jwks client");
    }
    // Another assertion type, or an assertion without its type.
    let assertion = key.sign(&good(), None);
    for body in [
        format!("grant_type=client_credentials&client_assertion_type=urn:other&client_assertion={assertion}"),
        format!("grant_type=client_credentials&client_assertion={assertion}"),
    ] {
        let reply = fresh().post_form(&stack.token_url(), &body, None).await;
        assert_invalid_client(&reply, &body);
    }
    // The right assertion still works from a fresh address: nothing above consumed it.
    let reply = stack.token(&fresh(), &key.sign(&good(), None), "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

fn without(mut claims: Value, member: &str) -> Value {
    claims.as_object_mut().unwrap().remove(member);
    claims
}

#[tokio::test]
async fn an_assertion_is_accepted_once_and_the_cache_forgets_it_when_it_expires() {
    let stack = Stack::start().await;
    let h = http(Proto::H2);
    let (id, key) = stack.key(Algorithm::EdDSA);
    let signed = claims(id, &stack.auth.issuer);
    let exp = signed["exp"].as_u64().unwrap();
    let assertion = key.sign(&signed, None);
    let first = stack.token(&h, &assertion, "").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    for _ in 0..3 {
        let replay = stack.token(&h, &assertion, "").await;
        assert_invalid_client(&replay, "a replayed assertion");
    }
    // Even at another endpoint (same client, same jti).
    let h1 = http(Proto::H1);
    let reply = stack.token(&h1, &assertion, "").await;
    assert_invalid_client(&reply, "replayed over another connection");

    let store = stack.auth.service.store();
    assert_eq!(
        store.assertions_len(),
        1,
        "one entry per accepted assertion"
    );
    // Swept at the assertion's own `exp`, not the clock's now + 60: a second may have passed
    // since it was signed.
    store.sweep(exp - 1).await;
    assert_eq!(store.assertions_len(), 1, "kept while the assertion lives");
    store.sweep(exp + 1).await;
    assert_eq!(store.assertions_len(), 0, "gone once it has expired");
}

#[tokio::test]
async fn an_assertion_beside_basic_or_client_secret_is_400_before_anything_else() {
    let stack = Stack::start().await;
    let h = http(Proto::H1);
    let (id, key) = stack.key(Algorithm::ES256);
    let assertion = key.sign(&claims(id, &stack.auth.issuer), None);
    let body = format!(
        "grant_type=client_credentials&client_assertion_type={}&client_assertion={assertion}",
        encode_form_component(JWT_BEARER)
    );
    for authorization in [basic("sec", stack.auth.secret("sec")), "Basic !!".into()] {
        let reply = h
            .post_form(&stack.token_url(), &body, Some(&authorization))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
        assert_eq!(reply.error(), "invalid_request");
    }
    let with_secret = format!("{body}&client_id=sec&client_secret=x");
    let reply = h.post_form(&stack.token_url(), &with_secret, None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error(), "invalid_request");
    // Before the grant type is even looked at.
    let reply = h
        .post_form(
            &stack.token_url(),
            &body.replace("client_credentials", "password"),
            Some("Basic eDp5"),
        )
        .await;
    assert_eq!(reply.error(), "invalid_request", "{}", reply.text());
}

#[tokio::test]
async fn failed_assertions_lock_out_like_wrong_secrets_and_are_never_logged() {
    tollgate::access_log::start_capture();
    let stack = Stack::start().await;
    let h = http(Proto::H1);
    let (id, key) = stack.key(Algorithm::ES256);
    let (_, foreign) = stack.key(Algorithm::EdDSA);
    let mut sent = Vec::new();
    // Five failures in a row are free; the sixth starts the lockout.
    for _ in 0..6 {
        let bad = foreign.sign(&claims(id, &stack.auth.issuer), None);
        let reply = stack.token(&h, &bad, "").await;
        assert_invalid_client(&reply, "a foreign signature");
        sent.push(bad);
    }
    // The next, even a good one, waits out the lockout of (id, this address).
    let good = key.sign(&claims(id, &stack.auth.issuer), None);
    let reply = stack.token(&h, &good, "").await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text()
    );
    assert!(reply.header("retry-after").is_some());
    sent.push(good);
    // Another client from the same address is not locked out.
    let (other, other_key) = stack.key(Algorithm::RS256);
    let reply = stack
        .token(
            &h,
            &other_key.sign(&claims(other, &stack.auth.issuer), None),
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    tollgate::access_log::flush();
    let lines = tollgate::access_log::captured();
    let refused: Vec<_> = lines.iter().filter(|l| l.contains(" 401 ")).collect();
    assert!(
        refused
            .iter()
            .any(|l| l.contains(&format!("client_id={id}"))),
        "401 lines name the id tried: {lines:?}"
    );
    for assertion in &sent {
        let signature = assertion.rsplit('.').next().unwrap();
        assert!(
            lines.iter().all(|l| !l.contains(signature)),
            "an assertion was logged"
        );
    }
}

#[tokio::test]
async fn metadata_offers_private_key_jwt_with_its_algorithms_at_every_endpoint() {
    let stack = Stack::start().await;
    let reply = http(Proto::H1)
        .get(&stack.auth.url("/.well-known/oauth-authorization-server"))
        .await;
    let metadata = reply.json();
    for endpoint in ["token", "introspection", "revocation"] {
        let methods = &metadata[format!("{endpoint}_endpoint_auth_methods_supported")];
        assert!(
            methods
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt")),
            "{metadata}"
        );
        assert!(
            !methods
                .as_array()
                .unwrap()
                .contains(&json!("tls_client_auth")),
            "no mTLS without --client-ca: {metadata}"
        );
        let algs = &metadata[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")];
        assert_eq!(*algs, json!(["RS256", "ES256", "EdDSA"]), "{metadata}");
    }
    assert!(metadata
        .get("tls_client_certificate_bound_access_tokens")
        .is_none());
}

/// authlib's `PrivateKeyJWT` client authentication (RFC 7523), from a Python script: an
/// implementation nobody here wrote. Skipped, loudly, where authlib is not installed (`pip
/// install authlib requests`); `TOLLGATE_REQUIRE_AUTHLIB=1` makes that a failure.
#[tokio::test]
async fn authlib_fetches_a_token_with_private_key_jwt() {
    let probe = Command::new("python3")
        .args(["-c", "import authlib, requests, cryptography"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("TOLLGATE_REQUIRE_AUTHLIB").is_none(),
            "authlib is required but cannot be imported"
        );
        eprintln!(
            "SKIPPED authlib_fetches_a_token_with_private_key_jwt: pip install authlib requests"
        );
        return;
    }
    let stack = Stack::start().await;
    let dir = temp_dir("authlib");
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let (id, key) = stack.key(alg);
        let key_file = dir.join(format!("{id}.pem"));
        std::fs::write(&key_file, key.ours.to_pem().expose()).unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/authlib_private_key_jwt.py");
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .arg(stack.token_url())
            .arg(id)
            .arg(&key_file)
            .arg(alg.name())
            .arg(certs().ca());
        let output = tokio::task::spawn_blocking(move || {
            support::child::run(&mut command, Duration::from_secs(30))
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "authlib failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let token: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(token["token_type"], "Bearer", "{token}");
        let access = token["access_token"].as_str().unwrap();
        let introspected = http(Proto::H1)
            .introspect(&stack.auth, "rs", access)
            .await
            .json();
        assert_eq!(introspected["client_id"], id, "{introspected}");
    }
}
