//! The requests a client of the authorization server sends to its form endpoints (token,
//! introspection): a POST of an `application/x-www-form-urlencoded` body, authenticated with
//! the client's credentials (RFC 6749 §2.3.1), asking for JSON (RFC 6749 §5, RFC 7662 §2.2).
//!
//! Owns: the method, media types and the `Authorization` header (when the client has one),
//! marked sensitive so hyper keeps it out of HPACK tables. Does not own: what the form says (the roles build it) or
//! sending it (see [`crate::http::outbound`]).

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::Full;

use crate::secret::SecretString;

/// Client credentials that cannot be sent in a header (a client id with a newline, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client credentials cannot be sent in a header")]
pub struct UnsendableCredentials;

/// A form POST to `endpoint` with `authorization` (a `Basic ...` value) as the credentials, or
/// none (the form carries an assertion, or the connection a client certificate).
pub fn form_post(
    endpoint: Uri,
    form: Bytes,
    authorization: Option<&SecretString>,
) -> Result<Request<Full<Bytes>>, UnsendableCredentials> {
    let credentials = match authorization {
        Some(authorization) => {
            let mut value =
                HeaderValue::from_str(authorization.expose()).map_err(|_| UnsendableCredentials)?;
            value.set_sensitive(true);
            Some(value)
        }
        None => None,
    };
    let mut request = Request::new(Full::new(form));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = endpoint;
    let headers = request.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    if let Some(credentials) = credentials {
        headers.insert(AUTHORIZATION, credentials);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_sensitive_and_unsendable_ones_refused() {
        let endpoint: Uri = "https://as.example/oauth/token".parse().unwrap();
        let basic = SecretString::new("Basic YTpi".into());
        let request =
            form_post(endpoint.clone(), Bytes::from_static(b"a=b"), Some(&basic)).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert!(request.headers()[AUTHORIZATION].is_sensitive());
        assert_eq!(
            request.headers()[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        let broken = SecretString::new("Basic a\nb".into());
        assert!(form_post(endpoint.clone(), Bytes::new(), Some(&broken)).is_err());
        let bare = form_post(endpoint, Bytes::new(), None).unwrap();
        assert!(!bare.headers().contains_key(AUTHORIZATION));
    }
}
