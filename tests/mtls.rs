//! Mutual TLS (RFC 8705) over real TLS: the authorization server with a client CA asks for,
//! never requires, a client certificate, and still checks that a peer holds the key of the
//! certificate it presents; `tls_client_auth` (a chain to the client CA and the registered
//! subject) and `self_signed_tls_client_auth` (the registered certificate); certificate-bound
//! tokens (`cnf` `x5t#S256` in the JWT and the introspection answer) whatever the client's
//! method; the metadata; and client1 accepting a bound token only with its certificate, in both
//! validation modes and on cache hits.

mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::StatusCode;
use serde_json::{json, Value};
use support::*;
use tollgate::auth::clients_file::{register, Proof, Registration};
use tollgate::auth::signing_keys::{self, SigningKeys};
use tollgate::oauth::jose::Algorithm;
use tollgate::resource::{GuardConfig, Validation};
use tollgate::secret::SecretString;

/// A server asking for client certificates (the test CA issues them), with the shared secret
/// clients, `m1` (`tls_client_auth`, subject of `ca_issued`) and `m2`
/// (`self_signed_tls_client_auth`, `self_signed`).
struct Stack {
    auth: Auth,
    ca_issued: ClientCert,
    self_signed: ClientCert,
}

async fn stack(jwt: bool) -> Stack {
    let ca_issued = certs().client("m1");
    let self_signed = self_signed("m2");
    let clients = Clients::register(&default_clients());
    let m1 = Registration::new("m1", vec!["read".into()], false)
        .with_proof(Proof::TlsSubjectDn(ca_issued.dn.clone()));
    let m2 = Registration::new("m2", vec!["read".into()], false).with_proof(Proof::SelfSignedCert(
        tollgate::secret::sha256(&self_signed.der),
    ));
    for registration in [m1, m2] {
        assert!(register(&clients.file, &registration).unwrap().is_none());
    }
    let signing_keys = jwt.then(|| {
        let dir = temp_dir("mtls-keys");
        signing_keys::generate(&dir, Algorithm::ES256).unwrap();
        SigningKeys::load(&dir).unwrap()
    });
    let auth = start_auth(AuthOptions {
        clients: Some(clients),
        client_ca: Some(certs().ca()),
        signing_keys,
        ..AuthOptions::default()
    })
    .await;
    Stack {
        auth,
        ca_issued,
        self_signed,
    }
}

/// A token request naming `id` only (the certificate authenticates).
async fn token_by_certificate(h: &Client, auth: &Auth, id: &str) -> Reply {
    h.post_form(
        &auth.url("/oauth/token"),
        &format!("grant_type=client_credentials&client_id={id}"),
        None,
    )
    .await
}

fn access_token(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

/// The claims of a JWT, unverified (the server's own tests check signatures).
fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn tls_client_auth_gets_a_token_bound_to_its_ca_issued_certificate() {
    let stack = stack(false).await;
    for proto in BOTH {
        let h = http_presenting(proto, &stack.ca_issued.cert, &stack.ca_issued.key);
        let token = access_token(&token_by_certificate(&h, &stack.auth, "m1").await);
        let introspected = http(proto)
            .introspect(&stack.auth, "rs", &token)
            .await
            .json();
        assert_eq!(introspected["active"], true);
        assert_eq!(introspected["client_id"], "m1");
        assert_eq!(
            introspected["cnf"],
            json!({ "x5t#S256": stack.ca_issued.x5t() }),
            "{proto:?}"
        );
    }
}

#[tokio::test]
async fn tls_client_auth_is_refused_without_the_certificate_another_subject_or_another_ca() {
    let stack = stack(false).await;
    let name = stack.ca_issued.dn.trim_start_matches("CN=").to_owned();
    // The same subject from a CA the server does not trust, and signed by itself.
    let foreign = Certs::generate("foreign-ca");
    let (cert, key) = tollgate::certs::generate_client(&foreign.dir, &name, false).unwrap();
    let same_subject_self_signed = self_signed(&name);
    let other_subject = certs().client("m1");
    let mut addresses = (10u8..).map(|n| IpAddr::from([127, 0, 2, n]));
    let mut attempts = vec![
        (
            "no certificate",
            http_from(Proto::H1, addresses.next().unwrap()),
        ),
        ("a foreign CA", http_presenting(Proto::H1, &cert, &key)),
        (
            "the subject, self-signed",
            http_presenting(
                Proto::H2,
                &same_subject_self_signed.cert,
                &same_subject_self_signed.key,
            ),
        ),
        (
            "another subject",
            http_presenting(Proto::H1, &other_subject.cert, &other_subject.key),
        ),
    ];
    // The self-signed client with a CA-issued certificate, or none.
    for (what, h) in attempts.drain(..) {
        assert_invalid_client(&token_by_certificate(&h, &stack.auth, "m1").await, what);
    }
    let h = http_presenting(Proto::H1, &stack.ca_issued.cert, &stack.ca_issued.key);
    assert_invalid_client(
        &token_by_certificate(&h, &stack.auth, "m2").await,
        "m2 with m1's certificate",
    );
    // A certificate client cannot use a secret either.
    let h = http_from(Proto::H1, addresses.next().unwrap());
    assert_invalid_client(
        &h.token_basic(&stack.auth.base, "m1", "anything", "").await,
        "Basic for a certificate client",
    );
}

#[tokio::test]
async fn self_signed_tls_client_auth_needs_exactly_the_registered_certificate() {
    let stack = stack(false).await;
    let h = http_presenting(Proto::H2, &stack.self_signed.cert, &stack.self_signed.key);
    let token = access_token(&token_by_certificate(&h, &stack.auth, "m2").await);
    let introspected = http(Proto::H1)
        .introspect(&stack.auth, "rs", &token)
        .await
        .json();
    assert_eq!(introspected["cnf"]["x5t#S256"], stack.self_signed.x5t());
    // Another self-signed certificate with the same subject and key type.
    let other = self_signed("m2");
    let h = http_presenting(Proto::H1, &other.cert, &other.key);
    assert_invalid_client(
        &token_by_certificate(&h, &stack.auth, "m2").await,
        "another certificate",
    );
    assert_invalid_client(
        &token_by_certificate(&http(Proto::H1), &stack.auth, "m2").await,
        "no certificate",
    );
}

#[tokio::test]
async fn any_client_on_a_connection_with_a_certificate_gets_a_bound_token_and_without_one_an_unbound_one(
) {
    let stack = stack(true).await;
    let cert = certs().client("bound");
    let with_cert = http_presenting(Proto::H1, &cert.cert, &cert.key);
    // A secret client, over a connection that presented a certificate: bound, in the JWT too.
    let token = with_cert.token(&stack.auth, "svc").await;
    assert_eq!(jwt_claims(&token)["cnf"], json!({ "x5t#S256": cert.x5t() }));
    let introspected = http(Proto::H2)
        .introspect(&stack.auth, "rs", &token)
        .await
        .json();
    assert_eq!(introspected["cnf"], json!({ "x5t#S256": cert.x5t() }));
    // Without a certificate nothing changes: secret clients work as before.
    let token = http(Proto::H1).token(&stack.auth, "svc").await;
    assert!(jwt_claims(&token).get("cnf").is_none());
    let introspected = http(Proto::H2)
        .introspect(&stack.auth, "rs", &token)
        .await
        .json();
    assert_eq!(introspected["active"], true);
    assert!(introspected.get("cnf").is_none(), "{introspected}");
    let health = http(Proto::H2).get(&stack.auth.url("/healthz")).await;
    assert_eq!(
        health.status,
        StatusCode::OK,
        "a certificate is never required"
    );
}

#[tokio::test]
async fn a_peer_that_presents_a_certificate_without_its_key_fails_the_handshake() {
    let stack = stack(false).await;
    // m1's certificate, but the handshake signed with another key, in TLS 1.3 and 1.2.
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let impostor = rustls_impostor(&stack.ca_issued, version);
        let reply = impostor
            .try_request(
                http::Method::POST,
                &stack.auth.url("/oauth/token"),
                &[("content-type", "application/x-www-form-urlencoded")],
                b"grant_type=client_credentials&client_id=m1",
            )
            .await;
        assert!(reply.is_err(), "{version:?} answered: {reply:?}");
    }
    // The same certificate with its own key is fine.
    let h = http_presenting(Proto::H1, &stack.ca_issued.cert, &stack.ca_issued.key);
    access_token(&token_by_certificate(&h, &stack.auth, "m1").await);
}

/// A client presenting `cert` but signing the handshake with a fresh key of the same type.
fn rustls_impostor(
    cert: &ClientCert,
    version: &'static rustls::SupportedProtocolVersion,
) -> Client {
    use rustls::client::ResolvesClientCert;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use rustls::sign::CertifiedKey;

    #[derive(Debug)]
    struct Impostor(Arc<CertifiedKey>);
    impl ResolvesClientCert for Impostor {
        fn resolve(
            &self,
            _hints: &[&[u8]],
            _schemes: &[rustls::SignatureScheme],
        ) -> Option<Arc<CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let other_key = rcgen::KeyPair::generate().unwrap();
    let key_der = PrivateKeyDer::try_from(other_key.serialize_der()).unwrap();
    let provider = tollgate::http::crypto_provider();
    let signer = provider.key_provider.load_private_key(key_der).unwrap();
    let certified = CertifiedKey::new(vec![CertificateDer::from(cert.der.clone())], signer);
    let mut roots = rustls::RootCertStore::empty();
    for ca in tollgate::http::tls::load_certificates(&certs().ca()).unwrap() {
        roots.add(ca).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(Impostor(Arc::new(certified))));
    http_with_tls(Proto::H1, config)
}

#[tokio::test]
async fn metadata_offers_both_mtls_methods_and_certificate_bound_tokens() {
    let stack = stack(false).await;
    let metadata = http(Proto::H1)
        .get(&stack.auth.url("/.well-known/oauth-authorization-server"))
        .await
        .json();
    assert_eq!(metadata["tls_client_certificate_bound_access_tokens"], true);
    for endpoint in ["token", "introspection", "revocation"] {
        assert_eq!(
            metadata[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "tls_client_auth",
                "self_signed_tls_client_auth"
            ]),
            "{metadata}"
        );
    }
}

/// client1 on a listener that asks for certificates, validating with `validation`.
async fn client1(auth: &Auth, validation: Validation) -> Running<tollgate::app::ResourceService> {
    let mut config = GuardConfig::new("rs", SecretString::new(auth.secret("rs").to_owned()));
    config.validation = validation;
    if validation == Validation::Jwt {
        // The server's default audience: its issuer.
        config.audience = Some(auth.issuer.clone());
    }
    config.cache_ttl = Duration::from_secs(30);
    start_client1_with(&auth.issuer, config, true).await
}

#[tokio::test]
async fn client1_accepts_a_bound_token_only_with_its_certificate_in_both_modes_and_from_the_cache()
{
    for (jwt, validation) in [(false, Validation::Introspect), (true, Validation::Jwt)] {
        let stack = stack(jwt).await;
        let client1 = client1(&stack.auth, validation).await;
        let url = client1.url("/api/resource");
        let mine = certs().client("holder");
        let theirs = certs().client("thief");
        let with_mine = http_presenting(Proto::H2, &mine.cert, &mine.key);
        let with_theirs = http_presenting(Proto::H1, &theirs.cert, &theirs.key);
        let without = http(Proto::H1);
        let bound = with_mine.token(&stack.auth, "svc").await;

        let reply = with_mine.get_bearer(&url, &bound).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{validation:?}: {}",
            reply.text()
        );
        let hits = client1.service.guard().cache_hits();
        for (what, h) in [
            ("no certificate", &without),
            ("another certificate", &with_theirs),
        ] {
            let reply = h.get_bearer(&url, &bound).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{validation:?} {what}"
            );
            let challenge = reply.header("www-authenticate").unwrap();
            assert!(challenge.contains("invalid_token"), "{challenge}");
        }
        let reply = with_mine.get_bearer(&url, &bound).await;
        assert_eq!(reply.status, StatusCode::OK, "{validation:?}");
        assert!(
            client1.service.guard().cache_hits() >= hits + 3,
            "{validation:?}: the refusals and the last answer came from the cache"
        );

        // An unbound token works as before, with or without a certificate.
        let unbound = without.token(&stack.auth, "svc").await;
        for h in [&without, &with_mine, &with_theirs] {
            assert_eq!(h.get_bearer(&url, &unbound).await.status, StatusCode::OK);
        }
    }
}

/// An inner service that answers 200 to whatever reaches it.
#[derive(Clone)]
struct Answers200;

impl tower_service::Service<http::Request<()>> for Answers200 {
    type Response = http::Response<String>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(String::new())))
    }
}

#[tokio::test]
async fn the_tower_layer_accepts_a_bound_token_only_with_its_certificate_in_the_extensions() {
    use tower_layer::Layer;
    use tower_service::Service;

    let stack = stack(false).await;
    let mine = certs().client("holder");
    let theirs = certs().client("thief");
    let bound = http_presenting(Proto::H1, &mine.cert, &mine.key)
        .token(&stack.auth, "svc")
        .await;
    let outbound = tollgate::http::Outbound::new(&certs().ca()).unwrap();
    let discovered = Arc::new(tollgate::discovery::Discovered::new(
        &stack.auth.issuer,
        outbound.clone(),
    ));
    let config = GuardConfig::new("rs", SecretString::new(stack.auth.secret("rs").to_owned()));
    let guard = tollgate::resource::TokenGuard::new(config, discovered, outbound);
    let mut service = tollgate::resource::TokenGuardLayer::new(guard, "read").layer(Answers200);
    let presenting = |cert: Option<&ClientCert>| {
        let mut request = http::Request::get("/")
            .header("authorization", format!("Bearer {bound}"))
            .body(())
            .unwrap();
        if let Some(cert) = cert {
            let chain = vec![rustls::pki_types::CertificateDer::from(cert.der.clone())];
            let presented = tollgate::http::ClientCertificate::from_chain(chain).unwrap();
            request.extensions_mut().insert(presented);
        }
        request
    };
    // The guard discovers the authorization server in the background: wait for it (bounded).
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = service
            .call(presenting(Some(&mine)))
            .await
            .unwrap()
            .status();
        if status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "the bound token with its certificate"
    );
    for (what, cert) in [("another certificate", Some(&theirs)), ("none", None)] {
        let answer = service.call(presenting(cert)).await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
}
