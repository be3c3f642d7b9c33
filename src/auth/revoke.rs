//! `POST /oauth/revoke`: token revocation (RFC 7009).
//!
//! Owns: revoking a token for its owner only, and the §2.2 answer: 200 whether or not anything
//! was revoked, so the endpoint tells nobody which tokens exist or whose they are.

use http::header::{HeaderValue, CACHE_CONTROL};
use http::Response;

use super::error::OAuthError;
use super::tokens::TokenStore;
use super::{label, AuthServer, Call};
use crate::http::Body;
use crate::secret::sha256;

impl<S: TokenStore> AuthServer<S> {
    pub(super) async fn revoke(&self, call: &Call<'_>) -> Result<Response<Body>, OAuthError> {
        let caller = self.authenticate(call)?;
        let token = call.token_parameter()?;
        self.store
            .revoke(&sha256(token.as_bytes()), &caller.id)
            .await
            .map_err(OAuthError::from)?;
        let mut response = Response::new(Body::default());
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        label(&mut response, &caller.id);
        Ok(response)
    }
}
