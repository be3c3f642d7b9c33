//! The newcomer's command: `tollgate` sets itself up in an empty directory, makes one call
//! through the chain and prints the demo clients with commands to try.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Runs the demo binary (on ports the kernel picks) until it says it is serving, then stops
/// it; returns what it printed on stdout.
fn run_once(dir: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("--certs")
        .arg(dir.join("certs"))
        .arg("--clients")
        .arg(dir.join("clients.json"))
        .arg("--keys")
        .arg(dir.join("keys"))
        .args([
            "--auth-port",
            "0",
            "--resource-port",
            "0",
            "--caller-port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut printed = String::new();
    loop {
        match lines_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                printed.push_str(&line);
                printed.push('\n');
                if line.contains("Serving until Ctrl-C") {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("the demo did not start, call and report in time: {printed}");
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    printed
}

fn secret_of(printed: &str, id: &str) -> String {
    let line = printed
        .lines()
        .find(|l| l.trim_start().starts_with(id) && l.contains(" secret "))
        .unwrap_or_else(|| panic!("no line for {id}: {printed}"));
    let after = line.split(" secret ").nth(1).unwrap();
    after.split(' ').next().unwrap().to_owned()
}

#[test]
fn the_demo_sets_up_a_clean_directory_and_calls_through_the_chain() {
    let dir: PathBuf = std::env::temp_dir().join(format!("tollgate-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let printed = run_once(&dir);
    assert!(printed.contains("client2 answered 200"), "{printed}");
    assert!(
        printed.contains("\"client_id\":\"client2\""),
        "client1's answer names the caller: {printed}"
    );
    assert!(printed.contains("(tokens issued: 1)"), "{printed}");
    // The recommended configuration: a JWT checked locally by client1, no introspection.
    assert!(
        printed.contains("got a JWT access token for https://localhost:"),
        "{printed}"
    );
    assert!(
        printed.contains("(key set fetches: 1, introspections: 0)"),
        "{printed}"
    );
    // client2 has no secret: an assertion over a connection with its certificate.
    assert!(printed.contains("private_key_jwt"), "{printed}");
    assert!(printed.contains("bound to that certificate"), "{printed}");
    assert!(
        printed.contains("client2  no secret") && !printed.contains("client2  secret"),
        "{printed}"
    );
    for file in [
        "ca.key",
        "client2.pem",
        "client2.key",
        "mtls.pem",
        "mtls.key",
    ] {
        assert!(dir.join("certs").join(file).exists(), "{file}");
    }
    assert!(printed.contains("--cert"), "the mTLS curl line: {printed}");
    assert!(
        printed.contains("Generated an ES256 signing key"),
        "{printed}"
    );
    assert!(dir.join("certs/ca.pem").exists());
    assert!(
        printed.contains("Generated development certificates"),
        "{printed}"
    );
    assert!(printed.contains("curl --cacert"), "{printed}");
    let first = secret_of(&printed, "demo");
    assert_eq!(first.len(), 43);
    let stored = std::fs::read_to_string(dir.join("clients.json")).unwrap();
    assert!(
        !stored.contains(&first),
        "the clients file keeps hashes only"
    );

    // A second run reuses the certificates and gives fresh secrets.
    let printed = run_once(&dir);
    assert!(printed.contains("client2 answered 200"), "{printed}");
    assert!(printed.contains("Using the certificates"), "{printed}");
    assert!(printed.contains("Using the signing keys"), "{printed}");
    assert_ne!(secret_of(&printed, "demo"), first);
    let _ = std::fs::remove_dir_all(&dir);
}
