//! A load generator for the client authentication methods, which wrk cannot drive: it can
//! neither sign a fresh assertion per request nor present a client certificate. Run by
//! `scripts/load_client_auth.sh`; measures requests/s of one kind of request over HTTPS
//! (HTTP/1.1), on keep-alive connections or with a new connection (a full TLS handshake) per
//! request.
//!
//! ```text
//! client_auth_load jwks KEY.pem                         # the public JWK Set of a PKCS#8 key
//! client_auth_load run URL --ca CA.pem --connections N --seconds S [--new-connections]
//!     [--form BODY] [--basic ID:SECRET] [--assertions ID KEY.pem AUDIENCE [--count N]]
//!     [--cert CERT.pem --key KEY.pem]
//! ```
//! Without `--form` it GETs URL (`/healthz`); with it, it POSTs the form. `--assertions` signs,
//! before the clock starts, one assertion per request it may need (25,000 per second of the
//! run, or `--count`; a fresh `jti` each, as a client must) on two threads, and adds one to each
//! request's form; the run ends early when they run out, and the rate is over the time it took.
//! Prints one line: `requests N seconds S rps R errors E p50_ms P p99_ms Q`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tollgate::form::encode_form_component;
use tollgate::oauth::jose::{sign, HeaderParams, SigningKey, VerifyingKeySet};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Most assertions signed up front.
const MAX_ASSERTIONS: usize = 2_000_000;

struct Options {
    url: http::Uri,
    ca: String,
    connections: usize,
    seconds: u64,
    new_connections: bool,
    form: Option<String>,
    basic: Option<String>,
    assertions: Option<(String, String, String)>,
    count: Option<usize>,
    identity: Option<(String, String)>,
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("jwks") => {
            let key = SigningKey::from_pem(&std::fs::read(&args[1])?)?;
            println!(
                "{}",
                VerifyingKeySet::new(vec![key.verifying_key()])?.to_jwks_json()
            );
            Ok(())
        }
        Some("run") => run(parse(&args[1..])?),
        _ => Err("usage: client_auth_load jwks KEY | run URL --ca CA ... (see the source)".into()),
    }
}

fn parse(args: &[String]) -> Result<Options, BoxError> {
    let mut options = Options {
        url: args.first().ok_or("run needs a URL")?.parse()?,
        ca: String::new(),
        connections: 1,
        seconds: 10,
        new_connections: false,
        form: None,
        basic: None,
        assertions: None,
        count: None,
        identity: None,
    };
    let mut rest = args[1..].iter();
    let mut next = || rest.next().cloned().ok_or("a flag needs a value");
    while let Ok(flag) = next() {
        match flag.as_str() {
            "--ca" => options.ca = next()?,
            "--connections" => options.connections = next()?.parse()?,
            "--seconds" => options.seconds = next()?.parse()?,
            "--new-connections" => options.new_connections = true,
            "--form" => options.form = Some(next()?),
            "--basic" => options.basic = Some(next()?),
            "--assertions" => options.assertions = Some((next()?, next()?, next()?)),
            "--count" => options.count = Some(next()?.parse()?),
            "--cert" => options.identity = Some((next()?, String::new())),
            "--key" => {
                let key = next()?;
                let cert = options.identity.take().ok_or("--key follows --cert")?.0;
                options.identity = Some((cert, key));
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(options)
}

fn tls(options: &Options) -> Result<rustls::ClientConfig, BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&options.ca)? {
        roots.add(cert?)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(tollgate::http::crypto_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match &options.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key)?)?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // A new connection is a full handshake (certificate, CertificateVerify), never a resumption.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// One assertion per request the run may send, signed before the clock starts.
fn assertions(options: &Options) -> Result<Vec<String>, BoxError> {
    let Some((id, key, audience)) = &options.assertions else {
        return Ok(Vec::new());
    };
    let key = SigningKey::from_pem(&std::fs::read(Path::new(key))?)?;
    // More than the server verifies in a second on this machine, so the run never runs dry.
    let count = options
        .count
        .unwrap_or(options.seconds as usize * 25_000)
        .min(MAX_ASSERTIONS);
    let now = tollgate::oauth::unix_now();
    let sign_range = |range: std::ops::Range<usize>| {
        range
            .map(|n| {
                let claims = serde_json::json!({
                    "iss": id, "sub": id, "aud": audience, "iat": now,
                    "exp": now + 280, "jti": format!("load-{now}-{n}"),
                });
                let assertion = sign(
                    &key,
                    &HeaderParams::default(),
                    claims.to_string().as_bytes(),
                )?;
                Ok::<_, BoxError>(format!(
                    "&client_assertion_type={}&client_assertion={assertion}",
                    encode_form_component("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                ))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let half = count / 2;
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| sign_range(0..half));
        let second = sign_range(half..count);
        (first.join(), second)
    });
    let mut all = first.map_err(|_| "a signing thread panicked")??;
    all.extend(second?);
    Ok(all)
}

fn run(options: Options) -> Result<(), BoxError> {
    let assertions = Arc::new(assertions(&options)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tls = tls(&options)?;
    let options = Arc::new(options);
    let next_assertion = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    runtime.block_on(async {
        let deadline = started + Duration::from_secs(options.seconds);
        let mut workers = Vec::new();
        for _ in 0..options.connections {
            let (options, assertions, next_assertion) =
                (options.clone(), assertions.clone(), next_assertion.clone());
            let (latencies, errors, tls) = (latencies.clone(), errors.clone(), tls.clone());
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                let mut client = new_client(&tls);
                while Instant::now() < deadline {
                    let mut body = options.form.clone();
                    if !assertions.is_empty() {
                        let n = next_assertion.fetch_add(1, Ordering::Relaxed);
                        let Some(assertion) = assertions.get(n) else {
                            break;
                        };
                        body = Some(format!("{}{assertion}", body.unwrap_or_default()));
                    }
                    if options.new_connections {
                        client = new_client(&tls);
                    }
                    let sent = Instant::now();
                    match client.request(request(&options, body)).await {
                        Ok(response) if response.status() == StatusCode::OK => {
                            let _ = response.into_body().collect().await;
                            mine.push(sent.elapsed());
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                if let Ok(mut all) = latencies.lock() {
                    all.extend(mine);
                }
            }));
        }
        for worker in workers {
            let _ = worker.await;
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "requests {} seconds {elapsed:.2} rps {:.0} errors {} p50_ms {:.2} p99_ms {:.2}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        errors.load(Ordering::Relaxed),
        at(0.5),
        at(0.99)
    );
    Ok(())
}

type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client with its own connection pool: one connection per worker, kept alive unless each
/// request gets a new client.
fn new_client(tls: &rustls::ClientConfig) -> Https {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnector::from((http, tls.clone()));
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build(https)
}

fn request(options: &Options, form: Option<String>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().uri(options.url.clone());
    if let Some(basic) = &options.basic {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(basic);
        builder = builder.header("authorization", format!("Basic {encoded}"));
    }
    let builder = match &form {
        Some(_) => builder
            .method(Method::POST)
            .header("content-type", "application/x-www-form-urlencoded"),
        None => builder.method(Method::GET),
    };
    builder
        .body(Full::new(Bytes::from(form.unwrap_or_default())))
        .unwrap_or_default()
}
