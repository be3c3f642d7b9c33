//! Response helpers that know HTTP only: JSON bodies, `Allow`, the form media type check, and
//! the plain answer to a transport refusal.
//!
//! Owns: headers every JSON answer carries. Does not own: error vocabularies (the OAuth error
//! body belongs to the layer above).

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::Full;

use super::{Body, Refusal};

/// A JSON response, marked `no-store` (with `Pragma: no-cache` for HTTP/1.0 caches): every
/// JSON answer here is about credentials or tokens, and none is worth caching.
pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    // Serialising our own plain structs cannot fail; an empty object is the safe fallback.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    json_text_response(status, body)
}

/// [`json_response`] for a body already written as JSON (see [`crate::json`]).
pub fn json_text_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `response` with the `Allow` header (RFC 9110 §10.2.1), for a 405.
pub fn with_allow(mut response: Response<Body>, allow: &'static str) -> Response<Body> {
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

/// True when the request declares `application/x-www-form-urlencoded`, compared
/// case-insensitively with any parameters (such as `charset`) ignored.
pub fn is_form_urlencoded(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    const FORM: &str = "application/x-www-form-urlencoded";
    // What every client sends, compared as it is before the general case.
    if value.as_bytes() == FORM.as_bytes() {
        return true;
    }
    let Ok(value) = value.to_str() else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case(FORM)
}

/// The default answer to a transport refusal: its status and reason as plain text.
pub(super) fn plain_refusal(refusal: Refusal) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{}\n", refusal.reason()))));
    *response.status_mut() = refusal.status();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_with(content_types: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in content_types {
            headers.append(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn form_media_type_ignores_case_and_parameters() {
        assert!(is_form_urlencoded(&headers_with(&[
            "application/x-www-form-urlencoded"
        ])));
        assert!(is_form_urlencoded(&headers_with(&[
            "Application/X-WWW-Form-URLEncoded;charset=UTF-8"
        ])));
        assert!(is_form_urlencoded(&headers_with(&[
            " application/x-www-form-urlencoded ; charset=utf-8"
        ])));
    }

    #[test]
    fn other_or_missing_or_repeated_media_types_are_not_forms() {
        assert!(!is_form_urlencoded(&headers_with(&[])));
        assert!(!is_form_urlencoded(&headers_with(&["application/json"])));
        assert!(!is_form_urlencoded(&headers_with(&["multipart/form-data"])));
        assert!(!is_form_urlencoded(&headers_with(&[
            "application/x-www-form-urlencodedx"
        ])));
        assert!(!is_form_urlencoded(&headers_with(&[
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded"
        ])));
    }

    #[test]
    fn refusals_default_to_their_status_and_reason() {
        let response = plain_refusal(Refusal::ContentCoding);
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
}
