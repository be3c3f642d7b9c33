//! Finding the client's credentials in a request (RFC 6749 §2.3.1, RFC 7521 §4.2, RFC 7523
//! §2.2, RFC 8705 §2).
//!
//! Owns: `client_secret_basic` (the Authorization header, whose id and secret are
//! form-urlencoded before base64), `client_secret_post` (body parameters), `private_key_jwt`
//! (`client_assertion_type` and `client_assertion`), a lone `client_id` (a client that
//! authenticates by its TLS certificate), and the rules between them: exactly one method per
//! request, an assertion beside Basic or `client_secret` refused before anything else, a body
//! `client_id` beside Basic only when it names the same client, and never credentials in the
//! URL query. When there are none to check, it tells which id the request named, if any, for
//! the log line of the 401. Does not own: decoding the Basic header (see
//! [`crate::oauth::basic`]), checking a secret (see `auth::clients`), an assertion (see
//! `auth::assertion`) or a certificate (see `auth::authenticate`).

use http::header::AUTHORIZATION;
use http::HeaderMap;

use super::error::OAuthError;
use crate::form::{decode_form_component, Form};
use crate::oauth::{basic_client_id_hint, parse_basic};
use crate::secret::SecretString;

/// The one `client_assertion_type` understood (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credentials a request presents, not yet checked. `Debug` never shows a secret or an
/// assertion.
#[derive(Debug)]
pub enum Presented {
    /// A client id and secret, in the Basic header or the body.
    Secret {
        client_id: String,
        secret: SecretString,
    },
    /// A client assertion, with the body's `client_id` if it had one (it must then name the
    /// assertion's issuer).
    Assertion {
        assertion: SecretString,
        client_id: Option<String>,
    },
    /// Only a `client_id`: the client must be one that authenticates by the certificate of
    /// the connection.
    ClientId { client_id: String },
}

/// Why a request has no credentials to check.
#[derive(Debug)]
pub enum NotPresented {
    /// The request itself is wrong (two methods, two headers, credentials in the query): 400.
    Invalid(OAuthError),
    /// No credentials, a Basic header that cannot be read, or an assertion of a type not
    /// understood: 401. `client_id` is the id the request named, if any, for the log; never a
    /// secret.
    Unreadable {
        description: &'static str,
        client_id: Option<String>,
    },
}

fn invalid(description: &'static str) -> NotPresented {
    NotPresented::Invalid(OAuthError::invalid_request(description))
}

/// An assertion beside Basic credentials or a `client_secret`: two methods in one request,
/// refused (400) before anything else is looked at.
pub fn mixes_assertion_and_secret(headers: &HeaderMap, form: &Form) -> Result<(), OAuthError> {
    let assertion =
        form.get("client_assertion").is_some() || form.get("client_assertion_type").is_some();
    let secret = headers.contains_key(AUTHORIZATION) || form.get("client_secret").is_some();
    if assertion && secret {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not a client assertion and a secret",
        ));
    }
    Ok(())
}

/// Finds the one set of client credentials in a request.
pub fn extract(
    headers: &HeaderMap,
    form: &Form,
    query: Option<&str>,
) -> Result<Presented, NotPresented> {
    mixes_assertion_and_secret(headers, form).map_err(NotPresented::Invalid)?;
    if query.is_some_and(query_has_credentials) {
        return Err(invalid(
            "client credentials must not be sent in the URL query (RFC 6749 §2.3.1)",
        ));
    }
    let mut authorization = headers.get_all(AUTHORIZATION).iter();
    match (authorization.next(), authorization.next()) {
        (Some(_), Some(_)) => Err(invalid("more than one Authorization header")),
        (Some(value), None) => {
            let (client_id, secret) =
                parse_basic(value.as_bytes()).map_err(|e| NotPresented::Unreadable {
                    description: e.description(),
                    client_id: basic_client_id_hint(value.as_bytes()),
                })?;
            // An empty client_secret counts as omitted (RFC 6749 §3.2).
            if form.get("client_secret").is_some() {
                return Err(invalid(
                    "use one client authentication method, not both Basic and client_secret",
                ));
            }
            if let Some(body_id) = form.get("client_id") {
                if body_id != client_id {
                    return Err(invalid(
                        "client_id in the body differs from the Basic credentials",
                    ));
                }
            }
            Ok(Presented::Secret { client_id, secret })
        }
        (None, _) => {
            let client_id = form.get("client_id").map(str::to_owned);
            match (
                form.get("client_assertion_type"),
                form.get("client_assertion"),
            ) {
                (Some(JWT_BEARER), Some(assertion)) => Ok(Presented::Assertion {
                    assertion: SecretString::new(assertion.to_owned()),
                    client_id,
                }),
                (Some(JWT_BEARER), None) => Err(NotPresented::Unreadable {
                    description: "client_assertion is required with client_assertion_type",
                    client_id,
                }),
                (Some(_), _) | (None, Some(_)) => Err(NotPresented::Unreadable {
                    description: "the only client_assertion_type understood is \
                                  urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    client_id,
                }),
                (None, None) => match (client_id, form.get("client_secret")) {
                    (Some(client_id), Some(secret)) => Ok(Presented::Secret {
                        client_id,
                        secret: SecretString::new(secret.to_owned()),
                    }),
                    (Some(client_id), None) => Ok(Presented::ClientId { client_id }),
                    (None, _) => Err(NotPresented::Unreadable {
                        description: "client authentication is required",
                        client_id: None,
                    }),
                },
            }
        }
    }
}

fn query_has_credentials(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or("");
        let name = decode_form_component(name.as_bytes()).unwrap_or_default();
        matches!(
            name.as_str(),
            "client_secret" | "client_id" | "client_assertion" | "client_assertion_type"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use http::HeaderValue;

    fn basic(raw: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    fn headers(auth: Option<&[u8]>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = auth {
            headers.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    fn secret_of(presented: Presented) -> (String, String) {
        match presented {
            Presented::Secret { client_id, secret } => (client_id, secret.expose().to_owned()),
            other => panic!("not a secret: {other:?}"),
        }
    }

    #[test]
    fn one_method_per_request() {
        let form = Form::parse(b"client_id=a&client_secret=b").unwrap();
        let err = extract(&headers(Some(&basic("a:b"))), &form, None).unwrap_err();
        assert!(matches!(err, NotPresented::Invalid(_)));

        let same_id = Form::parse(b"client_id=a").unwrap();
        let creds = extract(&headers(Some(&basic("a:b"))), &same_id, None).unwrap();
        assert_eq!(secret_of(creds), ("a".into(), "b".into()));

        let other_id = Form::parse(b"client_id=z").unwrap();
        assert!(matches!(
            extract(&headers(Some(&basic("a:b"))), &other_id, None),
            Err(NotPresented::Invalid(_))
        ));
    }

    #[test]
    fn post_credentials_need_both_fields_and_never_the_query() {
        let form = Form::parse(b"client_id=a&client_secret=b").unwrap();
        let creds = extract(&headers(None), &form, None).unwrap();
        assert_eq!(secret_of(creds), ("a".into(), "b".into()));
        let id_only = Form::parse(b"client_id=a").unwrap();
        assert!(matches!(
            extract(&headers(None), &id_only, None),
            Ok(Presented::ClientId { client_id }) if client_id == "a"
        ));
        assert!(matches!(
            extract(&headers(None), &Form::parse(b"").unwrap(), None),
            Err(NotPresented::Unreadable {
                client_id: None,
                ..
            })
        ));
        for query in ["client_secret=b", "client_assertion=x"] {
            assert!(matches!(
                extract(&headers(None), &form, Some(query)),
                Err(NotPresented::Invalid(_))
            ));
        }
    }

    #[test]
    fn an_assertion_beside_a_secret_is_refused_before_anything_else() {
        let assertion = format!("client_assertion_type={JWT_BEARER}&client_assertion=x.y.z");
        let form = Form::parse(assertion.as_bytes()).unwrap();
        // Even an unreadable Authorization header: two methods is the request's fault.
        for auth in [basic("a:b"), b"Basic !!!".to_vec(), b"Bearer t".to_vec()] {
            assert!(matches!(
                extract(&headers(Some(&auth)), &form, None),
                Err(NotPresented::Invalid(_))
            ));
        }
        let with_secret = Form::parse(format!("{assertion}&client_secret=s").as_bytes()).unwrap();
        assert!(matches!(
            extract(&headers(None), &with_secret, None),
            Err(NotPresented::Invalid(_))
        ));
        let with_id = Form::parse(format!("{assertion}&client_id=c").as_bytes()).unwrap();
        match extract(&headers(None), &with_id, None).unwrap() {
            Presented::Assertion {
                assertion,
                client_id,
            } => {
                assert_eq!(assertion.expose(), "x.y.z");
                assert_eq!(client_id.as_deref(), Some("c"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_jwt_bearer_assertion_type_is_understood() {
        for body in [
            "client_assertion_type=urn:other&client_assertion=x",
            "client_assertion=x",
            "client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ] {
            assert!(
                matches!(
                    extract(&headers(None), &Form::parse(body.as_bytes()).unwrap(), None),
                    Err(NotPresented::Unreadable { .. })
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_secret_or_the_assertion() {
        let form = Form::parse(b"client_id=a&client_secret=hunter2").unwrap();
        let creds = extract(&headers(None), &form, None).unwrap();
        assert!(!format!("{creds:?}").contains("hunter2"));
        let body = format!("client_assertion_type={JWT_BEARER}&client_assertion=sig.na.ture");
        let creds = extract(&headers(None), &Form::parse(body.as_bytes()).unwrap(), None).unwrap();
        assert!(!format!("{creds:?}").contains("sig.na.ture"));
    }
}
