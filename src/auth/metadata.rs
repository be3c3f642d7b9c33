//! `GET /.well-known/oauth-authorization-server`: the server's metadata (RFC 8414).
//!
//! Owns: what this server advertises. The document is rendered once at start-up; it changes
//! only with the configuration.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::Response;

use super::clients::ClientRegistry;
use super::tokens::TokenStore;
use super::AuthServer;
use crate::http::Body;
use crate::oauth::metadata::StringList;
use crate::oauth::{ServerMetadata, INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH};

/// The client authentication methods of every endpoint.
const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// Most seconds a JWK Set may be cached (RFC 7517 gives no rule; the guard re-reads it no more
/// often, and a rotation is seen within this time).
const JWKS_MAX_AGE: &str = "public, max-age=300";

/// The metadata document of `issuer`, as JSON; with `jwks` when signing keys are loaded.
pub(super) fn render(issuer: &str, registry: &ClientRegistry, jwks: bool) -> Bytes {
    let metadata = ServerMetadata {
        issuer: issuer.to_owned(),
        token_endpoint: Some(format!("{issuer}{TOKEN_PATH}")),
        introspection_endpoint: Some(format!("{issuer}{INTROSPECT_PATH}")),
        revocation_endpoint: Some(format!("{issuer}{REVOKE_PATH}")),
        jwks_uri: jwks.then(|| format!("{issuer}{JWKS_PATH}")),
        response_types_supported: StringList::default(),
        grant_types_supported: ["client_credentials"].into(),
        token_endpoint_auth_methods_supported: AUTH_METHODS.into(),
        introspection_endpoint_auth_methods_supported: AUTH_METHODS.into(),
        revocation_endpoint_auth_methods_supported: AUTH_METHODS.into(),
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
