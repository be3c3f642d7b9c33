//! How the client authenticates at the token endpoint: a secret (`client_secret_basic`), a
//! signed assertion (`private_key_jwt`, RFC 7523 §2.2), or the TLS client certificate of its
//! connections (`tls_client_auth`, `self_signed_tls_client_auth`, RFC 8705 §2).
//!
//! Owns: [`ClientCredentials`] and what each puts in a token request: the Basic header (made
//! once), or a fresh assertion for every request (a new 256-bit `jti`, `iss` and `sub` the
//! client id, `aud` the issuer as RFC 9700 §2.3 and the rfc7523bis draft advise, `iat` now and
//! `exp` [`ASSERTION_LIFETIME_SECS`] later, a `kid` in the header only when one is
//! configured), or `client_id` alone. Does not own: the certificate itself, which the
//! connections present (see [`crate::http::Outbound::with_identity`]).

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::TokenError;
use crate::form::encode_form_component;
use crate::oauth::basic_authorization;
use crate::oauth::jose::{self, HeaderParams, SigningKey};
use crate::secret::{self, SecretString};

/// How long a client assertion is valid: long enough for a slow request, short enough that a
/// captured one is soon useless (the server accepts at most five minutes).
pub const ASSERTION_LIFETIME_SECS: u64 = 60;

/// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What the client proves its identity with. `Debug` never shows a secret or a key.
#[derive(Clone)]
pub enum ClientCredentials {
    /// `client_secret_basic`.
    Secret(SecretString),
    /// `private_key_jwt`: assertions signed with `key`, whose header names `kid` if given.
    Assertion {
        key: Arc<SigningKey>,
        kid: Option<String>,
    },
    /// The certificate the outgoing connections present: the request names the client only.
    Certificate,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCredentials::Secret(_) => f.write_str("Secret([redacted])"),
            ClientCredentials::Assertion { key, kid } => f
                .debug_struct("Assertion")
                .field("alg", &key.algorithm())
                .field("kid", kid)
                .finish(),
            ClientCredentials::Certificate => f.write_str("Certificate"),
        }
    }
}

/// [`ClientCredentials`] ready for requests: the Basic header is made once.
pub(super) enum Authentication {
    Basic(SecretString),
    Assertion {
        key: Arc<SigningKey>,
        kid: Option<String>,
    },
    Certificate,
}

/// The claims of a client assertion (RFC 7523 §3).
#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: &'a str,
}

impl Authentication {
    pub(super) fn new(client_id: &str, credentials: ClientCredentials) -> Authentication {
        match credentials {
            ClientCredentials::Secret(secret) => {
                Authentication::Basic(basic_authorization(client_id, &secret))
            }
            ClientCredentials::Assertion { key, kid } => Authentication::Assertion { key, kid },
            ClientCredentials::Certificate => Authentication::Certificate,
        }
    }

    /// The method's name, for log lines.
    pub(super) fn method(&self) -> &'static str {
        match self {
            Authentication::Basic(_) => "client_secret_basic",
            Authentication::Assertion { .. } => "private_key_jwt",
            Authentication::Certificate => "tls_client_auth",
        }
    }

    /// The `Authorization` value of a token request, if the method uses one.
    pub(super) fn header(&self) -> Option<&SecretString> {
        match self {
            Authentication::Basic(basic) => Some(basic),
            _ => None,
        }
    }

    /// Appends the method's form parameters to a token request's `form`: for an assertion, a
    /// new one for the authorization server `issuer`.
    pub(super) fn add_to_form(
        &self,
        form: &mut String,
        client_id: &str,
        issuer: &str,
    ) -> Result<(), TokenError> {
        match self {
            Authentication::Basic(_) => {}
            Authentication::Certificate => {
                form.push_str("&client_id=");
                form.push_str(&encode_form_component(client_id));
            }
            Authentication::Assertion { key, kid } => {
                let assertion = assertion(key, kid.as_deref(), client_id, issuer)?;
                form.push_str("&client_assertion_type=");
                form.push_str(&encode_form_component(JWT_BEARER));
                form.push_str("&client_assertion=");
                // A compact JWS is base64url and dots: nothing to encode.
                form.push_str(assertion.expose());
            }
        }
        Ok(())
    }
}

fn assertion(
    key: &SigningKey,
    kid: Option<&str>,
    client_id: &str,
    issuer: &str,
) -> Result<SecretString, TokenError> {
    let unusable = |what: &str| TokenError::Misconfigured(format!("cannot {what} an assertion"));
    let jti = secret::random_secret().map_err(|_| unusable("make"))?;
    let iat = crate::oauth::unix_now();
    let claims = AssertionClaims {
        iss: client_id,
        sub: client_id,
        aud: issuer,
        iat,
        exp: iat + ASSERTION_LIFETIME_SECS,
        jti: jti.expose(),
    };
    let payload = serde_json::to_vec(&claims).map_err(|_| unusable("make"))?;
    let header = HeaderParams { kid, typ: None };
    jose::sign(key, &header, &payload)
        .map(SecretString::new)
        .map_err(|_| unusable("sign"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::jose::{Algorithm, UnverifiedJws, VerifyingKeySet};

    #[test]
    fn each_assertion_is_fresh_signed_and_names_the_issuer() {
        let key = Arc::new(SigningKey::generate(Algorithm::EdDSA).unwrap());
        let auth = Authentication::new(
            "c2",
            ClientCredentials::Assertion {
                key: key.clone(),
                kid: None,
            },
        );
        assert!(auth.header().is_none());
        let keys = VerifyingKeySet::new(vec![key.verifying_key()]).unwrap();
        let mut jtis = Vec::new();
        for _ in 0..2 {
            let mut form = String::from("grant_type=client_credentials");
            auth.add_to_form(&mut form, "c2", "https://as").unwrap();
            let assertion = form.rsplit("client_assertion=").next().unwrap();
            let parsed = UnverifiedJws::parse(assertion, 8192).unwrap();
            assert_eq!(parsed.header().kid, None, "no kid unless configured");
            let claims = parsed.verify(&keys).unwrap().claims().unwrap();
            assert_eq!(claims.iss.as_deref(), Some("c2"));
            assert_eq!(claims.sub.as_deref(), Some("c2"));
            assert_eq!(claims.aud, ["https://as"]);
            let lifetime = claims.exp.unwrap() - claims.iat.unwrap();
            assert_eq!(lifetime, ASSERTION_LIFETIME_SECS as i64);
            jtis.push(claims.jti.unwrap());
        }
        assert_ne!(jtis[0], jtis[1]);
        let with_kid = Authentication::new(
            "c2",
            ClientCredentials::Assertion {
                key,
                kid: Some("k1".into()),
            },
        );
        let mut form = String::new();
        with_kid.add_to_form(&mut form, "c2", "https://as").unwrap();
        let assertion = form.rsplit("client_assertion=").next().unwrap();
        let parsed = UnverifiedJws::parse(assertion, 8192).unwrap();
        assert_eq!(parsed.header().kid.as_deref(), Some("k1"));
    }

    #[test]
    fn a_certificate_client_names_itself_and_debug_shows_no_secret() {
        let mut form = String::new();
        Authentication::new("m 1", ClientCredentials::Certificate)
            .add_to_form(&mut form, "m 1", "https://as")
            .unwrap();
        assert_eq!(form, "&client_id=m%201");
        let secret = ClientCredentials::Secret(SecretString::new("hunter2".into()));
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
