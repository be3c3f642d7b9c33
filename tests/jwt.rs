//! JWT access tokens (RFC 9068) at the authorization server, against the real binary over
//! real TLS: `gen-signing-key`, `serve --token-format jwt`, the JWK Set and `jwks_uri`, the
//! token's header and claims, introspection and revocation of JWTs, and key rotation on SIGHUP.

mod support;

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::StatusCode;
use serde_json::{json, Value};
use support::child::{add_client_cli, run, try_run, Service, OAUTH_SERVER};
use support::*;
use tollgate::oauth::jose::{self, JwksMode, VerifyingKeySet, DEFAULT_MAX_LEN};

fn oauth_server(args: &[&str]) -> std::process::Output {
    run(
        Command::new(OAUTH_SERVER).args(args),
        Duration::from_secs(10),
    )
}

/// `gen-signing-key` into `dir`; the (kid, alg) it printed.
fn gen_key(dir: &Path, alg: &str) -> (String, String) {
    let output = run(
        Command::new(OAUTH_SERVER)
            .args(["gen-signing-key", "--keys"])
            .arg(dir)
            .args(["--alg", alg]),
        Duration::from_secs(10),
    );
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one line: {stdout}");
    let line: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(line.as_object().unwrap().len(), 2, "{line}");
    (
        line["kid"].as_str().unwrap().to_owned(),
        line["alg"].as_str().unwrap().to_owned(),
    )
}

/// A server with a keys directory and three clients: `svc` (audience API), `plain` (none),
/// `rs` (may introspect).
struct Stack {
    server: Service,
    keys: PathBuf,
    svc: String,
    plain: String,
    rs: String,
}

const API: &str = "https://api.example";

fn serve(clients: &Path, args: &[&str]) -> Result<Service, String> {
    let certs = certs();
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--clients"])
        .arg(clients)
        .arg("--cert")
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key())
        .args(args);
    Service::try_start(command)
}

fn stack(label: &str, alg: &str, extra: &[&str]) -> Stack {
    let dir = temp_dir(label);
    let keys = dir.join("keys");
    gen_key(&keys, alg);
    let clients = dir.join("clients.json");
    let svc = add_client_cli(
        &clients,
        "svc",
        &["--scope", "read write", "--audience", API],
    );
    let plain = add_client_cli(&clients, "plain", &[]);
    let rs = add_client_cli(&clients, "rs", &["--scope", "read", "--introspect"]);
    let mut args = vec!["--token-format", "jwt", "--signing-keys"];
    let keys_arg = keys.to_str().unwrap().to_owned();
    args.push(&keys_arg);
    args.extend_from_slice(extra);
    Stack {
        server: serve(&clients, &args).unwrap_or_else(|e| panic!("{e}")),
        keys,
        svc,
        plain,
        rs,
    }
}

impl Stack {
    async fn token(&self, h: &Client, id: &str) -> String {
        let secret = if id == "svc" { &self.svc } else { &self.plain };
        let reply = h.token_basic(&self.server.base, id, secret, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn introspect(&self, h: &Client, token: &str) -> Value {
        let body = format!("token={}", tollgate::form::encode_form_component(token));
        let auth = basic("rs", &self.rs);
        let reply = h
            .post_form(&self.server.url("/oauth/introspect"), &body, Some(&auth))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()
    }

    async fn jwks(&self, h: &Client) -> VerifyingKeySet {
        let reply = h.get(&self.server.url("/oauth/jwks")).await;
        assert_eq!(reply.status, StatusCode::OK);
        VerifyingKeySet::from_jwks(&reply.body, JwksMode::RefuseUnusable).expect("a usable set")
    }
}

/// The JSON of one part of a compact JWS.
fn part(token: &str, index: usize) -> Value {
    let text = token.split('.').nth(index).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[test]
fn gen_signing_key_writes_a_private_key_into_a_private_directory() {
    let dir = temp_dir("genkey").join("keys");
    let (kid, alg) = gen_key(&dir, "ES256");
    assert_eq!(alg, "ES256");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(mode(&files[0]), 0o600);
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.ends_with(&format!("-{kid}.pem")), "{name}");
    // The kid is the RFC 7638 thumbprint of the key in the file.
    let key = jose::SigningKey::from_pem(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(key.thumbprint(), kid);

    // The default is ES256; EdDSA on request; the second key is another file, later by name.
    let (ed_kid, ed_alg) = gen_key(&dir, "EdDSA");
    assert_eq!(ed_alg, "EdDSA");
    assert_ne!(ed_kid, kid);
    let output = oauth_server(&["gen-signing-key", "--keys", dir.to_str().unwrap()]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"alg\":\"ES256\""));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3);
    assert!(
        names[1].contains(&ed_kid),
        "creation order is name order: {names:?}"
    );

    for bad in ["RS256", "Ed25519", "es256", "none"] {
        let output = oauth_server(&[
            "gen-signing-key",
            "--keys",
            dir.to_str().unwrap(),
            "--alg",
            bad,
        ]);
        assert!(!output.status.success(), "--alg {bad} was accepted");
    }
    assert!(!oauth_server(&["gen-signing-key"]).status.success());
}

#[test]
fn jwt_format_without_a_key_stops_start_up_naming_gen_signing_key() {
    let dir = temp_dir("nokeys");
    let clients = dir.join("clients.json");
    add_client_cli(&clients, "svc", &[]);
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    for keys in [dir.join("empty"), dir.join("missing")] {
        let certs = certs();
        let mut command = Command::new(OAUTH_SERVER);
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--token-format",
                "jwt",
                "--clients",
            ])
            .arg(&clients)
            .arg("--cert")
            .arg(certs.cert())
            .arg("--key")
            .arg(certs.key())
            .arg("--signing-keys")
            .arg(&keys);
        let output = try_run(&mut command, Duration::from_secs(10)).unwrap_or_else(|o| o);
        assert!(!output.status.success(), "{keys:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("gen-signing-key"), "{stderr}");
    }
}

#[tokio::test]
async fn the_jwk_set_holds_public_keys_only_and_the_metadata_names_it() {
    let stack = stack("jwks", "ES256", &[]);
    for h in both() {
        let reply = h.get(&stack.server.url("/oauth/jwks")).await;
        assert_eq!(reply.status, StatusCode::OK);
        let cache = reply.header("cache-control").unwrap_or_default();
        let max_age: u64 = cache
            .split(',')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no max-age: {cache}"));
        assert!(cache.contains("public") && max_age <= 300, "{cache}");
        let set = reply.json();
        let keys = set["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1);
        let key = keys[0].as_object().unwrap();
        for member in ["kid", "alg", "use", "kty", "crv", "x", "y"] {
            assert!(key.contains_key(member), "{member} missing: {set}");
        }
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "ES256");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                !key.contains_key(private),
                "private member {private}: {set}"
            );
        }
        let metadata = h
            .get(&stack.server.url("/.well-known/oauth-authorization-server"))
            .await
            .json();
        assert_eq!(
            metadata["jwks_uri"],
            json!(format!("{}/oauth/jwks", stack.server.base))
        );
    }
    // Every JWK Set request is one access-log line, so operators can see refetch storms.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(stack.server.log().matches("GET /oauth/jwks 200").count(), 2);

    // A server with opaque tokens and no keys publishes no jwks_uri, and no set.
    let dir = temp_dir("nojwks");
    let clients = dir.join("clients.json");
    add_client_cli(&clients, "svc", &[]);
    let opaque = serve(&clients, &[]).unwrap();
    let h = http(Proto::H2);
    let metadata = h
        .get(&opaque.url("/.well-known/oauth-authorization-server"))
        .await
        .json();
    assert!(metadata.get("jwks_uri").is_none(), "{metadata}");
    assert_eq!(
        h.get(&opaque.url("/oauth/jwks")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn jwt_access_tokens_carry_the_rfc_9068_header_and_claims() {
    for alg in ["ES256", "EdDSA"] {
        let stack = stack(&format!("claims-{alg}"), alg, &["--token-ttl", "600"]);
        let h = http(Proto::H1);
        let keys = stack.jwks(&h).await;
        let mut jtis = HashSet::new();
        for _ in 0..3 {
            let token = stack.token(&h, "svc").await;
            let header = part(&token, 0);
            assert_eq!(header["alg"], alg);
            assert_eq!(header["typ"], "at+jwt");
            assert_eq!(header["kid"], json!(keys.keys()[0].kid().unwrap()));
            // It verifies with the published key.
            jose::verify(&token, &keys, DEFAULT_MAX_LEN).expect("verifies with the JWK Set");
            let claims = part(&token, 1);
            assert_eq!(claims["iss"], json!(stack.server.base));
            assert_eq!(claims["sub"], "svc");
            assert_eq!(claims["client_id"], "svc");
            assert_eq!(claims["aud"], API);
            assert_eq!(claims["scope"], "read write");
            let (iat, exp) = (&claims["iat"], &claims["exp"]);
            assert!(iat.is_u64() && exp.is_u64(), "integers: {claims}");
            assert_eq!(exp.as_u64().unwrap() - iat.as_u64().unwrap(), 600);
            let now = tollgate::oauth::unix_now();
            assert!(iat.as_u64().unwrap().abs_diff(now) <= 2);
            let jti = claims["jti"].as_str().unwrap().to_owned();
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&jti)
                .expect("jti is base64url");
            assert!(raw.len() * 8 >= 128, "jti of {} bits", raw.len() * 8);
            assert!(jtis.insert(jti), "jti repeated");
        }
        // Without a registered audience the token is for the default audience: the issuer.
        let plain = part(&stack.token(&h, "plain").await, 1);
        assert_eq!(plain["aud"], json!(stack.server.base));
        assert!(
            plain.get("scope").is_none(),
            "no scopes, no scope claim: {plain}"
        );
    }
    let stack = stack(
        "claims-default-aud",
        "ES256",
        &["--default-audience", "urn:example:all"],
    );
    let plain = part(&stack.token(&http(Proto::H2), "plain").await, 1);
    assert_eq!(plain["aud"], "urn:example:all");
}

#[tokio::test]
async fn introspection_verifies_our_jwts_and_revocation_by_the_owner_denies_them() {
    let stack = stack("introspect-jwt", "EdDSA", &[]);
    for h in both() {
        let token = stack.token(&h, "svc").await;
        let answer = stack.introspect(&h, &token).await;
        let claims = part(&token, 1);
        assert_eq!(answer["active"], true);
        for member in [
            "sub",
            "aud",
            "jti",
            "client_id",
            "scope",
            "exp",
            "iat",
            "iss",
        ] {
            assert_eq!(answer[member], claims[member], "{member}: {answer}");
        }
        assert_eq!(answer["token_type"], "Bearer");

        // A changed payload, or another server's token, is not one of ours.
        let mut forged: Vec<&str> = token.split('.').collect();
        let other_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&json!({"client_id": "rs", "sub": "rs"})).unwrap());
        forged[1] = &other_claims;
        let forged = forged.join(".");
        assert_eq!(
            stack.introspect(&h, &forged).await,
            json!({"active": false})
        );

        // Revocation by another client changes nothing (RFC 7009 §2.1) ...
        let by_other = h
            .post_form(
                &stack.server.url("/oauth/revoke"),
                &format!("token={token}"),
                Some(&basic("plain", &stack.plain)),
            )
            .await;
        assert_eq!(by_other.status, StatusCode::OK);
        assert_eq!(stack.introspect(&h, &token).await["active"], true);
        // ... by its owner it makes the token inactive.
        let by_owner = h
            .post_form(
                &stack.server.url("/oauth/revoke"),
                &format!("token={token}"),
                Some(&basic("svc", &stack.svc)),
            )
            .await;
        assert_eq!(by_owner.status, StatusCode::OK);
        assert_eq!(stack.introspect(&h, &token).await, json!({"active": false}));
    }
}

#[tokio::test]
async fn expired_jwts_introspect_as_inactive() {
    let stack = stack("expired-jwt", "ES256", &["--token-ttl", "1"]);
    let h = http(Proto::H2);
    let token = stack.token(&h, "svc").await;
    assert_eq!(stack.introspect(&h, &token).await["active"], true);
    // exp is in whole seconds of the system clock: this waits for real.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(stack.introspect(&h, &token).await, json!({"active": false}));
}

/// SIGHUP (the process keeps running).
fn hangup(service: &Service) {
    let status = Command::new("kill")
        .args(["-HUP", &service.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls `check` every 50 ms for at most `limit`.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn sighup_publishes_a_new_key_signs_with_it_and_drops_a_removed_one() {
    let stack = stack("rotate", "ES256", &[]);
    let h = http(Proto::H2);
    let first = stack.jwks(&h).await.keys()[0].kid().unwrap().to_owned();
    let (second, _) = gen_key(&stack.keys, "EdDSA");
    hangup(&stack.server);
    let rotated = within(Duration::from_secs(1), async || {
        let token = stack.token(&h, "svc").await;
        part(&token, 0)["kid"] == json!(second)
    })
    .await;
    assert!(
        rotated,
        "the new key did not sign within a second: {}",
        stack.server.log()
    );
    let kids: Vec<String> = stack
        .jwks(&h)
        .await
        .keys()
        .iter()
        .map(|k| k.kid().unwrap().to_owned())
        .collect();
    assert_eq!(kids, [first.clone(), second.clone()], "both published");

    // The old key is removed once its tokens are gone: no longer published.
    for entry in std::fs::read_dir(&stack.keys).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains(&first) {
            std::fs::remove_file(path).unwrap();
        }
    }
    hangup(&stack.server);
    let dropped = within(Duration::from_secs(1), async || {
        stack.jwks(&h).await.keys().len() == 1
    })
    .await;
    assert!(dropped, "the removed key is still published");

    // A directory that does not load keeps the keys in use, and the log says why.
    std::fs::write(stack.keys.join("broken.pem"), b"not a key").unwrap();
    hangup(&stack.server);
    let logged = within(Duration::from_secs(2), async || {
        stack.server.log().contains("signing keys kept")
    })
    .await;
    assert!(logged, "{}", stack.server.log());
    let token = stack.token(&h, "svc").await;
    assert_eq!(part(&token, 0)["kid"], json!(second));
    assert_eq!(stack.jwks(&h).await.keys().len(), 1);
}
