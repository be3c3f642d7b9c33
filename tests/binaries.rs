//! The command-line contract of `client1` and `client2`: where the secret comes from, that a
//! wrong issuer stops start-up with a clear message, and the limit flags and open-file limit
//! they share with the authorization server. The binaries run as child
//! processes on port 0 (the address they bound is read from their log) against an in-process
//! authorization server; each wait is bounded.

mod support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use support::child::{Service, CLIENT1, CLIENT2};
use support::*;

/// Runs a command that should exit by itself (at most 10 s).
fn finished(mut command: Command) -> Output {
    support::child::run(&mut command, Duration::from_secs(10))
}

fn command(binary: &str, issuer: &str) -> Command {
    command_under(&[], binary, issuer)
}

/// [`command`] run by `wrapper` (such as `prlimit --nofile=128:128`), if any.
fn command_under(wrapper: &[&str], binary: &str, issuer: &str) -> Command {
    let certs = certs();
    let mut command = support::child::wrapped(wrapper, binary);
    command
        .args(["--listen", "127.0.0.1:0"])
        .arg("--cert")
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key())
        .args(["--auth-server", issuer, "--ca"])
        .arg(certs.ca())
        .env_remove("OAUTH_CLIENT_SECRET");
    command
}

#[test]
fn a_secret_from_both_the_variable_and_a_file_is_refused_naming_both() {
    let file = temp_dir("both-secrets").join("secret");
    std::fs::write(&file, "x\n").unwrap();
    for binary in [CLIENT1, CLIENT2] {
        let mut command = command(binary, "https://localhost:1");
        command
            .args(["--client-id", "x", "--client-secret-file"])
            .arg(&file)
            .env("OAUTH_CLIENT_SECRET", "y");
        if binary == CLIENT2 {
            command.args(["--resource", "https://localhost:1/api/resource"]);
        }
        let output = finished(command);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("OAUTH_CLIENT_SECRET") && stderr.contains("--client-secret-file"),
            "{stderr}"
        );
    }
}

#[test]
fn an_empty_secret_file_is_refused() {
    let file = temp_dir("empty-secret").join("secret");
    std::fs::write(&file, "\n").unwrap();
    let mut command = command(CLIENT1, "https://localhost:1");
    command
        .args(["--client-id", "rs", "--client-secret-file"])
        .arg(&file);
    let output = finished(command);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client1_and_client2_binaries_serve_the_chain_with_a_secret_file() {
    let auth = auth().await;
    // The file form with its trailing newline, as `echo "$SECRET" > file` writes it.
    let rs_file = temp_dir("rs-secret").join("rs.secret");
    std::fs::write(&rs_file, format!("{}\n", auth.secret("rs"))).unwrap();
    let mut client1 = command(CLIENT1, &auth.issuer);
    client1
        .args([
            "--client-id",
            "rs",
            "--cache-ttl",
            "300",
            "--client-secret-file",
        ])
        .arg(&rs_file);
    let client1 = Service::start(client1);
    let mut client2 = command(CLIENT2, &auth.issuer);
    client2
        .args([
            "--client-id",
            "c2",
            "--resource",
            &client1.url("/api/resource"),
        ])
        .env("OAUTH_CLIENT_SECRET", auth.secret("c2"));
    let client2 = Service::start(client2);

    // Both are listening; each answers once it has discovered the authorization server.
    let https = http(Proto::H1);
    let started = Instant::now();
    let reply = loop {
        let reply = https
            .try_request(Method::GET, &client2.url("/call"), &[], b"")
            .await;
        match reply {
            Ok(reply) if reply.status == StatusCode::OK => break reply,
            other => assert!(
                started.elapsed() < Duration::from_secs(15),
                "client2 never answered /call with 200: {other:?}\nclient1: {}\nclient2: {}",
                client1.log(),
                client2.log()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(reply.json()["client_id"], "c2");
    assert!(
        client1.log().contains("client1 listening on 127.0.0.1:"),
        "{}",
        client1.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client1_with_a_mismatched_issuer_exits_with_a_clear_message() {
    let auth = auth().await;
    let wrong = format!("https://127.0.0.1:{}", auth.port());
    let mut command = command(CLIENT1, &wrong);
    command
        .args(["--client-id", "rs"])
        .env("OAUTH_CLIENT_SECRET", auth.secret("rs"));
    let output = tokio::task::spawn_blocking(move || finished(command))
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must match exactly"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client1_and_client2_fit_their_cap_under_the_file_limit_and_cap_connections_per_address() {
    let auth = auth().await;
    for (binary, id) in [(CLIENT1, "rs"), (CLIENT2, "c2")] {
        let mut command = command_under(&["prlimit", "--nofile=128:128"], binary, &auth.issuer);
        command
            .args(["--client-id", id, "--max-connections", "4096"])
            .args(["--max-connections-per-address", "1", "--body-timeout", "1"])
            .env("OAUTH_CLIENT_SECRET", auth.secret(id));
        if binary == CLIENT2 {
            command.args(["--resource", "https://localhost:1/api/resource"]);
        }
        let service = Service::start(command);
        let log = service.log();
        assert!(
            log.contains("--max-connections 4096 does not fit under the open-file limit of 128")
                && log.contains("serving at most 64 connections"),
            "{binary}: {log}"
        );
        let mut held = raw_tls(service.addr, &[b"http/1.1"]).await.expect("TLS");
        assert_eq!(h1_get_status(&mut held, "/healthz").await, 200);
        let mut second = tokio::net::TcpStream::connect(service.addr).await.unwrap();
        let closed = time_until_closed(&mut second, Duration::from_secs(3)).await;
        assert!(
            closed.is_some_and(|t| t < Duration::from_secs(1)),
            "{binary}: a second connection from one address was kept {closed:?}"
        );
        let other = http_from(Proto::H2, [127, 0, 0, 2].into());
        let reply = other.get(&service.url("/healthz")).await;
        assert_eq!(reply.status, StatusCode::OK, "{binary}");
    }
}
