//! `POST /oauth/token`: the client credentials grant (RFC 6749 §4.4, §5), with resource
//! indicators (RFC 8707) and, in `jwt` format, JWT access tokens (RFC 9068).
//!
//! Owns: the grant's parameters (`grant_type`, `scope`, `resource`), the scope and audience
//! granted, the token (an opaque random value recorded in the store, or a signed JWT the
//! server keeps no state for), its binding to the client certificate of the connection, if
//! any (RFC 8705 §3: `cnf` `x5t#S256` in the JWT, the thumbprint in the store), whatever the
//! client's authentication method, and the §5.1 answer. Does not own: authenticating the client
//! (see `authenticate`) or the signing keys (see `signing_keys`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{Response, StatusCode};
use serde::Serialize;

use super::authenticate::presented_certificate;
use super::clients::Client;
use super::credentials::mixes_assertion_and_secret;
use super::error::OAuthError;
use super::tokens::{Grant, StoreOp, TokenRecord, TokenStore};
use super::{label, AuthServer, Call, TokenFormat};
use crate::http::{json_text_response, Body};
use crate::json::JsonObject;
use crate::oauth::audience::{is_resource_indicator, Audience};
use crate::oauth::jose::{self, HeaderParams};
use crate::oauth::scope::parse_scope_parameter;
use crate::oauth::{unix_now, TOKEN_PATH};
use crate::secret::{self, sha256, SecretString};

/// A client id, a granted scope string and a granted audience.
pub(super) type GrantKey = (Arc<str>, Box<str>, Box<[Box<str>]>);

/// Most distinct grants interned; beyond it a grant is allocated per token.
const MAX_INTERNED_GRANTS: usize = 4096;

/// Most `resource` parameters one request may carry.
const MAX_RESOURCES: usize = 16;

/// The claims of an RFC 9068 access token, in the order the RFC lists them. Written by
/// [`AccessTokenClaims::to_json`]; serde's derived form is what a test holds that to.
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    exp: u64,
    aud: Audience<'a>,
    /// The client itself: in the client credentials grant the client is the subject.
    sub: &'a str,
    client_id: &'a str,
    iat: u64,
    jti: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    /// The certificate the token is bound to (RFC 8705 §3.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation>,
}

impl AccessTokenClaims<'_> {
    /// The claims' JSON, written straight into one buffer: byte for byte what serde writes
    /// for the struct (a test holds the two equal), without serde's generic path.
    fn to_json(&self) -> Vec<u8> {
        let texts = self.iss.len()
            + 2 * self.sub.len()
            + self.jti.len()
            + self.scope.len()
            + self.aud.0.iter().map(|a| a.len() + 3).sum::<usize>();
        let mut claims = JsonObject::with_capacity(texts + 200);
        claims.string("iss", self.iss).number("exp", self.exp);
        match self.aud.0 {
            [one] => claims.string("aud", one),
            many => claims.strings("aud", many.iter().map(|a| &**a)),
        };
        claims
            .string("sub", self.sub)
            .string("client_id", self.client_id)
            .number("iat", self.iat)
            .string("jti", self.jti);
        if !self.scope.is_empty() {
            claims.string("scope", self.scope);
        }
        if let Some(cnf) = &self.cnf {
            claims.object("cnf", |members| {
                members.string("x5t#S256", &cnf.x5t_s256);
            });
        }
        claims.finish()
    }
}

/// A confirmation claim (RFC 7800 §3.1) holding a certificate thumbprint (RFC 8705 §3.1).
#[derive(Serialize)]
pub(super) struct Confirmation {
    #[serde(rename = "x5t#S256")]
    pub(super) x5t_s256: String,
}

impl Confirmation {
    /// `x5t#S256`: base64url of the certificate's SHA-256, without padding.
    pub(super) fn of(cert_sha256: &[u8; 32]) -> Confirmation {
        use base64::Engine as _;
        Confirmation {
            x5t_s256: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cert_sha256),
        }
    }
}

impl<S: TokenStore> AuthServer<S> {
    pub(super) async fn token(&self, call: &Call<'_>) -> Result<Response<Body>, OAuthError> {
        mixes_assertion_and_secret(&call.parts.headers, &call.form)?;
        match call.form.get("grant_type") {
            None => {
                return Err(OAuthError::invalid_request(
                    "the grant_type parameter is required",
                ))
            }
            Some("client_credentials") => {}
            Some(_) => return Err(OAuthError::UnsupportedGrantType),
        }
        let ttl = self.config.token_ttl.as_secs();
        let cnf = presented_certificate(call.parts).map(|cert| *cert.leaf_sha256());
        let (client, _, (token, grant)) = self
            .authenticate(call, TOKEN_PATH, |client| {
                let scope = granted_scope(client, call.form.get("scope"))?;
                let audience = granted_audience(client, call.form.get_all("resource"))?;
                let grant = self.grant(client, scope, audience);
                let iat = unix_now();
                let exp = iat.saturating_add(ttl);
                let (token, op) = match self.config.token_format {
                    TokenFormat::Opaque => self.opaque_token(&grant, iat, exp, cnf)?,
                    TokenFormat::Jwt => (self.jwt_token(&grant, iat, exp, cnf)?, StoreOp::Nothing),
                };
                Ok((op, (token, grant)))
            })
            .await?;
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
        // The §5.1 answer, written straight into its buffer (fewer instructions than serde's
        // generic path and a regrowing buffer; docs/BENCHMARKS.md, issue 14).
        let mut answer = JsonObject::with_capacity(96 + token.expose().len() + grant.scope.len());
        answer
            .string("access_token", token.expose())
            .string("token_type", "Bearer")
            .number("expires_in", ttl);
        // Absent when nothing is granted: `"scope": ""` would break the §3.3 grammar, which
        // has no empty scope.
        if !grant.scope.is_empty() {
            answer.string("scope", &grant.scope);
        }
        let mut response = json_text_response(StatusCode::OK, answer.finish());
        label(&mut response, &client.id);
        Ok(response)
    }

    /// A 256-bit random token, and the insert that records it in the store by its hash.
    fn opaque_token(
        &self,
        grant: &Arc<Grant>,
        iat: u64,
        exp: u64,
        cnf: Option<[u8; 32]>,
    ) -> Result<(SecretString, StoreOp<'static>), OAuthError> {
        let token = secret::random_secret()
            .map_err(|_| OAuthError::Unavailable("cannot make a token right now"))?;
        let record = TokenRecord {
            grant: grant.clone(),
            iat,
            exp,
            cnf: cnf.map(Box::new),
        };
        let hash = sha256(token.expose().as_bytes());
        Ok((token, StoreOp::Insert(hash, record)))
    }

    /// An RFC 9068 JWT signed with the current key. It always carries an audience: the one
    /// granted, else the server's default (RFC 9068 §2.2 requires `aud`).
    fn jwt_token(
        &self,
        grant: &Grant,
        iat: u64,
        exp: u64,
        cnf: Option<[u8; 32]>,
    ) -> Result<SecretString, OAuthError> {
        let keys = self.signing_keys();
        let current = keys
            .current()
            .ok_or(OAuthError::Unavailable("no signing key is loaded"))?;
        let jti = secret::random_secret()
            .map_err(|_| OAuthError::Unavailable("cannot make a token right now"))?;
        let default_audience: [Box<str>; 1];
        let audience = if grant.audience.is_empty() {
            default_audience = [self.config.default_audience().into()];
            &default_audience[..]
        } else {
            &grant.audience[..]
        };
        let claims = AccessTokenClaims {
            iss: &self.config.issuer,
            exp,
            aud: Audience(audience),
            sub: &grant.client_id,
            client_id: &grant.client_id,
            iat,
            jti: jti.expose(),
            scope: &grant.scope,
            cnf: cnf.as_ref().map(Confirmation::of),
        };
        let payload = claims.to_json();
        let header = HeaderParams {
            kid: Some(&current.kid),
            typ: Some("at+jwt"),
        };
        let token = jose::sign(&current.key, &header, &payload)
            .map_err(|_| OAuthError::Unavailable("cannot sign a token right now"))?;
        Ok(SecretString::new(token))
    }

    /// The shared grant for a client, scope string and audience.
    fn grant(&self, client: &Client, scope: String, audience: Box<[Box<str>]>) -> Arc<Grant> {
        let client_id = self
            .interned_id(&client.id)
            .unwrap_or_else(|| Arc::from(client.id.as_str()));
        let key = (client_id, scope.into_boxed_str(), audience);
        if let Ok(grants) = self.grants.read() {
            if let Some(grant) = grants.get(&key) {
                return grant.clone();
            }
        }
        let grant = Arc::new(Grant {
            client_id: key.0.clone(),
            scope: key.1.clone(),
            audience: key.2.clone(),
        });
        if let Ok(mut grants) = self.grants.write() {
            if grants.len() < MAX_INTERNED_GRANTS {
                return grants.entry(key).or_insert(grant).clone();
            }
        }
        grant
    }
}

/// The scope to grant: the requested scopes (each of which the client must have), or all of
/// the client's scopes when none is requested (an empty parameter is none, RFC 6749 §3.2).
/// Listed in the client's registered order, so the same set always reads the same.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested.filter(|r| !r.is_empty()) else {
        return Ok(client.scopes.join(" "));
    };
    let wanted = parse_scope_parameter(requested)
        .map_err(|e| OAuthError::InvalidScope(e.to_string().into()))?;
    if wanted.iter().any(|w| !client.scopes.iter().any(|s| s == w)) {
        return Err(OAuthError::InvalidScope(
            "a requested scope is not granted to this client".into(),
        ));
    }
    Ok(client
        .scopes
        .iter()
        .filter(|s| wanted.contains(&s.as_str()))
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" "))
}

/// The audience to grant (RFC 8707 §2): the requested resources, each of which must be one of
/// the client's registered audiences, or all of them when none is requested. In the client's
/// registered order, like scopes.
fn granted_audience<'a>(
    client: &Client,
    requested: impl Iterator<Item = &'a str>,
) -> Result<Box<[Box<str>]>, OAuthError> {
    let mut wanted: Vec<&str> = Vec::new();
    for resource in requested {
        if wanted.len() == MAX_RESOURCES {
            return Err(OAuthError::InvalidTarget("too many resource parameters"));
        }
        if !is_resource_indicator(resource) {
            return Err(OAuthError::InvalidTarget(
                "a resource is not an absolute URI without a fragment (RFC 8707 §2)",
            ));
        }
        if !client.audiences.iter().any(|a| **a == *resource) {
            return Err(OAuthError::InvalidTarget(
                "a requested resource is not registered for this client",
            ));
        }
        wanted.push(resource);
    }
    if wanted.is_empty() {
        return Ok(client.audiences.clone().into_boxed_slice());
    }
    Ok(client
        .audiences
        .iter()
        .filter(|a| wanted.contains(&&***a))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_are_what_serde_writes_for_them() {
        let one = [Box::<str>::from("https://client1.example")];
        let two = [
            Box::<str>::from("https://a.example/x"),
            Box::from("urn:b\"q\""),
        ];
        for (aud, scope, cnf) in [
            (&one[..], "read", None),
            (&two[..], "", Some(Confirmation::of(&[7; 32]))),
            (&[][..], "read write", Some(Confirmation::of(&[0; 32]))),
        ] {
            let claims = AccessTokenClaims {
                iss: "https://localhost:5003",
                exp: 1_800_000_300,
                aud: Audience(aud),
                sub: "svc\u{e9}",
                client_id: "svc\u{e9}",
                iat: 1_800_000_000,
                jti: "bSd8-_x",
                scope,
                cnf,
            };
            assert_eq!(
                String::from_utf8(claims.to_json()).unwrap(),
                serde_json::to_string(&claims).unwrap()
            );
        }
    }
}
