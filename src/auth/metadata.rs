//! `GET /.well-known/oauth-authorization-server`: the server's metadata (RFC 8414).
//!
//! Owns: what this server advertises: its issuer byte for byte and endpoints under the
//! issuer's path (never a `//`). The document is rendered once at start-up; it changes only
//! with the configuration. Where it is served is the router's (see the parent).

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Response;

use super::clients::ClientRegistry;
use super::tokens::TokenStore;
use super::AuthServer;
use crate::http::Body;
use crate::oauth::metadata::StringList;
use crate::oauth::{Issuer, ServerMetadata, INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH};

/// The client authentication methods of every endpoint.
const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// The metadata document of `issuer` (`checked`, when it is a valid issuer), as JSON. The
/// endpoints are the issuer's origin and path, its trailing `/` dropped, then the endpoint's.
pub(super) fn render(issuer: &str, checked: Option<&Issuer>, registry: &ClientRegistry) -> Bytes {
    let endpoint = |path: &str| match checked {
        Some(checked) => checked.endpoint_url(path),
        None => format!("{}{path}", issuer.trim_end_matches('/')),
    };
    let metadata = ServerMetadata {
        issuer: issuer.to_owned(),
        token_endpoint: Some(endpoint(TOKEN_PATH)),
        introspection_endpoint: Some(endpoint(INTROSPECT_PATH)),
        revocation_endpoint: Some(endpoint(REVOKE_PATH)),
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
        let mut response = Response::new(Body::new(self.metadata.clone()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}
