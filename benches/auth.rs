//! Authorization-server benchmarks: the cost of a token, an introspection and a secret check.
//!
//! - `in_process/*`: the whole endpoint (form parse, client authentication, store, JSON) with
//!   no network, through `AuthServer::respond`; `in_process_1m/*` repeats them with 1,000,000
//!   live tokens in the store, to show the cost does not grow with the store.
//! - `tls_http1/*` and `tls_http2/*`: the real server over TLS on loopback, one keep-alive
//!   connection, with `/healthz` measured in the same run as the baseline. Throughput is in
//!   elements (requests), so the ratio to `/healthz` reads straight off the report.
//! - `tls_http1/client1_*` and `tls_http2/client1_*`: client1 (the protected resource, with
//!   introspection as client `rs`) started in-process against that server, over a second
//!   keep-alive connection: `client1_resource` is `GET /api/resource` with a token already in
//!   client1's introspection cache (30 s), `client1_healthz` is client1's own `/healthz` as its
//!   baseline. The introspection calls made during `client1_resource` are printed (expected 0).
//!
//! Run with `cargo bench --bench auth`; reports land in `target/criterion/report/index.html`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tollgate::app::ResourceService;
use tollgate::auth::tokens::{Grant, TokenRecord, TokenStore};
use tollgate::auth::{clients::ClientRegistry, clients_file::add_client};
use tollgate::auth::{AuthConfig, AuthServer};
use tollgate::discovery::Discovered;
use tollgate::http::Limits;
use tollgate::http::Outbound;
use tollgate::resource::{GuardConfig, TokenGuard};
use tollgate::secret::{sha256, SecretString};

struct Fixture {
    dir: PathBuf,
    clients: PathBuf,
    svc_secret: String,
    rs_secret: String,
}

fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    tollgate::certs::generate(&dir, false).expect("certificates");
    let clients = dir.join("clients.json");
    let svc = add_client(
        &clients,
        &tollgate::auth::clients_file::Registration::new(
            "svc",
            vec!["read".into(), "write".into()],
            false,
        ),
    )
    .expect("add svc");
    let rs = add_client(
        &clients,
        &tollgate::auth::clients_file::Registration::new("rs", vec!["read".into()], true),
    )
    .expect("add rs");
    Fixture {
        dir,
        clients,
        svc_secret: svc.expose().to_owned(),
        rs_secret: rs.expose().to_owned(),
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn form_parts(path: &str, authorization: &str) -> http::request::Parts {
    Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", authorization)
        .body(())
        .expect("request")
        .into_parts()
        .0
}

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn in_process(c: &mut Criterion) {
    let fx = fixture();
    let server = AuthServer::new(
        ClientRegistry::load(&fx.clients).expect("registry"),
        AuthConfig::new("https://localhost:5003"),
    );
    let registry = ClientRegistry::load(&fx.clients).expect("registry");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let token_parts = form_parts("/oauth/token", &basic("svc", &fx.svc_secret));
    let token_body = b"grant_type=client_credentials&scope=read";
    let introspect_parts = form_parts("/oauth/introspect", &basic("rs", &fx.rs_secret));

    let issued = rt.block_on(server.respond(&token_parts, token_body, PEER));
    assert_eq!(issued.status(), StatusCode::OK);
    let token = rt.block_on(async {
        let body = issued.into_body().collect().await.expect("body").to_bytes();
        let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
        value["access_token"].as_str().expect("token").to_owned()
    });
    let active_body = format!("token={token}");
    let unknown_body = "token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    for (group_name, extra_tokens) in [("in_process", 0usize), ("in_process_1m", 1_000_000)] {
        if extra_tokens > 0 {
            fill_store(&rt, &server, extra_tokens);
        }
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("issue_token", |b| {
            b.to_async(&rt)
                .iter(|| server.respond(&token_parts, token_body, PEER))
        });
        group.bench_function("introspect_active", |b| {
            b.to_async(&rt)
                .iter(|| server.respond(&introspect_parts, active_body.as_bytes(), PEER))
        });
        group.bench_function("introspect_unknown", |b| {
            b.to_async(&rt)
                .iter(|| server.respond(&introspect_parts, unknown_body.as_bytes(), PEER))
        });
        group.bench_function("verify_secret", |b| {
            b.iter(|| registry.verify("svc", &fx.svc_secret))
        });
        group.finish();
    }
    let _ = std::fs::remove_dir_all(&fx.dir);
}

/// Puts `count` live tokens into the server's store, as if issued.
fn fill_store(rt: &tokio::runtime::Runtime, server: &AuthServer, count: usize) {
    let grant = Arc::new(Grant {
        client_id: "svc".into(),
        scope: "read".into(),
        audience: Box::new([]),
    });
    let exp = tollgate::oauth::unix_now() + 3600;
    rt.block_on(async {
        for i in 0..count as u64 {
            let record = TokenRecord {
                grant: grant.clone(),
                iat: exp - 3600,
                exp,
                cnf: None,
            };
            server
                .store()
                .insert(sha256(&i.to_le_bytes()), record)
                .await
                .expect("insert");
        }
    });
}

/// One keep-alive connection to a server, HTTP/1.1 or HTTP/2 as ALPN decides.
enum Connection {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Connection {
    async fn open(addr: std::net::SocketAddr, ca: &std::path::Path, h2: bool) -> Connection {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).expect("ca") {
            roots.add(cert.expect("ca cert")).expect("add ca");
        }
        let mut config =
            rustls::ClientConfig::builder_with_provider(tollgate::http::crypto_provider())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![if h2 {
            b"h2".to_vec()
        } else {
            b"http/1.1".to_vec()
        }];
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("handshake");
        let io = hyper_util::rt::TokioIo::new(tls);
        if h2 {
            let (send, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .expect("h2 handshake");
            tokio::spawn(conn);
            Connection::Http2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("h1 handshake");
            tokio::spawn(conn);
            Connection::Http1(send)
        }
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> StatusCode {
        let response = match self {
            Connection::Http1(send) => {
                send.ready().await.expect("ready");
                send.send_request(request).await.expect("response")
            }
            Connection::Http2(send) => {
                send.ready().await.expect("ready");
                send.send_request(request).await.expect("response")
            }
        };
        let status = response.status();
        response.into_body().collect().await.expect("body");
        status
    }
}

fn over_tls(c: &mut Criterion) {
    let fx = fixture();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("server runtime");
    let (addr, stop) = server_rt.block_on(async {
        let listener = tollgate::http::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let tls = tollgate::http::server_tls_config(
            &fx.dir.join("server.pem"),
            &fx.dir.join("server.key"),
        )
        .expect("tls");
        let server = Arc::new(AuthServer::new(
            ClientRegistry::load(&fx.clients).expect("registry"),
            AuthConfig::new(format!("https://localhost:{}", addr.port())),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tollgate::auth::run(
            listener,
            tls,
            Limits::default(),
            server,
            async move {
                let _ = stopped.await;
            },
        ));
        (addr, stop)
    });
    let ca = fx.dir.join("ca.pem");
    // client1 against that server, as `Env::start_client1` of the tests starts it.
    let (client1_addr, client1, stop_client1, client1_task) = server_rt.block_on(async {
        let listener = tollgate::http::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind client1");
        let client1_addr = listener.local_addr().expect("addr");
        let tls = tollgate::http::server_tls_config(
            &fx.dir.join("server.pem"),
            &fx.dir.join("server.key"),
        )
        .expect("tls");
        let outbound = Outbound::new(&ca).expect("outbound");
        let discovered = Arc::new(Discovered::new(
            format!("https://localhost:{}", addr.port()),
            outbound.clone(),
        ));
        let mut config = GuardConfig::new("rs", SecretString::new(fx.rs_secret.clone()));
        // The default, set explicitly: every cached bench below runs well within it.
        config.cache_ttl = Duration::from_secs(30);
        let guard = TokenGuard::new(config, discovered.clone(), outbound);
        let client1 = Arc::new(ResourceService::new(guard, "read"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(tollgate::app::run(
            listener,
            tls,
            Limits::default(),
            client1.clone(),
            discovered,
            async move {
                let _ = stopped.await;
            },
        ));
        (client1_addr, client1, stop, task)
    });
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let token_auth = basic("svc", &fx.svc_secret);
    let rs_auth = basic("rs", &fx.rs_secret);

    for (group_name, h2) in [("tls_http1", false), ("tls_http2", true)] {
        let mut conn = client_rt.block_on(Connection::open(addr, &ca, h2));
        let token_request = || {
            Request::post("/oauth/token")
                .header("host", "localhost")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", &token_auth)
                .body(Full::new(Bytes::from_static(
                    b"grant_type=client_credentials&scope=read",
                )))
                .expect("request")
        };
        let token = client_rt.block_on(async {
            let response = match &mut conn {
                Connection::Http1(send) => send.send_request(token_request()).await,
                Connection::Http2(send) => send.send_request(token_request()).await,
            }
            .expect("token response");
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let value: serde_json::Value = serde_json::from_slice(&body).expect("json");
            value["access_token"].as_str().expect("token").to_owned()
        });
        let introspect_body = Bytes::from(format!("token={token}"));

        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(1));
        group.measurement_time(Duration::from_secs(4));
        group.bench_function("healthz", |b| {
            b.iter(|| {
                client_rt.block_on(
                    conn.send(
                        Request::get("/healthz")
                            .header("host", "localhost")
                            .body(Full::new(Bytes::new()))
                            .expect("request"),
                    ),
                )
            })
        });
        group.bench_function("token", |b| {
            b.iter(|| {
                let status = client_rt.block_on(conn.send(token_request()));
                debug_assert_eq!(status, StatusCode::OK);
            })
        });
        group.bench_function("introspect", |b| {
            b.iter(|| {
                client_rt.block_on(
                    conn.send(
                        Request::post("/oauth/introspect")
                            .header("host", "localhost")
                            .header("content-type", "application/x-www-form-urlencoded")
                            .header("authorization", &rs_auth)
                            .body(Full::new(introspect_body.clone()))
                            .expect("request"),
                    ),
                )
            })
        });

        let mut client1_conn = client_rt.block_on(Connection::open(client1_addr, &ca, h2));
        let bearer = format!("Bearer {token}");
        let resource_request = || {
            Request::get("/api/resource")
                .header("host", "localhost")
                .header("authorization", &bearer)
                .body(Full::new(Bytes::new()))
                .expect("request")
        };
        group.bench_function("client1_healthz", |b| {
            b.iter(|| {
                client_rt.block_on(
                    client1_conn.send(
                        Request::get("/healthz")
                            .header("host", "localhost")
                            .body(Full::new(Bytes::new()))
                            .expect("request"),
                    ),
                )
            })
        });
        // Warmed right before its bench, so the cache entry (30 s) outlives warm-up and
        // measurement even in a full run.
        let status = client_rt.block_on(client1_conn.send(resource_request()));
        assert_eq!(status, StatusCode::OK, "client1 warm-up request");
        let introspections = client1.guard().introspections();
        group.bench_function("client1_resource", |b| {
            b.iter(|| {
                let status = client_rt.block_on(client1_conn.send(resource_request()));
                assert_eq!(status, StatusCode::OK);
            })
        });
        eprintln!(
            "{group_name}/client1_resource: {} introspection(s) during the bench (0: all cached)",
            client1.guard().introspections() - introspections
        );
        group.finish();
    }
    // Closes the client connections (their tasks live on this runtime), so that client1's
    // graceful shutdown does not wait for them.
    drop(client_rt);
    let _ = stop_client1.send(());
    match server_rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(2), client1_task).await })
    {
        Ok(Ok(Ok(()))) => {}
        other => eprintln!("client1 did not stop cleanly: {other:?}"),
    }
    let _ = stop.send(());
    server_rt.shutdown_timeout(Duration::from_secs(2));
    let _ = std::fs::remove_dir_all(&fx.dir);
}

criterion_group!(benches, in_process, over_tls);
criterion_main!(benches);
