//! The `oauth-server` command as a user runs it: `gen-certs`, `add-client` and `serve`, checked
//! against the interface contract of issue 2 (exit codes, files written or left alone, what is
//! printed, and the running server).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use http::StatusCode;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use support::child::{Exited, Service, OAUTH_SERVER as BIN};
use support::*;

/// Runs the command to completion (bounded: killed and failed after 20 s).
fn run<S: AsRef<str>>(args: &[S]) -> Output {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    support::child::run(Command::new(BIN).args(&args), Duration::from_secs(20))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn read_all(dir: &Path) -> [Vec<u8>; 3] {
    ["ca.pem", "server.pem", "server.key"].map(|name| std::fs::read(dir.join(name)).unwrap())
}

/// Whether this machine has an IPv6 loopback to bind.
fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

// ---------------------------------------------------------------------------------------------
// gen-certs

#[test]
fn gen_certs_writes_the_ca_the_server_certificate_and_its_key() {
    let dir = temp_dir("gen").join("certs");
    let output = run(&["gen-certs", "--out", path_str(&dir)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).is_empty(), "gen-certs prints on stdout");
    let [ca, cert, key] = read_all(&dir);
    assert_eq!(
        CertificateDer::pem_slice_iter(&ca).count(),
        1,
        "ca.pem holds one certificate"
    );
    assert_eq!(
        CertificateDer::pem_slice_iter(&cert).count(),
        1,
        "server.pem holds the server certificate alone"
    );
    assert!(String::from_utf8_lossy(&key).contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("server.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "server.key is readable by others: {mode:o}"
        );
    }
}

#[test]
fn gen_certs_refuses_when_any_file_exists_and_touches_nothing() {
    let dir = temp_dir("gen-refuse");
    let output = run(&["gen-certs", "--out", path_str(&dir)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let before = read_all(&dir);
    let output = run(&["gen-certs", "--out", path_str(&dir)]);
    assert!(
        !output.status.success(),
        "gen-certs overwrote existing certificates"
    );
    assert!(!stderr(&output).is_empty(), "the refusal is explained");
    assert_eq!(read_all(&dir), before, "files were touched");

    // Any one of the three files is enough to refuse, and nothing else is created.
    for name in ["ca.pem", "server.pem", "server.key"] {
        let dir = temp_dir("gen-one");
        std::fs::write(dir.join(name), b"keep me").unwrap();
        let output = run(&["gen-certs", "--out", path_str(&dir)]);
        assert!(
            !output.status.success(),
            "{name} exists, yet gen-certs succeeded"
        );
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), b"keep me");
        let entries = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(entries, 1, "{name} exists, yet gen-certs wrote other files");
    }
}

#[test]
fn gen_certs_force_overwrites_all_three_files() {
    let dir = temp_dir("gen-force");
    assert!(run(&["gen-certs", "--out", path_str(&dir)])
        .status
        .success());
    let before = read_all(&dir);
    let output = run(&["gen-certs", "--out", path_str(&dir), "--force"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let after = read_all(&dir);
    for (i, name) in ["ca.pem", "server.pem", "server.key"].iter().enumerate() {
        assert_ne!(before[i], after[i], "{name} was not replaced");
    }
}

/// Serves TLS with the given certificate on `addr`, completing handshakes and holding each
/// connection until the client goes away.
async fn tls_only_server(cert: &Path, key: &Path, addr: SocketAddr) -> SocketAddr {
    let config = tollgate::http::server_tls_config(cert, key).expect("server TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let mut buf = [0u8; 64];
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        tokio::io::AsyncReadExt::read(&mut tls, &mut buf),
                    )
                    .await;
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn server_certificate_is_signed_directly_by_the_ca_and_valid_for_localhost_127_0_0_1_and_ipv6_loopback(
) {
    let dir = temp_dir("gen-verify");
    assert!(run(&["gen-certs", "--out", path_str(&dir)])
        .status
        .success());
    let (cert, key, ca) = (
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("ca.pem"),
    );
    let v4 = tls_only_server(&cert, &key, "127.0.0.1:0".parse().unwrap()).await;
    // server.pem is the only certificate the server sends, so the chain verifies only if the
    // CA signed it directly.
    let names: [ServerName<'static>; 3] = [
        ServerName::try_from("localhost").unwrap(),
        ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into()),
        ServerName::IpAddress(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST).into()),
    ];
    for name in &names {
        raw_tls_with_ca(v4, name.clone(), &[b"http/1.1"], &ca)
            .await
            .unwrap_or_else(|e| panic!("{name:?} does not verify against ca.pem: {e}"));
    }
    // The check is real: another name, or another CA, is refused.
    let other = ServerName::try_from("example.com").unwrap();
    assert!(raw_tls_with_ca(v4, other, &[], &ca).await.is_err());
    let localhost = ServerName::try_from("localhost").unwrap();
    assert!(
        raw_tls_with_ca(v4, localhost, &[], &certs().ca())
            .await
            .is_err(),
        "a different CA was trusted"
    );

    if ipv6_loopback_available() {
        let v6 = tls_only_server(&cert, &key, "[::1]:0".parse().unwrap()).await;
        raw_tls_with_ca(v6, names[2].clone(), &[], &ca)
            .await
            .expect("::1 over IPv6 does not verify");
    } else {
        eprintln!("IPv6 loopback unavailable: ::1 checked by name over IPv4 only");
    }
}

// ---------------------------------------------------------------------------------------------
// add-client

fn add_client(file: &Path, id: &str, extra: &[&str]) -> Output {
    let mut args = vec!["add-client", "--clients", path_str(file), "--id", id];
    args.extend_from_slice(extra);
    run(&args)
}

fn added_secret(output: &Output, id: &str) -> String {
    assert!(
        output.status.success(),
        "add-client failed: {}",
        stderr(output)
    );
    let out = stdout(output);
    assert!(out.ends_with('\n'), "{out:?}");
    assert_eq!(
        out.lines().count(),
        1,
        "add-client printed more than one line: {out:?}"
    );
    let value: Value = serde_json::from_str(out.trim_end()).expect("one line of JSON");
    let object = value.as_object().expect("a JSON object");
    assert_eq!(object.len(), 2, "{out}");
    assert_eq!(object["client_id"], id);
    let secret = object["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    assert_eq!(secret.len(), 43, "256 bits, base64url: {secret}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{secret}"
    );
    secret
}

#[test]
fn add_client_prints_exactly_one_json_line_and_the_file_keeps_no_secret() {
    let file = temp_dir("add").join("clients.json");
    let first = added_secret(&add_client(&file, "svc", &["--scope", "read write"]), "svc");
    let second = added_secret(&add_client(&file, "rs", &["--introspect"]), "rs");
    assert_ne!(first, second);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(&first) && !text.contains(&second),
        "plain secret in {text}"
    );
    let json: Value = serde_json::from_str(&text).expect("the clients file is JSON");
    let clients = json["clients"].as_array().expect("clients array");
    assert_eq!(clients.len(), 2);
    assert!(
        text.contains('\n'),
        "the file is meant to be human-readable"
    );
}

#[tokio::test]
async fn add_client_again_gives_a_new_secret_and_scopes_and_the_old_secret_stops_working() {
    let file = temp_dir("update").join("clients.json");
    let old = added_secret(&add_client(&file, "svc", &["--scope", "read"]), "svc");
    let rs = added_secret(&add_client(&file, "rs", &["--introspect"]), "rs");
    let new = added_secret(&add_client(&file, "svc", &["--scope", "write"]), "svc");
    assert_ne!(old, new);
    let secrets = [("svc".to_owned(), new.clone()), ("rs".to_owned(), rs)]
        .into_iter()
        .collect();
    let server = start_auth(AuthOptions {
        clients: Some(Clients {
            file: file.clone(),
            secrets,
        }),
        ..AuthOptions::default()
    })
    .await;
    for proto in BOTH {
        let h = http(proto);
        let reply = h.token_basic(&server.base, "svc", &old, "").await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "the old secret still works"
        );
        let reply = h.token_basic(&server.base, "svc", &new, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["scope"], "write");
        // --introspect gave rs the right to introspect.
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            h.introspect(&server, "rs", &token).await.json()["active"],
            true
        );
    }
}

#[test]
fn add_client_refuses_invalid_ids_and_leaves_the_file_unchanged() {
    let dir = temp_dir("bad-ids");
    let file = dir.join("clients.json");
    added_secret(&add_client(&file, "svc", &[]), "svc");
    let before = std::fs::read(&file).unwrap();
    let long = "x".repeat(65);
    for id in ["", "a b", long.as_str(), "a/b", "é", "a:b", "../x", "a\nb"] {
        let output = add_client(&file, id, &[]);
        assert!(!output.status.success(), "id {id:?} was accepted");
        assert!(stdout(&output).is_empty(), "id {id:?}: {}", stdout(&output));
        assert!(!stderr(&output).is_empty(), "id {id:?}: no message");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "id {id:?} changed the file"
        );
    }
    // Refused ids never create a file either.
    let fresh = dir.join("fresh.json");
    assert!(!add_client(&fresh, "a b", &[]).status.success());
    assert!(!fresh.exists());
    // The longest and the most punctuated valid ids are accepted.
    let max = "y".repeat(64);
    added_secret(&add_client(&file, &max, &[]), &max);
    added_secret(&add_client(&file, "A.b_c-9", &[]), "A.b_c-9");
}

// ---------------------------------------------------------------------------------------------
// serve

fn serve_args(clients: &Path, listen: &str) -> Vec<String> {
    let certs = certs();
    [
        "serve",
        "--listen",
        listen,
        "--cert",
        path_str(&certs.cert()),
        "--key",
        path_str(&certs.key()),
        "--clients",
        path_str(clients),
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn serve_refuses_a_missing_empty_corrupt_or_duplicate_clients_file() {
    let dir = temp_dir("serve-bad");
    let good = dir.join("good.json");
    added_secret(&add_client(&good, "svc", &["--scope", "read"]), "svc");
    let good_text = std::fs::read_to_string(&good).unwrap();
    let entry: Value = serde_json::from_str::<Value>(&good_text).unwrap()["clients"][0].clone();
    let duplicate = serde_json::json!({ "clients": [entry.clone(), entry] }).to_string();

    let cases: [(&str, Option<&str>); 5] = [
        ("missing.json", None),
        ("empty.json", Some("")),
        (
            "corrupt.json",
            Some("{\"clients\": [ {\"client_id\": \"svc\", "),
        ),
        ("not-clients.json", Some("[1, 2, 3]")),
        ("duplicate.json", Some(duplicate.as_str())),
    ];
    for (name, contents) in cases {
        let file = dir.join(name);
        if let Some(contents) = contents {
            std::fs::write(&file, contents).unwrap();
        }
        let output = run(&serve_args(&file, "127.0.0.1:0"));
        assert!(!output.status.success(), "{name}: serve started");
        let message = stderr(&output);
        assert!(
            message.contains(path_str(&file)),
            "{name}: the message does not name the file: {message}"
        );
        match contents {
            Some(contents) => assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                contents,
                "{name} was rewritten"
            ),
            None => assert!(!file.exists(), "{name} was created"),
        }
    }
}

/// Starts `serve` and waits (bounded) until it logs the address it listens on.
fn serve(args: &[String]) -> Service {
    let mut command = Command::new(BIN);
    command.args(args);
    Service::start(command)
}

#[tokio::test]
async fn serve_uses_https_localhost_port_as_default_issuer_and_exits_0_on_sigterm() {
    let file = temp_dir("serve").join("clients.json");
    let secret = added_secret(&add_client(&file, "svc", &["--scope", "read"]), "svc");
    let served = serve(&serve_args(&file, "127.0.0.1:0"));
    let addr = served.addr;
    assert!(served
        .log()
        .contains("oauth-server listening on 127.0.0.1:"));
    let base = served.base.clone();
    for proto in BOTH {
        let h = http(proto);
        let reply = h
            .get(&format!("{base}/.well-known/oauth-authorization-server"))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["issuer"], base.as_str());
        let reply = h.token_basic(&base, "svc", &secret, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    let Exited { status, took, log } = served.signal("-TERM").await;
    assert_eq!(status.code(), Some(0), "exit after SIGTERM; stderr: {log}");
    assert!(
        took < Duration::from_secs(3),
        "SIGTERM took {took:?} with idle clients"
    );
    assert!(
        !log.contains(&secret),
        "the secret appeared on stderr: {log}"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening after exit"
    );
    // The file was read, not rewritten.
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&secret));
}

#[tokio::test]
async fn serve_listens_on_an_ipv6_socket_address() {
    if !ipv6_loopback_available() {
        eprintln!("IPv6 loopback unavailable: skipped");
        return;
    }
    let file = temp_dir("serve6").join("clients.json");
    let secret = added_secret(&add_client(&file, "svc", &[]), "svc");
    let served = serve(&serve_args(&file, "[::1]:0"));
    let addr = served.addr;
    let listen = addr.to_string();
    assert!(listen.starts_with("[::1]:"), "{listen}");
    let base = format!("https://[::1]:{}", addr.port());
    for proto in BOTH {
        let h = http(proto);
        let reply = h.token_basic(&base, "svc", &secret, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let reply = h
            .get(&format!("{base}/.well-known/oauth-authorization-server"))
            .await;
        assert_eq!(
            reply.json()["issuer"],
            format!("https://localhost:{}", addr.port())
        );
    }
    let Exited { status, log, .. } = served.signal("-TERM").await;
    assert_eq!(status.code(), Some(0), "{log}");
}

#[tokio::test]
async fn serve_exits_0_on_sigint_too() {
    let file = temp_dir("serve-int").join("clients.json");
    let secret = added_secret(&add_client(&file, "svc", &[]), "svc");
    let served = serve(&serve_args(&file, "127.0.0.1:0"));
    let base = served.base.clone();
    let reply = http(Proto::H2).token_basic(&base, "svc", &secret, "").await;
    assert_eq!(reply.status, StatusCode::OK);
    let Exited { status, took, log } = served.signal("-INT").await;
    assert_eq!(status.code(), Some(0), "exit after SIGINT; stderr: {log}");
    assert!(took < Duration::from_secs(3), "SIGINT took {took:?}");
}

#[test]
fn serve_refuses_unknown_flags_and_bad_values() {
    let file = temp_dir("serve-flags").join("clients.json");
    added_secret(&add_client(&file, "svc", &[]), "svc");
    let mut cases: Vec<Vec<String>> = Vec::new();
    for extra in [
        &["--bogus", "1"][..],
        &["--token-ttl", "0"],
        &["--token-ttl", "ten"],
        &["--max-connections", "0"],
    ] {
        let mut args = serve_args(&file, "127.0.0.1:0");
        args.extend(extra.iter().map(|s| s.to_string()));
        cases.push(args);
    }
    cases.push(serve_args(&file, "localhost:5003"));
    cases.push(serve_args(&file, "::1:5003"));
    for args in cases {
        let output = run(&args);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(!stderr(&output).is_empty(), "{args:?}: no message");
    }
}

#[test]
fn add_client_refuses_bad_scopes_and_never_clobbers_a_corrupt_file() {
    let dir = temp_dir("add-bad");
    let file = dir.join("clients.json");
    added_secret(&add_client(&file, "svc", &["--scope", "read"]), "svc");
    let before = std::fs::read(&file).unwrap();
    for scope in ["re\"ad", "back\\slash", "caf\u{e9}"] {
        let output = add_client(&file, "new", &["--scope", scope]);
        assert!(!output.status.success(), "scope {scope:?} was accepted");
        assert!(stdout(&output).is_empty());
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "scope {scope:?} changed the file"
        );
    }
    // A clients file that cannot be read as one is left for a human to look at.
    let corrupt = dir.join("corrupt.json");
    std::fs::write(&corrupt, b"{\"clients\": [ oops").unwrap();
    let output = add_client(&corrupt, "svc", &[]);
    assert!(
        !output.status.success(),
        "add-client replaced a corrupt file"
    );
    assert!(
        stderr(&output).contains(path_str(&corrupt)),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read(&corrupt).unwrap(), b"{\"clients\": [ oops");
}

#[test]
fn concurrent_add_client_runs_all_land_in_the_file() {
    let file = temp_dir("add-race").join("clients.json");
    let children: Vec<(String, std::process::Child)> = (0..8)
        .map(|i| {
            let id = format!("svc-{i}");
            let child = Command::new(BIN)
                .args(["add-client", "--clients", path_str(&file), "--id", &id])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start add-client");
            (id, child)
        })
        .collect();
    let mut secrets = Vec::new();
    for (id, child) in children {
        let output = support::child::wait_output(child, Duration::from_secs(20))
            .expect("add-client exits within 20 s");
        secrets.push((id.clone(), added_secret(&output, &id)));
    }
    let registry = tollgate::auth::clients::ClientRegistry::load(&file).expect("a valid file");
    assert_eq!(registry.len(), 8, "concurrent updates were lost");
    for (id, secret) in &secrets {
        assert!(
            matches!(
                registry.verify(id, secret),
                tollgate::auth::clients::Verdict::Authenticated(_)
            ),
            "{id}'s printed secret does not verify"
        );
    }
}
