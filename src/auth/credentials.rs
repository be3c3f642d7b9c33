//! Finding the client's credentials in a request (RFC 6749 §2.3.1).
//!
//! Owns: `client_secret_basic` (the Authorization header, whose id and secret are
//! form-urlencoded before base64) and `client_secret_post` (body parameters), and the rules
//! between them: exactly one method per request, a body `client_id` beside Basic only when it
//! names the same client, and never credentials in the URL query. Does not own: checking the
//! secret (see `auth::clients`).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::HeaderMap;

use super::error::OAuthError;
use crate::form::{decode_form_component, Form};
use crate::secret::SecretString;

/// How the client presented its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Post,
}

/// A client id and the secret presented with it, not yet checked.
#[derive(Debug)]
pub struct PresentedCredentials {
    pub client_id: String,
    pub secret: SecretString,
    pub method: AuthMethod,
}

/// Standard base64, accepting input with or without its padding.
const BASIC_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a Basic header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    NotBasic,
    BadBase64,
    NoColon,
    BadEncoding,
    EmptyId,
}

/// Parses an `Authorization: Basic ...` value into a client id and secret.
pub fn parse_basic(value: &[u8]) -> Result<(String, SecretString), BasicError> {
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(BasicError::NotBasic);
    }
    let encoded = rest.trim_ascii();
    if encoded.is_empty() {
        return Err(BasicError::BadBase64);
    }
    let decoded = zeroizing(
        BASIC_BASE64
            .decode(encoded)
            .map_err(|_| BasicError::BadBase64)?,
    );
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(BasicError::NoColon)?;
    let id = decode_form_component(&decoded[..colon]).map_err(|_| BasicError::BadEncoding)?;
    let secret =
        decode_form_component(&decoded[colon + 1..]).map_err(|_| BasicError::BadEncoding)?;
    if id.is_empty() {
        return Err(BasicError::EmptyId);
    }
    Ok((id, SecretString::new(secret)))
}

fn zeroizing(bytes: Vec<u8>) -> zeroize::Zeroizing<Vec<u8>> {
    zeroize::Zeroizing::new(bytes)
}

/// Finds the one set of client credentials in a request.
pub fn extract(
    headers: &HeaderMap,
    form: &Form,
    query: Option<&str>,
) -> Result<PresentedCredentials, OAuthError> {
    if query.is_some_and(query_has_credentials) {
        return Err(OAuthError::invalid_request(
            "client credentials must not be sent in the URL query (RFC 6749 §2.3.1)",
        ));
    }
    let mut authorization = headers.get_all(AUTHORIZATION).iter();
    match (authorization.next(), authorization.next()) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request(
            "more than one Authorization header",
        )),
        (Some(value), None) => {
            let refused = |description| OAuthError::InvalidClient {
                description,
                challenge: true,
            };
            let (client_id, secret) = parse_basic(value.as_bytes()).map_err(|e| match e {
                BasicError::NotBasic => refused("use HTTP Basic client authentication"),
                BasicError::BadBase64 => refused("the Basic credentials are not valid base64"),
                BasicError::NoColon => refused("the Basic credentials have no ':' separator"),
                BasicError::BadEncoding => {
                    refused("the Basic credentials are not valid form-urlencoded UTF-8")
                }
                BasicError::EmptyId => refused("the Basic credentials have an empty client id"),
            })?;
            if form.contains("client_secret") {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not both Basic and client_secret",
                ));
            }
            if let Some(body_id) = form.get("client_id") {
                if body_id != client_id {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the Basic credentials",
                    ));
                }
            }
            Ok(PresentedCredentials {
                client_id,
                secret,
                method: AuthMethod::Basic,
            })
        }
        (None, _) => match (form.get("client_id"), form.get("client_secret")) {
            (Some(client_id), Some(secret)) => Ok(PresentedCredentials {
                client_id: client_id.to_owned(),
                secret: SecretString::new(secret.to_owned()),
                method: AuthMethod::Post,
            }),
            _ => Err(OAuthError::InvalidClient {
                description: "client authentication is required",
                challenge: false,
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
    use http::HeaderValue;

    fn basic(raw: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        let (id, secret) = parse_basic(&basic("my%20id:p%3Ass+word")).unwrap();
        assert_eq!(id, "my id");
        assert_eq!(secret.expose(), "p:ss word");
    }

    #[test]
    fn basic_scheme_is_case_insensitive_and_padding_optional() {
        let header = format!("bAsIc {}", STANDARD.encode("a:b").trim_end_matches('='));
        let (id, secret) = parse_basic(header.as_bytes()).unwrap();
        assert_eq!((id.as_str(), secret.expose()), ("a", "b"));
    }

    #[test]
    fn malformed_basic_headers_are_named() {
        assert_eq!(
            parse_basic(b"Bearer abc").unwrap_err(),
            BasicError::NotBasic
        );
        assert_eq!(parse_basic(b"Basic").unwrap_err(), BasicError::BadBase64);
        assert_eq!(
            parse_basic(b"Basic !!!").unwrap_err(),
            BasicError::BadBase64
        );
        assert_eq!(
            parse_basic(&basic("nocolon")).unwrap_err(),
            BasicError::NoColon
        );
        assert_eq!(
            parse_basic(&basic("a%zz:b")).unwrap_err(),
            BasicError::BadEncoding
        );
        assert_eq!(
            parse_basic(&basic("a:%ff")).unwrap_err(),
            BasicError::BadEncoding
        );
        assert_eq!(parse_basic(&basic(":b")).unwrap_err(), BasicError::EmptyId);
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
        assert!(matches!(err, OAuthError::InvalidRequest(_)));

        let same_id = Form::parse(b"client_id=a").unwrap();
        let creds = extract(&headers(Some(&basic("a:b"))), &same_id, None).unwrap();
        assert_eq!(creds.method, AuthMethod::Basic);

        let other_id = Form::parse(b"client_id=z").unwrap();
        assert!(matches!(
            extract(&headers(Some(&basic("a:b"))), &other_id, None),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn post_credentials_need_both_fields_and_never_the_query() {
        let form = Form::parse(b"client_id=a&client_secret=b").unwrap();
        assert_eq!(
            extract(&headers(None), &form, None).unwrap().method,
            AuthMethod::Post
        );
        let id_only = Form::parse(b"client_id=a").unwrap();
        assert!(matches!(
            extract(&headers(None), &id_only, None),
            Err(OAuthError::InvalidClient {
                challenge: false,
                ..
            })
        ));
        assert!(matches!(
            extract(&headers(None), &form, Some("client_secret=b")),
            Err(OAuthError::InvalidRequest(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let form = Form::parse(b"client_id=a&client_secret=hunter2").unwrap();
        let creds = extract(&headers(None), &form, None).unwrap();
        assert!(!format!("{creds:?}").contains("hunter2"));
    }
}
