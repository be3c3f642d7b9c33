//! The one test client and the one [`Reply`]. A [`Client`] speaks HTTPS over exactly one HTTP
//! version (chosen by ALPN) and trusts exactly one CA, or, made with [`Client::direct`], hands
//! each request to [`AuthServer::respond`] with no socket at all, for the OAuth tests where the
//! wire does not matter. Both have the same methods, so a test reads the same either way.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use tollgate::auth::AuthServer;
use tollgate::form::encode_form_component;

use super::certs::certs;
use super::raw::{client_tls_config, client_tls_config_presenting};
use super::servers::Auth;
use super::STEP;

/// The HTTP versions a test runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

/// Both HTTP versions, for tests that must hold for each.
pub const BOTH: [Proto; 2] = [Proto::H1, Proto::H2];

impl Proto {
    pub fn version(self) -> Version {
        match self {
            Proto::H1 => Version::HTTP_11,
            Proto::H2 => Version::HTTP_2,
        }
    }

    fn alpn(self) -> &'static [u8] {
        match self {
            Proto::H1 => b"http/1.1",
            Proto::H2 => b"h2",
        }
    }
}

/// A complete response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): status {} body {:?}",
                self.status,
                self.text()
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field in {}", self.text()))
            .to_owned()
    }
}

/// The test client: HTTPS over one HTTP version, or straight into an [`AuthServer`].
#[derive(Clone)]
pub struct Client {
    via: Via,
}

#[derive(Clone)]
enum Via {
    Tls {
        proto: Proto,
        client: Box<hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>>,
    },
    Direct(Arc<AuthServer>),
}

/// An HTTPS client over `proto` trusting the test CA.
pub fn http(proto: Proto) -> Client {
    Client::new(proto, &certs().ca(), None)
}

/// An HTTPS client over `proto` trusting only `ca`.
pub fn http_trusting(proto: Proto, ca: &Path) -> Client {
    Client::new(proto, ca, None)
}

/// A client whose connections come from `local` (any 127.0.0.0/8 address is loopback on
/// Linux), to act as a different remote address.
pub fn http_from(proto: Proto, local: IpAddr) -> Client {
    Client::new(proto, &certs().ca(), Some(local))
}

/// One client per HTTP version, trusting the test CA.
pub fn both() -> [Client; 2] {
    BOTH.map(http)
}

/// An HTTPS client over `proto` trusting the test CA and presenting the client certificate in
/// the PEM file `cert` with its key `key` (RFC 8705 mTLS).
pub fn http_presenting(proto: Proto, cert: &Path, key: &Path) -> Client {
    let tls = client_tls_config_presenting(&certs().ca(), &[proto.alpn()], cert, key);
    Client::with_tls(proto, tls, None)
}

/// An HTTPS client over `proto` with any TLS configuration (its ALPN is set to `proto`'s).
pub fn http_with_tls(proto: Proto, mut tls: rustls::ClientConfig) -> Client {
    tls.alpn_protocols = vec![proto.alpn().to_vec()];
    Client::with_tls(proto, tls, None)
}

impl Client {
    fn new(proto: Proto, ca: &Path, local: Option<IpAddr>) -> Client {
        Client::with_tls(proto, client_tls_config(ca, &[proto.alpn()]), local)
    }

    fn with_tls(proto: Proto, tls: rustls::ClientConfig, local: Option<IpAddr>) -> Client {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_local_address(local);
        let connector = HttpsConnector::from((tcp, tls));
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .http2_only(proto == Proto::H2)
            .build(connector);
        Client {
            via: Via::Tls {
                proto,
                client: Box::new(client),
            },
        }
    }

    /// A client that calls [`AuthServer::respond`] directly (peer 127.0.0.1): the server minus
    /// TLS, HTTP framing, body limits and the access log.
    pub fn direct(server: &Arc<AuthServer>) -> Client {
        Client {
            via: Via::Direct(server.clone()),
        }
    }

    /// The HTTP version of an HTTPS client; `None` for a direct one.
    pub fn proto(&self) -> Option<Proto> {
        match &self.via {
            Via::Tls { proto, .. } => Some(*proto),
            Via::Direct(_) => None,
        }
    }

    /// "H1", "H2" or "direct", for messages.
    pub fn via(&self) -> &'static str {
        match self.proto() {
            Some(Proto::H1) => "H1",
            Some(Proto::H2) => "H2",
            None => "direct",
        }
    }

    /// Sends a request and reads the whole response; panics on transport errors.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        let url = request.uri().to_string();
        self.try_send(request)
            .await
            .unwrap_or_else(|e| panic!("{} request to {url} failed: {e}", self.via()))
    }

    /// Like [`Client::send`], but a transport failure or a timeout ([`STEP`]) is an `Err`.
    pub async fn try_send(&self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        match &self.via {
            Via::Direct(server) => {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                let response = server
                    .respond(&parts, &body, IpAddr::from([127, 0, 0, 1]))
                    .await;
                into_reply(response).await
            }
            Via::Tls { proto, client } => {
                let response = tokio::time::timeout(STEP, client.request(request))
                    .await
                    .map_err(|_| format!("no answer within {STEP:?}"))?
                    .map_err(|e| format!("{e:?}"))?;
                let reply = tokio::time::timeout(STEP, into_reply(response))
                    .await
                    .map_err(|_| format!("no complete body within {STEP:?}"))??;
                assert_eq!(
                    reply.version,
                    proto.version(),
                    "the server answered over the wrong HTTP version"
                );
                Ok(reply)
            }
        }
    }

    /// A request with any method, extra headers (repeats allowed) and body.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        self.send(build(method, url, headers, body)).await
    }

    /// Like [`Client::request`], but a transport failure is an `Err`, not a panic.
    pub async fn try_request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply, String> {
        self.try_send(build(method, url, headers, body)).await
    }

    pub async fn get(&self, url: &str) -> Reply {
        self.request(Method::GET, url, &[], b"").await
    }

    pub async fn get_bearer(&self, url: &str, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.request(Method::GET, url, &[("authorization", &auth)], b"")
            .await
    }

    /// POST of a form body with the standard media type and optional Authorization value.
    pub async fn post_form(&self, url: &str, body: &str, authorization: Option<&str>) -> Reply {
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        self.request(Method::POST, url, &headers, body.as_bytes())
            .await
    }

    /// A token request to the server at `base`, authenticated with `client_secret_basic`.
    pub async fn token_basic(&self, base: &str, id: &str, secret: &str, extra: &str) -> Reply {
        let body = format!("grant_type=client_credentials{extra}");
        self.post_form(
            &format!("{base}/oauth/token"),
            &body,
            Some(&basic(id, secret)),
        )
        .await
    }

    /// A token request to the server at `base`, authenticated with `client_secret_post`.
    pub async fn token_post(&self, base: &str, id: &str, secret: &str, extra: &str) -> Reply {
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}{extra}",
            encode_form_component(id),
            encode_form_component(secret)
        );
        self.post_form(&format!("{base}/oauth/token"), &body, None)
            .await
    }

    /// A fresh access token for client `id` of `server` (panics unless one is issued).
    pub async fn token(&self, server: &Auth, id: &str) -> String {
        let reply = self
            .token_basic(&server.base, id, server.secret(id), "")
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Introspects `token` as client `caller` of `server` (Basic).
    pub async fn introspect(&self, server: &Auth, caller: &str, token: &str) -> Reply {
        self.post_form(
            &server.url("/oauth/introspect"),
            &format!("token={}", encode_form_component(token)),
            Some(&basic(caller, server.secret(caller))),
        )
        .await
    }

    /// Revokes `token` as client `caller` of `server` (Basic).
    pub async fn revoke(&self, server: &Auth, caller: &str, token: &str) -> Reply {
        self.post_form(
            &server.url("/oauth/revoke"),
            &format!("token={}", encode_form_component(token)),
            Some(&basic(caller, server.secret(caller))),
        )
        .await
    }
}

fn build(method: Method, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("request")
}

async fn into_reply<B>(response: http::Response<B>) -> Result<Reply, String>
where
    B: hyper::body::Body,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?
        .to_bytes();
    Ok(Reply {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body,
    })
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, as RFC 6749 §2.3.1 asks.
pub fn basic(id: &str, secret: &str) -> String {
    basic_raw(
        format!(
            "{}:{}",
            encode_form_component(id),
            encode_form_component(secret)
        )
        .as_bytes(),
    )
}

/// `Basic base64(raw)` with no encoding of the content.
pub fn basic_raw(raw: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// 401 invalid_client with the Basic challenge, which RFC 9110 §15.5.2 requires on every 401
/// whichever way the client tried to authenticate.
pub fn assert_invalid_client(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        reply.text()
    );
    assert_eq!(reply.error(), "invalid_client", "{what}");
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Basic realm=\"tollgate\""),
        "{what}: every 401 carries a challenge"
    );
    assert!(reply.json().get("access_token").is_none(), "{what}");
}
