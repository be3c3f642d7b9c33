//! Floods against the real `oauth-server` binary: slow clients holding half-sent requests,
//! connections beyond the cap, and brute-force runs against one client id.
//!
//! The server runs as a child process, so the test's own sockets and the server's each stay
//! well under the default limit of 1,024 open files.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::child::{Service, OAUTH_SERVER};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A release or debug `oauth-server` on `127.0.0.1:0`, killed on drop.
struct ChildServer {
    service: Service,
    clients: Clients,
}

impl std::ops::Deref for ChildServer {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.service
    }
}

impl ChildServer {
    fn start(ids: &[&str], extra_args: &[&str]) -> ChildServer {
        let specs: Vec<ClientSpec> = ids.iter().map(|id| client(id, "read", false)).collect();
        let clients = Clients::register(&specs);
        let mut command = Command::new(OAUTH_SERVER);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--cert"])
            .arg(certs().cert())
            .arg("--key")
            .arg(certs().key())
            .arg("--clients")
            .arg(&clients.file)
            .args(extra_args);
        ChildServer {
            service: Service::start(command),
            clients,
        }
    }

    fn secret(&self, id: &str) -> &str {
        self.clients.secret(id)
    }
}

fn get(url: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::get(url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_half_sent_requests_do_not_stop_a_new_client_getting_a_token_within_a_second()
{
    let server = ChildServer::start(&["svc"], &[]);
    let mut held = Vec::new();
    let addr = server.addr;
    for batch in 0..10 {
        let opened = futures_join_all((0..50).map(|_| async move {
            let mut tls = raw_tls(addr, &[b"http/1.1"]).await.expect("TLS connection");
            tls.write_all(b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Ty")
                .await
                .expect("half a request");
            tls.flush().await.expect("flush");
            tls
        }))
        .await;
        held.extend(opened);
        assert_eq!(held.len(), (batch + 1) * 50);
    }

    let client = http(Proto::H1);
    let started = Instant::now();
    let reply = client
        .token_basic(&server.base, "svc", server.secret("svc"), "")
        .await;
    let took = started.elapsed();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        took < Duration::from_secs(1),
        "a token took {took:?} while 500 clients held half-sent requests"
    );

    // The head timeout (5 s) frees the slow clients' connections.
    let closed_in = time_until_closed(&mut held[0], Duration::from_secs(10)).await;
    assert!(
        closed_in.is_some_and(|t| t < Duration::from_secs(8)),
        "a half-sent request was held for {closed_in:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_beyond_the_cap_is_queued_with_bounded_memory_and_the_server_recovers() {
    let server = ChildServer::start(&["svc"], &["--max-connections", "64"]);
    let rss_before = server.rss_kib();
    let mut flood = Vec::new();
    for _ in 0..400 {
        // Bare TCP connections that never start TLS: the cheapest flood there is.
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(server.addr)).await {
            Ok(Ok(stream)) => flood.push(stream),
            // Refused or not answered: the kernel's backlog is full, which is also fine.
            _ => break,
        }
    }
    assert!(flood.len() >= 64, "only {} connections opened", flood.len());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_during = server.rss_kib();
    assert!(
        rss_during < rss_before + 16 * 1024,
        "memory grew from {rss_before} KiB to {rss_during} KiB under a connection flood"
    );

    drop(flood);
    let client = http(Proto::H2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client
            .try_send(get(&format!("{}/healthz", server.base)))
            .await
        {
            Ok(reply) if reply.status.is_success() => break,
            _ => assert!(
                Instant::now() < deadline,
                "the server did not recover within 10 s of the flood ending"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = client
        .token_basic(&server.base, "svc", server.secret("svc"), "")
        .await;
    assert_eq!(reply.status, 200);
}

/// The first attack of issue 9, against the binary: one address guessing one client's secret
/// as fast as it can. It is slowed to a crawl, while the client itself, from another address,
/// and other clients from the attacking address, keep getting every token at full speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_on_one_id_is_throttled_escalatingly_and_never_refuses_the_victim_from_another_address(
) {
    let victim_ip: std::net::IpAddr = [127, 0, 0, 2].into();
    if std::net::TcpListener::bind((victim_ip, 0)).is_err() {
        eprintln!("cannot bind {victim_ip}: skipped");
        return;
    }
    let server = ChildServer::start(&["victim", "bystander"], &[]);
    let attack_for = Duration::from_secs(6);
    let attackers: Vec<_> = (0..4)
        .map(|_| {
            let base = server.base.clone();
            tokio::spawn(async move {
                let client = http(Proto::H2);
                let mut statuses = Vec::new();
                let mut retry_after = Vec::new();
                let started = Instant::now();
                while started.elapsed() < attack_for && statuses.len() < 2000 {
                    let reply = client
                        .token_basic(&base, "victim", "not-the-secret", "")
                        .await;
                    if reply.status == 429 {
                        let secs: u64 = reply
                            .header("retry-after")
                            .and_then(|v| v.parse().ok())
                            .expect("429 carries Retry-After in seconds");
                        retry_after.push(secs);
                    }
                    statuses.push(reply.status.as_u16());
                }
                (statuses, retry_after)
            })
        })
        .collect();

    // Meanwhile the victim, from another address and over both versions, and another client
    // of the attacking address get every token quickly.
    let victims = [
        http_from(Proto::H1, victim_ip),
        http_from(Proto::H2, victim_ip),
    ];
    let bystander = http(Proto::H1);
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < attack_for {
        for (who, client, id) in [
            ("victim over H1", &victims[0], "victim"),
            ("victim over H2", &victims[1], "victim"),
            ("bystander", &bystander, "bystander"),
        ] {
            let t = Instant::now();
            let reply = client
                .token_basic(&server.base, id, server.secret(id), "")
                .await;
            assert_eq!(reply.status, 200, "{who} refused during the attack");
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "{who} slowed to {:?}",
                t.elapsed()
            );
        }
        served += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served >= 10);

    let mut all_statuses = Vec::new();
    let mut all_retry_after = Vec::new();
    for attacker in attackers {
        let (statuses, retry_after) = attacker.await.expect("attacker task");
        all_statuses.extend(statuses);
        all_retry_after.extend(retry_after);
    }
    let refused_401 = all_statuses.iter().filter(|&&s| s == 401).count();
    let throttled = all_statuses.iter().filter(|&&s| s == 429).count();
    assert!(
        all_statuses.len() >= 100,
        "only {} attempts",
        all_statuses.len()
    );
    assert!(
        refused_401 < 40,
        "{refused_401} wrong secrets were checked in {attack_for:?}: the throttle is not escalating"
    );
    assert!(throttled > all_statuses.len() / 2);
    let longest = all_retry_after.iter().max().copied().unwrap_or(0);
    // Lockouts run 1, 2, 4, ... s; how far they get in the attack depends on the machine's load.
    assert!(
        longest >= 2,
        "the lockout never grew beyond its first {longest} s"
    );
    // The lockout is the attacking address's: there, even the right secret is still refused.
    let reply = http(Proto::H1)
        .token_basic(&server.base, "victim", server.secret("victim"), "")
        .await;
    assert_eq!(reply.status, 429);
}

/// `join_all` without the futures crate: the handful of futures here run concurrently.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}
