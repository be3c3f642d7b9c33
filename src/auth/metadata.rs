//! `GET /.well-known/oauth-authorization-server`: the server's metadata (RFC 8414), and
//! `GET /oauth/jwks`: its public signing keys (RFC 7517), in the JWT token format.
//!
//! Owns: what this server advertises: its issuer byte for byte and endpoints under the
//! issuer's path (never a `//`), `jwks_uri` while signing keys are loaded, the client
//! authentication methods (the mTLS ones, with certificate-bound tokens, only while the
//! listener asks for client certificates) and the assertion algorithms (never `none`). The document is
//! rendered at start-up and again when the keys change. Where it is served is the router's
//! (see the parent).

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::Response;

use super::clients::ClientRegistry;
use super::tokens::TokenStore;
use super::AuthServer;
use crate::http::Body;
use crate::oauth::metadata::StringList;
use crate::oauth::{Issuer, ServerMetadata, INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH};

/// Most seconds a JWK Set may be cached (RFC 7517 gives no rule; the guard re-reads it no more
/// often, and a rotation is seen within this time).
const JWKS_MAX_AGE: &str = "public, max-age=300";

/// The client authentication methods of every endpoint.
const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// ... and those of RFC 8705 §2, while client certificates are asked for.
const MTLS_METHODS: [&str; 2] = ["tls_client_auth", "self_signed_tls_client_auth"];

/// The algorithms of `private_key_jwt` assertions: those `oauth::jose` verifies.
const ASSERTION_ALGORITHMS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// The metadata document of `issuer` (`checked`, when it is a valid issuer), as JSON. The
/// endpoints are the issuer's origin and path, its trailing `/` dropped, then the endpoint's;
/// `jwks_uri` is there when `jwks` (signing keys are loaded).
pub(super) fn render(
    issuer: &str,
    checked: Option<&Issuer>,
    registry: &ClientRegistry,
    jwks: bool,
    mtls: bool,
) -> Bytes {
    let mut methods = StringList::from(AUTH_METHODS);
    if mtls {
        methods.0.extend(MTLS_METHODS.map(str::to_owned));
    }
    let endpoint = |path: &str| match checked {
        Some(checked) => checked.endpoint_url(path),
        None => format!("{}{path}", issuer.trim_end_matches('/')),
    };
    let metadata = ServerMetadata {
        issuer: issuer.to_owned(),
        token_endpoint: Some(endpoint(TOKEN_PATH)),
        introspection_endpoint: Some(endpoint(INTROSPECT_PATH)),
        revocation_endpoint: Some(endpoint(REVOKE_PATH)),
        jwks_uri: jwks.then(|| endpoint(JWKS_PATH)),
        response_types_supported: StringList::default(),
        grant_types_supported: ["client_credentials"].into(),
        token_endpoint_auth_methods_supported: methods.clone(),
        introspection_endpoint_auth_methods_supported: methods.clone(),
        revocation_endpoint_auth_methods_supported: methods,
        token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS.into(),
        introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS.into(),
        revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS.into(),
        tls_client_certificate_bound_access_tokens: mtls.then_some(true),
        scopes_supported: StringList(registry.all_scopes()),
    };
    Bytes::from(serde_json::to_vec(&metadata).unwrap_or_default())
}

impl<S: TokenStore> AuthServer<S> {
    pub(super) fn metadata_response(&self) -> Response<Body> {
        let document = self.metadata.read().map(|m| m.clone()).unwrap_or_default();
        let mut response = Response::new(Body::new(document));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    /// `GET /oauth/jwks`: the public keys, cacheable for a while; 404 without keys.
    pub(super) fn jwks_response(&self) -> Response<Body> {
        let keys = self.signing_keys();
        if keys.is_empty() {
            return crate::oauth::not_found();
        }
        let mut response = Response::new(Body::new(keys.jwks().clone()));
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(JWKS_MAX_AGE));
        response
    }
}
