//! SIGHUP on the real binaries: the authorization server re-reads its clients file and its
//! client CA, and every service its TLS certificate and key; a file that does not load keeps what is in use and
//! logs one line, and a keep-alive connection opened before the signal still works after it.
//! (The signing keys reload on the same signal: tests/jwt.rs.)

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use support::child::{add_client_cli, Service, CLIENT1, CLIENT2, OAUTH_SERVER};
use support::{
    certs, h1_get_status, http, http_presenting, http_trusting, raw_tls, temp_dir, Certs, Client,
    Proto,
};
use tollgate::auth::clients_file::{register, Proof, Registration};

/// A reload is applied within this long of the signal.
const WITHIN: Duration = Duration::from_secs(1);

fn start_auth(clients: &Path, cert: &Path, key: &Path) -> Service {
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--clients"])
        .arg(clients);
    command.arg("--cert").arg(cert).arg("--key").arg(key);
    Service::start(command)
}

/// A keep-alive HTTP/1.1 connection that has served one request.
async fn keep_alive(service: &Service) -> TlsStream<TcpStream> {
    let mut connection = raw_tls(service.addr, &[b"http/1.1"]).await.expect("TLS");
    assert_eq!(h1_get_status(&mut connection, "/healthz").await, 200);
    connection
}

/// Sends SIGHUP and waits until `needle` has been logged `count` times, within [`WITHIN`].
async fn hangup_until(service: &Service, needle: &str, count: usize) {
    let started = Instant::now();
    service.hangup();
    service.wait_for_log(needle, count, WITHIN).await;
    assert!(started.elapsed() < WITHIN);
}

async fn token_status(service: &Service, id: &str, secret: &str) -> StatusCode {
    http(Proto::H1)
        .token_basic(&service.base, id, secret, "")
        .await
        .status
}

/// The clients file without the entry of `id`.
fn remove_client(file: &Path, id: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    let clients = parsed["clients"].as_array_mut().unwrap();
    clients.retain(|c| c["client_id"] != id);
    std::fs::write(file, serde_json::to_vec_pretty(&parsed).unwrap()).unwrap();
}

#[tokio::test]
async fn sighup_applies_added_removed_and_rekeyed_clients_and_issued_tokens_stay_valid() {
    let file = temp_dir("reload-clients").join("clients.json");
    let svc = add_client_cli(&file, "svc", &["--scope", "read"]);
    let rs = add_client_cli(&file, "rs", &["--introspect"]);
    let server = start_auth(&file, &certs().cert(), &certs().key());
    let mut connection = keep_alive(&server).await;
    let h = http(Proto::H1);
    let reply = h.token_basic(&server.base, "svc", &svc, "").await;
    let issued = reply.json()["access_token"].as_str().unwrap().to_owned();

    // Added: refused until the signal, served after it.
    let late = add_client_cli(&file, "late", &["--scope", "read"]);
    assert_eq!(
        token_status(&server, "late", &late).await,
        StatusCode::UNAUTHORIZED
    );
    hangup_until(&server, "SIGHUP: 3 client(s) loaded from", 1).await;
    assert_eq!(token_status(&server, "late", &late).await, StatusCode::OK);
    assert_eq!(
        h1_get_status(&mut connection, "/healthz").await,
        200,
        "kept alive"
    );

    // Removed: refused; the token it was issued stays active until it expires.
    remove_client(&file, "svc");
    hangup_until(&server, "SIGHUP: 2 client(s) loaded from", 1).await;
    assert_eq!(
        token_status(&server, "svc", &svc).await,
        StatusCode::UNAUTHORIZED
    );
    let introspection = h
        .post_form(
            &server.url("/oauth/introspect"),
            &format!("token={issued}"),
            Some(&support::basic("rs", &rs)),
        )
        .await;
    assert_eq!(
        introspection.json()["active"],
        true,
        "{}",
        introspection.text()
    );

    // Re-added with a new secret: only the new one works.
    let renewed = add_client_cli(&file, "svc", &["--scope", "read"]);
    hangup_until(&server, "SIGHUP: 3 client(s) loaded from", 2).await;
    assert_eq!(token_status(&server, "svc", &renewed).await, StatusCode::OK);
    assert_eq!(
        token_status(&server, "svc", &svc).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h1_get_status(&mut connection, "/healthz").await,
        200,
        "kept alive"
    );
}

#[tokio::test]
async fn a_clients_file_that_does_not_load_keeps_the_clients_in_use() {
    let dir = temp_dir("reload-bad-clients");
    let file = dir.join("clients.json");
    let svc = add_client_cli(&file, "svc", &["--scope", "read"]);
    let good = std::fs::read(&file).unwrap();
    let server = start_auth(&file, &certs().cert(), &certs().key());
    let mut connection = keep_alive(&server).await;
    let valid_json_bad_entry = r#"{"clients":[{"client_id":"svc","secret_sha256":"zz"}]}"#;
    let breakages: [(&str, &dyn Fn()); 4] = [
        ("corrupt JSON", &|| {
            std::fs::write(&file, b"{\"clients\": [").unwrap()
        }),
        ("an invalid entry", &|| {
            std::fs::write(&file, valid_json_bad_entry).unwrap()
        }),
        ("an empty file", &|| std::fs::write(&file, b"").unwrap()),
        ("a missing file", &|| std::fs::remove_file(&file).unwrap()),
    ];
    for (kept, (what, breakage)) in breakages.iter().enumerate() {
        breakage();
        hangup_until(&server, "SIGHUP: clients kept: ", kept + 1).await;
        let log = server.log();
        let line = log.lines().rfind(|l| l.contains("clients kept")).unwrap();
        assert!(
            line.contains("clients.json"),
            "{what}: the line names the file: {line}"
        );
        assert_eq!(
            log.matches("clients kept").count(),
            kept + 1,
            "one line each: {log}"
        );
        assert_eq!(
            token_status(&server, "svc", &svc).await,
            StatusCode::OK,
            "{what}"
        );
        assert_eq!(
            h1_get_status(&mut connection, "/healthz").await,
            200,
            "{what}"
        );
    }
    std::fs::write(&file, good).unwrap();
    hangup_until(&server, "SIGHUP: 1 client(s) loaded from", 1).await;
    assert_eq!(token_status(&server, "svc", &svc).await, StatusCode::OK);
}

/// The test certificates, copied where a test may overwrite them.
fn own_copy(label: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(label);
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::copy(certs().cert(), &cert).unwrap();
    std::fs::copy(certs().key(), &key).unwrap();
    (cert, key)
}

/// Whether a new connection that trusts only `ca` is served.
async fn served_trusting(service: &Service, ca: &Path) -> bool {
    let client = http_trusting(Proto::H1, ca);
    let url = service.url("/healthz");
    let reply = client.try_request(http::Method::GET, &url, &[], b"").await;
    matches!(reply, Ok(reply) if reply.status == StatusCode::OK)
}

/// On `service` (serving the copy at `cert`, `key`): a new pair is presented to new
/// connections after SIGHUP, open connections stay, and pairs that do not load are kept out.
async fn check_certificate_reload(service: &Service, cert: &Path, key: &Path) {
    let mut connection = keep_alive(service).await;
    let second = Certs::generate("second-ca");
    std::fs::copy(second.cert(), cert).unwrap();
    std::fs::copy(second.key(), key).unwrap();
    hangup_until(service, "SIGHUP: TLS certificate reloaded from", 1).await;
    assert!(
        served_trusting(service, &second.ca()).await,
        "the new certificate"
    );
    assert!(
        !served_trusting(service, &certs().ca()).await,
        "not the old one"
    );
    assert_eq!(
        h1_get_status(&mut connection, "/healthz").await,
        200,
        "kept alive"
    );

    // A key that does not match, a missing key, a file with no certificate: each kept out.
    let breakages: [(&str, &dyn Fn()); 3] = [
        ("a key of another certificate", &|| {
            std::fs::copy(certs().key(), key).unwrap();
        }),
        ("a missing key", &|| std::fs::remove_file(key).unwrap()),
        ("no certificate", &|| {
            std::fs::write(cert, b"not PEM\n").unwrap()
        }),
    ];
    for (kept, (what, breakage)) in breakages.iter().enumerate() {
        breakage();
        hangup_until(service, "SIGHUP: TLS certificate kept: ", kept + 1).await;
        assert!(
            served_trusting(service, &second.ca()).await,
            "{what}: the pair in use stays"
        );
        assert_eq!(
            h1_get_status(&mut connection, "/healthz").await,
            200,
            "{what}"
        );
    }
}

#[tokio::test]
async fn every_service_presents_a_new_certificate_after_sighup_and_keeps_open_connections() {
    let file = temp_dir("reload-tls").join("clients.json");
    let rs = add_client_cli(&file, "rs", &["--introspect"]);
    let c2 = add_client_cli(&file, "c2", &["--scope", "read"]);
    let (cert, key) = own_copy("tls-auth");
    let auth = start_auth(&file, &cert, &key);
    check_certificate_reload(&auth, &cert, &key).await;

    // client1 and client2 (the authorization server now presents a certificate they do not
    // trust, which does not matter here: they serve either way).
    for (program, secret, extra) in [
        (CLIENT1, &rs, vec!["--client-id", "rs"]),
        (
            CLIENT2,
            &c2,
            vec!["--client-id", "c2", "--resource", "https://localhost:1/x"],
        ),
    ] {
        let (cert, key) = own_copy("tls-service");
        let mut command = Command::new(program);
        command.args([
            "--listen",
            "127.0.0.1:0",
            "--auth-server",
            &auth.base,
            "--ca",
        ]);
        command
            .arg(certs().ca())
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key);
        command.args(extra).env("OAUTH_CLIENT_SECRET", secret);
        let service = Service::start(command);
        check_certificate_reload(&service, &cert, &key).await;
    }
}

/// The status of a token request by `tls_client_auth` client `id` through `client`.
async fn certificate_token_status(service: &Service, id: &str, client: &Client) -> StatusCode {
    client
        .post_form(
            &format!("{}/oauth/token", service.base),
            &format!("grant_type=client_credentials&client_id={id}"),
            None,
        )
        .await
        .status
}

#[tokio::test]
async fn sighup_rereads_the_client_ca_and_a_file_that_does_not_load_keeps_the_ca_in_use() {
    // One subject, a certificate from each of two CAs.
    let (old_ca, new_ca) = (Certs::generate("ca-before"), Certs::generate("ca-after"));
    let name = "m1-rotated";
    let (old_cert, old_key) = tollgate::certs::generate_client(&old_ca.dir, name, false).unwrap();
    let (new_cert, new_key) = tollgate::certs::generate_client(&new_ca.dir, name, false).unwrap();
    let dir = temp_dir("reload-client-ca");
    let ca_file = dir.join("client-ca.pem");
    std::fs::copy(old_ca.ca(), &ca_file).unwrap();
    let clients = dir.join("clients.json");
    let m1 = Registration::new("m1", vec!["read".into()], false)
        .with_proof(Proof::TlsSubjectDn(format!("CN={name}")));
    assert!(register(&clients, &m1).unwrap().is_none());
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--clients"])
        .arg(&clients)
        .arg("--cert")
        .arg(certs().cert())
        .arg("--key")
        .arg(certs().key())
        .arg("--client-ca")
        .arg(&ca_file);
    let server = Service::start(command);
    // Each presenting client keeps its connection: a verdict reached under the old CA must
    // not outlive it on a connection opened before the signal.
    let (old, new) = (
        http_presenting(Proto::H1, &old_cert, &old_key),
        http_presenting(Proto::H1, &new_cert, &new_key),
    );
    let status = |client| certificate_token_status(&server, "m1", client);
    assert_eq!(status(&old).await, StatusCode::OK);
    assert_eq!(
        status(&new).await,
        StatusCode::UNAUTHORIZED,
        "a CA not yet in use"
    );

    std::fs::copy(new_ca.ca(), &ca_file).unwrap();
    hangup_until(&server, "SIGHUP: client CA loaded from", 1).await;
    assert_eq!(status(&new).await, StatusCode::OK);
    assert_eq!(
        status(&old).await,
        StatusCode::UNAUTHORIZED,
        "the replaced CA"
    );
    let fresh = http_presenting(Proto::H2, &old_cert, &old_key);
    assert_eq!(
        status(&fresh).await,
        StatusCode::UNAUTHORIZED,
        "the replaced CA, new connection"
    );

    std::fs::write(&ca_file, b"not a certificate").unwrap();
    hangup_until(&server, "SIGHUP: client CA kept: ", 1).await;
    let log = server.log();
    let line = log.lines().rfind(|l| l.contains("client CA kept")).unwrap();
    assert!(
        line.contains("client-ca.pem"),
        "the line names the file: {line}"
    );
    assert_eq!(status(&new).await, StatusCode::OK, "the CA in use is kept");
    assert_eq!(status(&old).await, StatusCode::UNAUTHORIZED);
}
