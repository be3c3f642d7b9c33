//! The outgoing HTTPS client: it trusts only the CA it is given, and a pooled connection the
//! peer closed under a request is retried once on a fresh connection.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate::http::{Outbound, OutboundError};

fn get(url: &str) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.uri_mut() = url.parse().unwrap();
    request
}

/// Reads one HTTP/1.1 request head; false when the peer closed first.
async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_closed_under_a_request_is_retried_on_a_fresh_one() {
    // A server that answers the first request of each connection, keeps the connection, and
    // closes it without answering when a second request arrives: what a restarted peer's
    // stale keep-alive connection looks like to the client.
    let mut tls = (*certs().server_tls()).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = loopback().await;
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if read_head(&mut tls).await {
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    let _ = tls.flush().await;
                }
                // The second request is read and the connection dropped unanswered.
                read_head(&mut tls).await;
            });
        }
    });

    let outbound = support::servers::outbound();
    let url = format!("https://localhost:{port}/");
    for _ in 0..3 {
        let answer = tokio::time::timeout(Duration::from_secs(5), outbound.send(get(&url)))
            .await
            .expect("bounded")
            .expect("answered, after one retry when the pooled connection died");
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, "ok");
    }
    // About one connection per request: the first, then a fresh one for each retry (the
    // pool may also open one early when a connection is not back in it yet), never a storm.
    let opened = connections.load(Ordering::SeqCst);
    assert!(
        (3..=6).contains(&opened),
        "{opened} connections for 3 requests"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certified_by_another_ca_is_refused() {
    // This binary's CA is ours; the server's certificate comes from another.
    let theirs = Certs::generate("their-certs");
    let auth = start_auth(AuthOptions {
        certs: Some(theirs.clone()),
        ..AuthOptions::default()
    })
    .await;
    let outbound = Outbound::new(&certs().ca()).unwrap();
    let error = outbound
        .send(get(&auth.url("/healthz")))
        .await
        .expect_err("an untrusted certificate");
    assert!(
        matches!(error, OutboundError::Unreachable { .. }),
        "{error}"
    );
    // The same server is fine for a client that trusts its CA.
    let answer = Outbound::new(&theirs.ca())
        .unwrap()
        .send(get(&auth.url("/healthz")))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_an_unreachable_error_quickly() {
    // Bound but not listening: the connection is refused, and no one else can take the port.
    let reserved = Reserved::new();
    let started = std::time::Instant::now();
    let error = support::servers::outbound()
        .send(get(&format!("https://localhost:{}/", reserved.port())))
        .await
        .unwrap_err();
    assert!(error.is_unreachable(), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
