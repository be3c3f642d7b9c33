//! Finding the client's credentials in a request (RFC 6749 §2.3.1).
//!
//! Owns: `client_secret_basic` (the Authorization header, whose id and secret are
//! form-urlencoded before base64) and `client_secret_post` (body parameters), and the rules
//! between them: exactly one method per request, a body `client_id` beside Basic only when it
//! names the same client, and never credentials in the URL query. When there are none to
//! check, it tells which id the request named, if any, for the log line of the 401. Does not
//! own: decoding the Basic header (see [`crate::oauth::basic`]) or checking the secret (see
//! `auth::clients`).

use http::header::AUTHORIZATION;
use http::HeaderMap;

use super::error::OAuthError;
use crate::form::{decode_form_component, Form};
use crate::oauth::{basic_client_id_hint, parse_basic};
use crate::secret::SecretString;

/// A client id and the secret presented with it, not yet checked.
#[derive(Debug)]
pub struct PresentedCredentials {
    pub client_id: String,
    pub secret: SecretString,
}

/// Why a request has no credentials to check.
#[derive(Debug)]
pub enum NotPresented {
    /// The request itself is wrong (two methods, two headers, credentials in the query): 400.
    Invalid(OAuthError),
    /// No credentials, or a Basic header that cannot be read: 401. `client_id` is the id the
    /// request named, if any, for the log; never a secret.
    Unreadable {
        description: &'static str,
        client_id: Option<String>,
    },
}

fn invalid(description: &'static str) -> NotPresented {
    NotPresented::Invalid(OAuthError::invalid_request(description))
}

/// Finds the one set of client credentials in a request.
pub fn extract(
    headers: &HeaderMap,
    form: &Form,
    query: Option<&str>,
) -> Result<PresentedCredentials, NotPresented> {
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
            Ok(PresentedCredentials { client_id, secret })
        }
        (None, _) => match (form.get("client_id"), form.get("client_secret")) {
            (Some(client_id), Some(secret)) => Ok(PresentedCredentials {
                client_id: client_id.to_owned(),
                secret: SecretString::new(secret.to_owned()),
            }),
            (client_id, _) => Err(NotPresented::Unreadable {
                description: "client authentication is required",
                client_id: client_id.map(str::to_owned),
            }),
        },
    }
}

fn query_has_credentials(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or("");
        let name = decode_form_component(name.as_bytes()).unwrap_or_default();
        name == "client_secret" || name == "client_id"
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

    #[test]
    fn one_method_per_request() {
        let form = Form::parse(b"client_id=a&client_secret=b").unwrap();
        let err = extract(&headers(Some(&basic("a:b"))), &form, None).unwrap_err();
        assert!(matches!(err, NotPresented::Invalid(_)));

        let same_id = Form::parse(b"client_id=a").unwrap();
        let creds = extract(&headers(Some(&basic("a:b"))), &same_id, None).unwrap();
        assert_eq!(
            (creds.client_id.as_str(), creds.secret.expose()),
            ("a", "b")
        );

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
        assert_eq!(
            (creds.client_id.as_str(), creds.secret.expose()),
            ("a", "b")
        );
        let id_only = Form::parse(b"client_id=a").unwrap();
        assert!(matches!(
            extract(&headers(None), &id_only, None),
            Err(NotPresented::Unreadable { client_id: Some(id), .. }) if id == "a"
        ));
        assert!(matches!(
            extract(&headers(None), &form, Some("client_secret=b")),
            Err(NotPresented::Invalid(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let form = Form::parse(b"client_id=a&client_secret=hunter2").unwrap();
        let creds = extract(&headers(None), &form, None).unwrap();
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
