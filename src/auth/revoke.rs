//! `POST /oauth/revoke`: token revocation (RFC 7009).
//!
//! Owns: revoking a token for its owner only, and the §2.2 answer: 200 whether or not anything
//! was revoked, so the endpoint tells nobody which tokens exist or whose they are. An opaque
//! token leaves the store; a JWT we signed goes on the denylist until it expires (resource
//! servers validating it locally do not see that: revocation reaches them only at `exp`).

use http::header::{HeaderValue, CACHE_CONTROL};
use http::Response;

use super::error::OAuthError;
use super::tokens::{StoreOp, TokenStore};
use super::{label, AuthServer, Call};
use crate::http::Body;
use crate::oauth::{unix_now, REVOKE_PATH};
use crate::secret::sha256;

impl<S: TokenStore> AuthServer<S> {
    pub(super) async fn revoke(&self, call: &Call<'_>) -> Result<Response<Body>, OAuthError> {
        let (caller, _, ()) = self
            .authenticate(call, REVOKE_PATH, |caller| {
                let token = call.token_parameter()?;
                let hash = sha256(token.as_bytes());
                let op = match self.own_jwt(token) {
                    // A JWT cannot be taken back from the resource servers that validate it
                    // locally; the denylist makes introspection answer inactive until it expires.
                    Some(jwt) if jwt.client_id == caller.id && jwt.exp > unix_now() => {
                        StoreOp::Deny(hash, jwt.exp)
                    }
                    Some(_) => StoreOp::Nothing,
                    None => StoreOp::Revoke(hash, &caller.id),
                };
                Ok((op, ()))
            })
            .await?;
        let mut response = Response::new(Body::default());
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        label(&mut response, &caller.id);
        Ok(response)
    }
}
