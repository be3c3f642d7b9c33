//! The command-line contract of `client1` and `client2`: where the secret comes from, and
//! that a wrong issuer stops start-up with a clear message. The binaries run as child
//! processes against an in-process authorization server; each wait is bounded.

mod stack;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use http::{StatusCode, Version};
use stack::{Env, Https};

const CLIENT1: &str = env!("CARGO_BIN_EXE_client1");
const CLIENT2: &str = env!("CARGO_BIN_EXE_client2");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most 10 s) for a child that should exit by itself.
fn finished(mut child: Child) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("the command did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn command(binary: &str, env: &Env, issuer: &str, port: u16) -> Command {
    let mut command = Command::new(binary);
    command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--cert", env.dir.join("server.pem").to_str().unwrap()])
        .args(["--key", env.dir.join("server.key").to_str().unwrap()])
        .args(["--auth-server", issuer, "--ca", env.ca.to_str().unwrap()])
        .env_remove("OAUTH_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn a_secret_from_both_the_variable_and_a_file_is_refused_naming_both() {
    let env = Env::new();
    let file = env.dir.join("secret");
    std::fs::write(&file, "x\n").unwrap();
    for binary in [CLIENT1, CLIENT2] {
        let mut command = command(binary, &env, "https://localhost:1", free_port());
        command
            .args(["--client-id", "x"])
            .args(["--client-secret-file", file.to_str().unwrap()])
            .env("OAUTH_CLIENT_SECRET", "y");
        if binary == CLIENT2 {
            command.args(["--resource", "https://localhost:1/api/resource"]);
        }
        let output = finished(command.spawn().unwrap());
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
    let env = Env::new();
    let file = env.dir.join("secret");
    std::fs::write(&file, "\n").unwrap();
    let mut command = command(CLIENT1, &env, "https://localhost:1", free_port());
    command
        .args(["--client-id", "rs"])
        .args(["--client-secret-file", file.to_str().unwrap()]);
    let output = finished(command.spawn().unwrap());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client1_and_client2_binaries_serve_the_chain_with_a_secret_file() {
    let env = Env::new();
    let auth = env.start_auth(0, Duration::from_secs(3600)).await;
    let issuer = auth.issuer();
    // The file form with its trailing newline, as `echo "$SECRET" > file` writes it.
    let rs_file = env.dir.join("rs.secret");
    std::fs::write(&rs_file, format!("{}\n", env.secret("rs").expose())).unwrap();
    let (p1, p2) = (free_port(), free_port());
    let mut client1 = command(CLIENT1, &env, &issuer, p1)
        .args(["--client-id", "rs", "--cache-ttl", "300"])
        .args(["--client-secret-file", rs_file.to_str().unwrap()])
        .spawn()
        .unwrap();
    let resource = format!("https://localhost:{p1}/api/resource");
    let mut client2 = command(CLIENT2, &env, &issuer, p2)
        .args(["--client-id", "c2", "--resource", &resource])
        .env("OAUTH_CLIENT_SECRET", env.secret("c2").expose())
        .spawn()
        .unwrap();

    let https = Https::new(&env.ca, Version::HTTP_11);
    let call = format!("https://localhost:{p2}/call");
    let started = Instant::now();
    let mut reply = None;
    while started.elapsed() < Duration::from_secs(15) {
        // Until both have bound their ports, connections are refused: retry.
        if let Ok(r) = https.try_send(http::Method::GET, &call, &[], b"").await {
            if r.status == StatusCode::OK {
                reply = Some(r);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = client1.kill();
    let _ = client2.kill();
    let _ = client1.wait();
    let _ = client2.wait();
    let reply = reply.expect("client2 answered /call");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["client_id"], "c2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client1_with_a_mismatched_issuer_exits_with_a_clear_message() {
    let env = Env::new();
    let auth = env.start_auth(0, Duration::from_secs(3600)).await;
    let wrong = format!("https://127.0.0.1:{}", auth.port());
    let child = command(CLIENT1, &env, &wrong, free_port())
        .args(["--client-id", "rs"])
        .env("OAUTH_CLIENT_SECRET", env.secret("rs").expose())
        .spawn()
        .unwrap();
    let output = tokio::task::spawn_blocking(move || finished(child))
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must match exactly"), "{stderr}");
}
