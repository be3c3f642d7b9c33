//! client2 calling through client1 with each credential kind (a secret, a private_key_jwt
//! assertion, its certificate alone, an assertion over a certificate connection), in process and
//! as the real binaries with their flags: `add-client --jwks`, `--tls-subject-dn`,
//! `--self-signed-cert` (one JSON line, no secret), `gen-certs --client`, `serve --client-ca`,
//! `client1 --client-ca`, `client2 --assertion-key`, `--assertion-kid`, `--client-cert` and
//! `--client-key`.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use support::child::{run, Service, CLIENT1, CLIENT2, OAUTH_SERVER};
use support::*;
use tollgate::auth::clients_file::{register, Proof, Registration};
use tollgate::client::{ClientCredentials, TokenClientConfig};
use tollgate::http::{ClientCa, ClientIdentity, Outbound};
use tollgate::oauth::jose::{Algorithm, SigningKey, VerifyingKeySet};
use tollgate::resource::GuardConfig;
use tollgate::secret::SecretString;

/// What each client2 of a test is: its id, how it authenticates, the certificate its
/// connections present, and whether its tokens come out bound.
struct Case {
    id: &'static str,
    credentials: ClientCredentials,
    certificate: Option<ClientCert>,
}

#[tokio::test]
async fn client2_calls_through_client1_with_a_secret_an_assertion_and_a_certificate() {
    let key = Arc::new(SigningKey::generate(Algorithm::ES256).unwrap());
    let c2_cert = certs().client("c2-mtls");
    let clients = Clients::register(&[
        client("rs", "introspect", true),
        client("sec", "read", false),
    ]);
    for registration in [
        Registration::new("pkj", vec!["read".into()], false).with_proof(Proof::Jwks(
            VerifyingKeySet::new(vec![key.verifying_key()]).unwrap(),
        )),
        Registration::new("tls", vec!["read".into()], false)
            .with_proof(Proof::TlsSubjectDn(c2_cert.dn.clone())),
    ] {
        register(&clients.file, &registration).unwrap();
    }
    let auth = start_auth(AuthOptions {
        clients: Some(clients.clone()),
        client_ca: Some(certs().ca()),
        ..AuthOptions::default()
    })
    .await;
    let rs = SecretString::new(clients.secret("rs").to_owned());
    let client1 = start_client1_with(&auth.issuer, GuardConfig::new("rs", rs), true).await;
    let resource = client1.url("/api/resource");
    let assertion = ClientCredentials::Assertion {
        key: key.clone(),
        kid: None,
    };
    let cases = [
        Case {
            id: "sec",
            credentials: ClientCredentials::Secret(clients.secret_string("sec")),
            certificate: None,
        },
        Case {
            id: "pkj",
            credentials: assertion.clone(),
            certificate: None,
        },
        Case {
            id: "tls",
            credentials: ClientCredentials::Certificate,
            certificate: Some(c2_cert.clone()),
        },
        Case {
            id: "pkj",
            credentials: assertion,
            certificate: Some(certs().client("pkj-conn")),
        },
    ];
    for case in cases {
        let identity = case
            .certificate
            .as_ref()
            .map(|c| ClientIdentity::load(&c.cert, &c.key).unwrap());
        let outbound = Outbound::with_identity(&certs().ca(), identity).unwrap();
        let config = TokenClientConfig {
            client_id: case.id.into(),
            credentials: case.credentials.clone(),
            scope: None,
            audience: None,
        };
        let client2 = start_client2_with(&auth.issuer, &resource, config, outbound).await;
        let what = format!("{} {:?}", case.id, case.credentials);
        let reply = http(Proto::H1).get(&client2.url("/call")).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.text());
        assert_eq!(reply.json()["client_id"], case.id, "{what}");
        // The token it used is bound to its certificate exactly when it presented one.
        let token = client2.service.client().token().await.unwrap();
        let introspected = http(Proto::H2)
            .introspect(&auth, "rs", token.expose())
            .await
            .json();
        assert_eq!(introspected["active"], true, "{what}");
        match &case.certificate {
            Some(cert) => assert_eq!(introspected["cnf"]["x5t#S256"], cert.x5t(), "{what}"),
            None => assert!(introspected.get("cnf").is_none(), "{what}: {introspected}"),
        }
        assert_eq!(client2.service.client().token_requests(), 1, "{what}");
    }
}

fn oauth_server(args: &[&str]) -> std::process::Output {
    run(
        Command::new(OAUTH_SERVER).args(args),
        Duration::from_secs(10),
    )
}

fn add_client(file: &Path, id: &str, args: &[&str]) -> std::process::Output {
    run(
        Command::new(OAUTH_SERVER)
            .args(["add-client", "--clients"])
            .arg(file)
            .args(["--id", id])
            .args(args),
        Duration::from_secs(10),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn add_client_registers_secretless_clients_printing_only_their_id() {
    let dir = temp_dir("secretless-cli");
    let file = dir.join("clients.json");
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let jwks = dir.join("jwks.json");
    let set = VerifyingKeySet::new(vec![key.verifying_key().with_kid("k1")]).unwrap();
    std::fs::write(&jwks, set.to_jwks_json()).unwrap();
    let cert = self_signed("m2");
    for (id, args) in [
        ("pkj", vec!["--jwks", path(&jwks), "--scope", "read"]),
        (
            "m1",
            vec!["--tls-subject-dn", "CN=m1,O=test", "--introspect"],
        ),
        ("m2", vec!["--self-signed-cert", path(&cert.cert)]),
    ] {
        let output = add_client(&file, id, &args);
        assert!(output.status.success(), "{id}: {output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
        let line: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(line, serde_json::json!({ "client_id": id }), "no secret");
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let entries = stored["clients"].as_array().unwrap();
    assert!(
        entries.iter().all(|c| c.get("secret_sha256").is_none()),
        "{stored}"
    );
    assert_eq!(entries[0]["jwks"]["keys"][0]["kid"], "k1");
    assert_eq!(entries[1]["tls_client_auth_subject_dn"], "CN=m1,O=test");

    // Refused: two methods, a JWK Set with a private key, an HMAC key or no key, a DN that
    // does not parse, a certificate file that holds none; the file stays as it was.
    let before = std::fs::read(&file).unwrap();
    let private = dir.join("private.json");
    let mut jwk: Value = key.verifying_key().to_jwk();
    jwk["d"] = "AAAA".into();
    std::fs::write(&private, serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
    let hmac = dir.join("hmac.json");
    std::fs::write(&hmac, r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap();
    let empty = dir.join("empty.json");
    std::fs::write(&empty, r#"{"keys":[]}"#).unwrap();
    for args in [
        vec!["--jwks", path(&jwks), "--tls-subject-dn", "CN=x"],
        vec!["--jwks", path(&private)],
        vec!["--jwks", path(&hmac)],
        vec!["--jwks", path(&empty)],
        vec!["--tls-subject-dn", "CN"],
        vec!["--tls-subject-dn", "XX=y"],
        vec!["--self-signed-cert", path(&jwks)],
    ] {
        let output = add_client(&file, "bad", &args);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn gen_certs_client_writes_a_client_certificate_the_dev_ca_signed() {
    let dir = temp_dir("gen-certs-client");
    let out = dir.join("certs");
    let output = oauth_server(&["gen-certs", "--out", path(&out), "--client", "c2"]);
    assert!(output.status.success(), "{output:?}");
    let mode = |name: &str| {
        std::fs::metadata(out.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("c2.key"), 0o600);
    assert_eq!(mode("ca.key"), 0o600);
    assert_eq!(mode("c2.pem"), 0o644);
    let leaf = tollgate::http::tls::load_certificates(&out.join("c2.pem")).unwrap();
    let cert = tollgate::http::ClientCertificate::from_chain(leaf).unwrap();
    assert!(ClientCa::load(&out.join("ca.pem")).unwrap().issued(&cert));
    let subject = tollgate::auth::dn::SubjectDn::parse("CN=c2").unwrap();
    assert!(subject.matches_certificate(cert.leaf().as_ref()));

    // Later: another client certificate, the CA untouched; an existing one is refused.
    let ca = std::fs::read(out.join("ca.pem")).unwrap();
    let output = oauth_server(&["gen-certs", "--out", path(&out), "--client", "c3"]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(std::fs::read(out.join("ca.pem")).unwrap(), ca);
    assert!(out.join("c3.pem").exists() && out.join("c3.key").exists());
    let again = oauth_server(&["gen-certs", "--out", path(&out), "--client", "c3"]);
    assert!(!again.status.success());
    let bad = oauth_server(&["gen-certs", "--out", path(&out), "--client", "../x"]);
    assert!(!bad.status.success());
    // Without --client, existing certificates are refused as before.
    assert!(!oauth_server(&["gen-certs", "--out", path(&out)])
        .status
        .success());
}

/// The binaries: the authorization server with a client CA, client1 asking for certificates,
/// and two client2s without secrets: one by assertion over its certificate, one by its
/// certificate alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binaries_run_a_chain_without_shared_secrets() {
    let dir = temp_dir("secretless-bins");
    let out = dir.join("certs");
    let output = oauth_server(&[
        "gen-certs",
        "--out",
        path(&out),
        "--client",
        "c2",
        "--client",
        "m1",
    ]);
    assert!(output.status.success(), "{output:?}");
    let clients = dir.join("clients.json");
    let key_file = dir.join("c2-assertion.key");
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    std::fs::write(&key_file, key.to_pem().expose()).unwrap();
    let jwks = dir.join("c2.jwks");
    let set = VerifyingKeySet::new(vec![key.verifying_key().with_kid("c2-key")]).unwrap();
    std::fs::write(&jwks, set.to_jwks_json()).unwrap();
    let rs_secret = support::child::add_client_cli(&clients, "rs", &["--introspect"]);
    for (id, args) in [
        ("c2", vec!["--jwks", path(&jwks), "--scope", "read"]),
        ("m1", vec!["--tls-subject-dn", "CN=m1", "--scope", "read"]),
    ] {
        assert!(add_client(&clients, id, &args).status.success());
    }
    let tls = |command: &mut Command| {
        command
            .arg("--cert")
            .arg(out.join("server.pem"))
            .arg("--key")
            .arg(out.join("server.key"));
    };
    let mut serve = Command::new(OAUTH_SERVER);
    serve.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--clients",
        path(&clients),
    ]);
    serve.args(["--client-ca", path(&out.join("ca.pem"))]);
    tls(&mut serve);
    let auth = Service::start(serve);
    let issuer = auth.base.clone();

    let service = |binary: &str| {
        let mut command = Command::new(binary);
        command.args(["--listen", "127.0.0.1:0", "--auth-server", &issuer]);
        command.args(["--ca", path(&out.join("ca.pem"))]);
        command.env_remove("OAUTH_CLIENT_SECRET");
        tls(&mut command);
        command
    };
    let mut client1 = service(CLIENT1);
    client1.args([
        "--client-id",
        "rs",
        "--client-ca",
        path(&out.join("ca.pem")),
    ]);
    client1.env("OAUTH_CLIENT_SECRET", &rs_secret);
    let client1 = Service::start(client1);
    let resource = client1.url("/api/resource");
    let (c2_cert, c2_key) = (out.join("c2.pem"), out.join("c2.key"));
    let (m1_cert, m1_key) = (out.join("m1.pem"), out.join("m1.key"));
    let mut by_assertion = service(CLIENT2);
    by_assertion.args(["--client-id", "c2", "--resource", &resource]);
    by_assertion.args([
        "--assertion-key",
        path(&key_file),
        "--assertion-kid",
        "c2-key",
    ]);
    by_assertion.args([
        "--client-cert",
        path(&c2_cert),
        "--client-key",
        path(&c2_key),
    ]);
    let mut by_certificate = service(CLIENT2);
    by_certificate.args(["--client-id", "m1", "--resource", &resource]);
    by_certificate.args([
        "--client-cert",
        path(&m1_cert),
        "--client-key",
        path(&m1_key),
    ]);
    let ca = out.join("ca.pem");
    let h = http_trusting(Proto::H1, &ca);
    for (id, command) in [("c2", by_assertion), ("m1", by_certificate)] {
        let client2 = Service::start(command);
        let reply = h.get(&client2.url("/call")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{id}: {} {}",
            reply.text(),
            client2.log()
        );
        assert_eq!(reply.json()["client_id"], id);
    }

    // client1 asks for certificates and checks the binding: m1's token, fetched over its
    // certificate, is refused on a connection without it.
    let with_m1 = http_with_tls(
        Proto::H1,
        support::raw::client_tls_config_presenting(&ca, &[], &m1_cert, &m1_key),
    );
    let token = with_m1
        .post_form(
            &auth.url("/oauth/token"),
            "grant_type=client_credentials&client_id=m1",
            None,
        )
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text());
    let token = token.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        with_m1.get_bearer(&resource, &token).await.status,
        StatusCode::OK
    );
    let refused = h.get_bearer(&resource, &token).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refused.text()
    );
}

#[test]
fn client2_refuses_contradictory_or_incomplete_credentials() {
    let dir = temp_dir("client2-flags");
    let key = dir.join("key.pem");
    std::fs::write(
        &key,
        SigningKey::generate(Algorithm::EdDSA)
            .unwrap()
            .to_pem()
            .expose(),
    )
    .unwrap();
    let certs = certs();
    let ca = certs.ca();
    let cases: Vec<(Vec<&str>, Option<&str>, &str)> = vec![
        (vec!["--assertion-key", path(&key)], Some("s"), "not both"),
        (
            vec!["--assertion-kid", "k"],
            None,
            "--assertion-kid needs --assertion-key",
        ),
        (vec!["--client-cert", path(&key)], None, "go together"),
        (vec![], None, "needs a way to authenticate"),
        (vec!["--assertion-key", path(&ca)], None, "--assertion-key"),
    ];
    for (args, secret, needle) in cases {
        let mut command = Command::new(CLIENT2);
        command.args([
            "--listen",
            "127.0.0.1:0",
            "--auth-server",
            "https://localhost:1",
        ]);
        command.args(["--ca", path(&ca), "--client-id", "c2"]);
        command.args(["--resource", "https://localhost:1/api/resource"]);
        command.args(&args).env_remove("OAUTH_CLIENT_SECRET");
        if let Some(secret) = secret {
            command.env("OAUTH_CLIENT_SECRET", secret);
        }
        let output = run(&mut command, Duration::from_secs(10));
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
