//! The TLS and HTTP layer (`tollgate::http::serve`) against trivial handlers: ALPN and TLS
//! versions, size limits (431), the handshake, head, body and idle timeouts, pipelined heads,
//! the connection caps, HTTP/2 settings, and graceful shutdown. Nothing here knows OAuth: the
//! handler answers 200 to everything (after a second for `/slow`) and echoes a POST body,
//! read with the body limit as every service does.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use tollgate::http::{Body, BodyError, Handler, Limits, Peer, RequestBody};

use support::*;

/// Answers 200 to every request, `/slow` after a second; a POST's body is read (bounded by
/// `max_body`, 413 beyond, 408 when late) and echoed. Other bodies are never read.
struct Echo {
    max_body: usize,
}

impl Handler for Echo {
    async fn handle(&self, req: Request<RequestBody>, _peer: Peer) -> Response<Body> {
        let (parts, body) = req.into_parts();
        if parts.uri.path() == "/slow" {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        if parts.method != Method::POST {
            return Response::new(Full::new(Bytes::from_static(b"ok")));
        }
        match tollgate::http::read_body(body, self.max_body).await {
            Ok(body) => Response::new(Full::new(body)),
            Err(e) => {
                let status = match e {
                    BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    BodyError::TimedOut => StatusCode::REQUEST_TIMEOUT,
                    BodyError::Unreadable(_) => StatusCode::BAD_REQUEST,
                };
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = status;
                response
            }
        }
    }
}

/// The echo handler on `127.0.0.1:0` with `limits`.
async fn serve(limits: Limits) -> Running<Echo> {
    let echo = Arc::new(Echo {
        max_body: limits.max_body_bytes,
    });
    start_handler(echo, limits, loopback().await)
}

async fn server() -> Running<Echo> {
    serve(limits()).await
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test]
async fn alpn_h2_gives_http2_and_http11_or_no_alpn_gives_http11() {
    let server = server().await;
    let tls = raw_tls(server.addr, &[b"h2"]).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);
    let tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    drop(tls);
    let tls = raw_tls(server.addr, &[b"h2", b"http/1.1"]).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);
    // Without ALPN the server speaks HTTP/1.1.
    let mut tls = raw_tls(server.addr, &[]).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    write_all(&mut tls, GET).await;
    let (status, head, _) = read_h1_response(&mut tls)
        .await
        .unwrap()
        .expect("a response");
    assert_eq!(status, 200);
    assert!(head.starts_with("HTTP/1.1 "));
    // And the real clients get the version they asked for (checked by `send`).
    for proto in BOTH {
        assert_eq!(
            http(proto).get(&server.url("/")).await.version,
            proto.version()
        );
    }
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_offered() {
    let server = server().await;
    for (version, expected) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let config = support::raw::client_tls_config_with(&certs().ca(), &[], &[version]);
        let tls = raw_tls_with(server.addr, support::raw::localhost(), config)
            .await
            .expect("handshake");
        assert_eq!(tls.get_ref().1.protocol_version(), Some(expected));
    }
}

#[tokio::test]
async fn http1_request_head_over_16_kib_is_431() {
    let server = server().await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let mut request = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 20 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    write_all(&mut tls, &request).await;
    let response = tokio::time::timeout(Duration::from_secs(5), read_h1_response(&mut tls))
        .await
        .expect("an answer in time")
        .expect("read")
        .expect("a response, not a bare close");
    assert_eq!(response.0, 431, "{}", response.1);

    // A head just under the limit is fine.
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let mut request = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 12 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    write_all(&mut tls, &request).await;
    let response = read_h1_response(&mut tls)
        .await
        .unwrap()
        .expect("a response");
    assert_eq!(response.0, 200);
}

#[tokio::test]
async fn http2_request_headers_over_16_kib_are_431() {
    let server = server().await;
    let h = http(Proto::H2);
    let big = "a".repeat(20 * 1024);
    let reply = h
        .try_request(Method::GET, &server.url("/"), &[("x-big", &big)], b"")
        .await
        .expect("an answer, not a reset");
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // The connection (and server) still serves ordinary requests.
    assert_eq!(h.get(&server.url("/")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn partial_request_head_is_closed_after_the_head_timeout() {
    let server = serve(Limits {
        head_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(10),
        ..limits()
    })
    .await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let started = Instant::now();
    write_all(
        &mut tls,
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Ty",
    )
    .await;
    let closed = time_until_closed(&mut tls, Duration::from_secs(4))
        .await
        .expect("the server kept a half-sent head open for 4 s (head timeout 1 s)");
    let closed_at = started.elapsed();
    assert!(
        closed_at >= Duration::from_millis(900) && closed_at < Duration::from_secs(3),
        "closed after {closed_at:?} ({closed:?} of waiting)"
    );

    // A head trickled byte by byte is bounded by the same timeout.
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let started = Instant::now();
    let head =
        b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut = false;
    for byte in head.iter().take(60) {
        if tls.write_all(&[*byte]).await.is_err() || tls.flush().await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    if !cut {
        assert!(
            time_until_closed(&mut tls, Duration::from_secs(3))
                .await
                .is_some(),
            "a trickled head was not cut"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn idle_keep_alive_connection_outlives_the_head_timeout_and_closes_after_the_idle_timeout() {
    let server = serve(Limits {
        head_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(3),
        ..limits()
    })
    .await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    assert_eq!(h1_get_status(&mut tls, "/").await, 200);
    // Longer than the head timeout (1 s), shorter than the idle timeout (3 s).
    tokio::time::sleep(Duration::from_millis(1800)).await;
    write_all(&mut tls, GET).await;
    let second = read_h1_response(&mut tls)
        .await
        .expect("read")
        .expect("the keep-alive connection was closed after the head timeout");
    assert_eq!(second.0, 200);
    let idle_started = Instant::now();
    let closed = time_until_closed(&mut tls, Duration::from_secs(8)).await;
    let closed = closed.expect("the idle connection was never closed");
    assert!(
        closed >= Duration::from_millis(2500) && closed < Duration::from_secs(5),
        "idle connection closed after {closed:?} (idle timeout 3 s), since {:?}",
        idle_started.elapsed()
    );
}

#[tokio::test]
async fn connections_that_never_send_a_request_close_after_the_idle_timeout() {
    let server = serve(Limits {
        head_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..limits()
    })
    .await;
    for alpn in [&b"http/1.1"[..], &b"h2"[..]] {
        let mut tls = raw_tls(server.addr, &[alpn]).await.unwrap();
        let closed = time_until_closed(&mut tls, Duration::from_secs(8))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{}: a silent connection stayed open 8 s (idle timeout 2 s)",
                    String::from_utf8_lossy(alpn)
                )
            });
        assert!(
            closed >= Duration::from_millis(1500),
            "{}: closed after {closed:?}",
            String::from_utf8_lossy(alpn)
        );
    }
}

#[tokio::test]
async fn tls_handshake_that_never_starts_is_closed_after_the_handshake_timeout() {
    let server = serve(Limits {
        handshake_timeout: Duration::from_secs(1),
        ..limits()
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let closed = time_until_closed(&mut tcp, Duration::from_secs(4))
        .await
        .expect("a silent TCP connection was kept past the handshake timeout");
    assert!(
        closed >= Duration::from_millis(800),
        "closed after {closed:?}"
    );
    // Half a ClientHello is bounded the same way.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    write_all(&mut tcp, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await;
    let closed = time_until_closed(&mut tcp, Duration::from_secs(4)).await;
    assert!(closed.is_some(), "a half-sent ClientHello was kept open");
}

#[tokio::test]
async fn http2_settings_allow_128_concurrent_streams_and_16_kib_of_headers() {
    let server = server().await;
    let mut tls = raw_tls(server.addr, &[b"h2"]).await.unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
    write_all(&mut tls, &hello).await;
    let mut header = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut header))
        .await
        .expect("server SETTINGS in time")
        .expect("read");
    assert_eq!(header[3], 4, "the server's first frame is SETTINGS");
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    let mut payload = vec![0u8; len];
    tls.read_exact(&mut payload).await.unwrap();
    let settings: std::collections::HashMap<u16, u32> = payload
        .chunks_exact(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    assert_eq!(
        settings.get(&0x3),
        Some(&128),
        "SETTINGS_MAX_CONCURRENT_STREAMS: {settings:?}"
    );
    assert_eq!(
        settings.get(&0x6),
        Some(&16384),
        "SETTINGS_MAX_HEADER_LIST_SIZE: {settings:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The body deadline and pipelined heads

/// Test limits with a body timeout of 1 s.
fn quick_bodies() -> Limits {
    Limits {
        body_timeout: Duration::from_secs(1),
        ..limits()
    }
}

/// Reads one HTTP/1.1 response within 5 s; panics on a close or a timeout.
async fn h1_response<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> (u16, String, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(5), read_h1_response(stream))
        .await
        .expect("an answer within 5 s")
        .expect("read")
        .expect("a response, not a bare close")
}

#[tokio::test]
async fn http1_a_body_that_stops_arriving_gets_408_after_the_body_timeout_and_the_connection_closes(
) {
    let server = serve(quick_bodies()).await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let started = Instant::now();
    write_all(
        &mut tls,
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 29\r\n\r\ngrant",
    )
    .await;
    let (status, head, _) = h1_response(&mut tls).await;
    let took = started.elapsed();
    assert_eq!(status, 408, "{head}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "408 after {took:?} (body timeout 1 s)"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{head}"
    );
    let closed = time_until_closed(&mut tls, Duration::from_secs(2)).await;
    assert!(closed.is_some(), "the connection stayed open after the 408");
}

#[tokio::test]
async fn a_body_trickled_without_end_is_cut_at_the_body_timeout_however_often_bytes_arrive() {
    let server = serve(quick_bodies()).await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let started = Instant::now();
    write_all(
        &mut tls,
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .await;
    // One byte of body every 100 ms, for at most 3 s: never a pause as long as the timeout.
    let trickle = async {
        for _ in 0..30 {
            if tls.write_all(b"1\r\na\r\n").await.is_err() || tls.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), trickle).await;
    let (status, _, _) = h1_response(&mut tls).await;
    assert_eq!(status, 408);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn http2_a_stalled_stream_gets_408_while_the_connections_other_streams_go_on() {
    let server = serve(quick_bodies()).await;
    let mut h2 = h2_connection(server.addr).await;
    let url = server.url("/upload");
    let request = |body| Request::post(&url).body(body).unwrap();
    let started = Instant::now();
    let stalled = [
        tokio::spawn(h2.send_request(request(PartBody::stalled(b"grant")))),
        tokio::spawn(h2.send_request(request(PartBody::stalled(b"")))),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answered = h2
        .send_request(request(PartBody::complete(b"meanwhile")))
        .await
        .expect("an answer");
    assert_eq!(answered.status(), StatusCode::OK);
    let body = answered.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"meanwhile");
    assert!(started.elapsed() < Duration::from_millis(900));
    for stalled in stalled {
        let response = tokio::time::timeout(Duration::from_secs(5), stalled)
            .await
            .expect("the stalled stream was answered")
            .unwrap()
            .expect("an answer, not a reset");
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    let again = h2
        .send_request(request(PartBody::complete(b"after")))
        .await
        .expect("the connection still serves");
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn http2_a_connection_with_every_stream_stalled_serves_again_after_the_body_timeout() {
    let server = serve(quick_bodies()).await;
    let mut h2 = h2_connection(server.addr).await;
    let url = server.url("/upload");
    let request = |body| Request::post(&url).body(body).unwrap();
    // All 128 streams the server allows, each with HEADERS and no END_STREAM.
    let stalled: Vec<_> = (0..128)
        .map(|_| tokio::spawn(h2.send_request(request(PartBody::stalled(b"")))))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let fresh = tokio::time::timeout(
        Duration::from_secs(5),
        h2.send_request(request(PartBody::complete(b"fresh"))),
    )
    .await
    .expect("a 129th stream waited more than 5 s (body timeout 1 s)")
    .expect("an answer");
    assert_eq!(fresh.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(3));
    for stalled in stalled {
        let response = stalled.await.unwrap().expect("an answer, not a reset");
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }
}

#[tokio::test]
async fn a_handler_that_never_reads_the_body_answers_at_once_however_stalled_the_body() {
    let server = serve(limits()).await; // body timeout 10 s: no answer may wait for it
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let started = Instant::now();
    write_all(
        &mut tls,
        b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 29\r\n\r\ngr",
    )
    .await;
    assert_eq!(h1_response(&mut tls).await.0, 200);
    // hyper cannot find the next request behind an unread body, so it closes.
    let closed = time_until_closed(&mut tls, Duration::from_secs(2)).await;
    assert!(
        closed.is_some(),
        "the connection was kept behind an unread body"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    let mut h2 = h2_connection(server.addr).await;
    let started = Instant::now();
    let request = Request::get(server.url("/"))
        .body(PartBody::stalled(b""))
        .unwrap();
    let response = h2.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let request = Request::get(server.url("/"))
        .body(PartBody::complete(b""))
        .unwrap();
    let response = h2
        .send_request(request)
        .await
        .expect("the connection serves on");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_partial_head_pipelined_behind_a_request_is_closed_after_the_head_timeout() {
    let server = serve(Limits {
        head_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(10),
        ..limits()
    })
    .await;
    let closes_within_the_head_timeout = |what: &'static str| {
        move |closed: Option<Duration>| {
            assert!(
                closed.is_some_and(|t| t < Duration::from_secs(3)),
                "{what}: a pipelined half head was kept {closed:?} (head timeout 1 s, idle 10 s)"
            )
        }
    };
    // In one write: a whole request and the start of the next.
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    write_all(
        &mut tls,
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost:",
    )
    .await;
    assert_eq!(h1_response(&mut tls).await.0, 200);
    closes_within_the_head_timeout("one write")(
        time_until_closed(&mut tls, Duration::from_secs(4)).await,
    );

    // The start of the next head written while the request before it is in flight.
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    write_all(&mut tls, b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    write_all(&mut tls, b"GET / HTTP/1.1\r\nHost:").await;
    assert_eq!(h1_response(&mut tls).await.0, 200);
    closes_within_the_head_timeout("while in flight")(
        time_until_closed(&mut tls, Duration::from_secs(4)).await,
    );

    // Behind a body holding an empty line of its own.
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    write_all(
        &mut tls,
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 8\r\n\r\nab\r\n\r\ncdGET / HTTP/1.1\r\nHo",
    )
    .await;
    let (status, _, body) = h1_response(&mut tls).await;
    assert_eq!((status, &body[..]), (200, &b"ab\r\n\r\ncd"[..]));
    closes_within_the_head_timeout("behind a body")(
        time_until_closed(&mut tls, Duration::from_secs(4)).await,
    );
}

#[tokio::test]
async fn a_keep_alive_connection_that_does_not_pipeline_outlives_the_head_timeout_after_a_post() {
    let server = serve(Limits {
        head_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(10),
        ..limits()
    })
    .await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    for _ in 0..2 {
        write_all(
            &mut tls,
            b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 8\r\n\r\nab\r\n\r\ncd",
        )
        .await;
        assert_eq!(h1_response(&mut tls).await.0, 200);
        // Longer than the head timeout, shorter than the idle timeout.
        tokio::time::sleep(Duration::from_millis(1800)).await;
    }
    assert_eq!(h1_get_status(&mut tls, "/").await, 200);
}

// ---------------------------------------------------------------------------------------------
// The connection caps

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_closed_before_the_handshake_and_other_addresses_are_served(
) {
    let server = serve(Limits {
        max_connections_per_address: 2,
        ..limits()
    })
    .await;
    let mut held = vec![
        raw_tls(server.addr, &[b"http/1.1"]).await.unwrap(),
        raw_tls(server.addr, &[b"http/1.1"]).await.unwrap(),
    ];
    assert_eq!(h1_get_status(&mut held[1], "/").await, 200);
    // A third from 127.0.0.1 is closed at once, long before the 5 s handshake timeout, and
    // without a word of TLS.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let closed = time_until_closed(&mut tcp, Duration::from_secs(2)).await;
    assert!(
        closed.is_some_and(|t| t < Duration::from_secs(1)),
        "a connection beyond the per-address cap was kept {closed:?}"
    );
    assert!(raw_tls(server.addr, &[b"http/1.1"]).await.is_err());
    // Another address is served as usual.
    let other = http_from(Proto::H1, [127, 0, 0, 2].into());
    assert_eq!(other.get(&server.url("/")).await.status, StatusCode::OK);
    // A closed connection gives its slot back.
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut again = loop {
        if let Ok(tls) = raw_tls(server.addr, &[b"http/1.1"]).await {
            break tls;
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection's slot was never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(h1_get_status(&mut again, "/").await, 200);
}

#[tokio::test]
async fn max_connections_counts_open_connections_and_the_next_one_waits_for_a_free_slot() {
    let server = serve(Limits {
        max_connections: 2,
        ..limits()
    })
    .await;
    let first = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let mut second = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    assert_eq!(h1_get_status(&mut second, "/").await, 200);

    let addr = server.addr;
    let third = tokio::spawn(async move { raw_tls(addr, &[b"http/1.1"]).await });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served beyond max_connections"
    );

    drop(first);
    let mut third = tokio::time::timeout(Duration::from_secs(5), third)
        .await
        .expect("the waiting connection was not served after a slot freed")
        .unwrap()
        .expect("handshake");
    assert_eq!(h1_get_status(&mut third, "/").await, 200);
}

#[tokio::test]
async fn half_open_connections_count_against_max_connections_until_the_handshake_timeout_frees_them(
) {
    let server = serve(Limits {
        max_connections: 2,
        handshake_timeout: Duration::from_secs(1),
        ..limits()
    })
    .await;
    // Two TCP connections that never start TLS take both slots...
    let _silent = [
        tokio::net::TcpStream::connect(server.addr).await.unwrap(),
        tokio::net::TcpStream::connect(server.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let addr = server.addr;
    let waiting = tokio::spawn(async move { raw_tls(addr, &[b"http/1.1"]).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "half-open connections were not counted"
    );
    // ...until the handshake timeout frees them, even though the clients keep them open.
    let mut tls = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the half-open connections were never freed")
        .unwrap()
        .expect("handshake");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(h1_get_status(&mut tls, "/").await, 200);
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown

#[tokio::test]
async fn graceful_shutdown_stops_accepting_returns_and_the_port_can_be_reused_at_once() {
    let server = server().await;
    let addr = server.addr;
    let h = http(Proto::H1);
    assert_eq!(h.get(&server.url("/")).await.status, StatusCode::OK);
    // An idle keep-alive connection (HTTP/2) is open too.
    let h2 = http(Proto::H2);
    assert_eq!(h2.get(&server.url("/")).await.status, StatusCode::OK);
    let started = Instant::now();
    server
        .stop()
        .await
        .expect("serve returned after the shutdown signal");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown with only idle connections took {:?}",
        started.elapsed()
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener still accepts after shutdown"
    );
    // A restart on the same port works at once, over both versions.
    let listener = tollgate::http::bind(addr)
        .await
        .expect("the port is free at once");
    let restarted = start_handler(
        Arc::new(Echo {
            max_body: limits().max_body_bytes,
        }),
        limits(),
        listener,
    );
    assert_eq!(restarted.addr, addr);
    for proto in BOTH {
        let reply = http(proto)
            .request(Method::POST, &restarted.url("/"), &[], b"after the restart")
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), "after the restart");
    }
    restarted.stop().await.expect("stops again");
}

#[tokio::test]
async fn in_flight_request_finishes_after_the_shutdown_signal() {
    let mut server = serve(Limits {
        shutdown_grace: Duration::from_secs(10),
        ..limits()
    })
    .await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let body = "grant_type=client_credentials&this=is&a=body&in=flight";
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // The head and half the body: the request is in flight.
    write_all(&mut tls, head.as_bytes()).await;
    write_all(&mut tls, &body.as_bytes()[..10]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal_stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // New connections are refused now...
    assert!(tokio::net::TcpStream::connect(server.addr).await.is_err());
    // ...and the port is free for a restarted server even while this request drains.
    let rebound = tollgate::http::bind(server.addr)
        .await
        .expect("the port is not free while an old request drains");
    drop(rebound);
    // ...but the request in flight is answered, with all of its body read.
    write_all(&mut tls, &body.as_bytes()[10..]).await;
    let (status, _, answer) =
        tokio::time::timeout(Duration::from_secs(5), read_h1_response(&mut tls))
            .await
            .expect("answer in time")
            .expect("read")
            .expect("the in-flight request was cut");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(answer, body.as_bytes());
    drop(tls);
    server.ended().await.expect("serve returned");
}

#[tokio::test]
async fn shutdown_cuts_a_stuck_request_after_the_grace_period() {
    let mut server = serve(Limits {
        shutdown_grace: Duration::from_secs(1),
        ..limits()
    })
    .await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    write_all(
        &mut tls,
        b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\ngrant",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal_stop();
    let started = Instant::now();
    server.ended().await.expect("serve returned");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a stuck request held shutdown for {:?} (grace 1 s)",
        started.elapsed()
    );
    assert!(time_until_closed(&mut tls, Duration::from_secs(2))
        .await
        .is_some());
}
