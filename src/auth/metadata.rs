//! `GET /.well-known/oauth-authorization-server`: the server's metadata (RFC 8414).
//!
//! Owns: what this server advertises. The document is rendered once at start-up; it changes
//! only with the configuration.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Response;

use super::clients::ClientRegistry;
use super::tokens::TokenStore;
use super::AuthServer;
use crate::http::Body;
use crate::oauth::metadata::StringList;
use crate::oauth::{ServerMetadata, INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH};

/// The client authentication methods of every endpoint.
const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// The metadata document of `issuer`, as JSON.
pub(super) fn render(issuer: &str, registry: &ClientRegistry) -> Bytes {
    let metadata = ServerMetadata {
        issuer: issuer.to_owned(),
        token_endpoint: Some(format!("{issuer}{TOKEN_PATH}")),
        introspection_endpoint: Some(format!("{issuer}{INTROSPECT_PATH}")),
        revocation_endpoint: Some(format!("{issuer}{REVOKE_PATH}")),
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
