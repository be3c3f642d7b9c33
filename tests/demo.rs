//! The newcomer's command: `tollgate` sets itself up in an empty directory, makes one call
//! through the chain and prints the demo clients with commands to try.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use tollgate::demo::{self, DemoConfig};

fn config(dir: &std::path::Path) -> DemoConfig {
    DemoConfig {
        certs_dir: dir.join("certs"),
        clients_file: dir.join("clients.json"),
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        auth_port: 0,
        resource_port: 0,
        caller_port: 0,
    }
}

/// Runs the demo until its chain call is reported, then stops it; returns what it printed.
async fn run_once(dir: &std::path::Path) -> (demo::ChainReport, String) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut out: Vec<u8> = Vec::new();
    let run = demo::run(config(dir), &mut out, Some(ready_tx), async {
        let _ = stop_rx.await;
    });
    let drive = async move {
        let report = ready_rx.await.expect("the demo reports its call");
        let _ = stop_tx.send(());
        report
    };
    let (result, report) =
        tokio::time::timeout(Duration::from_secs(30), async { tokio::join!(run, drive) })
            .await
            .expect("the demo starts, calls and stops in time");
    result.expect("the demo runs");
    (report, String::from_utf8(out).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_sets_up_a_clean_directory_and_calls_through_the_chain() {
    let dir: PathBuf = std::env::temp_dir().join(format!("tollgate-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let (report, printed) = run_once(&dir).await;
    assert_eq!(report.status, 200, "{printed}");
    assert!(
        report.body.contains("\"client_id\":\"client2\""),
        "{}",
        report.body
    );
    assert_eq!(report.tokens_issued, 1);
    assert_eq!(report.introspections, 1);
    assert!(dir.join("certs/ca.pem").exists());
    assert!(
        printed.contains("Generated development certificates"),
        "{printed}"
    );
    assert!(printed.contains("client2 answered 200"), "{printed}");
    assert!(printed.contains("curl --cacert"), "{printed}");
    let secret_of = |printed: &str, id: &str| -> String {
        let line = printed
            .lines()
            .find(|l| l.trim_start().starts_with(id) && l.contains(" secret "))
            .unwrap_or_else(|| panic!("no line for {id}: {printed}"));
        let after = line.split(" secret ").nth(1).unwrap();
        after.split(' ').next().unwrap().to_owned()
    };
    let first = secret_of(&printed, "demo");
    assert_eq!(first.len(), 43);
    let stored = std::fs::read_to_string(dir.join("clients.json")).unwrap();
    assert!(
        !stored.contains(&first),
        "the clients file keeps hashes only"
    );

    // A second run reuses the certificates and gives fresh secrets.
    let (report, printed) = run_once(&dir).await;
    assert_eq!(report.status, 200, "{printed}");
    assert!(printed.contains("Using the certificates"), "{printed}");
    assert_ne!(secret_of(&printed, "demo"), first);
    let _ = std::fs::remove_dir_all(&dir);
}
